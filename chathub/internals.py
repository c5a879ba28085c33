"""The one place where chathub touches private parts of Twisted and Autobahn, for speed.

Rules:
- Every use of a name outside Twisted's and Autobahn's documented interfaces is here, in a
  function that says what it reads or writes and why; `private_names()` lists them all, and
  tests/test_internals.py checks each on real objects, so an upgrade that removes one fails a
  test instead of a connection. constraints.txt pins the versions these were read from
  (Twisted 26.10, Autobahn 26.10).
- Importing this module changes nothing: a patch is applied by calling its function, once, at
  start-up (`quiet_autobahn_debug_formatting`) or per factory (`use_reactor_timer`), or by
  inheriting its mixin (`BadRequestHook`).
- What is not a plain case goes the public way: `write_now` falls back to `transport.write`,
  `direct_write_allowed` sends anything unusual through Autobahn's own `sendData`.
"""

from collections import deque
from collections.abc import Callable, Iterator
from pprint import pformat
from typing import Any, Final, Protocol

from autobahn.websocket import protocol as autobahn_protocol
from autobahn.websocket.protocol import WebSocketProtocol, WebSocketServerFactory
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.tcp import Server

# (where, name): every attribute or module global outside Twisted's and Autobahn's documented
# interfaces that this module reads or writes. Keep in step with the code below and with the
# checks in tests/test_internals.py (a name without a check fails there).
_PRIVATE_NAMES: Final = (
    # write_now: whether a plain TCP connection has nothing queued, and its socket.
    ("twisted.internet.tcp.Server", "TLS"),
    ("twisted.internet.tcp.Server", "socket"),
    ("twisted.internet.tcp.Server", "connected"),
    ("twisted.internet.tcp.Server", "disconnecting"),
    ("twisted.internet.tcp.Server", "_aborting"),
    ("twisted.internet.tcp.Server", "_tempDataLen"),
    ("twisted.internet.tcp.Server", "dataBuffer"),
    # quiet_autobahn_debug_formatting
    ("autobahn.websocket.protocol", "pformat"),
    # use_reactor_timer
    ("autobahn.websocket.protocol.WebSocketServerFactory", "_batched_timer"),
    # deflate_key
    ("autobahn.websocket.protocol.WebSocketProtocol", "_perMessageCompress"),
    ("autobahn.websocket.compress_deflate.PerMessageDeflate", "server_no_context_takeover"),
    ("autobahn.websocket.compress_deflate.PerMessageDeflate", "server_max_window_bits"),
    ("autobahn.websocket.compress_deflate.PerMessageDeflate", "mem_level"),
    # direct_write_allowed and count_sent
    ("autobahn.websocket.protocol.WebSocketProtocol", "send_queue"),
    ("autobahn.websocket.protocol.WebSocketProtocol", "logOctets"),
    ("autobahn.websocket.protocol.WebSocketServerFactory", "logOctets"),
    ("autobahn.websocket.protocol.WebSocketProtocol", "trafficStats"),
    ("autobahn.websocket.protocol.TrafficStats", "outgoingOctetsWireLevel"),
    ("autobahn.websocket.protocol.TrafficStats", "preopenOutgoingOctetsWireLevel"),
    # fail_connection
    ("autobahn.websocket.protocol.WebSocketProtocol", "_fail_connection"),
    # BadRequestHook
    ("twisted.web.http.HTTPChannel", "_respondToBadRequestAndDisconnect"),
    # forget_handshake: what Autobahn keeps of an opening handshake it no longer reads
    ("autobahn.websocket.protocol.WebSocketServerProtocol", "http_request_data"),
    ("autobahn.websocket.protocol.WebSocketServerProtocol", "http_response_data"),
    ("autobahn.websocket.protocol.WebSocketServerProtocol", "http_headers"),
    ("autobahn.websocket.protocol.WebSocketServerProtocol", "http_request_params"),
    # fair_accepts: how many connections a listening port accepts in one turn
    ("twisted.internet.tcp.Port", "numberAccepts"),
    # expect_pong_later: the timer that drops a peer whose pong is late
    ("autobahn.websocket.protocol.WebSocketProtocol", "autoPingTimeoutCall"),
)


