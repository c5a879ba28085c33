"""What every stream connection shares, whatever its protocol: the `Stream` helper.

A stream adapter (telnet, WebSocket, later IRC) owns its framing and rendering; everything else
about a long-lived connection lives here once:
- admission: counted with the hub from the start (`admit`, or `adopt` of an `Admission` the
  HTTP channel took for a WebSocket), released exactly once (`stop`);
- output: the hub's `Client` seam (`deliver`, `deliver_events`, `close`), rendered by the
  adapter and written through an `Outbox`, the transport's streaming producer, so a peer that
  stops reading costs a bounded backlog, then skipped room events and others' private
  messages, then the connection;
- input: every message passes a `Throttle` (`--max-rate`) before the adapter handles it;
- the idle timer (`--idle-timeout`), and what happens when it runs out or the peer is too slow;
- what the adapter says on its own (a refused line, a warning, a skip notice) goes through the
  hub (`Hub.tell`), so it never overtakes what the hub queued before it.

Rules:
- The adapter supplies a `StreamAdapter`: how to render (a room event, a batch of them, any other
  item), how to write bytes, how to handle one input item, and how to close (gracefully or at
  once). Its method names are chosen not to collide with Twisted's or Autobahn's (a test checks).
- After `end_output` (the protocol's close was sent, or the connection was dropped) nothing more
  is written, and what the outbox held is discarded.
- `stop` is called once the connection is gone (`connectionLost`); it is safe to call twice.
"""

import time
from collections.abc import Callable, Iterable
from typing import Any, Literal, Protocol

from twisted.logger import Logger

from chathub import feeds
from chathub.access import ANONYMOUS, Viewer
from chathub.commands import Ref
from chathub.config import FlowLimits
from chathub.events import Error, Event, Outgoing, Private
from chathub.flow import Clock, IdleTimer, Outbox, Throttle
from chathub.hub import Hub
from chathub.logs import Sometimes
from chathub.session import Session
from chathub.text import DEFAULT_ROOM

log = Logger()
# A flood of refused connections logs a line a second, not one each.
_refusals = Sometimes(time.monotonic)

# Why reading a connection is stopped (bits of `Stream._held`).
_BY_THROTTLE = 1
_BY_HUB = 2
_FOR_GOOD = 4  # the peer broke a rule: its connection is closing
_BY_TURN = 8  # this turn's input budget is spent (flow.TurnBudget): read on in a later one

# Why a connection is closed gracefully: the WebSocket adapter picks its close code by it.
CloseReason = Literal["shutdown", "idle", "quit"]


class Admission:
    """One connection counted with the hub (`Hub.admit`), released once whoever releases it.

    A WebSocket is admitted by the HTTP channel it arrived on (`httpchannel.py`), which hands
    the same object to the WebSocket connection: both may call `release`, and only the first
    call counts, so the connection takes one place and gives it back exactly once.
    """

    __slots__ = ("hub", "peer")

    def __init__(self, hub: Hub, peer: str) -> None:
        self.hub: Hub | None = hub
        self.peer = peer

    @classmethod
    def take(cls, hub: Hub, peer: str) -> "Admission | Error":
        """Count a new connection from `peer`, or the hub's refusal (counted nowhere else)."""
        refusal = hub.admit(peer)
        return refusal if refusal is not None else cls(hub, peer)

    @property
    def held(self) -> bool:
        return self.hub is not None

    def release(self) -> None:
        """Give the place back; later calls do nothing."""
        hub, self.hub = self.hub, None
        if hub is not None:
            hub.release(self.peer)


class StreamAdapter(Protocol):
    """What a stream adapter tells `Stream` about its protocol."""

    transport: Any
    transport_name: str  # `telnet`, `ws`: the metrics' label

    def render_event(self, event: Event) -> bytes:
        """A room event as every member gets it (cache it: the same event goes to all)."""
        ...

    def render_events(self, events: tuple[Event, ...]) -> bytes:
        """A batch of room events as every member gets it (cache it, as above)."""
        ...

    def render_item(self, item: Outgoing, ref: Ref | None, nick: str) -> bytes:
        """Anything else, for this one client called `nick`; b"" for nothing to send."""
        ...

    def write_rendered(self, data: bytes) -> None:
        """Put bytes on the wire now (the outbox has decided that they go)."""
        ...

    def handle_input(self, item: Any) -> None:
        """One input item that passed the throttle."""
        ...

    def input_dropped(self, item: Any) -> None:
        """One input item the throttle dropped (past the burst); the client was warned."""
        ...

    def close_gracefully(self, reason: CloseReason) -> None:
        """Close the protocol's way (a close frame, a FIN) after what was written."""
        ...

    def close_at_once(self) -> None:
        """Drop the connection now, discarding unsent output."""
        ...


