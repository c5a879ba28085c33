"""Kept private messages: the memory log, and the hub's rules (who keeps, who may read)."""

import itertools

import pytest

from chathub import commands as cmd
from chathub.events import Conversation, Conversations, Error, Private, PrivateHistory
from chathub.hub import Hub
from chathub.privatelog import HISTORY_MAX, MemoryPrivateLog, PrivateRecord
from chathub.store import MemoryStore
from tests.recording import RecordingClient

PASSWORD = "correct horse"


def record(sender: str, to: str, mine: str | None, theirs: str | None, text: str = "hi"):
    return PrivateRecord(0, sender, to, mine, theirs, text, 5.0)


def conversations_of(log: MemoryPrivateLog, account: str) -> list[Conversation]:
    answers: list[list[Conversation]] = []
    log.conversations(account, 100, answers.append)
    assert len(answers) == 1
    return answers[0]


def read(log: MemoryPrivateLog, account: str, partner: str, before=None, limit=100):
    answers: list[list[PrivateRecord]] = []
    log.read(account, partner, before, limit, answers.append)
    assert len(answers) == 1
    return [message.id for message in answers[0]]


# --- the memory log ----------------------------------------------------------------------------


def test_the_memory_log_gives_ids_from_one_up():
    """Each kept message gets the server's next id, whatever its conversation."""
    log = MemoryPrivateLog()
    ids = [log.append(record("alice", to, "alice", None)).id for to in ("bob", "carol", "bob")]
    assert ids == [1, 2, 3]


def test_conversations_are_one_per_partner_most_recent_first():
    """An account's conversations name the partner's account, or a guest's nick, newest first."""
    log = MemoryPrivateLog()
    log.append(record("alice", "bobby", "alice", "bob"))  # bob identified, using another nick
    log.append(record("carol", "alice", None, "alice"))  # carol a guest
    log.append(record("alice", "bobby", "alice", "bob", "again"))
    assert conversations_of(log, "ALICE") == [
        Conversation("bob", 3, 5.0),
        Conversation("carol", 2, 5.0),
    ]
    assert conversations_of(log, "bob") == [Conversation("alice", 3, 5.0)]
    assert conversations_of(log, "carol") == []  # a guest's side is nobody's


def test_read_pages_back_below_an_id():
    """`before` and `limit`: the newest `limit` below `before`, oldest first."""
    log = MemoryPrivateLog()
    for _ in range(5):
        log.append(record("alice", "bob", "alice", "bob"))
    log.append(record("alice", "carol", "alice", "carol"))
    assert read(log, "alice", "bob") == [1, 2, 3, 4, 5]
    assert read(log, "alice", "bob", limit=2) == [4, 5]
    assert read(log, "bob", "alice", before=4, limit=2) == [2, 3]
    assert read(log, "alice", "BOB", before=1) == []
    assert read(log, "carol", "bob") == []


def test_the_memory_log_keeps_at_most_its_bound_the_oldest_go():
    """Past `keep` messages the oldest are forgotten, from every conversation they were in."""
    log = MemoryPrivateLog(keep=3)
    log.append(record("alice", "carol", "alice", "carol"))
    for _ in range(3):
        log.append(record("alice", "bob", "alice", "bob"))
    assert read(log, "alice", "bob") == [2, 3, 4]
    assert read(log, "alice", "carol") == [] and conversations_of(log, "carol") == []
    assert log.append(record("alice", "bob", "alice", "bob")).id == 5


def test_a_message_to_oneself_is_one_conversation():
    """alice to alice is kept once, in her conversation with herself."""
    log = MemoryPrivateLog()
    log.append(record("alice", "alice", "alice", "alice"))
    assert conversations_of(log, "alice") == [Conversation("alice", 1, 5.0)]
    assert read(log, "alice", "alice") == [1]


# --- the hub -----------------------------------------------------------------------------------


