"""The telnet / nc adapter: bytes to lines to commands; the hub's output as `\r\n` lines.

Rules:
- Only what is the line protocol's: framing (`LineSplitter`), telnet negotiation (`telnet.py`:
  BINARY both ways and the window width, asked for before the greeting) and rendering
  (`linewire.py`, wrapped for the window width once the client reports one). Admission,
  throttle, outbox and idle timer are the connection's `Stream` (`stream.py`); every
  decision is the hub's.
- Input lines end in `\n` or `\r\n`; invalid UTF-8 is replaced; a backspace (BS or DEL) erases
  the character before it, as the typist saw. A line longer than `max_line` bytes is discarded
  with one `! ` line and the lines after it work as usual, however the bytes were split.
- Plain lines that arrive within `paste_window` seconds of each other are one message of
  several lines (a paste, `paste.py`); 0 (the default here, not in the service) turns it off.
- One read's lines are handled inside `Hub.batch()`, so the messages they cause reach each
  member as one write; a refused line is answered through the throttle and the hub, after
  the lines before it.
- Big reads (over 2 KiB: many lines at once) share the listener's input budget of a reactor
  turn with the other connections (`flow.TurnBudget`); past it, a read waits for a later
  turn and the connection is not read meanwhile. A person's line is never held by it.
- A refused connection gets one `! ` line and is closed.
- Ctrl-C on an empty line leaves, as /quit does (as Ctrl-D does in a shell): telnet sends
  IAC IP for it (`telnet.py` makes that 0x03), a client in character mode the byte 0x03. A
  0x03 anywhere else in a line is a control character like any other, removed.
"""

from typing import Any

from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from chathub import internals
from chathub.commands import Command, Quit, Ref, Say
from chathub.config import FlowLimits, LineSettings
from chathub.events import Error, Event, Outgoing
from chathub.flow import BIG_READ, INPUT_PER_TURN, UNTIMED, TurnBudget
from chathub.hub import Hub
from chathub.linewire import encoded, encoded_event, encoded_events, render
from chathub.parsing import parse_line
from chathub.paste import Paste
from chathub.session import Session
from chathub.stream import CloseReason, Stream, peer_address
from chathub.telnet import TelnetFilter

DEFAULT_MAX_LINE = LineSettings().max_line


class LineTooLong:
    """Stands in the output of `LineSplitter` for a line that was discarded for its length."""


TOO_LONG = LineTooLong()


class Interrupt:
    """Stands in the output of `LineSplitter` for Ctrl-C (0x03) at the start of a line."""


INTERRUPT = Interrupt()

CTRL_C = b"\x03"


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
    """Splits a byte stream into lines of at most `max_length` bytes (without the ending), up
    to Ctrl-C at the start of a line (`INTERRUPT`), after which it reads nothing.

    Why not `LineReceiver`: on an over-long line it drops the whole buffer, lines after it
    included, and its default is to close the connection. Here the over-long line alone goes.
    """

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self._buffer = b""
        self._discarding = False  # inside an over-long line that was already reported
        self._interrupted = False  # Ctrl-C started a line: the input is over

    def feed(self, data: bytes) -> list[bytes | LineTooLong | Interrupt]:
        if self._interrupted:
            return []
        at_start = not self._buffer and not self._discarding
        parts = (self._buffer + data).split(b"\n")
        # Ctrl-C that starts a line ends the input there: nothing after it is read.
        for index, part in enumerate(parts):
            if part.startswith(CTRL_C) and (index > 0 or at_start):
                lines = self.feed_lines([*parts[:index], b""])
                self._buffer, self._interrupted = b"", True
                return [*lines, INTERRUPT]
        return self.feed_lines(parts)

    def feed_lines(self, parts: list[bytes]) -> list[bytes | LineTooLong | Interrupt]:
        self._buffer = parts.pop()
        out: list[bytes | LineTooLong | Interrupt] = []
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


