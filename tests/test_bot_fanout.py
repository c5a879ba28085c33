"""Bots' posts (HTTP publishes, `feeds.publish`) are stored and answered at once and reach the
room at the end of the reactor's turn, a room's run of them in one delivery: a script
pipelining single-message POSTs costs each reader one write per turn, not one per message.
Order is kept: anything else delivered first sends what waits."""

from dataclasses import dataclass, field

import pytest
from twisted.internet.task import Clock

from chathub import feeds
from chathub.commands import Join, Say
from chathub.events import Event, History
from chathub.hub import Hub
from chathub.store import MemoryStore
from tests.recording import RecordingClient


@dataclass(eq=False)
class CountingClient(RecordingClient):
    """Also counts the deliveries of several events at once (one write each for a transport)."""

    batches: list[int] = field(default_factory=list)

    def deliver_events(self, events: tuple[Event, ...]) -> None:
        self.batches.append(len(events))
        super().deliver_events(events)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hub(clock: Clock) -> Hub:
    return Hub(MemoryStore(), clock=clock.seconds, later=clock.callLater)


def post(hub: Hub, room: str, *texts: str) -> list[object]:
    answers: list[object] = []
    posts = [feeds.Post("message", text) for text in texts]
    feeds.publish(hub, "deploy-bot", room, posts, answers.append)
    return answers


def texts(client: RecordingClient) -> list[str]:
    return [item.text for item in client.of_type(Event) if item.kind == "message"]


def test_posts_are_answered_at_once_and_reach_the_room_together_at_the_end_of_the_turn(
    hub: Hub, clock: Clock
) -> None:
    reader = CountingClient()
    hub.connect(reader, "reader", rooms=["dev"])
    answers = [post(hub, "dev", f"deploy {n}") for n in range(5)]
    assert all(len(answer) == 1 for answer in answers)  # each answered with its stored event
    assert [answer[0][0].id for answer in answers] == [1, 2, 3, 4, 5]  # type: ignore[index]
    assert texts(reader) == []  # not yet: the turn is not over
    clock.advance(0)
    assert texts(reader) == [f"deploy {n}" for n in range(5)]
    assert reader.batches[-1] == 5  # one delivery, so one write per reader


def test_a_message_said_meanwhile_comes_after_the_posts_stored_before_it(
    hub: Hub, clock: Clock
) -> None:
    reader = CountingClient()
    hub.connect(reader, "reader", rooms=["dev"])
    alice = hub.connect(RecordingClient(), "alice", rooms=["dev"])
    post(hub, "dev", "first")
    hub.handle(alice, Say("second"))
    assert texts(reader) == ["first", "second"]  # in id order, without waiting for the turn
    clock.advance(0)
    assert texts(reader) == ["first", "second"]  # and nothing twice


def test_posts_to_two_rooms_keep_their_order(hub: Hub, clock: Clock) -> None:
    reader = CountingClient()
    hub.connect(reader, "reader", rooms=["dev", "ops"])
    post(hub, "dev", "a")
    post(hub, "ops", "b")
    post(hub, "dev", "c")
    clock.advance(0)
    assert texts(reader) == ["a", "b", "c"]


def test_a_joiner_gets_posts_stored_before_it_joined_once_as_history(
    hub: Hub, clock: Clock
) -> None:
    hub.connect(RecordingClient(), "reader", rooms=["dev"])
    post(hub, "dev", "before the join")
    joiner = RecordingClient()
    session = hub.connect(joiner, "joiner")
    hub.handle(session, Join("dev"))
    clock.advance(0)
    replayed = [event.text for item in joiner.of_type(History) for event in item.events]
    assert replayed.count("before the join") + texts(joiner).count("before the join") == 1


def test_a_reply_to_a_member_comes_after_the_posts_stored_before_it(hub: Hub, clock: Clock) -> None:
    reader = RecordingClient()
    session = hub.connect(reader, "reader", rooms=["dev"])
    post(hub, "dev", "posted")
    hub.tell(session, Event(None, "notice", None, "a notice", 0.0))
    kinds = [(item.kind, item.text) for item in reader.of_type(Event) if item.kind != "join"]
    assert kinds == [("message", "posted"), ("notice", "a notice")]


def test_without_a_reactor_posts_reach_the_room_at_once() -> None:
    """A hub made without `later` (tests, tools) delivers as it always did."""
    hub = Hub(MemoryStore(), clock=lambda: 1.0)
    reader = RecordingClient()
    hub.connect(reader, "reader", rooms=["dev"])
    post(hub, "dev", "now")
    assert texts(reader) == ["now"]
