"""Heavy and hostile traffic on the real process: a flooder, a reader that stops reading.

The rule under test: the hub stays up, everyone else keeps chatting, memory stays bounded.
Figures (latency, memory) are printed for the record (`pytest -s`), never asserted as timings.
"""

import contextlib
import json
import re
import select
import socket
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.sync.client import connect as ws_connect

from tests.e2e.conftest import HubProcess, TelnetClient, start_hub

# The hub's resident memory may grow by at most this much while 100,000 messages of about
# 1 KB (100 MB) pass a client that reads nothing: its backlog is bounded (256 KiB by default)
# instead of holding the whole stream (which would be 100 MB more).
RSS_GROWTH_BOUND_KB = 40 * 1024


def rss_kb(hub: HubProcess) -> int:
    """The hub's resident set size, from /proc."""
    with open(f"/proc/{hub.process.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Reader(threading.Thread):
    """Reads a socket until it closes (or `stop`), handing every complete line to `on_line`."""

    def __init__(self, sock: socket.socket, on_line: Callable[[bytes], None] | None = None):
        super().__init__(daemon=True)
        self.sock = sock
        self.on_line = on_line
        self.stopped = False
        self.start()

    def run(self) -> None:
        buffer = b""
        while not self.stopped:
            # select, not a socket timeout: another thread may be sending on this socket.
            readable, _, _ = select.select([self.sock], [], [], 0.2)
            if not readable:
                continue
            try:
                chunk = self.sock.recv(1 << 20)
            except OSError:
                return
            if not chunk:
                return
            if self.on_line is None:
                continue
            buffer += chunk
            *lines, buffer = buffer.split(b"\r\n")
            for line in lines:
                self.on_line(line)

    def stop(self) -> None:
        self.stopped = True
        self.join(5)


def greeted(hub: HubProcess, nick: str) -> TelnetClient:
    client = TelnetClient(hub.telnet, timeout=10)
    client.expect("type /help")
    client.send(f"/nick {nick}")
    client.expect(f"is now known as {nick}")
    return client


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_flooder_at_5000_lines_a_second_does_not_hold_up_a_normal_client(tmp_path: Path):
    """With the default --max-rate, a 5,000 lines/s flood next to a normal client: every one of
    its messages arrives, and the flooder is warned at most once a second."""
    # --max-rate 10 --burst 20, the defaults; the flood's lines are not joined as a paste.
    hub = start_hub(tmp_path, "--paste-window", "0", db=":memory:")
    try:
        flooder, alice, bob = greeted(hub, "flooder"), greeted(hub, "alice"), greeted(hub, "bob")
        arrived: dict[int, float] = {}
        warnings: list[bytes] = []

        def bob_line(line: bytes) -> None:
            if b"<alice> ping " in line:
                arrived[int(line.rsplit(b" ", 1)[1])] = time.monotonic()

        def flooder_line(line: bytes) -> None:
            if line.startswith(b"! you are sending too fast"):
                warnings.append(line)

        readers = [Reader(bob.sock, bob_line), Reader(flooder.sock, flooder_line)]
        readers.append(Reader(alice.sock))
        flooding = True
        flood_seconds = 0.0

        def flood() -> None:
            nonlocal flood_seconds
            start = time.monotonic()
            flooder.sock.settimeout(0.5)
            sent = 0
            while flooding:
                # 50 lines every 10 ms: 5,000 lines a second, as long as the hub keeps reading.
                target = int((time.monotonic() - start) * 5000)
                if sent < target:
                    batch = b"".join(b"flood %d\r\n" % n for n in range(sent, target))
                    # A timeout means the hub stopped reading us: that is the point.
                    with contextlib.suppress(TimeoutError):
                        flooder.sock.sendall(batch)
                    sent = target
                time.sleep(0.01)
            flood_seconds = time.monotonic() - start

        flood_thread = threading.Thread(target=flood, daemon=True)
        flood_thread.start()
        time.sleep(0.5)  # the flood is on
        sent_at: dict[int, float] = {}
        for n in range(30):
            sent_at[n] = time.monotonic()
            alice.send(f"ping {n}")
            time.sleep(0.1)
        assert wait_for(lambda: len(arrived) == 30, 10), f"only {sorted(arrived)} arrived"
        flooding = False
        flood_thread.join(5)
        for reader in readers:
            reader.stop()
        latencies = sorted((arrived[n] - sent_at[n]) * 1000 for n in range(30))
        print(
            f"\nflood: alice's 30 messages next to a 5,000 lines/s flooder; latency ms: "
            f"median {statistics.median(latencies):.1f}, max {latencies[-1]:.1f}; "
            f"flooder warned {len(warnings)} times in {flood_seconds:.1f} s"
        )
        assert 1 <= len(warnings) <= flood_seconds + 2
        assert hub.process.poll() is None
    finally:
        hub.process.kill()
        hub.process.wait()


def test_a_client_that_never_reads_costs_bounded_memory_and_is_told_what_it_skipped(
    tmp_path: Path,
):
    """100,000 messages pass a client that reads nothing: the hub's RSS stays within the bound,
    another reader gets every message in order, and the sleeper is told what it skipped."""
    hub = start_hub(
        tmp_path, "--max-rate", "0", "--paste-window", "0", "--slow-timeout", "600", db=":memory:"
    )
    try:
        sleeper = greeted(hub, "sleeper")
        sender, reader = greeted(hub, "sender"), greeted(hub, "reader")
        sleeper.expect("is now known as reader")
        count = 100_000
        padding = "x" * 1000
        received: list[int] = []
        out_of_order: list[int] = []

        def reader_line(line: bytes) -> None:
            if line.startswith(b"[lobby] <sender> "):
                number = int(line[17:].split(b" ", 1)[0])
                if number != len(received):
                    out_of_order.append(number)
                received.append(number)

        readers = [Reader(reader.sock, reader_line), Reader(sender.sock)]
        baseline = rss_kb(hub)
        peak = baseline
        sampling = True

        def sample() -> None:
            nonlocal peak
            while sampling:
                peak = max(peak, rss_kb(hub))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        sender.sock.settimeout(None)  # the hub takes it as fast as it can; no deadline per write
        for first in range(0, count, 1000):
            chunk = "".join(f"{n} {padding}\r\n" for n in range(first, first + 1000))
            sender.sock.sendall(chunk.encode())
        assert wait_for(lambda: len(received) >= count, 120), f"{len(received)} arrived"
        elapsed = time.monotonic() - started
        sampling = False
        sampler.join(5)
        for reader_thread in readers:
            reader_thread.stop()
        print(
            f"\nslow reader: {count} messages of ~1 KB in {elapsed:.1f} s; hub RSS "
            f"{baseline / 1024:.0f} MB before, peak {peak / 1024:.0f} MB "
            f"(+{(peak - baseline) / 1024:.0f} MB, bound +{RSS_GROWTH_BOUND_KB / 1024:.0f} MB)"
        )
        assert out_of_order == []
        assert received == list(range(count))
        assert peak - baseline < RSS_GROWTH_BOUND_KB

        # The sleeper wakes up: what was held for it, then the notice.
        seen = sleeper.expect("! skipped ", timeout=30)
        notice = re.fullmatch(
            r"! skipped (\d+) messages in lobby; /since (\d+) lobby to catch up", seen[-1]
        )
        assert notice is not None, seen[-1]
        skipped, since = int(notice[1]), int(notice[2])
        got = [int(line[17:].split(" ", 1)[0]) for line in seen if "<sender> " in line]
        assert got == list(range(len(got)))  # a gap-free start, then the skip
        assert skipped > 0 and since == len(got)  # ids start at 1, numbers at 0
        assert hub.process.poll() is None
    finally:
        hub.process.kill()
        hub.process.wait()


def test_a_client_behind_for_the_slow_timeout_is_disconnected(tmp_path: Path):
    """--slow-timeout 1: a client that reads nothing while output waits is cut off; the room
    sees it leave, and a reader still gets everything."""
    hub = start_hub(
        tmp_path, "--max-rate", "0", "--paste-window", "0", "--slow-timeout", "1", db=":memory:"
    )
    try:
        sleeper = greeted(hub, "sleeper")
        sender, watcher = greeted(hub, "sender"), greeted(hub, "watcher")
        left = threading.Event()
        Reader(sender.sock)

        def watcher_line(line: bytes) -> None:
            if line == b"[lobby] <- sleeper left (too slow)":
                left.set()

        Reader(watcher.sock, watcher_line)
        padding = "y" * 1000
        for first in range(0, 20_000, 1000):  # 20 MB: more than the kernel's buffers hold
            if left.is_set():
                break
            sender.sock.sendall(
                "".join(f"{n} {padding}\r\n" for n in range(first, first + 1000)).encode()
            )
        assert left.wait(15)
        sleeper.sock.settimeout(5)
        try:  # what the kernel held may still come, then the connection ends
            while sleeper.sock.recv(1 << 20):
                pass
        except ConnectionResetError:
            pass
        assert hub.process.poll() is None
    finally:
        hub.process.kill()
        hub.process.wait()


@pytest.mark.filterwarnings("ignore:connect\\(\\) must be used:DeprecationWarning")
def test_a_websocket_that_never_reads_is_told_what_it_skipped(tmp_path: Path):
    """A /ws client that reads nothing while 30 MB flow gets, once it reads, the `skipped`
    error with the id to catch up from."""
    hub = start_hub(
        tmp_path, "--max-rate", "0", "--paste-window", "0", "--slow-timeout", "600", db=":memory:"
    )
    try:
        # No compression (1 KB of "x" would shrink to almost nothing) and a one-message queue,
        # so the client library stops reading the socket at once.
        sleeper = ws_connect(
            f"ws://127.0.0.1:{hub.web}/ws?nick=wsleeper",
            open_timeout=5,
            compression=None,
            max_queue=1,
        )
        sender = greeted(hub, "sender")
        echoed: list[int] = []
        Reader(sender.sock, lambda line: echoed.append(1) if b"<sender> " in line else None)
        sender.sock.settimeout(None)
        count, padding = 30_000, "w" * 1000
        for first in range(0, count, 1000):
            chunk = "".join(f"{n} {padding}\r\n" for n in range(first, first + 1000))
            sender.sock.sendall(chunk.encode())
        assert wait_for(lambda: len(echoed) >= count, 60)
        while True:
            message = json.loads(sleeper.recv(timeout=30))
            if message["type"] == "error":
                break
        assert message["code"] == "skipped" and message["room"] == "lobby"
        assert re.fullmatch(
            rf"skipped \d+ messages in lobby; ask for history since {message['since']}",
            message["message"],
        )
        assert hub.process.poll() is None
        sleeper.close()
    finally:
        hub.process.kill()
        hub.process.wait()
