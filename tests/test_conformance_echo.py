"""The conformance echo endpoint is chathub's /ws stack, set up as /ws is, echoing messages."""

from twisted.internet.testing import MemoryReactorClock, StringTransport

from chathub.config import WebSocketSettings
from chathub.hub import Hub
from chathub.websocket import WebSocketFactory
from tests.conformance_echo import EchoConnection, make_echo_site

# Every option `configure_factory` sets, as Autobahn stores it on the factory.
OPTIONS = (
    "versions",
    "webStatus",
    "utf8validateIncoming",
    "maxMessagePayloadSize",
    "maxFramePayloadSize",
    "autoFragmentSize",
    "failByDrop",
    "echoCloseCodeReason",
    "openHandshakeTimeout",
    "closeHandshakeTimeout",
    "tcpNoDelay",
    "autoPingInterval",
    "autoPingTimeout",
    "autoPingSize",
    "autoPingRestartOnAnyTraffic",
    "allowedOrigins",
    "allowNullOrigin",
    "trustXForwardedFor",
    "server",
    "allowed_origins",
)
HANDSHAKE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def echo_factory(settings: WebSocketSettings) -> WebSocketFactory:
    site = make_echo_site(MemoryReactorClock(), settings)
    return site.resource.children[b"ws"]._factory


def masked(payload: bytes, opcode: int) -> bytes:
    """A short masked client frame (mask 0: the payload is sent as is)."""
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


def test_echo_endpoint_has_the_options_of_ws() -> None:
    """Every option /ws's factory gets, the echo endpoint's factory gets too."""
    settings = WebSocketSettings(ws_max_message=1 << 24, allow_origin=("https://a.example",))
    echo = echo_factory(settings)
    real = WebSocketFactory(Hub(), MemoryReactorClock(), settings)
    for name in OPTIONS:
        assert getattr(echo, name) == getattr(real, name), name
    assert echo.perMessageCompressionAccept.__qualname__ == (
        real.perMessageCompressionAccept.__qualname__
    )


def test_echo_endpoint_uses_chathubs_connection_class() -> None:
    """Its connections are WebSocketConnections, so the testsuite exercises chathub's own."""
    factory = echo_factory(WebSocketSettings())
    assert issubclass(factory.protocol, EchoConnection)


def test_echo_endpoint_sends_back_text_and_binary_and_nothing_else() -> None:
    """After the handshake, a text message comes back as text and a binary one as binary, with
    no welcome or join event before them."""
    factory = echo_factory(WebSocketSettings())
    transport = StringTransport()
    connection = factory.buildProtocol(transport.getPeer())
    connection.makeConnection(transport)
    connection.dataReceived(HANDSHAKE)
    head, _, rest = transport.value().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    assert rest == b""
    transport.clear()
    connection.dataReceived(masked(b"hello", 0x1) + masked(b"\x00\xff", 0x2))
    assert transport.value() == b"\x81\x05hello\x82\x02\x00\xff"
