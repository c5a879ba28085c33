"""The WebSocket options: every Autobahn option of every factory, chosen in one place, and the
origin check.

Rules:
- Autobahn's defaults are open (any origin, unlimited message size, no keepalive):
  `configure_factory` sets each option on purpose, and every WebSocket factory of chathub, the
  tests' included, goes through it.
- permessage-deflate is accepted only without server context takeover and with small windows
  (about 23 KiB of zlib state a connection instead of about 98 KiB), so every message is
  compressed on its own and frames can be shared (`wsframes.py`).
- The origin policy is `origins.py`'s; a refused origin gets HTTP 403 before the handshake
  completes.
"""

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet.interfaces import IDelayedCall, ISSLTransport

from chathub import internals
from chathub.config import WebSocketSettings
from chathub.origins import origin_allowed


class Clock(Protocol):
    """What this module needs of a reactor: the time, and timers."""

    def seconds(self) -> float: ...

    def callLater(
        self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any
    ) -> IDelayedCall: ...


def configure_factory(factory: WebSocketServerFactory, settings: WebSocketSettings) -> None:
    """Set every Autobahn option of a WebSocket server factory, on purpose.

    Every WebSocket factory of chathub goes through here, tests' included.
    """

    def accept_deflate(offers: Sequence[object]) -> PerMessageDeflateOfferAccept | None:
        # Accept permessage-deflate with small windows and no context takeover: the defaults
        # keep ~100 KB of zlib state per connection for the life of the connection.
        for offer in offers:
            if isinstance(offer, PerMessageDeflateOffer):
                return PerMessageDeflateOfferAccept(
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

    factory.setProtocolOptions(
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
    internals.use_reactor_timer(factory, factory.reactor)


def _smaller_window(bits: int, offer: PerMessageDeflateOffer) -> int:
    # The server may always compress with a smaller window than the client allows.
    offered = int(offer.request_max_window_bits)
    return min(bits, offered) if offered else bits


def check_origin(protocol: WebSocketServerProtocol, request: ConnectionRequest) -> None:
    """Refuse the opening handshake with 403 unless the origin policy allows `request`."""
    secure = ISSLTransport.providedBy(protocol.transport)
    host = request.headers.get("host", "")
    allowed: Sequence[str] = getattr(protocol.factory, "allowed_origins", ())
    if not origin_allowed(request.origin, host, secure, allowed):
        raise ConnectionDeny(403, "origin not allowed")
