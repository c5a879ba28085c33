"""The WebSocket adapter: `/ws` on the web port, JSON text frames to hub commands and back.

Rules:
- Thin: decoding, the origin check and rendering only; every decision is the hub's.
- Every WebSocket factory is set up by `configure_factory`, the one place where Autobahn's
  options are chosen (its defaults are open: any origin, unlimited message size, no keepalive).
- One JSON object per text frame. Bad input gets an `error` reply (invalid JSON, not an object,
  unknown op, missing or wrong-typed fields) or closes with the RFC 6455 code for it (1003 binary
  frame, 1007 invalid UTF-8, 1009 too big); never a traceback, and nobody else notices.
- Encode once: a room event delivered without `ref` is JSON-encoded and framed once
  (`prepareMessage`) and the same prepared frame goes to every recipient. A delivery with `ref`
  is encoded for its one recipient, because only that copy carries the `ref`. One read's
  frames are handled inside `Hub.batch()`: the messages they cause reach each member as one
  write of their prepared frames (`deliver_events`), and replies keep their order. With
  permessage-deflate (accepted only without server context takeover) each message is
  compressed on its own, so those frames too are made once per batch and shared.
- The origin policy (`origins.py`: no `Origin`, the page's own, or `--allow-origin`) is checked
  before the handshake completes; a refused origin gets HTTP 403 and no connection.
- Timers (handshake timeouts, keepalive pings) run on the factory's reactor, so tests move them
  with a `Clock` and a process has one reactor.
- Limits (`flow.py`, the factory's `flow`): the hub admits the connection in the handshake
  (HTTP 503 when the server is full, 429 past the per-address limit); messages pass a
  `Throttle`; output goes through an `Outbox` registered as the transport's producer (taking
  over from twisted.web's channel), so a peer that stops reading costs a bounded backlog; no
  input at all (pongs count) for `--idle-timeout` closes with an `idle` error and code 1000.
- Closing: the hub's queued messages go out before our close frame, and nothing after it (RFC
  6455), nor after a drop; what a slow reader's outbox still holds then is discarded.
"""

import contextlib
import json
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet.interfaces import IDelayedCall, ISSLTransport

from chathub import internals
from chathub.commands import Command, Ref, json_ref, parse_json
from chathub.config import FlowLimits, WebSocketSettings
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
from chathub.flow import UNTIMED, IdleTimer, Outbox, Throttle
from chathub.hub import Hub, Session
from chathub.origins import origin_allowed
from chathub.text import normalize_room

DEFAULT_MAX_MESSAGE = WebSocketSettings().ws_max_message

# RFC 6455 close codes this adapter uses itself (Autobahn sends 1007 and 1009 on its own).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED_DATA = 1003

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


# --- options ----------------------------------------------------------------------------------


class Clock(Protocol):
    """What this module needs of a reactor: the time, and timers."""

    def seconds(self) -> float: ...

    def callLater(
        self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any
    ) -> IDelayedCall: ...


class _ReactorTimer:
    """Autobahn's timer seam (`call_later`) on an injected reactor instead of the global one.

    Autobahn's own batched timer schedules on whatever reactor txaio finds globally, which a
    test's Clock never sees; a plain `callLater` per timer is cheap at chat scale.
    """

    def __init__(self, reactor: Clock) -> None:
        self.reactor = reactor

    def call_later(
        self, delay: float, func: Callable[..., Any], *args: Any, **kw: Any
    ) -> IDelayedCall:
        return self.reactor.callLater(delay, func, *args, **kw)


