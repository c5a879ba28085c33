"""The hub's rules, driven by plain calls with recording clients."""

import itertools

import pytest

from chathub import commands as cmd
from chathub.config import HubSettings
from chathub.events import Error, Event, Help, History, Notice, Ok, Private, RoomList, Welcome
from chathub.hub import Hub
from chathub.store import MemoryStore
from chathub.text import nick_skeleton
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


def test_connect_welcomes_with_a_guest_nick_and_joins_the_lobby(hub):
    """A new client gets a welcome with `guest-N` and sees its own join in `lobby`."""
    client, session = join(hub)
    assert client.items[0] == Welcome("guest-1", ("lobby",), "hello there")
    assert session.nick == "guest-1"
    joined = client.items[1]
    assert isinstance(joined, Event)
    assert (joined.room, joined.kind, joined.nick) == ("lobby", "join", "guest-1")
    assert session.current_room == "lobby"


def test_guest_numbers_skip_nicks_in_use(hub):
    """A guest number whose nick a user already took is skipped."""
    join(hub, "guest-2")
    _, first = join(hub)
    _, second = join(hub)
    assert (first.nick, second.nick) == ("guest-1", "guest-3")


def test_connect_with_a_taken_or_bad_nick_gets_a_guest_nick_and_an_error(hub):
    """The requested nick is refused with a reason; the client still gets in."""
    join(hub, "alice")
    client, session = join(hub, "ALICE")
    assert session.nick.startswith("guest-")
    assert Error in [type(item) for item in client.items]
    client2, session2 = join(hub, "9lives")
    assert session2.nick.startswith("guest-")
    assert [e.code for e in client2.of_type(Error)] == ["bad-nick"]


def test_a_message_goes_to_every_member_of_the_room_sender_included(hub):
    """Both members get the same event object, with an id, and the sender's copy has its ref."""
    alice, a = join(hub, "alice")
    bob, _ = join(hub, "bob")
    alice.clear()
    bob.clear()
    hub.handle(a, cmd.Say("hi all", ref="r1"))
    assert len(alice.received) == len(bob.received) == 1
    (event, ref), (same, no_ref) = alice.received[0], bob.received[0]
    assert event is same
    assert (event.room, event.kind, event.nick, event.text, event.id) == (
        "lobby",
        "message",
        "alice",
        "hi all",
        1,
    )
    assert (ref, no_ref) == ("r1", None)


def test_rooms_are_isolated(hub):
    """A message in `dev` does not reach a client who is only in `lobby`."""
    _alice, a = join(hub, "alice")
    bob, _ = join(hub, "bob")
    hub.handle(a, cmd.Join("dev"))
    bob.clear()
    hub.handle(a, cmd.Say("dev only"))
    assert bob.items == []


def test_nick_change_goes_once_to_self_and_once_to_each_room_mate(hub):
    """A client sharing two rooms with the renamed one is told once."""
    alice, a = join(hub, "alice")
    bob, b = join(hub, "bob")
    carol, _ = join(hub, "carol", rooms=["elsewhere"])
    for s in (a, b):
        hub.handle(s, cmd.Join("dev"))
    for client in (alice, bob, carol):
        client.clear()
    hub.handle(a, cmd.Nick("Alicia", ref="n"))
    assert alice.received == [
        (Event(None, "nick", "Alicia", "", alice.items[0].ts, old="alice"), "n")
    ]
    assert [(e.kind, e.old, e.nick) for e in bob.items] == [("nick", "alice", "Alicia")]
    assert carol.items == []
    assert hub.sessions[nick_skeleton("alicia")] is a


def test_taken_nicks_are_refused_case_insensitively(hub):
    """`/nick ALICE` is refused while `alice` is connected."""
    join(hub, "alice")
    bob, b = join(hub, "bob")
    bob.clear()
    hub.handle(b, cmd.Nick("ALICE"))
    assert bob.items == [Error("nick-taken", "the nick ALICE is taken")]
    assert b.nick == "bob"


