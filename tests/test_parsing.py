"""Parsing telnet lines and WebSocket JSON into commands."""

import pytest

from chathub import commands as cmd
from chathub import parsing
from chathub.events import Error


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("hello world", cmd.Say("hello world")),
        ("//etc/passwd is a path", cmd.Say("/etc/passwd is a path")),
        ("/nick alice", cmd.Nick("alice")),
        ("/NICK alice", cmd.Nick("alice")),
        ("/join #Dev", cmd.Join("#Dev")),
        ("/part", cmd.Part()),
        ("/part dev", cmd.Part("dev")),
        ("/part #dev off to lunch", cmd.Part("#dev", "off to lunch")),
        ("/rooms", cmd.Rooms()),
        ("/who", cmd.Who()),
        ("/who dev", cmd.Who("dev")),
        ("/me waves hello", cmd.Me("waves hello")),
        ("/msg bob are you there?", cmd.Msg("bob", "are you there?")),
        ("/pms", cmd.Conversations()),
        ("/pms bob", cmd.PmHistory("bob", limit=20)),
        ("/PMS bob 5", cmd.PmHistory("bob", limit=5)),
        ("/history", cmd.History()),
        ("/history 5", cmd.History(limit=5)),
        ("/since 42", cmd.History(since=42)),
        ("/since 42 dev", cmd.History("dev", since=42)),
        ("/before 42", cmd.History(before=42)),
        ("/before 42 5", cmd.History(before=42, limit=5)),
        ("/help", cmd.Help()),
        ("/quit", cmd.Quit()),
        ("/quit see you", cmd.Quit("see you")),
    ],
)
def test_parse_line_reads_each_command(line, command):
    """Every line-protocol command parses to its dataclass."""
    assert parsing.parse_line(line) == command


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("/nick\tbob", cmd.Nick("bob")),
        ("/join\t#dev", cmd.Join("#dev")),
        ("/msg\tbob\tare you there?", cmd.Msg("bob", "are you there?")),
    ],
)
def test_a_tab_separates_a_command_and_its_arguments_like_a_space(line, command):
    """`/nick<TAB>bob` is /nick bob, not an unknown command shown as "/nick bob"."""
    assert parsing.parse_line(line) == command


def test_blank_lines_do_nothing():
    """Empty and whitespace-only lines are not messages."""
    assert parsing.parse_line("") is None
    assert parsing.parse_line("   ") is None


@pytest.mark.parametrize(
    "line",
    [
        "/nick",
        "/nick a b",
        "/join",
        "/me",
        "/msg bob",
        "/msg",
        "/history x",
        "/history 0",
        "/since",
        "/since x",
        "/since 1 2 3",
        "/who a b",
        "/history ²",
        "/before",
        "/before x",
        "/before 1 0",
        "/before 1 x",
        "/before 1 2 3",
        "/pms bob 0",
        "/pms bob x",
        "/pms bob 1 2",
    ],
)
def test_parse_line_answers_missing_or_extra_arguments_with_usage(line):
    """A command with the wrong arguments gets a usage error, not an exception."""
    result = parsing.parse_line(line)
    assert isinstance(result, Error)
    assert result.code == "usage"
    assert result.message.startswith("usage: /")


def test_unknown_commands_are_an_error_naming_the_command():
    """`/frobnicate` is refused with a hint to /help."""
    result = parsing.parse_line("/frobnicate now")
    assert result == Error("unknown-command", "unknown command /frobnicate; type /help")


def test_unknown_command_is_quoted_back_without_escapes_or_controls():
    """`/\x1b[2J` is named in the error without the escape, which would clear the screen."""
    result = parsing.parse_line("/\x1b[2Jx\u202e\x00 now")
    assert result == Error("unknown-command", "unknown command /x; type /help")


