"""The WebSocket origin policy, as pure functions (no I/O): which pages may open `/ws`.

Rules:
- No `Origin` header (a script, not a browser) is allowed.
- The page's own origin is allowed: the scheme of the connection (https when it is TLS) and the
  host and port of the request's `Host` header; a missing port is the scheme's default.
- `--allow-origin` entries widen it: `scheme://host[:port]`, `null` (sandboxed frames and
  `file:` pages, whose origin is opaque), or `*` for every origin.
- Anything else, a malformed `Origin` included, is refused (the adapter answers HTTP 403).
"""

from collections.abc import Sequence
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

Origin = tuple[str, str, int | None]


def parse_origin(text: str) -> Origin | None:
    """`scheme://host[:port]` as (scheme, host, port), the port filled in; None if malformed."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not scheme or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS.get(scheme)


def origin_allowed(origin: str, host: str, secure: bool, allowed: Sequence[str]) -> bool:
    """Whether a handshake with this `Origin` header, made to `host`, may go on."""
    if not origin or "*" in allowed:
        return True
    if origin.strip().lower() == "null":  # sandboxed frames and file: pages: opaque
        return "null" in allowed
    wanted = parse_origin(origin)
    if wanted is None:
        return False
    page = parse_origin(("https://" if secure else "http://") + host)
    if wanted == page:
        return True
    return any(parse_origin(entry) == wanted for entry in allowed if entry != "null")
