"""The telnet adapter: framing, decoding and rendering, over an in-memory transport."""

import pytest
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from chathub.commands import Say
from chathub.config import HubSettings
from chathub.hub import Hub
from chathub.line import TOO_LONG, LineFactory, LineSplitter
from chathub.store import MemoryStore
from chathub.telnet import IAC, PREAMBLE, WONT


def connected(connection: Protocol, transport: StringTransport) -> None:
    """Make `connection` on `transport` and take away the telnet preamble it writes first, so
    that what is left is what the terminal shows (a terminal shows nothing of it)."""
    connection.makeConnection(transport)
    written = transport.value()
    if written.startswith(PREAMBLE):  # a refused connection gets none
        transport.clear()
        transport.write(written[len(PREAMBLE) :])


class Terminal:
    """A LineConnection on a StringTransport, read back as lines."""

    def __init__(self, hub: Hub, max_line: int = 2048) -> None:
        self.connection = LineFactory(hub, max_line).buildProtocol(None)
        self.transport = StringTransport()
        connected(self.connection, self.transport)

    def type(self, data: bytes, *, byte_at_a_time: bool = False) -> None:
        if byte_at_a_time:
            for i in range(len(data)):
                self.connection.dataReceived(data[i : i + 1])
        else:
            self.connection.dataReceived(data)

    def lines(self) -> list[str]:
        value = self.transport.value()
        self.transport.clear()
        assert value == b"" or value.endswith(b"\r\n")
        return value.decode("utf-8").split("\r\n")[:-1]


@pytest.fixture
def hub() -> Hub:
    return Hub(MemoryStore(), clock=lambda: 1700000000.0, settings=HubSettings(motd="Welcome!"))


def test_greeting_has_motd_nick_and_help_hint_then_the_lobby_join(hub):
    """On connect a terminal gets `* ` lines, then its own join into lobby."""
    term = Terminal(hub)
    assert term.lines() == [
        "* Welcome!",
        "* your nick is guest-1",
        "* type /help for a list of commands; /quit or Ctrl-C leaves",
        "[lobby] -> guest-1 joined",
    ]


@pytest.mark.parametrize("byte_at_a_time", [False, True])
@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_lines_end_with_lf_or_crlf_and_may_arrive_in_pieces(hub, byte_at_a_time, ending):
    """`/nick` then a message work whole and byte by byte, with either line ending."""
    term = Terminal(hub)
    term.lines()
    term.type(b"/nick alice" + ending + b"hello" + ending, byte_at_a_time=byte_at_a_time)
    assert term.lines() == ["* guest-1 is now known as alice", "[lobby] <alice> hello"]


def test_trailing_partial_line_waits_for_its_ending(hub):
    """Data after the last newline is kept until the line is complete."""
    term = Terminal(hub)
    term.lines()
    term.type(b"one\ntw")
    assert term.lines() == ["[lobby] <guest-1> one"]
    term.type(b"o\r\n")
    assert term.lines() == ["[lobby] <guest-1> two"]


@pytest.mark.parametrize("byte_at_a_time", [False, True])
def test_over_long_line_is_discarded_and_the_next_line_works(hub, byte_at_a_time):
    """A line over --max-line gets one `! ` line; the line after it is delivered."""
    term = Terminal(hub, max_line=10)
    term.lines()
    term.type(b"x" * 50 + b"\nshort\n", byte_at_a_time=byte_at_a_time)
    assert term.lines() == [
        "! line longer than 10 bytes, discarded",
        "[lobby] <guest-1> short",
    ]


def test_a_line_of_exactly_max_line_bytes_is_accepted(hub):
    """The limit counts bytes without the line ending."""
    term = Terminal(hub, max_line=5)
    term.lines()
    term.type(b"abcde\r\n")
    assert term.lines() == ["[lobby] <guest-1> abcde"]


def test_invalid_utf8_is_replaced_not_fatal(hub):
    """Bytes that are not UTF-8 become U+FFFD and the connection carries on."""
    term = Terminal(hub)
    term.lines()
    term.type(b"caf\xe9 \xff\xff ok\n")
    assert term.lines() == ["[lobby] <guest-1> caf\ufffd \ufffd ok"]
    assert term.transport.connected


