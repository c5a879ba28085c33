"""The Lua scripts (`chathub/lua/`) against a real redis-server: ids, history, routing, nicks,
members, liveness. Each test works under its own key prefix."""

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chathub.redisconn import SCRIPTS
from tests.redis_server import Client, RedisServer

_prefixes = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    running = RedisServer(Path(tmp_path_factory.mktemp("lua"))).start()
    yield running
    running.stop()


class Scripts:
    """Runs the scripts under one prefix, as a process would."""

    def __init__(self, server: RedisServer) -> None:
        self.client = Client(server.port)
        self.port = server.port
        self.prefix = f"t{next(_prefixes)}:"

    def run(self, name: str, *args: Any) -> Any:
        return self.client.call("EVAL", SCRIPTS[name], 0, self.prefix, *args)

    def call(self, *args: Any) -> Any:
        return self.client.call(*args)

    def key(self, name: str) -> str:
        return self.prefix + name

    def publish(
        self,
        origin: str,
        entries: list[str],
        rooms: list[str],
        nicks: list[str] = (),  # type: ignore[assignment]
        payload: str = "x",
        maxlen: int = 100,
        floor: int = 0,
    ) -> int:
        args = [origin, maxlen, floor, len(entries), *entries, len(rooms), *rooms]
        args += [len(nicks), *nicks, payload]
        first: int = self.run("publish", *args)
        return first

    def listen(self, *procs: str) -> Client:
        """A connection subscribed to the channels of `procs`, as their processes are."""
        listener = Client(self.port)
        for proc in procs:
            listener.call("SUBSCRIBE", f"{self.prefix}proc:{proc}")
        return listener

    def alive(self, proc: str, ttl: int = 60_000) -> list[Any]:
        result: list[Any] = self.run("beat", proc, ttl, 10)
        return result


@pytest.fixture
def lua(server: RedisServer) -> Iterator[Scripts]:
    scripts = Scripts(server)
    yield scripts
    scripts.client.close()


def pushes(listener: Client, count: int) -> list[tuple[bytes, bytes]]:
    got = []
    for _ in range(count):
        kind, channel, message = listener.read()
        assert kind == b"message"
        got.append((channel, message))
    return got


def nothing_more(listener: Client) -> bool:
    try:
        listener.read(timeout=0.2)
    except TimeoutError:
        return True
    return False


# --- publish: ids, history, routing --------------------------------------------------------------


def test_publish_gives_each_room_ids_from_1_in_order_and_keeps_them_in_its_stream(lua):
    """Consecutive ids per room, the first returned; each entry is kept under its id."""
    assert lua.publish("a", ["m1", "m2"], ["dev"]) == 1
    assert lua.publish("a", ["m3"], ["dev"]) == 3
    assert lua.publish("a", ["o1"], ["ops"]) == 1
    entries = lua.call("XRANGE", lua.key("room:dev:log"), "-", "+")
    assert [(entry_id, fields) for entry_id, fields in entries] == [
        (b"1-0", [b"e", b"m1"]),
        (b"2-0", [b"e", b"m2"]),
        (b"3-0", [b"e", b"m3"]),
    ]


def test_publish_of_nothing_stored_gives_no_id(lua):
    """A join, a part, a nick change or a private message: 0, and the stream is untouched."""
    assert lua.publish("a", [], ["dev"]) == 0
    assert lua.call("EXISTS", lua.key("room:dev:log")) == 0


def test_publish_reaches_each_process_with_the_room_open_the_nick_holders_and_the_origin_once(lua):
    """Routing: one PUBLISH per process, whatever the number of reasons it has to get it."""
    lua.run("open", "b", "dev", 0, 100)
    lua.run("open", "c", "dev", 0, 100)
    lua.run("open", "c", "ops", 0, 100)
    lua.run("claim", "d", "", 1, "dave", "dave", 0)
    listener = lua.listen("a", "b", "c", "d", "e")
    lua.publish("a", ["m"], ["dev", "ops"], ["dave"], payload="a 1 {}")
    got = sorted(pushes(listener, 4))
    assert got == [(lua.key(f"proc:{p}").encode(), b"1 a 1 {}") for p in "abcd"]
    assert nothing_more(listener)  # e has nothing open and holds no nick


