"""Real processes and real sockets: start `chathub` on port 0 and talk to it as users do."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chathub.telnet import PREAMBLE

START_TIMEOUT = 15.0

# Every chathub a test starts (here or by its own command line) serves its admin port on a free
# loopback port, never on the default 9180: nothing in the tests listens on a fixed port.
os.environ.setdefault("CHATHUB_ADMIN", "tcp:0:interface=127.0.0.1")


@dataclass
class HubProcess:
    process: subprocess.Popen[bytes]
    telnet: int
    web: int
    db: str
    admin: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send `sig` and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def start_hub(tmp_path: Path, *args: str, db: str | None = None) -> HubProcess:
    """Start `python -m chathub` on loopback port 0 and wait until its ports file appears."""
    ports_file = tmp_path / f"ports-{time.monotonic_ns()}.json"
    db = db if db is not None else str(tmp_path / "chathub.db")
    command = [
        sys.executable,
        "-m",
        "chathub",
        "--telnet",
        "tcp:0:interface=127.0.0.1",
        "--web",
        "tcp:0:interface=127.0.0.1",
        "--admin",
        "tcp:0:interface=127.0.0.1",
        "--db",
        db,
        "--ports-file",
        str(ports_file),
        *args,
    ]
    log = open(tmp_path / "hub.log", "ab")  # noqa: SIM115 - kept open for the process's life
    process = subprocess.Popen(command, stdout=log, stderr=log, cwd=tmp_path)
    deadline = time.monotonic() + START_TIMEOUT
    while not ports_file.exists():
        if process.poll() is not None:
            raise RuntimeError(f"chathub exited with {process.returncode}: see {tmp_path}/hub.log")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("chathub did not write its ports file in time")
        time.sleep(0.02)
    ports = json.loads(ports_file.read_text())
    return HubProcess(process, ports["telnet"], ports["web"], db, ports.get("admin"))


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    """A running chathub process with an in-memory store, stopped after the test."""
    running = start_hub(tmp_path, db=":memory:")
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


class TelnetClient:
    """A line-oriented TCP client with timeouts, as a test drives `nc`: it sees what a
    terminal shows, so the hub's telnet preamble (an APC string that terminals ignore) is not
    part of its first line."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.timeout = timeout
        self._buffer = b""
        self._preamble = True  # the stream may still start with the preamble

    def send(self, line: str | bytes) -> None:
        data = line if isinstance(line, bytes) else line.encode("utf-8") + b"\r\n"
        self.sock.sendall(data)

    def read_line(self, timeout: float | None = None) -> str:
        """The next line, without its ending; raises TimeoutError when none comes."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no complete line; have {self._buffer!r}")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionError(f"closed; have {self._buffer!r}")
            self._buffer += chunk
            self._drop_preamble()
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def _drop_preamble(self) -> None:
        if self._preamble and len(self._buffer) >= len(PREAMBLE):
            self._preamble = False
            if self._buffer.startswith(PREAMBLE):
                self._buffer = self._buffer[len(PREAMBLE) :]

    def expect(self, text: str, timeout: float | None = None) -> list[str]:
        """Read lines until one contains `text`; returns every line read, that one last."""
        seen: list[str] = []
        while True:
            try:
                line = self.read_line(timeout)
            except (TimeoutError, ConnectionError) as problem:
                raise AssertionError(f"never saw {text!r}; saw {seen!r}") from problem
            seen.append(line)
            if text in line:
                return seen

    def read_until_closed(self, timeout: float | None = None) -> list[str]:
        """Every line until the server closes the connection."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                return self._buffer.decode("utf-8", "replace").split("\r\n")[:-1]
            self._buffer += chunk
            self._drop_preamble()
        raise AssertionError(f"connection still open; have {self._buffer!r}")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def connect(hub: HubProcess) -> Iterator["type[TelnetClient] | object"]:
    """`connect()` opens a telnet client to the hub, already past the greeting."""
    clients: list[TelnetClient] = []

    def open_client(nick: str | None = None) -> TelnetClient:
        client = TelnetClient(hub.telnet)
        client.expect("type /help")
        if nick is not None:
            client.send(f"/nick {nick}")
            client.expect(f"is now known as {nick}")
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()


_HISTORY_TIME = re.compile(r"^(\[[a-z0-9_-]+ #\d+) \d\d:\d\d\]")
_DAY_LINE = re.compile(r"^\* \d{4}-\d\d-\d\d \(UTC\)$")


def untimed(lines: list[str]) -> list[str]:
    """Telnet lines with the time taken out of history lines (`[dev #4 09:15]` is `[dev #4]`)
    and without the lines naming the day, for tests about ids and text."""
    return [_HISTORY_TIME.sub(r"\1]", line) for line in lines if not _DAY_LINE.match(line)]


def ci() -> bool:
    """Under CI, tests that need an outside program fail instead of skipping."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
