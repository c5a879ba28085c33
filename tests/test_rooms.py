"""Room rules: joining, leaving, speaking in and asking about a room, as the hub applies them."""

import itertools

import pytest

from chathub import commands as cmd
from chathub import rooms
from chathub.config import HubSettings
from chathub.events import Error, Event, History, Notice, Welcome, Who
from chathub.hub import Hub
from chathub.store import MemoryStore
from tests.recording import RecordingClient


@pytest.fixture
def hub() -> Hub:
    ticks = itertools.count(1000)
    return Hub(
        MemoryStore(), clock=lambda: float(next(ticks)), settings=HubSettings(motd="hello there")
    )


def join(hub: Hub, nick: str | None = None, **kwargs):
    client = RecordingClient()
    session = hub.connect(client, nick=nick, **kwargs)
    return client, session


def limited_hub(**limits: int) -> Hub:
    return Hub(MemoryStore(), clock=lambda: 1000.0, settings=HubSettings(**limits))


def test_join_makes_the_room_current_and_notifies_its_members(hub):
    """Joining `#Dev` joins `dev`, which becomes where plain text goes."""
    alice, a = join(hub, "alice")
    bob, b = join(hub, "bob")
    hub.handle(b, cmd.Join("dev"))
    alice.clear()
    hub.handle(a, cmd.Join("#Dev"))
    assert a.rooms == ["lobby", "dev"]
    assert a.current_room == "dev"
    assert [(e.room, e.kind, e.nick) for e in bob.of_type(Event)][-1] == ("dev", "join", "alice")
    hub.handle(a, cmd.Say("in dev"))
    assert bob.of_type(Event)[-1].room == "dev"


def test_joining_a_room_already_joined_makes_it_current_without_a_join_event(hub):
    """A second /join of a room switches to it and tells only the client."""
    alice, a = join(hub, "alice")
    hub.handle(a, cmd.Join("dev"))
    alice.clear()
    hub.handle(a, cmd.Join("lobby"))
    assert a.current_room == "lobby"
    assert alice.items == [Notice("you are in lobby")]


def test_bad_room_names_are_refused(hub):
    """/join with a malformed name gets `bad-room` and joins nothing."""
    alice, a = join(hub, "alice")
    alice.clear()
    hub.handle(a, cmd.Join("no spaces", ref=1))
    assert [(type(i), getattr(i, "code", None)) for i in alice.items] == [(Error, "bad-room")]
    assert alice.received[0][1] == 1
    assert a.rooms == ["lobby"]


def test_part_leaves_the_room_and_tells_members_with_the_reason(hub):
    """/part sends a part event with the reason to the leaver and the remaining members."""
    alice, a = join(hub, "alice")
    bob, _ = join(hub, "bob")
    alice.clear()
    bob.clear()
    hub.handle(a, cmd.Part(None, "lunch"))
    for client in (alice, bob):
        (event,) = client.items
        assert (event.kind, event.nick, event.text) == ("part", "alice", "lunch")
    assert a.rooms == []
    assert "alice" not in [s.nick for s in hub.members["lobby"]]


def test_part_of_a_room_one_is_not_in_is_an_error(hub):
    """/part dev when not in dev changes nothing and says why."""
    alice, a = join(hub, "alice")
    alice.clear()
    hub.handle(a, cmd.Part("dev"))
    assert alice.items == [Error("not-in-room", "you are not in dev")]
    assert a.rooms == ["lobby"]


def test_text_in_no_room_is_a_no_room_error(hub):
    """After parting every room, plain text is refused with `no-room`."""
    alice, a = join(hub, "alice")
    hub.handle(a, cmd.Part())
    alice.clear()
    hub.handle(a, cmd.Say("anyone?"))
    assert [e.code for e in alice.of_type(Error)] == ["no-room"]


def test_empty_rooms_disappear_from_the_member_table(hub):
    """A room with no members and no history is not listed."""
    _alice, a = join(hub, "alice")
    hub.handle(a, cmd.Join("scratch"))
    hub.handle(a, cmd.Part("scratch"))
    assert "scratch" not in hub.members
    assert "scratch" not in [name for name, _ in hub.room_list()[0]]


