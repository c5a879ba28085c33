"""The WebSocket adapter: `/ws` on the web port, JSON text frames to hub commands and back.

Rules:
- Only what is the WebSocket protocol's: turning frames into commands and hub output into
  frames. Autobahn's options and the origin check are `wsoptions.py`, rendering `jsonwire.py`,
  frames `wsframes.py`, the connect query `query.py`; admission, throttle, outbox and idle
  timer are the connection's `Stream` (`stream.py`).
- One JSON object per text frame. Bad input gets an `error` reply (invalid JSON, not an object,
  unknown op, missing or wrong-typed fields) or closes with the RFC 6455 code for it (1003 binary
  frame, 1007 invalid UTF-8, 1009 too big); never a traceback, and nobody else notices.
- A message may be sent in fragments, but at most `max_frames` (1000) of them, and its last
  must come within `message_timeout` (10 s) of its first: else the connection closes with 1009
  or 1008, is counted, and nothing more is read from it. Every frame counts toward the rate
  limit (a message's further frames and pings are `Stream.charge`d), so empty or one-byte
  frames cost a flooder as much as messages do.
- Encode once: room events are framed once per batch and deflate key (`FrameCache`) and the
  same bytes go to every peer; a reply is framed for its one recipient. Our frames are written
  as bytes (`sendData`), never through Autobahn's `sendMessage`, so the size limit a client must
  keep never applies to what the hub sends.
- The origin policy (`origins.py`) is checked before the handshake completes: 403 and no
  connection. A connection that came through the web port's HTTP channel was admitted there
  when it was accepted, and the channel hands that admission over (`admission`, through the
  factory's `handover`); it counts nothing again and releases it once. Only a connection
  made otherwise (tests) is admitted in the handshake: 503 when the server is full, 429 past
  the per-address limit.
- Order: one read's frames are handled inside `Hub.batch()`, so data frames go out in the order
  their causes were read, however the input was split. A close frame (ours, the peer's, or
  Autobahn's 1007/1009) first lets the hub send what it queued for this client
  (`Stream.leave`), and nothing follows it (RFC 6455 5.5.1), nor a dropped connection. A pong
  is answered at once: control frames may come between messages.
- Timers (handshake timeouts, keepalive pings) run on the factory's reactor, so tests move them
  with a `Clock` and a process has one reactor.
"""

import contextlib
import json
from dataclasses import replace
from typing import Any

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet.interfaces import IDelayedCall

from chathub import internals, jsonwire
from chathub.commands import Ref
from chathub.config import FlowLimits, WebSocketSettings
from chathub.events import Error, Event, Outgoing
from chathub.flow import BIG_READ, INPUT_PER_TURN, UNTIMED, TurnBudget
from chathub.hub import Hub
from chathub.parsing import json_ref, parse_json
from chathub.query import ConnectQuery, cookie_token, parse_query
from chathub.session import Session
from chathub.stream import Admission, CloseReason, Stream, peer_address
from chathub.wsframes import DeflateKey, FrameCache, frame
from chathub.wsoptions import Clock, check_origin, configure_factory

# RFC 6455 close codes this adapter uses itself (Autobahn sends 1007 and 1009 on its own).
CLOSE_NORMAL = 1000
CLOSE_SERVICE_RESTART = 1012
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009

# Input is handed to Autobahn this many bytes at a time: one read may hold thousands of tiny
# frames (about 50 µs each to parse), and parsing stops between pieces once the throttle has
# stopped reading (the rest waits) or the connection was refused for its input (the rest goes).
FEED_SIZE = BIG_READ

# What each graceful close says.
_CLOSES: dict[CloseReason, tuple[int, str]] = {
    # 1012 (service restart): a client reconnects, to this server restarted or another one.
    "shutdown": (CLOSE_SERVICE_RESTART, "server restarting; reconnect"),
    "idle": (CLOSE_NORMAL, "idle"),
    "quit": (CLOSE_NORMAL, "goodbye"),
}


# --- the connection ---------------------------------------------------------------------------


