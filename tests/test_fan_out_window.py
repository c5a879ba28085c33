"""The fan-out window (`--fan-out-window`): while a room's events come faster than the window,
those that come within it are delivered together when it ends, one write per member; an event
after a quiet window goes out at once; order, refs and replays are as without it. Off (0) by
default, and then nothing waits."""

from typing import cast

import pytest
from twisted.internet.task import Clock

from chathub import commands as cmd
from chathub import heldfanout
from chathub.config import HubSettings
from chathub.events import Event, History, Notice
from chathub.hub import Hub
from chathub.options import ConfigError, load
from chathub.redisbroker import RedisBroker
from chathub.redisstore import RedisStore
from chathub.session import Session
from chathub.store import MemoryStore
from tests.test_redisbroker import FakeBackplane, settle
from tests.test_redisbroker_reads import CountingClient, remote

WINDOW = 0.02


def local_hub(clock: Clock, window: float = WINDOW) -> Hub:
    settings = HubSettings(fan_out_window=window)
    return Hub(MemoryStore(), clock=clock.seconds, settings=settings, later=clock.callLater)


def joined(hub: Hub, clock: Clock, *nicks: str) -> list[Session]:
    """`nicks` in `dev`, their joins announced (presence batches them) a while ago."""
    sessions = [hub.connect(CountingClient(), nick, rooms=["ops", "dev"]) for nick in nicks]
    while clock.getDelayedCalls():
        clock.advance(1)  # the joins are announced (fan-outs: a window starts)
    clock.advance(1)  # and it is long over
    for session in sessions:
        client(session).clear()
    return sessions


def client(session: Session) -> CountingClient:
    return cast(CountingClient, session.client)


def texts(session: Session) -> list[str]:
    """The messages a client was sent live, in order."""
    return [item.text for item in client(session).of_type(Event) if item.kind == "message"]


def received(session: Session) -> list[tuple[str | None, str | None]]:
    """The text and ref of everything a client was sent."""
    return [(getattr(item, "text", None), ref) for item, ref in client(session).received]


def batches(session: Session) -> list[tuple[str, ...]]:
    """The messages of each delivery of several events at once (one write each)."""
    return [texts for texts in client(session).batches if any(texts)]


@pytest.fixture
def clock() -> Clock:
    clock = Clock()
    clock.advance(1000)  # a hub that has been up a while: its last fan-out is long past
    return clock


def test_an_event_after_a_quiet_window_goes_out_at_once(clock: Clock) -> None:
    hub = local_hub(clock)
    alice, bob = joined(hub, clock, "alice", "bob")
    hub.handle(alice, cmd.Say("first", ref="r1"))
    assert texts(bob) == ["first"]  # nothing waits: no event came in the last window
    assert ("first", "r1") in received(alice)
    clock.advance(WINDOW)
    hub.handle(alice, cmd.Say("second"))
    assert texts(bob) == ["first", "second"]  # a whole window later: at once too


def test_events_within_the_window_are_delivered_together_when_it_ends(clock: Clock) -> None:
    hub = local_hub(clock)
    alice, bob = joined(hub, clock, "alice", "bob")
    hub.handle(alice, cmd.Say("one"))
    clock.advance(0.005)
    hub.handle(alice, cmd.Say("two", ref="r2"))
    clock.advance(0.005)
    hub.handle(alice, cmd.Say("three"))
    assert texts(bob) == ["one"]
    assert all(ref != "r2" for _, ref in received(alice))
    clock.advance(WINDOW - 0.010 - 0.001)
    assert texts(bob) == ["one"]  # the window is not over yet
    clock.advance(0.001)
    assert texts(bob) == ["one", "two", "three"]
    assert batches(bob) == [("one",), ("two", "three")]  # one write for what the window held
    assert [ref for text, ref in received(alice) if text == "two"] == [
        "r2"
    ]  # the sender's copy, with its ref, came with the others
    # Ids were given when each was said, not when delivered.
    ids = [item.id for item in client(bob).of_type(Event) if item.kind == "message"]
    assert ids == [1, 2, 3]


def test_without_a_window_nothing_waits(clock: Clock) -> None:
    hub = local_hub(clock, window=0)
    alice, bob = joined(hub, clock, "alice", "bob")
    for text in ("one", "two", "three"):
        hub.handle(alice, cmd.Say(text))
    assert batches(bob) == [("one",), ("two",), ("three",)]


def test_a_direct_reply_comes_after_what_the_window_holds(clock: Clock) -> None:
    hub = local_hub(clock)
    alice, bob = joined(hub, clock, "alice", "bob")
    hub.handle(alice, cmd.Say("one"))
    hub.handle(alice, cmd.Say("two"))  # held
    hub.handle(bob, cmd.Who("dev"))  # an answer to bob alone: what is held goes first
    kinds = [type(item).__name__ for item in client(bob).items]
    assert texts(bob) == ["one", "two"]
    assert kinds.index("Who") > 1
    clock.advance(WINDOW)
    assert texts(bob) == ["one", "two"]  # nothing twice when the window ends


def test_a_member_who_joins_during_the_window_has_what_it_holds_once(clock: Clock) -> None:
    hub = local_hub(clock)
    (alice,) = joined(hub, clock, "alice")
    hub.handle(alice, cmd.Say("one"))
    hub.handle(alice, cmd.Say("two"))  # held
    carol = hub.connect(CountingClient(), "carol", rooms=["dev"])
    clock.advance(1)
    histories = client(carol).of_type(History)
    replayed = [event.text for history in histories for event in history.events]
    assert replayed + texts(carol) == ["one", "two"]


