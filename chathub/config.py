"""Every setting of chathub, declared once: its type, default, check and help.

Rules:
- A setting is a field of one frozen section dataclass below, declared with `setting(...)`
  (`setting.py`): the annotation is its type and the field's name is its key everywhere: the
  flag (`max_rate` is `--max-rate`), the environment variable (`CHATHUB_MAX_RATE`) and the
  TOML key (`max_rate = 10`). Keys are unique across sections.
- A setting's type is one that `options.py` reads from text and TOML: `int`, `float`, `str`,
  `str | None` (an empty value leaves it unset) or `tuple[str, ...]` (a repeatable flag, a
  comma-separated environment variable, a TOML array).
- Each part of the program receives its own small section (the hub `HubSettings`, every stream
  adapter `FlowLimits`, the store `StoreSettings`...), never the whole configuration and never an
  argparse namespace.
- A check takes the value already converted to the setting's type and returns it (possibly
  normalized) or raises `ValueError` with a short reason; whoever reads a source adds which key
  and which source it was.
- Fields declared without `setting` are fixed by the code; only tests change them.
- Pure: no I/O here. Reading the flags, the environment and a TOML file is `options.py`.
"""

from dataclasses import Field, dataclass, fields, is_dataclass
from typing import Any

from chathub.checks import hosts, natural, not_empty, origins, positive, redis_url, window
from chathub.setting import setting, settings_of
from chathub.tokens import Token

# --- the sections -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ListenSettings:
    """Where the service listens, where it says so, and how it stops."""

    telnet: str = setting(
        "tcp:1025",
        "where the line chat listens: a Twisted endpoint string such as tcp:1025, "
        "tcp:0:interface=127.0.0.1, ssl:1025:privateKey=key.pem:certKey=cert.pem (TLS; certKey "
        "defaults to privateKey, so one PEM file may hold both) or unix:/path",
        check=not_empty,
        metavar="ENDPOINT",
    )
    web: str = setting(
        "tcp:8080",
        "where the web server (page, /ws, /counter, API) listens: a Twisted endpoint string; "
        "ssl:8443:privateKey=key.pem:certKey=cert.pem serves https and wss",
        check=not_empty,
        metavar="ENDPOINT",
    )
    admin: str = setting(
        "tcp:9180:interface=127.0.0.1",
        "where /metrics, /livez and /readyz are served (loopback only by default), or none",
        check=not_empty,
        metavar="ENDPOINT",
    )
    ports_file: str | None = setting(
        None,
        'write the bound ports as JSON {"telnet": N, "web": N, "admin": N} once all listeners '
        "are up",
        metavar="PATH",
    )
    drain_seconds: float = setting(
        5.0,
        "on SIGTERM or SIGINT, how long clients are given to go and history to be written "
        "before the process exits (exit 1 if history could not be written)",
        check=natural,
        metavar="SECONDS",
    )
    listen_backlog: int = setting(
        4096,
        "connections the kernel may hold for each tcp:, ssl: or unix: listener until the "
        "server accepts them (the kernel caps it at net.core.somaxconn); an endpoint string's "
        "own backlog= wins",
        check=positive,
        metavar="N",
    )


@dataclass(frozen=True)
class HubSettings:
    """The rules the hub applies to every client, whatever its transport."""

    motd: str = setting("Welcome to chathub.", "message of the day, shown on connect")
    replay: int = setting(
        50, "messages replayed to a client when it joins a room", check=natural, metavar="N"
    )
    max_connections: int = setting(
        10_000,
        "connections in total (telnet, WebSocket and HTTP); past it a new one is refused",
        check=natural,
        metavar="N",
        group="limits",
    )
    max_per_ip: int = setting(
        50,
        "connections (telnet, WebSocket and HTTP) from one IP address (an IPv6 /64 is one)",
        check=natural,
        metavar="N",
        group="limits",
    )
    nick_changes_per_minute: int = setting(
        5,
        "nick changes one connection may make in any minute",
        check=natural,
        metavar="N",
        group="limits",
    )
    joins_per_minute: int = setting(
        30,
        "room joins one connection may make in any minute",
        check=natural,
        metavar="N",
        group="limits",
    )
    max_rooms: int = setting(
        20,
        "rooms one connection may be in at once",
        check=natural,
        metavar="N",
        group="limits",
    )
    max_rooms_total: int = setting(
        10_000,
        "rooms with members in the whole server; joining a room that would be one more is "
        "refused. Rooms without members leave memory (not the disk)",
        check=positive,
        metavar="N",
        group="limits",
    )
    room_list_max: int = setting(
        200,
        "rooms one room list shows (the busiest; the page, /rooms/, /api/rooms and the "
        "rooms command), with the total beside it",
        check=positive,
        metavar="N",
    )
    fan_out_window: float = setting(
        0.0,
        "under load, deliver a room's new events at most once in this many seconds, those "
        "that came meanwhile together (one write per member): less CPU per message for at "
        "most this much more latency; an event of a room quiet for that long goes out at "
        "once. 0 delivers each as it comes",
        check=window,
        metavar="SECONDS",
    )
    # Fixed by the code.
    history_default: int = 20  # /history without N
    history_max: int = 500  # the most one history request returns
    text_max: int = 4000  # characters in one message
    lines_max: int = 100  # lines in one message


