"""The telnet / nc adapter: bytes to lines to commands, and hub output to `\\r\\n` lines.

Rules:
- Thin: framing, decoding and rendering only; every decision is the hub's.
- Input lines end in `\\n` or `\\r\\n`; telnet negotiation is filtered out first (`telnet.py`);
  invalid UTF-8 is replaced; a backspace (BS or DEL) erases the character before it, as the
  typist saw. A line longer than `max_line` bytes is discarded with one `! ` line
  and the lines after it work as usual, however the bytes were split into reads.
- A room event is rendered once and the same bytes are written to every member (a one-entry
  cache: the hub delivers one event to all members before the next). One read's lines are
  handled inside `Hub.batch()`, so the messages they cause reach each member as one write
  (`deliver_events`, one encoding per batch); a reply goes out after what was queued before it.
- Limits (`flow.py`): a connection is admitted by the hub first (`! ` line and close when
  refused); its commands pass a `Throttle` (`--max-rate`); its output goes through an `Outbox`
  registered as the transport's producer, so a peer that stops reading costs a bounded backlog;
  no input for `--idle-timeout` seconds closes it with a notice.
"""

from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from chathub import internals
from chathub.commands import Command, Ref, parse_line
from chathub.config import LineSettings
from chathub.events import (
    Error,
    Event,
    History,
    Notice,
    Ok,
    Outgoing,
    Private,
    RoomList,
    Welcome,
    Who,
)
from chathub.flow import UNTIMED, FlowLimits, IdleTimer, Outbox, Throttle
from chathub.hub import Hub, Session
from chathub.telnet import TelnetFilter

DEFAULT_MAX_LINE = LineSettings().max_line


class LineTooLong:
    """Stands in the output of `LineSplitter` for a line that was discarded for its length."""


TOO_LONG = LineTooLong()


def erase_backspaces(text: str) -> str:
    """`text` as its typist saw it: each backspace (BS or DEL) erases the character before it.

    A client in character mode (Windows telnet, a raw terminal) sends the typing and the
    corrections; removing only the backspaces would send "helolo" for what read "hello".
    """
    if "\x08" not in text and "\x7f" not in text:
        return text
    kept: list[str] = []
    for char in text:
        if char in "\x08\x7f":
            if kept:
                kept.pop()
        else:
            kept.append(char)
    return "".join(kept)


class LineSplitter:
    """Splits a byte stream into lines of at most `max_length` bytes (without the ending).

    Why not `LineReceiver`: on an over-long line it drops the whole buffer, lines after it
    included, and its default is to close the connection. Here the over-long line alone goes.
    """

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self._buffer = b""
        self._discarding = False  # inside an over-long line that was already reported

    def feed(self, data: bytes) -> list[bytes | LineTooLong]:
        parts = (self._buffer + data).split(b"\n")
        self._buffer = parts.pop()
        out: list[bytes | LineTooLong] = []
        for part in parts:
            if self._discarding:
                self._discarding = False
                continue
            if part.endswith(b"\r"):
                part = part[:-1]
            out.append(TOO_LONG if len(part) > self.max_length else part)
        # An unfinished line that is already too long (one more byte may be its "\r"): report
        # it now and drop what is buffered, so a peer cannot make us hold an endless line.
        if len(self._buffer) > self.max_length + 1:
            if not self._discarding:
                out.append(TOO_LONG)
                self._discarding = True
            self._buffer = b""
        return out


def render_event(event: Event) -> str:
    """The line for a live event, without its ending."""
    match event.kind:
        case "message":
            return f"[{event.room}] <{event.nick}> {event.text}"
        case "action":
            return f"[{event.room}] * {event.nick} {event.text}"
        case "join":
            return f"[{event.room}] -> {event.nick} joined"
        case "part":
            reason = f" ({event.text})" if event.text else ""
            return f"[{event.room}] <- {event.nick} left{reason}"
        case "nick":
            return f"* {event.old} is now known as {event.nick}"
        case _:  # notice
            return f"[{event.room}] * {event.text}" if event.room else f"* {event.text}"


def render_stored(event: Event) -> str:
    """The line for a stored event shown as history: it carries the id."""
    if event.kind == "action":
        return f"[{event.room} #{event.id}] * {event.nick} {event.text}"
    return f"[{event.room} #{event.id}] <{event.nick}> {event.text}"


