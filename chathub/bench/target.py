"""The process the bench measures: starting it, stopping it, and watching its CPU and RSS.

Rules:
- A target is a separate process, started here (`--start`: chathub with `--db :memory:`, the
  baseline, or `redis-server`, on a free loopback port, optionally under `taskset`) or already
  running (its ports and pid given). It is never imported: the bench is a client.
- chathub's flags are read from `chathub.config.table()` (a setting's key `max_rate` is the
  flag `--max-rate`), never from `chathub.cli`: the bench and the command line do not import
  each other.
- chathub and the baseline say where they listen by writing `{"telnet": N, "web": N}` to
  `--ports-file`; redis-server is ready when it answers `PING`. A target that exits or stays
  silent for `START_TIMEOUT` seconds stops the bench with its log's tail.
- CPU and RSS come from `/proc/PID`; a vanished process reads as None, never as an error.
- Many processes: `--workers N` and `--with-redis` (a redis-server started here, on a free
  loopback port, for chathub's `--redis`) are passed through. The CPU and RSS read are then
  the whole family's: the process, its descendants (workers, a private redis-server) and the
  redis-server started for it (`companions`). `--hub-fd-limit` caps each of them.
- Publishing over HTTP needs an API token: a started chathub gets a `--config` file with one
  (made with `chathub.tokens`, any room, no useful rate limit), and the bench keeps its secret.
"""

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

from chathub.bench.conn import Endpoint
from chathub.config import table
from chathub.tokens import ANY_ROOM, Token, config_entry, hash_secret, new_secret

START_TIMEOUT = 20.0
TARGETS = ("chathub", "baseline", "redis")
FD_WANTED = 200_000
# Turned off (0) for a started chathub: a bench publisher is far over any user's rate, its
# connections share one address and may number more than the default total, and its telnet
# lines arrive close together (a paste would make several messages one).
UNLIMITED = ("max_rate", "max_per_ip", "max_connections", "paste_window")
BENCH_TOKEN_RATE = 1e9  # messages a second: a bench publisher is never refused for its rate


# A started process's companions (the redis-server started for it): counted with it.
companions: dict[int, list[int]] = {}


@dataclass
class Target:
    endpoint: Endpoint
    pid: int | None
    process: subprocess.Popen[bytes] | None = None
    scratch: tempfile.TemporaryDirectory[str] | None = None
    redis: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        self._stop()
        if self.redis is not None and self.redis.poll() is None:
            self.redis.terminate()
            self.redis.wait(10)

    def _stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.scratch is not None:
            self.scratch.cleanup()


def fd_limit(limit: int) -> Callable[[], None]:
    """A `preexec_fn` capping the process's descriptors at `limit`."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return cap


def raise_fd_limit() -> None:
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


def hub_flags() -> set[str]:
    """The setting flags `python -m chathub` accepts, one per key of the settings table."""
    return {"--" + key.replace("_", "-") for key in table()}


def hub_command(ports_file: Path, hub_args: Sequence[str] = ()) -> list[str]:
    """chathub on loopback port 0, in memory, without the limits a bench would trip."""
    command = [sys.executable, "-m", "chathub", "--db", ":memory:"]
    command += ["--telnet", "tcp:0:interface=127.0.0.1:backlog=1024"]
    command += ["--web", "tcp:0:interface=127.0.0.1:backlog=1024"]
    command += ["--admin", "tcp:0:interface=127.0.0.1"]
    command += ["--ports-file", str(ports_file)]
    flags = hub_flags()
    for key in UNLIMITED:
        flag = "--" + key.replace("_", "-")
        if flag in flags:
            command += [flag, "0"]
    return command + list(hub_args)


def baseline_command(ports_file: Path) -> list[str]:
    """The tutorial baseline on loopback port 0."""
    return [sys.executable, "-m", "chathub.bench.baseline", "--ports-file", str(ports_file)]


def redis_command(port: int) -> list[str]:
    """redis-server on `port`, without persistence."""
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("chathub bench: redis-server is not installed")
    command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--maxclients", "100000"]
    return command


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


def token_config(where: Path) -> tuple[str, Path]:
    """A new API token's secret, and a configuration file (in `where`) that accepts it."""
    secret = new_secret()
    token = Token("bench", "bench-bot", (ANY_ROOM,), BENCH_TOKEN_RATE, hash_secret(secret))
    path = where / "bench.toml"
    path.write_text(config_entry(token))
    return secret, path


def start_target(
    kind: str,
    host: str,
    hub_cpu: str | None = None,
    hub_args: Sequence[str] = (),
    token: bool = False,
    with_redis: bool = False,
    fd_cap: int | None = None,
) -> Target:
    """Start a `kind` target (one of `TARGETS`) and wait until it listens; with `token`,
    chathub accepts a token whose secret is the endpoint's; `with_redis`, chathub uses a
    redis-server started here; `fd_cap`: its descriptors are capped."""
    scratch = tempfile.TemporaryDirectory(prefix="chathub-bench-")
    where = Path(scratch.name)
    ports_file = where / "ports.json"
    log = where / "target.log"
    port = 0
    secret = None
    if token and kind == "chathub":
        secret, config = token_config(where)
        hub_args = ["--config", str(config), *hub_args]
    redis = None
    if with_redis and kind == "chathub":
        redis_port = _free_port()
        redis = subprocess.Popen(
            redis_command(redis_port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd=where, preexec_fn=raise_fd_limit,
        )  # fmt: skip
        _wait_for_redis(redis, redis_port)
        hub_args = ["--redis", f"redis://127.0.0.1:{redis_port}/0", *hub_args]
    if kind == "redis":
        port = _free_port()
        command = redis_command(port)
    elif kind == "baseline":
        command = baseline_command(ports_file)
    else:
        command = hub_command(ports_file, hub_args)
    with open(log, "wb") as output:
        process = subprocess.Popen(
            _pinned(command, hub_cpu),
            stdout=output,
            stderr=output,
            cwd=where,
            preexec_fn=raise_fd_limit if fd_cap is None else fd_limit(fd_cap),
        )
    if redis is not None:
        companions[process.pid] = [redis.pid]
    try:
        if kind == "redis":
            _wait_for_redis(process, port)
            endpoint = Endpoint(host, redis=port)
        else:
            ports = _wait_for_ports(process, ports_file, log)
            endpoint = Endpoint(host, telnet=ports["telnet"], web=ports["web"], token=secret)
    except SystemExit:
        if redis is not None:  # the redis-server started for it goes with it
            redis.terminate()
            redis.wait(10)
        raise
    return Target(endpoint, process.pid, process, scratch, redis)


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


def family(pid: int) -> list[int]:
    """`pid`, its companions, and all their descendants (workers, a private redis-server)."""
    found = [pid, *companions.get(pid, ())]
    at = 0
    while at < len(found):
        try:
            for task in Path(f"/proc/{found[at]}/task").iterdir():
                found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
        at += 1
    return found


def read_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user and system) of `pid`'s family; None when `pid` is gone."""
    total = None
    for member in family(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        total = (total or 0.0) + ticks / os.sysconf("SC_CLK_TCK")
    return total


def read_rss_kib(pid: int) -> int | None:
    """The RSS of `pid`'s family, KiB; None when `pid` is gone."""
    total = None
    for member in family(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total = (total or 0) + int(line.split()[1])
    return total


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
