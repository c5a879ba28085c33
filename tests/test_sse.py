"""Server-Sent Events (`sse.py`): the `SseConnection` over a fake twisted.web request, with a
`Clock` for the heartbeat and the hub's memory store behind it."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from chathub import feeds, sse
from chathub.commands import Join, Nick, Say
from chathub.config import FlowLimits
from chathub.flow import Outbox
from chathub.hub import Hub
from chathub.jsonwire import event_fields
from chathub.session import Session
from chathub.store import MemoryStore
from tests.recording import RecordingClient

FLOW = FlowLimits(max_rate=0, max_backlog=4096, slow_timeout=0, idle_timeout=0)


class FakeRequest:
    """What `SseConnection` uses of a twisted.web `Request`: headers, writes, a producer,
    `notifyFinish`, and a transport for the peer's address and an abort."""

    def __init__(self, headers: dict[bytes, bytes] | None = None, **args: str) -> None:
        self.method = b"GET"
        self.headers = {name.lower(): value for name, value in (headers or {}).items()}
        self.args = {name.encode(): [value.encode()] for name, value in args.items()}
        self.response_headers: dict[bytes, bytes] = {}
        self.code = 200
        self.written = bytearray()
        self.finished = False
        self.transport = StringTransport()
        self.producer: Any = None
        self._waiting: list[Deferred[None]] = []

    def getHeader(self, name: bytes) -> bytes | None:
        return self.headers.get(name.lower())

    def setHeader(self, name: bytes, value: bytes) -> None:
        self.response_headers[name.lower()] = value

    def setResponseCode(self, code: int) -> None:
        self.code = code

    def write(self, data: bytes) -> None:
        assert not self.finished, "written after finish"
        self.written += data

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        assert streaming
        self.producer = producer

    def notifyFinish(self) -> Deferred[None]:
        waiting: Deferred[None] = Deferred()
        self._waiting.append(waiting)
        return waiting

    def finish(self) -> None:
        self.finished = True
        waiting, self._waiting = self._waiting, []
        for deferred in waiting:
            deferred.callback(None)

    def lose(self) -> None:
        """The peer went away."""
        waiting, self._waiting = self._waiting, []
        for deferred in waiting:
            deferred.errback(Failure(ConnectionError("lost")))

    # What the reader has received, as (fields) per event; comments apart.
    def frames(self) -> list[dict[str, str]]:
        frames = []
        for block in bytes(self.written).decode().split("\n\n"):
            fields: dict[str, str] = {}
            for line in block.split("\n"):
                if line and not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value
            if fields:
                frames.append(fields)
        return frames

    def comments(self) -> list[str]:
        text = bytes(self.written).decode()
        return [line for line in text.split("\n") if line.startswith(":")]

    def taken(self) -> list[dict[str, str]]:
        """The frames, and forget them (what the next call returns is new)."""
        frames = self.frames()
        self.written.clear()
        return frames


@dataclass
class Room:
    """Someone talking in a room (a member: the hub's own sessions)."""

    hub: Hub
    name: str
    session: Session = field(init=False)

    def __post_init__(self) -> None:
        self.session = self.hub.connect(RecordingClient(), nick=f"{self.name}-talker",
                                        rooms=[self.name])  # fmt: skip

    def say(self, *texts: str) -> None:
        for text in texts:
            self.hub.handle(self.session, Say(text))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hub() -> Hub:
    return Hub(MemoryStore(), clock=lambda: 1_700_000_000.5)


def open_stream(
    hub: Hub,
    clock: Clock,
    rooms: list[str],
    since: dict[str, int] | None = None,
    replay: int = 50,
    flow: FlowLimits = FLOW,
) -> tuple[FakeRequest, sse.SseConnection]:
    request = FakeRequest()
    connection = sse.SseConnection(request, hub, flow, clock, rooms)  # type: ignore[arg-type]
    connection.start(since or {}, replay)
    return request, connection


def texts(frames: list[dict[str, str]]) -> list[str]:
    return [json.loads(frame["data"])["text"] for frame in frames if frame["event"] == "message"]


def ids(frames: list[dict[str, str]]) -> list[str]:
    return [frame.get("id", "") for frame in frames]


# --- the stream -----------------------------------------------------------------------------------


def test_a_stream_is_an_event_stream_that_starts_with_a_comment(hub: Hub, clock: Clock) -> None:
    """`text/event-stream`, not cached, not buffered by a proxy; a comment goes out at once so
    the headers do too."""
    request, _ = open_stream(hub, clock, ["dev"])
    assert request.response_headers[b"content-type"] == b"text/event-stream; charset=utf-8"
    assert request.response_headers[b"cache-control"] == b"no-store"
    assert request.response_headers[b"x-accel-buffering"] == b"no"
    assert bytes(request.written) == b": chathub event stream\n\n"