def render(item: Outgoing, my_nick: str) -> list[str]:
    """The lines for anything the hub delivers, as seen by the client called `my_nick`."""
    match item:
        case Event():
            return [render_event(item)]
        case History(room, events):
            if not events:
                return [f"* no messages in {room}"]
            return [render_stored(event) for event in events]
        case Notice(text):
            return ["* " + line for line in text.split("\n")]
        case Error(_, message):
            return ["! " + message]
        case Private(sender, to, text):
            if sender == my_nick and to != my_nick:
                return [f"[pm -> {to}] <{sender}> {text}"]
            return [f"[pm] <{sender}> {text}"]
        case Welcome(nick, _, motd):
            lines = ["* " + line for line in motd.split("\n") if line]
            return [*lines, f"* your nick is {nick}", "* type /help for a list of commands"]
        case Who(room, members):
            return [f"* members of {room}: {', '.join(members) or '(none)'}"]
        case RoomList(rooms):
            listing = ", ".join(f"{name} ({count})" for name, count in rooms)
            return [f"* rooms: {listing or '(none)'}"]
        case Ok():
            return []
    return []


class LineConnection(Protocol):
    """One telnet or nc client."""

    def __init__(
        self,
        hub: Hub,
        max_line: int = DEFAULT_MAX_LINE,
        flow: FlowLimits = UNTIMED,
        clock: IReactorTime | None = None,
    ) -> None:
        if flow.needs_clock and clock is None:
            raise ValueError("rate, slow and idle limits need a clock")
        self.hub = hub
        self.max_line = max_line
        self.flow = flow
        self.clock = clock
        self.session: Session | None = None
        self.peer = ""
        self._telnet = TelnetFilter()
        self._lines = LineSplitter(max_line)
        self._open = False
        self._admitted = False
        self._outbox: Outbox[bytes] | None = None
        self._throttle: Throttle[Command | Error] | None = None
        self._idle: IdleTimer | None = None

    def connectionMade(self) -> None:
        # Lines are small and latency matters: no Nagle delay (Autobahn does the same for /ws).
        no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if no_delay is not None:
            no_delay(True)
        peer = self.transport.getPeer()
        self.peer = str(getattr(peer, "host", None) or "local")  # unix: sockets have no host
        refusal = self.hub.admit(self.peer)
        if refusal is not None:
            self.transport.write(f"! {refusal.message}\r\n".encode())
            self.transport.loseConnection()
            return
        self._admitted = True
        self._outbox = Outbox(
            self.clock,  # type: ignore[arg-type]  # only used when slow_timeout needs it
            self._write,
            self.deliver,
            self._too_slow,
            self.hub.counters,
            self.flow.max_backlog,
            self.flow.slow_timeout,
        )
        self.transport.registerProducer(self._outbox, True)
        # Half-open connections (a laptop that slept, a NAT that forgot us) are found by the
        # kernel's keepalive probes, not by kicking users who only read.
        keepalive = getattr(self.transport, "setTcpKeepAlive", None)
        if keepalive is not None:
            keepalive(True)
        if self.clock is not None and self.flow.max_rate > 0:
            self._throttle = Throttle(
                self.clock,
                self.transport,
                self.flow.max_rate,
                self.flow.burst,
                self._handle,
                self.deliver,
                self.hub.counters,
            )
        self._idle = IdleTimer(self.clock, self.flow.idle_timeout, self._idle_out)  # type: ignore[arg-type]
        self._open = True
        self.session = self.hub.connect(self)

    def dataReceived(self, data: bytes) -> None:
        if self._idle is not None:
            self._idle.touch()
        data, replies = self._telnet.feed(data)
        if replies and self._outbox is not None:
            # Through the outbox: a peer that sends negotiation and never reads the refusals
            # must not grow our buffer without bound.
            self._outbox.offer(replies, len(replies))
        with self.hub.batch():  # one read's messages go out together (see Hub.batch)
            self._lines_received(self._lines.feed(data))

    def _lines_received(self, lines: list[bytes | LineTooLong]) -> None:
        for line in lines:
            if not self._open or self.session is None:
                return  # after /quit: the rest of the input is ignored
            command: Command | Error | None
            if isinstance(line, LineTooLong):
                # Answered like a bad command, through the throttle: after the lines before it.
                self.hub.counters["line_too_long"] += 1
                too_long = f"line longer than {self.max_line} bytes, discarded"
                command = Error("line-too-long", too_long)
            else:
                command = parse_line(erase_backspaces(line.decode("utf-8", "replace")))
            if command is None:
                continue  # a blank line does nothing, so it costs nothing
            if self._throttle is not None:
                self._throttle.push(command)
            else:
                self._handle(command)

    def _handle(self, command: Command | Error) -> None:
        if not self._open or self.session is None:
            return
        if isinstance(command, Error):
            self.deliver(command)
        else:
            self.hub.handle(self.session, command)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._open = False
        if self._throttle is not None:
            self._throttle.stop()
        if self._idle is not None:
            self._idle.stop()
        if self.session is not None:
            self.hub.disconnect(self.session)
        if self._admitted:
            self._admitted = False
            self.hub.release(self.peer)

    def _idle_out(self) -> None:
        if not self._open:
            return
        self.hub.counters["idle_closed"] += 1
        assert self._idle is not None  # only its timer calls this
        self.deliver(self._idle.error())
        if self.session is not None:
            self.hub.disconnect(self.session, "idle")
        self.close()

    def _too_slow(self, reason: str) -> None:
        """The outbox gave up on this peer: it is cut off at once, its output discarded."""
        if self.session is not None:
            self.hub.disconnect(self.session, "too slow")
        self._open = False
        self.transport.abortConnection()

    # --- the hub's seam -----------------------------------------------------------------------

    def deliver(self, item: Outgoing, ref: Ref | None = None) -> None:
        if not self._open or self._outbox is None:
            return
        if type(item) is Event:
            data = _encoded_event(item)
            self._outbox.offer(data, len(data), item.room, item.id)
            return
        self.hub.flush()  # a reply or warning goes after the room messages queued before it
        nick = self.session.nick if self.session is not None else ""
        lines = render(item, nick)
        if lines:
            data = "".join(line + "\r\n" for line in lines).encode("utf-8")
            self._outbox.offer(data, len(data))

    def deliver_events(self, events: tuple[Event, ...]) -> None:
        """Room events fanned out together (`Hub.batch`): the same bytes for every member."""
        outbox = self._outbox
        if not self._open or outbox is None:
            return
        if outbox.behind:  # skipping and the backlog count event by event
            for event in events:
                self.deliver(event)
            return
        data = _encoded_events(events)
        outbox.offer(data, len(data), events[0].room, events[0].id)

    def _write(self, data: bytes) -> None:
        internals.write_now(self.transport, data)

    def close(self) -> None:
        if self._open:
            self._open = False
            # A peer that is not reading would hold a graceful close open for ever.
            if self._outbox is not None and self._outbox.behind:
                self.transport.abortConnection()
            else:
                self.transport.loseConnection()