def test_ids_never_go_back_when_the_counter_is_lost(lua):
    """Without its counter, a room goes on after its stream's last id; never below `floor`."""
    lua.publish("a", ["m1", "m2", "m3"], ["dev"])
    lua.call("DEL", lua.key("room:dev:id"))
    assert lua.publish("a", ["m4"], ["dev"]) == 4
    lua.call("DEL", lua.key("room:dev:id"), lua.key("room:dev:log"))
    assert lua.publish("a", ["m5"], ["dev"], floor=9) == 10


def test_the_stream_is_trimmed_but_ids_go_on_and_reads_keep_exactly_the_newest(lua):
    """MAXLEN trims about `maxlen` entries; `read` answers at most the `keep` newest ids."""
    for n in range(1, 301):
        lua.publish("a", [f"m{n}"], ["dev"], maxlen=50)
    assert lua.call("XLEN", lua.key("room:dev:log")) < 300
    top, newest = lua.run("read", "dev", -1, 500, 50)
    assert top == 300
    assert [entry_id for entry_id, _ in newest] == [f"{n}-0".encode() for n in range(300, 250, -1)]
    top, after = lua.run("read", "dev", 0, 500, 50)
    assert after[0][0] == b"251-0"
    assert lua.publish("a", ["next"], ["dev"], maxlen=50) == 301


# --- open, close, read ---------------------------------------------------------------------------


def test_open_returns_the_last_id_and_newest_entries_and_routes_what_follows(lua):
    """The snapshot and the routing are one step: the opener gets every later publication."""
    lua.publish("a", ["m1", "m2", "m3"], ["dev"])
    top, entries = lua.run("open", "b", "dev", 2, 100)
    assert top == 3
    assert [entry_id for entry_id, _ in entries] == [b"3-0", b"2-0"]
    listener = lua.listen("b")
    lua.publish("a", ["m4"], ["dev"], payload="a 9 {}")
    assert pushes(listener, 1) == [(lua.key("proc:b").encode(), b"4 a 9 {}")]


def test_close_stops_the_routing(lua):
    """A process that closed a room gets none of its publications."""
    lua.run("open", "b", "dev", 0, 100)
    lua.run("close", "b", "dev")
    listener = lua.listen("b")
    lua.publish("a", ["m"], ["dev"])
    assert nothing_more(listener)
    assert lua.call("SMEMBERS", lua.key("proc:b:rooms")) == []


def test_read_answers_the_newest_or_those_after_an_id(lua):
    """Newest first for `after` < 0; otherwise oldest first, after the id, at most `count`."""
    for n in range(1, 8):
        lua.publish("a", [f"m{n}"], ["dev"])
    top, newest = lua.run("read", "dev", -1, 3, 1000)
    assert (top, [e for e, _ in newest]) == (7, [b"7-0", b"6-0", b"5-0"])
    top, after = lua.run("read", "dev", 2, 3, 1000)
    assert [e for e, _ in after] == [b"3-0", b"4-0", b"5-0"]
    assert lua.run("read", "empty", -1, 3, 1000) == [0, []]


def test_read_before_an_id_answers_the_newest_below_it(lua):
    for n in range(1, 8):
        lua.publish("a", [f"m{n}"], ["dev"])
    _, below = lua.run("read", "dev", -1, 3, 1000, 6)
    assert [e for e, _ in below] == [b"5-0", b"4-0", b"3-0"]
    assert lua.run("read", "dev", -1, 3, 1000, 1)[1] == []


def test_reads_and_opens_leave_deleted_entries_out_and_carry_edits(lua):
    """A deleted id is in the room's `gone` set, an edit in its `edits` hash: reads skip the
    one (still answering as many as asked) and add the other's text as field `x`."""
    for n in range(1, 6):
        lua.publish("a", [f"m{n}"], ["dev"])
    redis = lua
    redis.call("SADD", f"{lua.prefix}room:dev:gone", 4)
    redis.call("HSET", f"{lua.prefix}room:dev:edits", 3, "edited")
    _, newest = lua.run("read", "dev", -1, 3, 1000)
    assert [e for e, _ in newest] == [b"5-0", b"3-0", b"2-0"]
    assert newest[1][1][2:] == [b"x", b"edited"]
    _, after = lua.run("read", "dev", 2, 2, 1000)
    assert [e for e, _ in after] == [b"3-0", b"5-0"]
    _, opened = lua.run("open", "b", "dev", 2, 1000)
    assert [e for e, _ in opened] == [b"5-0", b"3-0"]


