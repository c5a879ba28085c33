"""The JSON wire: every item the hub delivers as the JSON object /ws, the API and SSE send."""

import json
import typing

import pytest

from chathub import commands as cmd
from chathub.events import (
    BanEntry,
    BanList,
    Error,
    Event,
    Gap,
    Help,
    History,
    Identified,
    Invited,
    Modes,
    Notice,
    Ok,
    Outgoing,
    Private,
    RoomList,
    Skipped,
    Topic,
    Welcome,
    Who,
)
from chathub.jsonwire import (
    ACCOUNT_AND_MODERATION_OPS,
    OPS,
    encode,
    event_fields,
    message_for,
    render,
    scrub,
    scrubbed,
)

NOW = 1700000000.5
MESSAGE = Event("dev", "message", "alice", "hi", 1.5, 7)

CASES: list[tuple[Outgoing, dict[str, typing.Any]]] = [
    (
        MESSAGE,
        {"type": "event", "room": "dev", "kind": "message", "nick": "alice", "text": "hi",
         "ts": 1.5, "id": 7},
    ),
    (
        Event(None, "nick", "alicia", "", 2.0, old="alice"),
        {"type": "event", "room": None, "kind": "nick", "nick": "alicia", "text": "", "ts": 2.0,
         "old": "alice"},
    ),
    (
        Notice("you are in dev"),
        {"type": "event", "room": None, "kind": "notice", "nick": None, "text": "you are in dev",
         "ts": NOW},
    ),
    (Error("bad-room", "nope"), {"type": "error", "code": "bad-room", "message": "nope"}),
    (
        Private("alice", "bob", "psst", 3.0),
        {"type": "pm", "from": "alice", "to": "bob", "text": "psst", "ts": 3.0},
    ),
    (
        Welcome("alice", ("lobby", "dev"), "hello"),
        {"type": "welcome", "nick": "alice", "rooms": ["lobby", "dev"], "motd": "hello",
         "account": None, "topics": {}},
    ),
    (
        Welcome("alice", ("dev",), "hello", "alice", (("dev", "release"),)),
        {"type": "welcome", "nick": "alice", "rooms": ["dev"], "motd": "hello",
         "account": "alice", "topics": {"dev": "release"}},
    ),
    (
        Error("nick-registered", "the nick alice is registered", "alice"),
        {"type": "error", "code": "nick-registered", "message": "the nick alice is registered",
         "nick": "alice"},
    ),
    (Identified("alice", "alice"), {"type": "account", "account": "alice", "nick": "alice"}),
    (Identified(None, "alice"), {"type": "account", "account": None, "nick": "alice"}),
    (
        Topic("dev", "release", "alice", 2.5),
        {"type": "topic", "room": "dev", "topic": "release", "by": "alice", "ts": 2.5},
    ),
    (Modes("dev", "+is"), {"type": "modes", "room": "dev", "modes": "+is"}),
    (
        BanList("dev", (BanEntry("bob", "alice", "spam", 1.0, 61.0),)),
        {"type": "bans", "room": "dev", "bans": [
            {"mask": "bob", "by": "alice", "reason": "spam", "created": 1.0, "until": 61.0}
        ]},
    ),
    (Invited("dev", "alice"), {"type": "invite", "room": "dev", "from": "alice"}),
    (
        Event("dev", "kick", "alice", "spam", 2.0, target="bob"),
        {"type": "event", "room": "dev", "kind": "kick", "nick": "alice", "text": "spam",
         "ts": 2.0, "target": "bob"},
    ),
    (
        Event("dev", "ban", "alice", "", 2.0, target="10.0.0.0/8"),
        {"type": "event", "room": "dev", "kind": "ban", "nick": "alice", "text": "", "ts": 2.0,
         "target": "10.0.0.0/8", "until": None},
    ),
    (
        Event("dev", "edit", "alice", "new", 2.0, message_id=7),
        {"type": "event", "room": "dev", "kind": "edit", "nick": "alice", "text": "new",
         "ts": 2.0, "message_id": 7},
    ),
    (
        Event("dev", "join", "alice", "", 2.0, topic="release"),
        {"type": "event", "room": "dev", "kind": "join", "nick": "alice", "text": "", "ts": 2.0,
         "topic": "release"},
    ),
    (
        Event("dev", "message", "alice", "hi", 1.5, 7, author="alice", edited=True),
        {"type": "event", "room": "dev", "kind": "message", "nick": "alice", "text": "hi",
         "ts": 1.5, "id": 7, "account": "alice", "edited": True},
    ),
    (
        Event("dev", "message", "guest-1", "hi", 1.5, 8, author="~a1b2"),
        {"type": "event", "room": "dev", "kind": "message", "nick": "guest-1", "text": "hi",
         "ts": 1.5, "id": 8},
    ),
    (Who("dev", ("alice", "bob")), {"type": "who", "room": "dev", "members": ["alice", "bob"]}),
    (
        RoomList((("lobby", 2), ("dev", 1)), total=5),
        {"type": "rooms",
         "rooms": [{"name": "lobby", "members": 2}, {"name": "dev", "members": 1}],
         "total": 5},
    ),
    (
        History("dev", (MESSAGE,)),
        {"type": "history", "room": "dev", "events": [
            {"room": "dev", "kind": "message", "nick": "alice", "text": "hi", "ts": 1.5, "id": 7}
        ]},
    ),
    (
        Skipped("dev", 3, 1, 41),
        {"type": "error", "code": "skipped", "room": "dev", "since": 41,
         "message": "skipped 3 messages in dev; ask for history since 41"},
    ),
    (
        Skipped("dev", 0, 2, None),
        {"type": "error", "code": "skipped", "room": "dev", "since": None,
         "message": "skipped 2 events in dev; ask who is there"},
    ),
    (Gap("dev", 120), {"type": "gap", "room": "dev", "first": 120}),
    (
        Skipped(None, 4, 0, None),
        {"type": "error", "code": "skipped", "room": None, "since": None,
         "message": "skipped 4 private messages while you were not reading; they are not kept"},
    ),
    (Help(), {"type": "help", "ops": [*OPS, *ACCOUNT_AND_MODERATION_OPS]}),
    (Ok(), {"type": "ok"}),
]  # fmt: skip
IDS = [type(item).__name__ for item, _ in CASES]


