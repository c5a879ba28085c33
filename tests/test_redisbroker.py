"""The Redis broker and store with a fake backplane: what is sent, what comes back, in what order,
and how refs find their senders. No Redis: the test plays the script's part."""

import json
from typing import Any

from twisted.internet import defer, task

from chathub import commands as cmd
from chathub.broker import Publication
from chathub.events import Error, Event, History, Private, Who
from chathub.hub import Hub
from chathub.redisbroker import RedisBroker
from chathub.redisstore import RedisStore
from chathub.rediswire import decode_item, encode_item
from chathub.store import Recent, Since
from tests.recording import RecordingClient


class FakeBackplane:
    """Records every script run; the test answers them and pushes what Redis would."""

    def __init__(self, origin: str = "here") -> None:
        self.origin = origin
        self.prefix = "chathub:"
        self.available = True
        self.error: str | None = None
        self.on_push: Any = None
        self.on_lost: list[Any] = []
        self.on_ready: list[Any] = []
        self.on_back: list[Any] = []
        self.on_close: list[Any] = []
        self.before_run: Any = None
        self.runs: list[tuple[str, tuple[Any, ...], defer.Deferred[Any]]] = []

    def run(self, script: str, *args: Any) -> defer.Deferred[Any]:
        if self.before_run is not None and script != "roster":
            self.before_run()  # as the real one: what is told goes first
        answer: defer.Deferred[Any] = defer.Deferred()
        self.runs.append((script, args, answer))
        return answer

    def watch(self, answer: defer.Deferred[Any], seconds: float = 5.0) -> None:
        """The watchdog is the real backplane's."""

    def command(self, *args: Any) -> defer.Deferred[Any]:
        return self.run("command", *args)

    def taken(self, script: str) -> list[tuple[tuple[Any, ...], defer.Deferred[Any]]]:
        found = [(args, answer) for name, args, answer in self.runs if name == script]
        self.runs = [run for run in self.runs if run[0] != script]
        return found

    def lose(self) -> None:
        self.available = False
        for lost in self.on_lost:
            lost()


def published_message(args: tuple[Any, ...], first: int) -> bytes:
    """What the publish script PUBLISHes for a call with `args`: the first id, then payload."""
    return b"%d " % first + args[-1]


def made(origin: str = "here") -> tuple[FakeBackplane, RedisStore, RedisBroker, Hub, task.Clock]:
    clock = task.Clock()
    backplane = FakeBackplane(origin)
    store = RedisStore(backplane, clock)  # type: ignore[arg-type]
    broker = RedisBroker(backplane, store)  # type: ignore[arg-type]
    hub = Hub(store, clock.seconds, broker=broker, origin=origin)
    return backplane, store, broker, hub, clock


def open_rooms(backplane: FakeBackplane, *tops: tuple[str, int]) -> None:
    """Answer the open scripts: each room's last id, no entries."""
    answers = dict(tops)
    for args, answer in backplane.taken("open"):
        answer.callback([answers.get(args[1], 0), []])


def settle(backplane: FakeBackplane) -> None:
    """Play Redis until nothing waits: rooms open empty, publications get ids and come back."""
    counters: dict[str, int] = {}
    while any(name in ("open", "publish", "close") for name, _, _ in backplane.runs):
        open_rooms(backplane)
        for args, answer in backplane.taken("publish"):
            n = args[3]
            room = args[5 + n] if args[4 + n] else ""
            first = counters.get(room, 0) + 1 if n else 0
            counters[room] = counters.get(room, 0) + n
            answer.callback(first)
            backplane.on_push(published_message(args, first))
        for _, answer in backplane.taken("close"):
            answer.callback(1)


def test_publish_sends_the_script_the_entries_rooms_nicks_and_a_payload_naming_origin_and_seq():
    """One script call: stored entries as JSON, the rooms, the nick keys, `ORIGIN SEQ JSON`."""
    backplane, store, broker, _hub, _ = made()
    message = Event("dev", "message", "alice", "hi ü", 1.5)
    assert broker.publish(Publication((message,), ("dev",), ("bob",), "here", 7)) is True
    [(args, _)] = backplane.taken("publish")
    origin, maxlen, floor, n, stored = args[:5]
    assert (origin, maxlen, floor, n) == ("here", store.retain_messages, 0, 1)
    assert json.loads(stored) == {"k": "message", "n": "alice", "t": "hi ü", "s": 1.5}
    assert args[5:9] == (1, "dev", 1, "bob")
    assert args[-1].startswith(b"here 7 ")
    assert broker.in_flight == 1


