"""A real `redis-server` for tests: on a free loopback port, started by the test and stopped by
its PID; and a small blocking client (hiredis parses) to look at what chathub keeps there.

Skipped when redis-server is missing, except under CI, where that is a failure.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hiredis
import pytest


def ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process; `stop` and `start` again keep its data (append-only file)."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            if ci():
                pytest.fail("redis-server is missing, and CI must run the Redis tests")
            pytest.skip("redis-server is not installed")
        self.executable = executable
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        command = [
            self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.directory), "--save", "", "--appendonly", "yes",
            "--appendfsync", "everysec", "--daemonize", "no", "--protected-mode", "no",
        ]  # fmt: skip
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - for the process's life
        self.process = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if Client(self.port).call("PING") == b"PONG":
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start: see {self.directory}/redis.log")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it by its PID (SIGTERM saves the append-only file; SIGKILL does not)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)
            self.process.wait(10)
        self.process = None


class Client:
    """A blocking RESP client: one command, one answer."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.reader = hiredis.Reader()

    def call(self, *args: Any) -> Any:
        parts = [arg if isinstance(arg, bytes) else str(arg).encode() for arg in args]
        request = b"*%d\r\n" % len(parts)
        for part in parts:
            request += b"$%d\r\n%s\r\n" % (len(part), part)
        self.sock.sendall(request)
        while True:
            reply = self.reader.gets()
            if reply is not False:
                return reply
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis-server closed the connection")
            self.reader.feed(chunk)

    def read(self, timeout: float = 1.0) -> Any:
        """The next reply or push; TimeoutError when none comes."""
        self.sock.settimeout(timeout)
        try:
            while True:
                reply = self.reader.gets()
                if reply is not False:
                    return reply
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("redis-server closed the connection")
                self.reader.feed(chunk)
        finally:
            self.sock.settimeout(5.0)

    def close(self) -> None:
        self.sock.close()


def running_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()
