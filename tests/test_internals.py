"""chathub/internals.py: every private name of Twisted and Autobahn it relies on still exists
and means what it meant (checked on real objects: a Twisted TCP transport over a loopback TCP
pair, Autobahn connections after a real opening handshake), and each function behaves."""

import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pprint import pformat
from typing import Any

import pytest
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket import protocol as autobahn_protocol
from autobahn.websocket.compress import (
    PerMessageDeflate,
    PerMessageDeflateOffer,
    PerMessageDeflateOfferAccept,
)
from twisted.internet import tcp
from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.web.http import HTTPChannel

from chathub import internals

# --- a Twisted TCP transport on a real connection ---------------------------------------------


class _Port:
    """What `tcp.Server` asks of its listening port."""

    _realPortNumber = 0

    def getHost(self) -> None:
        return None


class Pair:
    """A real `twisted.internet.tcp.Server` on one end of a loopback TCP connection."""

    def __init__(self) -> None:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            self.theirs = socket.create_connection(listener.getsockname())
            self.ours, address = listener.accept()
        self.ours.setblocking(False)
        self.reactor = MemoryReactorClock()
        self.transport = tcp.Server(self.ours, Protocol(), address, _Port(), 1, self.reactor)

    def received(self, size: int) -> bytes:
        """Exactly `size` bytes from the peer's end (blocking, with a timeout)."""
        self.theirs.settimeout(10)
        data = b""
        while len(data) < size:
            chunk = self.theirs.recv(1 << 20)
            assert chunk, "the connection closed"
            data += chunk
        return data

    def nothing_received(self) -> bool:
        self.theirs.setblocking(False)
        try:
            self.theirs.recv(100)
        except BlockingIOError:
            return True
        return False

    def close(self) -> None:
        self.ours.close()
        self.theirs.close()


@pytest.fixture
def pair() -> Iterator[Pair]:
    made = Pair()
    yield made
    made.close()


BIG = bytes(range(256)) * 40_000  # 10 MB: far more than loopback socket buffers hold


# --- an Autobahn connection after a real handshake --------------------------------------------