@pytest.fixture
def hub() -> Hub:
    ticks = itertools.count(1000)
    return Hub(MemoryStore(), clock=lambda: float(next(ticks)))


def join(hub: Hub, nick: str):
    client = RecordingClient()
    return client, hub.connect(client, nick=nick, address="10.0.0.1")


def registered(hub: Hub, nick: str):
    client, session = join(hub, nick)
    hub.handle(session, cmd.Register(PASSWORD))
    assert session.account == nick
    client.clear()
    return client, session


def asked(hub: Hub, client: RecordingClient, session, command) -> object:
    client.clear()
    hub.handle(session, command)
    assert len(client.received) == 1
    item, ref = client.received[0]
    assert ref == command.ref
    return item


def test_a_pm_with_an_identified_side_is_kept_and_carries_its_id(hub):
    """The live pm to and from an identified user has the id it is kept under."""
    alice_client, alice = registered(hub, "alice")
    bob_client, bob = join(hub, "bob")
    hub.handle(alice, cmd.Msg("bob", "hello", ref="r"))
    hub.handle(bob, cmd.Msg("alice", "hi back"))
    hello = bob_client.of_type(Private)[0]
    assert (hello.sender, hello.to, hello.text, hello.id) == ("alice", "bob", "hello", 1)
    assert (hello, "r") in alice_client.received
    back = alice_client.of_type(Private)[1]
    assert back.id == 2
    history = asked(hub, alice_client, alice, cmd.PmHistory("bob", ref=7))
    assert history == PrivateHistory("bob", (hello, back))


def test_a_pm_between_guests_is_not_kept_and_has_no_id(hub):
    """Two guests' private messages are delivered live only."""
    _, alice = join(hub, "alice")
    bob_client, _ = join(hub, "bob")
    hub.handle(alice, cmd.Msg("bob", "psst"))
    assert bob_client.of_type(Private)[0].id is None
    assert hub.store.privates.append(PrivateRecord(0, "x", "y", "x", None, "", 0.0)).id == 1


@pytest.mark.parametrize(("to", "text"), [("nobody", "hi"), ("bob", " "), ("bob", "x" * 5000)])
def test_a_refused_pm_is_not_kept(hub, to, text):
    """No such nick, nothing to send, too long: refused, and nothing is kept."""
    alice_client, alice = registered(hub, "alice")
    join(hub, "bob")
    hub.handle(alice, cmd.Msg(to, text))
    assert alice_client.of_type(Error) and not alice_client.of_type(Private)
    assert asked(hub, alice_client, alice, cmd.Conversations()) == Conversations(())


def test_a_guest_asking_is_not_identified(hub):
    """Both questions answer a guest `not-identified`."""
    client, guest = join(hub, "guest")
    for command in (cmd.Conversations(ref=1), cmd.PmHistory("alice", ref=2)):
        reply = asked(hub, client, guest, command)
        assert isinstance(reply, Error) and reply.code == "not-identified"


def test_a_third_account_reads_nothing_of_others_conversations(hub):
    """Only the two sides see a conversation: carol sees none of alice's and bob's."""
    _, alice = registered(hub, "alice")
    join(hub, "bob")
    hub.handle(alice, cmd.Msg("bob", "secret"))
    carol_client, carol = registered(hub, "carol")
    assert asked(hub, carol_client, carol, cmd.Conversations()) == Conversations(())
    for partner in ("bob", "alice"):
        reply = asked(hub, carol_client, carol, cmd.PmHistory(partner))
        assert reply == PrivateHistory(partner, ())


def test_a_guest_who_registers_later_does_not_see_what_it_said_as_a_guest(hub):
    """The guest side of a kept message is nobody's, even once that nick is an account."""
    alice_client, alice = registered(hub, "alice")
    bob_client, bob = join(hub, "bob")
    hub.handle(bob, cmd.Msg("alice", "as a guest"))
    hub.handle(bob, cmd.Register(PASSWORD))
    assert asked(hub, bob_client, bob, cmd.Conversations()) == Conversations(())
    listed = asked(hub, alice_client, alice, cmd.Conversations())
    assert isinstance(listed, Conversations) and [c.with_ for c in listed.conversations] == ["bob"]