def test_nicks_that_look_like_a_taken_one_are_refused(hub):
    """`aIice` (capital i) and `a1ice` are refused while `alice` is connected, on connect too."""
    join(hub, "alice")
    bob, b = join(hub, "bob")
    bob.clear()
    for lookalike in ("aIice", "a1ice", "AL1CE"):
        hub.handle(b, cmd.Nick(lookalike))
    assert [error.code for error in bob.items] == ["nick-taken"] * 3
    assert bob.items[0].message == "the nick aIice is taken: it looks like alice"
    assert b.nick == "bob"
    newcomer = RecordingClient()
    session = hub.connect(newcomer, nick="a1ice")
    assert session.nick.startswith("guest-")
    assert Error("nick-taken", "the nick a1ice is taken: it looks like alice") in newcomer.items


def test_a_client_may_change_the_case_of_its_own_nick(hub):
    """alice -> Alice is allowed; it is the same nick."""
    _alice, a = join(hub, "alice")
    hub.handle(a, cmd.Nick("Alice"))
    assert a.nick == "Alice"
    assert hub.sessions[nick_skeleton("alice")] is a


def test_bad_nicks_are_refused(hub):
    """Nicks with spaces, escapes or a leading digit are refused and quoted safely."""
    alice, a = join(hub, "alice")
    alice.clear()
    hub.handle(a, cmd.Nick("\x1b[2Jevil"))
    (error,) = alice.items
    assert error.code == "bad-nick"
    assert "\x1b" not in error.message
    assert a.nick == "alice"


def test_rooms_lists_member_counts(hub):
    """/rooms lists each room with members, busiest first."""
    alice, a = join(hub, "alice")
    join(hub, "bob")
    join(hub, "carol", rooms=["dev"])
    alice.clear()
    hub.handle(a, cmd.Rooms())
    assert alice.items == [RoomList((("lobby", 2), ("dev", 1)), total=2)]


def test_private_messages_reach_only_the_target_and_echo_to_the_sender(hub):
    """/msg is delivered to the named nick and copied to the sender; others see nothing."""
    alice, a = join(hub, "alice")
    bob, _ = join(hub, "bob")
    carol, _ = join(hub, "carol")
    for client in (alice, bob, carol):
        client.clear()
    hub.handle(a, cmd.Msg("BOB", "psst", ref="m"))
    (to_bob,) = bob.items
    assert isinstance(to_bob, Private)
    assert (to_bob.sender, to_bob.to, to_bob.text) == ("alice", "bob", "psst")
    assert alice.received == [(to_bob, "m")]
    assert carol.items == []


def test_private_message_to_nobody_is_an_error(hub):
    """/msg to a nick nobody has is refused."""
    alice, a = join(hub, "alice")
    alice.clear()
    hub.handle(a, cmd.Msg("ghost", "hello?"))
    assert alice.items == [Error("no-such-nick", "nobody is called 'ghost'")]


def test_ids_increase_per_room_starting_at_one(hub):
    """Each room counts its own ids from 1."""
    alice, a = join(hub, "alice")
    hub.handle(a, cmd.Say("one"))
    hub.handle(a, cmd.Join("dev"))
    hub.handle(a, cmd.Say("dev one"))
    hub.handle(a, cmd.Say("two", room="lobby"))
    ids = [(e.room, e.id) for e in alice.of_type(Event) if e.kind == "message"]
    assert ids == [("lobby", 1), ("dev", 1), ("lobby", 2)]


def test_history_requests_are_capped():
    """A request for more than the cap returns the cap."""
    hub = Hub(MemoryStore(), settings=HubSettings(history_max=5))
    alice, a = join(hub, "alice")
    for n in range(10):
        hub.handle(a, cmd.Say(f"m{n}"))
    alice.clear()
    hub.handle(a, cmd.History(limit=1000))
    assert len(alice.of_type(History)[0].events) == 5


def test_since_without_a_limit_gives_all_missed_up_to_the_cap():
    """/since ID with no limit returns every newer message up to history_max, not 20."""
    hub = Hub(MemoryStore(), settings=HubSettings(history_default=2, history_max=7))
    alice, a = join(hub, "alice")
    for n in range(10):
        hub.handle(a, cmd.Say(f"m{n}"))
    alice.clear()
    hub.handle(a, cmd.History(since=1))
    assert [e.id for e in alice.of_type(History)[0].events] == [2, 3, 4, 5, 6, 7, 8]


