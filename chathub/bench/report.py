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


# --- the connection storm (`--storm`) ---------------------------------------------------------


def spread(values_ms: list[float]) -> dict[str, float | int]:
    """Count, p50, p99 and max of millisecond figures (zeros when there are none)."""
    return {
        "count": len(values_ms),
        "p50": round(percentile(values_ms, 0.50), 2),
        "p99": round(percentile(values_ms, 0.99), 2),
        "max": round(max(values_ms), 2) if values_ms else 0.0,
    }


@dataclass
class Say:
    """One message said to the storm's room once every client had joined: how long each
    member took to have it, from just before it was sent."""

    members: int  # joined clients of the room when it was said
    received: int  # of them, how many had it before the deadline
    latencies_ms: list[float] = field(default_factory=list)
    hub_cpu_seconds: float | None = None  # the target's CPU from the send to the last receipt
    bench_cpu_seconds: float | None = None  # this bench's, over the same time

    @property
    def missing(self) -> int:
        return self.members - self.received

    def as_dict(self) -> dict[str, Any]:
        hub, bench = self.hub_cpu_seconds, self.bench_cpu_seconds
        return {
            "members": self.members,
            "received": self.received,
            "missing": self.missing,
            "latency_ms": spread(self.latencies_ms),
            "hub_cpu_seconds": None if hub is None else round(hub, 3),
            "bench_cpu_seconds": None if bench is None else round(bench, 3),
        }


@dataclass
class Storm:
    """`--storm`: N clients into one room as fast as the bench can open them."""

    target: str
    transport: str
    clients: int
    rooms: int = 1
    window: int = 0  # clients connecting or handshaking at once (0: no limit)
    handshaken: int = 0  # reached the end of their handshake (telnet greeting, WebSocket 101)
    joined: int = 0  # saw their own join
    joined_named: int = 0  # of them, by their nick (the rest: a telnet batch "and N others")
    refused: int = 0  # connect refused
    reset: int = 0  # reset by the target before joining
    closed: int = 0  # closed by the target before joining
    handshake_refused: int = 0  # a WebSocket status other than 101
    not_opened: int = 0  # the bench could not make the socket (descriptors, ports)
    timed_out: int = 0  # still not joined at the deadline
    dropped_after_join: int = 0  # closed or reset once joined
    seconds_to_handshaken: float | None = None  # from the first connect to the last handshake
    seconds_to_joined: float | None = None  # to the last own join (None: not all joined)
    handshake_ms: list[float] = field(default_factory=list)  # connect() to handshake, each
    join_ms: list[float] = field(default_factory=list)  # connect() to own join, each
    # Handshakes of a second or more: queued behind a full window, or a dropped SYN sent again
    # (the retransmit and listen counters below tell which).
    slow_connects: int = 0
    retransmits: int | None = None  # the kernel's count over the bench's sockets (TCP_INFO)
    # The kernel's counters over the storm (TcpExt ListenOverflows and ListenDrops): every
    # listener of this network namespace, so another program's overflows would count too.
    listen_overflows: int | None = None
    listen_drops: int | None = None
    hub_cpu_seconds: float | None = None  # the target's CPU time from the start to all joined
    hub_rss_before_kib: int | None = None
    hub_rss_after_kib: int | None = None  # once all joined
    bench_cpu_seconds: float | None = None
    bytes_received: int = 0  # what the bench read from the target until all joined
    say_after: float = 0.0
    says: list[Say] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return (
            self.refused + self.reset + self.closed + self.handshake_refused + self.not_opened
            + self.timed_out
        )  # fmt: skip

    @property
    def handshakes_per_second(self) -> float | None:
        seconds = self.seconds_to_handshaken
        return self.handshaken / seconds if seconds else None

    @property
    def joins_per_second(self) -> float | None:
        seconds = self.seconds_to_joined
        return self.joined / seconds if seconds else None

    @property
    def hub_cpu_share(self) -> float | None:
        """The target's CPU over the storm, percent of one core."""
        if self.hub_cpu_seconds is None or not self.seconds_to_joined:
            return None
        return 100.0 * self.hub_cpu_seconds / self.seconds_to_joined

    @property
    def rss_per_connection_bytes(self) -> float | None:
        if self.hub_rss_before_kib is None or self.hub_rss_after_kib is None or not self.joined:
            return None
        return (self.hub_rss_after_kib - self.hub_rss_before_kib) * 1024 / self.joined

    @property
    def say_latencies_ms(self) -> list[float]:
        return [value for say in self.says for value in say.latencies_ms]

    def as_dict(self) -> dict[str, Any]:
        def rounded(value: float | None, digits: int = 3) -> float | None:
            return None if value is None else round(value, digits)

        per = self.rss_per_connection_bytes
        return {
            "mode": "storm",
            "target": self.target,
            "transport": self.transport,
            "clients": self.clients,
            "rooms": self.rooms,
            "window": self.window,
            "handshaken": self.handshaken,
            "joined": self.joined,
            "joined_named": self.joined_named,
            "failed": self.failed,
            "refused": self.refused,
            "reset": self.reset,
            "closed": self.closed,
            "handshake_refused": self.handshake_refused,
            "not_opened": self.not_opened,
            "timed_out": self.timed_out,
            "dropped_after_join": self.dropped_after_join,
            "seconds_to_handshaken": rounded(self.seconds_to_handshaken),
            "handshakes_per_second": rounded(self.handshakes_per_second, 1),
            "seconds_to_joined": rounded(self.seconds_to_joined),
            "joins_per_second": rounded(self.joins_per_second, 1),
            "handshake_ms": spread(self.handshake_ms),
            "join_ms": spread(self.join_ms),
            "slow_connects": self.slow_connects,
            "retransmits": self.retransmits,
            "listen_overflows": self.listen_overflows,
            "listen_drops": self.listen_drops,
            "hub_cpu_seconds": rounded(self.hub_cpu_seconds, 2),
            "hub_cpu_percent": rounded(self.hub_cpu_share, 1),
            "hub_rss_before_kib": self.hub_rss_before_kib,
            "hub_rss_after_kib": self.hub_rss_after_kib,
            "rss_per_connection_bytes": None if per is None else round(per),
            "bench_cpu_seconds": rounded(self.bench_cpu_seconds, 2),
            "bytes_received": self.bytes_received,
            "say_after": self.say_after,
            "says": [say.as_dict() for say in self.says],
            "say_latency_ms": spread(self.say_latencies_ms),
        }