def test_one_room_events_have_their_kind_their_json_and_room_id(hub: Hub, clock: Clock) -> None:
    """`event:` the kind, `id: ROOM:ID`, `data:` the event's JSON as on the WebSocket."""
    dev = Room(hub, "dev")
    request, _ = open_stream(hub, clock, ["dev"])
    request.taken()
    dev.say("hello")
    (frame,) = request.taken()
    event = hub.store.since("dev", 0, 10)[0]  # type: ignore[attr-defined]
    assert frame == {
        "event": "message",
        "id": "dev:1",
        "data": json.dumps(event_fields(event), separators=(",", ":")),
    }


def test_without_since_the_newest_replay_messages_come_first(hub: Hub, clock: Clock) -> None:
    """Like a join: the newest `replay` stored messages, oldest first, then live ones."""
    Room(hub, "dev").say("1", "2", "3", "4", "5")
    request, _ = open_stream(hub, clock, ["dev"], replay=3)
    frames = request.taken()
    assert (texts(frames), ids(frames)) == (["3", "4", "5"], ["dev:3", "dev:4", "dev:5"])


def test_a_reader_is_not_a_member(hub: Hub, clock: Clock) -> None:
    """It has no nick, is in no `who`, and nobody is told it joined."""
    dev = Room(hub, "dev")
    talker = dev.session.client
    assert isinstance(talker, RecordingClient)
    talker.clear()
    open_stream(hub, clock, ["dev"])
    assert list(hub.sessions) == ["dev-talker"]
    assert list(hub.members["dev"]) == [dev.session]
    assert talker.items == []


def test_several_rooms_carry_every_room_s_last_id(hub: Hub, clock: Clock) -> None:
    """`/api/events?rooms=dev,ops`: each id names where every room stands, a quiet room too."""
    dev, ops = Room(hub, "dev"), Room(hub, "ops")
    dev.say("d1", "d2")
    request, _ = open_stream(hub, clock, ["dev", "ops"])
    assert ids(request.taken()) == ["dev:1", "dev:2"]  # ops is still being read: not named
    dev.say("d3")
    ops.say("o1")
    dev.say("d4")
    frames = request.taken()
    assert texts(frames) == ["d3", "o1", "d4"]
    assert ids(frames) == ["dev:3,ops:0", "dev:3,ops:1", "dev:4,ops:1"]


def test_a_batch_has_an_id_per_event_and_one_room_readers_share_its_bytes(
    hub: Hub, clock: Clock
) -> None:
    """A bot's array is one batch: each frame's id says what was sent up to it, for one room and
    for several; readers of one room get the very same bytes (it is encoded once)."""
    both, _ = open_stream(hub, clock, ["dev", "ops"])
    first, _ = open_stream(hub, clock, ["dev"])
    second, _ = open_stream(hub, clock, ["dev"])
    for request in (both, first, second):
        request.taken()
    posts = [feeds.Post("message", text) for text in ("a", "b", "c")]
    feeds.publish(hub, "deploy-bot", "dev", posts, lambda _: None)
    assert ids(both.frames()) == ["dev:1,ops:0", "dev:2,ops:0", "dev:3,ops:0"]
    assert ids(first.frames()) == ["dev:1", "dev:2", "dev:3"]
    assert texts(both.frames()) == texts(first.frames()) == ["a", "b", "c"]
    assert bytes(first.written) == bytes(second.written)


def test_the_id_of_a_quiet_room_is_where_its_history_stood(hub: Hub, clock: Clock) -> None:
    """With no replay, a room with history that says nothing is named at its last id: a
    reconnect then gets what came after, not its newest messages again."""
    Room(hub, "ops").say("o1", "o2")
    dev = Room(hub, "dev")
    request, _ = open_stream(hub, clock, ["dev", "ops"], replay=0)
    dev.say("d1")
    assert ids(request.taken()) == ["dev:1,ops:2"]


class RoomsOpenedLater(MemoryStore):
    """The memory store, opening each room only when told (as a disk read would, later)."""

    def __init__(self) -> None:
        super().__init__()
        self.opening: dict[str, Callable[[], None]] = {}

    def open_room(self, room: str, ready: Callable[[], None]) -> None:
        self.opening[room] = ready

    def open(self, room: str) -> None:
        self.opening.pop(room)()