def test_history_before_an_id_gives_the_page_just_older_than_it():
    """`history` with `before` answers the newest `limit` messages below the id, oldest first,
    `history_default` of them without a limit."""
    hub = Hub(MemoryStore(), settings=HubSettings(history_default=3))
    alice, a = join(hub, "alice")
    for n in range(10):
        hub.handle(a, cmd.Say(f"m{n}"))
    alice.clear()
    hub.handle(a, cmd.History(before=8, limit=2, ref=1))
    hub.handle(a, cmd.History(before=8))
    pages = alice.of_type(History)
    assert [[e.id for e in page.events] for page in pages] == [[6, 7], [5, 6, 7]]


def test_history_before_with_since_is_refused():
    """`before` and `since` ask for different pages: together they are a bad request."""
    hub = Hub(MemoryStore())
    alice, a = join(hub, "alice")
    alice.clear()
    hub.handle(a, cmd.History(since=1, before=8, ref="x"))
    assert [(type(item), ref) for item, ref in alice.received] == [(Error, "x")]
    assert alice.received[0][0].code == "bad-request"


def test_help_is_answered_with_a_help_item(hub):
    """/help answers `Help`: the hub says what; each transport words it (test_linewire)."""
    alice, a = join(hub, "alice")
    alice.clear()
    hub.handle(a, cmd.Help(ref="h"))
    assert alice.received == [(Help(), "h")]


def test_quit_parts_every_room_with_the_reason_and_closes(hub):
    """/quit tells each room the client left and asks the connection to close."""
    alice, a = join(hub, "alice")
    bob, _ = join(hub, "bob")
    hub.handle(a, cmd.Join("dev"))
    bob.clear()
    hub.handle(a, cmd.Quit("bye now", ref="q"))
    assert alice.closed
    assert alice.received[-1] == (Ok(), "q")
    assert [(e.room, e.kind, e.text) for e in bob.items] == [("lobby", "part", "bye now")]
    assert nick_skeleton("alice") not in hub.sessions
    assert "dev" not in hub.members


def test_disconnect_frees_the_nick_and_is_idempotent(hub):
    """After a client goes, its nick is free, and a second disconnect is harmless."""
    _, a = join(hub, "alice")
    hub.disconnect(a)
    hub.disconnect(a)
    _, again = join(hub, "alice")
    assert again.nick == "alice"


def test_shutdown_tells_every_client_and_closes_them(hub):
    """Shutdown sends `server shutting down` and closes each connection."""
    alice, _ = join(hub, "alice")
    bob, _ = join(hub, "bob")
    hub.shutdown()
    for client in (alice, bob):
        assert client.items[-1] == Notice("server shutting down")
        assert client.closed


def test_rooms_with_history_stay_listed_without_members(hub):
    """A room exists while it has members or history."""
    _alice, a = join(hub, "alice")
    hub.handle(a, cmd.Join("dev"))
    hub.handle(a, cmd.Say("remember me"))
    hub.handle(a, cmd.Part("dev"))
    assert ("dev", 0) in hub.room_list()[0]


def test_the_motd_is_cleaned_once_for_every_transport():
    """Escape sequences and controls in the configured motd never reach a client; lines stay."""
    hub = Hub(settings=HubSettings(motd="\x1b[2JHi\x1b]0;title\x07 there\r\nline two"))
    client = RecordingClient()
    hub.connect(client)
    (welcome,) = client.of_type(Welcome)
    assert welcome.motd == "Hi there\nline two"


def test_a_private_message_over_the_text_limit_is_refused_like_a_room_message(hub):
    """60,000 characters to bob: `too-long`, as in a room; 4,000 are delivered."""
    alice, a = join(hub, "alice")
    bob, _ = join(hub, "bob")
    alice.clear(), bob.clear()
    hub.handle(a, cmd.Msg("bob", "x" * 60_000, ref=1))
    hub.handle(a, cmd.Say("y" * 4001, ref=2))
    assert alice.received == [
        (Error("too-long", "messages are at most 4000 characters"), 1),
        (Error("too-long", "messages are at most 4000 characters"), 2),
    ]
    assert bob.items == []
    hub.handle(a, cmd.Msg("bob", "z" * 4000))
    assert [len(pm.text) for pm in bob.of_type(Private)] == [4000]