@dataclass(frozen=True)
class FlowLimits:
    """The per-connection limits every stream adapter applies (`stream.py`, `flow.py`)."""

    max_rate: float = setting(
        10.0,
        "messages one connection may send a second, after its burst; faster input is slowed "
        "down (the connection is not read until it may send again)",
        check=natural,
        metavar="N",
        group="limits",
    )
    burst: int = setting(
        20,
        "messages a connection may send at once before --max-rate applies",
        check=positive,
        metavar="N",
        group="limits",
    )
    max_backlog: int = setting(
        256 * 1024,
        "output held for a client that is not reading; past it, room messages are skipped "
        "for that client (it is told how to catch up); cannot be turned off",
        check=positive,
        metavar="BYTES",
        group="limits",
    )
    slow_timeout: float = setting(
        60.0,
        "a client that reads nothing for this long while output waits is disconnected (0: never)",
        check=natural,
        metavar="SECONDS",
        group="limits",
    )
    # A day, not an hour: a terminal user may read a room for hours without typing. Dead peers
    # are found sooner by other means (TCP keepalive on telnet, ping/pong on /ws).
    idle_timeout: float = setting(
        86_400.0,
        "a connection that sends nothing for this long is closed, with a notice (0: never)",
        check=natural,
        metavar="SECONDS",
        group="limits",
    )

    @property
    def needs_clock(self) -> bool:
        return self.max_rate > 0 or self.slow_timeout > 0 or self.idle_timeout > 0


@dataclass(frozen=True)
class LineSettings:
    """The telnet / nc transport."""

    max_line: int = setting(
        2048,
        "longest telnet input line in bytes; longer lines are discarded with an error",
        check=positive,
        metavar="BYTES",
    )
    paste_window: float = setting(
        0.05,
        "plain telnet lines that arrive within this many seconds of each other are one message "
        "of several lines (a paste); 0 sends every line as a message of its own",
        check=natural,
        metavar="SECONDS",
    )


@dataclass(frozen=True)
class WebSocketSettings:
    """The `/ws` transport (Autobahn's options are chosen from these in one place)."""

    ws_max_message: int = setting(
        64 * 1024,
        "largest WebSocket message (and frame) accepted; a larger one closes the connection "
        "with code 1009",
        check=positive,
        metavar="BYTES",
    )
    allow_origin: tuple[str, ...] = setting(
        (),
        "a browser origin (scheme://host[:port], `null`, or `*` for any) also allowed to open "
        "/ws, besides pages served by chathub itself and clients that send no Origin; "
        "repeatable",
        check=origins,
        metavar="ORIGIN",
    )
    # Fixed by the code.
    max_frames: int = 1000  # frames in one message; the next one closes with 1009
    message_timeout: float = 10.0  # seconds from a message's first frame to its last; then 1008
    ping_interval: float = 30.0  # seconds between keepalive pings
    ping_timeout: float = 15.0  # seconds for a pong (or any frame) before dropping the peer
    open_timeout: float = 10.0  # seconds for the opening handshake
    close_timeout: float = 5.0  # seconds for the closing handshake
    # permessage-deflate: 512-byte windows and zlib memLevel 4 keep ~23 KiB of zlib state per
    # connection instead of ~98 KiB with zlib's defaults (measured, compressor + decompressor).
    deflate_window_bits: int = 9
    deflate_mem_level: int = 4