class LineConnection(Protocol):
    """One telnet or nc client: framing and rendering; the rest is its `Stream`'s."""

    # TCP, TLS or UNIX: what the stream and we use beyond ITransport is looked up or checked.
    transport: Any
    transport_name = "telnet"

    def __init__(
        self,
        hub: Hub,
        max_line: int = DEFAULT_MAX_LINE,
        flow: FlowLimits = UNTIMED,
        clock: IReactorTime | None = None,
        paste_window: float = 0.0,
        budget: TurnBudget | None = None,
    ) -> None:
        if flow.needs_clock and clock is None:
            raise ValueError("rate, slow and idle limits need a clock")
        self.hub = hub
        self.max_line = max_line
        self.flow = flow
        self.clock = clock
        self.stream: Stream | None = None
        self._telnet = TelnetFilter()
        self._lines = LineSplitter(max_line)
        self.budget = budget  # None: every read is handled at once
        self._held = bytearray()  # reads waiting for a turn with budget left
        settings = hub.settings
        self._paste = Paste(clock, paste_window, settings.lines_max, settings.text_max, self._say)

    @property
    def session(self) -> Session | None:
        return self.stream.session if self.stream is not None else None

    def connectionMade(self) -> None:
        # Lines are small and latency matters: no Nagle delay (Autobahn does the same for /ws).
        no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if no_delay is not None:
            no_delay(True)
        stream = Stream(self.hub, self.flow, self.clock, self, peer_address(self.transport))
        refusal = stream.admit()
        if refusal is not None:
            self.transport.write(f"! {refusal.message}\r\n".encode())
            self.transport.loseConnection()
            return
        self.stream = stream
        # Half-open connections (a laptop that slept, a NAT that forgot us) are found by the
        # kernel's keepalive probes, not by kicking users who only read.
        keepalive = getattr(self.transport, "setTcpKeepAlive", None)
        if keepalive is not None:
            keepalive(True)
        # Before the greeting: the telnet client is 8-bit clean (BINARY) by the time the first
        # UTF-8 reaches it, and says how wide its window is (NAWS).
        self.transport.write(self._telnet.start())
        stream.start()

    def dataReceived(self, data: bytes) -> None:
        stream = self.stream
        if stream is None:
            return
        budget = self.budget
        held = self._held
        if budget is not None and (held or (len(data) > BIG_READ and not budget.take(len(data)))):
            # This turn's input budget is spent: the read waits for a later turn, and nothing
            # more is read meanwhile.
            if not held:
                stream.turn_holds(True)
                budget.wait(self._turn_came)
            held += data
            return
        self._handle(data)

    def _turn_came(self) -> None:
        held = bytes(self._held)
        self._held.clear()
        stream = self.stream
        if stream is None or not stream.open:
            return  # gone meanwhile
        stream.turn_holds(False)
        assert self.budget is not None
        self.budget.take(len(held))  # a turn with budget left: it goes whole
        self._handle(held)

    def _handle(self, data: bytes) -> None:
        stream = self.stream
        assert stream is not None
        stream.touch()
        data, replies = self._telnet.feed(data)
        if replies and stream.outbox is not None:
            # Through the outbox: a peer that sends negotiation and never reads the refusals
            # must not grow our buffer without bound.
            stream.outbox.offer(replies, len(replies))
        with self.hub.batch():  # one read's messages go out together (see Hub.batch)
            for line in self._lines.feed(data):
                if not stream.open:
                    return  # after /quit: the rest of the input is ignored
                command = self._command(line)
                if self._paste.take(command):
                    continue  # a line of a paste: it goes with the others (paste.py)
                self._paste.flush()
                if command is not None:  # a blank line does nothing, so it costs nothing
                    stream.receive(command)

    def _say(self, text: str) -> None:
        """Send the lines of a paste as one message (from `Paste`, now or on its timer)."""
        stream = self.stream
        if stream is not None and stream.open:
            with self.hub.batch():
                stream.receive(Say(text))

    def _command(self, line: bytes | LineTooLong | Interrupt) -> Command | Error | None:
        if isinstance(line, Interrupt):
            return Quit()
        if isinstance(line, LineTooLong):
            # Answered like a bad command, through the throttle: after the lines before it.
            self.hub.counters.line_too_long += 1
            return Error("line-too-long", f"line longer than {self.max_line} bytes, discarded")
        return parse_line(erase_backspaces(line.decode("utf-8", "replace")))

    def connectionLost(self, reason: Failure | None = None) -> None:
        if self.stream is not None:
            self._paste.flush()  # typed just before the connection went: still said
            self.stream.stop()

    # --- what the stream asks of us (`StreamAdapter`) -----------------------------------------

    def handle_input(self, item: Command | Error) -> None:
        if self.stream is not None:
            self.stream.command(item)

    def input_dropped(self, item: Command | Error) -> None:
        """Telnet has no replies to owe: the warning the throttle gave is enough."""

    def render_event(self, event: Event) -> bytes:
        return encoded_event(event, self._telnet.width)

    def render_events(self, events: tuple[Event, ...]) -> bytes:
        return encoded_events(events, self._telnet.width)

    def render_item(self, item: Outgoing, ref: Ref | None, nick: str) -> bytes:
        return encoded(render(item, nick), self._telnet.width)

    def write_rendered(self, data: bytes) -> None:
        internals.write_now(self.transport, data)

    def close_gracefully(self, reason: CloseReason) -> None:
        self.transport.loseConnection()

    def close_at_once(self) -> None:
        self.transport.abortConnection()


class LineFactory(Factory):
    """Makes a `LineConnection` for each accepted connection, all sharing one hub."""

    noisy = False  # no log line each time it starts listening

    def __init__(
        self,
        hub: Hub,
        max_line: int = DEFAULT_MAX_LINE,
        flow: FlowLimits = UNTIMED,
        clock: IReactorTime | None = None,
        paste_window: float = 0.0,
    ) -> None:
        self.hub = hub
        self.max_line = max_line
        self.flow = flow
        self.clock = clock
        self.paste_window = paste_window
        # Big reads of all its connections share one budget a reactor turn (flow.py).
        self.input_budget = (
            TurnBudget(clock.callLater, INPUT_PER_TURN) if clock is not None else None
        )

    def buildProtocol(self, addr: IAddress | None) -> LineConnection:
        return LineConnection(
            self.hub, self.max_line, self.flow, self.clock, self.paste_window, self.input_budget
        )
