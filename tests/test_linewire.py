"""The line protocol's rendering: what a telnet or nc user reads, its help, hints and caches."""

import re
import typing

import pytest

from chathub import errors
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
from chathub.linewire import HELP, HINTS, encoded_event, encoded_events, render, render_stored

TS = 1.0
CASES: list[tuple[Outgoing, list[str]]] = [
    (Event("dev", "message", "alice", "hi", TS, 1), ["[dev] <alice> hi"]),
    (Event("dev", "action", "alice", "waves", TS, 2), ["[dev] * alice waves"]),
    (Event("dev", "join", "alice", "", TS), ["[dev] -> alice joined"]),
    (Event("dev", "part", "alice", "", TS), ["[dev] <- alice left"]),
    (Event("dev", "part", "alice", "lunch", TS), ["[dev] <- alice left (lunch)"]),
    (Event(None, "nick", "alicia", "", TS, old="alice"), ["* alice is now known as alicia"]),
    (Event("dev", "notice", "", "topic changed", TS), ["[dev] * topic changed"]),
    (Event(None, "notice", "", "server news", TS), ["* server news"]),
    (Private("bob", "me", "psst", TS), ["[pm] <bob> psst"]),
    (Private("me", "bob", "hi", TS), ["[pm -> bob] <me> hi"]),
    (Private("me", "me", "note to self", TS), ["[pm] <me> note to self"]),
    (Notice("server shutting down"), ["* server shutting down"]),
    (Notice("one\ntwo"), ["* one", "* two"]),
    (Error("x", "nope"), ["! nope"]),
    (Who("dev", ("alice", "bob")), ["* members of dev: alice, bob"]),
    (Who("dev", ()), ["* members of dev: (none)"]),
    (RoomList((("lobby", 2), ("dev", 1))), ["* rooms: lobby (2), dev (1)"]),
    (RoomList(()), ["* rooms: (none)"]),
    (
        History(
            "dev",
            (
                Event("dev", "message", "a", "x", TS, 42),
                Event("dev", "action", "a", "y", TS, 43),
            ),
        ),
        ["* 1970-01-01 (UTC)", "[dev #42 00:00] <a> x", "[dev #43 00:00] * a y"],
    ),
    (History("dev", ()), ["* no messages in dev"]),
    (
        Welcome("guest-1", ("lobby",), "hi"),
        [
            "* hi",
            "* your nick is guest-1",
            "* type /help for a list of commands; /quit or Ctrl-C leaves",
        ],
    ),
    (
        Welcome("guest-1", ("lobby",), "line one\n\nline two"),
        [
            "* line one",
            "* line two",
            "* your nick is guest-1",
            "* type /help for a list of commands; /quit or Ctrl-C leaves",
        ],
    ),
    (
        Welcome("guest-1", ("lobby",), ""),
        ["* your nick is guest-1", "* type /help for a list of commands; /quit or Ctrl-C leaves"],
    ),
    (
        Skipped("lobby", 3, 1, 41),
        ["! skipped 3 messages in lobby; /since 41 lobby to catch up"],
    ),
    (Skipped("dev", 0, 2, None), ["! skipped 2 events in dev; /who dev to see who is here"]),
    (Gap("dev", 120), ["* history of dev starts at #120; what was before is gone"]),
    (
        Skipped(None, 4, 0, None),
        ["! skipped 4 private messages while you were not reading; they are not kept"],
    ),
    (Help(), ["* " + line for line in HELP.split("\n")]),
    (Ok(), []),
    (
        Welcome("alice", ("lobby",), "", "alice"),
        [
            "* your nick is alice",
            "* you are identified as alice",
            "* type /help for a list of commands; /quit or Ctrl-C leaves",
        ],
    ),
    (
        Error("nick-registered", "the nick alice is registered", "alice"),
        ["! the nick alice is registered; /identify alice PASSWORD"],
    ),
    (Identified("alice", "alice"), ["* you are identified as alice"]),
    (Identified(None, "alice"), ["* you are no longer identified"]),
    (
        Topic("dev", "release on Friday", "alice", TS),
        ["* topic of dev: release on Friday (set by alice)"],
    ),
    (Topic("dev", ""), ["* dev has no topic"]),
    (Modes("dev", "+im"), ["* modes of dev: +im"]),
    (Modes("dev", ""), ["* dev has no modes set"]),
    (BanList("dev", ()), ["* bans of dev: (none)"]),
    (
        BanList(None, (BanEntry("10.0.0.0/8", "root", "spam", 0.0, 7200.0),)),
        ["* server bans:", "*   10.0.0.0/8 by root for 2h, until 1970-01-01 02:00 UTC: spam"],
    ),
    (Invited("dev", "alice"), ["* alice invited you to dev; /join dev"]),
    (
        Event("dev", "topic", "alice", "release on Friday", TS),
        ["[dev] * alice set the topic: release on Friday"],
    ),
    (Event("dev", "topic", "alice", "", TS), ["[dev] * alice cleared the topic"]),
    (Event("dev", "mode", "alice", "+im", TS), ["[dev] * alice set mode +im"]),
    (Event("dev", "mode", "alice", "+o", TS, target="bob"), ["[dev] * alice set mode +o bob"]),
    (
        Event("dev", "kick", "alice", "spam", TS, target="bob"),
        ["[dev] <- bob was kicked by alice (spam)"],
    ),
    (
        Event("dev", "ban", "alice", "spam", TS, target="bob", until=TS + 7200),
        ["[dev] * alice banned bob for 2h (spam)"],
    ),
    (Event("dev", "ban", "alice", "", TS, target="bob"), ["[dev] * alice banned bob"]),
    (Event("dev", "unban", "alice", "", TS, target="bob"), ["[dev] * alice lifted the ban on bob"]),
    (Event("dev", "edit", "alice", "new", TS, message_id=4), ["[dev] * alice edited #4: new"]),
    (Event("dev", "delete", "alice", "", TS, message_id=4), ["[dev] * alice deleted #4"]),
    (Event("dev", "close", "root", "", TS), ["[dev] <- the room was closed by root"]),
    (
        History("dev", (Event("dev", "message", "a", "x", TS, 42, edited=True),)),
        ["* 1970-01-01 (UTC)", "[dev #42 00:00] <a> x (edited)"],
    ),
]
IDS = [type(item).__name__ for item, _ in CASES]