@pytest.mark.parametrize(
    ("message", "command"),
    [
        ({"op": "say", "room": "dev", "text": "hi", "ref": "a1"}, cmd.Say("hi", "dev", "a1")),
        ({"op": "say", "text": "hi"}, cmd.Say("hi")),
        ({"op": "me", "room": "dev", "text": "waves"}, cmd.Me("waves", "dev")),
        ({"op": "join", "room": "dev", "ref": 7}, cmd.Join("dev", 7)),
        ({"op": "typing", "room": "dev"}, cmd.Typing("dev")),
        ({"op": "typing", "ref": "t"}, cmd.Typing(None, "t")),
        (
            {"op": "history", "room": "dev", "before": 42, "limit": 5},
            cmd.History("dev", limit=5, before=42),
        ),
        ({"op": "part", "room": "dev"}, cmd.Part("dev")),
        ({"op": "nick", "nick": "zoe"}, cmd.Nick("zoe")),
        ({"op": "who", "room": "dev"}, cmd.Who("dev")),
        ({"op": "rooms"}, cmd.Rooms()),
        ({"op": "history", "room": "dev", "since": 3, "limit": 10}, cmd.History("dev", 3, 10)),
        ({"op": "msg", "to": "bob", "text": "psst"}, cmd.Msg("bob", "psst")),
        ({"op": "conversations", "ref": 1}, cmd.Conversations(1)),
        ({"op": "pm_history", "with": "bob"}, cmd.PmHistory("bob")),
        (
            {"op": "pm_history", "with": "bob", "before": 12, "limit": 5, "ref": "p"},
            cmd.PmHistory("bob", 12, 5, "p"),
        ),
    ],
)
def test_parse_json_reads_each_op(message, command):
    """Every WebSocket op parses to its dataclass, with its ref."""
    assert parsing.parse_json(message) == command


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ([1, 2], "bad-request"),
        ("say", "bad-request"),
        ({}, "bad-request"),
        ({"op": "dance"}, "unknown-op"),
        ({"op": "say"}, "bad-request"),
        ({"op": "say", "text": 5}, "bad-request"),
        ({"op": "join", "room": ["dev"]}, "bad-request"),
        ({"op": "history", "room": "dev", "before": "42"}, "bad-request"),
        ({"op": "history", "room": "dev", "since": "3"}, "bad-request"),
        ({"op": "history", "room": "dev", "limit": True}, "bad-request"),
        ({"op": "rooms", "ref": {"x": 1}}, "bad-request"),
        ({"op": "pm_history"}, "bad-request"),
        ({"op": "pm_history", "with": 3}, "bad-request"),
        ({"op": "pm_history", "with": "bob", "before": "12"}, "bad-request"),
        ({"op": "pm_history", "with": "bob", "limit": True}, "bad-request"),
    ],
)
def test_parse_json_refuses_malformed_messages_with_an_error(message, code):
    """Non-objects, unknown ops and missing or wrong-typed fields are errors."""
    result = parsing.parse_json(message)
    assert isinstance(result, Error)
    assert result.code == code


def test_json_ref_is_echoable_even_when_the_message_is_bad():
    """The ref of an invalid op is still found, so its error can carry it."""
    assert parsing.json_ref({"op": "dance", "ref": "r9"}) == "r9"
    assert parsing.json_ref({"ref": 3}) == 3
    assert parsing.json_ref({"ref": True}) is None
    assert parsing.json_ref([1]) is None


@pytest.mark.parametrize(
    "prefix",
    [
        "\x1b[A",  # the Up arrow in nc
        "\x1bOA",  # the Up arrow in a terminal's application mode
        "\x1b[A\x1b[B\x1b[D",
        "\x1b",  # Escape pressed alone: ESC / m would read as one escape sequence
        "\x00",
        "\u200b",  # zero-width space
        "\ufeff",  # byte order mark
        "\u200e",  # left-to-right mark
        "\u202e\u2066",
        "  ",
        "\u3000\u00a0",  # ideographic and no-break spaces
        "\u3164",  # Hangul filler: a letter that shows nothing
        "\u0301",  # a combining accent with nothing to sit on
    ],
)
def test_a_line_whose_first_visible_character_is_a_slash_is_a_command(prefix):
    """Invisible characters and stray escape sequences before `/` do not make it a message."""
    line = prefix + "/msg alice my password is hunter2"
    assert parsing.parse_line(line) == cmd.Msg("alice", "my password is hunter2")
    assert parsing.parse_line(prefix + "//etc is a path") == cmd.Say("/etc is a path")
    assert parsing.parse_line(prefix + "/nick\u200b bob") == cmd.Nick("bob")


def test_a_slash_inside_a_leading_escape_sequence_still_makes_a_command():
    """A `/` swallowed by an escape sequence before the first visible character is not lost:
    the line is a command (at worst an unknown one), never a room message."""
    assert parsing.parse_line("\x1b[/msg alice secret") == cmd.Msg("alice", "secret")
    assert isinstance(parsing.parse_line("\x1b]0;/x\x07 hello"), Error)


def test_lines_that_show_nothing_do_nothing():
    """A line of invisible characters and escape sequences is blank, not a message."""
    for line in ["\u200b", "\x1b[A", "\ufeff \u200e", "\x00\x00"]:
        assert parsing.parse_line(line) is None, repr(line)


def test_text_after_invisible_characters_is_still_a_message():
    """An arrow key before ordinary text sends the text (the hub cleans the escape away)."""
    assert parsing.parse_line("\x1b[Ahello /msg") == cmd.Say("\x1b[Ahello /msg")


@pytest.mark.parametrize("op", ["say", "me"])
def test_a_websocket_say_whose_text_starts_invisibly_with_a_slash_is_refused(op):
    """`say` is explicit, so `/text` is said as it is; but invisible characters before the
    slash mean a command typed by mistake (a paste, a stray key): refused, never shown."""
    for text in ["\u200b/msg alice hunter2", "\x1b[A/msg alice hunter2", " /msg alice x"]:
        result = parsing.parse_json({"op": op, "room": "lobby", "text": text, "ref": 3})
        assert isinstance(result, Error) and result.code == "hidden-command", repr(text)
    said = parsing.parse_json({"op": op, "text": "/etc/hosts changed"})
    assert isinstance(said, cmd.Say | cmd.Me) and said.text == "/etc/hosts changed"
