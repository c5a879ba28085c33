"""The real process takes settings from CHATHUB_* variables and --config, and refuses bad ones."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import HubProcess, TelnetClient, start_hub


def chathub(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m chathub ARGS` to its end, with these variables added to the environment."""
    return subprocess.run(
        [sys.executable, "-m", "chathub", *args],
        capture_output=True,
        text=True,
        timeout=10,
        cwd=tmp_path,
        env={**os.environ, **variables},
    )


@pytest.fixture
def stopped_after() -> Iterator[list[HubProcess]]:
    """Hubs to kill at the end of the test."""
    hubs: list[HubProcess] = []
    yield hubs
    for hub in hubs:
        if hub.process.poll() is None:
            hub.process.kill()
            hub.process.wait()


def test_chathub_max_rate_from_the_environment_limits_the_rate(
    tmp_path, monkeypatch, stopped_after
):
    """CHATHUB_MAX_RATE=5: `chathub config` says so, and a burst is told `at most 5 a second`."""
    shown = chathub(tmp_path, "config", CHATHUB_MAX_RATE="5")
    assert shown.returncode == 0
    assert "max_rate = 5.0  # env CHATHUB_MAX_RATE" in shown.stdout.splitlines()
    monkeypatch.setenv("CHATHUB_MAX_RATE", "5")
    monkeypatch.setenv("CHATHUB_BURST", "3")
    hub = start_hub(tmp_path, "--paste-window", "0", db=":memory:")  # ten lines, not a paste
    stopped_after.append(hub)
    sender = TelnetClient(hub.telnet)
    sender.expect("joined")
    sender.send(b"".join(b"line %d\r\n" % n for n in range(10)))
    sender.expect("you are sending too fast: at most 5 messages a second")
    sender.close()


def test_a_config_file_is_read(tmp_path, stopped_after):
    """--config chathub.toml: its motd greets clients and `chathub config` names the file."""
    (tmp_path / "chathub.toml").write_text('motd = "Hello from the file."\nmax_line = 512\n')
    hub = start_hub(tmp_path, "--config", "chathub.toml", db=":memory:")
    stopped_after.append(hub)
    client = TelnetClient(hub.telnet)
    client.expect("* Hello from the file.")
    client.close()
    shown = chathub(tmp_path, "config", "--config", "chathub.toml")
    lines = shown.stdout.splitlines()
    assert 'motd = "Hello from the file."  # file chathub.toml' in lines
    assert "max_line = 512  # file chathub.toml" in lines


@pytest.mark.parametrize(
    ("args", "variables", "toml", "line"),
    [
        ([], {"CHATHUB_MAX_RATE": "abc"}, None, "chathub: CHATHUB_MAX_RATE=abc: not a number"),
        ([], {"CHATHUB_MAX_RAT": "5"}, None, "chathub: unknown setting CHATHUB_MAX_RAT in the "
         "environment (did you mean CHATHUB_MAX_RATE?)"),
        (["--config", "chathub.toml"], {}, "max_rate = -1\n",
         "chathub: max_rate = -1 in chathub.toml: -1 is not 0 or more"),
        (["--config", "chathub.toml"], {}, "max_rat = 10\n",
         "chathub: unknown setting max_rat in chathub.toml (did you mean max_rate?)"),
        (["--config", "chathub.toml"], {}, "max_rate = \n", "chathub: chathub.toml is not valid "
         "TOML: Invalid value (at line 1, column 12)"),
        (["--config", "missing.toml"], {}, None,
         "chathub: cannot read missing.toml: No such file or directory"),
        (["--burst", "0"], {}, None, "chathub: --burst 0: 0 is not 1 or more"),
    ],
)  # fmt: skip
def test_a_bad_configuration_exits_1_quickly_with_one_line(tmp_path, args, variables, toml, line):
    """Serving or `chathub config`: exit 1 within 5 s, the one line on stderr, nothing else."""
    if toml is not None:
        (tmp_path / "chathub.toml").write_text(toml)
    for command in (["--db", ":memory:", "--telnet", "tcp:0", "--web", "tcp:0"], ["config"]):
        started = time.monotonic()
        result = chathub(tmp_path, *command, *args, **variables)
        assert time.monotonic() - started < 5
        assert (result.returncode, result.stderr, result.stdout) == (1, line + "\n", "")