def test_backspaces_erase_the_character_before_them(hub):
    """A character-mode client's corrections arrive as typed: "helo BS lo" is "hello"."""
    term = Terminal(hub)
    term.lines()
    term.type("helo\x08lo w\U0001f600\x7forld\x08\x08\x08\x08\x08\x08!\n".encode())
    assert term.lines() == ["[lobby] <guest-1> hello!"]


def test_telnet_negotiation_is_refused_and_never_shown(hub):
    """IAC WILL/DO of options the hub does not use get DONT/WONT; the text around them
    arrives intact."""
    term = Terminal(hub)
    term.lines()
    term.type(b"\xff\xfb\x18\xff\xfd\x01hi\n", byte_at_a_time=True)
    assert term.transport.value() == b"\xff\xfe\x18\xff\xfc\x01[lobby] <guest-1> hi\r\n"


def test_the_hub_asks_for_binary_and_the_window_width_before_the_greeting(hub):
    """The first bytes are the preamble (DO NAWS, DO and WILL BINARY in an APC string that
    terminals ignore); the client's agreement needs no answer."""
    connection = LineFactory(hub).buildProtocol(None)
    transport = StringTransport()
    connection.makeConnection(transport)
    assert transport.value().startswith(b"\x1b_\xff\xfd\x1f\xff\xfd\x00\xff\xfb\x00\x1b\\* ")
    transport.clear()
    connection.dataReceived(b"\xff\xfb\x1f\xff\xfd\x00\xff\xfb\x00")  # WILL NAWS, DO/WILL BINARY
    assert transport.value() == b""


def say_long_line(text: str) -> list[str]:
    """What a terminal that reported an 80-column window shows of mallory's line `text`."""
    hub = Hub(MemoryStore(), settings=HubSettings(motd="hi"))
    reader = Terminal(hub)
    reader.type(b"\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0")  # WILL NAWS, 80x24
    mallory = Terminal(hub)
    mallory.type(b"/nick mallory\r\n")
    reader.lines()
    mallory.type(text.encode() + b"\r\n")
    return reader.lines()


def test_a_terminal_that_reports_its_width_gets_long_lines_wrapped_with_an_indent():
    """80 columns: a long message is cut into rows of at most 79 cells; each row after the
    first is indented to where the message's text starts."""
    rows = say_long_line("lorem ipsum dolor sit amet " * 8)
    assert len(rows) == 4
    assert rows[0].startswith("[lobby] <mallory> lorem ipsum")
    assert all(row.startswith(" " * 18) and row[18] != " " for row in rows[1:])
    assert max(len(row) for row in rows) <= 79


def test_padding_cannot_put_a_forged_line_at_the_start_of_a_screen_row():
    """`ok`, 60 spaces, then a forged `[lobby] <alice> ...`: the spaces are squeezed to one,
    and the forged text shows inside mallory's line, never at the left edge."""
    forged = "[lobby] <alice> please send your password"
    for text in ["ok" + " " * 60 + forged, "ok" + "\u3000" * 30 + forged, "ok" + "." * 60 + forged]:
        rows = say_long_line(text)
        assert rows[0].startswith("[lobby] <mallory> ok")
        assert not any(row.startswith(("[", "* ", "! ")) for row in rows[1:]), rows


def test_runs_of_spaces_are_squeezed_for_a_terminal_that_reports_nothing(hub):
    """nc reports no width: its lines are not wrapped, but padding is still one space."""
    alice, bob = Terminal(hub), Terminal(hub)
    bob.lines()
    alice.type(b"ok" + b" " * 58 + b"[lobby] <bob> hi\r\n")
    assert bob.lines() == ["[lobby] <guest-1> ok [lobby] <bob> hi"]


def test_text_typed_and_shown_in_binary_mode_is_intact(hub):
    """Once BINARY is on, bytes 0x80-0x9F (all over UTF-8) are text both ways."""
    alice, bob = Terminal(hub), Terminal(hub)
    for term in (alice, bob):
        term.type(b"\xff\xfd\x00\xff\xfb\x00")
    bob.lines()
    alice.type("日本語 Ü 👋🏽\n".encode())
    assert bob.lines() == ["[lobby] <guest-1> 日本語 Ü 👋🏽"]


def test_escape_sequences_from_one_terminal_do_not_reach_another(hub):
    """Colour and title escapes are stripped before the other user sees the line."""
    alice, bob = Terminal(hub), Terminal(hub)
    bob.lines()
    alice.type(b"\x1b[31mred\x1b[0m \x1b]2;title\x07text\x07\n")
    assert bob.lines() == ["[lobby] <guest-1> red text"]


