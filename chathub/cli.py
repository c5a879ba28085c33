"""The `chathub` command: the shell around the service.

Rules:
- `--workers N` above 1 runs the supervisor (`workers.py`), which starts `chathub worker ...`
  processes: each serves like `chathub` on the sockets it inherits.
- The first argument picks the command: `chathub [FLAGS]` serves, `chathub config [FLAGS]` prints
  the configuration in effect, `chathub bench ...` runs the load generator, imported by name
  only then (it is a package of its own, with `main(argv) -> int`).
- Settings come from `options.load` (flags, environment, file); a configuration that cannot be
  used prints one line on stderr and exits 1.
- This is the only module that touches the global reactor or installs signal handlers.
- A listener that cannot start prints one line on stderr and exits 1, within a moment.
- SIGINT and SIGTERM shut down in order (see `ChathubService.shutdown`) and exit 0, or 1
  when history could not be written (the log says how many messages were not saved).
"""

import gc
import importlib
import os
import sys
from argparse import ArgumentParser
from collections.abc import Mapping, Sequence
from typing import Any

from chathub import internals
from chathub.config import Config
from chathub.options import ConfigError, Loaded, build_parser, load, render
from chathub.service import BindError, ChathubService
from chathub.store import StoreError
from chathub.tokens import DEFAULT_RATE, config_entry, hash_secret, new_secret, parse_tokens

READY_FD = 3  # a worker's pipe to its supervisor (workers.py)

CONFIG_DESCRIPTION = (
    "Print the configuration in effect as TOML, each value followed by where it came from "
    "(default, file, env or flag); secrets are masked."
)


def read_config(
    argv: Sequence[str], environ: Mapping[str, str], parser: ArgumentParser
) -> Loaded | None:
    """The configuration asked for, or None after printing why it cannot be used."""
    try:
        return load(argv, environ, parser)
    except ConfigError as problem:
        print(f"chathub: {problem}", file=sys.stderr, flush=True)
        return None


def show_config(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    """`chathub config`: print the configuration in effect; exit code 1 when it is unusable."""
    loaded = read_config(argv, environ, build_parser("chathub config", CONFIG_DESCRIPTION))
    if loaded is None:
        return 1
    sys.stdout.write(render(loaded))
    return 0


def serve(config: Config, worker: tuple[int, dict[str, int]] | None = None) -> int:
    """Run the hub on the global reactor until a signal stops it; returns the exit code.

    A worker of `--workers N` (`worker`: its index and inherited listeners) pins itself to a
    core, adopts its supervisor's sockets, says `ready` on its pipe and prints nothing."""
    from twisted.internet import defer, reactor
    from twisted.logger import Logger

    from chathub.logs import start_logging

    log = Logger(namespace="chathub.cli")

    start_logging(sys.stderr)
    # Speed patches that reach into Autobahn's privates, applied here and nowhere else.
    internals.quiet_autobahn_debug_formatting()
    exit_code = 0

    async def start() -> None:
        nonlocal exit_code
        try:
            inherited = worker[1] if worker is not None else None
            # Opens the store (may raise StoreError), or reaches Redis (BackplaneError, one).
            service = ChathubService(reactor, config, inherited=inherited)
            ports = await service.listen()
        except (BindError, StoreError) as problem:
            print(f"chathub: {problem}", file=sys.stderr, flush=True)
            exit_code = 1
            reactor.stop()
            return
        service.startService()  # type: ignore[no-untyped-call]  # inherited, unannotated
        # Everything made so far lives as long as the process: out of the collector's way, so
        # that a storm of connections does not rescan it at every collection.
        gc.freeze()

        async def stop() -> None:
            nonlocal exit_code
            if await service.shutdown():  # messages that could not be saved: say so
                exit_code = 1

        reactor.addSystemEventTrigger("before", "shutdown", lambda: defer.ensureDeferred(stop()))
        listening = ", ".join(f"{name} on port {port}" for name, port in ports.items())
        if worker is not None:
            os.write(READY_FD, b"ready\n")
        else:
            print(f"chathub: serving {listening}", file=sys.stderr, flush=True)
        log.info("started, serving {listening}", listening=listening)

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


def make_token(argv: Sequence[str]) -> int:
    """`chathub token NAME`: a new secret, and the configuration entry that accepts it."""
    parser = ArgumentParser(
        prog="chathub token",
        description="Make an API token for scripts that publish over HTTP. The secret is shown "
        "once; the configuration keeps only its hash.",
    )
    parser.add_argument("name", help="what the token is for, e.g. deploy")
    parser.add_argument("--nick", help="the bot's nick (default: NAME-bot)")
    parser.add_argument(
        "--rooms", default="*", help="comma-separated rooms it may publish to, or * (any)"
    )
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="messages a second")
    args = parser.parse_args(argv)
    secret = new_secret()
    table = {
        "name": args.name,
        "nick": args.nick or f"{args.name}-bot",
        "rooms": [room.strip() for room in args.rooms.split(",") if room.strip()],
        "rate": args.rate,
        "hash": hash_secret(secret),
    }
    try:
        (token,) = parse_tokens((table,))
    except ValueError as problem:
        print(f"chathub token: {problem}", file=sys.stderr)
        return 1
    print(f"# The secret (shown this once; give it to the script as a Bearer token):\n{secret}\n")
    print("# Add this to the configuration file (--config), then restart chathub:")
    print(config_entry(token), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else None
    if command == "bench":
        bench: Any = importlib.import_module("chathub.bench")
        sys.exit(bench.main(argv[1:]))
    if command == "config":
        sys.exit(show_config(argv[1:], os.environ))
    if command == "token":
        sys.exit(make_token(argv[1:]))
    if command == "worker":  # started by the supervisor of --workers N
        from chathub.workers import pin_to_core, worker_arguments

        index, fds, argv = worker_arguments(argv[1:])
        pin_to_core(index)
        loaded = read_config(argv, os.environ, build_parser())
        sys.exit(1 if loaded is None else serve(loaded.config, (index, fds)))
    loaded = read_config(argv, os.environ, build_parser())
    if loaded is not None and loaded.config.backplane.workers > 1:
        from chathub.workers import supervise

        sys.exit(supervise(loaded.config, argv))
    sys.exit(1 if loaded is None else serve(loaded.config))
