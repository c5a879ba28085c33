"""Where Redis is: `--redis URL` read into an address. Pure: no I/O, no Redis client.

Rules:
- `redis://[[user]:password@]host[:port][/db]` (port 6379, db 0), `rediss://...` the same over
  TLS, `unix://[[user]:password@]/path/to/socket[?db=N]`. User and password are URL-decoded.
- Anything else is a `ValueError` saying what is wrong, in a few words (the configuration
  adds which key and which source gave it).
- `shown` is the URL with the password masked, for logs and errors.
"""

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_PORT = 6379

Scheme = Literal["redis", "rediss", "unix"]


@dataclass(frozen=True)
class RedisAddress:
    scheme: Scheme
    host: str = ""
    port: int = DEFAULT_PORT
    path: str = ""  # the socket, for unix://
    db: int = 0
    username: str | None = None
    password: str | None = None

    @property
    def tls(self) -> bool:
        return self.scheme == "rediss"

    @property
    def shown(self) -> str:
        """The URL to show: the password masked."""
        auth = ""
        if self.password is not None:
            auth = f"{self.username or ''}:***@"
        elif self.username:
            auth = f"{self.username}@"
        if self.scheme == "unix":
            query = f"?db={self.db}" if self.db else ""
            return f"unix://{auth}{self.path}{query}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{auth}{host}:{self.port}/{self.db}"


def parse_redis_url(text: str) -> RedisAddress:
    """The address `text` names, or `ValueError` saying why it names none."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as problem:
        raise ValueError(f"not a Redis URL: {problem}") from None
    scheme = parts.scheme.lower()
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if scheme == "unix":
        if parts.hostname or not parts.path.startswith("/"):
            raise ValueError("unix:// needs an absolute socket path: unix:///path/to/redis.sock")
        db_values = parse_qs(parts.query).get("db", ["0"])
        return RedisAddress(
            "unix", path=unquote(parts.path), db=_db(db_values[-1]),
            username=username, password=password,
        )  # fmt: skip
    if scheme not in ("redis", "rediss"):
        raise ValueError("the URL must start with redis://, rediss:// or unix://")
    if not parts.hostname:
        raise ValueError("the URL names no host: redis://host:port/db")
    path = parts.path.strip("/")
    return RedisAddress(
        "rediss" if scheme == "rediss" else "redis",
        host=parts.hostname,
        port=port if port is not None else DEFAULT_PORT,
        db=_db(path or "0"),
        username=username,
        password=password,
    )


def _db(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 100_000:
        raise ValueError(f"the database must be a number, not {text[:20]!r}")
    return int(text)