class Stream:
    """One stream connection's admission, flow control, idle timer and hub session."""

    __slots__ = (
        "_held",
        "adapter",
        "admission",
        "clock",
        "flow",
        "hub",
        "idle",
        "open",
        "outbox",
        "peer",
        "reader",
        "reading_resumed",
        "session",
        "throttle",
    )

    def __init__(
        self, hub: Hub, flow: FlowLimits, clock: Clock | None, adapter: StreamAdapter, peer: str
    ) -> None:
        if flow.needs_clock and clock is None:
            raise ValueError("rate, slow and idle limits need a clock")
        self.hub = hub
        self.flow = flow
        self.clock = clock
        self.adapter = adapter
        self.peer = peer
        self.session: Session | None = None
        self.reader: feeds.Reader | None = None  # watching rooms instead of joining them
        self.open = False  # output may be written
        self.outbox: Outbox[bytes] | None = None
        self.throttle: Throttle[Any] | None = None
        self.idle: IdleTimer | None = None
        # Set by an adapter that holds input while the throttle has stopped reading (so that
        # one read of tiny frames is not all parsed): called when reading resumes.
        self.reading_resumed: Callable[[], None] | None = None
        self.admission: Admission | None = None
        self._held = 0  # why reading is stopped: a set of the reasons below

    # --- the connection's life ----------------------------------------------------------------

    def admit(self) -> Error | None:
        """Count this connection with the hub, or say why it is refused (counted nowhere)."""
        taken = Admission.take(self.hub, self.peer)
        if isinstance(taken, Error):
            if (left_out := _refusals.due()) is not None:
                log.info(
                    "connection refused: {code}", code=taken.code, peer=self.peer,
                    transport=self.adapter.transport_name, refused_since_last_line=left_out,
                )  # fmt: skip
            return taken
        self.admission = taken
        return None

    def adopt(self, admission: Admission) -> None:
        """Use a place already counted for this connection (the HTTP channel's, for /ws)."""
        self.admission = admission

    def start(
        self,
        nick: str | None = None,
        rooms: Iterable[str] = (DEFAULT_ROOM,),
        since: dict[str, int] | None = None,
        token: str | None = None,
    ) -> Session:
        """Set up flow control on the adapter's transport and join the hub (identified by a
        log-in `token`, if one is given)."""
        self._start_output()
        clock: Any = self.clock  # only used when a limit needs it (checked in __init__)
        flow = self.flow
        if flow.max_rate > 0:
            self.throttle = Throttle(
                clock,
                self.throttle_holds,
                flow.max_rate,
                flow.burst,
                self.adapter.handle_input,
                self.tell,
                self.hub.counters,
                self.adapter.input_dropped,
                self.reading_resumed,
            )
        self.idle = IdleTimer(clock, flow.idle_timeout, self._idle_out)
        self.open = True
        self.session = self.hub.connect(self, nick, rooms, since, self.peer, token)
        return self.session

    def watch(
        self,
        rooms: Iterable[str],
        since: dict[str, int],
        replay: int,
        viewer: Viewer = ANONYMOUS,
        ready: Callable[[], None] = lambda: None,
    ) -> None:
        """Read `rooms` without joining them (an SSE stream): output only, no nick; private
        rooms only as far as `viewer` may see them; `ready` once it reads them all."""
        self._start_output()
        self.open = True
        self.reader = feeds.watch(self.hub, self, rooms, since, replay, self.deliver, viewer, ready)

    def _start_output(self) -> None:
        clock: Any = self.clock  # only used when a limit needs it (checked in __init__)
        self.outbox = Outbox(
            clock,
            self.adapter.write_rendered,
            self.tell,
            self._too_slow,
            self.hub.counters,
            self.flow.max_backlog,
            self.flow.slow_timeout,
        )
        self.adapter.transport.registerProducer(self.outbox, True)

    def receive(self, item: Any) -> None:
        """One input item from the peer: it shows the peer is there, then passes the throttle."""
        if self.idle is not None:
            self.idle.touch()
        if self.throttle is not None:
            self.throttle.push(item)
        else:
            self.adapter.handle_input(item)

    def touch(self) -> None:
        """Input that is not a message (a ping, a pong) still shows the peer is there."""
        if self.idle is not None:
            self.idle.touch()

    def charge(self) -> None:
        """Input that is not a message but costs as much (a message's further frames, a ping)
        takes a token from the throttle: past the burst, reading stops until it is paid."""
        if self.throttle is not None:
            self.throttle.charge()

    @property
    def reading_paused(self) -> bool:
        """Whether the throttle has stopped reading this peer (input it holds should wait)."""
        return self.throttle is not None and self.throttle.paused

    @property
    def held_by_hub(self) -> bool:
        """Whether the hub stopped reading this peer for a while (it cannot take its next
        command yet: its messages wait for the store, a room is read from disk; or this
        turn's input budget is spent), which is no fault of the peer's: what it sent
        meanwhile waits unread. Not when its own rate is spent (`_BY_THROTTLE`): that is its
        doing."""
        return bool(self._held & (_BY_HUB | _BY_TURN)) and not self._held & _FOR_GOOD

    def stop_reading(self) -> None:
        """Read nothing more from this peer: it broke a rule and its connection is closing,
        so what it still sends costs nothing (its close reply is not awaited either)."""
        if self.throttle is not None:
            self.throttle.stop()
        self._hold(_FOR_GOOD, True)

    def command(self, command: Any) -> None:
        """Hand a parsed command to the hub (an `Error` from the parser is told instead)."""
        if not self.open or self.session is None:
            return
        if isinstance(command, Error):
            self.tell(command)
        else:
            self.hub.handle(self.session, command)

    def tell(self, item: Outgoing, ref: Ref | None = None) -> None:
        """Something the adapter says on its own, in order with what the hub sent before."""
        if self.session is not None:
            self.hub.tell(self.session, item, ref)
        else:
            self.deliver(item, ref)

    def leave(self, reason: str) -> None:
        """The client is going (its close has begun): the hub sends what it queued for it,
        then tells its rooms it left."""
        if self.session is not None:
            self.hub.disconnect(self.session, reason)
        if self.reader is not None:
            feeds.unwatch(self.hub, self.reader)

    def end_output(self) -> None:
        """Nothing more may be written (a close frame went out, or the connection dropped)."""
        self.open = False
        if self.outbox is not None:
            self.outbox.stopProducing()

    def stop(self) -> None:
        """The connection is gone: stop timers and queues, leave the hub, release admission."""
        self.end_output()
        if self.throttle is not None:
            self.throttle.stop()
        if self.idle is not None:
            self.idle.stop()
        if self.session is not None:
            self.hub.disconnect(self.session)
        if self.reader is not None:
            feeds.unwatch(self.hub, self.reader)
        if self.admission is not None:
            self.admission.release()

    # --- reading: the throttle and the hub may each hold it ------------------------------------

    def hold_input(self, held: bool) -> None:
        """The hub cannot take this client's next command yet (or can again)."""
        self._hold(_BY_HUB, held)

    def throttle_holds(self, held: bool) -> None:
        self._hold(_BY_THROTTLE, held)

    def turn_holds(self, held: bool) -> None:
        """The input budget of this reactor turn is spent (or a later turn came)."""
        self._hold(_BY_TURN, held)

    def _hold(self, reason: int, held: bool) -> None:
        was_held = self._held != 0
        self._held = self._held | reason if held else self._held & ~reason
        if was_held == (self._held != 0):
            return
        transport = self.adapter.transport
        if transport is None:
            return
        if self._held:
            transport.pauseProducing()
        else:
            transport.resumeProducing()

    @property
    def transport_name(self) -> str:
        return self.adapter.transport_name

    @property
    def behind(self) -> bool:
        """Whether output waits for the peer (it is not reading)."""
        return self.outbox is not None and self.outbox.behind

    def _idle_out(self) -> None:
        if not self.open:
            return
        self.hub.counters.idle_closed += 1
        assert self.idle is not None  # only its timer calls this
        self.tell(self.idle.error())
        self.leave("idle")
        self._close_gracefully("idle")

    def _too_slow(self, reason: str) -> None:
        """The outbox gave up on this peer: it is cut off at once, its output discarded."""
        self.leave("too slow")
        self.open = False
        self.adapter.close_at_once()

    # --- the hub's seam (`Client`) ------------------------------------------------------------

    def deliver(self, item: Outgoing, ref: Ref | None = None) -> None:
        outbox = self.outbox
        if not self.open or outbox is None:
            return
        if ref is None and type(item) is Event:
            data = self.adapter.render_event(item)
            if data:  # a transport may show an event as nothing (typing, on a terminal)
                outbox.offer(data, len(data), item.room, item.id)
            return
        nick = self.session.nick if self.session is not None else ""
        data = self.adapter.render_item(item, ref, nick)
        if data:
            # Others' private messages may be skipped for a reader that is behind (never a
            # sender's copy with its ref: that is the reply it is owed).
            outbox.offer(data, len(data), private=ref is None and type(item) is Private)

    def deliver_events(self, events: tuple[Event, ...]) -> None:
        """Room events fanned out together (`Hub.batch`): the same bytes for every member."""
        outbox = self.outbox
        if not self.open or outbox is None:
            return
        if outbox.behind:  # skipping and the backlog count event by event
            for event in events:
                self.deliver(event)
            return
        data = self.adapter.render_events(events)
        if data:
            outbox.offer(data, len(data), events[0].room, events[0].id)

    def close(self) -> None:
        """The hub ends the connection (quit, shutdown)."""
        if not self.open:
            return
        if self.behind:
            # A peer that is not reading would hold a graceful close open for ever.
            self.open = False
            self.adapter.close_at_once()
        else:
            self._close_gracefully("shutdown" if self.hub.closing else "quit")

    def _close_gracefully(self, reason: CloseReason) -> None:
        self.adapter.close_gracefully(reason)
        self.open = False  # what the hub says after this is not for a closing connection


def peer_address(transport: Any) -> str:
    """The address connection limits count by: the peer's host, or "local" (UNIX sockets)."""
    peer = transport.getPeer()
    return str(getattr(peer, "host", None) or "local")