def configure_factory(factory: WebSocketServerFactory, settings: WebSocketSettings) -> None:
    """Set every Autobahn option of a WebSocket server factory, on purpose.

    Every WebSocket factory of chathub goes through here, tests' included.
    """

    def accept_deflate(offers: Sequence[object]) -> PerMessageDeflateOfferAccept | None:
        # Accept permessage-deflate with small windows and no context takeover: the defaults
        # keep ~100 KB of zlib state per connection for the life of the connection.
        for offer in offers:
            if isinstance(offer, PerMessageDeflateOffer):
                return PerMessageDeflateOfferAccept(  # type: ignore[no-untyped-call]
                    offer,
                    request_no_context_takeover=offer.accept_no_context_takeover,
                    request_max_window_bits=(
                        settings.deflate_window_bits if offer.accept_max_window_bits else 0
                    ),
                    no_context_takeover=True,
                    window_bits=_smaller_window(settings.deflate_window_bits, offer),
                    mem_level=settings.deflate_mem_level,
                    max_message_size=settings.ws_max_message,
                )
        return None

    factory.setProtocolOptions(  # type: ignore[no-untyped-call]
        versions=[13],  # RFC 6455 only; the Hixie/Hybi drafts are long gone from browsers
        webStatus=False,  # a plain GET on /ws is refused (426), not given Autobahn's page
        utf8validateIncoming=True,  # invalid UTF-8 in a text frame closes with 1007
        maxMessagePayloadSize=settings.ws_max_message,  # over it: close 1009
        maxFramePayloadSize=settings.ws_max_message,
        autoFragmentSize=0,
        failByDrop=False,  # bad input gets a closing handshake with a code, not a dropped TCP
        echoCloseCodeReason=False,
        openHandshakeTimeout=settings.open_timeout,
        closeHandshakeTimeout=settings.close_timeout,
        tcpNoDelay=True,  # chat lines are small and should leave at once
        perMessageCompressionAccept=accept_deflate,
        autoPingInterval=settings.ping_interval,
        autoPingTimeout=settings.ping_timeout,
        autoPingSize=12,
        autoPingRestartOnAnyTraffic=True,  # any message from the peer proves it is alive
        # Autobahn's own origin check compares patterns, not the request's Host, and refuses
        # with 400; ours (`check_origin`, in onConnect) implements the policy and says 403.
        allowedOrigins=["*"],
        allowNullOrigin=True,
        trustXForwardedFor=0,
    )
    factory.server = "chathub"  # the Server header: no library version for the curious
    factory.allowed_origins = settings.allow_origin  # type: ignore[attr-defined]  # check_origin
    factory._batched_timer = _ReactorTimer(factory.reactor)


def _smaller_window(bits: int, offer: PerMessageDeflateOffer) -> int:
    # The server may always compress with a smaller window than the client allows.
    offered = int(offer.request_max_window_bits)
    return min(bits, offered) if offered else bits


# --- origins ----------------------------------------------------------------------------------


def check_origin(protocol: WebSocketServerProtocol, request: ConnectionRequest) -> None:
    """Refuse the opening handshake with 403 unless the origin policy allows `request`."""
    secure = ISSLTransport.providedBy(protocol.transport)
    host = request.headers.get("host", "")
    allowed: Sequence[str] = getattr(protocol.factory, "allowed_origins", ())
    if not origin_allowed(request.origin, host, secure, allowed):
        raise ConnectionDeny(403, "origin not allowed")  # type: ignore[no-untyped-call]


# --- the connect query ------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectQuery:
    """What `?nick=NAME&rooms=a,b&since=ROOM:ID,...` asks for, and what was wrong with it."""

    nick: str | None = None
    rooms: tuple[str, ...] = ("lobby",)
    since: dict[str, int] | None = None
    problems: tuple[Error, ...] = ()


def parse_query(params: Mapping[str, Sequence[str]]) -> ConnectQuery:
    """The connect query from Autobahn's parsed params (name -> values); never raises.

    Room and nick names are checked by the hub (so the answers match every transport); `since`
    is read here, and a malformed entry is reported and ignored.
    """
    nick = params["nick"][0] if params.get("nick") else None
    rooms: tuple[str, ...] = ("lobby",)
    if params.get("rooms"):
        rooms = tuple(name.strip() for value in params["rooms"] for name in value.split(","))
        rooms = tuple(name for name in rooms if name)
    since: dict[str, int] = {}
    problems: list[Error] = []
    for value in params.get("since", ()):
        for entry in value.split(","):
            if not entry.strip():
                continue
            room, _, number = entry.strip().rpartition(":")
            name = normalize_room(room)
            if name is None or not (number.isascii() and number.isdigit() and len(number) <= 18):
                shown = entry.strip()[:40]
                problems.append(Error("bad-request", f"since: {shown!r} is not ROOM:ID; ignored"))
                continue
            since[name] = int(number)
    return ConnectQuery(nick, rooms, since or None, tuple(problems))