def test_who_lists_the_members_sorted(hub):
    """/who answers with the members of the room, case-insensitively sorted."""
    alice, a = join(hub, "alice")
    join(hub, "Bob")
    join(hub, "carol", rooms=["dev"])
    alice.clear()
    hub.handle(a, cmd.Who())
    hub.handle(a, cmd.Who("dev"))
    assert alice.items == [Who("lobby", ("alice", "Bob")), Who("dev", ("carol",))]


def test_escape_sequences_never_reach_other_clients(hub):
    """Text is cleaned before it is stored or delivered."""
    _alice, a = join(hub, "alice")
    bob, _ = join(hub, "bob")
    bob.clear()
    hub.handle(a, cmd.Say("\x1b]0;owned\x07hi \x1b[5mblink\x00"))
    (event,) = bob.items
    assert event.text == "hi blink"


def test_text_that_cleans_to_nothing_is_refused(hub):
    """A message of only escape sequences is an `empty` error, not a blank line."""
    alice, a = join(hub, "alice")
    alice.clear()
    hub.handle(a, cmd.Say("\x1b[2J\x07"))
    assert [e.code for e in alice.of_type(Error)] == ["empty"]


def test_me_is_an_action_event(hub):
    """/me makes a stored `action` event."""
    alice, a = join(hub, "alice")
    alice.clear()
    hub.handle(a, cmd.Me("waves"))
    (event,) = alice.items
    assert (event.kind, event.text, event.id) == ("action", "waves", 1)


def test_joining_replays_recent_history(hub):
    """A newcomer gets the room's last messages, marked as history, after its join."""
    _alice, a = join(hub, "alice")
    for n in range(3):
        hub.handle(a, cmd.Say(f"m{n}"))
    bob, _ = join(hub, "bob")
    (history,) = bob.of_type(History)
    assert [e.text for e in history.events] == ["m0", "m1", "m2"]
    assert isinstance(bob.items[-1], History)


def test_replay_is_limited_to_the_configured_count():
    """`replay=2` replays only the last two messages."""
    hub = Hub(MemoryStore(), settings=HubSettings(replay=2))
    _alice, a = join(hub, "alice")
    for n in range(5):
        hub.handle(a, cmd.Say(f"m{n}"))
    bob, _ = join(hub, "bob")
    assert [e.text for e in bob.of_type(History)[0].events] == ["m3", "m4"]


def test_connect_with_since_replays_exactly_the_missed_messages(hub):
    """`since={room: id}` on connect returns the messages after that id instead of the replay."""
    _alice, a = join(hub, "alice")
    for n in range(1, 6):
        hub.handle(a, cmd.Say(f"m{n}"))
    bob, _ = join(hub, "bob", since={"lobby": 3})
    assert [e.id for e in bob.of_type(History)[0].events] == [4, 5]


def test_history_and_since_commands_answer_from_the_store(hub):
    """/history N gives the last N; /since ID gives those after ID; limits are validated."""
    alice, a = join(hub, "alice")
    for n in range(1, 31):
        hub.handle(a, cmd.Say(f"m{n}"))
    alice.clear()
    hub.handle(a, cmd.History())
    hub.handle(a, cmd.History(limit=3))
    hub.handle(a, cmd.History(since=28))
    hub.handle(a, cmd.History("nowhere", since=0))
    default, last3, after28, empty = alice.of_type(History)
    assert [e.id for e in default.events] == list(range(11, 31))
    assert [e.id for e in last3.events] == [28, 29, 30]
    assert [e.id for e in after28.events] == [29, 30]
    assert (empty.room, empty.events) == ("nowhere", ())
    hub.handle(a, cmd.History(since=-1))
    assert alice.of_type(Error)[-1].code == "bad-request"


def test_joins_past_the_limit_are_refused():
    """The join past `joins_per_minute` is refused; the client stays out of that room."""
    hub = limited_hub(joins_per_minute=2)
    client = RecordingClient()
    session = hub.connect(client, rooms=())
    hub.handle(session, cmd.Join("a"))
    hub.handle(session, cmd.Join("b"))
    hub.handle(session, cmd.Join("c"))
    assert session.rooms == ["a", "b"]
    assert client.of_type(Error)[-1].code == "rate-limited"
    assert hub.counters.join_limited == 1


def test_rejoining_a_room_one_is_in_is_not_a_join():
    """`/join` of a room already joined only makes it current and costs nothing."""
    hub = limited_hub(joins_per_minute=1)
    session = hub.connect(RecordingClient(), rooms=("a",))
    hub.handle(session, cmd.Join("a"))
    assert hub.counters.join_limited == 0


