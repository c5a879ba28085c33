"""The hub with a store that answers later: joins and reads from disk, and a writer that lags.

A `SqliteStore` whose thread is a `ManualRunner`: nothing it reads comes back until the test
runs the jobs, as when a room is read from a big file.
"""

from collections.abc import Callable
from pathlib import Path

import pytest
from twisted.internet import task

from chathub import commands as cmd
from chathub import sqlitewriter as writer_module
from chathub.config import HubSettings
from chathub.events import Error, Event, History, Ok, RoomList
from chathub.hub import Hub
from chathub.session import Session
from chathub.sqlite import SqliteStore
from chathub.sqlitewriter import FLUSH_SECONDS, MAX_LAG
from chathub.store import MemoryStore
from chathub.storegate import LIGHT_BURST, LIGHT_RATE, RESUME_PER_TURN
from tests.recording import RecordingClient
from tests.test_sqlite import ManualRunner

START = 1_700_000_000.0


class HoldingClient(RecordingClient):
    """A RecordingClient that also records when the hub stops and resumes reading it."""

    def __init__(self) -> None:
        super().__init__()
        self.holds: list[bool] = []

    def hold_input(self, held: bool) -> None:
        self.holds.append(held)


@pytest.fixture
def clock() -> task.Clock:
    clock = task.Clock()
    clock.advance(START)
    return clock


@pytest.fixture
def runner() -> ManualRunner:
    return ManualRunner()


@pytest.fixture
def hub(tmp_path: Path, clock: task.Clock, runner: ManualRunner) -> Hub:
    store = SqliteStore(str(tmp_path / "history.db"), clock, run=runner)
    return Hub(store, clock=clock.seconds)


def connect(
    hub: Hub, runner: ManualRunner, nick: str, rooms: tuple[str, ...] = ("lobby",)
) -> tuple[HoldingClient, Session]:
    client = HoldingClient()
    session = hub.connect(client, nick, rooms)
    runner.run_all()
    client.holds.clear()
    return client, session


def texts(client: RecordingClient) -> list[str]:
    return [item.text for item in client.of_type(Event) if item.kind == "message"]


def test_a_join_that_reads_from_disk_holds_the_clients_later_commands(
    hub: Hub, runner: ManualRunner
) -> None:
    """Until the room is read, the client's next commands wait and its input is not read."""
    alice, a = connect(hub, runner, "alice")
    alice.clear()
    hub.handle(a, cmd.Join("dev"))
    hub.handle(a, cmd.Say("first in dev"))
    assert alice.holds == [True] and texts(alice) == []
    assert "dev" not in hub.members
    runner.run_all()
    assert alice.holds == [True, False]
    assert a.rooms == ["lobby", "dev"]
    assert texts(alice) == ["first in dev"]


def test_the_replay_comes_right_after_the_join_and_before_any_later_message(
    tmp_path: Path, clock: task.Clock, runner: ManualRunner
) -> None:
    """A joiner gets its join, the replay, then live messages, whatever the disk's timing."""
    store = SqliteStore(str(tmp_path / "small.db"), clock, run=runner, history_memory=1_000)
    hub = Hub(store, clock=clock.seconds)
    _bob, b = connect(hub, runner, "bob", ("dev",))
    for n in range(30):  # more than the memory holds: alice's replay is read from the file
        hub.handle(b, cmd.Say(f"old {n} " + "x" * 40))
    clock.advance(FLUSH_SECONDS)
    runner.run_all()
    alice, a = connect(hub, runner, "alice")
    alice.clear()
    hub.handle(a, cmd.Join("dev"))
    hub.handle(b, cmd.Say("said while alice's join was read"))
    runner.run_all()
    kinds = [type(item).__name__ for item in alice.items]
    assert kinds[:2] == ["Event", "History"]
    (replay,) = alice.of_type(History)
    assert [e.text for e in replay.events][-1] == "said while alice's join was read"
    assert texts(alice) == []  # nothing live came before the replay, and nothing was repeated


def test_a_client_that_leaves_while_its_join_is_read_joins_nothing(
    hub: Hub, runner: ManualRunner
) -> None:
    """Disconnecting during a join leaves no member behind and no room open for it."""
    _alice, a = connect(hub, runner, "alice")
    hub.handle(a, cmd.Join("dev"))
    hub.disconnect(a)
    runner.run_all()
    assert "dev" not in hub.members