def test_a_record_is_kept_and_sent_to_every_other_live_process(lua):
    redis = lua
    redis.call("ZADD", f"{lua.prefix}procs", 9e15, "a", 9e15, "b")
    listener = lua.listen("b", "a")
    assert lua.run("record", "a", "put", "account\talice", "{}", "R a 0 {}") == 1
    assert redis.call("HGET", f"{lua.prefix}records", "account\talice") == b"{}"
    assert pushes(listener, 1) == [(f"{lua.prefix}proc:b".encode(), b"R a 0 {}")]
    assert nothing_more(listener)
    lua.run("record", "a", "del", "account\talice", "", "R a 0 {}")
    assert redis.call("HEXISTS", f"{lua.prefix}records", "account\talice") == 0


# --- nicks ---------------------------------------------------------------------------------------


def test_a_nick_is_granted_once_and_refused_to_another_process_with_its_holder(lua):
    """The first claim wins; another process is refused and told how the holder shows it."""
    assert lua.run("claim", "a", "", 1, "alice", "Alice", 0) == [1, b""]
    assert lua.run("claim", "b", "", 1, "alice", "ALICE", 0) == [0, b"Alice"]
    assert lua.run("claim", "a", "", 1, "alice", "alice", 0) == [1, b""]  # its own: a new case


def test_a_refused_nick_falls_back_to_the_next_candidate(lua):
    """Connect asks for its nick, then guest nicks: the first free one is granted."""
    lua.run("claim", "a", "", 1, "bob", "bob", 0)
    lua.run("claim", "a", "", 1, "guest-7", "guest-7", 0)
    granted = lua.run(
        "claim", "b", "", 3, "bob", "bob", "guest-7", "guest-7", "guest-8", "guest-8", 0
    )
    assert granted == [3, b"bob"]
    assert lua.call("HGET", lua.key("nicks"), "guest-8") == b"b\tguest-8"


def test_a_rename_frees_the_old_nick_and_renames_the_room_entries(lua):
    """Renaming moves the member entries of the given rooms and lets the old nick go."""
    lua.run("claim", "a", "", 1, "al", "al", 0)
    lua.run("roster", "+", "dev", "al", "al")
    assert lua.run("claim", "a", "al", 1, "alice", "alice", 1, "dev") == [1, b""]
    assert lua.call("HGETALL", lua.key("room:dev:members")) == [b"alice", b"a\talice"]
    assert lua.call("HEXISTS", lua.key("nicks"), "al") == 0
    assert lua.run("claim", "b", "", 1, "al", "al", 0) == [1, b""]
    assert lua.run("rooms", 10) == [1, [b"dev", b"1"]]  # still one member


def test_a_release_removes_only_the_processs_own_nick(lua):
    """'r' lets a nick go if this process holds it, never another's."""
    lua.run("claim", "a", "", 1, "alice", "alice", 0)
    lua.run("roster", "b", "r", "", "alice", "")
    assert lua.call("HGET", lua.key("nicks"), "alice") == b"a\talice"
    lua.run("roster", "a", "r", "", "alice", "")
    assert lua.call("HEXISTS", lua.key("nicks"), "alice") == 0


# --- members, who, room lists --------------------------------------------------------------------


def test_members_are_counted_and_listed_busiest_first_then_by_name(lua):
    """Room lists: most members first, ties by name; the total counts every room."""
    for room, nicks in (("b-room", ["x", "y"]), ("a-room", ["z", "w"]), ("c-room", ["v"])):
        for nick in nicks:
            lua.run("roster", "p", "+", room, nick, nick)
    total, listing = lua.run("rooms", 2)
    assert total == 3
    assert listing == [b"a-room", b"2", b"b-room", b"2"]
    lua.run("roster", "p", "-", "a-room", "z", "", "-", "a-room", "w", "")
    total, listing = lua.run("rooms", 10)
    assert (total, listing) == (2, [b"b-room", b"2", b"c-room", b"1"])