def test_rooms_per_connection_are_capped():
    """Past `max_rooms` a join is refused with a hint to part one."""
    hub = limited_hub(max_rooms=2)
    client = RecordingClient()
    session = hub.connect(client, rooms=("a", "b"))
    hub.handle(session, cmd.Join("c"))
    assert session.rooms == ["a", "b"]
    error = client.of_type(Error)[-1]
    assert error.code == "too-many-rooms" and "at most 2 rooms" in error.message
    assert hub.counters.rooms_limited == 1


def test_rooms_asked_for_on_connect_are_capped_and_the_welcome_lists_only_those_joined():
    """A connect asking for more than `max_rooms` rooms joins the first ones and is told."""
    hub = limited_hub(max_rooms=2)
    client = RecordingClient()
    session = hub.connect(client, rooms=("a", "b", "c", "d"))
    assert session.rooms == ["a", "b"]
    (welcome,) = client.of_type(Welcome)
    assert welcome.rooms == ("a", "b")
    assert [e.code for e in client.of_type(Error)] == ["too-many-rooms"]


def test_saying_to_a_room_one_is_not_in_is_refused_and_reaches_nobody(hub):
    """A message naming a room the sender is not in gets `not-in-room`; its members see nothing."""
    alice, a = join(hub, "alice")
    carol, _ = join(hub, "carol", rooms=["dev"])
    alice.clear()
    carol.clear()
    hub.handle(a, cmd.Say("sneaky", room="dev", ref="s"))
    assert alice.received == [(Error("not-in-room", "you are not in dev"), "s")]
    assert carol.received == []


def test_a_message_longer_than_text_max_is_refused():
    """Past `text_max` characters a message is a `too-long` error and is not stored."""
    hub = Hub(MemoryStore(), settings=HubSettings(text_max=5))
    alice, a = join(hub, "alice")
    alice.clear()
    hub.handle(a, cmd.Say("123456"))
    hub.handle(a, cmd.Say("12345"))
    assert [e.code for e in alice.of_type(Error)] == ["too-long"]
    assert [e.text for e in hub.store.recent("lobby", 10)] == ["12345"]


def test_a_message_of_several_lines_is_one_message_with_its_lines_cleaned(hub):
    """Line breaks (LF, CR LF, CR) survive as `\n`; each line is cleaned; blank lines around
    the text go; it is one stored message with one id."""
    alice, a = join(hub, "alice")
    alice.clear()
    hub.handle(a, cmd.Say("\r\nfirst\x1b[31m\r\n  second\rthird\n\n"))
    (event,) = alice.of_type(Event)
    assert event.text == "first\n  second\nthird" and event.id == 1
    assert [e.text for e in hub.store.recent("lobby", 10)] == ["first\n  second\nthird"]


def test_a_message_of_more_than_lines_max_lines_is_refused():
    """Past `lines_max` lines a message is a `too-long` error that names the limit."""
    hub = Hub(MemoryStore(), settings=HubSettings(lines_max=3))
    alice, a = join(hub, "alice")
    alice.clear()
    hub.handle(a, cmd.Say("1\n2\n3\n4", ref=1))
    hub.handle(a, cmd.Msg("alice", "1\n2\n3\n4", ref=2))
    hub.handle(a, cmd.Say("1\n2\n3"))
    error = Error("too-long", "messages are at most 3 lines")
    assert alice.of_type(Error) == [error, error]
    assert [e.text for e in hub.store.recent("lobby", 10)] == ["1\n2\n3"]


def test_who_and_history_answer_about_rooms_one_is_not_in(hub):
    """Questions need no membership: /who and /history of another room are answered."""
    alice, a = join(hub, "alice")
    _carol, c = join(hub, "carol", rooms=["dev"])
    hub.handle(c, cmd.Say("in dev"))
    alice.clear()
    hub.handle(a, cmd.Who("dev"))
    hub.handle(a, cmd.History("dev"))
    who, history = alice.items
    assert who == Who("dev", ("carol",))
    assert isinstance(history, History) and [e.text for e in history.events] == ["in dev"]


