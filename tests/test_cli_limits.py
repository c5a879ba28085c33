"""The limit flags: documented defaults, parsing, and where the values go."""

import pytest

from chathub.config import FlowLimits, HubSettings
from chathub.options import ConfigError, load


def parse(*argv: str):
    return load(list(argv), {}).config


def test_limit_defaults_are_the_documented_ones():
    """No flags: the defaults of README's limits table."""
    config = parse()
    assert config.flow == FlowLimits(
        max_rate=10, burst=20, max_backlog=262144, slow_timeout=60, idle_timeout=86400
    )
    hub = config.hub
    assert (hub.max_connections, hub.max_per_ip) == (10000, 50)
    assert (hub.nick_changes_per_minute, hub.joins_per_minute, hub.max_rooms) == (5, 30, 20)


def test_limit_flags_reach_the_hub_and_the_adapters():
    """Every limit flag ends up in HubSettings or FlowLimits."""
    config = parse(
        "--max-connections", "7", "--max-per-ip", "3", "--max-rate", "2.5", "--burst", "4",
        "--max-backlog", "1000", "--slow-timeout", "9", "--idle-timeout", "0",
        "--nick-changes-per-minute", "1", "--joins-per-minute", "2", "--max-rooms", "3",
    )  # fmt: skip
    assert config.flow == FlowLimits(
        max_rate=2.5, burst=4, max_backlog=1000, slow_timeout=9, idle_timeout=0
    )
    assert config.hub == HubSettings(
        replay=50,
        nick_changes_per_minute=1,
        joins_per_minute=2,
        max_rooms=3,
        max_connections=7,
        max_per_ip=3,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--max-rate", "-1"],
        ["--max-rate", "nan"],
        ["--burst", "0"],
        ["--max-backlog", "0"],
        ["--max-connections", "-5"],
        ["--idle-timeout", "soon"],
    ],
)
def test_bad_limit_values_are_refused_naming_the_flag(argv):
    """Negative, zero where not allowed, or not numbers: refused, naming the flag and value."""
    with pytest.raises(ConfigError, match=f"^{argv[0]} {argv[1]}: "):
        parse(*argv)
