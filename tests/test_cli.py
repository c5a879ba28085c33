"""The command line: flags and their documentation."""

import pytest

from chathub.cli import build_parser, config_from_args


def test_help_documents_every_flag(capsys):
    """`chathub --help` names every flag of PROTOCOL.md's command line."""
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ["--telnet", "--web", "--motd", "--ports-file", "--db", "--max-line", "--replay"]:
        assert flag in text


def test_defaults_are_the_documented_ones():
    """No flags: telnet on tcp:1025, web on tcp:8080, SQLite file in the working directory."""
    config = config_from_args(build_parser().parse_args([]))
    assert (config.listen.telnet, config.listen.web, config.store.db, config.line.max_line) == (
        "tcp:1025",
        "tcp:8080",
        "chathub.db",
        2048,
    )


@pytest.mark.parametrize("flags", [["--max-line", "0"], ["--max-line", "big"], ["--replay", "-1"]])
def test_bad_numbers_are_refused_with_a_message(flags, capsys):
    """A limit that is not a sensible number stops with exit 2 and says why."""
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(flags)
    assert exit_info.value.code == 2
    assert flags[0] in capsys.readouterr().err


def test_retention_flags_default_to_10000_messages_and_no_age_limit():
    """--retain-messages defaults to 10000 per room and --retain-days to 0 (no age limit)."""
    config = config_from_args(build_parser().parse_args([]))
    assert (config.store.retain_messages, config.store.retain_days) == (10_000, 0.0)
    config = config_from_args(build_parser().parse_args(["--retain-days", "0.5"]))
    assert config.store.retain_days == 0.5


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
def test_bad_retention_is_refused_with_a_message(flags, capsys):
    """Retention must keep at least one message and an age that is a finite number, 0 or more."""
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(flags)
    assert exit_info.value.code == 2
    assert flags[0] in capsys.readouterr().err