@pytest.mark.parametrize(
    "command",
    [cmd.Say("hi"), cmd.Me("waves"), cmd.Part(), cmd.Who(), cmd.History()],
    ids=["say", "me", "part", "who", "history"],
)
def test_a_command_about_the_current_room_in_no_room_is_a_no_room_error(hub, command):
    """With no room joined, a command that means the current room answers `no-room`."""
    alice, a = join(hub, "alice", rooms=())
    alice.clear()
    hub.handle(a, command)
    assert [e.code for e in alice.of_type(Error)] == ["no-room"]
    assert len(alice.items) == 1


@pytest.mark.parametrize(
    "command",
    [cmd.Say("hi", room="no good"), cmd.Part("a.b"), cmd.Who("x" * 40), cmd.History("no good")],
    ids=["say", "part", "who", "history"],
)
def test_a_malformed_room_name_in_any_command_is_a_bad_room_error(hub, command):
    """Every command that names a room refuses a malformed name with `bad-room`."""
    alice, a = join(hub, "alice")
    alice.clear()
    hub.handle(a, command)
    assert [e.code for e in alice.of_type(Error)] == ["bad-room"]
    assert len(alice.items) == 1


def test_history_with_a_limit_below_one_is_a_bad_request(hub):
    """`limit` must be 1 or more (and `since` 0 or more)."""
    alice, a = join(hub, "alice")
    alice.clear()
    hub.handle(a, cmd.History(limit=0, ref="h"))
    assert [(item.code, ref) for item, ref in alice.received] == [("bad-request", "h")]


def test_the_joiner_gets_its_join_with_the_ref_then_the_replay(hub):
    """A /join's ref comes back on the joiner's own join event; the replay follows, without."""
    _bob, b = join(hub, "bob", rooms=["dev"])
    hub.handle(b, cmd.Say("earlier"))
    alice, a = join(hub, "alice")
    alice.clear()
    hub.handle(a, cmd.Join("dev", ref="j"))
    (joined, join_ref), (replay, replay_ref) = alice.received
    assert (joined.kind, joined.room, join_ref) == ("join", "dev", "j")
    assert isinstance(replay, History) and replay_ref is None


def test_the_leaver_gets_its_part_with_the_ref_and_the_room_without(hub):
    """/part answers the leaver with its own part event carrying the ref; the others get none."""
    alice, a = join(hub, "alice")
    bob, _ = join(hub, "bob")
    alice.clear()
    bob.clear()
    hub.handle(a, cmd.Part(ref="p"))
    [(mine, ref)] = alice.received
    [(theirs, no_ref)] = bob.received
    assert mine == theirs and (ref, no_ref) == ("p", None)


def test_parts_during_a_shutdown_are_told_to_nobody(hub):
    """Once the hub is shutting down, a client that leaves is not announced: all are going."""
    _alice, a = join(hub, "alice")
    bob, _ = join(hub, "bob")
    hub.shutdown()
    bob.clear()
    hub.disconnect(a)
    assert bob.received == []
    assert "lobby" in hub.members and a not in hub.members["lobby"]


def test_join_problem_says_why_and_counts_the_refusal():
    """rooms.join_problem refuses past max_rooms or the join rate, counting each refusal."""
    hub = limited_hub(max_rooms=2, joins_per_minute=3)
    _client, session = join(hub, "alice", rooms=())
    assert rooms.join_problem(hub, session, 1, "dev") is None
    refusal = rooms.join_problem(hub, session, 2, "dev")
    assert refusal is not None and refusal.code == "too-many-rooms"
    assert hub.counters.rooms_limited == 1
    assert rooms.join_problem(hub, session, 0, "dev") is None
    assert rooms.join_problem(hub, session, 0, "dev") is None  # the third join this minute
    refusal = rooms.join_problem(hub, session, 0, "dev")
    assert refusal is not None and refusal.code == "rate-limited"
    assert hub.counters.join_limited == 1


def test_member_room_needs_membership_and_named_room_does_not(hub):
    """member_room answers only rooms the client is in; named_room any valid name."""
    alice, a = join(hub, "alice")
    alice.clear()
    assert rooms.member_room(hub, a, None, None) == "lobby"
    assert rooms.member_room(hub, a, "#Lobby", None) == "lobby"
    assert rooms.member_room(hub, a, "dev", "r") is None
    assert rooms.named_room(hub, a, "#Dev", None) == "dev"
    assert rooms.named_room(hub, a, "no good", "n") is None
    assert [(e.code, ref) for e, ref in alice.received] == [("not-in-room", "r"), ("bad-room", "n")]