# The last event encoded, and its bytes: a broadcast delivers one event to every member in a
# row, so this one entry turns N encodings into one.
_last_event: Event | None = None
_last_bytes = b""


def _encoded_event(event: Event) -> bytes:
    global _last_event, _last_bytes
    if event is not _last_event:
        _last_bytes = (render_event(event) + "\r\n").encode("utf-8")
        _last_event = event
    return _last_bytes


# The same for a batch of events: the hub hands one tuple to every member.
_last_events: tuple[Event, ...] | None = None
_last_events_bytes = b""


def _encoded_events(events: tuple[Event, ...]) -> bytes:
    global _last_events, _last_events_bytes
    if events is not _last_events:
        if len(events) == 1:
            _last_events_bytes = _encoded_event(events[0])
        else:
            text = "".join(render_event(event) + "\r\n" for event in events)
            _last_events_bytes = text.encode("utf-8")
        _last_events = events
    return _last_events_bytes


class LineFactory(Factory):
    """Makes a `LineConnection` for each accepted connection, all sharing one hub."""

    def __init__(
        self,
        hub: Hub,
        max_line: int = DEFAULT_MAX_LINE,
        flow: FlowLimits = UNTIMED,
        clock: IReactorTime | None = None,
    ) -> None:
        self.hub = hub
        self.max_line = max_line
        self.flow = flow
        self.clock = clock

    def buildProtocol(self, addr: IAddress) -> LineConnection:
        return LineConnection(self.hub, self.max_line, self.flow, self.clock)