def test_publish_refuses_at_once_while_the_backplane_is_away():
    """Away: False, nothing sent, nothing queued."""
    backplane, _, broker, _, _ = made()
    backplane.available = False
    assert broker.publish(Publication((Event("dev", "join", "a", "", 1.0),), ("dev",))) is False
    assert backplane.runs == [] and broker.in_flight == 0


def test_items_survive_the_wire_as_they_were():
    """Every field of events and private messages is decoded as it was encoded."""
    items = [
        Event("dev", "join", "alice", "", 1.0, nicks=("alice", "bob")),
        Event(None, "nick", "alicia", "", 2.0, old="alice"),
        Event("dev", "message", "deploy-bot", "shipped", 3.0, bot=True),
        Private("alice", "bob", "psst 👋", 4.0),
    ]
    for item in items:
        assert decode_item(json.loads(json.dumps(encode_item(item)))) == item


def test_a_room_message_goes_out_and_comes_back_with_its_id_and_the_senders_ref():
    """Through the fake Redis: everyone here gets the message with the id the script gave;
    the sender's copy carries its ref; the sender is held until then."""
    backplane, _, _, hub, _ = made()
    alice_client, bob_client = RecordingClient(), RecordingClient()
    claims = _claims_answered(hub)
    alice = hub.connect(alice_client, "alice")
    hub.connect(bob_client, "bob")
    claims()
    settle(backplane)
    alice_client.clear()
    bob_client.clear()
    hub.handle(alice, cmd.Say("hello", ref="r1"))
    assert alice_client.received == []
    [(args, answer)] = backplane.taken("publish")
    answer.callback(5)
    backplane.on_push(published_message(args, 5))
    [(event, ref)] = alice_client.received
    assert (event.text, event.id, ref) == ("hello", 5, "r1")
    assert bob_client.received == [(event, None)]


def test_a_publication_from_another_process_is_decoded_and_delivered_in_channel_order():
    """Two publications of another process: delivered in the order they came, ids set."""
    backplane, _, _, hub, _ = made()
    client = RecordingClient()
    claims = _claims_answered(hub)
    hub.connect(client, "bob")
    claims()
    settle(backplane)
    client.clear()
    for first, text in ((1, "one"), (2, "two")):
        body = {"i": [encode_item(Event("lobby", "message", "carol", text, 1.0))], "r": ["lobby"]}
        backplane.on_push(b"%d there 9 %s" % (first, json.dumps(body).encode()))
    assert [(event.text, event.id) for event in client.items] == [("one", 1), ("two", 2)]


def test_a_push_the_room_snapshot_covered_is_dropped():
    """Ids at or below the delivery point came in the snapshot: delivered once, not twice."""
    backplane, _, _, hub, _ = made()
    client = RecordingClient()
    claims = _claims_answered(hub)
    hub.connect(client, "bob")
    claims()
    open_rooms(backplane, ("lobby", 4))
    settle(backplane)
    client.clear()
    body = {"i": [encode_item(Event("lobby", "message", "carol", "old", 1.0))], "r": ["lobby"]}
    backplane.on_push(b"4 there 1 " + json.dumps(body).encode())
    assert client.received == []
    backplane.on_push(b"5 there 2 " + json.dumps(body).encode())
    assert [event.id for event in client.items] == [5]


def test_publications_of_a_room_being_opened_wait_for_its_snapshot():
    """While the open script runs, the room's pushes wait; the snapshot decides which go on."""
    backplane, store, _, _, _ = made()
    opened: list[bool] = []
    store.open_room("dev", lambda: opened.append(True))
    delivered: list[Publication] = []
    for first in (3, 4):
        event = Event("dev", "message", "carol", f"m{first}", 1.0, first)
        store.incoming(Publication((event,), ("dev",)), delivered.append)
    assert delivered == [] and opened == []
    [(_, answer)] = backplane.taken("open")
    answer.callback([3, [[b"3-0", [b"e", b'{"k":"message","n":"carol","t":"m3","s":1.0}']]]])
    assert [p.items[0].id for p in delivered] == [4]
    assert opened == [True]
    assert [e.id for e in store.cache.recent("dev", 10)] == [3, 4]


