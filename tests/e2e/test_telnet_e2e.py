"""Telnet users on the real chathub process, over real TCP."""

import signal
import socket
import subprocess
import sys
import time
import urllib.request

from tests.e2e.conftest import TelnetClient


def test_greeting_shows_motd_nick_and_help_hint(hub):
    """A new connection is greeted with `* ` lines and its guest nick, then joins lobby."""
    client = TelnetClient(hub.telnet)
    lines = client.expect("[lobby] -> ")
    assert lines[0] == "* Welcome to chathub."
    assert lines[1].startswith("* your nick is guest-")
    assert "/help" in lines[2]
    client.close()


def test_nick_change_is_seen_by_room_mates_and_clashes_are_refused(connect):
    """Renaming is announced to others; taking someone's nick in another case is refused."""
    alice = connect("alice")
    bob = connect()
    alice.expect("joined")
    bob.send("/nick Bob")
    assert alice.expect("is now known as Bob")[-1].endswith("is now known as Bob")
    bob.expect("is now known as Bob")
    bob.send("/nick ALICE")
    assert bob.expect("! ")[-1] == "! the nick ALICE is taken"


def test_message_crosses_between_terminals_and_rooms_are_isolated(connect):
    """A lobby message reaches lobby members only; a dev message reaches dev only."""
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    alice.send("/join dev")
    bob.send("/join dev")
    alice.expect("bob joined")  # alone, or in a batch with alice: "[dev] -> alice and bob joined"
    alice.send("dev talk")
    assert bob.expect("<alice>")[-1] == "[dev] <alice> dev talk"
    carol.send("lobby talk")
    assert carol.expect("<carol>")[-1] == "[lobby] <carol> lobby talk"
    assert alice.expect("<carol>")[-1] == "[lobby] <carol> lobby talk"
    # carol never joined dev: the next thing she sees is her own marker, not dev talk.
    carol.send("marker")
    assert "dev talk" not in " ".join(carol.expect("marker"))


def test_who_lists_room_members(connect):
    """/who answers with the members of the current room."""
    alice = connect("alice")
    connect("bob")
    alice.send("/who")
    assert alice.expect("* members of lobby")[-1] == "* members of lobby: alice, bob"


def test_private_message_reaches_only_its_target(connect):
    """/msg arrives as `[pm] <sender> text` to the target alone."""
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    alice.send("/msg bob just for you")
    assert bob.expect("[pm]")[-1] == "[pm] <alice> just for you"
    assert alice.expect("[pm -> bob]")[-1] == "[pm -> bob] <alice> just for you"
    carol.send("marker")
    assert "just for you" not in " ".join(carol.expect("marker"))


def test_quit_closes_the_connection_and_others_see_the_part(connect):
    """/quit REASON ends the connection; room mates see `<- nick left (REASON)`."""
    alice, bob = connect("alice"), connect("bob")
    alice.expect("is now known as bob")
    bob.send("/quit bedtime")
    bob.read_until_closed()
    assert alice.expect("left")[-1] == "[lobby] <- bob left (bedtime)"


def test_escape_sequences_are_stripped_before_reaching_others(connect):
    """An ANSI clear-screen and colour codes typed by one user never reach another."""
    alice, bob = connect("alice"), connect("bob")
    alice.send(b"\x1b[2J\x1b[31mred alert\x1b[0m\x07\r\n")
    line = bob.expect("red alert")[-1]
    assert line == "[lobby] <alice> red alert"


def test_counter_over_real_http(hub):
    """GET /counter counts up over a real HTTP connection."""
    bodies = []
    for _ in range(2):
        with urllib.request.urlopen(f"{hub.base_url}/counter", timeout=5) as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            bodies.append(response.read().decode())
    assert bodies == ["I am request #1", "I am request #2"]


def test_busy_port_is_refused_with_one_line_and_a_non_zero_exit(hub, tmp_path):
    """Starting on a port already in use exits non-zero within 5 s with a clear message."""
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "chathub",
            "--db",
            ":memory:",
            "--telnet",
            f"tcp:{hub.telnet}:interface=127.0.0.1",
            "--web",
            "tcp:0:interface=127.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=10,
        cwd=tmp_path,
    )
    assert time.monotonic() - started < 5
    assert result.returncode != 0
    assert f"cannot listen for telnet on tcp:{hub.telnet}" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_tells_clients_and_exits_zero(hub):
    """SIGTERM: every client gets `* server shutting down`, then the process exits 0."""
    client = TelnetClient(hub.telnet)
    client.expect("joined")
    assert hub.stop(signal.SIGTERM) == 0
    assert "* server shutting down" in client.read_until_closed()
    # The port is free again: nothing is left listening.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", hub.telnet)) != 0


def test_sigint_also_exits_zero(hub):
    """Ctrl-C (SIGINT) shuts down as cleanly as SIGTERM."""
    assert hub.stop(signal.SIGINT) == 0
