"""Moderation on the hub: owners, operators, voice, topics, modes, kicks, bans, invitations,
edits and deletions, kills, closing rooms, and what survives a restart."""

import pytest

from chathub import commands as cmd
from chathub import moderation
from chathub.events import (
    BanList,
    Error,
    Event,
    History,
    Invited,
    Modes,
    Notice,
    RoomList,
    Topic,
    Welcome,
    Who,
)
from chathub.hub import Hub
from chathub.store import MemoryStore
from tests.recording import RecordingClient

PASSWORD = "correct horse"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def hub(store: MemoryStore, clock: Clock) -> Hub:
    return Hub(store, clock=clock, operators=("root",))


def join(hub: Hub, nick: str | None = None, rooms=("lobby",), address="10.0.0.1", **kw):
    client = RecordingClient()
    return client, hub.connect(client, nick=nick, rooms=rooms, address=address, **kw)


def account(hub: Hub, nick: str, rooms=("lobby",), address="10.0.0.1"):
    """A client registered (and so identified) as `nick`, then in `rooms`."""
    client, session = join(hub, nick, rooms=(), address=address)
    hub.handle(session, cmd.Register(PASSWORD))
    assert session.account == nick
    for room in rooms:
        hub.handle(session, cmd.Join(room))
    client.clear()
    return client, session


def codes(client: RecordingClient) -> list[str]:
    return [item.code for item in client.of_type(Error)]


def events(client: RecordingClient, kind: str) -> list[Event]:
    return [e for e in client.of_type(Event) if e.kind == kind]


def test_the_first_registered_user_to_join_owns_the_room(hub):
    """A guest joining first owns nothing; the first account to join becomes the owner."""
    join(hub, "guest", rooms=("dev",))
    client, alice = account(hub, "alice", rooms=())
    hub.handle(alice, cmd.Join("dev"))
    assert Notice("you are the owner of dev") in client.items
    state = hub.room_states.get("dev")
    assert state is not None and state.owner == "alice"
    _, _bob = account(hub, "bob", rooms=("dev",))
    assert state.owner == "alice"


def test_an_operator_sets_the_topic_and_everyone_sees_it(hub):
    """/topic TEXT by the owner: a topic event to the room; a member may not set it."""
    _alice_client, alice = account(hub, "alice", rooms=("dev",))
    bob_client, bob = join(hub, "bob", rooms=("dev",))
    hub.handle(alice, cmd.Topic("release on Friday"))
    (event,) = events(bob_client, "topic")
    assert (event.nick, event.text) == ("alice", "release on Friday")
    hub.handle(bob, cmd.Topic("mine now"))
    assert codes(bob_client) == ["not-op"]
    bob_client.clear()
    hub.handle(bob, cmd.Topic())
    assert bob_client.items == [Topic("dev", "release on Friday", "alice", hub.clock())]


def test_the_topic_is_shown_on_join_and_in_the_welcome(hub):
    """A joiner is told the topic before the replay; its join event and welcome carry it."""
    _, alice = account(hub, "alice", rooms=("dev",))
    hub.handle(alice, cmd.Topic("release on Friday"))
    client, _ = join(hub, "carol", rooms=("dev",))
    assert client.items[0] == Welcome("carol", ("dev",), hub.settings.motd, None,
                                      (("dev", "release on Friday"),))  # fmt: skip
    (joined,) = events(client, "join")
    assert joined.topic == "release on Friday"
    assert isinstance(client.items[2], Topic) and client.items[2].text == "release on Friday"


def test_op_needs_an_account_and_gives_moderation_rights(hub):
    """/op bob: bob (identified) becomes an operator; a guest cannot be one."""
    alice_client, alice = account(hub, "alice", rooms=("dev",))
    _bob_client, bob = account(hub, "bob", rooms=("dev",))
    guest_client, guest = join(hub, "guest", rooms=("dev",))
    hub.handle(alice, cmd.Grant("guest", "op", True))
    assert codes(alice_client) == ["not-registered"]
    hub.handle(alice, cmd.Grant("bob", "op", True))
    (mode,) = events(guest_client, "mode")
    assert (mode.text, mode.target) == ("+o", "bob")
    hub.handle(bob, cmd.Kick("guest", "spam"))
    (kick,) = events(guest_client, "kick")
    assert (kick.nick, kick.target, kick.text) == ("bob", "guest", "spam")
    assert "dev" not in guest.rooms and guest not in hub.members["dev"]
    assert not events(guest_client, "part")