def test_with_is_the_partners_account_when_it_was_identified(hub):
    """bob identified but called bobby: alice's conversation is with `bob`."""
    alice_client, alice = registered(hub, "alice")
    _, bob = registered(hub, "bob")
    hub.handle(bob, cmd.Nick("bobby"))
    hub.handle(alice, cmd.Msg("bobby", "hi"))
    listed = asked(hub, alice_client, alice, cmd.Conversations())
    assert isinstance(listed, Conversations)
    assert [(c.with_, c.last_id) for c in listed.conversations] == [("bob", 1)]
    found = asked(hub, alice_client, alice, cmd.PmHistory("Bob"))
    assert isinstance(found, PrivateHistory) and [m.to for m in found.messages] == ["bobby"]


def test_ids_increase_and_before_pages_back(hub):
    """Ids increase across conversations; `before` pages back, `limit` caps at HISTORY_MAX."""
    alice_client, alice = registered(hub, "alice")
    join(hub, "bob")
    join(hub, "carol")
    for n in range(HISTORY_MAX + 10):
        hub.handle(alice, cmd.Msg("bob" if n % 2 else "carol", f"m{n}"))
    ids = [message.id for message in alice_client.of_type(Private)]
    assert ids == list(range(1, HISTORY_MAX + 11))
    page = asked(hub, alice_client, alice, cmd.PmHistory("bob", before=20, limit=3))
    assert isinstance(page, PrivateHistory)
    assert [m.id for m in page.messages] == [14, 16, 18]
    everything = asked(hub, alice_client, alice, cmd.PmHistory("carol", limit=1000))
    assert isinstance(everything, PrivateHistory) and len(everything.messages) == 55
    listed = asked(hub, alice_client, alice, cmd.Conversations())
    assert isinstance(listed, Conversations)
    assert [(c.with_, c.last_id) for c in listed.conversations] == [("bob", 110), ("carol", 109)]


@pytest.mark.parametrize(
    "command", [cmd.PmHistory("bob", limit=0), cmd.PmHistory("bob", before=0), cmd.PmHistory(" ")]
)
def test_a_bad_pm_history_request_is_refused(hub, command):
    """A limit or before below 1, or a `with` that names nobody: bad-request."""
    client, alice = registered(hub, "alice")
    reply = asked(hub, client, alice, command)
    assert isinstance(reply, Error) and reply.code == "bad-request"


def test_kept_pms_survive_a_new_hub_on_the_same_store():
    """A restart on the same store (memory here; the file in test_sqliteprivate) keeps them."""
    store = MemoryStore()
    first = Hub(store)
    _, alice = registered(first, "alice")
    join(first, "bob")
    first.handle(alice, cmd.Msg("bob", "before"))
    second = Hub(store)
    again_client, again = join(second, "x")
    second.handle(again, cmd.Identify(PASSWORD, "alice"))
    found = asked(second, again_client, again, cmd.PmHistory("bob"))
    assert isinstance(found, PrivateHistory) and [m.text for m in found.messages] == ["before"]


def test_the_memory_log_drops_what_is_past_retention():
    """`drop_older` (the store's prune, `--retain-days`) forgets messages said before it."""
    log = MemoryPrivateLog()
    for ts in (1.0, 2.0, 3.0):
        log.append(PrivateRecord(0, "alice", "bob", "alice", "bob", "x", ts))
    log.drop_older(2.5)
    assert read(log, "alice", "bob") == [3]
    log.drop_older(10.0)
    assert conversations_of(log, "bob") == []
    assert log.append(record("alice", "bob", "alice", "bob")).id == 4