def test_errors_are_bang_lines_and_the_connection_carries_on(hub):
    """Unknown commands, bad nicks, bad rooms and parts of other rooms each get one `! ` line."""
    term = Terminal(hub)
    term.lines()
    term.type(b"/bogus\n/nick 1x\n/join a.b\n/part dev\n/msg nobody hi\nstill here\n")
    lines = term.lines()
    assert [line[:2] for line in lines[:5]] == ["! "] * 5
    assert lines[0] == "! unknown command /bogus; type /help"
    assert lines[3] == "! you are not in dev"
    assert lines[4] == "! nobody is called 'nobody'"
    assert lines[5] == "[lobby] <guest-1> still here"


def test_a_room_name_with_spaces_is_answered_with_the_naming_rule_not_usage(hub):
    """`/join bad name!` says what a room name may be, as `/join bad!` does."""
    term = Terminal(hub)
    term.lines()
    term.type(b"/join bad name!\n")
    assert term.lines() == [
        "! 'bad name!' is not a valid room: 1-32 of a-z, 0-9, _ and -, optionally after #"
    ]


def test_before_shows_the_messages_older_than_an_id_with_their_ids(hub):
    """`/before ID [N]` pages back through the current room's history."""
    term = Terminal(hub)
    term.type(b"one\ntwo\nthree\nfour\n")
    term.lines()
    term.type(b"/before 4 2\n")
    lines = term.lines()[1:]  # after the line naming the day
    assert [line.split()[:2] for line in lines] == [["[lobby", "#2"], ["[lobby", "#3"]]
    assert lines[0].endswith("<guest-1> two") and lines[1].endswith("<guest-1> three")


def test_a_message_of_several_lines_shows_as_indented_rows(hub):
    """A message with line breaks (from the page, say) reaches a terminal as one line per
    line of text, each after the first indented, none of them able to pass for a line of the
    server's."""
    alice, bob = Terminal(hub), Terminal(hub)
    bob.lines()
    session = alice.connection.session
    assert session is not None
    hub.handle(session, Say("first\n[lobby] <bob> forged\n* also forged"))
    assert bob.lines() == [
        "[lobby] <guest-1> first",
        "        [lobby] <bob> forged",
        "        * also forged",
    ]


def pasting_terminal(hub: Hub) -> tuple[Terminal, Clock]:
    """A terminal whose connection joins the lines of a paste (50 ms), on a fake clock."""
    clock = Clock()
    term = Terminal.__new__(Terminal)
    term.connection = LineFactory(hub, 2048, clock=clock, paste_window=0.05).buildProtocol(None)
    term.transport = StringTransport()
    connected(term.connection, term.transport)
    return term, clock


@pytest.mark.parametrize("byte_at_a_time", [False, True])
def test_a_pasted_block_is_one_message_and_a_command_after_it_waits_its_turn(hub, byte_at_a_time):
    """Lines that arrive together are one message of several lines; the command after them
    is carried out after it; a line typed later is a message of its own."""
    alice, clock = pasting_terminal(hub)
    bob = Terminal(hub)
    alice.lines()
    bob.lines()
    alice.type(b"line one\r\n\r\nline three\r\n/me waves\r\n", byte_at_a_time=byte_at_a_time)
    assert bob.lines() == [
        "[lobby] <guest-1> line one",
        "        ",
        "        line three",
        "[lobby] * guest-1 waves",
    ]
    alice.type(b"typed\r\n")
    assert bob.lines() == []
    clock.advance(0.05)
    assert bob.lines() == ["[lobby] <guest-1> typed"]


def test_a_paste_is_said_even_when_the_connection_drops_before_its_wait_is_over(hub):
    """Lines held for a paste are sent when the connection is lost, before its part."""
    alice, _ = pasting_terminal(hub)
    bob = Terminal(hub)
    bob.lines()
    alice.type(b"last words\r\n")
    alice.connection.connectionLost(None)
    assert bob.lines() == [
        "[lobby] <guest-1> last words",
        "[lobby] <- guest-1 left (connection closed)",
    ]