def test_nobody_acts_on_a_higher_or_equal_rank(hub):
    """An operator cannot kick or deop the owner; the owner can deop an operator."""
    _alice_client, alice = account(hub, "alice", rooms=("dev",))
    bob_client, bob = account(hub, "bob", rooms=("dev",))
    hub.handle(alice, cmd.Grant("bob", "op", True))
    hub.handle(bob, cmd.Kick("alice"))
    hub.handle(bob, cmd.Grant("alice", "op", False))
    assert codes(bob_client) == ["not-op", "not-op"]
    hub.handle(alice, cmd.Grant("bob", "op", False))
    assert events(bob_client, "mode")[-1].text == "-o"


def test_a_moderated_room_lets_only_voiced_users_speak(hub):
    """+m: a member without a voice is refused (moderated); /voice lets it speak."""
    alice_client, alice = account(hub, "alice", rooms=("dev",))
    guest_client, guest = join(hub, "guest", rooms=("dev",))
    hub.handle(alice, cmd.Mode("+m"))
    assert events(guest_client, "mode")[-1].text == "+m"
    hub.handle(guest, cmd.Say("hello?"))
    assert codes(guest_client) == ["moderated"]
    hub.handle(alice, cmd.Grant("guest", "voice", True))
    hub.handle(guest, cmd.Say("hello!"))
    assert [e.text for e in events(alice_client, "message")] == ["hello!"]
    hub.handle(alice, cmd.Mode())
    assert alice_client.items[-1] == Modes("dev", "+m")


def test_a_ban_puts_the_member_out_and_keeps_it_out_until_lifted(hub, clock):
    """/ban bob 2h spam: a ban event and a kick; bob cannot join again until the ban ends
    or is lifted."""
    alice_client, alice = account(hub, "alice", rooms=("dev",))
    bob_client, bob = join(hub, "bob", rooms=("dev",))
    hub.handle(alice, cmd.Ban("bob", 7200.0, "spam"))
    (ban,) = events(bob_client, "ban")
    assert (ban.target, ban.text, ban.until) == ("bob", "spam", clock.now + 7200)
    assert events(bob_client, "kick")[0].target == "bob" and "dev" not in bob.rooms
    hub.handle(bob, cmd.Join("dev"))
    assert codes(bob_client) == ["banned"]
    hub.handle(alice, cmd.Bans())
    listing = alice_client.of_type(BanList)[-1]
    assert [entry.mask for entry in listing.bans] == ["bob"]
    clock.now += 7201
    hub.handle(bob, cmd.Join("dev"))
    assert "dev" in bob.rooms


def test_an_address_ban_matches_a_network(hub):
    """/ban 10.1.0.0/16: a member connected from inside it is banned, one outside is not."""
    _, alice = account(hub, "alice", rooms=("dev",), address="192.0.2.1")
    _inside_client, inside = join(hub, "inside", rooms=("dev",), address="10.1.2.3")
    outside_client, outside = join(hub, "outside", rooms=("dev",), address="10.2.0.1")
    hub.handle(alice, cmd.Ban("10.1.0.0/16"))
    assert "dev" not in inside.rooms and "dev" in outside.rooms
    hub.handle(alice, cmd.Unban("10.1.0.0/16"))
    hub.handle(inside, cmd.Join("dev"))
    assert "dev" in inside.rooms
    assert events(outside_client, "unban")[0].target == "10.1.0.0/16"


def test_an_operator_cannot_ban_itself_or_a_bad_mask(hub):
    """A mask that matches the operator, or is no mask at all, is refused."""
    client, alice = account(hub, "alice", rooms=("dev",))
    hub.handle(alice, cmd.Ban("10.0.0.1"))
    hub.handle(alice, cmd.Ban("not a mask!"))
    assert codes(client) == ["bad-mask", "bad-mask"]


def test_an_invite_only_room_needs_an_invitation(hub):
    """+i: joining is refused (invite-only) until an operator invites; the invitee is told."""
    _, alice = account(hub, "alice", rooms=("dev",))
    hub.handle(alice, cmd.Mode("+i"))
    client, carol = join(hub, "carol")
    hub.handle(carol, cmd.Join("dev"))
    assert codes(client) == ["invite-only"]
    hub.handle(alice, cmd.Invite("carol"))
    assert Invited("dev", "alice") in client.items
    hub.handle(carol, cmd.Join("dev"))
    assert "dev" in carol.rooms