def test_the_opening_comment_waits_until_every_room_is_read(clock: Clock) -> None:
    """The comment (and with it the headers) says the stream reads every room: whatever is
    published after it reaches the client, and every id names every room. Until then nothing
    is published that it could miss, and a room still being read is not named."""
    store = RoomsOpenedLater()
    hub = Hub(store, clock=lambda: 1_700_000_000.5)
    request, _ = open_stream(hub, clock, ["dev", "ops"], replay=0)
    store.open("dev")
    assert bytes(request.written) == b""  # ops is still being read
    store.open("ops")
    assert bytes(request.written) == b": chathub event stream\n\n"
    posts = [feeds.Post("message", "to dev")]
    feeds.publish(hub, "deploy-bot", "dev", posts, lambda _: None)
    store.open("dev")
    hub.fan_out_held()
    assert ids(request.taken()) == ["dev:1,ops:0"]


def test_a_room_that_turns_private_while_being_read_does_not_keep_the_stream_closed(
    clock: Clock,
) -> None:
    """ops becomes invite-only before its read is answered: it is not read, and the stream
    still opens once dev is."""
    store = RoomsOpenedLater()
    hub = Hub(store, clock=lambda: 1_700_000_000.5)
    request, _ = open_stream(hub, clock, ["dev", "ops"], replay=0)
    state = hub.room_states.ensure("ops")
    state.modes = "i"
    hub.room_states.changed(state)
    store.open("ops")
    assert bytes(request.written) == b""
    store.open("dev")
    assert bytes(request.written) == b": chathub event stream\n\n"


# --- resuming -------------------------------------------------------------------------------------


def test_last_event_id_resumes_exactly_after_it(hub: Hub, clock: Clock) -> None:
    """The stored events after the id, then live ones: no gap, no duplicate."""
    dev = Room(hub, "dev")
    dev.say("1", "2", "3", "4", "5")
    request, _ = open_stream(hub, clock, ["dev"], since={"dev": 2})
    dev.say("6")
    frames = request.taken()
    assert texts(frames) == ["3", "4", "5", "6"]
    assert ids(frames) == ["dev:3", "dev:4", "dev:5", "dev:6"]


def test_serve_reads_last_event_id_then_since(hub: Hub, clock: Clock) -> None:
    """`Last-Event-ID` wins over `?since=`; either names rooms and ids."""
    dev = Room(hub, "dev")
    dev.say("1", "2", "3")
    by_header = FakeRequest({b"Last-Event-ID": b"dev:1"}, since="dev:2")
    by_query = FakeRequest(since="dev:2")
    for request in (by_header, by_query):
        assert sse.serve(request, hub, FLOW, clock, "dev", 50) == sse.NOT_DONE_YET  # type: ignore[arg-type]
    assert texts(by_header.frames()) == ["2", "3"]
    assert texts(by_query.frames()) == ["3"]


def test_several_rooms_resume_each_from_its_own_id(hub: Hub, clock: Clock) -> None:
    """`Last-Event-ID: dev:1,ops:0` resumes dev after 1 and ops from its start."""
    dev, ops = Room(hub, "dev"), Room(hub, "ops")
    dev.say("d1", "d2")
    ops.say("o1")
    request = FakeRequest({b"Last-Event-ID": b"dev:1,ops:0"}, rooms="dev,ops")
    sse.serve(request, hub, FLOW, clock, None, 50)  # type: ignore[arg-type]
    assert texts(request.frames()) == ["d2", "o1"]


def test_an_id_from_a_stream_resumes_every_room_exactly(hub: Hub, clock: Clock) -> None:
    """Drop the stream, talk in both rooms (more than a replay's worth in the quiet one), and
    reconnect with the last id it had: exactly what was missed, in each room's order."""
    dev, ops = Room(hub, "dev"), Room(hub, "ops")
    request, _ = open_stream(hub, clock, ["dev", "ops"], replay=50)
    dev.say("d1")
    last = ids(request.taken())[-1]
    assert last == "dev:1,ops:0"
    request.lose()
    ops.say(*[f"o{n}" for n in range(1, 61)])
    dev.say("d2")
    again = FakeRequest({b"Last-Event-ID": last.encode()}, rooms="dev,ops")
    sse.serve(again, hub, FLOW, clock, None, 50)  # type: ignore[arg-type]
    assert texts(again.frames()) == ["d2"] + [f"o{n}" for n in range(1, 61)]


def test_a_catch_up_longer_than_one_read_is_sent_whole(hub: Hub, clock: Clock) -> None:
    """More missed than `history_max` (500): every one of them, then live ones, no gap."""
    dev = Room(hub, "dev")
    dev.say(*[str(n) for n in range(1, 1201)])
    request, _ = open_stream(hub, clock, ["dev"], since={"dev": 0}, flow=FlowLimits(
        max_rate=0, max_backlog=1 << 24, slow_timeout=0, idle_timeout=0))  # fmt: skip
    dev.say("live")
    assert texts(request.frames()) == [str(n) for n in range(1, 1201)] + ["live"]


