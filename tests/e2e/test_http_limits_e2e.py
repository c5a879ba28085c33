"""The web port's and the listeners' limits on the real process: attacks on loopback, each
bounded in time.

Every test here that guards a new limit was first run against the code before the limit
existed, and failed there (README's "Limits" has the figures before and after). The bound each
test asserts is stated in its docstring.
"""

import errno
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

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
