"""The Store contract, run against every implementation: ids, reads, retention, counters."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer, task

from chathub.events import Event
from chathub.records import (
    AccountRecord,
    BanRecord,
    LoginRecord,
    Put,
    Remove,
    RoleRecord,
    RoomRecord,
)
from chathub.sqlite import SqliteStore
from chathub.store import (
    DEFAULT_RETAIN_MESSAGES,
    SECONDS_PER_DAY,
    Before,
    MemoryStore,
    Query,
    Recent,
    Since,
    Store,
)

START = 1_700_000_000.0

MakeStore = Callable[..., Store]


def run_now(work: Callable[[], Any]) -> "defer.Deferred[Any]":
    """A writer 'thread' that runs each job at once, so tests need no real thread."""
    return defer.maybeDeferred(work)


@pytest.fixture
def clock() -> task.Clock:
    clock = task.Clock()
    clock.advance(START)
    return clock


@pytest.fixture(params=["memory", "sqlite"])
def make_store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: task.Clock
) -> Iterator[MakeStore]:
    """`make_store(retain_messages=..., retain_days=...)` opens a store of the kind under test."""
    opened: list[Store] = []

    def make(retain_messages: int = DEFAULT_RETAIN_MESSAGES, retain_days: float = 0.0) -> Store:
        store: Store
        if request.param == "memory":
            store = MemoryStore(retain_messages, retain_days, clock.seconds)
        else:
            store = SqliteStore(
                str(tmp_path / "history.db"), clock, retain_messages, retain_days, run=run_now
            )
        opened.append(store)
        return store

    yield make
    for store in opened:
        closed = defer.maybeDeferred(store.close)
        failures: list[object] = []
        closed.addErrback(failures.append)
        assert closed.called and not failures, failures


def opened(store: Store, room: str) -> None:
    """Open `room` (the test stores answer at once: their 'thread' runs jobs immediately)."""
    ready: list[bool] = []
    store.open_room(room, lambda: ready.append(True))
    assert ready


def say(store: Store, room: str, text: str, ts: float = START) -> Event:
    opened(store, room)
    return store.append(Event(room, "message", "alice", text, ts))


def read_now(store: Store, room: str, query: Query) -> list[Event]:
    answers: list[list[Event]] = []
    store.read(room, query, answers.append)
    assert len(answers) == 1
    return answers[0]


def recent(store: Store, room: str, count: int) -> list[Event]:
    return read_now(store, room, Recent(count))


def since(store: Store, room: str, after: int, limit: int) -> list[Event]:
    return read_now(store, room, Since(after, limit))


def before(store: Store, room: str, below: int, limit: int) -> list[Event]:
    return read_now(store, room, Before(below, limit))


def ids(events: list[Event]) -> list[int | None]:
    return [event.id for event in events]


def test_ids_start_at_one_and_increase_by_one(make_store: MakeStore) -> None:
    """The first message of a room gets id 1, each next one the next integer."""
    store = make_store()
    assert [say(store, "dev", f"m{n}").id for n in range(3)] == [1, 2, 3]


def test_ids_are_counted_per_room(make_store: MakeStore) -> None:
    """Each room has its own sequence of ids."""
    store = make_store()
    say(store, "dev", "a")
    say(store, "dev", "b")
    assert say(store, "ops", "c").id == 1
    assert say(store, "dev", "d").id == 3


def test_append_keeps_the_event_fields(make_store: MakeStore) -> None:
    """What is stored is the event as given, with its id set."""
    store = make_store()
    opened(store, "dev")
    stored = store.append(Event("dev", "action", "bob", "waves", START + 1.5))
    assert stored == Event("dev", "action", "bob", "waves", START + 1.5, 1)
    assert recent(store, "dev", 1) == [stored]


def test_recent_returns_the_last_n_oldest_first(make_store: MakeStore) -> None:
    """`recent(room, n)` is the newest n messages in the order they were said."""
    store = make_store()
    for n in range(5):
        say(store, "dev", f"m{n}")
    assert [e.text for e in recent(store, "dev", 2)] == ["m3", "m4"]


def test_recent_edges(make_store: MakeStore) -> None:
    """Asking for more than there is gives all; for 0 or an unknown room gives nothing."""
    store = make_store()
    say(store, "dev", "a")
    say(store, "dev", "b")
    assert ids(recent(store, "dev", 10)) == [1, 2]
    assert recent(store, "dev", 0) == []
    assert recent(store, "nowhere", 5) == []


def test_since_returns_the_messages_after_the_id(make_store: MakeStore) -> None:
    """`since(room, id, limit)` starts right after `id`, oldest first."""
    store = make_store()
    for n in range(6):
        say(store, "dev", f"m{n}")
    assert ids(since(store, "dev", 3, 10)) == [4, 5, 6]


def test_since_zero_starts_at_the_first(make_store: MakeStore) -> None:
    """`since 0` means from the very first retained message."""
    store = make_store()
    for n in range(3):
        say(store, "dev", f"m{n}")
    assert ids(since(store, "dev", 0, 10)) == [1, 2, 3]


def test_since_respects_the_limit_from_the_oldest(make_store: MakeStore) -> None:
    """The limit keeps the oldest of the newer messages, so paging forward loses none."""
    store = make_store()
    for n in range(6):
        say(store, "dev", f"m{n}")
    assert ids(since(store, "dev", 1, 2)) == [2, 3]
    assert ids(since(store, "dev", 3, 2)) == [4, 5]


def test_since_edges(make_store: MakeStore) -> None:
    """The last id, an id beyond it, a zero limit and an unknown room all give nothing."""
    store = make_store()
    for n in range(3):
        say(store, "dev", f"m{n}")
    assert since(store, "dev", 3, 10) == []
    assert since(store, "dev", 99, 10) == []
    assert since(store, "dev", 0, 0) == []
    assert since(store, "nowhere", 0, 10) == []


def test_before_returns_the_newest_messages_below_the_id_oldest_first(
    make_store: MakeStore,
) -> None:
    """`before(room, id, limit)` is the page just older than `id`, in the order said."""
    store = make_store()
    for n in range(10):
        say(store, "dev", f"m{n}")
    assert ids(before(store, "dev", 8, 3)) == [5, 6, 7]
    assert ids(before(store, "dev", 4, 10)) == [1, 2, 3]


def test_paging_back_with_before_reaches_the_first_message_and_loses_none(
    make_store: MakeStore,
) -> None:
    """Asking again before the oldest id of each answer walks back through all of history."""
    store = make_store()
    for n in range(25):
        say(store, "dev", f"m{n}")
    seen: list[int | None] = []
    below = store.last_id("dev") + 1
    while page := before(store, "dev", below, 7):
        seen = ids(page) + seen
        below = page[0].id or 0
    assert seen == list(range(1, 26))


def test_before_edges(make_store: MakeStore) -> None:
    """Before id 1, with a zero limit or in an unknown room there is nothing; an id past the
    last gives the newest."""
    store = make_store()
    for n in range(3):
        say(store, "dev", f"m{n}")
    assert before(store, "dev", 1, 10) == []
    assert before(store, "dev", 3, 0) == []
    assert before(store, "nowhere", 5, 10) == []
    assert ids(before(store, "dev", 99, 2)) == [2, 3]


def test_before_stops_at_the_retained_window(make_store: MakeStore) -> None:
    """What retention dropped is not read back by scrolling up."""
    store = make_store(retain_messages=3)
    for n in range(6):
        say(store, "dev", f"m{n}")
    assert ids(before(store, "dev", 6, 10)) == [4, 5]
    assert before(store, "dev", 4, 10) == []


def test_rooms_lists_rooms_with_messages(make_store: MakeStore) -> None:
    """`rooms()` names every room that has stored messages."""
    store = make_store()
    assert store.rooms() == []
    say(store, "dev", "a")
    say(store, "ops", "b")
    assert sorted(store.rooms()) == ["dev", "ops"]


def test_retention_keeps_the_newest_messages_per_room(make_store: MakeStore) -> None:
    """With retain_messages=3 a room keeps its last 3 messages and ids go on."""
    store = make_store(retain_messages=3)
    for n in range(5):
        say(store, "dev", f"m{n}")
    say(store, "ops", "other room")
    assert ids(recent(store, "dev", 10)) == [3, 4, 5]
    assert say(store, "dev", "next").id == 6
    assert ids(recent(store, "ops", 10)) == [1]


def test_since_before_the_retained_window_starts_at_its_oldest(make_store: MakeStore) -> None:
    """A client that was away longer than retention gets what is left, from the oldest."""
    store = make_store(retain_messages=3)
    for n in range(6):
        say(store, "dev", f"m{n}")
    assert ids(since(store, "dev", 1, 10)) == [4, 5, 6]


def test_retention_by_age_drops_old_messages_on_prune(
    make_store: MakeStore, clock: task.Clock
) -> None:
    """With retain_days=1, prune drops messages more than a day old and keeps the rest."""
    store = make_store(retain_days=1)
    say(store, "dev", "old", ts=clock.seconds())
    clock.advance(SECONDS_PER_DAY / 2)
    say(store, "dev", "newer", ts=clock.seconds())
    clock.advance(SECONDS_PER_DAY * 0.75)
    store.prune()
    assert [e.text for e in recent(store, "dev", 10)] == ["newer"]
    assert [e.text for e in since(store, "dev", 0, 10)] == ["newer"]


def test_ids_are_not_reused_after_age_retention_emptied_a_room(
    make_store: MakeStore, clock: task.Clock
) -> None:
    """A room whose messages all expired has none to show, but its next id continues."""
    store = make_store(retain_days=1)
    say(store, "dev", "a", ts=clock.seconds())
    say(store, "dev", "b", ts=clock.seconds())
    clock.advance(SECONDS_PER_DAY * 2)
    store.prune()
    assert recent(store, "dev", 10) == []
    assert say(store, "dev", "c", ts=clock.seconds()).id == 3


def test_retain_days_zero_keeps_messages_forever(make_store: MakeStore, clock: task.Clock) -> None:
    """The default retain_days=0 never expires a message by age."""
    store = make_store()
    say(store, "dev", "ancient", ts=clock.seconds())
    clock.advance(SECONDS_PER_DAY * 3650)
    store.prune()
    assert [e.text for e in recent(store, "dev", 1)] == ["ancient"]


def test_counters_start_at_one_and_count_separately(make_store: MakeStore) -> None:
    """`bump_counter` returns 1, 2, 3 ... for each name on its own."""
    store = make_store()
    assert [store.bump_counter("counter") for _ in range(3)] == [1, 2, 3]
    assert store.bump_counter("other") == 1


def test_a_working_store_reports_healthy(make_store: MakeStore) -> None:
    """`health()` says ok while writes succeed."""
    store = make_store()
    say(store, "dev", "a")
    assert store.health().ok


# --- what is not history: accounts, rooms, bans; edits and deletions --------------------------


def restarted(store: Store) -> Store:
    """The store as the next process finds it: a SQLite store closed and opened again (its
    `load_state` is what the file held at start-up); a memory store is itself."""
    if isinstance(store, SqliteStore):
        closed = store.close()
        assert closed.called
        return SqliteStore(store.path, store.reactor, run=run_now)
    return store


def test_saved_records_come_back_from_load_state(make_store: MakeStore) -> None:
    """Records saved with `Put` are given back by `load_state`; a `Remove` forgets one."""
    store = make_store()
    account = AccountRecord("alice", "$argon2id$v=19$fake", START)
    login = LoginRecord("sha256:abc", "alice", START, START + 100)
    room = RoomRecord("dev", "alice", "release", "alice", START, "is", False)
    role = RoleRecord("dev", "bob", "op")
    ban = BanRecord("dev", "10.0.0.0/8", "alice", "spam", START, None)
    for record in (account, login, room, role, ban):
        store.save(Put(record))
    store.save(Put(RoomRecord("dev", "alice", "release on Friday", "alice", START, "is")))
    store.save(Remove(LoginRecord("sha256:abc", "alice", 0, 0)))
    state = restarted(store).load_state()
    assert state.accounts == [account]
    assert state.logins == []
    assert state.rooms == [RoomRecord("dev", "alice", "release on Friday", "alice", START, "is")]
    assert (state.roles, state.bans) == ([role], [ban])


def test_an_edited_message_is_read_edited(make_store: MakeStore) -> None:
    """After `edit_message` every read gives the new text, marked edited, same id."""
    store = make_store()
    for n in range(3):
        say(store, "dev", f"m{n}")
    store.edit_message("dev", 2, "changed")
    events = recent(store, "dev", 3)
    assert [(e.id, e.text, e.edited) for e in events] == [
        (1, "m0", False),
        (2, "changed", True),
        (3, "m2", False),
    ]
    assert since(store, "dev", 1, 1)[0].text == "changed"


def test_a_deleted_message_is_gone_from_every_read_and_its_id_is_not_reused(
    make_store: MakeStore,
) -> None:
    """After `delete_message` no read gives the message, and the next id still follows."""
    store = make_store()
    for n in range(3):
        say(store, "dev", f"m{n}")
    store.delete_message("dev", 2)
    assert ids(recent(store, "dev", 10)) == [1, 3]
    assert ids(since(store, "dev", 1, 10)) == [3]
    assert ids(recent(store, "dev", 1)) == [3]
    assert say(store, "dev", "m3").id == 4


def test_a_message_keeps_its_author(make_store: MakeStore) -> None:
    """The author (an account, or a guest's key) comes back with the message."""
    store = make_store()
    opened(store, "dev")
    store.append(Event("dev", "message", "alice", "hi", START, author="alice"))
    store.append(Event("dev", "message", "guest-1", "yo", START, author="~k1"))
    assert [e.author for e in recent(store, "dev", 2)] == ["alice", "~k1"]
