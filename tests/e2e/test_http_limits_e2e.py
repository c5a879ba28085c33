"""The web port's and the listeners' limits on the real process: attacks on loopback, each
bounded in time.

Every test here that guards a new limit was first run against the code before the limit
existed, and failed there (README's "Limits" has the figures before and after). The bound each
test asserts is stated in its docstring.
"""

import errno
import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import HubProcess, start_hub

Launch = Callable[..., HubProcess]

# The sync client's plain `connect()` (without `with`) warns; these tests close what they open.
pytestmark = pytest.mark.filterwarnings("ignore:connect\\(\\) must be used:DeprecationWarning")

MIB = 1024 * 1024


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """`launch(*flags)` starts a hub with an in-memory store; all are killed after the test."""
    started: list[HubProcess] = []

    def run(*flags: str) -> HubProcess:
        hub = start_hub(tmp_path, *flags, db=":memory:")
        started.append(hub)
        return hub

    yield run
    for hub in started:
        if hub.process.poll() is None:
            hub.process.kill()
            hub.process.wait()


# --- raw HTTP ---------------------------------------------------------------------------------


class Response:
    """An HTTP response read off a raw socket."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.headers!r}, {self.body[:200]!r})"


def read_response(sock: socket.socket, timeout: float = 5.0) -> Response:
    """One response (head and a Content-Length body, or up to EOF); raises TimeoutError."""
    deadline = time.monotonic() + timeout
    data = b""

    def more() -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no complete response in {timeout} s; have {data[:300]!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError as problem:
            message = f"no complete response in {timeout} s; have {data[:300]!r}"
            raise TimeoutError(message) from problem
        return bool(chunk) and not _append(chunk)

    def _append(chunk: bytes) -> bool:
        nonlocal data
        data += chunk
        return False

    while b"\r\n\r\n" not in data:
        if not more():
            raise ConnectionError(f"closed before a whole response head; have {data[:300]!r}")
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(data) - len(head) - 4 < length:
            if not more():
                break
        body = data[len(head) + 4 : len(head) + 4 + length]
    return Response(status, headers, body)


def request(hub: HubProcess, raw: bytes, timeout: float = 5.0) -> Response:
    """Send `raw` on a new connection and read one response."""
    with socket.create_connection(("127.0.0.1", hub.web), timeout=timeout) as sock:
        sock.sendall(raw)
        return read_response(sock, timeout)


def get(hub: HubProcess, path: str, host: str | None = None, **headers: str) -> Response:
    host = host if host is not None else f"127.0.0.1:{hub.web}"
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return request(hub, ("\r\n".join(lines) + "\r\n\r\n").encode())


# --- 5. smaller edges -------------------------------------------------------------------------


def test_a_nul_byte_in_a_static_path_is_not_found(launch):
    """`/static/chat.js%00.png` is 404, not a 500 with a traceback."""
    hub = launch()
    answer = get(hub, "/static/chat.js%00.png")
    assert answer.status == 404
    assert b"Traceback" not in answer.body


def test_a_symlink_inside_static_that_leads_outside_is_not_found(launch, tmp_path):
    """A symlink in the static directory pointing outside it is 404, and the file is not
    served; a regular file next to it still is."""
    from chathub.page import asset_dir

    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    link = asset_dir("static") / f"e2e-link-{os.getpid()}.txt"
    link.symlink_to(secret)
    try:
        hub = launch()
        answer = get(hub, f"/static/{link.name}")
        assert answer.status == 404
        assert b"top secret" not in answer.body
        assert get(hub, "/static/chat.css").status == 200
    finally:
        link.unlink()


# --- 6. the accept backlog --------------------------------------------------------------------


def accept_queue(port: int) -> int:
    """How many connections wait in the accept queue of the loopback listener on `port`
    (/proc/net/tcp gives a listening socket's queue length as its rx_queue)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, queues = fields[1], fields[3], fields[4]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            return int(queues.split(":")[1], 16)
    raise AssertionError(f"no listener on port {port}")


def test_a_crowd_connecting_at_once_waits_in_the_accept_queue(launch):
    """3,000 telnet connections opened at once while the hub cannot accept (stopped, the
    extreme of a reconnect storm): every one waits in the kernel's accept queue (bound: all
    3,000, or net.core.somaxconn if smaller; before: 51, the rest were reset or left hanging
    with no greeting), and once the hub runs again it greets them from the front of the queue
    (all 3,000 take it minutes here: each join is announced to everyone already in lobby)."""
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    hub = launch("--max-connections", "0", "--max-per-ip", "0", "--replay", "0")
    crowd: list[socket.socket] = []
    os.kill(hub.process.pid, signal.SIGSTOP)
    try:
        for _ in range(3000):
            sock = socket.socket()
            sock.setblocking(False)
            code = sock.connect_ex(("127.0.0.1", hub.telnet))
            assert code in (0, errno.EINPROGRESS), errno.errorcode.get(code, code)
            crowd.append(sock)
        queued, deadline = 0, time.monotonic() + 5
        while time.monotonic() < deadline:  # the kernel completes the handshakes by itself
            queued = accept_queue(hub.telnet)
            if queued >= min(3000, somaxconn):
                break
            time.sleep(0.1)
    finally:
        os.kill(hub.process.pid, signal.SIGCONT)
    try:
        assert queued >= min(3000, somaxconn), f"only {queued} of 3,000 were queued"
        for sock in crowd[:20]:
            sock.setblocking(True)
            seen = b""
            sock.settimeout(30)
            while b"type /help" not in seen:
                chunk = sock.recv(65536)
                assert chunk, "closed before the greeting"
                seen += chunk
    finally:
        for sock in crowd:
            sock.close()