def test_a_secret_room_is_invisible_to_non_members(hub):
    """+s: not in a non-member's room list, `who` and history answer as for an empty room;
    members see it."""
    alice_client, alice = account(hub, "alice", rooms=("dev",))
    hub.handle(alice, cmd.Say("secret plans"))
    hub.handle(alice, cmd.Mode("+s"))
    client, carol = join(hub, "carol")
    hub.handle(carol, cmd.Rooms())
    hub.handle(carol, cmd.Who("dev"))
    hub.handle(carol, cmd.History("dev"))
    listing = client.of_type(RoomList)[-1]
    assert "dev" not in [name for name, _ in listing.rooms]
    assert client.of_type(Who)[-1] == Who("dev", ())
    assert client.of_type(History)[-1] == History("dev", ())
    hub.handle(alice, cmd.Rooms())
    assert "dev" in [name for name, _ in alice_client.of_type(RoomList)[-1].rooms]


def test_authors_edit_and_delete_their_messages_operators_anyones(hub, store):
    """/edit and /delete: an author may, a stranger may not (not-op), an operator may."""
    alice_client, alice = account(hub, "alice", rooms=("dev",))
    bob_client, bob = join(hub, "bob", rooms=("dev",))
    hub.handle(bob, cmd.Say("tpyo"))
    hub.handle(alice, cmd.Say("alice's"))
    hub.handle(bob, cmd.Edit(1, "typo"))
    (edit,) = events(alice_client, "edit")
    assert (edit.message_id, edit.text, edit.nick) == (1, "typo", "bob")
    hub.handle(bob, cmd.Edit(2, "bob was here"))
    hub.handle(bob, cmd.Delete(9))
    assert codes(bob_client) == ["not-op", "no-such-message"]
    hub.handle(alice, cmd.Delete(1))
    assert events(bob_client, "delete")[0].message_id == 1
    assert [(e.id, e.text) for e in store.recent("dev", 10)] == [(2, "alice's")]


def test_a_guest_may_not_edit_what_an_earlier_guest_of_the_same_nick_said(hub):
    """Authorship is the connection's for guests: a later `bob` cannot edit the first's."""
    _, first = join(hub, "bob", rooms=("dev",))
    hub.handle(first, cmd.Say("original"))
    hub.disconnect(first)
    client, second = join(hub, "bob", rooms=("dev",))
    hub.handle(second, cmd.Edit(1, "forged"))
    assert codes(client) == ["not-op"]


def test_a_server_operator_kills_and_bans_from_the_server(hub):
    """/kill: the victim is disconnected, its rooms see why; /gban keeps it out."""
    _, root = account(hub, "root", rooms=("dev",), address="127.0.0.1")
    watcher, _ = join(hub, "watcher", rooms=("dev",))
    victim_client, _victim = join(hub, "spammer", rooms=("dev",), address="198.51.100.7")
    hub.handle(root, cmd.Kill("spammer", "flooding"))
    assert victim_client.closed
    assert events(watcher, "part")[-1].text == "killed by root: flooding"
    hub.handle(root, cmd.GlobalBan("198.51.100.0/24", None, "spam"))
    again_client, _again = join(hub, "spammer2", address="198.51.100.9")
    assert codes(again_client) == ["banned"] and again_client.closed
    client, alice = account(hub, "alice")
    hub.handle(alice, cmd.Kill("watcher"))
    hub.handle(alice, cmd.GlobalBan("watcher"))
    assert codes(client) == ["not-op", "not-op"]


def test_closing_a_room_puts_everyone_out_and_hides_it(hub):
    """A closed room: its members are put out with a close event, nobody joins, nobody
    lists it; opening it again lets people in."""
    client, bob = join(hub, "bob", rooms=("dev",))
    assert moderation.close_room(hub, "root", "dev", "abuse", True)
    assert events(client, "close")[0].text == "abuse" and "dev" not in bob.rooms
    hub.handle(bob, cmd.Join("dev"))
    assert codes(client) == ["room-closed"]
    assert "dev" not in [name for name, _ in hub.room_list()[0]]
    moderation.close_room(hub, "root", "dev", "", False)
    hub.handle(bob, cmd.Join("dev"))
    assert "dev" in bob.rooms


def test_settings_roles_and_bans_survive_a_restart(store, clock):
    """A new hub on the same store knows the owner, topic, modes, operators and bans."""
    hub = Hub(store, clock=clock)
    _, alice = account(hub, "alice", rooms=("dev",))
    _, _bob = account(hub, "bob", rooms=("dev",))
    hub.handle(alice, cmd.Topic("release"))
    hub.handle(alice, cmd.Mode("+mi"))
    hub.handle(alice, cmd.Grant("bob", "op", True))
    hub.handle(alice, cmd.Ban("eve", None, "spam"))
    again = Hub(store, clock=clock)
    state = again.room_states.get("dev")
    assert state is not None
    assert (state.owner, state.topic, state.modes) == ("alice", "release", "im")
    assert state.holds("op", "bob") and "dev" in again.room_states.private
    assert [ban.mask for ban in again.bans.of("dev", clock.now)] == ["eve"]