def test_a_read_is_joined_up_with_what_was_delivered_here():
    """Redis answered up to id 2 while 3 and 4 were already delivered here: the answer has
    them; an entry Redis has that was not delivered here yet is left out (it comes live)."""
    backplane, store, _, _, _ = made()
    store.open_room("dev", lambda: None)
    [(_, answer)] = backplane.taken("open")
    answer.callback([0, []])
    for number in (1, 2, 3, 4):
        event = Event("dev", "message", "carol", f"m{number}", 1.0, number)
        store.incoming(Publication((event,), ("dev",)), lambda _: None)
    store.cache.forget("dev")
    store.cache.start("dev", [], complete=False)
    for number in (3, 4):
        store.cache.append("dev", Event("dev", "message", "c", f"m{number}", 1.0, number), True)
    answers: list[list[Event]] = []
    store.read("dev", Since(0, 10), answers.append)
    [(_args, read)] = backplane.taken("read")
    entries = [
        [f"{n}-0".encode(), [b"e", b'{"k":"message","n":"c","t":"x","s":1.0}']] for n in (1, 2)
    ]
    read.callback([2, entries])
    assert [e.id for e in answers[0]] == [1, 2, 3, 4]
    store.read("dev", Recent(10), answers.append)
    [(_, read)] = backplane.taken("read")
    ahead = [
        [f"{n}-0".encode(), [b"e", b'{"k":"message","n":"c","t":"x","s":1.0}']]
        for n in (5, 4, 3, 2, 1)
    ]
    read.callback([5, ahead])
    assert [e.id for e in answers[1]] == [1, 2, 3, 4]  # 5 is not here yet: it will come live


def test_when_the_backplane_goes_what_is_in_flight_is_answered_unavailable_once():
    """Lost in flight: the sender gets `unavailable` with its ref; its `who` then runs."""
    backplane, _, _, hub, _ = made()
    client = RecordingClient()
    claims = _claims_answered(hub)
    alice = hub.connect(client, "alice")
    claims()
    settle(backplane)
    client.clear()
    with hub.batch():
        hub.handle(alice, cmd.Say("doomed", ref="s"))
        hub.handle(alice, cmd.Who(None, ref="w"))
    backplane.lose()
    assert [(type(item), ref) for item, ref in client.received] == [(Error, "s"), (Who, "w")]
    assert client.items[0].code == "unavailable"


def test_a_script_that_fails_hands_its_publication_back_as_lost():
    backplane, _, broker, hub, _ = made()
    client = RecordingClient()
    claims = _claims_answered(hub)
    alice = hub.connect(client, "alice")
    claims()
    settle(backplane)
    client.clear()
    hub.handle(alice, cmd.Say("x", ref="s"))
    [(_, answer)] = backplane.taken("publish")
    answer.errback(RuntimeError("OOM command not allowed"))
    [(error, ref)] = client.received
    assert (error.code, ref) == ("unavailable", "s")
    assert broker.in_flight == 0


def test_a_quiet_publication_reaches_the_others_only():
    """Parts published while this process closes are not delivered here."""
    backplane, _, broker, hub, _ = made()
    client = RecordingClient()
    claims = _claims_answered(hub)
    hub.connect(client, "bob")
    claims()
    settle(backplane)
    client.clear()
    part = Event("lobby", "part", "alice", "bye", 1.0)
    broker.publish(Publication((part,), ("lobby",), (), "here", -1), quiet=True)
    [(args, _answer)] = backplane.taken("publish")
    backplane.on_push(published_message(args, 0))
    assert client.received == [] and broker.in_flight == 0


def test_a_joiner_gets_its_join_then_its_replay_from_the_snapshot():
    """Join over Redis: the room opens with its snapshot; the joiner's own join comes back,
    then its replay."""
    backplane, _, _, hub, _ = made()
    client = RecordingClient()
    claims = _claims_answered(hub)
    session = hub.connect(client, "alice", rooms=())
    claims()
    client.clear()
    hub.handle(session, cmd.Join("dev", ref="j"))
    [(_, answer)] = backplane.taken("open")
    snapshot = [[b"2-0", [b"e", b'{"k":"message","n":"c","t":"two","s":1.0}']]]
    snapshot.append([b"1-0", [b"e", b'{"k":"message","n":"c","t":"one","s":1.0}']])
    answer.callback([2, snapshot])
    settle(backplane)
    kinds = [(type(item).__name__, ref) for item, ref in client.received]
    assert kinds == [("Event", "j"), ("History", None)]
    history = client.items[1]
    assert isinstance(history, History) and [e.id for e in history.events] == [1, 2]


def _claims_answered(hub: Hub) -> Any:
    """A roster stand-in for `connect` is not needed: these hubs have none (local nicks)."""
    return lambda: None