def test_a_room_with_history_stays_listed_with_nobody_in_it(lua):
    """Rooms exist while they have members or history."""
    lua.run("roster", "p", "+", "dev", "x", "x")
    lua.publish("p", ["m"], ["dev"])
    lua.run("roster", "p", "-", "dev", "x", "")
    assert lua.run("rooms", 10) == [1, [b"dev", b"0"]]
    assert lua.run("page", "", 10) == [b"dev", b"0"]


def test_page_lists_rooms_by_name_after_a_name(lua):
    for room in ("delta", "alpha", "charlie", "bravo"):
        lua.run("roster", "p", "+", room, "n", "n")
    assert lua.run("page", "alpha", 2) == [b"bravo", b"1", b"charlie", b"1"]


def test_who_shows_members_of_live_processes_only(lua):
    """A process whose heartbeat ran out is gone from `who` at once, before it is cleared."""
    lua.alive("live")
    lua.run("beat", "dying", 1, 0)  # alive for 1 ms, clears nothing
    lua.run("roster", "live", "+", "dev", "alice", "Alice")
    lua.run("roster", "dying", "+", "dev", "bob", "Bob")
    time.sleep(0.01)  # its 1 ms runs out
    assert sorted(lua.run("who", "dev")) == [b"Alice"]
    assert lua.run("holder", "bob") is None
    assert lua.run("holder", "alice") is None  # claimed by nobody: only a member
    lua.run("claim", "live", "", 1, "alice", "Alice", 0)
    assert lua.run("holder", "alice") == b"Alice"


def test_a_beat_clears_a_dead_process_and_returns_its_members(lua):
    """A dead process's members, rooms and nicks go; they come back for the parts to announce."""
    lua.run("beat", "dead", 1, 0)
    lua.run("open", "dead", "dev", 0, 100)
    lua.run("claim", "dead", "", 1, "bob", "Bob", 0)
    lua.run("roster", "dead", "+", "dev", "bob", "Bob")
    lua.run("roster", "live", "+", "dev", "al", "al")
    time.sleep(0.01)  # its 1 ms runs out
    known, gone = lua.alive("live")
    assert known == 0  # it was not known before its first beat
    assert gone == [b"dev", b"Bob"]
    assert lua.call("HKEYS", lua.key("room:dev:members")) == [b"al"]
    assert lua.call("HEXISTS", lua.key("nicks"), "bob") == 0
    assert lua.call("SMEMBERS", lua.key("room:dev:procs")) == []
    assert lua.run("rooms", 10) == [1, [b"dev", b"1"]]
    assert lua.alive("live")[0] == 1


def test_leave_clears_the_process_at_once(lua):
    lua.alive("me")
    lua.run("open", "me", "dev", 0, 100)
    lua.run("roster", "me", "+", "dev", "x", "X")
    assert lua.run("leave", "me") == [b"dev", b"X"]
    assert lua.call("ZSCORE", lua.key("procs"), "me") is None


def test_sync_writes_a_processs_nicks_and_members_again(lua):
    """After an outage: nicks taken meanwhile are conflicts; members gone are removed."""
    lua.run("claim", "me", "", 1, "old", "old", 0)
    lua.run("claim", "other", "", 1, "taken", "taken", 0)
    assert lua.run("sync", "me", "", 2, "mine", "Mine", "taken", "taken") == [b"taken"]
    assert lua.call("HGET", lua.key("nicks"), "mine") == b"me\tMine"
    assert lua.call("HEXISTS", lua.key("nicks"), "old") == 0
    lua.run("roster", "me", "+", "dev", "gone", "Gone", "+", "dev", "stay", "stay")
    assert lua.run("sync", "me", "dev", 2, "stay", "stay", "new", "New") == [b"Gone"]
    assert sorted(lua.call("HKEYS", lua.key("room:dev:members"))) == [b"new", b"stay"]
    assert lua.run("rooms", 10) == [1, [b"dev", b"2"]]


def test_stored_entries_keep_what_chathub_gives_them(lua):
    """Entries are opaque to Redis: what is appended is read back byte for byte."""
    entry = json.dumps({"k": "message", "n": "ü", "t": "日本語 👋🏽", "s": 1.5}, ensure_ascii=False)
    lua.publish("a", [entry], ["dev"])
    [(_, fields)] = lua.call("XRANGE", lua.key("room:dev:log"), "-", "+")
    assert fields[1].decode() == entry
