"""Who an HTTP request is: its log-in session (the `chathub_session` cookie or a Bearer token)
or its API token, for the session API, the admin API and what private rooms it may read.

Rules:
- A credential comes from `Authorization: Bearer TOKEN` (a log-in token from
  `POST /api/session`, or an API token from the configuration), else from the
  `chathub_session` cookie. Tokens are looked up by their hash (`accounts.py`, `tokens.py`).
- A request identified only by its cookie may change nothing for another site: when it sends
  an `Origin` that is not the page's own (`origins.py`), its cookie is not used. Browsers send
  `Origin` on every cross-site POST and DELETE; scripts use Bearer tokens.
- The cookie is HttpOnly (no script reads it), SameSite=Lax, Path=/, Secure when the web port
  is TLS, and lasts as long as the log-in session (`LOGIN_SECONDS`).
- An API token reads the private rooms its `rooms` names (never through `*`); a log-in session
  reads those its account may see (`access.py`).
"""

from twisted.internet.interfaces import ISSLTransport
from twisted.web.server import Request

from chathub.access import ANONYMOUS, Viewer, is_server_operator
from chathub.accounts import LOGIN_SECONDS
from chathub.hub import Hub
from chathub.origins import origin_allowed
from chathub.query import COOKIE, cookie_token
from chathub.records import AccountRecord, LoginRecord
from chathub.tokens import ANY_ROOM, TokenTable


def header(request: Request, name: bytes) -> str | None:
    value = request.getHeader(name)
    return value.decode("latin-1") if isinstance(value, bytes) else value


def secure(request: Request) -> bool:
    return bool(request.isSecure()) or ISSLTransport.providedBy(request.transport)


def bearer(request: Request) -> str | None:
    scheme, _, secret = (header(request, b"authorization") or "").partition(" ")
    return secret.strip() or None if scheme.lower() == "bearer" else None


def same_site(request: Request) -> bool:
    """Whether the request did not come from another site's page (no `Origin`, or ours)."""
    origin = header(request, b"origin")
    return origin_allowed(origin or "", header(request, b"host") or "", secure(request), ())


def credential(request: Request) -> str | None:
    """The token the request presents: Bearer, else the cookie (unless another site sent
    it)."""
    token = bearer(request)
    if token is not None:
        return token
    if not same_site(request):
        return None
    return cookie_token(header(request, b"cookie"))


def login_of(request: Request, hub: Hub) -> tuple[AccountRecord, LoginRecord] | None:
    """The account and log-in session the request presents, if any and still valid."""
    token = credential(request)
    return hub.accounts.login(token, hub.clock()) if token is not None else None


def viewer_of(request: Request, hub: Hub, tokens: TokenTable | None = None) -> Viewer:
    """Who reads through this request (for private rooms)."""
    token = credential(request)
    if token is None:
        return ANONYMOUS
    api = tokens.find(token) if tokens is not None else None
    if api is not None:
        return Viewer(None, tuple(room for room in api.rooms if room != ANY_ROOM))
    found = hub.accounts.login(token, hub.clock())
    return Viewer(found[0].name) if found is not None else ANONYMOUS


def operator_of(request: Request, hub: Hub) -> tuple[int, str, str] | str:
    """The server operator's account name the request is from; else (status, code, message)
    for the refusal: 401 without a valid log-in, 403 for an account that is not one."""
    found = login_of(request, hub)
    if found is None:
        return 401, "unauthorized", "log in as a server operator: POST /api/session"
    if not is_server_operator(hub, found[0].name):
        return 403, "not-op", f"{found[0].name} is not a server operator"
    return found[0].name


def set_cookie(request: Request, token: str) -> None:
    flags = "; Secure" if secure(request) else ""
    value = f"{COOKIE}={token}; Path=/; Max-Age={int(LOGIN_SECONDS)}; HttpOnly; SameSite=Lax"
    request.setHeader(b"set-cookie", (value + flags).encode("ascii"))


def clear_cookie(request: Request) -> None:
    flags = "; Secure" if secure(request) else ""
    value = f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{flags}"
    request.setHeader(b"set-cookie", value.encode("ascii"))
