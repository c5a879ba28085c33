"""The Redis roster with a fake backplane: nick claims at connect and rename, remote private
messages, `who`, what is told and when, the heartbeat's parts, and the notices of an outage."""

from typing import Any

from twisted.internet import task

from chathub import commands as cmd
from chathub.events import Error, Event, Notice, Private, Welcome, Who
from chathub.hub import Hub
from chathub.redisbroker import RedisBroker
from chathub.redispresence import BACK, LOST, TIMED_OUT, RedisRoster
from chathub.redisstore import RedisStore
from tests.recording import RecordingClient
from tests.test_redisbroker import FakeBackplane, settle


def made(
    timers: bool = False, operators: tuple[str, ...] = ()
) -> tuple[FakeBackplane, Hub, task.Clock]:
    """One process ("here") of many; `timers`: the hub waits on the test's clock."""
    clock = task.Clock()
    backplane = FakeBackplane()
    store = RedisStore(backplane, clock)  # type: ignore[arg-type]
    broker = RedisBroker(backplane, store)  # type: ignore[arg-type]
    roster = RedisRoster(backplane, broker, clock)  # type: ignore[arg-type]
    later = clock.callLater if timers else None
    hub = Hub(
        store, clock.seconds, broker=broker, origin="here", roster=roster, later=later,
        operators=operators,
    )  # fmt: skip
    roster.attach(hub)
    store.records.attach(hub)
    return backplane, hub, clock


def grant(backplane: FakeBackplane, which: int = 1, holder: str = "") -> tuple[Any, ...]:
    """Answer the pending claim: candidate `which` granted (0: refused, by `holder`)."""
    [(args, answer)] = backplane.taken("claim")
    answer.callback([which, holder.encode()])
    return args


def reserve_guests(backplane: FakeBackplane) -> None:
    for _, answer in backplane.taken("command"):
        answer.callback(64)


def connected(backplane: FakeBackplane, hub: Hub, nick: str) -> tuple[RecordingClient, Any]:
    client = RecordingClient()
    session = hub.connect(client, nick)
    reserve_guests(backplane)
    grant(backplane)
    settle(backplane)
    return client, session


def test_connect_is_welcomed_only_once_the_nick_is_granted_everywhere():
    """Nothing reaches the client (no placeholder nick) before the claim is answered."""
    backplane, hub, _ = made()
    client = RecordingClient()
    hub.connect(client, "alice")
    reserve_guests(backplane)
    assert client.received == []
    args = grant(backplane)
    assert args[:5] == ("here", "", 3, "allce", "alice")  # the nick key, then two guests
    welcome = client.items[0]
    assert isinstance(welcome, Welcome) and welcome.nick == "alice"


def test_a_nick_another_process_holds_gives_a_guest_nick_and_says_who_has_it():
    """Refused at connect: the first free guest nick, and `nick-taken` naming the holder."""
    backplane, hub, _ = made()
    client = RecordingClient()
    hub.connect(client, "alice")
    reserve_guests(backplane)
    args = grant(backplane, which=2, holder="aIice")
    welcome, error = client.items[:2]
    assert isinstance(welcome, Welcome) and welcome.nick == args[6]  # the first guest
    assert isinstance(error, Error) and error.code == "nick-taken" and "aIice" in error.message


def test_a_rename_another_process_refuses_is_an_error_with_the_ref():
    backplane, hub, _ = made()
    client, session = connected(backplane, hub, "bob")
    client.clear()
    hub.handle(session, cmd.Nick("alice", ref="n"))
    args = grant(backplane, which=0, holder="alice")
    assert args[:2] == ("here", "bob")  # the old nick's key goes with the claim
    [(error, ref)] = client.received
    assert (error.code, ref) == ("nick-taken", "n")
    assert session.nick == "bob"


