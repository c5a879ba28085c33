"""Recognising a storm client's own join (`chathub/bench/joins.py`): telnet lines and JSON
frames as the hub writes them, fed whole, one byte at a time, and cut at random places."""

import json

import pytest

from chathub.bench.joins import TelnetJoinWatch, WsJoinWatch, join_line_nicks
from chathub.bench.wire import FrameCounter
from tests.bench.test_wire import server_frame, splits

WELCOME = (
    b"* Welcome to chathub.\r\n* your nick is guest-7\r\n* type /help for a list of commands\r\n"
)


def feed_until_joined(watch: TelnetJoinWatch | WsJoinWatch, parts: list[bytes]) -> int | None:
    """Feed `parts` in turn; the index of the part that completed the join, or None."""
    for index, part in enumerate(parts):
        if watch.feed(part):
            return index
    return None


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("[lobby] -> guest-7 joined", (["guest-7"], 0)),
        ("[lobby] -> a and guest-7 joined", (["a", "guest-7"], 0)),
        ("[lobby] -> a, b, c and guest-7 joined", (["a", "b", "c", "guest-7"], 0)),
        ("[lobby] -> a, b, c and 38 others joined", (["a", "b", "c"], 38)),
        ("[lobby] <- a left", None),
        ("[dev] -> a joined", None),
        ("[lobby] <a> -> b joined", None),
        ("* your nick is guest-7", None),
    ],
)
def test_join_line_nicks_reads_single_listed_and_counted_joins(
    line: str, found: tuple[list[str], int] | None
) -> None:
    """A join line names one nick, up to four, or three and a count of the others."""
    assert join_line_nicks(line, "lobby") == found


def test_telnet_watch_takes_its_nick_from_the_welcome_and_sees_its_named_join() -> None:
    """However the stream is cut, the join is seen in the part that completes its line."""
    stream = WELCOME + b"[lobby] -> guest-5, guest-6 and guest-7 joined\r\n[lobby] <x> hi\r\n"
    end = stream.index(b"joined\r\n") + len(b"joined\r\n")
    for parts in splits(stream, 11):
        watch = TelnetJoinWatch("lobby")
        index = feed_until_joined(watch, parts)
        assert index is not None
        assert sum(len(part) for part in parts[: index + 1]) >= end
        assert sum(len(part) for part in parts[:index]) < end
        assert (watch.nick, watch.named) == ("guest-7", True)


def test_telnet_watch_counts_a_batch_of_others_as_its_own_join() -> None:
    """Past four nicks the line names three: the first such join line is the client's own."""
    watch = TelnetJoinWatch("lobby")
    assert watch.feed(WELCOME + b"[lobby] -> guest-1, guest-2, guest-3 and 4 others joined\r\n")
    assert watch.named is False


def test_telnet_watch_skips_joins_that_leave_it_out_and_other_rooms() -> None:
    """A listed join without its nick (a batch split by a part), another room's join, and join
    text before the welcome are not its own join."""
    watch = TelnetJoinWatch("dev")
    assert not watch.feed(b"* [dev] -> guest-7 joined\r\n" + WELCOME)
    assert not watch.feed(b"[lobby] -> guest-7 joined\r\n[dev] -> a and b joined\r\n")
    assert not watch.feed(b"[dev] <- c left\r\n[dev] -> guest-6 jo")
    assert watch.feed(b"ined\r\n[dev] -> guest-7 joined\r\n")
    assert watch.named


def test_telnet_watch_follows_a_nick_change() -> None:
    """After `* guest-7 is now known as alice`, alice's join is its own."""
    watch = TelnetJoinWatch("lobby")
    stream = WELCOME + b"* guest-9 is now known as bob\r\n* guest-7 is now known as alice\r\n"
    assert not watch.feed(stream + b"[lobby] -> guest-7 joined\r\n")
    assert watch.feed(b"[lobby] -> alice joined\r\n")
    assert watch.nick == "alice"


def event(**fields: object) -> bytes:
    return server_frame(json.dumps(fields, separators=(",", ":")).encode())