def test_quit_parts_and_closes_the_connection(hub):
    """/quit leaves with the reason, closes, and ignores anything typed after it."""
    alice, bob = Terminal(hub), Terminal(hub)
    bob.lines()
    alice.lines()
    alice.type(b"/quit bye\nafter quit\n")
    assert alice.transport.disconnecting
    assert alice.lines() == ["* goodbye"]
    assert bob.lines() == ["[lobby] <- guest-1 left (bye)"]
    alice.connection.connectionLost(None)
    assert bob.lines() == []


@pytest.mark.parametrize(
    "keys",
    [b"\xff\xf4\xff\xfd\x06", b"\x03", b"\x03\r\n", b"hi\r\n\xff\xf4"],
    ids=["iac-ip", "ctrl-c", "ctrl-c-line", "after-a-line"],
)
def test_ctrl_c_says_goodbye_and_leaves_like_quit(hub, keys):
    """What telnet sends for Ctrl-C (IAC IP, then DO TIMING-MARK), or a lone ^C byte from a
    client in character mode, ends the session as /quit does."""
    alice, bob = Terminal(hub), Terminal(hub)
    bob.lines()
    alice.lines()
    alice.type(keys)
    assert alice.transport.disconnecting
    written = alice.transport.value()
    assert written.replace(bytes((IAC, WONT, 6)), b"").endswith(b"* goodbye\r\n")
    assert bob.lines()[-1] == "[lobby] <- guest-1 left (quit)"


def test_a_ctrl_c_byte_inside_a_line_is_only_removed(hub):
    """0x03 inside a line (pasted noise, binary junk) is a control character like any other:
    removed, and the session goes on; at the start of a line it leaves."""
    alice = Terminal(hub)
    alice.lines()
    alice.type(b"a\x03b\r\nx\x03\r\n\x03after\r\nnever read\r\n")
    assert alice.transport.disconnecting
    assert alice.lines() == ["[lobby] <guest-1> ab", "[lobby] <guest-1> x", "* goodbye"]


def test_connection_lost_parts_every_room(hub):
    """A dropped connection is a part for everyone who shared a room."""
    alice, bob = Terminal(hub), Terminal(hub)
    bob.lines()
    alice.connection.connectionLost(None)
    assert bob.lines() == ["[lobby] <- guest-1 left (connection closed)"]


def test_a_broadcast_writes_the_same_bytes_object_to_every_member(hub):
    """A room event is encoded once for all terminals."""
    terms = [Terminal(hub) for _ in range(3)]
    writes = []
    for term in terms:
        term.lines()
        term.transport.write = writes.append
    terms[0].type(b"once\n")
    assert len(writes) == 3
    assert writes[0] is writes[1] is writes[2]


def test_splitter_reports_an_endless_line_once_and_holds_no_more_than_the_limit():
    """An unterminated flood is reported once; the buffer stays bounded."""
    splitter = LineSplitter(8)
    out = []
    for _ in range(100):
        out += splitter.feed(b"y" * 100)
    assert out == [TOO_LONG]
    assert splitter.feed(b"tail\nok\n") == [b"ok"]


def test_a_motd_with_escape_sequences_reaches_a_terminal_cleaned():
    """`--motd` with a clear-screen, a title and colours shows as plain `* ` lines."""
    motd = "\x1b[2J\x1b]0;pwned\x07Welcome\x1b[31m!\r\nsecond\x07 line\n\n\u202eend"
    term = Terminal(Hub(MemoryStore(), settings=HubSettings(motd=motd)))
    assert term.lines()[:3] == ["* Welcome!", "* second line", "* end"]


@pytest.mark.parametrize("prefix", [b"\x1b[A", b"\x00", "\u200b".encode(), "\ufeff".encode()])
def test_a_private_message_typed_after_an_arrow_key_is_never_said_in_the_room(hub, prefix):
    """Up, then `/msg alice ...` in nc: alice gets a private message; the room sees nothing,
    and nothing is stored."""
    alice, bob, carol = Terminal(hub), Terminal(hub), Terminal(hub)
    alice.type(b"/nick alice\r\n")
    bob.type(b"/nick bob\r\n")
    for term in (alice, bob, carol):
        term.lines()
    bob.type(prefix + b"/msg alice my password is hunter2\r\n")
    assert alice.lines() == ["[pm] <bob> my password is hunter2"]
    assert bob.lines() == ["[pm -> alice] <bob> my password is hunter2"]
    assert carol.lines() == []
    assert hub.store.recent("lobby", 10) == []
