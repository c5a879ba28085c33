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


def test_storm_flags_default_to_a_window_under_the_hubs_backlog() -> None:
    """`--storm` opens at most 1,000 handshakes at once; `--then-say` alone says one message."""
    args = build_parser().parse_args(["--storm", "--then-say"])
    assert (args.storm, args.storm_window, args.then_say) == (True, 1000, 1)
    assert args.say_after > 5  # longer than the hub's presence digest


@pytest.mark.parametrize(
    ("argv", "needs"),
    [
        (["--storm", "--target", "redis", "--start"], "not redis"),
        (["--storm", "--transport", "mix", "--telnet-port", "1"], "--web-port"),
        (["--storm", "--transport", "ws", "--telnet-port", "1"], "--web-port"),
        (["--storm", "--start", "--then-say", "-1"], "--then-say"),
    ],
)
def test_storm_usage_errors_are_found_before_anything_starts(
    argv: list[str], needs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A storm needs the port of each wire it opens (not a publisher's), and no redis."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert needs in capsys.readouterr().err


def test_a_storm_needs_no_publisher() -> None:
    """`--storm -m 0` with the telnet port of a running hub passes the checks (no trial)."""
    from chathub.bench.run import _check

    parser = build_parser()
    _check(parser.parse_args(["--storm", "-m", "0", "--telnet-port", "1"]), parser)


@pytest.mark.parametrize(
    ("argv", "needs"),
    [
        (["--transport", "sse", "--telnet-port", "1"], "--web-port"),
        (["--transport", "sse", "--publish-over", "http", "--web-port", "1"], "--token"),
        (["--publish-over", "http", "--telnet-port", "1"], "--web-port, --token"),
        (["--start", "--target", "baseline", "--transport", "sse"], "chathub's"),
        (["--start", "--target", "redis", "--publish-over", "http"], "chathub's"),
    ],
)
def test_scripts_wires_need_the_web_port_a_token_and_chathub(
    argv: list[str], needs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Event streams and HTTP publishing go to the web port; HTTP publishing to a running hub
    needs its token (a started one gets its own); neither exists on the baseline or redis."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert needs in capsys.readouterr().err


def test_sse_and_http_against_a_running_hub_pass_the_checks() -> None:
    """With the web port and a token nothing more is needed."""
    from chathub.bench.run import _check

    parser = build_parser()
    argv = ["--transport", "sse", "--publish-over", "http", "--web-port", "1", "--token", "t"]
    _check(parser.parse_args(argv), parser)


@pytest.mark.parametrize("batch", ["0", "101"])
def test_http_batch_is_1_to_100(batch: str, capsys: pytest.CaptureFixture[str]) -> None:
    """chathub takes arrays of up to 100 messages."""
    with pytest.raises(SystemExit):
        main(["--start", "--publish-over", "http", "--http-batch", batch])
    assert "--http-batch must be 1 to 100" in capsys.readouterr().err