def test_an_id_older_than_history_gets_a_gap_then_what_is_kept(clock: Clock) -> None:
    """Asked for after 2 when the room keeps only its last 5 (6 to 10): `event: gap` names 6."""
    hub = Hub(MemoryStore(retain_messages=5), clock=lambda: 1_700_000_000.5)
    Room(hub, "dev").say(*[str(n) for n in range(1, 11)])
    request, _ = open_stream(hub, clock, ["dev"], since={"dev": 2})
    frames = request.frames()
    assert frames[0] == {"event": "gap", "data": '{"room":"dev","first":6}'}
    assert texts(frames[1:]) == ["6", "7", "8", "9", "10"]


def test_an_id_still_kept_gets_no_gap(clock: Clock) -> None:
    """After 5 when 6 to 10 are kept: nothing is missing, no gap."""
    hub = Hub(MemoryStore(retain_messages=5), clock=lambda: 1_700_000_000.5)
    Room(hub, "dev").say(*[str(n) for n in range(1, 11)])
    request, _ = open_stream(hub, clock, ["dev"], since={"dev": 5})
    assert [frame["event"] for frame in request.frames()] == ["message"] * 5


# --- a reader that falls behind -------------------------------------------------------------------


def test_a_reader_that_is_behind_gets_a_gap_it_can_resume_from(hub: Hub, clock: Clock) -> None:
    """The transport stops taking output: past the backlog, events are skipped; once it reads
    again it gets the backlog, `event: gap` with how many and `since`, an id that resumes
    there, and then live events."""
    dev = Room(hub, "dev")
    request, connection = open_stream(hub, clock, ["dev"])
    request.taken()
    outbox = request.producer
    assert isinstance(outbox, Outbox)
    outbox.pauseProducing()
    dev.say(*[f"{n:04d}" + "x" * 200 for n in range(1, 101)])
    assert request.taken() == []
    assert connection.stream.behind
    outbox.resumeProducing()
    frames = request.taken()
    gap = frames[-1]
    sent = len(frames) - 1
    assert 0 < sent < 100
    assert gap["event"] == "gap"
    assert json.loads(gap["data"]) == {"room": "dev", "skipped": 100 - sent, "since": sent}
    assert gap["id"] == f"dev:{sent}"
    assert ids(frames[:-1]) == [f"dev:{n}" for n in range(1, sent + 1)]
    dev.say("live")
    (frame,) = request.taken()
    assert (texts([frame]), frame["id"]) == (["live"], "dev:101")
    assert hub.counters.skipped == 100 - sent


def test_after_a_gap_several_rooms_name_the_skipped_room_at_its_since(
    hub: Hub, clock: Clock
) -> None:
    """Skipped events had been rendered (and their ids taken) before they were dropped: after
    the gap the stream's id puts that room back where the reader really is."""
    dev, ops = Room(hub, "dev"), Room(hub, "ops")
    request, _ = open_stream(hub, clock, ["dev", "ops"])
    request.taken()
    request.producer.pauseProducing()
    dev.say(*[f"{n:04d}" + "x" * 200 for n in range(1, 101)])
    request.producer.resumeProducing()
    gap = request.taken()[-1]
    since = json.loads(gap["data"])["since"]
    assert gap["id"] == f"dev:{since},ops:0"
    ops.say("o1")
    assert ids(request.taken()) == [f"dev:{since},ops:1"]


def test_a_reader_that_never_reads_is_cut_at_the_hard_limit(hub: Hub, clock: Clock) -> None:
    """Heartbeats cannot be skipped: a reader that never reads ends up cut, not held for ever."""
    request, _ = open_stream(hub, clock, ["dev"])
    request.producer.pauseProducing()
    for _ in range(1000):
        clock.advance(sse.HEARTBEAT_SECONDS)
        if request.transport.disconnecting:
            break
    assert request.transport.disconnecting
    assert "dev" not in hub.watchers


# --- heartbeat and the end ------------------------------------------------------------------------


def test_a_comment_line_every_15_seconds(hub: Hub, clock: Clock) -> None:
    """Nothing for 15 s: `: keepalive`; and again every 15 s."""
    request, _ = open_stream(hub, clock, ["dev"])
    request.taken()
    clock.advance(14.9)
    assert bytes(request.written) == b""
    clock.advance(0.1)
    assert bytes(request.written) == b": keepalive\n\n"
    clock.advance(15)
    assert request.comments() == [": keepalive", ": keepalive"]