def private_names() -> tuple[tuple[str, str], ...]:
    """Every private name this module relies on, as (module or class, attribute)."""
    return _PRIVATE_NAMES


# --- Twisted: writing at once -----------------------------------------------------------------


def write_now(transport: Any, data: bytes) -> None:
    """`transport.write(data)`, sending at once when that cannot change what Twisted does.

    Only a plain, connected, non-TLS `twisted.internet.tcp.Server` with nothing buffered is
    written directly: `socket.send` now is what Twisted would do on the next writable event,
    minus registering for that event and dispatching it (two `epoll_ctl` calls, the reactor's
    logging context, `doWrite`): most of a fan-out delivery's cost in py-spy.

    Private: `TLS` (set when `startTLS` wraps the connection), `_aborting` (set by
    `abortConnection`, which leaves `connected` set until the next reactor turn), and
    `_tempDataLen` and `dataBuffer` (what `write` has queued and `doWrite` has not sent): only
    when all say "nothing in the way" does a direct send keep Twisted's order. Whatever the
    kernel does not take, and every other case (TLS, a UNIX socket, a test transport, output
    already buffered, a connection closing), goes to `transport.write`, so ordering,
    buffering, producers and connection loss stay Twisted's.
    """
    if (
        type(transport) is Server
        and not transport.TLS
        and transport.connected
        and not transport.disconnecting
        and not transport._aborting
        and not transport._tempDataLen
        and not transport.dataBuffer
    ):
        try:
            sent = transport.socket.send(data)
        except OSError:  # would block, or the peer is gone: Twisted finds out and handles it
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)


# --- Autobahn: the handshake's debug line -----------------------------------------------------


class _LazyFormat:
    """Stands in for `pprint.pformat` in Autobahn's protocol module: the text is made only if
    it is formatted (`str` or `format`), that is, only if the debug line is written."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        return format(pformat(self.value), spec)

    def __str__(self) -> str:
        return pformat(self.value)


def quiet_autobahn_debug_formatting() -> None:
    """Make Autobahn's per-connection debug dumps cost nothing unless they are logged.

    Private: the module global `pformat` of `autobahn.websocket.protocol`. Autobahn
    pretty-prints every option of every new connection (`_connectionMade`) and the transport's
    details (`startHandshake`) for debug lines that are normally filtered out: a quarter of a
    WebSocket handshake's cost (py-spy, `chathub bench --duration 0`). Replaced by
    `_LazyFormat`, the text is made only when a debug line is written.

    Call it once at start-up; calling it again changes nothing. It replaces only pprint's own
    `pformat`: if Autobahn's module no longer has one, it leaves the module alone (and
    tests/test_internals.py fails). One side effect: `str()` of Autobahn's `Timings` (kept only
    with the `trackTimings` option, which chathub never sets) returns pformat's result and would
    then raise TypeError.
    """
    if getattr(autobahn_protocol, "pformat", None) is pformat:
        autobahn_protocol.pformat = _LazyFormat  # type: ignore[assignment,attr-defined]


# --- Autobahn: timers on the injected reactor -------------------------------------------------


class CallLater(Protocol):
    """What a reactor gives for timers (`IReactorTime.callLater`); a test's Clock has it."""

    def callLater(
        self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any
    ) -> IDelayedCall: ...


class _ReactorTimer:
    """Autobahn's timer seam (`call_later`, as txaio's batched timer has it) on a reactor."""

    __slots__ = ("reactor",)

    def __init__(self, reactor: CallLater) -> None:
        self.reactor = reactor

    def call_later(
        self, delay: float, func: Callable[..., Any], *args: Any, **kw: Any
    ) -> IDelayedCall:
        return self.reactor.callLater(delay, func, *args, **kw)


