"""`chathub bench` for real: a short run against a hub and the baseline it starts itself."""

import json
import shutil
import subprocess
import sys

import pytest

from tests.e2e.conftest import ci


def run_bench(*args: str) -> dict:  # type: ignore[type-arg]
    command = [sys.executable, "-m", "chathub", "bench", "--start", "--json", "--quiet", *args]
    done = subprocess.run(command, capture_output=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)  # type: ignore[no-any-return]


SHORT = ("-n", "6", "--rate", "50", "--duration", "1", "--sampled", "2")


def test_bench_against_chathub_delivers_every_message() -> None:
    """A short telnet run against a started hub counts every delivery and measures latency."""
    report = run_bench(*SHORT)
    trial = report["trials"][0]
    assert report["connect"]["connections"] == 7
    assert trial["published"] > 0
    assert trial["delivered"] == trial["expected"] == trial["published"] * 6
    assert trial["lost"] == 0
    assert trial["latency"]["samples"] > 0
    assert trial["hub_rss_kib"] > 0


def test_bench_against_the_baseline_delivers_every_message() -> None:
    """The same run against the tutorial baseline proves the plumbing for the ratio."""
    report = run_bench("--target", "baseline", *SHORT)
    trial = report["trials"][0]
    assert trial["delivered"] == trial["expected"] == trial["published"] * 6


def test_bench_over_websocket_against_chathub_delivers_every_message() -> None:
    """Half telnet, half WebSocket subscribers all get every message."""
    report = run_bench("--transport", "mix", *SHORT)
    trial = report["trials"][0]
    assert trial["delivered"] == trial["expected"] == trial["published"] * 6


def test_bench_against_redis_counts_pushes() -> None:
    """Against redis-server, subscribers count the pushes of what publishers PUBLISH."""
    if shutil.which("redis-server") is None:
        if ci():
            pytest.fail("redis-server is required under CI")
        pytest.skip("redis-server is not installed")
    report = run_bench("--target", "redis", *SHORT)
    trial = report["trials"][0]
    assert trial["delivered"] == trial["expected"] == trial["published"] * 6


def test_storm_of_200_clients_all_join_and_all_get_the_message() -> None:
    """A storm of 200 clients, half telnet half WebSocket, into one room of a started hub: each
    sees its own join (in batches), nobody is refused, and one message reaches all 200."""
    report = run_bench(
        "--storm", "-n", "200", "--transport", "mix", "--then-say", "--say-after", "0.5"
    )
    assert report["mode"] == "storm"
    assert report["joined"] == report["handshaken"] == 200
    assert report["failed"] == 0
    assert report["seconds_to_joined"] > 0
    assert report["hub_cpu_seconds"] is not None
    [said] = report["says"]
    assert said["members"] == said["received"] == 200
    assert said["latency_ms"]["count"] == 200


def test_storm_against_the_baseline_joins_at_the_handshake() -> None:
    """The baseline announces no joins: its clients count as joined once connected."""
    report = run_bench("--target", "baseline", "--storm", "-n", "50", "--transport", "mix")
    assert report["joined"] == 50
    assert report["failed"] == 0
