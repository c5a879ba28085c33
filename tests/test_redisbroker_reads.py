"""The pushes of one read from Redis are delivered together: a room's run of them is one
delivery (one write) per member, and nobody sees a different order than one by one would give:
refs, direct replies, private messages, joins and readers all keep their places. No Redis: the
fake backplane of test_redisbroker, with `broker.reading()` standing for one read."""

import json
from dataclasses import dataclass, field
from typing import Any

from chathub import commands as cmd
from chathub import feeds
from chathub.events import Event, History, Notice, Outgoing, Private, Who
from chathub.hub import Hub
from chathub.redisbroker import RedisBroker
from chathub.redisconn import _Pushes
from chathub.rediswire import encode_item
from chathub.session import Session
from tests.recording import RecordingClient
from tests.test_redisbroker import FakeBackplane, made, published_message, settle


@dataclass(eq=False)
class CountingClient(RecordingClient):
    """Also keeps each delivery of several events at once (one write for a transport)."""

    batches: list[tuple[str, ...]] = field(default_factory=list)

    def deliver_events(self, events: tuple[Event, ...]) -> None:
        self.batches.append(tuple(event.text for event in events))
        super().deliver_events(events)

    def clear(self) -> None:
        super().clear()
        self.batches.clear()


def remote(first: int, text: str, room: str = "dev", seq: int = 9) -> bytes:
    """What another process's message to `room` looks like on this process's channel."""
    body = {"i": [encode_item(Event(room, "message", "carol", text, 1.0))], "r": [room]}
    return b"%d there %d %s" % (first, seq, json.dumps(body).encode())


def remote_private(to: str, text: str, seq: int = 9) -> bytes:
    body = {"i": [encode_item(Private("carol", to, text, 1.0))], "r": [], "n": [to]}
    return b"0 there %d %s" % (seq, json.dumps(body).encode())


def texts(client: RecordingClient) -> list[str]:
    return [item.text for item in client.items if isinstance(item, Event | Private)]


def room(*members: str) -> tuple[FakeBackplane, RedisBroker, Hub, list[Session]]:
    """A hub over the fake Redis whose `members` (recording clients) are in `dev`, quiet."""
    backplane, _, broker, hub, _ = made()
    sessions = [hub.connect(CountingClient(), nick, rooms=["dev"]) for nick in members]
    settle(backplane)
    for session in sessions:
        session.client.clear()
    return backplane, broker, hub, sessions


def test_two_pushes_of_a_room_in_one_read_are_one_delivery_per_member() -> None:
    """Two messages of another process in one read: each member gets them in one delivery."""
    backplane, broker, _, (bob, dave) = room("bob", "dave")
    with broker.reading():
        backplane.on_push(remote(1, "one"))
        backplane.on_push(remote(2, "two"))
        assert texts(bob.client) == []  # held until the read ends
    for member in (bob, dave):
        assert member.client.batches == [("one", "two")]
        assert [item.id for item in member.client.items] == [1, 2]


def test_pushes_outside_a_read_are_delivered_as_they_come() -> None:
    """A push handed over alone (not inside a read) is delivered at once, as before."""
    backplane, _, _, (bob,) = room("bob")
    backplane.on_push(remote(1, "one"))
    backplane.on_push(remote(2, "two"))
    assert bob.client.batches == [("one",), ("two",)]


def test_the_backplane_wraps_one_reads_pushes_in_one_on_read() -> None:
    """The subscriber connection: every push parsed from one `dataReceived` is handed over
    inside one `on_read()`, so the broker delivers them together."""
    seen: list[object] = []

    class Owner:
        reading = False

        def on_read(self) -> Any:
            owner = self

            class Read:
                def __enter__(self) -> None:
                    owner.reading = True
                    seen.append("read")

                def __exit__(self, *_: object) -> None:
                    owner.reading = False
                    seen.append("end")

            return Read()

        def pushed(self, message: bytes) -> None:
            seen.append((message, self.reading))

    protocol = _Pushes(charset=None)
    protocol.factory = type("Factory", (), {"owner": Owner()})()
    push = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$%d\r\n%s\r\n"
    data = push % (3, b"one") + push % (3, b"two")
    protocol.dataReceived(data[:10])  # a read with no whole push in it
    protocol.dataReceived(data[10:])
    assert seen == ["read", "end", "read", (b"one", True), (b"two", True), "end"]


def test_a_private_message_between_pushes_keeps_its_place() -> None:
    """A room message, a private message, a room message in one read: in that order (the
    private message delivers what is held first), the room's two as two deliveries."""
    backplane, broker, _, (bob,) = room("bob")
    with broker.reading():
        backplane.on_push(remote(1, "one"))
        backplane.on_push(remote_private("bob", "psst"))
        backplane.on_push(remote(2, "two"))
    assert texts(bob.client) == ["one", "psst", "two"]
    assert bob.client.batches == [("one",), ("two",)]


def test_a_direct_reply_said_during_a_read_comes_after_the_pushes_before_it() -> None:
    """Whatever the hub tells a member while a read's pushes are held delivers them first."""
    backplane, broker, hub, (bob,) = room("bob")
    with broker.reading():
        backplane.on_push(remote(1, "one"))
        hub.tell(bob, Notice("a notice"))
        backplane.on_push(remote(2, "two"))
    said = [item.text for item in bob.client.items]
    assert said == ["one", "a notice", "two"]


