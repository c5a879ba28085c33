"""The Broker seam: the local broker's ids and delivery, and the hub's one publish point."""

import pytest

from chathub import commands as cmd
from chathub.broker import LocalBroker, Publication
from chathub.events import Error, Event, Private
from chathub.hub import Hub
from chathub.store import MemoryStore
from chathub.text import nick_skeleton
from tests.recording import RecordingClient


class Receiver:
    """A stand-in hub for the broker: keeps every publication handed to it."""

    def __init__(self) -> None:
        self.received: list[Publication] = []

    def receive(self, publication: Publication) -> None:
        self.received.append(publication)


class RecordingBroker:
    """Records every publication, then does what the local broker does (unless `failing`)."""

    def __init__(self, store: MemoryStore) -> None:
        self.local = LocalBroker(store)
        self.published: list[Publication] = []
        self.failing = False

    def attach(self, receiver: Receiver) -> None:
        self.local.attach(receiver)

    def publish(self, publication: Publication) -> bool:
        self.published.append(publication)
        if self.failing:
            return False
        return self.local.publish(publication)


class HoldingBroker:
    """A broker that hands publications back later, as one for many processes does."""

    def __init__(self) -> None:
        self.receivers: list[Receiver] = []
        self.held: list[Publication] = []

    def attach(self, receiver: Receiver) -> None:
        self.receivers.append(receiver)

    def publish(self, publication: Publication) -> bool:
        self.held.append(publication)
        return True

    def release(self) -> None:
        held, self.held = self.held, []
        for publication in held:
            for receiver in self.receivers:
                receiver.receive(publication)


def message(room: str, text: str) -> Event:
    return Event(room, "message", "alice", text, 1.0)


def kinds(publication: Publication) -> list[str]:
    return [item.kind if isinstance(item, Event) else "pm" for item in publication.items]


# --- the local broker -------------------------------------------------------------------------


def test_local_broker_gives_stored_kinds_the_next_id_of_their_room_in_order():
    """Messages and actions get ids counted per room, in the order they were published."""
    broker = LocalBroker(MemoryStore())
    receiver = Receiver()
    broker.attach(receiver)
    broker.publish(Publication((message("dev", "a"), message("dev", "b")), ("dev",)))
    broker.publish(Publication((message("ops", "c"),), ("ops",)))
    action = Event("dev", "action", "alice", "waves", 1.0)
    broker.publish(Publication((action,), ("dev",)))
    ids = [(item.room, item.text, item.id) for p in receiver.received for item in p.items]
    assert ids == [("dev", "a", 1), ("dev", "b", 2), ("ops", "c", 1), ("dev", "waves", 3)]


def test_local_broker_stores_what_it_gives_an_id():
    """A published message is in the store's history of its room, with its id."""
    store = MemoryStore()
    broker = LocalBroker(store)
    broker.publish(Publication((message("dev", "kept"),), ("dev",)))
    assert [(e.text, e.id) for e in store.recent("dev", 10)] == [("kept", 1)]


@pytest.mark.parametrize(
    "item",
    [
        Event("dev", "join", "alice", "", 1.0),
        Event("dev", "part", "alice", "bye", 1.0),
        Event(None, "nick", "alicia", "", 1.0, old="alice"),
        Private("alice", "bob", "psst", 1.0),
    ],
)
def test_local_broker_leaves_joins_parts_nicks_and_private_messages_alone(item):
    """An item of a kind that is not stored reaches receivers as it was, with no id, unstored."""
    store = MemoryStore()
    broker = LocalBroker(store)
    receiver = Receiver()
    broker.attach(receiver)
    publication = Publication((item,), ("dev",), ("bob",), "here", 3)
    broker.publish(publication)
    assert receiver.received == [publication]
    assert receiver.received[0].items[0] is item
    assert store.recent("dev", 10) == []


def test_local_broker_keeps_rooms_nicks_origin_and_seq_when_it_adds_ids():
    """Giving ids changes only the items: the rest of the publication is handed on as it was."""
    broker = LocalBroker(MemoryStore())
    receiver = Receiver()
    broker.attach(receiver)
    broker.publish(Publication((message("dev", "a"),), ("dev",), ("bob",), "here", 7))
    [out] = receiver.received
    assert (out.rooms, out.nicks, out.origin, out.seq) == (("dev",), ("bob",), "here", 7)


def test_local_broker_hands_every_publication_to_every_receiver_in_order():
    """Each attached receiver gets every publication, in the order they were published."""
    broker = LocalBroker(MemoryStore())
    first, second = Receiver(), Receiver()
    broker.attach(first)
    broker.attach(second)
    joins = [Publication((Event("dev", "join", f"n{i}", "", 1.0),), ("dev",)) for i in range(3)]
    for publication in joins:
        broker.publish(publication)
    assert first.received == second.received == joins


def test_local_broker_publish_returns_true():
    """The local broker never fails: publish answers True, with or without receivers."""
    broker = LocalBroker(MemoryStore())
    assert broker.publish(Publication((message("dev", "a"),), ("dev",))) is True
    broker.attach(Receiver())
    assert broker.publish(Publication((message("dev", "b"),), ("dev",))) is True


# --- the hub's one publish point --------------------------------------------------------------


