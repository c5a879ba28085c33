"""What the end-to-end tests measure of a running hub: its memory, its CPU, a user's round trips."""

import json
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from websockets.sync.client import connect as ws_connect


def status_mb(pid: int, field: str) -> float:
    """A `/proc/PID/status` figure (VmRSS, VmHWM: the peak RSS) in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


def rss_mb(pid: int) -> float:
    return status_mb(pid, "VmRSS")


def peak_rss_mb(pid: int) -> float:
    return status_mb(pid, "VmHWM")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """Seconds the process's main thread ran, and waited for a CPU (`/proc/PID/schedstat`)."""
    with open(f"/proc/{pid}/schedstat") as schedstat:
        ran, waited, _ = schedstat.read().split()
    return int(ran) / 1e9, int(waited) / 1e9


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (`share` 0.99 for p99)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class RoundTrips(threading.Thread):
    """A normal WebSocket user in `room`: says something every `interval` seconds and times
    each message from sending to its own echo (the reply with its `ref`), in milliseconds."""

    def __init__(self, web_port: int, nick: str, room: str = "lobby", interval: float = 0.1):
        super().__init__(daemon=True)
        self.url = f"ws://127.0.0.1:{web_port}/ws?nick={nick}&rooms={room}"
        self.room = room
        self.interval = interval
        self.times_ms: list[float] = []
        self.problem: BaseException | None = None
        self._stopping = threading.Event()
        self._connected = threading.Event()

    def run(self) -> None:
        try:
            with ws_connect(self.url, open_timeout=10, compression=None) as ws:
                self._connected.set()
                number = 0
                while not self._stopping.is_set():
                    started = time.monotonic()
                    ref = f"rt{number}"
                    number += 1
                    op = {"op": "say", "room": self.room, "text": f"ping {number}", "ref": ref}
                    ws.send(json.dumps(op))
                    while json.loads(ws.recv(timeout=30)).get("ref") != ref:
                        pass
                    self.times_ms.append((time.monotonic() - started) * 1000)
                    self._stopping.wait(max(0.0, self.interval - (time.monotonic() - started)))
        except BaseException as problem:  # reported by `stop`
            self.problem = problem
        finally:
            self._connected.set()

    def wait_connected(self, timeout: float = 10.0) -> None:
        assert self._connected.wait(timeout), "the normal user could not connect"
        assert self.problem is None, f"the normal user failed: {self.problem!r}"

    def stop(self) -> list[float]:
        """Stop and return the round trips, in ms; raises if the user failed."""
        self._stopping.set()
        self.join(35)
        if self.problem is not None:
            raise AssertionError(f"the normal user failed: {self.problem!r}")
        return self.times_ms


@contextmanager
def sampled_rss(pid: int, every: float = 0.1) -> Iterator[list[float]]:
    """RSS samples (MiB) taken every `every` seconds while the block runs."""
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                samples.append(rss_mb(pid))
            except (OSError, AssertionError):
                return
            done.wait(every)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join(5)


def describe_cpu(pid: int, before: tuple[float, float], seconds: float) -> str:
    ran, waited = cpu_seconds(pid)
    return (
        f"hub main thread ran {100 * (ran - before[0]) / seconds:.0f}% of the time and waited "
        f"{100 * (waited - before[1]) / seconds:.0f}% for a CPU"
    )
