"""The command line: its commands, flags, documentation and exit codes."""

import os
import sys
import types

import pytest

from chathub import cli
from chathub.options import ConfigError, build_parser, load


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """The tests' own CHATHUB_* variables only, and never a real server."""
    for name in [name for name in os.environ if name.startswith("CHATHUB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(cli, "serve", lambda config: pytest.fail("chathub would have served"))


def test_help_documents_every_flag(capsys):
    """`chathub --help` names every flag of PROTOCOL.md's command line, and `--config`."""
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    flags = ["--telnet", "--web", "--motd", "--ports-file", "--db", "--max-line", "--replay"]
    for flag in [*flags, "--config", "--version", "chathub config", "CHATHUB_MAX_RATE"]:
        assert flag in text


def test_defaults_are_the_documented_ones():
    """No flags: telnet on tcp:1025, web on tcp:8080, SQLite file in the working directory."""
    config = load([], {}).config
    assert (config.listen.telnet, config.listen.web, config.store.db, config.line.max_line) == (
        "tcp:1025",
        "tcp:8080",
        "chathub.db",
        2048,
    )


@pytest.mark.parametrize("flags", [["--max-line", "0"], ["--max-line", "big"], ["--replay", "-1"]])
def test_bad_numbers_are_refused_with_a_message(flags):
    """A limit that is not a sensible number is refused with a message naming the flag."""
    with pytest.raises(ConfigError, match=f"^{flags[0]} {flags[1]}: "):
        load(flags, {})


def test_retention_flags_default_to_10000_messages_and_no_age_limit():
    """--retain-messages defaults to 10000 per room and --retain-days to 0 (no age limit)."""
    config = load([], {}).config
    assert (config.store.retain_messages, config.store.retain_days) == (10_000, 0.0)
    assert load(["--retain-days", "0.5"], {}).config.store.retain_days == 0.5


@pytest.mark.parametrize(
    "flags",
    [
        ["--retain-messages", "0"],
        ["--retain-days", "-1"],
        ["--retain-days", "nan"],
        ["--retain-days", "inf"],
        ["--retain-days", "week"],
    ],
)
def test_bad_retention_is_refused_with_a_message(flags):
    """Retention must keep at least one message and an age that is a finite number, 0 or more."""
    with pytest.raises(ConfigError, match=f"^{flags[0]} {flags[1]}: "):
        load(flags, {})


def test_a_bad_flag_exits_1_with_one_line(capsys):
    """`chathub --max-rate -1` prints one line naming the flag and its value, and exits 1."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--max-rate", "-1"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == "chathub: --max-rate -1: -1 is not 0 or more\n"


def test_an_unknown_flag_is_a_usage_error(capsys):
    """A flag that does not exist, even a prefix of one, is argparse's usage error, exit 2."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--max-rat", "5"])
    assert exit_info.value.code == 2
    assert "--max-rat" in capsys.readouterr().err


def test_config_command_prints_the_configuration_and_exits_0(capsys, monkeypatch):
    """`chathub config` prints every setting with its value and source, and exits 0."""
    monkeypatch.setenv("CHATHUB_BURST", "3")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["config", "--max-rate", "5"])
    assert exit_info.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert "max_rate = 5.0  # flag --max-rate" in lines
    assert "burst = 3  # env CHATHUB_BURST" in lines
    assert 'db = "chathub.db"  # default' in lines


def test_config_command_exits_1_on_a_bad_configuration(capsys, monkeypatch):
    """`chathub config` with a bad variable prints the one-line error and exits 1."""
    monkeypatch.setenv("CHATHUB_MAX_RATE", "abc")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["config"])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "chathub: CHATHUB_MAX_RATE=abc: not a number\n")


def test_config_command_help_names_itself(capsys):
    """`chathub config --help` is the config command's help, with the same flags."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["config", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: chathub config") and "--max-rate" in text


def test_bench_is_imported_by_name_and_gets_the_rest_of_the_arguments(monkeypatch):
    """`chathub bench ARGS` imports chathub.bench only then and exits with its main(ARGS)."""
    seen: list[list[str]] = []
    bench = types.ModuleType("chathub.bench")
    bench.main = lambda argv: seen.append(argv) or 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "chathub.bench", bench)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["bench", "--transport", "ws"])
    assert (exit_info.value.code, seen) == (7, [["--transport", "ws"]])