@pytest.mark.parametrize(("item", "lines"), CASES, ids=IDS)
def test_render_formats_every_kind_of_output(item, lines):
    """Each event and reply renders in the line format of PROTOCOL.md, as seen by "me"."""
    assert render(item, "me") == lines


def test_the_cases_cover_every_outgoing_type():
    """Every class in the Outgoing union has a rendering case above."""
    assert {type(item) for item, _ in CASES} == set(typing.get_args(Outgoing))


def test_help_names_every_line_protocol_command():
    """/help's lines are `* ` lines naming every command a terminal user can type."""
    lines = render(Help(), "alice")
    assert all(line.startswith("* ") for line in lines)
    text = "\n".join(lines)
    for name in [
        "/nick",
        "/join",
        "/part",
        "/rooms",
        "/who",
        "/me",
        "/msg",
        "/history",
        "/since",
        "/before",
        "/help",
        "/quit",
    ]:
        assert name in text


def test_help_descriptions_line_up_in_one_column_after_at_least_two_spaces():
    """Every `/help` row's description starts in the same column, two spaces or more after its
    command, however long the command's usage (`/part [ROOM] [REASON]` was pushed out)."""
    rows = [line for line in render(Help(), "alice") if line.startswith("*   ")]
    starts = set()
    for row in rows:
        usage = re.match(r"\*   (\S+(?: \S+)*?)  +\S", row)
        assert usage is not None, row
        starts.add(usage.end() - 1)
    assert len(rows) >= 12 and len(starts) == 1, rows


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (errors.no_room(), "! you are in no room; /join one first"),
        (errors.too_many_rooms(2), "! you can be in at most 2 rooms; /part one"),
        (errors.not_in_room("dev"), "! you are not in dev"),
    ],
)
def test_errors_get_the_line_protocols_hint_by_their_code(error, line):
    """The hub's own error plus a hint naming a telnet command, for the codes that have one."""
    assert render(error, "me") == [line]


def test_every_hint_names_a_line_protocol_command():
    """Each hint is something to type: it starts with a command /help lists."""
    for hint in HINTS.values():
        assert hint.split()[0] in HELP


def test_stored_events_show_their_id_and_time():
    """History lines carry the id and the UTC time: `[room #id HH:MM] <nick> text` and
    `[room #id HH:MM] * nick action`."""
    ts = 1_796_085_588.0  # 2026-12-01 00:39:48 UTC
    assert render_stored(Event("dev", "message", "a", "x", ts, 5)) == "[dev #5 00:39] <a> x"
    assert render_stored(Event("dev", "action", "a", "y", ts, 6)) == "[dev #6 00:39] * a y"


def test_history_says_which_day_before_the_first_line_of_each_day():
    """A day line (UTC) goes before the first message and again where the day changes."""
    evening, morning = 1_796_078_400.0, 1_796_085_588.0  # 22:40 on Nov 30, 00:39 on Dec 1
    events = (
        Event("dev", "message", "a", "late", evening, 1),
        Event("dev", "message", "a", "later", evening + 60, 2),
        Event("dev", "message", "b", "early", morning, 3),
    )
    assert render(History("dev", events), "me") == [
        "* 2026-11-30 (UTC)",
        "[dev #1 22:40] <a> late",
        "[dev #2 22:41] <a> later",
        "* 2026-12-01 (UTC)",
        "[dev #3 00:39] <b> early",
    ]


def test_an_event_is_encoded_once_for_every_member():
    """The same event object gives the same bytes object; the next event new bytes."""
    first = Event("dev", "message", "alice", "héllo", TS, 1)
    data = encoded_event(first)
    assert data == "[dev] <alice> héllo\r\n".encode()
    assert encoded_event(first) is data
    second = Event("dev", "message", "alice", "again", TS, 2)
    assert encoded_event(second) == b"[dev] <alice> again\r\n"


def test_a_batch_is_encoded_once_as_its_lines_back_to_back():
    """A tuple of events is one bytes object of `\\r\\n` lines, the same for every member."""
    batch = (
        Event("dev", "message", "a", "one", TS, 1),
        Event("dev", "action", "a", "two", TS, 2),
    )
    data = encoded_events(batch)
    assert data == b"[dev] <a> one\r\n[dev] * a two\r\n"
    assert encoded_events(batch) is data
    other = (Event("dev", "message", "a", "three", TS, 3), Event("dev", "join", "b", "", TS))
    assert encoded_events(other) == b"[dev] <a> three\r\n[dev] -> b joined\r\n"


def test_a_batch_of_one_is_the_events_own_bytes():
    """A one-event batch shares the single-event cache."""
    item = Event("dev", "message", "a", "solo", TS, 1)
    assert encoded_events((item,)) is encoded_event(item)