# --- rendering --------------------------------------------------------------------------------


def event_fields(event: Event) -> dict[str, Any]:
    """An event as the JSON object every transport shows: id for stored kinds, old for nick."""
    fields_: dict[str, Any] = {
        "room": event.room,
        "kind": event.kind,
        "nick": event.nick,
        "text": event.text,
        "ts": event.ts,
    }
    if event.id is not None:
        fields_["id"] = event.id
    if event.old is not None:
        fields_["old"] = event.old
    return fields_


def message_for(item: Outgoing, now: float) -> dict[str, Any]:
    """The JSON object for anything the hub delivers (without `ref`)."""
    match item:
        case Event():
            return {"type": "event", **event_fields(item)}
        case Welcome(nick, rooms, motd):
            return {"type": "welcome", "nick": nick, "rooms": list(rooms), "motd": motd}
        case Who(room, members):
            return {"type": "who", "room": room, "members": list(members)}
        case RoomList(rooms):
            listing = [{"name": name, "members": count} for name, count in rooms]
            return {"type": "rooms", "rooms": listing}
        case History(room, events):
            return {"type": "history", "room": room, "events": [event_fields(e) for e in events]}
        case Private(sender, to, text, ts):
            return {"type": "pm", "from": sender, "to": to, "text": text, "ts": ts}
        case Error(code, message):
            return {"type": "error", "code": code, "message": message}
        case Ok():
            return {"type": "ok"}
        case Notice(text):
            # A line from the server to this one client: shown as a notice event.
            fields_ = {"room": None, "kind": "notice", "nick": None, "text": text, "ts": now}
            return {"type": "event", **fields_}
    raise TypeError(f"cannot render {item!r}")