def storm_line(storm: Storm) -> str:
    """The one-line summary of a storm."""
    head = f"{storm.target}/{storm.transport} storm: {storm.clients} clients"
    if storm.rooms > 1:
        head += f" into {storm.rooms} rooms"
    if storm.seconds_to_joined is not None:
        joined = f"all {storm.joined} joined in {storm.seconds_to_joined:.2f}s"
    else:
        joined = f"{storm.joined} of {storm.clients} joined"
    parts = [joined]
    per_second = storm.handshakes_per_second
    if per_second is not None and storm.seconds_to_handshaken is not None:
        parts.append(f"handshakes {format_rate(per_second)}/s ({storm.seconds_to_handshaken:.2f}s)")
    failures = (
        f"refused {storm.refused}, reset {storm.reset}, closed {storm.closed}"
        f", handshake refused {storm.handshake_refused}, timed out {storm.timed_out}"
    )
    if storm.not_opened:
        failures += f", not opened {storm.not_opened}"
    parts.append(failures)
    slow = f"slow connects {storm.slow_connects}"
    if storm.retransmits is not None:
        slow += f", retransmits {storm.retransmits}"
    if storm.listen_overflows is not None:
        slow += f", listen overflows {storm.listen_overflows}"
    parts.append(slow)
    if storm.hub_cpu_seconds is not None:
        cpu = f"hub cpu {storm.hub_cpu_seconds:.2f}s"
        share = storm.hub_cpu_share
        if share is not None:
            cpu += f" ({share:.0f}%)"
        parts.append(cpu)
    per = storm.rss_per_connection_bytes
    if per is not None:
        parts.append(f"{per / 1024:.1f} KiB rss/connection")
    parts.append(f"read {storm.bytes_received / 1e6:.1f} MB")
    if storm.says:
        latencies = spread(storm.say_latencies_ms)
        missing = sum(say.missing for say in storm.says)
        parts.append(
            f"{len(storm.says)} message(s) to {storm.says[0].members} members: "
            f"p50 {latencies['p50']:.1f} ms p99 {latencies['p99']:.1f} ms "
            f"max {latencies['max']:.1f} ms, missing {missing}"
        )
    return head + ": " + "; ".join(parts)
