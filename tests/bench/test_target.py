"""Starting and watching the measured process (`chathub/bench/target.py`), without starting it."""

import importlib.util
import os
from pathlib import Path

from chathub.bench.target import (
    UNLIMITED,
    baseline_command,
    hub_command,
    read_cpu_seconds,
    read_rss_kib,
    token_config,
)
from chathub.config import table


def test_proc_readers_see_this_process() -> None:
    """CPU seconds and RSS are read from /proc for a live pid, None for a missing one."""
    assert read_cpu_seconds(os.getpid()) is not None
    assert (read_rss_kib(os.getpid()) or 0) > 0
    assert read_rss_kib(2**22 + 1) is None


def test_a_started_hub_has_every_limit_a_bench_trips_turned_off() -> None:
    """The rate, per-address and total limits are settings, and a started hub gets each at 0."""
    command = hub_command(Path("ports.json"))
    for key in UNLIMITED:
        assert key in table()
        flag = "--" + key.replace("_", "-")
        assert command[command.index(flag) + 1] == "0"


def test_hub_args_come_last_so_they_override_the_bench() -> None:
    """`--hub-arg` flags follow the bench's own, so `--hub-arg=--max-rate=5` wins."""
    command = hub_command(Path("ports.json"), ["--max-rate=5"])
    assert command[-1] == "--max-rate=5"
    assert command[command.index("--ports-file") + 1] == "ports.json"


def test_the_baseline_runs_as_a_module_of_the_bench_package() -> None:
    """The baseline is started as `python -m chathub.bench.baseline`, which exists."""
    command = baseline_command(Path("ports.json"))
    assert command[1:3] == ["-m", "chathub.bench.baseline"]
    assert importlib.util.find_spec("chathub.bench.baseline") is not None


def test_a_token_config_is_one_the_hub_loads_and_the_secret_unlocks(tmp_path: Path) -> None:
    """`--publish-over http` with `--start`: the configuration file made for the hub loads
    (as chathub's own loader reads it) and holds a token for any room that the secret opens,
    with no rate a bench could reach."""
    from chathub.options import load
    from chathub.tokens import TokenTable

    secret, path = token_config(tmp_path)
    config = load(["--config", str(path)], {}).config
    token = TokenTable(config.tokens).find(secret)
    assert token is not None and token.allows("lobby") and token.allows("bench7")
    assert token.rate >= 1e9