def deflated_frame(payload: bytes, window_bits: int, mem_level: int) -> bytes:
    """A final text frame compressed as Autobahn's permessage-deflate compresses a message
    with no context takeover (RSV1 set; the sync flush's trailing 00 00 ff ff removed)."""
    compressor = zlib.compressobj(
        zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -window_bits, mem_level
    )
    data = (compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    size = len(data)
    if size < 126:
        return bytes((0xC1, size)) + data
    if size < 65536:
        return bytes((0xC1, 126)) + size.to_bytes(2, "big") + data
    return bytes((0xC1, 127)) + size.to_bytes(8, "big") + data


def encode(message: dict[str, Any]) -> bytes:
    # "replace": a lone surrogate must never stop a delivery (input is scrubbed, see _scrub).
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


def _scrub(value: Any) -> Any:
    """A string with lone surrogates (from JSON `\\ud800` escapes) replaced by U+FFFD.

    They cannot be encoded as UTF-8, so one would break the delivery of a message to every
    recipient, telnet ones included.
    """
    if isinstance(value, str) and _LONE_SURROGATE.search(value):
        return _LONE_SURROGATE.sub("\ufffd", value)
    return value


def _scrubbed(command: Command) -> Command:
    changes = {f.name: _scrub(getattr(command, f.name)) for f in fields(command)}
    return replace(command, **changes)


# --- the connection ---------------------------------------------------------------------------


class WebSocketConnection(WebSocketServerProtocol):
    """One browser (or other WebSocket) client: a `Client` of the hub."""

    factory: "WebSocketFactory"

    def __init__(self) -> None:
        super().__init__()
        self.session: Session | None = None
        self.query = ConnectQuery()
        self._open = False
        self.peer = ""
        self._admitted = False
        self._outbox: Outbox[Any] | None = None
        self._throttle: Throttle[tuple[bytes, bool]] | None = None
        self._idle: IdleTimer | None = None

    # --- what Autobahn calls ------------------------------------------------------------------

    def onConnect(self, request: ConnectionRequest) -> None:
        check_origin(self, request)
        self.query = parse_query(request.params)
        self._admit()

    def onOpen(self) -> None:
        self._start_flow()
        self._open = True
        query = self.query
        self.session = self.factory.hub.connect(self, query.nick, query.rooms, query.since)
        for problem in query.problems:
            self.deliver(problem)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self._idle_input()
        if self._throttle is not None:
            self._throttle.push((payload, isBinary))
        else:
            self._handle_message((payload, isBinary))

    def onPing(self, payload: bytes) -> None:
        self._idle_input()
        if self._outbox is not None and self._outbox.behind:
            # A peer that pings and never reads must not grow our buffer with pongs; RFC 6455
            # lets us answer only the latest ping, and it will ping again once it reads.
            return
        super().onPing(payload)  # which answers with the pong

    def onPong(self, payload: bytes) -> None:
        self._idle_input()

    def _handle_message(self, message: tuple[bytes, bool]) -> None:
        payload, isBinary = message
        if not self._open or self.session is None:
            return
        if isBinary:
            self._close_with(CLOSE_UNSUPPORTED_DATA, "binary messages are not accepted; send JSON")
            return
        text = payload.decode("utf-8")  # Autobahn has checked it is UTF-8 (else 1007)
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deep
            self.deliver(Error("bad-json", "a message must be one JSON object"))
            return
        command = parse_json(obj)
        if isinstance(command, Error):
            self.deliver(command, _scrub(json_ref(obj)))
            return
        if "\\u" in text:  # only escapes can make lone surrogates
            command = _scrubbed(command)
        self.factory.hub.handle(self.session, command)

    def dataReceived(self, data: bytes) -> None:
        # One read's messages fan out together (see Hub.batch).
        with self.factory.hub.batch():
            super().dataReceived(data)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self._open = False
        if self.localCloseCode == 1009:  # Autobahn refused a message over --ws-max-message
            self.factory.hub.counters["line_too_long"] += 1
        self._stop_flow()
        if self.session is not None:
            self.factory.hub.disconnect(self.session)

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        # Autobahn's sendData formats its debug-log arguments on every write, about half the
        # cost of a fan-out delivery (measured with cProfile); chathub never chops or queues
        # writes, so the common case writes directly, keeping Autobahn's traffic counters.
        if sync or chopsize or self.send_queue or self.factory.logOctets:
            super().sendData(data, sync, chopsize)
            return
        transport: Any = self.transport  # zope interfaces confuse mypy about `write`
        internals.write_now(transport, data)
        if self.state == self.STATE_OPEN:
            self.trafficStats.outgoingOctetsWireLevel += len(data)
        else:
            self.trafficStats.preopenOutgoingOctetsWireLevel += len(data)

    def sendPong(self, payload: bytes | None = None) -> None:
        # A pong or close answers a frame that came after any message queued in this read
        # (Hub.batch): those go first, so the output does not depend on how input was split.
        self.factory.hub.flush()
        super().sendPong(payload)  # type: ignore[no-untyped-call]

    def sendCloseFrame(self, *args: Any, **kwargs: Any) -> None:
        self.factory.hub.flush()
        super().sendCloseFrame(*args, **kwargs)
        if self.state != self.STATE_OPEN:
            # No data frame may follow a close frame (RFC 6455 5.5.1): not what the hub
            # delivers until the TCP connection ends (onClose), nor what waits in the outbox
            # for a slow reader (the close frame went straight to the transport).
            self._open = False
            if self._outbox is not None:
                self._outbox.stopProducing()

    def dropConnection(self, abort: bool = False) -> None:
        # Autobahn drops on its own too (keepalive and closing timeouts); from then on its
        # sendMessage raises, which would break a hub delivery to everyone after us.
        self._open = False
        super().dropConnection(abort)

    # --- the hub's seam -----------------------------------------------------------------------

    def deliver(self, item: Outgoing, ref: Ref | None = None) -> None:
        if not self._open:
            return
        if ref is None and type(item) is Event:
            prepared = self.factory.prepared_event(item)
            self._offer(prepared, len(prepared.payloadHybi), item.room, item.id)
            return
        self.factory.hub.flush()  # a reply goes after the room messages queued before it
        message = message_for(item, self.factory.reactor.seconds())
        if ref is not None:
            message["ref"] = ref
        data = encode(message)
        self._offer(data, len(data))

    def deliver_events(self, events: tuple[Event, ...]) -> None:
        """Room events fanned out together (`Hub.batch`): their prepared frames in one write,
        the same bytes for every member. One by one when compressing, or when the peer is
        behind (the outbox skips and counts event by event)."""
        if not self._open:
            return
        outbox = self._outbox
        deflate = self._perMessageCompress
        if outbox is not None and outbox.behind:
            for event in events:
                self.deliver(event)
        elif deflate is None:
            self.sendData(self.factory.prepared_frames(events))
        elif getattr(deflate, "server_no_context_takeover", False):
            # Each message is compressed on its own (we accept deflate only so): the same
            # compressed frames serve every connection with the same window and memory level.
            key = (deflate.server_max_window_bits, deflate.mem_level)
            self.sendData(self.factory.deflated_frames(events, key))
        else:
            for event in events:
                self.deliver(event)

    def close(self) -> None:
        if self._open:
            if self._outbox is not None and self._outbox.behind:
                # A peer that is not reading would never answer a closing handshake.
                self.dropConnection(abort=True)  # type: ignore[no-untyped-call]
                return
            self._close_with(CLOSE_GOING_AWAY, "server shutting down")

    # --- limits -------------------------------------------------------------------------------

    def _admit(self) -> None:
        """Count this connection with the hub, or refuse the handshake (503 full, 429 per IP)."""
        peer = self.transport.getPeer()
        self.peer = str(getattr(peer, "host", None) or "local")
        refusal = self.factory.hub.admit(self.peer)
        if refusal is not None:
            status = 503 if refusal.code == "server-full" else 429
            raise ConnectionDeny(status, refusal.message)  # type: ignore[no-untyped-call]
        self._admitted = True

    def _start_flow(self) -> None:
        factory = self.factory
        flow = factory.flow
        self._outbox = Outbox(
            factory.reactor,  # type: ignore[arg-type]  # seconds and callLater are all it uses
            self._send,
            self.deliver,
            self._too_slow,
            factory.hub.counters,
            flow.max_backlog,
            flow.slow_timeout,
        )
        # twisted.web's channel registered itself as the producer; the socket is ours now.
        with contextlib.suppress(RuntimeError):  # StringTransport refuses when none is
            self.transport.unregisterProducer()
        self.transport.registerProducer(self._outbox, True)
        if flow.max_rate > 0:
            self._throttle = Throttle(
                factory.reactor,  # type: ignore[arg-type]
                self.transport,
                flow.max_rate,
                flow.burst,
                self._handle_message,
                self.deliver,
                factory.hub.counters,
                self._rate_dropped,
            )
        self._idle = IdleTimer(factory.reactor, flow.idle_timeout, self._idle_out)  # type: ignore[arg-type]

    def _stop_flow(self) -> None:
        if self._outbox is not None:
            # Twisted stops its producer when the connection goes, but Autobahn's
            # dropConnection unregisters it first: its slow timer and backlog would outlive us.
            self._outbox.stopProducing()
        if self._throttle is not None:
            self._throttle.stop()
        if self._idle is not None:
            self._idle.stop()
        if self._admitted:
            self._admitted = False
            self.factory.hub.release(self.peer)

    def connectionLost(self, reason: Any = None) -> None:
        super().connectionLost(reason)
        self._stop_flow()  # also when the handshake never finished and onClose did not run

    def _idle_input(self) -> None:
        """A message, ping or pong shows the peer is there: restart the idle timer."""
        if self._idle is not None:
            self._idle.touch()

    def _offer(
        self, item: Any, size: int, room: str | None = None, event_id: int | None = None
    ) -> None:
        if self._outbox is None:
            self._send(item)
        else:
            self._outbox.offer(item, size, room, event_id)

    def _send(self, item: Any) -> None:
        # --ws-max-message bounds what a client sends. The hub's own messages may be larger (a
        # replay of 50 long messages; a long message from telnet, compressed for this peer),
        # and Autobahn applies the same limit to sending, raising in the middle of a delivery:
        # lift it for our own messages.
        limit, self.maxMessagePayloadSize = self.maxMessagePayloadSize, 0
        try:
            if isinstance(item, bytes):
                self.sendMessage(item)  # type: ignore[no-untyped-call]
            else:
                self.sendPreparedMessage(item)
        finally:
            self.maxMessagePayloadSize = limit

    def _rate_dropped(self, message: tuple[bytes, bool]) -> None:
        """A message the throttle dropped still answers its `ref`: every ref gets one reply."""
        payload, isBinary = message
        if isBinary or not self._open:
            return
        try:
            ref = json_ref(json.loads(payload.decode("utf-8")))
        except (ValueError, RecursionError):
            return
        if ref is not None:
            error = Error("rate-limited", "you are sending too fast; this message was dropped")
            self.deliver(error, _scrub(ref))

    def _idle_out(self) -> None:
        if not self._open:
            return
        hub = self.factory.hub
        hub.counters["idle_closed"] += 1
        assert self._idle is not None  # only its timer calls this
        self.deliver(self._idle.error())
        if self.session is not None:
            hub.disconnect(self.session, "idle")
        self._close_with(CLOSE_NORMAL, "idle")

    def _too_slow(self, reason: str) -> None:
        """The outbox gave up on this peer: it is cut off at once, its output discarded."""
        if self.session is not None:
            self.factory.hub.disconnect(self.session, "too slow")
        self.dropConnection(abort=True)  # type: ignore[no-untyped-call]

    def _close_with(self, code: int, reason: str) -> None:
        # `sendClose` takes only the application codes (1000, 3000-4999); 1001 and 1003 are
        # the protocol's own, sent like Autobahn's own failures (a close frame, then a wait of
        # at most closeHandshakeTimeout for the peer's reply). `sendCloseFrame` first sends the
        # hub's queued messages (the sender's own replies among them), then stops deliveries.
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
        configure_factory(self, settings)
        # The last event prepared, and its frame: a broadcast delivers one event to every
        # member in a row, so this one entry turns N encodings into one.
        self._last_event: Event | None = None
        self._last_prepared: Any = None
        self._last_events: tuple[Event, ...] | None = None
        self._last_frames = b""
        self._deflated_events: tuple[Event, ...] | None = None
        self._deflated: dict[tuple[int, int], bytes] = {}

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

    def prepared_event(self, event: Event) -> Any:
        """The prepared frame of a room event without `ref`, made once per event."""
        if event is not self._last_event:
            message = {"type": "event", **event_fields(event)}
            self._last_prepared = self.prepareMessage(encode(message))
            self._last_event = event
        return self._last_prepared

    def deflated_frames(self, events: tuple[Event, ...], key: tuple[int, int]) -> bytes:
        """The permessage-deflate frames (no context takeover) of a batch of room events for
        one (window bits, memory level), made once per batch and key."""
        if events is not self._deflated_events:
            self._deflated_events = events
            self._deflated = {}
        frames = self._deflated.get(key)
        if frames is None:
            window_bits, mem_level = key
            frames = b"".join(
                deflated_frame(self.prepared_event(event).payload, window_bits, mem_level)
                for event in events
            )
            self._deflated[key] = frames
        return frames

    def prepared_frames(self, events: tuple[Event, ...]) -> bytes:
        """The uncompressed frames of a batch of room events, made once per batch."""
        if events is not self._last_events:
            if len(events) == 1:
                frames = self.prepared_event(events[0]).payloadHybi
            else:
                frames = b"".join(self.prepared_event(event).payloadHybi for event in events)
            self._last_frames = frames
            self._last_events = events
        return self._last_frames
