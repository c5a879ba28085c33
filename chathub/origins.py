"""Which names the web port serves and which pages may open `/ws`, as pure functions (no I/O).

Rules for the `Host` of every HTTP request (the web port answers 421 otherwise):
- Served: any IP address literal (`127.0.0.1:8080`, `[::1]`, the LAN address the server is
  reached at): DNS rebinding needs a name the attacker controls, and an address is no name.
- Served: `localhost` and names under `.localhost` (browsers resolve them to loopback
  themselves), and the names `--allow-host` lists (`chat.example.com`, `*.example.com` for
  every name under it, `*` for any name, which turns the check off).
- Anything else, a malformed `Host` included, is not served: a page on `evil.example` whose
  name was rebound to 127.0.0.1 reaches no resource and no `/ws`. A request without `Host`
  is served only in HTTP/1.0 (HTTP/1.1 requires it; the adapter answers 400).

Rules for `/ws` (the WebSocket origin policy), once the `Host` is one served:
- No `Origin` header (a script, not a browser) is allowed.
- The page's own origin is allowed: the scheme of the connection (https when it is TLS) and the
  host and port of the request's `Host` header; a missing port is the scheme's default.
- `--allow-origin` entries widen it: `scheme://host[:port]`, `null` (sandboxed frames and
  `file:` pages, whose origin is opaque), or `*` for every origin.
- Anything else, a malformed `Origin` included, is refused (the adapter answers HTTP 403).
"""

import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

Origin = tuple[str, str, int | None]

# A DNS name as a `Host` header or `--allow-host` carries it (underscores are seen in the wild).
_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?")
_PORT = re.compile(r"[0-9]{1,5}")


def host_name(header: str) -> str | None:
    """The host named by a `Host` header (`name[:port]`, `address[:port]`, `[v6][:port]`),
    lower-cased, with a trailing dot dropped; None when malformed."""
    text = header.strip().lower()
    if text.startswith("["):
        address, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not (rest[0] == ":" and _PORT.fullmatch(rest[1:]))):
            return None
        return address if _is_address(address) and ":" in address else None
    name, colon, port = text.partition(":")
    if colon and not _PORT.fullmatch(port):
        return None
    if _is_address(name):
        return name
    if len(name) > 253 or not _NAME.fullmatch(name):
        return None
    return name.rstrip(".")


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def host_pattern(entry: str) -> str:
    """An `--allow-host` entry, normalized: `*`, a name, `*.` and a name, or an address;
    raises ValueError for anything else."""
    text = entry.strip().lower()
    if text == "*":
        return text
    name = text[2:] if text.startswith("*.") else text
    if _is_address(name.strip("[]")) and not text.startswith("*."):
        return name.strip("[]")
    if not name or len(name) > 253 or not _NAME.fullmatch(name) or _is_address(name):
        raise ValueError(f"{entry!r} is not a host name, *.name, an address or *")
    return text.rstrip(".")


def host_served(header: str, allowed: Sequence[str]) -> bool:
    """Whether a request whose `Host` header is `header` is for a name this server serves."""
    if "*" in allowed:
        return True
    name = host_name(header)
    if name is None:
        return False
    if _is_address(name) or name == "localhost" or name.endswith(".localhost"):
        return True
    return any(
        name == entry or (entry.startswith("*.") and name.endswith(entry[1:])) for entry in allowed
    )


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