def _handshake(extensions: str | None) -> bytes:
    lines = [
        "GET /ws HTTP/1.1",
        "Host: 127.0.0.1:8080",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if extensions is not None:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _masked(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A client frame of fewer than 126 bytes, masked with zeros (which leaves it as it is)."""
    return bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload)]) + b"\0" * 4 + payload


class _Transport(StringTransport):
    """A StringTransport that, like a TCP transport, allows unregistering no producer."""

    def unregisterProducer(self) -> None:
        self.producer = None


Accept = Callable[[Sequence[object]], PerMessageDeflateOfferAccept | None]


def autobahn_connection(
    accept: Accept | None = None, extensions: str | None = None, handshake: bool = True
) -> tuple[WebSocketServerProtocol, MemoryReactorClock]:
    """A plain Autobahn server connection on a StringTransport, opened unless told not to."""
    clock = MemoryReactorClock()
    factory = WebSocketServerFactory(reactor=clock)
    factory.protocol = WebSocketServerProtocol  # Autobahn's default is its framework-free base
    internals.use_reactor_timer(factory, clock)
    factory.setProtocolOptions(openHandshakeTimeout=5)
    if accept is not None:
        factory.setProtocolOptions(perMessageCompressionAccept=accept)
    protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 50000))
    protocol.makeConnection(_Transport())
    if handshake:
        protocol.dataReceived(_handshake(extensions))
        assert protocol.state == protocol.STATE_OPEN
    return protocol, clock


def _no_context_takeover(offers: Sequence[object]) -> PerMessageDeflateOfferAccept | None:
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(
                offer, no_context_takeover=True, window_bits=10, mem_level=5
            )
    return None


def _context_takeover(offers: Sequence[object]) -> PerMessageDeflateOfferAccept | None:
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(offer)
    return None


@pytest.fixture
def autobahn_pformat(monkeypatch: pytest.MonkeyPatch) -> None:
    """Autobahn's `pformat` as this test found it is put back afterwards."""
    monkeypatch.setattr(autobahn_protocol, "pformat", pformat)


# --- each private name, on real objects -------------------------------------------------------
# A check fails (AttributeError, or a changed meaning) once Twisted or Autobahn drops or changes
# the name. Instance attributes set in __init__ or in the handshake are read from real
# instances made here, not with hasattr on the class.


def _tcp_tls(pair: Pair) -> None:
    assert pair.transport.TLS is False  # a class attribute, set True on the instance by startTLS


def _tcp_socket(pair: Pair) -> None:
    assert pair.transport.socket is pair.ours


def _tcp_connected(pair: Pair) -> None:
    assert pair.transport.connected


def _tcp_disconnecting(pair: Pair) -> None:
    assert not pair.transport.disconnecting
    pair.transport.loseConnection()
    assert pair.transport.disconnecting


def _tcp_aborting(pair: Pair) -> None:
    assert pair.transport._aborting is False
    pair.transport.abortConnection()
    assert pair.transport._aborting is True
    assert pair.transport.connected  # why write_now reads _aborting: still "connected"


def _tcp_temp_data_len(pair: Pair) -> None:
    assert pair.transport._tempDataLen == 0
    pair.transport.write(b"abc")  # Twisted queues; doWrite sends on the next writable event
    assert pair.transport._tempDataLen == 3


def _tcp_data_buffer(pair: Pair) -> None:
    assert pair.transport.dataBuffer == b""
    pair.transport.write(BIG)
    pair.transport.doWrite()  # sends what the kernel takes and keeps the rest in dataBuffer
    assert pair.transport._tempDataLen == 0
    assert 0 < len(pair.transport.dataBuffer) - pair.transport.offset < len(BIG)


def _autobahn_pformat(_: Pair) -> None:
    # The module global that every new connection calls for its option dump.
    calls: list[object] = []

    def recording(value: object, *args: object, **kwargs: object) -> str:
        calls.append(value)
        return pformat(value, *args, **kwargs)

    original = vars(autobahn_protocol)["pformat"]
    assert original is pformat or original is internals._LazyFormat
    try:
        autobahn_protocol.pformat = recording  # type: ignore[attr-defined]
        autobahn_connection(handshake=False)
    finally:
        autobahn_protocol.pformat = original  # type: ignore[attr-defined]
    dumped = [value for value in calls if isinstance(value, list)]
    assert dumped and ("openHandshakeTimeout", 5, "WebSocketServerFactory") in dumped[0]


def _factory_batched_timer(_: Pair) -> None:
    # Autobahn schedules a connection's timers through factory._batched_timer: with ours, the
    # opening handshake timeout lands on the injected clock.
    factory = WebSocketServerFactory(reactor=MemoryReactorClock())
    assert hasattr(factory._batched_timer, "call_later")  # Autobahn's own, set in __init__
    protocol, clock = autobahn_connection(handshake=False)
    assert [call.getTime() for call in clock.getDelayedCalls()] == [5.0]
    protocol.dataReceived(_handshake(None))
    assert clock.getDelayedCalls() == []  # opened: the timeout was cancelled


def _per_message_compress(_: Pair) -> None:
    plain, _clock = autobahn_connection()
    assert plain._perMessageCompress is None
    deflating, _clock = autobahn_connection(_no_context_takeover, "permessage-deflate")
    assert isinstance(deflating._perMessageCompress, PerMessageDeflate)


def _deflate_server_no_context_takeover(_: Pair) -> None:
    protocol, _clock = autobahn_connection(_no_context_takeover, "permessage-deflate")
    assert protocol._perMessageCompress.server_no_context_takeover is True
    protocol, _clock = autobahn_connection(_context_takeover, "permessage-deflate")
    assert protocol._perMessageCompress.server_no_context_takeover is False


def _deflate_server_max_window_bits(_: Pair) -> None:
    protocol, _clock = autobahn_connection(_no_context_takeover, "permessage-deflate")
    assert protocol._perMessageCompress.server_max_window_bits == 10


def _deflate_mem_level(_: Pair) -> None:
    protocol, _clock = autobahn_connection(_no_context_takeover, "permessage-deflate")
    assert protocol._perMessageCompress.mem_level == 5


def _send_queue(_: Pair) -> None:
    # Where Autobahn keeps chopped and synced writes until its next turn; while anything is
    # there, its sendData queues every later write behind it.
    protocol, _clock = autobahn_connection()
    assert len(protocol.send_queue) == 0
    sent = protocol.transport.value()
    protocol.triggered = True  # as while a queued write waits for the reactor
    protocol.sendData(b"x", sync=True)
    protocol.sendData(b"y")
    assert list(protocol.send_queue) == [(b"x", True), (b"y", False)]
    assert protocol.transport.value() == sent


def _protocol_log_octets(_: Pair) -> None:
    protocol, _clock = autobahn_connection()
    assert protocol.logOctets is False  # copied from the factory when the connection is made


def _factory_log_octets(_: Pair) -> None:
    assert WebSocketServerFactory(reactor=MemoryReactorClock()).logOctets is False


def _traffic_stats(_: Pair) -> None:
    protocol, _clock = autobahn_connection()
    assert isinstance(protocol.trafficStats, autobahn_protocol.TrafficStats)


def _outgoing_octets(_: Pair) -> None:
    protocol, _clock = autobahn_connection()
    before = protocol.trafficStats.outgoingOctetsWireLevel
    protocol.sendData(b"12345")
    assert protocol.trafficStats.outgoingOctetsWireLevel == before + 5


def _preopen_outgoing_octets(_: Pair) -> None:
    protocol, _clock = autobahn_connection(handshake=False)
    assert protocol.trafficStats.preopenOutgoingOctetsWireLevel == 0
    protocol.dataReceived(_handshake(None))  # Autobahn counts its handshake response there
    assert protocol.trafficStats.preopenOutgoingOctetsWireLevel > 0


def _auto_ping_timeout_call(_: Pair) -> None:
    # The timer that drops a peer whose pong is late: set when the keepalive ping goes out,
    # it calls onAutoPingTimeout; replaced from there, the pong that comes later cancels the
    # new one and the connection stays.
    protocol, clock = autobahn_connection()
    protocol.autoPingInterval, protocol.autoPingTimeout = 10, 5
    timeouts: list[float] = []

    def timed_out() -> None:
        timeouts.append(clock.seconds())
        if len(timeouts) == 1:
            internals.expect_pong_later(protocol, 5)

    protocol.onAutoPingTimeout = timed_out
    protocol._sendAutoPing()
    assert protocol.autoPingTimeoutCall is not None
    ping = protocol.autoPingPending
    clock.advance(5)
    assert timeouts == [5.0] and protocol.autoPingTimeoutCall.active()
    protocol.dataReceived(_masked(0x0A, ping))
    assert protocol.autoPingTimeoutCall is None
    clock.advance(30)
    assert timeouts == [5.0] and protocol.state == protocol.STATE_OPEN


def _fail_connection(_: Pair) -> None:
    # Autobahn's own way to fail a connection: a close frame with the code and reason, then
    # the rest of the message is dropped (not collected, never handed to onMessage).
    protocol, _clock = autobahn_connection()
    protocol.failByDrop = False  # as chathub's factories set it: a close frame, not a drop
    received: list[bytes] = []
    protocol.onMessage = lambda payload, binary: received.append(payload)
    protocol.dataReceived(_masked(0x01, b"{", fin=False))
    sent = len(protocol.transport.value())
    protocol._fail_connection(1008, "too slow")
    close = protocol.transport.value()[sent:]
    assert close[:1] == b"\x88" and close[2:] == b"\x03\xf0too slow"
    assert protocol.state == protocol.STATE_CLOSING and protocol.failedByMe
    for _ in range(10):
        protocol.dataReceived(_masked(0x00, b"x", fin=False))
    protocol.dataReceived(_masked(0x00, b"}", fin=True))
    assert received == [] and not protocol.message_data


class _Refusing(internals.BadRequestHook, HTTPChannel):
    """A bare HTTPChannel with the hook, recording the refusals it is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    def bad_request(self) -> None:
        self.refused += 1
        self.transport.loseConnection()


def _bad_request_hook(_: Pair) -> None:
    # Twisted's bare 400 for every request it cannot parse; with the mixin, ours is called
    # instead and Twisted writes nothing of its own.
    assert callable(HTTPChannel._respondToBadRequestAndDisconnect)
    for malformed in (
        b"GET /\r\n\r\n",  # a request line without a version
        b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ):
        channel = _Refusing()
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(malformed)
        assert (channel.refused, transport.value()) == (1, b""), malformed


def _handshake_attribute(name: str) -> Callable[[Pair], None]:
    def check(_: Pair) -> None:
        # Set while the opening handshake is processed, and not read again once it is open:
        # forget_handshake empties it, and the connection goes on working.
        protocol, _clock = autobahn_connection()
        assert hasattr(protocol, name)
        internals.forget_handshake(protocol)
        assert not getattr(protocol, name)
        protocol.sendMessage(b"still works")
        assert protocol.transport.value().endswith(b"still works")

    return check


def _port_number_accepts(_: Pair) -> None:
    # Twisted's listening port keeps how many it accepts a turn, and fair_accepts caps it.
    from twisted.internet import reactor
    from twisted.internet.protocol import Factory
    from twisted.internet.tcp import Port

    port = Port(0, Factory(), interface="127.0.0.1", reactor=reactor)
    port.startListening()
    try:
        assert port.numberAccepts == 100
        internals.fair_accepts(port, 8)
        with socket.create_connection(("127.0.0.1", port.getHost().port)):
            port.doRead()
        assert port.numberAccepts <= 8
    finally:
        port.stopListening()


CHECKS: dict[tuple[str, str], Callable[[Pair], None]] = {
    ("twisted.internet.tcp.Port", "numberAccepts"): _port_number_accepts,
    ("twisted.internet.tcp.Server", "TLS"): _tcp_tls,
    ("twisted.internet.tcp.Server", "socket"): _tcp_socket,
    ("twisted.internet.tcp.Server", "connected"): _tcp_connected,
    ("twisted.internet.tcp.Server", "disconnecting"): _tcp_disconnecting,
    ("twisted.internet.tcp.Server", "_aborting"): _tcp_aborting,
    ("twisted.internet.tcp.Server", "_tempDataLen"): _tcp_temp_data_len,
    ("twisted.internet.tcp.Server", "dataBuffer"): _tcp_data_buffer,
    ("autobahn.websocket.protocol", "pformat"): _autobahn_pformat,
    ("autobahn.websocket.protocol.WebSocketServerFactory", "_batched_timer"): (
        _factory_batched_timer
    ),
    ("autobahn.websocket.protocol.WebSocketProtocol", "_perMessageCompress"): (
        _per_message_compress
    ),
    ("autobahn.websocket.compress_deflate.PerMessageDeflate", "server_no_context_takeover"): (
        _deflate_server_no_context_takeover
    ),
    ("autobahn.websocket.compress_deflate.PerMessageDeflate", "server_max_window_bits"): (
        _deflate_server_max_window_bits
    ),
    ("autobahn.websocket.compress_deflate.PerMessageDeflate", "mem_level"): _deflate_mem_level,
    ("autobahn.websocket.protocol.WebSocketProtocol", "send_queue"): _send_queue,
    ("autobahn.websocket.protocol.WebSocketProtocol", "logOctets"): _protocol_log_octets,
    ("autobahn.websocket.protocol.WebSocketServerFactory", "logOctets"): _factory_log_octets,
    ("autobahn.websocket.protocol.WebSocketProtocol", "trafficStats"): _traffic_stats,
    ("autobahn.websocket.protocol.TrafficStats", "outgoingOctetsWireLevel"): _outgoing_octets,
    ("autobahn.websocket.protocol.TrafficStats", "preopenOutgoingOctetsWireLevel"): (
        _preopen_outgoing_octets
    ),
    ("autobahn.websocket.protocol.WebSocketProtocol", "_fail_connection"): _fail_connection,
    ("autobahn.websocket.protocol.WebSocketProtocol", "autoPingTimeoutCall"): (
        _auto_ping_timeout_call
    ),
    **{
        ("autobahn.websocket.protocol.WebSocketServerProtocol", name): _handshake_attribute(name)
        for name in ("http_request_data", "http_response_data", "http_headers")
    },
    ("autobahn.websocket.protocol.WebSocketServerProtocol", "http_request_params"): (
        _handshake_attribute("http_request_params")
    ),
    ("twisted.web.http.HTTPChannel", "_respondToBadRequestAndDisconnect"): _bad_request_hook,
}


@pytest.mark.parametrize(
    "where, name", internals.private_names(), ids=[".".join(n) for n in internals.private_names()]
)
def test_private_name_still_exists_and_means_the_same(pair: Pair, where: str, name: str) -> None:
    """Each private name internals.py relies on is still there, and still does its job."""
    assert (where, name) in CHECKS, f"no check for {where}.{name}: add one to CHECKS"
    CHECKS[(where, name)](pair)


def test_every_check_is_for_a_name_internals_lists() -> None:
    """No check is left for a name internals.py no longer uses."""
    assert set(CHECKS) == set(internals.private_names())


def test_the_names_listed_are_the_names_used() -> None:
    """Every underscore attribute that internals.py's code reads or writes is listed."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(internals))
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    used |= {
        node.args[1].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "getattr"
        and isinstance(node.args[1], ast.Constant)
    }
    private = {name for name in used if name.startswith("_") and not name.startswith("__")}
    listed = {name for _, name in internals.private_names()}
    assert private - {"_LazyFormat", "_ReactorTimer", "_PRIVATE_NAMES"} <= listed


# --- write_now --------------------------------------------------------------------------------


def test_with_nothing_buffered_the_bytes_are_sent_at_once(pair: Pair) -> None:
    """On a plain TCP connection with nothing queued, the bytes reach the peer with no
    reactor turn: nothing is buffered in Twisted and no write is registered."""
    internals.write_now(pair.transport, b"hello\r\n")
    assert pair.received(7) == b"hello\r\n"
    assert pair.transport._tempDataLen == 0
    assert pair.reactor.writers == set()


def test_with_output_already_buffered_new_bytes_queue_behind_it(pair: Pair) -> None:
    """Bytes Twisted holds go first: the new ones are buffered after them, never sent ahead."""
    pair.transport.write(b"first ")
    internals.write_now(pair.transport, b"second")
    assert pair.transport._tempDataBuffer == [b"first ", b"second"]
    assert pair.nothing_received()


def test_what_the_kernel_does_not_take_is_buffered_by_twisted(pair: Pair) -> None:
    """A full socket buffer leaves the rest to Twisted, in order, with nothing lost."""
    internals.write_now(pair.transport, BIG)
    buffered = b"".join(pair.transport._tempDataBuffer)
    assert 0 < len(buffered) < len(BIG)
    assert pair.received(len(BIG) - len(buffered)) + buffered == BIG


def test_other_transports_get_an_ordinary_write() -> None:
    """A transport that is not a plain TCP connection is written the usual way."""
    transport = StringTransport()
    internals.write_now(transport, b"line\r\n")
    assert transport.value() == b"line\r\n"


def test_a_tls_connection_gets_an_ordinary_write(pair: Pair) -> None:
    """With TLS started, bytes go through Twisted (and its TLS layer), never to the socket."""
    written: list[bytes] = []

    class TLSLayer:  # what startTLS puts between the transport and its protocol
        def write(self, data: bytes) -> None:
            written.append(data)

    pair.transport.TLS = True
    pair.transport.protocol = TLSLayer()
    internals.write_now(pair.transport, b"secret")
    assert written == [b"secret"]
    assert pair.nothing_received()


def test_nothing_is_sent_after_an_abort(pair: Pair) -> None:
    """An aborted connection's output is dropped, as Twisted drops it: nothing reaches the peer."""
    pair.transport.abortConnection()
    internals.write_now(pair.transport, b"after the abort")
    assert pair.nothing_received()


def test_nothing_is_sent_ahead_of_a_graceful_close(pair: Pair) -> None:
    """After loseConnection, bytes go to Twisted's write, which drops them as it does."""
    pair.transport.loseConnection()
    internals.write_now(pair.transport, b"after the close")
    assert pair.nothing_received()


# --- quiet_autobahn_debug_formatting ----------------------------------------------------------


def test_the_lazy_format_formats_only_when_asked() -> None:
    """Making the stand-in costs no formatting; str() and format() give pprint's text."""
    formatted: list[object] = []

    class Watched:
        def __repr__(self) -> str:
            formatted.append(self)
            return "Watched()"

    options = [("openHandshakeTimeout", 10.0, "WebSocketFactory"), Watched()] * 3
    lazy = internals._LazyFormat(options)
    assert formatted == []
    assert f"{lazy}" == str(lazy) == f"{lazy:}" == pformat(options)
    assert formatted != []


def test_the_patch_makes_autobahns_pformat_lazy(autobahn_pformat: None) -> None:
    """Applied, Autobahn's module `pformat` gives the lazy stand-in with pprint's text."""
    internals.quiet_autobahn_debug_formatting()
    options = [("openHandshakeTimeout", 10.0, "WebSocketFactory")] * 3
    lazy = autobahn_protocol.pformat(options)
    assert isinstance(lazy, internals._LazyFormat)
    assert f"{lazy}" == str(lazy) == pformat(options)


def test_the_patch_is_idempotent(autobahn_pformat: None) -> None:
    """Applying it twice leaves the same stand-in, not a stand-in wrapping a stand-in."""
    internals.quiet_autobahn_debug_formatting()
    internals.quiet_autobahn_debug_formatting()
    assert autobahn_protocol.pformat is internals._LazyFormat
    assert str(autobahn_protocol.pformat([1, 2])) == "[1, 2]"


def test_the_patch_leaves_a_pformat_it_does_not_know_alone(
    autobahn_pformat: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If Autobahn's `pformat` is no longer pprint's, it is not replaced."""

    def other(value: object) -> str:
        return "other"

    monkeypatch.setattr(autobahn_protocol, "pformat", other)
    internals.quiet_autobahn_debug_formatting()
    assert autobahn_protocol.pformat is other


def test_connections_still_open_with_the_patch_applied(autobahn_pformat: None) -> None:
    """A handshake through Autobahn with the stand-in in place completes."""
    internals.quiet_autobahn_debug_formatting()
    protocol, _clock = autobahn_connection()
    assert protocol.state == protocol.STATE_OPEN


def test_importing_chathub_does_not_apply_the_patch() -> None:
    """Importing the WebSocket adapter, the service and the CLI leaves Autobahn as it is."""
    code = (
        "import pprint, chathub.websocket, chathub.service, chathub.cli, chathub.internals\n"
        "from autobahn.websocket import protocol\n"
        "assert protocol.pformat is pprint.pformat, protocol.pformat\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- use_reactor_timer ------------------------------------------------------------------------


def test_timers_run_on_the_injected_reactor() -> None:
    """The opening handshake timeout is scheduled on the given clock and fires with it."""
    protocol, clock = autobahn_connection(handshake=False)
    assert len(clock.getDelayedCalls()) == 1
    clock.advance(4.9)
    assert protocol.state == protocol.STATE_CONNECTING
    clock.advance(0.1)
    assert protocol.state == protocol.STATE_CLOSED
    assert protocol.transport.disconnecting


# --- deflate_key ------------------------------------------------------------------------------


def test_without_compression_the_key_is_none() -> None:
    """No extension negotiated: frames are shared as they are."""
    protocol, _clock = autobahn_connection()
    assert internals.deflate_key(protocol) is None


def test_deflate_without_context_takeover_keys_on_window_and_memory() -> None:
    """permessage-deflate, no server context takeover: (window bits, memory level)."""
    protocol, _clock = autobahn_connection(_no_context_takeover, "permessage-deflate")
    assert internals.deflate_key(protocol) == (10, 5)


def test_deflate_with_context_takeover_is_per_connection() -> None:
    """With context takeover each connection's output is its own: no key, an exception."""
    protocol, _clock = autobahn_connection(_context_takeover, "permessage-deflate")
    with pytest.raises(internals.PerConnectionCompression):
        internals.deflate_key(protocol)


# --- direct_write_allowed, count_sent ---------------------------------------------------------


def test_direct_writes_are_allowed_on_a_plain_open_connection() -> None:
    """Nothing queued in Autobahn and no octet logging: bytes may go straight out."""
    protocol, _clock = autobahn_connection()
    assert internals.direct_write_allowed(protocol)


def test_no_direct_write_while_autobahn_has_queued_writes() -> None:
    """A chopped or synced write waiting in Autobahn's queue must go first."""
    protocol, _clock = autobahn_connection()
    protocol.send_queue.append((b"waiting", True))
    assert not internals.direct_write_allowed(protocol)


@pytest.mark.parametrize("where", ["protocol", "factory"])
def test_no_direct_write_when_octets_are_logged(where: str) -> None:
    """Autobahn logs every octet when asked: then its own sendData does the writing."""
    protocol, _clock = autobahn_connection()
    target: Any = protocol if where == "protocol" else protocol.factory
    target.logOctets = True
    assert not internals.direct_write_allowed(protocol)


def test_bytes_sent_when_open_count_as_wire_level_output() -> None:
    """Open: `outgoingOctetsWireLevel`, as Autobahn's sendData counts."""
    protocol, _clock = autobahn_connection()
    stats = protocol.trafficStats
    before = (stats.outgoingOctetsWireLevel, stats.preopenOutgoingOctetsWireLevel)
    internals.count_sent(protocol, 7)
    after = (stats.outgoingOctetsWireLevel, stats.preopenOutgoingOctetsWireLevel)
    assert after == (before[0] + 7, before[1])


def test_bytes_sent_while_connecting_count_as_preopen_output() -> None:
    """Connecting: `preopenOutgoingOctetsWireLevel`."""
    protocol, _clock = autobahn_connection(handshake=False)
    internals.count_sent(protocol, 7)
    stats = protocol.trafficStats
    assert (stats.outgoingOctetsWireLevel, stats.preopenOutgoingOctetsWireLevel) == (0, 7)


def test_bytes_sent_while_closing_are_not_counted() -> None:
    """Closing or closed: not counted, as Autobahn's sendData does not count them."""
    protocol, _clock = autobahn_connection()
    protocol.state = protocol.STATE_CLOSING
    stats = protocol.trafficStats
    before = (stats.outgoingOctetsWireLevel, stats.preopenOutgoingOctetsWireLevel)
    internals.count_sent(protocol, 7)
    assert (stats.outgoingOctetsWireLevel, stats.preopenOutgoingOctetsWireLevel) == before


def test_a_lazy_send_queue_works_where_autobahn_queues_writes():
    """After forget_handshake, a synced write still queues and goes out in order."""
    protocol, clock = autobahn_connection()
    internals.forget_handshake(protocol)
    assert isinstance(protocol.send_queue, internals.LazyQueue) and not protocol.send_queue
    before = protocol.transport.value()
    protocol.sendData(b"a", sync=True)
    protocol.sendData(b"b")
    clock.advance(1)
    assert protocol.transport.value()[len(before) :] == b"ab"