def welcome(nick: str) -> bytes:
    return event(type="welcome", nick=nick, rooms=["lobby"], motd="hi")


def join(room: str, *nicks: str, **extra: object) -> bytes:
    more = {"nicks": list(nicks)} if len(nicks) > 1 else {}
    return event(
        type="event", room=room, kind="join", nick=nicks[0], text="", ts=1.0, **more, **extra
    )


def test_ws_watch_sees_its_nick_in_a_batched_join_and_keeps_what_follows() -> None:
    """A join whose `nicks` holds the client's is its own; the bytes after it are `rest`."""
    after = server_frame(b"x" * 300) + server_frame(b"next")
    stream = welcome("storm3") + join("lobby", "storm1", "storm3", "storm30") + after
    for parts in splits(stream, 12):
        watch = WsJoinWatch("lobby")
        index = feed_until_joined(watch, parts)
        assert index is not None
        assert (watch.nick, watch.named) == ("storm3", True)
        rest = watch.rest + b"".join(parts[index + 1 :])
        assert rest == after
        assert FrameCounter().feed(rest) == 2  # the frame walker taking over is aligned


def test_ws_watch_takes_the_nick_the_hub_gave_not_the_one_asked_for() -> None:
    """A refused `?nick=` leaves a guest nick: the welcome says which, and that join counts."""
    watch = WsJoinWatch("lobby")
    refused = event(type="error", code="nick-taken", message="the nick storm3 is taken")
    assert not watch.feed(welcome("guest-12") + refused + join("lobby", "storm3"))
    assert watch.feed(join("lobby", "guest-12"))


def test_ws_watch_skips_other_rooms_and_joins_that_only_contain_its_nick_as_text() -> None:
    """Another room's join, or a join whose nicks do not hold it, are not its own."""
    watch = WsJoinWatch("dev")
    assert not watch.feed(welcome("storm3") + join("lobby", "storm3"))
    assert not watch.feed(join("dev", "storm30", "storm33"))
    message = event(
        type="event", room="dev", kind="message", nick="x", text='"kind":"join" "storm3"'
    )
    assert not watch.feed(message)
    assert watch.feed(join("dev", "storm3"))


def test_ws_watch_follows_a_nick_change_and_keeps_pings() -> None:
    """A nick event naming it as `old` renames it; pings met on the way are kept."""
    watch = WsJoinWatch("lobby")
    rename = event(type="event", room=None, kind="nick", nick="alice", old="storm3", text="", ts=1)
    ping = server_frame(b"ping-1", opcode=9)
    assert not watch.feed(welcome("storm3") + ping + rename + join("lobby", "storm3"))
    assert watch.pings == [b"ping-1"]
    assert watch.feed(join("lobby", "alice"))


def test_ws_watch_reads_a_fragmented_join() -> None:
    """A message in two frames is read whole."""
    fields = {"type": "event", "room": "lobby", "kind": "join", "nick": "storm3"}
    body = json.dumps(fields, separators=(",", ":"))
    half = len(body) // 2
    stream = (
        welcome("storm3")
        + server_frame(body[:half].encode(), opcode=1, fin=False)
        + server_frame(body[half:].encode(), opcode=0, fin=True)
    )
    for parts in splits(stream, 13):
        assert feed_until_joined(WsJoinWatch("lobby"), parts) is not None


def test_ws_watch_counts_a_batch_too_big_to_name_it_as_its_own_join() -> None:
    """A batched join of more than 100 names the first 100 and says `count`: the first join of
    its room a client hears then includes it, named or not (a storm of 200 into one room hung
    waiting for the 100 unnamed clients' nicks)."""
    named = [f"storm{n}" for n in range(100)]
    watch = WsJoinWatch("lobby")
    assert watch.feed(welcome("storm150") + join("lobby", *named, count=200))
    assert (watch.joined, watch.named) == (True, False)
    named_one = WsJoinWatch("lobby")
    assert named_one.feed(welcome("storm7") + join("lobby", *named, count=200))
    assert named_one.named
    small = WsJoinWatch("lobby")
    assert not small.feed(welcome("storm150") + join("lobby", "storm1", "storm2"))