def test_the_stream_ends_on_hub_shutdown(hub: Hub, clock: Clock) -> None:
    """The reader is told the server is going (`event: notice`), the response finishes, and its
    heartbeat stops."""
    request, _ = open_stream(hub, clock, ["dev", "ops"])
    request.taken()
    hub.shutdown()
    assert request.frames() == [{"event": "notice", "data": '{"text":"server shutting down"}'}]
    assert request.finished
    assert clock.getDelayedCalls() == []
    assert hub.watchers == {}


def test_a_reader_that_goes_away_leaves_its_rooms(hub: Hub, clock: Clock) -> None:
    """The connection is lost: it reads no room any more and its heartbeat stops."""
    dev = Room(hub, "dev")
    request, _ = open_stream(hub, clock, ["dev", "ops"])
    assert set(hub.watchers) == {"dev", "ops"}
    request.lose()
    assert hub.watchers == {}
    assert clock.getDelayedCalls() == []
    dev.say("after")  # delivered to nobody, raises nothing


# --- requests that are refused --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("room", "args", "headers", "error"),
    [
        ("no way", {}, {}, "bad-room"),
        (None, {}, {}, "bad-room"),
        (None, {"rooms": ",,"}, {}, "bad-room"),
        (None, {"rooms": "dev,a.b"}, {}, "bad-room"),
        (None, {"rooms": ",".join(f"r{n}" for n in range(21))}, {}, "bad-room"),
        ("dev", {"since": "dev"}, {}, "bad-since"),
        ("dev", {}, {b"Last-Event-ID": b"dev:x"}, "bad-since"),
    ],
)
def test_a_bad_stream_request_is_refused(
    hub: Hub, clock: Clock, room: str | None, args: dict[str, str], headers: Any, error: str
) -> None:
    """A bad room (or none, or more than 20), or a bad `since`: 400 with a code, no stream."""
    request = FakeRequest(headers, **args)
    answer = sse.serve(request, hub, FLOW, clock, room, 50)  # type: ignore[arg-type]
    assert isinstance(answer, tuple) and answer[:2] == (400, error)
    assert hub.watchers == {} and clock.getDelayedCalls() == []


def test_room_names_are_normalized_and_repeats_dropped(hub: Hub, clock: Clock) -> None:
    """`?rooms=%23Dev,dev,ops` reads dev and ops."""
    request = FakeRequest(rooms="#Dev, dev,ops")
    sse.serve(request, hub, FLOW, clock, None, 50)  # type: ignore[arg-type]
    assert set(hub.watchers) == {"dev", "ops"}


def test_head_gets_the_headers_and_no_stream(hub: Hub, clock: Clock) -> None:
    """HEAD answers as a stream would begin, and holds nothing open."""
    request = FakeRequest()
    request.method = b"HEAD"
    assert sse.serve(request, hub, FLOW, clock, "dev", 50) == b""  # type: ignore[arg-type]
    assert request.response_headers[b"content-type"] == b"text/event-stream; charset=utf-8"
    assert hub.watchers == {} and clock.getDelayedCalls() == []


def test_a_member_s_nick_change_reaches_the_reader_of_its_room(hub: Hub, clock: Clock) -> None:
    """A member of the room read renames itself: `event: nick`."""
    dev = Room(hub, "dev")
    request, _ = open_stream(hub, clock, ["dev"])
    request.taken()
    hub.handle(dev.session, Nick("alice"))
    assert [frame["event"] for frame in request.taken()] == ["nick"]


def test_a_nick_change_of_a_member_of_several_rooms_reaches_the_reader(
    hub: Hub, clock: Clock
) -> None:
    """The same when the member is also in another room."""
    dev = Room(hub, "dev")
    hub.handle(dev.session, Join("ops"))
    request, _ = open_stream(hub, clock, ["dev"])
    request.taken()
    hub.handle(dev.session, Nick("alice"))
    assert [frame["event"] for frame in request.taken()] == ["nick"]


def test_a_bot_s_message_is_marked_bot(hub: Hub, clock: Clock) -> None:
    """A message published over HTTP carries `"bot": true` on the stream too."""
    request, _ = open_stream(hub, clock, ["dev"])
    feeds.publish(hub, "deploy-bot", "dev", [feeds.Post("message", "deployed 1.2")], print)
    (frame,) = request.frames()
    data = json.loads(frame["data"])
    assert (data["nick"], data["text"], data["bot"]) == ("deploy-bot", "deployed 1.2", True)