def test_own_messages_in_one_read_keep_their_refs_and_go_out_with_the_others() -> None:
    """Alice's and dave's messages (each its own publication, with a ref) and one of another
    process, back in one read: one delivery to bob; each sender's copy carries its ref;
    alice's `who`, waiting behind her message, is answered after it."""
    backplane, broker, hub, (alice, dave, bob) = room("alice", "dave", "bob")
    hub.handle(alice, cmd.Say("alice's", ref="r1"))
    hub.handle(alice, cmd.Who("dev", ref="w"))
    hub.handle(dave, cmd.Say("dave's", ref="r2"))
    [(first, _), (second, _)] = backplane.taken("publish")
    with broker.reading():
        backplane.on_push(published_message(first, 1))
        backplane.on_push(remote(2, "theirs"))
        backplane.on_push(published_message(second, 3))
        assert alice.client.received == []
    assert bob.client.batches == [("alice's", "theirs", "dave's")]
    assert [item.id for item in bob.client.items] == [1, 2, 3]
    for sender, own, ref in ((alice, "alice's", "r1"), (dave, "dave's", "r2")):
        received = [(getattr(item, "text", None), got) for item, got in sender.client.received]
        assert received[:3] == [
            (text, ref if text == own else None) for text in ("alice's", "theirs", "dave's")
        ]
    assert [type(item) for item, _ in alice.client.received[3:]] == [Who]
    assert alice.client.received[3][1] == "w"


def test_a_join_while_pushes_are_held_gets_them_once_in_its_replay() -> None:
    """Carol's join waits behind her message in flight; it comes back in the read that also
    brings two messages of dev, one before and one after it. Her join runs when her message
    is delivered, while dev's second is still held (and already counted as delivered here by
    the store): she gets both in her replay and neither live; bob gets both live, once."""
    backplane, broker, hub, (bob,) = room("bob")
    carol_client = CountingClient()
    carol = hub.connect(carol_client, "carol", rooms=["lobby"])
    settle(backplane)
    carol_client.clear()
    hub.handle(carol, cmd.Say("on my way", ref="s"))
    hub.handle(carol, cmd.Join("dev", ref="j"))
    [(said, _)] = backplane.taken("publish")
    with broker.reading():
        backplane.on_push(remote(1, "before"))
        backplane.on_push(published_message(said, 1))  # lobby's first
        backplane.on_push(remote(2, "after"))
    settle(backplane)  # carol's join goes out and comes back
    replayed = [event.text for item in carol_client.of_type(History) for event in item.events]
    live = [item.text for item in carol_client.of_type(Event) if item.room == "dev"]
    assert replayed == ["before", "after"]
    assert [text for text in live if text] == []  # her join's event has no text
    assert texts(bob.client)[:2] == ["before", "after"]


def test_a_reader_added_while_pushes_are_held_gets_them_once() -> None:
    """An event-stream reader of dev made while a read's pushes are held: what is held is in
    its catch-up, and not sent to it again when the read ends; the next push comes live."""
    backplane, broker, hub, (bob,) = room("bob")
    told: list[Outgoing] = []
    with broker.reading():
        backplane.on_push(remote(1, "one"))
        feeds.watch(hub, RecordingClient(), ["dev"], {"dev": 0}, 50, told.append)
        backplane.on_push(remote(2, "two"))
    reader = next(iter(hub.watchers["dev"]))
    live = [item.text for item in reader.client.items]
    assert [getattr(item, "text", None) for item in told] == ["one"]
    assert live == ["two"]
    assert texts(bob.client) == ["one", "two"]


def test_a_change_to_the_records_delivers_what_the_read_held_first() -> None:
    """A records push (a ban, a topic) comes after the room pushes before it in the read."""
    backplane, broker, hub, (bob,) = room("bob")
    order: list[str] = []
    hub_fan_out_held = hub.fan_out_held

    def noting() -> None:
        order.append(f"flush {len(texts(bob.client))}")
        hub_fan_out_held()

    hub.fan_out_held = noting
    broker.store.records.pushed = lambda payload: order.append("records")
    with broker.reading():
        backplane.on_push(remote(1, "one"))
        backplane.on_push(b"R there x")
    assert order[:2] == ["flush 0", "records"]
    assert texts(bob.client) == ["one"]


def test_a_ban_from_another_process_reaches_its_target_before_the_kick_it_causes() -> None:
    """A ban event of another process, held with the read's other pushes, is enforced as it
    passes the store (bob is put out of dev): bob still gets what came before it, the ban
    itself included, then his kick."""
    backplane, broker, hub, (bob,) = room("bob")
    broker.store.records.attach(hub)
    ban = Event("dev", "ban", "alice", "spam", 1.0, target="bob")
    body = {"i": [encode_item(ban)], "r": ["dev"]}
    with broker.reading():
        backplane.on_push(remote(1, "one"))
        backplane.on_push(b"0 there 10 " + json.dumps(body).encode())
    kinds = [item.kind for item in bob.client.of_type(Event)]
    assert kinds == ["message", "ban", "kick"]
    assert "dev" not in bob.rooms


def test_a_member_cut_off_during_a_held_delivery_does_not_reorder_the_others() -> None:
    """Bob goes (a slow reader cut off) while dev's run is being delivered to him: ops's run,
    held after it, still reaches dave after dev's, as one by one it would."""
    backplane, broker, hub, (bob, dave) = room("bob", "dave")
    hub.handle(dave, cmd.Join("ops"))
    settle(backplane)
    dave.client.clear()

    def cut_off(events: tuple[Event, ...]) -> None:
        hub.disconnect(bob)

    bob.client.deliver_events = cut_off
    with broker.reading():
        backplane.on_push(remote(1, "to dev"))
        backplane.on_push(remote(1, "to ops", room="ops"))
    assert texts(dave.client) == ["to dev", "to ops"]
