"""The `chathub` command: parse flags, start the service on the global reactor, exit cleanly.

Rules:
- This is the only module that touches the global reactor or installs signal handlers.
- A listener that cannot start prints one line on stderr and exits 1, within a moment.
- SIGINT and SIGTERM shut down in order (see `ChathubService.shutdown`) and exit 0.
"""

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace

from chathub import __version__
from chathub.config import Config, table
from chathub.origins import parse_origin
from chathub.service import BindError, ChathubService
from chathub.store import StoreError

DEFAULTS = Config()
_LISTEN, _HUB, _FLOW = DEFAULTS.listen, DEFAULTS.hub, DEFAULTS.flow
_STORE = DEFAULTS.store


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not 1 or more")
    return value


def natural_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is not 0 or more")
    return value


def origin(text: str) -> str:
    if text in ("*", "null") or parse_origin(text) is not None:
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not scheme://host[:port], null or *")


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is not a finite number, 0 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chathub",
        description="A chat hub shared by telnet, browser and HTTP clients.",
        epilog="`chathub bench --help` describes the load generator.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--telnet",
        default=_LISTEN.telnet,
        metavar="ENDPOINT",
        help="where the line chat listens: a Twisted endpoint string such as tcp:1025, "
        "tcp:0:interface=127.0.0.1, ssl:1025:privateKey=key.pem:certKey=cert.pem (TLS; certKey "
        "defaults to privateKey, so one PEM file may hold both) or unix:/path",
    )
    parser.add_argument(
        "--web",
        default=_LISTEN.web,
        metavar="ENDPOINT",
        help="where the web server (page, /ws, /counter, API) listens: a Twisted endpoint string; "
        "ssl:8443:privateKey=key.pem:certKey=cert.pem serves https and wss",
    )
    parser.add_argument("--motd", default=_HUB.motd, help="message of the day, shown on connect")
    parser.add_argument(
        "--db",
        default=_STORE.db,
        metavar="PATH",
        help="the history database file, or :memory: to keep history in memory only",
    )
    parser.add_argument(
        "--max-line",
        type=positive_int,
        default=DEFAULTS.line.max_line,
        metavar="BYTES",
        help="longest telnet input line; longer lines are discarded with an error",
    )
    parser.add_argument(
        "--replay",
        type=natural_int,
        default=_HUB.replay,
        metavar="N",
        help="messages replayed to a client when it joins a room",
    )
    parser.add_argument(
        "--retain-messages",
        type=positive_int,
        default=_STORE.retain_messages,
        metavar="N",
        help="history kept per room: older messages are deleted (ids are never reused)",
    )
    parser.add_argument(
        "--retain-days",
        type=non_negative_float,
        default=_STORE.retain_days,
        metavar="DAYS",
        help="delete messages older than this many days (fractions allowed); 0 keeps them "
        "until --retain-messages pushes them out",
    )
    parser.add_argument(
        "--ports-file",
        metavar="PATH",
        help='write the bound ports as JSON {"telnet": N, "web": N} once all listeners are up',
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        type=origin,
        metavar="ORIGIN",
        help="a browser origin (scheme://host[:port], `null`, or `*` for any) also allowed to "
        "open /ws, besides pages served by chathub itself and clients that send no Origin; "
        "repeatable",
    )
    parser.add_argument(
        "--ws-max-message",
        type=positive_int,
        default=DEFAULTS.websocket.ws_max_message,
        metavar="BYTES",
        help="largest WebSocket message (and frame) accepted; a larger one closes the "
        "connection with code 1009",
    )
    add_limit_arguments(parser)
    parser.add_argument("--version", action="version", version=f"chathub {__version__}")
    return parser


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of the limits (README, "Limits"); 0 turns each off unless it says otherwise."""
    limits = parser.add_argument_group("limits", "0 turns a limit off, unless said otherwise")
    limits.add_argument(
        "--max-connections",
        type=natural_int,
        default=_HUB.max_connections,
        metavar="N",
        help="chat connections (telnet and WebSocket) in total; past it a new one is refused",
    )
    limits.add_argument(
        "--max-per-ip",
        type=natural_int,
        default=_HUB.max_per_ip,
        metavar="N",
        help="chat connections from one IP address",
    )
    limits.add_argument(
        "--max-rate",
        type=non_negative_float,
        default=_FLOW.max_rate,
        metavar="N",
        help="messages one connection may send a second, after its burst; faster input is "
        "slowed down (the connection is not read until it may send again)",
    )
    limits.add_argument(
        "--burst",
        type=positive_int,
        default=_FLOW.burst,
        metavar="N",
        help="messages a connection may send at once before --max-rate applies",
    )
    limits.add_argument(
        "--max-backlog",
        type=positive_int,
        default=_FLOW.max_backlog,
        metavar="BYTES",
        help="output held for a client that is not reading; past it, room messages are "
        "skipped for that client (it is told how to catch up); cannot be turned off",
    )
    limits.add_argument(
        "--slow-timeout",
        type=non_negative_float,
        default=_FLOW.slow_timeout,
        metavar="SECONDS",
        help="a client that reads nothing for this long while output waits is disconnected",
    )
    limits.add_argument(
        "--idle-timeout",
        type=non_negative_float,
        default=_FLOW.idle_timeout,
        metavar="SECONDS",
        help="a connection that sends nothing for this long is closed, with a notice",
    )
    limits.add_argument(
        "--nick-changes-per-minute",
        type=natural_int,
        default=_HUB.nick_changes_per_minute,
        metavar="N",
        help="nick changes one connection may make in any minute",
    )
    limits.add_argument(
        "--joins-per-minute",
        type=natural_int,
        default=_HUB.joins_per_minute,
        metavar="N",
        help="room joins one connection may make in any minute",
    )
    limits.add_argument(
        "--max-rooms",
        type=natural_int,
        default=_HUB.max_rooms,
        metavar="N",
        help="rooms one connection may be in at once",
    )


def config_from_args(args: argparse.Namespace) -> Config:
    """The configuration the flags ask for (every flag's dest is its setting's key)."""
    sections: dict[str, dict[str, object]] = {}
    for key, (section, _) in table().items():
        value = getattr(args, key)
        sections.setdefault(section, {})[key] = tuple(value) if isinstance(value, list) else value
    defaults = Config()
    return Config(
        **{name: replace(getattr(defaults, name), **values) for name, values in sections.items()}
    )  # type: ignore[arg-type]


def serve(config: Config) -> int:
    """Run the hub on the global reactor until a signal stops it; returns the exit code."""
    from twisted.internet import defer, reactor
    from twisted.logger import globalLogBeginner, textFileLogObserver

    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)], redirectStandardIO=False)
    exit_code = 0

    async def start() -> None:
        nonlocal exit_code
        try:
            service = ChathubService(reactor, config)  # opens the store: may raise StoreError
            ports = await service.listen()
        except (BindError, StoreError) as problem:
            print(f"chathub: {problem}", file=sys.stderr, flush=True)
            exit_code = 1
            reactor.stop()
            return
        service.startService()
        reactor.addSystemEventTrigger(
            "before", "shutdown", lambda: defer.ensureDeferred(service.shutdown())
        )
        listening = ", ".join(f"{name} on port {port}" for name, port in ports.items())
        print(f"chathub: serving {listening}", file=sys.stderr, flush=True)

    def begin() -> None:
        defer.ensureDeferred(start()).addErrback(_crash)

    def _crash(failure: object) -> None:
        nonlocal exit_code
        print(f"chathub: could not start: {failure}", file=sys.stderr, flush=True)
        exit_code = 1
        reactor.stop()

    reactor.callWhenRunning(begin)
    reactor.run()
    return exit_code


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        from chathub.bench import main as bench_main

        sys.exit(bench_main(argv[1:]))
    args = build_parser().parse_args(argv)
    sys.exit(serve(config_from_args(args)))