def use_reactor_timer(factory: WebSocketServerFactory, reactor: CallLater) -> None:
    """Run the timers of `factory`'s connections (opening and closing handshake timeouts,
    keepalive pings) on `reactor`.

    Private: `factory._batched_timer`, which Autobahn's connections call as
    `self.factory._batched_timer.call_later(...)` for every timer. Autobahn's own (txaio's
    batched timer) schedules on whatever reactor txaio finds globally, which a test's Clock
    never sees and which breaks "inject the reactor"; a plain `callLater` per timer is cheap at
    chat scale.
    """
    factory._batched_timer = _ReactorTimer(reactor)


# --- Autobahn: sharing compressed frames ------------------------------------------------------


class PerConnectionCompression(Exception):
    """Raised by `deflate_key`: this connection compresses in a way whose output depends on
    what it sent before (context takeover, or an extension other than permessage-deflate), so
    no frame made for another connection can be sent to it."""


def deflate_key(protocol: WebSocketProtocol) -> tuple[int, int] | None:
    """What a connection's compressed messages depend on, to share them between connections.

    - None: no compression was negotiated; frames are sent as they are.
    - `(server_max_window_bits, mem_level)`: permessage-deflate without server context
      takeover, so each message is compressed on its own, and the same bytes serve every
      connection with the same key.
    - raises `PerConnectionCompression` for any other compression: its frames are this
      connection's own (send them one by one through Autobahn).

    Private: `protocol._perMessageCompress` (Autobahn's negotiated extension, set in the
    opening handshake) and its `server_no_context_takeover`, `server_max_window_bits` and
    `mem_level`, which Autobahn's compressor is built from.
    """
    deflate = protocol._perMessageCompress
    if deflate is None:
        return None
    if not getattr(deflate, "server_no_context_takeover", False):
        raise PerConnectionCompression(type(deflate).__name__)
    return (deflate.server_max_window_bits, deflate.mem_level)


# --- Autobahn: writing around sendData --------------------------------------------------------


def direct_write_allowed(protocol: WebSocketProtocol) -> bool:
    """Whether bytes for `protocol` may go to its transport now, bypassing Autobahn's
    `sendData` (whose debug-log arguments are formatted on every write: about half of a
    fan-out delivery's cost in cProfile). Callers still use `sendData` when they chop or sync.

    Private: `protocol.send_queue` (chopped or synced writes Autobahn has not sent yet: ours
    must wait behind them) and `logOctets` (Autobahn would log the bytes; the protocol's copy
    is what its `sendData` reads, the factory's is where it is set).
    """
    untyped: Any = protocol  # Autobahn sets `logOctets` and `factory` where mypy cannot see
    return not protocol.send_queue and not untyped.logOctets and not untyped.factory.logOctets


def count_sent(protocol: WebSocketProtocol, n: int) -> None:
    """Count `n` bytes written directly in Autobahn's traffic statistics, as its `sendData`
    does: as wire-level output once open, as pre-open output while connecting, and not at all
    once closing.

    Private: `protocol.trafficStats` and its `outgoingOctetsWireLevel` and
    `preopenOutgoingOctetsWireLevel`.
    """
    state = protocol.state
    if state == WebSocketProtocol.STATE_OPEN:
        protocol.trafficStats.outgoingOctetsWireLevel += n
    elif state in (WebSocketProtocol.STATE_CONNECTING, WebSocketProtocol.STATE_PROXY_CONNECTING):
        protocol.trafficStats.preopenOutgoingOctetsWireLevel += n


# --- Autobahn: failing a connection -----------------------------------------------------------


def fail_connection(protocol: WebSocketProtocol, code: int, reason: str) -> None:
    """Fail `protocol`'s connection the way Autobahn fails one whose message is too big: a
    close frame with `code` (1008, 1009...) and `reason` (cut to fit), and nothing of the
    message kept or handed on from then on.

    Private: `protocol._fail_connection`, through which Autobahn sends its own 1007 and 1009.
    It sets `failedByMe`, so frames of the message that still arrive are dropped instead of
    collected; the public `sendClose` takes only the codes 1000 and 3000-4999.
    """
    protocol._fail_connection(code, reason)