def test_a_rename_granted_is_announced_and_the_next_command_waits_for_it():
    """While the claim is asked, the client's next command waits; then both, in order."""
    backplane, hub, _ = made()
    client, session = connected(backplane, hub, "bob")
    client.clear()
    hub.handle(session, cmd.Nick("robert", ref="n"))
    hub.handle(session, cmd.Who(None, ref="w"))
    assert client.received == []
    grant(backplane)
    settle(backplane)
    [(_, who)] = backplane.taken("who")
    who.callback([b"robert", b"alice"])
    kinds = [(type(item).__name__, ref) for item, ref in client.received]
    assert kinds == [("Event", "n"), ("Who", "w")]
    assert client.items[1] == Who("lobby", ("alice", "robert"))


def test_a_private_message_to_another_process_looks_the_nick_up_and_routes_by_it():
    backplane, hub, _ = made()
    client, session = connected(backplane, hub, "bob")
    client.clear()
    hub.handle(session, cmd.Msg("carol", "psst", ref="m"))
    [(args, answer)] = backplane.taken("holder")
    assert args == ("carol",)
    answer.callback(b"Carol")
    [(publish, _)] = backplane.taken("publish")
    assert publish[4:8] == (0, 2, "carol", "bob")  # nothing stored, no room, two nick keys
    settle(backplane)
    backplane.on_push(b"0 " + publish[-1])
    [(item, ref)] = client.received
    assert item == Private("bob", "Carol", "psst", item.ts) and ref == "m"


def test_a_private_message_to_nobody_anywhere_is_an_error():
    backplane, hub, _ = made()
    client, session = connected(backplane, hub, "bob")
    client.clear()
    hub.handle(session, cmd.Msg("nobody", "psst", ref="m"))
    [(_, answer)] = backplane.taken("holder")
    answer.callback(None)
    [(error, ref)] = client.received
    assert (error.code, ref) == ("no-such-nick", "m")


def test_joins_and_parts_are_told_in_one_batch_before_any_other_script():
    """Members are written at the end of the turn, or before the next script if sooner."""
    backplane, hub, clock = made()
    _client, session = connected(backplane, hub, "bob")
    clock.advance(0)
    [(args, _)] = backplane.taken("roster")
    assert args == ("here", "+", "lobby", "bob", "bob")
    hub.handle(session, cmd.Part("lobby", ""))
    hub.handle(session, cmd.Rooms(ref="r"))
    names = [name for name, _, _ in backplane.runs]
    assert names == ["roster", "publish", "rooms"]  # the part's member entry goes first


def test_members_of_a_dead_process_are_announced_as_parts_by_the_heartbeat():
    backplane, hub, _ = made()
    client, _ = connected(backplane, hub, "bob")
    client.clear()
    hub.roster.beat()  # type: ignore[union-attr]
    [(args, answer)] = backplane.taken("beat")
    assert args[0] == "here"
    answer.callback([1, [b"lobby", b"carol", b"lobby", b"dave"]])
    settle(backplane)
    [part] = client.items
    assert isinstance(part, Event) and part.kind == "part"
    assert (part.nick, part.nicks, part.text) == ("carol", ("carol", "dave"), TIMED_OUT)


def test_everyone_is_told_once_when_the_backplane_goes_and_when_it_is_back():
    backplane, hub, _ = made()
    client, _ = connected(backplane, hub, "bob")
    client.clear()
    backplane.lose()
    assert client.items == [Notice(LOST)]
    backplane.available = True
    for back in backplane.on_back:
        back()
    assert client.items == [Notice(LOST), Notice(BACK)]


def test_nothing_is_told_or_queued_while_the_backplane_is_away():
    """Away: joins, parts and releases are dropped (the whole state is written again later)."""
    backplane, hub, clock = made()
    _, session = connected(backplane, hub, "bob")
    clock.advance(0)
    backplane.taken("roster")
    backplane.lose()
    hub.disconnect(session)
    clock.advance(0)
    assert backplane.taken("roster") == []
