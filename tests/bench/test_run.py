"""`chathub bench`'s command line (`chathub/bench/run.py`), without connecting anywhere."""

import pytest

from chathub.bench import main
from chathub.bench.run import build_parser


def test_parser_defaults_to_chathub_over_telnet() -> None:
    """Without flags the bench measures chathub over telnet with 64-byte messages."""
    args = build_parser().parse_args([])
    assert (args.target, args.transport, args.size) == ("chathub", "telnet", 64)


def test_bench_refuses_a_running_target_without_ports(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --start the target's ports must be given; the error says which."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--transport", "ws"])
    assert exit_info.value.code == 2
    assert "--web-port" in capsys.readouterr().err


def test_bench_refuses_rooms_for_the_baseline_before_starting_it() -> None:
    """The baseline has one room: --rooms 2 is a usage error, found before anything starts."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--start", "--target", "baseline", "--rooms", "2"])
    assert exit_info.value.code == 2
