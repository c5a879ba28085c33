"""The bench's figures: one `Trial` per measured run, and how they are shown.

Rules:
- Pure: numbers in, text or JSON-ready dicts out; no sockets, no clocks.
- Rates are per second of the measured window (publishing), not of the drain after it; a
  message that has not arrived when the drain gives up is lost.
- Latency percentiles are nearest-rank over the sampled subscribers' markers, in milliseconds.
"""

import math
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(values: list[int] | list[float], fraction: float) -> float:
    """Nearest-rank percentile of `values` (0 when empty); `fraction` in [0, 1]."""
    if not values:
        return 0.0
    ordered = sorted(values)
    # The epsilon keeps 0.99 * 100 (99.00000000000001 in floating point) at rank 99.
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered) - 1e-9)))
    return float(ordered[rank - 1])


@dataclass
class Latency:
    """Publish-to-receive latency in milliseconds."""

    samples: int = 0
    p50: float = 0.0
    p99: float = 0.0
    max: float = 0.0

    @classmethod
    def from_ns(cls, latencies_ns: list[int]) -> "Latency":
        if not latencies_ns:
            return cls()
        ordered = sorted(latencies_ns)
        return cls(
            samples=len(ordered),
            p50=percentile(ordered, 0.50) / 1e6,
            p99=percentile(ordered, 0.99) / 1e6,
            max=ordered[-1] / 1e6,
        )


@dataclass
class Trial:
    """One measured run at one publish rate (or as fast as possible, `rate` None)."""

    rate: float | None  # messages/s asked for, all publishers together
    seconds: float  # the publishing window
    published: int
    expected: int  # deliveries that should arrive: each message times its room's subscribers
    delivered: int
    latency: Latency = field(default_factory=Latency)
    hub_cpu: float | None = None  # percent of one core over the window
    hub_rss_kib: int | None = None
    bench_cpu: float | None = None  # this generator's own CPU, percent of one core

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.delivered)

    @property
    def deliveries_per_second(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else 0.0

    @property
    def messages_per_second(self) -> float:
        return self.published / self.seconds if self.seconds > 0 else 0.0

    @property
    def deliveries_per_cpu_second(self) -> float | None:
        """Deliveries per second of the target's own CPU time: on a shared machine, what it
        would do with a whole core (its share of the core varies; this does much less)."""
        if not self.hub_cpu:
            return None
        return self.deliveries_per_second / (self.hub_cpu / 100.0)

    def passes(self, p99_limit_ms: float) -> bool:
        """Every message arrived, and p99 latency is within the limit."""
        return self.lost == 0 and self.latency.samples > 0 and self.latency.p99 <= p99_limit_ms

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["lost"] = self.lost
        out["deliveries_per_second"] = round(self.deliveries_per_second, 1)
        out["messages_per_second"] = round(self.messages_per_second, 1)
        per_cpu = self.deliveries_per_cpu_second
        out["deliveries_per_cpu_second"] = None if per_cpu is None else round(per_cpu, 1)
        return out


@dataclass
class Connect:
    """Opening the subscribers and publishers."""

    connections: int = 0
    seconds: float = 0.0
    failed: int = 0
    rss_before_kib: int | None = None  # the hub's RSS before and after they were all open
    rss_after_kib: int | None = None

    @property
    def per_second(self) -> float:
        return self.connections / self.seconds if self.seconds > 0 else 0.0

    @property
    def rss_per_connection_bytes(self) -> float | None:
        if self.rss_before_kib is None or self.rss_after_kib is None or not self.connections:
            return None
        return (self.rss_after_kib - self.rss_before_kib) * 1024 / self.connections

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["per_second"] = round(self.per_second, 1)
        per = self.rss_per_connection_bytes
        out["rss_per_connection_bytes"] = None if per is None else round(per)
        return out


@dataclass
class Report:
    """Everything one `chathub bench` invocation measured."""

    target: str
    transport: str
    subscribers: int
    publishers: int
    rooms: int
    size: int
    connect: Connect
    trials: list[Trial] = field(default_factory=list)
    find_capacity: bool = False
    capacity: Trial | None = None  # with --find-capacity: the best passing trial

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "transport": self.transport,
            "subscribers": self.subscribers,
            "publishers": self.publishers,
            "rooms": self.rooms,
            "size": self.size,
            "connect": self.connect.as_dict(),
            "trials": [trial.as_dict() for trial in self.trials],
            "find_capacity": self.find_capacity,
            "capacity": None if self.capacity is None else self.capacity.as_dict(),
        }


def format_rate(value: float) -> str:
    """A rate with thousands separators and no decimals: 1234567.8 -> '1,234,568'."""
    return f"{value:,.0f}"


def trial_line(trial: Trial) -> str:
    """One line describing a trial."""
    asked = "max" if trial.rate is None else format_rate(trial.rate)
    line = (
        f"rate {asked} msg/s: {format_rate(trial.deliveries_per_second)} deliveries/s "
        f"({format_rate(trial.messages_per_second)} msg/s), lost {trial.lost}, "
        f"latency p50 {trial.latency.p50:.1f} ms p99 {trial.latency.p99:.1f} ms "
        f"max {trial.latency.max:.1f} ms"
    )
    if trial.hub_cpu is not None:
        line += f", hub cpu {trial.hub_cpu:.0f}%"
        per_cpu = trial.deliveries_per_cpu_second
        if per_cpu is not None:
            line += f" ({format_rate(per_cpu)} deliveries/cpu-s)"
    if trial.hub_rss_kib is not None:
        line += f" rss {trial.hub_rss_kib / 1024:.1f} MiB"
    if trial.bench_cpu is not None:
        line += f", bench cpu {trial.bench_cpu:.0f}%"
    return line


def progress_line(elapsed: float, delivered: int, rate: float, lost_so_far: int) -> str:
    """What the bench prints about once a second while a trial runs."""
    return (
        f"  {elapsed:5.1f}s  {format_rate(rate)} deliveries/s  "
        f"({format_rate(delivered)} so far, {format_rate(lost_so_far)} behind)"
    )


def summary_line(report: Report) -> str:
    """The one-line summary printed at the end."""
    head = (
        f"{report.target}/{report.transport}: {report.subscribers} subscribers, "
        f"{report.publishers} publishers, {report.rooms} room(s), {report.size} B"
    )
    connect = report.connect
    parts = [
        f"connect {connect.connections} in {connect.seconds:.2f}s "
        f"({format_rate(connect.per_second)}/s)"
    ]
    per = connect.rss_per_connection_bytes
    if per is not None:
        parts.append(f"{per / 1024:.1f} KiB rss/connection")
    if report.capacity is not None:
        cap = report.capacity
        parts.append(
            f"capacity {format_rate(cap.deliveries_per_second)} deliveries/s "
            f"(p99 {cap.latency.p99:.1f} ms)"
        )
    elif report.find_capacity:
        parts.append("no rate passed")
    elif report.trials:
        parts.append(trial_line(report.trials[-1]))
    return head + ": " + "; ".join(parts)
