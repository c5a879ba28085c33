"""`chathub bench`'s command line: its flags, their checks, and one run from connect to report.

Rules:
- It runs in its own process against a running target (`--telnet-port`, `--web-port`,
  `--redis-port`, `--pid`) or one it starts (`--start`, see `target.py`), pinning itself to
  `--bench-cpu`.
- A run opens every connection (`load.py`), then with `--duration 0` stops there (connect rate
  and RSS per connection), or runs one trial (`trial.py`) at `--rate`, or with
  `--find-capacity` searches for the highest passing rate (`capacity.py`). The target it
  started is stopped whatever happens.
- Flags are checked before anything starts; a bad combination is a usage error (exit 2).
- `--storm` is a run of its own (`storm.py`): every client into one room as fast as the bench
  opens them, timed until each has seen its own join, then `--then-say` messages timed to every
  member; no publishers, no trials.
- Progress goes to stderr; stdout gets the one-line summary, or with `--json` one JSON object.
"""

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

from chathub.bench.capacity import find_capacity
from chathub.bench.conn import Endpoint, Plan
from chathub.bench.crowd import DEFAULT_SAY_AFTER, StormPlan
from chathub.bench.load import Load
from chathub.bench.report import Report, Storm, storm_line, summary_line
from chathub.bench.storm import run_storm
from chathub.bench.target import (
    TARGETS,
    Sampler,
    Target,
    raise_fd_limit,
    read_cpu_seconds,
    start_target,
)
from chathub.bench.trial import run_trial


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chathub bench",
        description="Measure fan-out: deliveries/s, latency, loss, connect rate, hub CPU and RSS.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--target", choices=TARGETS, default="chathub", help="what to measure")
    parser.add_argument(
        "--start", action="store_true", help="start the target here (chathub with --db :memory:)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="the target's address")
    parser.add_argument("--telnet-port", type=int, help="a running target's telnet port")
    parser.add_argument("--web-port", type=int, help="a running target's web (WebSocket) port")
    parser.add_argument("--redis-port", type=int, help="a running redis-server's port")
    parser.add_argument("--pid", type=int, help="a running target's process id, for CPU and RSS")
    parser.add_argument("--hub-cpu", help="with --start: run the target under `taskset -c CPU`")
    parser.add_argument("--bench-cpu", help="pin this bench to these CPUs (e.g. 1)")
    parser.add_argument(
        "--hub-arg", action="append", default=[], help="with --start: one more flag for chathub"
    )
    parser.add_argument(
        "--workers", type=int, help="with --start: chathub --workers N (CPU and RSS: all of them)"
    )
    parser.add_argument(
        "--with-redis",
        action="store_true",
        help="with --start: a redis-server started here for chathub's --redis (counted with it)",
    )
    parser.add_argument(
        "--hub-fd-limit", type=int, help="with --start: cap each chathub process's descriptors"
    )
    parser.add_argument("--subscribers", "-n", type=int, default=100, help="subscribers")
    parser.add_argument("--publishers", "-m", type=int, default=1, help="publishers")
    parser.add_argument("--rooms", type=int, default=1, help="rooms (lobby, bench1, ...)")
    parser.add_argument(
        "--transport",
        choices=("telnet", "ws", "sse", "mix"),
        default="telnet",
        help="subscribers' wire: telnet, WebSocket, Server-Sent Events (GET "
        "/api/rooms/ROOM/events), or half telnet and half WebSocket (ignored for redis)",
    )
    parser.add_argument(
        "--publish-over",
        choices=("telnet", "ws", "http"),
        default="telnet",
        help="publishers' wire; http: POST /api/rooms/ROOM/messages on a keep-alive connection "
        "with an API token (--start makes one)",
    )
    parser.add_argument(
        "--token", help="a running chathub's API token secret, for --publish-over http"
    )
    parser.add_argument(
        "--http-batch",
        type=int,
        default=1,
        help="with --publish-over http: send the messages due at once as arrays of up to N "
        "(chathub takes 100) instead of one POST each",
    )
    parser.add_argument("--size", type=int, default=64, help="message size in bytes")
    parser.add_argument(
        "--rate", type=float, help="messages/s from all publishers together (default: max)"
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of publishing")
    parser.add_argument("--sampled", type=int, default=8, help="subscribers read for latency")
    parser.add_argument(
        "--source-ips", type=int, default=1, help="loopback source addresses to spread over"
    )
    parser.add_argument("--find-capacity", action="store_true", help="step the rate up")
    parser.add_argument("--step", type=float, default=1.5, help="rate factor per capacity step")
    parser.add_argument("--p99-limit", type=float, default=100.0, help="capacity's p99 in ms")
    storm = parser.add_argument_group("connection storm")
    storm.add_argument(
        "--storm",
        action="store_true",
        help="open every client into one room as fast as possible and time until each has "
        "seen its own join (no publishers, no trials)",
    )
    storm.add_argument(
        "--storm-window",
        type=int,
        default=1000,
        help="clients connecting or handshaking at once (0: no limit; the hub's backlog is 1024)",
    )
    storm.add_argument(
        "--storm-timeout", type=float, default=120.0, help="seconds for every client to join"
    )
    storm.add_argument(
        "--then-say",
        type=int,
        nargs="?",
        const=1,
        default=0,
        metavar="N",
        help="once all joined, say N messages (default 1) in the room, one at a time, and time "
        "each to every member",
    )
    storm.add_argument(
        "--say-after",
        type=float,
        default=DEFAULT_SAY_AFTER,
        help="seconds of reading between all joined and the first message (the hub's presence "
        "digest comes every 5 s)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def _target(args: argparse.Namespace) -> Target:
    if args.bench_cpu:
        os.sched_setaffinity(0, {int(cpu) for cpu in args.bench_cpu.split(",")})
    raise_fd_limit()
    if args.start:
        token = args.publish_over == "http"
        hub_args = list(args.hub_arg)
        if args.workers is not None:
            hub_args += ["--workers", str(args.workers)]
        return start_target(
            args.target, args.host, args.hub_cpu, hub_args, token, args.with_redis,
            args.hub_fd_limit,
        )  # fmt: skip
    endpoint = Endpoint(
        args.host, args.telnet_port, args.web_port, args.redis_port, token=args.token
    )
    return Target(endpoint, args.pid)


def run_storm_command(args: argparse.Namespace, log: Callable[[str], None]) -> Storm:
    """`--storm`: see `storm.py`."""
    target = _target(args)
    plan = StormPlan(
        clients=args.subscribers,
        transport=args.transport,
        rooms=args.rooms,
        window=args.storm_window,
        source_ips=args.source_ips,
        presence=args.target == "chathub",
        timeout=args.storm_timeout,
        says=args.then_say,
        say_after=args.say_after,
        size=args.size,
    )
    pid = target.pid
    report = Storm(args.target, args.transport, args.subscribers, args.rooms, args.storm_window)
    report.say_after = args.say_after if args.then_say else 0.0
    sampler = Sampler(pid)
    try:
        return run_storm(
            plan,
            target.endpoint,
            log,
            report,
            cpu=lambda: None if pid is None else read_cpu_seconds(pid),
            rss=sampler.rss,
        )
    finally:
        target.stop()


def run(args: argparse.Namespace, log: Callable[[str], None]) -> Report:
    target = _target(args)
    transport = "redis" if args.target == "redis" else args.transport
    plan = Plan(
        subscribers=args.subscribers,
        publishers=args.publishers,
        rooms=args.rooms,
        transport=transport,
        publish_over=args.publish_over,
        size=args.size,
        sampled=args.sampled,
        source_ips=args.source_ips,
        http_batch=args.http_batch,
    )
    sampler = Sampler(target.pid)
    load = Load(plan, target.endpoint, log)
    try:
        connect = load.open(sampler.rss)
        log(f"connected {connect.connections} in {connect.seconds:.2f}s, {connect.failed} failed")
        report = Report(
            target=args.target,
            transport=transport,
            subscribers=args.subscribers,
            publishers=args.publishers,
            rooms=args.rooms,
            size=args.size,
            connect=connect,
            find_capacity=args.find_capacity,
        )
        if args.duration <= 0:
            return report  # connections only: connect rate and RSS per connection
        if args.find_capacity:
            report.trials, report.capacity = find_capacity(
                load,
                rate=args.rate,
                step=args.step,
                p99_limit=args.p99_limit,
                seconds=args.duration,
                sample=sampler,
                progress=not args.quiet,
                log=log,
            )
        else:
            report.trials = [run_trial(load, args.rate, args.duration, sampler, not args.quiet)]
        return report
    finally:
        load.close()
        target.stop()


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if args.subscribers < 1 or args.publishers < 0 or args.rooms < 1 or args.size < 1:
        parser.error("--subscribers, --rooms and --size must be 1 or more, --publishers 0 or more")
    if args.target == "baseline" and args.rooms != 1:
        parser.error("the baseline has one room: --rooms must be 1")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be more than 0")
    if args.step <= 1:
        parser.error("--step must be more than 1")
    if not 1 <= args.http_batch <= 100:
        parser.error("--http-batch must be 1 to 100 (chathub takes arrays of up to 100)")
    if args.storm:
        _check_storm(args, parser)
        return
    if args.duration > 0 and args.publishers < 1:
        parser.error("a trial needs at least one publisher (or --duration 0)")
    scripts = args.transport == "sse" or args.publish_over == "http"
    if scripts and args.target != "chathub":
        parser.error("--transport sse and --publish-over http are chathub's (its /api)")
    if not args.start:
        if args.target == "redis":
            needed = ["redis_port"]
        else:
            wires = {"telnet", "ws"} if args.transport == "mix" else {args.transport}
            wires.add(args.publish_over)
            needed = sorted({"web_port" if wire != "telnet" else "telnet_port" for wire in wires})
        if args.publish_over == "http" and args.target == "chathub" and args.token is None:
            needed.append("token")
        missing = [name for name in needed if getattr(args, name) is None]
        if missing:
            flags = ", ".join("--" + name.replace("_", "-") for name in missing)
            parser.error(f"give {flags} of a running target, or --start")


def _check_storm(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if args.target == "redis":
        parser.error("--storm measures chathub or the baseline, not redis")
    if args.storm_window < 0 or args.storm_timeout <= 0:
        parser.error("--storm-window must be 0 or more and --storm-timeout more than 0")
    if args.then_say < 0 or args.say_after < 0:
        parser.error("--then-say and --say-after must be 0 or more")
    if not args.start:
        needed = {"telnet": ["telnet_port"], "ws": ["web_port"]}.get(
            args.transport, ["telnet_port", "web_port"]
        )
        missing = [name for name in needed if getattr(args, name) is None]
        if missing:
            flags = ", ".join("--" + name.replace("_", "-") for name in missing)
            parser.error(f"give {flags} of a running target, or --start")


def main(argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv))
    _check(args, parser)
    log = (lambda text: None) if args.quiet else say
    if args.storm:
        storm = run_storm_command(args, log)
        print(json.dumps(storm.as_dict(), indent=2) if args.json else storm_line(storm))
        return 0
    report = run(args, log)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(summary_line(report))
    return 0


def say(text: str) -> None:
    """A progress line, on stderr."""
    print(text, file=sys.stderr, flush=True)