class WebSocketConnection(WebSocketServerProtocol):
    """One browser (or other WebSocket) client: frames in, frames out; a `StreamAdapter`."""

    factory: "WebSocketFactory"
    transport: Any  # twisted.web's channel's transport: TCP, TLS or UNIX
    transport_name = "ws"

    def __init__(self) -> None:
        super().__init__()
        self.stream: Stream | None = None
        self.query: ConnectQuery | None = None  # from the handshake until the connection opens
        self.deflate_key: DeflateKey = None  # set when the connection opens
        self.frames_of_message = 0  # frames of the message being received
        self.message_deadline: IDelayedCall | None = None  # when it must have ended
        self.waiting_for_turn = False  # what is held waits for the factory's input budget
        self.broke_frame_rule = False  # closed for too many frames (not the size: 1009 too)
        self.refused = False  # failed for what it sent: nothing more of its input is parsed
        self.held = bytearray()  # input read but not parsed yet (see FEED_SIZE)
        self.admission: Admission | None = None  # the HTTP channel's, handed over by it

    @property
    def session(self) -> Session | None:
        return self.stream.session if self.stream is not None else None

    # --- what Autobahn calls ------------------------------------------------------------------

    def onConnect(self, request: ConnectionRequest) -> None:
        check_origin(self, request)
        factory = self.factory
        stream = Stream(
            factory.hub, factory.flow, factory.reactor, self, peer_address(self.transport)
        )
        if self.admission is not None:
            stream.adopt(self.admission)  # counted when the HTTP connection was accepted
        else:
            refusal = stream.admit()
            if refusal is not None:
                status = 503 if refusal.code == "server-full" else 429
                raise ConnectionDeny(status, refusal.message)
        self.stream = stream
        self.query = parse_query(request.params)
        if self.query.token is None:  # the page's log-in session, sent by the browser
            token = cookie_token(request.headers.get("cookie"))
            self.query = replace(self.query, token=token)

    def onOpen(self) -> None:
        stream, query = self.stream, self.query
        assert stream is not None and query is not None  # onConnect admitted us
        self.query = None
        # chathub accepts deflate only without server context takeover (`configure_factory`),
        # so each message is compressed on its own and its frames can be shared.
        self.deflate_key = internals.deflate_key(self)
        internals.forget_handshake(self)  # about 2 KB a connection, unread from now on
        # twisted.web's channel registered itself as the producer; the socket is ours now.
        with contextlib.suppress(RuntimeError):  # StringTransport refuses when none is
            self.transport.unregisterProducer()
        stream.reading_resumed = self._feed_held
        stream.start(query.nick, query.rooms, query.since, query.token)
        for problem in query.problems:
            stream.tell(problem)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if self.stream is not None:
            self.stream.receive((payload, isBinary))

    def onMessageBegin(self, isBinary: bool) -> None:
        super().onMessageBegin(isBinary)
        self.frames_of_message = 0
        if self.state == self.STATE_OPEN:
            self._stop_deadline()
            timeout = self.factory.settings.message_timeout
            self.message_deadline = self.factory.reactor.callLater(timeout, self._unfinished)

    def onMessageFrameBegin(self, length: int) -> None:
        super().onMessageFrameBegin(length)  # which fails a message over the size limit
        if self.state != self.STATE_OPEN:
            return  # failed or closing: what still comes is dropped, not counted
        self.frames_of_message += 1
        max_frames = self.factory.settings.max_frames
        if self.frames_of_message > max_frames:
            self.broke_frame_rule = True
            self.factory.hub.counters.ws_too_many_frames += 1
            self._refuse(CLOSE_MESSAGE_TOO_BIG, f"a message may have at most {max_frames} frames")
        elif self.frames_of_message > 1 and self.stream is not None:
            self.stream.charge()  # the first frame is paid for with the message

    def onMessageEnd(self) -> None:
        self._stop_deadline()
        super().onMessageEnd()

    def onPing(self, payload: bytes) -> None:
        stream = self.stream
        if stream is None:
            return
        stream.touch()
        stream.charge()
        if stream.behind:
            # A peer that pings and never reads must not grow our buffer with pongs; RFC 6455
            # lets us answer only the latest ping, and it will ping again once it reads.
            return
        super().onPing(payload)  # which answers with the pong

    def onAutoPingTimeout(self) -> None:
        # No pong in time. If the hub stopped reading this peer (its messages wait for the
        # store), the pong may be in the socket unread: no sign of a dead peer, and dropping
        # it would punish it for our wait. Expect the pong again later.
        if self.stream is not None and self.stream.held_by_hub:
            internals.expect_pong_later(self, self.factory.settings.ping_timeout)
            return
        super().onAutoPingTimeout()

    def onPong(self, payload: bytes) -> None:
        if self.stream is not None:
            self.stream.touch()
            self.stream.charge()

    def dataReceived(self, data: bytes) -> None:
        # One read's messages fan out together (see Hub.batch). A pong goes out as soon as
        # its ping is read, possibly before messages queued in the same read: control frames
        # may come between messages (RFC 6455 5.5), and the data frames keep their order.
        if self.refused:
            return
        if not self.held and len(data) <= FEED_SIZE and not self._reading_paused():
            with self.factory.hub.batch():  # the usual read: small, parsed at once
                super().dataReceived(data)
            return
        self.held += data
        self._feed_held()

    def _feed_held(self) -> None:
        """Parse what is held, a piece at a time, while the throttle lets us read and this
        turn's input budget lasts (past it, the rest waits for a later turn)."""
        if self.waiting_for_turn:
            return
        budget = self.factory.input_budget
        with self.factory.hub.batch():
            while self.held and not self.refused and not self._reading_paused():
                if not budget.take(FEED_SIZE):
                    self._wait_for_turn()
                    break
                piece = bytes(self.held[:FEED_SIZE])
                del self.held[:FEED_SIZE]
                super().dataReceived(piece)
        if self.refused:
            self.held.clear()

    def _wait_for_turn(self) -> None:
        self.waiting_for_turn = True
        if self.stream is not None:
            self.stream.turn_holds(True)  # read nothing more meanwhile
        self.factory.input_budget.wait(self._turn_came)

    def _turn_came(self) -> None:
        self.waiting_for_turn = False
        if self.state not in (self.STATE_OPEN, self.STATE_CLOSING):  # gone meanwhile
            self.held.clear()
            return
        if self.stream is not None:
            self.stream.turn_holds(False)
        self._feed_held()

    def _reading_paused(self) -> bool:
        return self.stream is not None and self.stream.reading_paused

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self._stop_deadline()
        if self.localCloseCode == CLOSE_MESSAGE_TOO_BIG and not self.broke_frame_rule:
            self.factory.hub.counters.line_too_long += 1  # a message over --ws-max-message
        if self.stream is not None:
            self.stream.stop()

    def connectionLost(self, reason: Any = None) -> None:
        super().connectionLost(reason)
        self._stop_deadline()
        if self.stream is not None:
            self.stream.stop()  # also when the handshake never finished and onClose did not run
        if self.admission is not None:
            self.admission.release()  # refused in the handshake (its origin), or never opened

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        # Autobahn's sendData formats its debug-log arguments on every write, about half the
        # cost of a fan-out delivery (measured with cProfile); chathub never chops or queues
        # writes, so the common case writes directly, keeping Autobahn's traffic counters.
        if sync or chopsize or not internals.direct_write_allowed(self):
            super().sendData(data, sync, chopsize)
            return
        internals.write_now(self.transport, data)
        internals.count_sent(self, len(data))

    def sendCloseFrame(
        self, code: int | None = None, reasonUtf8: bytes | None = None, isReply: bool = False
    ) -> None:
        stream = self.stream
        if stream is not None and self.state == self.STATE_OPEN:
            # The client is leaving: the hub first sends what it queued for it (its own echoes
            # among them), since no data frame may follow a close frame (RFC 6455 5.5.1).
            stream.leave("connection closed")
        super().sendCloseFrame(code, reasonUtf8, isReply)
        if stream is not None and self.state != self.STATE_OPEN:
            stream.end_output()

    def dropConnection(self, abort: bool = False) -> None:
        # Autobahn drops on its own too (keepalive and closing timeouts); nothing more is
        # written after that (its sendMessage would raise into the hub's delivery).
        if self.stream is not None:
            self.stream.end_output()
        super().dropConnection(abort)

    # --- what the stream asks of us (`StreamAdapter`) -----------------------------------------

    def handle_input(self, message: tuple[bytes, bool]) -> None:
        stream = self.stream
        payload, isBinary = message
        if stream is None or not stream.open or stream.session is None:
            return
        if isBinary:
            self._close_with(CLOSE_UNSUPPORTED_DATA, "binary messages are not accepted; send JSON")
            return
        text = payload.decode("utf-8")  # Autobahn has checked it is UTF-8 (else 1007)
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deep
            stream.tell(Error("bad-json", "a message must be one JSON object"))
            return
        command = parse_json(obj)
        if isinstance(command, Error):
            stream.tell(command, jsonwire.scrub(json_ref(obj)))
            return
        if "\\u" in text:  # only escapes can make lone surrogates
            command = jsonwire.scrubbed(command)
        stream.command(command)

    def input_dropped(self, message: tuple[bytes, bool]) -> None:
        """A message the throttle dropped still answers its `ref`: every ref gets one reply."""
        payload, isBinary = message
        if isBinary or self.stream is None:
            return
        try:
            ref = json_ref(json.loads(payload.decode("utf-8")))
        except (ValueError, RecursionError):
            return
        if ref is not None:
            error = Error("rate-limited", "you are sending too fast; this message was dropped")
            self.stream.tell(error, jsonwire.scrub(ref))

    def render_event(self, event: Event) -> bytes:
        return self.factory.frames.event(event, self.deflate_key)

    def render_events(self, events: tuple[Event, ...]) -> bytes:
        return self.factory.frames.events(events, self.deflate_key)

    def render_item(self, item: Outgoing, ref: Ref | None, nick: str) -> bytes:
        payload = jsonwire.render(item, ref, self.factory.reactor.seconds())
        return frame(payload, self.deflate_key)

    def write_rendered(self, data: bytes) -> None:
        self.sendData(data)

    def close_gracefully(self, reason: CloseReason) -> None:
        self._close_with(*_CLOSES[reason])

    def close_at_once(self) -> None:
        self.dropConnection(abort=True)

    def _unfinished(self) -> None:
        """The message begun `message_timeout` seconds ago has not ended."""
        self.message_deadline = None
        timeout = self.factory.settings.message_timeout
        if self.stream is not None and self.stream.held_by_hub:
            # The hub stopped reading this peer (its messages wait for the store): the rest
            # of the message may be in the socket unread. Time again.
            self.message_deadline = self.factory.reactor.callLater(timeout, self._unfinished)
            return
        if self.state == self.STATE_OPEN:
            self.factory.hub.counters.ws_message_timeout += 1
            self._refuse(CLOSE_POLICY_VIOLATION, f"a message must end within {timeout:g} seconds")

    def _stop_deadline(self) -> None:
        if self.message_deadline is not None and self.message_deadline.active():
            self.message_deadline.cancel()
        self.message_deadline = None

    def _refuse(self, code: int, reason: str) -> None:
        """Fail the connection for input that broke a rule: a close frame with `code` and
        `reason` (the message's frames still coming are dropped), and nothing more is read."""
        self._stop_deadline()
        self.refused = True
        self.held.clear()
        internals.fail_connection(self, code, reason)
        if self.stream is not None:
            self.stream.stop_reading()

    def _close_with(self, code: int, reason: str) -> None:
        # `sendClose` takes only the application codes (1000, 3000-4999); 1001 and 1003 are
        # the protocol's own, sent like Autobahn's own failures (a close frame, then a wait of
        # at most closeHandshakeTimeout for the peer's reply).
        self.sendCloseFrame(code=code, reasonUtf8=reason.encode("utf-8"), isReply=False)


