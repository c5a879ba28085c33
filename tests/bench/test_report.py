"""The bench's figures and their text (`chathub/bench/report.py`)."""

import json

from chathub.bench.report import (
    Connect,
    Latency,
    Report,
    Say,
    Storm,
    Trial,
    percentile,
    storm_line,
    summary_line,
)


def test_percentile_is_nearest_rank() -> None:
    """p50 of 1..100 is 50, p99 is 99, and an empty list gives 0."""
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile([], 0.99) == 0.0


def test_latency_summary_is_in_milliseconds() -> None:
    """Nanosecond samples become millisecond p50, p99 and max."""
    latency = Latency.from_ns([1_000_000 * i for i in range(1, 101)])
    assert (latency.samples, latency.p50, latency.p99, latency.max) == (100, 50.0, 99.0, 100.0)


def test_trial_counts_lost_and_rates() -> None:
    """Lost is expected minus delivered; rates are per second of the window."""
    trial = Trial(rate=100, seconds=2.0, published=200, expected=2000, delivered=1990)
    assert trial.lost == 10
    assert trial.deliveries_per_second == 995.0
    assert not trial.passes(100.0)


def test_trial_passes_only_without_loss_and_within_the_p99_limit() -> None:
    """A trial passes when nothing is lost and p99 is within the limit."""
    fast = Latency(samples=10, p50=1.0, p99=50.0, max=60.0)
    assert Trial(10, 1.0, 10, 100, 100, latency=fast).passes(100.0)
    assert not Trial(10, 1.0, 10, 100, 100, latency=fast).passes(20.0)


def test_report_json_has_the_figures() -> None:
    """The JSON report carries deliveries/s, lost, latency and connect rate."""
    trial = Trial(1000, 1.0, 1000, 100_000, 100_000, Latency(5, 1.0, 2.0, 3.0), 55.0, 60_000)
    report = Report(
        "chathub", "telnet", 100, 1, 1, 64, Connect(101, 0.5, 0, 50_000, 51_010), [trial]
    )
    data = json.loads(json.dumps(report.as_dict()))
    assert data["trials"][0]["deliveries_per_second"] == 100_000.0
    assert data["trials"][0]["lost"] == 0
    assert data["trials"][0]["latency"]["p99"] == 2.0
    assert data["connect"]["per_second"] == 202.0
    assert data["connect"]["rss_per_connection_bytes"] == 10240


def test_summary_line_names_capacity_when_found() -> None:
    """With --find-capacity the summary gives the best passing rate."""
    best = Trial(1000, 1.0, 1000, 1_000_000, 1_000_000, Latency(5, 1.0, 20.0, 30.0))
    report = Report("chathub", "ws", 1000, 1, 1, 64, Connect(1001, 1.0), [best], True, best)
    line = summary_line(report)
    assert "capacity 1,000,000 deliveries/s" in line
    assert "\n" not in line


def test_summary_line_says_when_no_rate_passed() -> None:
    """A capacity search where every trial failed says so."""
    report = Report("baseline", "telnet", 10, 1, 1, 64, Connect(11, 1.0), [], True, None)
    assert "no rate passed" in summary_line(report)


def test_deliveries_per_cpu_second_scale_by_the_targets_share_of_a_core() -> None:
    """At 50% of a core, 100,000 deliveries/s is 200,000 per CPU-second; unknown CPU is None."""
    trial = Trial(10, 1.0, 10, 100_000, 100_000, hub_cpu=50.0)
    assert trial.deliveries_per_cpu_second == 200_000.0
    assert Trial(10, 1.0, 10, 100_000, 100_000).deliveries_per_cpu_second is None


def test_storm_counts_failures_rates_and_rss_per_connection() -> None:
    """A storm's failures add up by cause; rates are per second to the last handshake and join."""
    storm = Storm("chathub", "telnet", 100, handshaken=98, joined=97, refused=1, reset=1)
    storm.timed_out = 1
    storm.seconds_to_handshaken, storm.seconds_to_joined = 0.5, None
    storm.hub_rss_before_kib, storm.hub_rss_after_kib = 1000, 1097
    assert storm.failed == 3
    assert storm.handshakes_per_second == 196.0
    assert storm.joins_per_second is None
    assert storm.rss_per_connection_bytes == 1024.0
    line = storm_line(storm)
    assert "97 of 100 joined" in line and "refused 1, reset 1" in line and "\n" not in line


def test_storm_json_has_the_join_time_cpu_and_each_message() -> None:
    """The JSON has the time to all joined, the hub's CPU share, and each message's p99."""
    storm = Storm("chathub", "ws", 4, handshaken=4, joined=4, seconds_to_joined=2.0)
    storm.hub_cpu_seconds = 1.0
    storm.says = [Say(4, 4, [1.0, 2.0, 3.0, 40.0]), Say(4, 3, [5.0, 6.0, 7.0])]
    data = json.loads(json.dumps(storm.as_dict()))
    assert data["seconds_to_joined"] == 2.0
    assert data["joins_per_second"] == 2.0
    assert data["hub_cpu_percent"] == 50.0
    assert data["says"][0]["latency_ms"] == {"count": 4, "p50": 2.0, "p99": 40.0, "max": 40.0}
    assert data["says"][1]["missing"] == 1
    assert data["say_latency_ms"]["count"] == 7
    assert "2 message(s) to 4 members" in storm_line(storm)
    assert "missing 1" in storm_line(storm)
