"""The conformance echo endpoint is set up exactly as `/ws` is, and echoes what it gets."""

from twisted.internet.testing import MemoryReactorClock

from chathub.hub import Hub
from chathub.websocket import WebSocketFactory, WebSocketSettings
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


def echo_factory(settings: WebSocketSettings) -> object:
    site = make_echo_site(MemoryReactorClock(), settings)
    return site.resource.children[b"ws"]._factory


def test_echo_endpoint_has_the_options_of_ws() -> None:
    """Every option /ws's factory gets, the echo endpoint's factory gets too."""
    settings = WebSocketSettings(max_message=1 << 24, allowed_origins=("https://a.example",))
    echo = echo_factory(settings)
    real = WebSocketFactory(Hub(), MemoryReactorClock(), settings)
    for name in OPTIONS:
        assert getattr(echo, name) == getattr(real, name), name
    assert echo.perMessageCompressionAccept.__qualname__ == (
        real.perMessageCompressionAccept.__qualname__
    )


def test_echo_endpoint_sends_back_text_and_binary() -> None:
    """A text message comes back as text and a binary one as binary."""
    connection = EchoConnection()
    sent: list[tuple[bytes, bool]] = []
    connection.sendMessage = lambda payload, isBinary=False: sent.append((payload, isBinary))
    connection.onMessage(b"hello", False)
    connection.onMessage(b"\x00\xff", True)
    assert sent == [(b"hello", False), (b"\x00\xff", True)]