@pytest.mark.parametrize(("item", "expected"), CASES, ids=IDS)
def test_every_outgoing_item_renders_as_its_json_object(item, expected):
    """Each kind of item is the JSON object PROTOCOL.md shows; a notice is dated `now`."""
    assert message_for(item, NOW) == expected
    assert json.loads(render(item, None, NOW)) == expected


def test_the_cases_cover_every_outgoing_type():
    """Every class in the Outgoing union has a rendering case above."""
    assert {type(item) for item, _ in CASES} == set(typing.get_args(Outgoing))


def test_an_unknown_item_is_a_type_error():
    """Anything that is not an Outgoing item is refused loudly, not sent as garbage."""
    with pytest.raises(TypeError):
        message_for(object(), NOW)  # type: ignore[arg-type]


def test_help_lists_every_op_a_json_client_may_send():
    """`help` names the ops of PROTOCOL.md's WebSocket section, and `typing` (the page's)."""
    assert OPS == ("say", "me", "join", "part", "nick", "who", "rooms", "history", "msg", "typing")


@pytest.mark.parametrize("ref", ["q", 0, 42, ""])
@pytest.mark.parametrize(("item", "_"), CASES, ids=IDS)
def test_a_ref_is_echoed_on_any_item(item, _, ref):
    """render with a ref adds it, unchanged in value and type, to whatever the item is."""
    assert json.loads(render(item, ref, NOW)) == {**message_for(item, NOW), "ref": ref}


def test_ok_renders_with_its_ref():
    """An Ok is `{"type":"ok"}` with the ref of the op it answers."""
    assert json.loads(render(Ok(), "q", NOW)) == {"type": "ok", "ref": "q"}


def test_without_a_ref_no_ref_field_is_sent():
    """A None ref leaves the object without a `ref` key (not `"ref": null`)."""
    assert "ref" not in json.loads(render(MESSAGE, None, NOW))


def test_event_fields_carry_id_only_for_stored_kinds_and_old_only_for_nick():
    """A join has neither id nor old; a message has its id; a nick change has old."""
    join = event_fields(Event("dev", "join", "alice", "", 1.0))
    assert set(join) == {"room", "kind", "nick", "text", "ts"}
    assert event_fields(MESSAGE)["id"] == 7
    assert event_fields(Event(None, "nick", "b", "", 1.0, old="a"))["old"] == "a"


def test_encode_is_compact_utf8_json():
    """No spaces between tokens and non-ASCII as UTF-8, not \\u escapes."""
    assert encode({"text": "café", "n": [1, 2]}) == '{"text":"café","n":[1,2]}'.encode()


@pytest.mark.parametrize("text", ["a\ud800b", "\udfff", "x\ud83d", "\udc00\ud800"])
def test_a_lone_surrogate_never_breaks_encode(text):
    """A lone surrogate is replaced in the bytes, which are valid UTF-8 and valid JSON."""
    data = render(Event("dev", "message", "alice", text, 1.0, 1), "r", NOW)
    decoded = json.loads(data.decode("utf-8"))
    assert decoded["ref"] == "r"
    assert len(decoded["text"]) == len(text)


def test_scrub_replaces_lone_surrogates_with_the_replacement_character():
    """scrub turns each lone surrogate into U+FFFD and leaves other values alone."""
    assert scrub("a\ud800b\udc00") == "a\ufffdb\ufffd"
    assert scrub("fine \U0001f600") == "fine \U0001f600"
    assert scrub(5) == 5 and scrub(None) is None


def test_scrubbed_cleans_every_string_field_of_a_command():
    """Every string field of a command is scrubbed; the rest (the ref's type) is kept."""
    command = cmd.Msg("b\ud800b", "hi\udfff", ref=3)
    assert scrubbed(command) == cmd.Msg("b\ufffdb", "hi\ufffd", ref=3)
    assert scrubbed(cmd.Say("x", "\ud800", ref="\udc00")) == cmd.Say("x", "\ufffd", ref="\ufffd")
