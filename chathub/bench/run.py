"""`chathub bench`: a load generator for chathub, the tutorial baseline and redis-server.

Rules:
- It runs in its own process against a running target (`--telnet-port`, `--web-port`,
  `--redis-port`) or one it starts (`--start`: chathub with `--db :memory:`, the baseline, or
  `redis-server` on a free loopback port), optionally pinned with `taskset` (`--hub-cpu`) while
  the bench pins itself (`--bench-cpu`).
- The load is in `load.py` (raw sockets, batched reads), connections and their plan in
  `conn.py`, figures and their text in `report.py`, what goes on the wire in
  `wire.py`.
- Progress goes to stderr; stdout gets the one-line summary, or with `--json` one JSON object.
- `--find-capacity` steps the publish rate up by `--step` until a rate fails twice in a row
  (a message lost, or p99 latency over `--p99-limit`), then bisects; the capacity is the best
  passing trial.
"""

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chathub.bench.conn import Endpoint, Plan
from chathub.bench.load import Load, say
from chathub.bench.report import Report, Trial, summary_line, trial_line

START_TIMEOUT = 20.0
TARGETS = ("chathub", "baseline", "redis")
FD_WANTED = 200_000
UNLIMITED = ("--max-rate", "--max-per-ip", "--max-connections")


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
    parser.add_argument("--subscribers", "-n", type=int, default=100, help="subscribers")
    parser.add_argument("--publishers", "-m", type=int, default=1, help="publishers")
    parser.add_argument("--rooms", type=int, default=1, help="rooms (lobby, bench1, ...)")
    parser.add_argument(
        "--transport",
        choices=("telnet", "ws", "mix"),
        default="telnet",
        help="subscribers' wire: telnet, WebSocket, or half and half (ignored for redis)",
    )
    parser.add_argument(
        "--publish-over", choices=("telnet", "ws"), default="telnet", help="publishers' wire"
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
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


# --- the target process ----------------------------------------------------------------------


@dataclass
class Target:
    endpoint: Endpoint
    pid: int | None
    process: subprocess.Popen[bytes] | None = None
    scratch: tempfile.TemporaryDirectory[str] | None = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.scratch is not None:
            self.scratch.cleanup()


def _raise_fd_limit() -> None:
    """As many descriptors as allowed: root may go past the hard limit (50,000 connections
    need that many on each side)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        wanted = max(hard, FD_WANTED)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
    except (ValueError, OSError):
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _pinned(command: list[str], cpu: str | None) -> list[str]:
    if cpu is None:
        return command
    taskset = shutil.which("taskset")
    if taskset is None:
        raise SystemExit("chathub bench: --hub-cpu needs taskset")
    return [taskset, "-c", cpu, *command]


def chathub_flags() -> set[str]:
    """The flags the installed `chathub` accepts (`--max-rate` exists only with limits)."""
    from chathub.cli import build_parser as hub_parser

    return {option for action in hub_parser()._actions for option in action.option_strings}


def _wait_for_ports(
    process: subprocess.Popen[bytes], ports_file: Path, log: Path
) -> dict[str, int]:
    deadline = time.monotonic() + START_TIMEOUT
    while not ports_file.exists():
        if process.poll() is not None:
            raise SystemExit(f"chathub bench: the target exited: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit("chathub bench: the target did not start in time")
        time.sleep(0.02)
    ports: dict[str, int] = json.loads(ports_file.read_text())
    return ports


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_target(args: argparse.Namespace) -> Target:
    scratch = tempfile.TemporaryDirectory(prefix="chathub-bench-")
    where = Path(scratch.name)
    ports_file = where / "ports.json"
    log = where / "target.log"
    if args.target == "redis":
        server = shutil.which("redis-server")
        if server is None:
            raise SystemExit("chathub bench: redis-server is not installed")
        port = _free_port()
        command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--maxclients", "100000"]
    elif args.target == "baseline":
        command = [sys.executable, "-m", "chathub.bench.baseline", "--ports-file", str(ports_file)]
    else:
        command = [sys.executable, "-m", "chathub", "--db", ":memory:"]
        command += ["--telnet", "tcp:0:interface=127.0.0.1:backlog=1024"]
        command += ["--web", "tcp:0:interface=127.0.0.1:backlog=1024"]
        command += ["--ports-file", str(ports_file)]
        # A bench publisher is far over any user's rate, and its connections share one address
        # and may number more than the default total: turn those limits off where they exist.
        flags = chathub_flags()
        for flag in UNLIMITED:
            if flag in flags:
                command += [flag, "0"]
        command += args.hub_arg
    with open(log, "wb") as output:
        process = subprocess.Popen(
            _pinned(command, args.hub_cpu),
            stdout=output,
            stderr=output,
            cwd=where,
            preexec_fn=_raise_fd_limit,
        )
    if args.target == "redis":
        _wait_for_redis(process, port)
        endpoint = Endpoint(args.host, redis=port)
    else:
        ports = _wait_for_ports(process, ports_file, log)
        endpoint = Endpoint(args.host, telnet=ports["telnet"], web=ports["web"])
    return Target(endpoint, process.pid, process, scratch)


def _wait_for_redis(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("chathub bench: redis-server exited at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                probe.sendall(b"PING\r\n")
                if probe.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise SystemExit("chathub bench: redis-server did not answer in time")


# --- the target's CPU and memory, from /proc -----------------------------------------------


def read_cpu_seconds(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def read_rss_kib(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


class Sampler:
    """Each call returns the target's CPU (% of one core) since the previous call, and RSS."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self._last: tuple[float, float] | None = None

    def __call__(self) -> tuple[float | None, int | None]:
        if self.pid is None:
            return None, None
        cpu = read_cpu_seconds(self.pid)
        now = time.monotonic()
        percent = None
        if cpu is not None and self._last is not None and now > self._last[1]:
            percent = 100.0 * (cpu - self._last[0]) / (now - self._last[1])
        self._last = None if cpu is None else (cpu, now)
        return percent, read_rss_kib(self.pid)

    def rss(self) -> int | None:
        return None if self.pid is None else read_rss_kib(self.pid)


# --- running ---------------------------------------------------------------------------------


def find_capacity(
    load: Load, args: argparse.Namespace, sampler: Sampler, log: Callable[[str], None]
) -> tuple[list[Trial], Trial | None]:
    """Raise the rate by `args.step` until a trial fails, then bisect between pass and fail."""
    fanout = max(1, load.per_room[load.publishers[0].room]) if load.publishers else 1
    rate = args.rate or max(10.0, 20_000 / fanout)
    trials: list[Trial] = []
    best: Trial | None = None
    failed_at: float | None = None
    for _ in range(30):
        trial = load.trial(rate, args.duration, sampler, progress=not args.quiet)
        trials.append(trial)
        verdict = "pass" if trial.passes(args.p99_limit) else "FAIL"
        log(f"{verdict} {trial_line(trial)}")
        load.settle()
        if not trial.passes(args.p99_limit):
            # On a shared machine one stall of the target fails a p99: a rate fails only
            # if a second trial at it fails too.
            trial = load.trial(rate, args.duration, sampler, progress=not args.quiet)
            trials.append(trial)
            verdict = "pass" if trial.passes(args.p99_limit) else "FAIL"
            log(f"{verdict} (again) {trial_line(trial)}")
            load.settle()
        if trial.passes(args.p99_limit):
            if best is None or trial.deliveries_per_second > best.deliveries_per_second:
                best = trial
            low = rate
        else:
            failed_at = rate
            if best is None:
                break
            low = best.rate or rate
        if failed_at is None:
            rate *= args.step
        else:
            if failed_at / low < 1.06:  # within 6%: close enough
                break
            rate = (low + failed_at) / 2
    return trials, best


def run(args: argparse.Namespace, log: Callable[[str], None]) -> Report:
    if args.bench_cpu:
        os.sched_setaffinity(0, {int(cpu) for cpu in args.bench_cpu.split(",")})
    _raise_fd_limit()
    target: Target
    if args.start:
        target = start_target(args)
    else:
        endpoint = Endpoint(args.host, args.telnet_port, args.web_port, args.redis_port)
        target = Target(endpoint, args.pid)
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
            report.trials, report.capacity = find_capacity(load, args, sampler, log)
        else:
            report.trials = [load.trial(args.rate, args.duration, sampler, not args.quiet)]
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
    if args.duration > 0 and args.publishers < 1:
        parser.error("a trial needs at least one publisher (or --duration 0)")
    if not args.start:
        needed = {"redis": ["redis_port"]}.get(args.target) or (
            ["web_port"] if args.transport == "ws" else ["telnet_port"]
        )
        if args.transport == "mix" or args.publish_over != args.transport:
            needed = ["telnet_port", "web_port"] if args.target != "redis" else needed
        missing = [name for name in needed if getattr(args, name) is None]
        if missing:
            flags = ", ".join("--" + name.replace("_", "-") for name in missing)
            parser.error(f"give {flags} of a running target, or --start")


def main(argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv))
    _check(args, parser)
    log = (lambda text: None) if args.quiet else say
    report = run(args, log)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(summary_line(report))
    return 0