def test_a_history_request_read_from_disk_keeps_the_replies_in_order(
    tmp_path: Path, clock: task.Clock, runner: ManualRunner
) -> None:
    """/history answered from the file still comes before the reply to a later command."""
    store = SqliteStore(str(tmp_path / "small.db"), clock, run=runner, history_memory=1_000)
    hub = Hub(store, clock=clock.seconds)
    alice, a = connect(hub, runner, "alice")
    for n in range(30):
        hub.handle(a, cmd.Say(f"message {n} " + "x" * 40))
    clock.advance(FLUSH_SECONDS)
    runner.run_all()
    alice.clear()
    hub.handle(a, cmd.History(since=0, ref="h"))
    hub.handle(a, cmd.Rooms(ref="r"))
    runner.run_all()
    assert [ref for _, ref in alice.received] == ["h", "r"]
    history = alice.of_type(History)[0]
    assert [e.id for e in history.events] == list(range(1, 31))


def test_messages_wait_while_the_writer_lags_and_go_once_it_catches_up(
    hub: Hub, runner: ManualRunner, clock: task.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the writer's lag a message is neither published nor acknowledged; then it is."""
    now = [1000.0]
    monkeypatch.setattr(writer_module.time, "monotonic", lambda: now[0])
    alice, a = connect(hub, runner, "alice")
    hub.handle(a, cmd.Say("written soon"))
    now[0] += MAX_LAG + 0.1  # the writer has not run: its oldest row is too old
    alice.clear()
    big = "must wait " + "😀" * (LIGHT_BURST // 4)  # more than a light sender's allowance
    hub.handle(a, cmd.Say(big, ref=1))
    hub.handle(a, cmd.Who(ref=2))
    assert alice.received == [] and alice.holds[-1] is True
    clock.advance(FLUSH_SECONDS)
    runner.run_all()
    assert [ref for _, ref in alice.received] == [1, 2]
    assert alice.holds[-1] is False
    assert texts(alice) == [big]


def test_a_light_sender_is_not_held_behind_a_flood(
    hub: Hub, runner: ManualRunner, clock: task.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the store is behind, a flooder's big messages wait; a person saying a few short
    lines gets each echoed at once, until they add up to more than its allowance."""
    now = [1000.0]
    monkeypatch.setattr(writer_module.time, "monotonic", lambda: now[0])
    flooder, f = connect(hub, runner, "flooder", ("flood",))
    alice, a = connect(hub, runner, "alice")
    hub.handle(f, cmd.Say("😀" * 4000))  # 16,000 bytes, the longest message
    clock.advance(FLUSH_SECONDS)  # the writer takes it, and is busy writing it
    hub.handle(f, cmd.Say("😀" * 4000))
    now[0] += MAX_LAG + 0.1  # the next one has waited too long
    assert hub.store.behind()
    flooder.clear()
    alice.clear()
    hub.handle(f, cmd.Say("😁" * 4000, ref="f"))
    assert flooder.received == [] and flooder.holds[-1] is True
    for n in range(3):
        hub.handle(a, cmd.Say(f"hello {n}", ref=n))
    assert [ref for _, ref in alice.received] == [0, 1, 2]
    assert alice.holds == []
    # Short lines at once add up: past the burst, alice waits too (what passes is bounded).
    for n in range(10):
        hub.handle(a, cmd.Say("z" * 1000, ref=f"z{n}"))
    assert alice.holds == [True]
    assert texts(alice)[3:] == ["z" * 1000] * 4
    runner.run_all()
    assert alice.holds[-1] is False and flooder.holds[-1] is False
    assert [ref for _, ref in flooder.received] == ["f"]
    assert [ref for _, ref in alice.received][3:] == [f"z{n}" for n in range(10)]


def test_a_light_sender_s_allowance_comes_back_with_time(hub: Hub) -> None:
    """The allowance refills at LIGHT_RATE bytes a second, up to LIGHT_BURST."""
    session = hub.connect(RecordingClient(), "alice", ("lobby",))
    now = [2000.0]
    hub.clock = lambda: now[0]
    assert hub.passes_while_behind(session, "x" * LIGHT_BURST)
    assert not hub.passes_while_behind(session, "x")
    now[0] += 1.0
    assert hub.passes_while_behind(session, "x" * int(LIGHT_RATE))
    assert not hub.passes_while_behind(session, "x")
    now[0] += 3600.0
    assert not hub.passes_while_behind(session, "x" * (LIGHT_BURST + 1))
    assert hub.passes_while_behind(session, "😀" * (LIGHT_BURST // 4))  # bytes, not characters


def test_a_room_past_max_rooms_total_is_refused_and_counted() -> None:
    """With every allowed room in use, joining one more is refused; existing ones still work."""
    hub = Hub(MemoryStore(), settings=HubSettings(max_rooms_total=2))
    alice = RecordingClient()
    a = hub.connect(alice, "alice", ("one", "two"))
    alice.clear()
    hub.handle(a, cmd.Join("three", ref="j"))
    ((error, ref),) = alice.received
    assert isinstance(error, Error) and error.code == "server-rooms-full" and ref == "j"
    assert hub.counters.rooms_total_limited == 1
    bob = RecordingClient()
    hub.connect(bob, "bob", ("two",))
    assert "bob" in [e.nick for e in bob.of_type(Event)]


def test_room_lists_show_the_busiest_and_the_total() -> None:
    """`rooms` names at most room_list_max rooms, busiest first, and says how many exist."""
    hub = Hub(MemoryStore(), settings=HubSettings(room_list_max=2, max_rooms=0))
    watcher = RecordingClient()
    w = hub.connect(watcher, "watcher", ("a", "b", "c"))
    hub.connect(RecordingClient(), "x", ("b", "c"))
    hub.connect(RecordingClient(), "y", ("c",))
    watcher.clear()
    hub.handle(w, cmd.Rooms(ref=1))
    assert watcher.received == [(RoomList((("c", 3), ("b", 2)), total=3), 1)]
    assert hub.room_list(10)[0] == [("c", 3), ("b", 2), ("a", 1)]


def test_a_quit_with_a_ref_still_gets_ok_after_waiting() -> None:
    """Waiting changes nothing about the one reply per ref (an `ok` for a quit)."""
    hub = Hub(MemoryStore())
    client = RecordingClient()
    session = hub.connect(client, "alice")
    hub.handle(session, cmd.Quit(ref="q"))
    assert client.received[-1] == (Ok(), "q")


class GatedStore(MemoryStore):
    """The memory store, behind (or not) when the test says, calling back once caught up."""

    def __init__(self) -> None:
        super().__init__()
        self.is_behind = False
        self.callbacks: list[Callable[[], None]] = []

    def behind(self) -> bool:
        return self.is_behind

    def when_caught_up(self, callback: Callable[[], None]) -> None:
        if self.is_behind:
            self.callbacks.append(callback)
        else:
            callback()

    def catch_up(self) -> None:
        self.is_behind = False
        callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            callback()


def test_the_store_s_waiters_resume_a_few_a_turn_in_the_order_they_came() -> None:
    """A thousand flooders held at the gate are not all resumed in one turn (each carries out
    a read's worth of messages: the reactor would not read anyone else meanwhile), but
    RESUME_PER_TURN a turn, first come first; if the store falls behind again, the rest keep
    their place."""
    turns: list[Callable[[], None]] = []  # what waits for the next turn

    def next_turn() -> None:
        calls = turns[:]
        turns.clear()
        for call in calls:
            call()

    store = GatedStore()
    hub = Hub(store, later=lambda _, call: turns.append(call))
    clients = [RecordingClient() for _ in range(40)]
    sessions = [hub.connect(c, f"u{n}", (f"r{n}",)) for n, c in enumerate(clients)]
    next_turn()  # the joins are announced at the end of the turn
    store.is_behind = True
    for n, session in enumerate(sessions):
        hub.handle(session, cmd.Say("😀" * 2000, ref=n))  # past a light sender's allowance
    for client in clients:
        client.clear()

    def answered() -> list[int]:
        return [n for n, client in enumerate(clients) if client.received]

    store.catch_up()
    assert answered() == list(range(RESUME_PER_TURN))
    next_turn()
    assert answered() == list(range(2 * RESUME_PER_TURN))
    store.is_behind = True
    next_turn()
    assert answered() == list(range(2 * RESUME_PER_TURN))
    store.catch_up()
    assert answered() == list(range(40))
