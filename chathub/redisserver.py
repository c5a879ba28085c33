"""A private `redis-server` for `--workers N` without `--redis`: started, watched and stopped by
the supervisor.

Rules:
- It listens on a UNIX socket only (`port 0`), in a directory of its own made for this run
  (mode 0700): nothing else on the machine reaches it.
- Its data lives next to the history file: `--db chathub.db` keeps it in `chathub.db.redis/`
  (append-only file, fsync every second), so history, ids and the counter survive restarts as
  they do with SQLite. With `--db :memory:` it keeps nothing.
- Not installed: `missing()` says so in one line (what to install, or what to pass instead).
- If it exits while chathub runs, it is started again (the workers reconnect by themselves);
  at the end it is stopped (SIGTERM: it writes its file) after the workers.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

START_SECONDS = 10.0
INSTALL_HINT = "install redis-server (Debian/Ubuntu: apt install redis-server) or pass --redis URL"


def missing(workers: int) -> str | None:
    """Why a private redis-server cannot be run (one line), or None."""
    if shutil.which("redis-server") is None:
        return f"--workers {workers} needs Redis and redis-server is not installed: {INSTALL_HINT}"
    return None


def _pong(path: str) -> bool:
    """Whether the server on `path` answers PING with PONG (not LOADING)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            probe.connect(path)
            probe.sendall(b"PING\r\n")
            return probe.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class PrivateRedis:
    """One redis-server on a UNIX socket, for this chathub alone."""

    def __init__(self, db: str) -> None:
        self.run_dir = Path(tempfile.mkdtemp(prefix="chathub-redis-"))
        os.chmod(self.run_dir, 0o700)
        self.socket = str(self.run_dir / "redis.sock")
        self.data_dir: Path | None = None
        if db != ":memory:":
            self.data_dir = Path(f"{db}.redis").resolve()
            self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.stopping = False

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def command(self) -> list[str]:
        server = shutil.which("redis-server")
        assert server is not None
        command = [server, "--port", "0", "--unixsocket", self.socket, "--unixsocketperm", "700"]
        command += ["--daemonize", "no", "--save", "", "--maxclients", "10000"]
        if self.data_dir is not None:
            command += ["--dir", str(self.data_dir), "--appendonly", "yes"]
            command += ["--appendfsync", "everysec"]
        else:
            command += ["--dir", str(self.run_dir), "--appendonly", "no"]
        return command

    def start(self) -> str | None:
        """Start it and wait until it answers; None, or why it did not start (one line)."""
        log = open(self.run_dir / "redis.log", "ab")  # noqa: SIM115 - kept for its life
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=log)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.run_dir / "redis.log").read_text(errors="replace").strip()
                last = tail.splitlines()[-1] if tail else "no output"
                return f"the private redis-server exited at start: {last}"
            if os.path.exists(self.socket) and _pong(self.socket):
                return None  # listening, and done loading its data
            time.sleep(0.02)
        return f"the private redis-server did not start in {START_SECONDS:g} s"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping = True
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.run_dir, ignore_errors=True)
