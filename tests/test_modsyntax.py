"""The account and moderation commands as typed on a line and sent as WebSocket ops."""

import pytest

from chathub import commands as cmd
from chathub.events import Error
from chathub.parsing import parse_json, parse_line


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("/register hunter2hunter2", cmd.Register("hunter2hunter2")),
        ("/register two words", cmd.Register("two words")),
        ("/identify hunter2hunter2", cmd.Identify("hunter2hunter2")),
        ("/identify alice correct horse", cmd.Identify("correct horse", "alice")),
        ("/logout", cmd.Logout()),
        ("/password old-one new-one", cmd.Password("old-one", "new-one")),
        ("/topic", cmd.Topic()),
        ("/topic release on Friday", cmd.Topic("release on Friday")),
        ("/topic #dev release", cmd.Topic("release", "#dev")),
        ("/topic -", cmd.Topic("")),
        ("/op bob", cmd.Grant("bob", "op", True)),
        ("/deop #dev bob", cmd.Grant("bob", "op", False, "#dev")),
        ("/voice bob", cmd.Grant("bob", "voice", True)),
        ("/devoice bob", cmd.Grant("bob", "voice", False)),
        ("/kick bob", cmd.Kick("bob")),
        ("/kick #dev bob spam and more", cmd.Kick("bob", "spam and more", "#dev")),
        ("/ban bob", cmd.Ban("bob")),
        ("/ban bob 2h", cmd.Ban("bob", 7200.0)),
        ("/ban 10.0.0.0/8 7d spam", cmd.Ban("10.0.0.0/8", 604800.0, "spam")),
        ("/ban bob being rude", cmd.Ban("bob", None, "being rude")),
        ("/unban bob", cmd.Unban("bob")),
        ("/bans", cmd.Bans()),
        ("/bans #dev", cmd.Bans("#dev")),
        ("/invite bob", cmd.Invite("bob")),
        ("/invite bob #dev", cmd.Invite("bob", "#dev")),
        ("/mode", cmd.Mode()),
        ("/mode +im", cmd.Mode("+im")),
        ("/mode #dev -s", cmd.Mode("-s", "#dev")),
        ("/edit 42 fixed text", cmd.Edit(42, "fixed text")),
        ("/delete 42", cmd.Delete(42)),
        ("/kill bob flooding", cmd.Kill("bob", "flooding")),
        ("/gban 10.0.0.0/8 30m spam", cmd.GlobalBan("10.0.0.0/8", 1800.0, "spam")),
        ("/ungban bob", cmd.GlobalUnban("bob")),
        ("/gbans", cmd.GlobalBans()),
    ],
)
def test_lines(line, command):
    assert parse_line(line) == command


@pytest.mark.parametrize(
    "line",
    ["/register", "/identify", "/password one", "/op", "/op a b", "/kick", "/ban", "/unban",
     "/edit x text", "/edit 4", "/delete", "/delete x", "/kill", "/gban", "/mode + -"],
)  # fmt: skip
def test_usage_errors_say_how(line):
    result = parse_line(line)
    assert isinstance(result, Error) and result.code == "usage"


def test_a_password_is_never_quoted_back():
    """A usage error for a password command shows the syntax, not what was typed."""
    result = parse_line("/password only-one-secret")
    assert isinstance(result, Error) and "only-one-secret" not in result.message


@pytest.mark.parametrize(
    ("message", "command"),
    [
        ({"op": "register", "password": "pw pw pw"}, cmd.Register("pw pw pw")),
        ({"op": "identify", "nick": "alice", "password": "p", "ref": 1},
         cmd.Identify("p", "alice", 1)),
        ({"op": "logout"}, cmd.Logout()),
        ({"op": "password", "old": "a", "new": "b"}, cmd.Password("a", "b")),
        ({"op": "topic", "room": "dev"}, cmd.Topic(None, "dev")),
        ({"op": "topic", "text": ""}, cmd.Topic("")),
        ({"op": "op", "nick": "bob"}, cmd.Grant("bob", "op", True)),
        ({"op": "devoice", "nick": "bob", "room": "dev"},
         cmd.Grant("bob", "voice", False, "dev")),
        ({"op": "kick", "nick": "bob", "reason": "x"}, cmd.Kick("bob", "x")),
        ({"op": "ban", "mask": "bob", "duration": "2h"}, cmd.Ban("bob", 7200.0)),
        ({"op": "ban", "mask": "bob", "duration": 60}, cmd.Ban("bob", 60.0)),
        ({"op": "unban", "mask": "bob"}, cmd.Unban("bob")),
        ({"op": "bans"}, cmd.Bans()),
        ({"op": "invite", "nick": "bob"}, cmd.Invite("bob")),
        ({"op": "mode", "modes": "+s"}, cmd.Mode("+s")),
        ({"op": "edit", "id": 3, "text": "t"}, cmd.Edit(3, "t")),
        ({"op": "delete", "id": 3}, cmd.Delete(3)),
        ({"op": "kill", "nick": "bob"}, cmd.Kill("bob")),
        ({"op": "gban", "mask": "bob"}, cmd.GlobalBan("bob")),
        ({"op": "ungban", "mask": "bob"}, cmd.GlobalUnban("bob")),
        ({"op": "gbans"}, cmd.GlobalBans()),
    ],
)  # fmt: skip
def test_ops(message, command):
    assert parse_json(message) == command


@pytest.mark.parametrize(
    "message",
    [{"op": "register"}, {"op": "ban", "mask": "b", "duration": "soon"},
     {"op": "edit", "id": "3", "text": "t"}, {"op": "kick"}, {"op": "op", "nick": 5}],
)  # fmt: skip
def test_bad_ops_are_bad_requests(message):
    result = parse_json(message)
    assert isinstance(result, Error) and result.code == "bad-request"