# --- twisted.web: answering malformed requests ------------------------------------------------


class BadRequestHook:
    """A mixin for a subclass of twisted.web's `HTTPChannel` (put it first among the bases):
    every malformed request Twisted finds calls `bad_request` instead of Twisted's own answer.

    Private: `HTTPChannel._respondToBadRequestAndDisconnect`, which Twisted calls wherever it
    refuses a request it cannot parse (the request line, a header line or name, a header value
    with NUL, CR or LF, Content-Length or Transfer-Encoding, a chunked body, a multipart form)
    and which writes a bare `400 Bad Request` without a body and closes. `bad_request` must
    answer and end the connection itself.
    """

    def _respondToBadRequestAndDisconnect(self) -> None:
        self.bad_request()

    def bad_request(self) -> None:
        raise NotImplementedError


# --- Autobahn: what an open connection no longer needs ----------------------------------------


class LazyQueue:
    """Stands in for Autobahn's `send_queue` deque, which costs 760 bytes empty and which
    chathub's writes never use (they go out directly, `direct_write_allowed`): a deque is made
    only if Autobahn queues something (a chopped or synced write)."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: deque[Any] | None = None

    def append(self, item: Any) -> None:
        if self.items is None:
            self.items = deque()
        self.items.append(item)

    def popleft(self) -> Any:
        if not self.items:
            raise IndexError("pop from an empty queue")
        return self.items.popleft()

    def __len__(self) -> int:
        return len(self.items) if self.items is not None else 0

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items or ())


def forget_handshake(protocol: WebSocketProtocol) -> None:
    """Let an open connection drop what its opening handshake left: the request and answer
    as received and sent, the parsed headers and query (about 1.2 KB a connection, read only
    while the handshake is processed), and the empty send queue (760 bytes).

    Private: `http_request_data`, `http_response_data`, `http_headers` and
    `http_request_params` (set in `processHandshake`, unread once the connection is open) and
    `send_queue` (Autobahn's `sendData` and `_send` append, pop and take its length only).
    """
    untyped: Any = protocol
    untyped.http_request_data = b""
    untyped.http_response_data = b""
    untyped.http_headers = {}
    untyped.http_request_params = {}
    if not protocol.send_queue:
        untyped.send_queue = LazyQueue()


def fair_accepts(port: Any, most: int) -> None:
    """Make a listening `port` accept at most `most` connections a reactor turn (Twisted
    accepts up to 100 and raises that by 20 each time it takes all it tried). Workers that
    share one listening socket then share a burst of connections by how soon each comes back
    to its loop, instead of the first awake taking them all."""
    if not hasattr(port, "numberAccepts"):
        return  # not a tcp.Port (a UNIX socket's is one too; anything else: as it is)
    read = port.doRead

    def do_read() -> Any:
        port.numberAccepts = min(port.numberAccepts, most)
        return read()

    port.doRead = do_read


# --- Autobahn: a pong we did not read ---------------------------------------------------------


def expect_pong_later(protocol: WebSocketProtocol, seconds: float) -> None:
    """Give `protocol`'s peer `seconds` more for the pong to its keepalive ping, from within
    `onAutoPingTimeout` (which would drop it).

    Private: `autoPingTimeoutCall`, the timer Autobahn set when it sent the ping, which fired
    to call `onAutoPingTimeout`; its pong handling cancels it when the pong comes, so it is
    replaced by a new one on the factory's timer (a fired call cannot be cancelled). The
    pending ping is kept: the pong that answers it is still recognised.
    """
    factory: Any = protocol.factory  # type: ignore[attr-defined]  # set by buildProtocol
    protocol.autoPingTimeoutCall = factory._batched_timer.call_later(
        seconds, protocol.onAutoPingTimeout
    )