def test_every_event_for_more_than_one_client_leaves_the_hub_through_the_broker():
    """Joins, a say, a part, a nick, a pm and a disconnect's parts all go to Broker.publish."""
    store = MemoryStore()
    broker = RecordingBroker(store)
    hub = Hub(store, broker=broker, origin="hub-1")
    alice = hub.connect(RecordingClient(), "alice", rooms=("lobby", "dev"))
    hub.connect(RecordingClient(), "bob")
    hub.handle(alice, cmd.Say("hi", room="lobby"))
    hub.handle(alice, cmd.Part("dev"))
    hub.handle(alice, cmd.Join("ops"))
    hub.handle(alice, cmd.Nick("alicia"))
    hub.handle(alice, cmd.Msg("bob", "psst"))
    hub.disconnect(alice)
    published = [(kinds(p), p.rooms, p.nicks) for p in broker.published]
    assert published == [
        (["join"], ("lobby",), ()),
        (["join"], ("dev",), ()),
        (["join"], ("lobby",), ()),
        (["message"], ("lobby",), ()),
        (["part"], ("dev",), ()),
        (["join"], ("ops",), ()),
        (["nick"], ("lobby", "ops"), (nick_skeleton("alicia"),)),
        (["pm"], (), ("bob", nick_skeleton("alicia"))),
        (["part"], ("lobby",), ()),
        (["part"], ("ops",), ()),
    ]
    assert {p.origin for p in broker.published} == {"hub-1"}
    assert [p.seq for p in broker.published] == list(range(1, 11))


@pytest.mark.parametrize(
    "command",
    [
        cmd.Say("hi", ref="r"),
        cmd.Me("waves", ref="r"),
        cmd.Join("dev", ref="r"),
        cmd.Nick("alicia", ref="r"),
        cmd.Msg("bob", "psst", ref="r"),
    ],
    ids=["say", "me", "join", "nick", "msg"],
)
def test_nothing_is_delivered_until_the_broker_hands_the_publication_back(command):
    """Held, an event reaches nobody; released, everyone, the sender's copy with its ref."""
    broker = HoldingBroker()
    hub = Hub(broker=broker)
    alice_client, bob_client = RecordingClient(), RecordingClient()
    alice = hub.connect(alice_client, "alice")
    hub.connect(bob_client, "bob", rooms=("lobby", "dev"))
    broker.release()
    alice_client.clear()
    bob_client.clear()
    hub.handle(alice, command)
    assert len(broker.held) == 1
    assert alice_client.received == [] and bob_client.received == []
    broker.release()
    [(item, ref)] = alice_client.received
    assert ref == "r"
    assert bob_client.received == [(item, None)]


def test_a_held_part_reaches_the_room_only_when_released():
    """A part is told to the leaver at once; the room hears of it when the broker hands it back."""
    broker = HoldingBroker()
    hub = Hub(broker=broker)
    alice_client, bob_client = RecordingClient(), RecordingClient()
    alice = hub.connect(alice_client, "alice")
    hub.connect(bob_client, "bob")
    broker.release()
    alice_client.clear()
    bob_client.clear()
    hub.handle(alice, cmd.Part(None, "lunch", ref="p"))
    assert [(type(item), ref) for item, ref in alice_client.received] == [(Event, "p")]
    assert bob_client.received == []
    broker.release()
    [(part, ref)] = bob_client.received
    assert (part.kind, part.nick, part.text, ref) == ("part", "alice", "lunch", None)


@pytest.mark.parametrize(
    "command", [cmd.Say("hi", ref="r"), cmd.Msg("bob", "psst", ref="r")], ids=["say", "msg"]
)
def test_a_broker_that_fails_gets_the_sender_an_unavailable_error_and_nobody_the_event(command):
    """publish returning False: the sender gets `unavailable` with its ref; nobody else a thing."""
    store = MemoryStore()
    broker = RecordingBroker(store)
    hub = Hub(store, broker=broker)
    alice_client, bob_client = RecordingClient(), RecordingClient()
    alice = hub.connect(alice_client, "alice")
    hub.connect(bob_client, "bob")
    alice_client.clear()
    bob_client.clear()
    broker.failing = True
    hub.handle(alice, command)
    [(error, ref)] = alice_client.received
    assert isinstance(error, Error) and error.code == "unavailable" and ref == "r"
    assert bob_client.received == []
    assert store.recent("lobby", 10) == []


def test_publications_from_another_hub_reach_local_members_without_refs():
    """Another origin's publication reaches local room members and nick holders with no ref."""
    # Even when its seq is one this hub awaits for a sender of its own.
    broker = HoldingBroker()
    hub = Hub(broker=broker, origin="here")
    alice_client, bob_client, carol_client = RecordingClient(), RecordingClient(), RecordingClient()
    alice = hub.connect(alice_client, "alice")
    hub.connect(bob_client, "bob")
    hub.connect(carol_client, "carol", rooms=("dev",))
    broker.release()
    for client in (alice_client, bob_client, carol_client):
        client.clear()
    hub.handle(alice, cmd.Say("mine", ref="r"))  # held: this hub awaits its own seq
    [own] = broker.held
    remote = message("lobby", "from afar")
    hub.receive(Publication((remote,), ("lobby",), (), "elsewhere", own.seq))
    assert alice_client.received == [(remote, None)]
    assert bob_client.received == [(remote, None)]
    assert carol_client.received == []
    pm = Private("dave", "carol", "hello", 1.0)
    hub.receive(Publication((pm,), (), ("carol", "dave"), "elsewhere", 1))
    assert carol_client.received == [(pm, None)]
    broker.release()
    assert alice_client.received[-1][1] == "r"  # its own publication still finds its sender
