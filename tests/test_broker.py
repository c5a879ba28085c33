"""The Broker seam: the local broker's ids and delivery, and the hub's one publish point."""

import pytest

from chathub import commands as cmd
from chathub import feeds
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

    def receive(self, publication: Publication, together: bool = False) -> None:
        self.received.append(publication)

    def fan_out_held(self) -> None:
        """Nothing is held here."""


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

    def settle(self) -> None:
        """Release until nothing is held: a client's next join waits for its last one."""
        while self.held:
            self.release()


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
    broker.settle()
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


# --- a broker that hands back later: a client's order ------------------------------------------


def settled_pair() -> tuple[HoldingBroker, Hub, RecordingClient, RecordingClient, object]:
    broker = HoldingBroker()
    hub = Hub(broker=broker, origin="here")
    alice_client, bob_client = RecordingClient(), RecordingClient()
    alice = hub.connect(alice_client, "alice")
    hub.connect(bob_client, "bob")
    broker.settle()
    alice_client.clear()
    bob_client.clear()
    return broker, hub, alice_client, bob_client, alice


def test_a_direct_reply_waits_behind_the_senders_message_in_flight():
    """`say` then `who`: the who answer comes after the message's own echo, never before."""
    broker, hub, alice_client, _, alice = settled_pair()
    with hub.batch():
        hub.handle(alice, cmd.Say("first", ref="s"))
        hub.handle(alice, cmd.Who(None, ref="w"))
    assert alice_client.received == []  # the echo is in flight, so the answer waits
    broker.release()
    assert [(type(item).__name__, ref) for item, ref in alice_client.received] == [
        ("Event", "s"),
        ("Who", "w"),
    ]


def test_a_client_is_held_while_its_publication_is_in_flight():
    """A second message is not published until the first came back (input is held meanwhile)."""
    broker, hub, alice_client, _, alice = settled_pair()
    hub.handle(alice, cmd.Say("one"))
    hub.handle(alice, cmd.Say("two"))
    assert len(broker.held) == 1
    broker.release()
    assert [p.items[0].text for p in broker.held] == ["two"]
    broker.release()
    assert [item.text for item in alice_client.items] == ["one", "two"]


def test_what_an_adapter_tells_a_client_waits_for_its_publication_in_flight():
    """`tell` (a rate warning, say) to a client with a message in flight comes after its echo."""
    broker, hub, alice_client, _, alice = settled_pair()
    hub.handle(alice, cmd.Say("hello"))
    hub.tell(alice, Error("rate-limited", "slow down"))
    assert alice_client.received == []
    broker.release()
    assert [type(item).__name__ for item in alice_client.items] == ["Event", "Error"]


def test_a_joiner_gets_its_join_before_its_replay_when_the_join_is_in_flight():
    """The replay told after a join's publication waits for it: join, then history."""
    broker = HoldingBroker()
    store = MemoryStore()
    hub = Hub(store, broker=broker, origin="here")
    store.append(Event("dev", "message", "old", "before", 1.0))
    client = RecordingClient()
    session = hub.connect(client, "alice")
    broker.settle()
    client.clear()
    hub.handle(session, cmd.Join("dev", ref="j"))
    assert client.received == []
    broker.release()
    assert [(type(item).__name__, ref) for item, ref in client.received] == [
        ("Event", "j"),
        ("History", None),
    ]


def test_a_lost_publication_tells_its_sender_unavailable_and_lets_it_go_on():
    """Lost in flight: the sender gets `unavailable` with its ref in the echo's place; what
    waited behind it then runs; nobody else hears of it."""
    broker, hub, alice_client, bob_client, alice = settled_pair()
    with hub.batch():
        hub.handle(alice, cmd.Say("doomed", ref="s"))
        hub.handle(alice, cmd.Who(None, ref="w"))
    [publication] = broker.held
    broker.held.clear()
    hub.lost(publication)
    assert [(type(item).__name__, ref) for item, ref in alice_client.received] == [
        ("Error", "s"),
        ("Who", "w"),
    ]
    assert alice_client.items[0].code == "unavailable"
    assert bob_client.received == []


def test_a_lost_bot_publication_answers_unavailable():
    """A bot's publish whose publication is lost answers `unavailable` (HTTP 503)."""
    broker = HoldingBroker()
    hub = Hub(broker=broker, origin="here")
    answers: list[object] = []
    feeds.publish(hub, "deploy-bot", "dev", [feeds.Post("message", "shipped")], answers.append)
    assert answers == []
    [publication] = broker.held
    hub.lost(publication)
    [answer] = answers
    assert isinstance(answer, Error) and answer.code == "unavailable"


def test_a_bot_publication_is_answered_when_handed_back():
    """A bot's publish is answered with its events (ids set) when the broker hands them back."""
    broker = HoldingBroker()
    hub = Hub(broker=broker, origin="here")
    answers: list[object] = []
    feeds.publish(hub, "deploy-bot", "dev", [feeds.Post("message", "shipped")], answers.append)
    [publication] = broker.held
    stored = Event("dev", "message", "deploy-bot", "shipped", 1.0, 7, bot=True)
    hub.receive(Publication((stored,), publication.rooms, (), "here", publication.seq))
    assert answers == [(stored,)]