@dataclass(frozen=True)
class HttpSettings:
    """The web port's HTTP channel (`httpchannel.py`): every request's limits."""

    request_timeout: float = setting(
        10.0,
        "seconds a request has to deliver its headers and its body, from when the server is "
        "ready to read it; past it: 408 and the connection closes (an idle connection closes "
        "silently); cannot be turned off",
        check=positive,
        metavar="SECONDS",
        group="limits",
    )
    max_header_bytes: int = setting(
        16 * 1024,
        "a request's line and headers together, in bytes; past it: 414 (the request line) or "
        "431; cannot be turned off",
        check=positive,
        metavar="BYTES",
        group="limits",
    )
    max_body_bytes: int = setting(
        1024 * 1024,
        "a request's body, in bytes (held in memory, never written to disk); past it: 413; "
        "cannot be turned off",
        check=positive,
        metavar="BYTES",
        group="limits",
    )
    fd_reserve: int = setting(
        256,
        "file descriptors kept for telnet, files and the server's own work: a new HTTP "
        "connection is refused (503) once the process has its descriptor limit (ulimit -n) "
        "minus N open",
        check=natural,
        metavar="N",
        group="limits",
    )
    allow_host: tuple[str, ...] = setting(
        (),
        "a host name the web port also answers to (chat.example.com, *.example.com for every "
        "name under it, or * for any), besides IP addresses, localhost and this machine's "
        "name; a request for another name gets 421 (against DNS rebinding); repeatable",
        check=hosts,
        metavar="NAME",
    )
    # Fixed by the code.
    max_header_fields: int = 100  # header lines in one request; past it: 431
    retry_after: int = 10  # seconds a 429 or 503 asks the client to wait
    linger: float = 2.0  # seconds an answered refusal keeps reading (and dropping) input


@dataclass(frozen=True)
class StoreSettings:
    """History and counters: where they are kept and for how long."""

    db: str = setting(
        "chathub.db",
        "the history database file, or :memory: to keep history in memory only",
        check=not_empty,
        metavar="PATH",
    )
    retain_messages: int = setting(
        10_000,
        "history kept per room: older messages are deleted (ids are never reused)",
        check=positive,
        metavar="N",
    )
    retain_days: float = setting(
        0.0,
        "delete messages older than this many days (fractions allowed); 0 keeps them until "
        "--retain-messages pushes them out",
        check=natural,
        metavar="DAYS",
    )
    history_memory: int = setting(
        256,
        "megabytes of recent history kept in memory for all rooms together; what does not "
        "fit is read from the database (with :memory:, it is gone)",
        check=positive,
        metavar="MB",
    )


@dataclass(frozen=True)
class BackplaneSettings:
    """Many processes as one hub: the Redis they share, and the workers on this machine."""

    redis: str | None = setting(
        None,
        "join every chathub using this Redis into one hub (rooms, nicks, who, history, ids): "
        "redis://[user:password@]host:port/db, rediss:// for TLS, or unix:///path/redis.sock; "
        "history is kept there instead of --db",
        check=redis_url,
        metavar="URL",
        secret=True,
    )
    workers: int = setting(
        1,
        "processes on this machine sharing the listeners, each on its own core; above 1 "
        "without --redis, chathub runs a private redis-server on a UNIX socket (it must be "
        "installed)",
        check=positive,
        metavar="N",
    )
    # Fixed by the code.
    heartbeat_seconds: float = 2.0  # how often a process says it is alive
    presence_ttl: float = 6.0  # a process silent this long is gone: its users leave


@dataclass(frozen=True)
class Config:
    """The whole configuration: one section per part of the program."""

    listen: ListenSettings = ListenSettings()
    hub: HubSettings = HubSettings()
    flow: FlowLimits = FlowLimits()
    line: LineSettings = LineSettings()
    websocket: WebSocketSettings = WebSocketSettings()
    http: HttpSettings = HttpSettings()
    store: StoreSettings = StoreSettings()
    backplane: BackplaneSettings = BackplaneSettings()
    # From the TOML file only: API tokens (`[[tokens]]`, see tokens.py), and the accounts
    # that are server operators (`operators = ["root"]`, or an `[operators]` table of
    # `root = true`; see `accounts.operator_names`).
    tokens: tuple[Token, ...] = ()
    operators: tuple[str, ...] = ()


def section_names() -> list[str]:
    """The fields of `Config` that are sections of settings (the rest are reserved data)."""
    return [f.name for f in fields(Config) if is_dataclass(f.default)]


def table() -> dict[str, tuple[str, Field[Any]]]:
    """Every setting: key -> (the `Config` field holding its section, its field)."""
    keys: dict[str, tuple[str, Field[Any]]] = {}
    for section in section_names():
        for f in settings_of(type(getattr(Config, section))):
            if f.name in keys:
                raise AssertionError(f"setting {f.name} is declared twice")
            keys[f.name] = (section, f)
    return keys