def test_a_member_who_leaves_during_the_window_still_gets_what_came_before(
    clock: Clock,
) -> None:
    hub = local_hub(clock)
    alice, bob = joined(hub, clock, "alice", "bob")
    hub.handle(alice, cmd.Say("one"))
    hub.handle(alice, cmd.Say("two"))  # held
    hub.handle(bob, cmd.Part("dev"))
    assert texts(bob) == ["one", "two"]
    clock.advance(WINDOW)
    assert texts(bob) == ["one", "two"]


def test_two_rooms_keep_their_order_for_a_member_of_both(clock: Clock) -> None:
    hub = local_hub(clock)
    alice, bob = joined(hub, clock, "alice", "bob")
    for text, room in (("a1", "dev"), ("b1", "ops"), ("a2", "dev"), ("a3", "dev")):
        hub.handle(alice, cmd.Say(text, room=room))
    clock.advance(WINDOW)
    assert texts(bob) == ["a1", "b1", "a2", "a3"]


def test_shutdown_delivers_what_the_window_holds(clock: Clock) -> None:
    hub = local_hub(clock)
    alice, bob = joined(hub, clock, "alice", "bob")
    hub.handle(alice, cmd.Say("one"))
    hub.handle(alice, cmd.Say("two"))
    hub.begin_shutdown()
    assert texts(bob) == ["one", "two"]
    assert isinstance(client(bob).items[-1], Notice)


def test_the_window_is_off_by_default_and_at_most_a_second() -> None:
    assert load([], {}).config.hub.fan_out_window == 0
    assert load(["--fan-out-window", "0.02"], {}).config.hub.fan_out_window == 0.02
    with pytest.raises(ConfigError, match="more than 1 second"):
        load(["--fan-out-window", "2"], {})


# --- over Redis: the pushes of several reads within the window, together ---------------------


def redis_hub(clock: Clock) -> tuple[FakeBackplane, Hub, list[Session]]:
    backplane = FakeBackplane("here")
    store = RedisStore(backplane, clock)  # type: ignore[arg-type]
    broker = RedisBroker(backplane, store)  # type: ignore[arg-type]
    settings = HubSettings(fan_out_window=WINDOW)
    hub = Hub(store, clock.seconds, settings, broker=broker, origin="here", later=clock.callLater)
    sessions = [hub.connect(CountingClient(), "bob", rooms=["dev"])]
    settle(backplane)
    while clock.getDelayedCalls() or backplane.runs:  # the join announced, through "Redis"
        clock.advance(1)
        settle(backplane)
    clock.advance(1)
    client(sessions[0]).clear()
    return backplane, hub, sessions


def test_reads_from_redis_within_the_window_are_delivered_together(clock: Clock) -> None:
    backplane, hub, (bob,) = redis_hub(clock)
    broker = hub.broker
    assert isinstance(broker, RedisBroker)
    with broker.reading():
        backplane.on_push(remote(1, "one"))
    assert batches(bob) == [("one",)]  # the first after a quiet window: at once
    clock.advance(0.005)
    with broker.reading():
        backplane.on_push(remote(2, "two"))
    clock.advance(0.005)
    with broker.reading():
        backplane.on_push(remote(3, "three", seq=10))
    assert batches(bob) == [("one",)]
    clock.advance(WINDOW)
    assert batches(bob) == [("one",), ("two", "three")]


def test_a_records_change_from_redis_delivers_what_the_window_holds_first(clock: Clock) -> None:
    backplane, hub, (bob,) = redis_hub(clock)
    broker = hub.broker
    assert isinstance(broker, RedisBroker)
    seen: list[int] = []
    records = broker.store.records
    records.pushed = lambda body: seen.append(len(texts(bob)))  # type: ignore[method-assign]
    with broker.reading():
        backplane.on_push(remote(1, "one"))
    with broker.reading():
        backplane.on_push(remote(2, "two"))  # held by the window
        backplane.on_push(b"R there x")
    assert seen == [2]  # "two" was delivered before the change took effect


def test_a_quiet_rooms_event_goes_out_at_once_with_what_waits_before_it(clock: Clock) -> None:
    """The window is each room's: a busy room's events wait, a quiet room's do not (and what
    waits before it goes first, so a member of both sees them in the order said)."""
    hub = local_hub(clock)
    alice, bob = joined(hub, clock, "alice", "bob")
    hub.handle(alice, cmd.Say("a1", room="dev"))
    hub.handle(alice, cmd.Say("a2", room="dev"))  # dev had a fan-out just now: held
    assert texts(bob) == ["a1"]
    hub.handle(alice, cmd.Say("b1", room="ops"))  # ops was quiet: at once, a2 before it
    assert texts(bob) == ["a1", "a2", "b1"]
    hub.handle(alice, cmd.Say("b2", room="ops"))  # now ops is busy too
    assert texts(bob) == ["a1", "a2", "b1"]
    clock.advance(WINDOW)
    assert texts(bob) == ["a1", "a2", "b1", "b2"]


def test_the_last_fan_outs_kept_are_bounded(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rooms come and go: past `WINDOWS_KEPT` rooms, those whose window is over are forgotten."""
    monkeypatch.setattr(heldfanout, "WINDOWS_KEPT", 8)
    hub = local_hub(clock)
    (alice,) = joined(hub, clock, "alice")
    for n in range(30):
        hub.handle(alice, cmd.Join(f"room{n}"))
        hub.handle(alice, cmd.Say("hi", room=f"room{n}"))
        clock.advance(WINDOW)
    assert len(hub._last_fan_out) <= 9