class WebSocketFactory(WebSocketServerFactory):
    """Makes a `WebSocketConnection` per handshake, all sharing one hub; mount it with
    `WebSocketResource` (see `web.make_root`)."""

    protocol = WebSocketConnection  # type: ignore[assignment]  # Autobahn's stubs are loose

    def __init__(
        self,
        hub: Hub,
        reactor: Clock,
        settings: WebSocketSettings = WebSocketSettings(),
        flow: FlowLimits = UNTIMED,
    ) -> None:
        super().__init__(reactor=reactor)  # type: ignore[no-untyped-call]
        self.hub = hub
        self.settings = settings
        self.flow = flow  # per-connection limits
        self.frames = FrameCache()  # what the last fan-out sent, framed once per deflate key
        # Big reads of all connections share one parsing budget a reactor turn (flow.py).
        self.input_budget = TurnBudget(reactor.callLater, INPUT_PER_TURN)
        # The admission of the HTTP connection being upgraded, set by `web.WebSocketUpgrade`
        # around Autobahn's render, which builds the connection: `buildProtocol` takes it.
        self.handover: Admission | None = None
        configure_factory(self, settings)

    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        assert isinstance(protocol, WebSocketConnection)
        protocol.admission, self.handover = self.handover, None
        return protocol

    def resetProtocolOptions(self) -> None:
        super().resetProtocolOptions()  # type: ignore[no-untyped-call]
        self._options_into_class()

    def setProtocolOptions(self, *args: Any, **kwargs: Any) -> None:
        super().setProtocolOptions(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._options_into_class()

    def _options_into_class(self) -> None:
        # Autobahn copies its options from the factory into every new connection's __dict__
        # unless the connection's class has them already; a class per factory holding them
        # keeps each idle connection several KiB smaller (chathub bench --duration 0).
        base = type(self).protocol
        options = {name: getattr(self, name) for name in base.CONFIG_ATTRS}
        for name, value in options.items():
            if callable(value):  # a function in a class would become a method
                options[name] = staticmethod(value)
        self.protocol = type(base.__name__, (base,), options)  # type: ignore[assignment]
