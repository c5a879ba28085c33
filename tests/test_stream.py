"""The Stream helper with a fake adapter: admission, rendering, the outbox, throttle and idle
timer, and how a connection is closed; over a StringTransport and a task.Clock."""

import inspect
from typing import Any

import pytest
from autobahn.twisted.websocket import WebSocketServerProtocol
from twisted.internet import protocol
from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from chathub import commands as cmd
from chathub.config import FlowLimits, HubSettings
from chathub.events import Error, Event, Notice, Outgoing, Private, Skipped
from chathub.hub import Hub
from chathub.stream import Admission, Stream, StreamAdapter, peer_address
from chathub.text import nick_skeleton
from tests.recording import RecordingClient

NO_LIMITS = FlowLimits(max_rate=0, slow_timeout=0, idle_timeout=0)


class FakeAdapter:
    """A StreamAdapter that records what the stream asks of it."""

    transport_name = "fake"

    def __init__(self) -> None:
        self.transport = StringTransport()
        self.renders: list[tuple[Any, ...]] = []
        self.writes: list[bytes] = []
        self.handled: list[Any] = []
        self.dropped: list[Any] = []
        self.closes: list[str] = []

    def render_event(self, event: Event) -> bytes:
        self.renders.append(("event", event))
        return f"E {event.text}\n".encode()

    def render_events(self, events: tuple[Event, ...]) -> bytes:
        self.renders.append(("events", events))
        return "".join(f"E {event.text}\n" for event in events).encode()

    def render_item(self, item: Outgoing, ref: Any, nick: str) -> bytes:
        self.renders.append(("item", item, ref, nick))
        return f"I {type(item).__name__} {ref}\n".encode()

    def write_rendered(self, data: bytes) -> None:
        self.writes.append(data)

    def handle_input(self, item: Any) -> None:
        self.handled.append(item)

    def input_dropped(self, item: Any) -> None:
        self.dropped.append(item)

    def close_gracefully(self, reason: str) -> None:
        self.closes.append(reason)

    def close_at_once(self) -> None:
        self.closes.append("at once")


def make_stream(
    hub: Hub, clock: Clock | None = None, flow: FlowLimits = NO_LIMITS, peer: str = "1.2.3.4"
) -> tuple[Stream, FakeAdapter]:
    adapter = FakeAdapter()
    return Stream(hub, flow, clock, adapter, peer), adapter


def started(
    hub: Hub, clock: Clock | None = None, flow: FlowLimits = NO_LIMITS, nick: str = "alice"
) -> tuple[Stream, FakeAdapter]:
    stream, adapter = make_stream(hub, clock, flow)
    assert stream.admit() is None
    stream.start(nick)
    adapter.renders.clear()
    adapter.writes.clear()
    return stream, adapter


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hub(clock: Clock) -> Hub:
    return Hub(clock=clock.seconds)


def lobby_event(text: str, event_id: int = 1) -> Event:
    return Event("lobby", "message", "bob", text, 0.0, event_id)


# --- admission --------------------------------------------------------------------------------


def test_admit_counts_the_connection_with_the_hub_and_refuses_past_its_limit():
    """admit() counts with the hub; past max_connections it returns the hub's refusal."""
    hub = Hub(settings=HubSettings(max_connections=1))
    first, _ = make_stream(hub)
    second, _ = make_stream(hub, peer="5.6.7.8")
    assert first.admit() is None
    assert hub.connections.total == 1
    refusal = second.admit()
    assert isinstance(refusal, Error) and refusal.code == "server-full"
    assert hub.connections.total == 1


def test_stop_releases_admission_once_even_when_called_twice():
    """stop() gives the admission back once; a second stop() changes nothing."""
    hub = Hub(settings=HubSettings(max_per_ip=2))
    first, _ = make_stream(hub)
    second, _ = make_stream(hub)
    assert first.admit() is None and second.admit() is None
    first.start()
    first.stop()
    first.stop()
    assert hub.connections.per_peer == {"1.2.3.4": 1}
    assert hub.sessions == {}


def test_a_refused_stream_releases_nothing_on_stop():
    """A connection admit() refused was never counted, so its stop() frees nobody's place."""
    hub = Hub(settings=HubSettings(max_per_ip=1))
    admitted, _ = make_stream(hub)
    refused, _ = make_stream(hub)
    assert admitted.admit() is None
    assert refused.admit() is not None
    refused.stop()
    assert hub.connections.per_peer == {"1.2.3.4": 1}


def test_an_admission_is_released_once_whoever_releases_it():
    """Admission.take counts with the hub; the first release gives the place back, the
    others do nothing (the HTTP channel and its WebSocket both let go)."""
    hub = Hub(settings=HubSettings(max_per_ip=2))
    other = Admission.take(hub, "1.2.3.4")
    taken = Admission.take(hub, "1.2.3.4")
    assert isinstance(taken, Admission) and isinstance(other, Admission)
    assert isinstance(Admission.take(hub, "1.2.3.4"), Error)
    taken.release()
    taken.release()
    assert not taken.held and other.held
    assert hub.connections.per_peer == {"1.2.3.4": 1}


def test_an_adopted_admission_is_not_counted_again_and_is_released_by_stop():
    """A stream that adopts an admission (a WebSocket from the HTTP channel) takes no second
    place, and stop() releases the adopted one."""
    hub = Hub(settings=HubSettings(max_per_ip=1))
    admission = Admission.take(hub, "1.2.3.4")
    assert isinstance(admission, Admission)
    stream, _ = make_stream(hub)
    stream.adopt(admission)
    stream.start()
    assert hub.connections.per_peer == {"1.2.3.4": 1}
    stream.stop()
    assert not admission.held and hub.connections.total == 0


def test_stop_leaves_the_hub_and_its_rooms():
    """stop() disconnects the session: its nick is free and its rooms are told it left."""
    hub = Hub()
    bob = RecordingClient()
    hub.connect(bob, "bob")
    stream, _ = started(hub)
    bob.clear()
    stream.stop()
    assert nick_skeleton("alice") not in hub.sessions
    assert [(e.kind, e.nick) for e in bob.of_type(Event)] == [("part", "alice")]


def test_peer_address_is_the_host_or_local():
    """Connections are counted by the peer's host; a UNIX socket's peer is "local"."""
    tcp = StringTransport(peerAddress=IPv4Address("TCP", "10.0.0.7", 4242))
    unix = StringTransport(peerAddress=UNIXAddress(None))
    assert (peer_address(tcp), peer_address(unix)) == ("10.0.0.7", "local")


def test_limits_that_need_a_clock_refuse_a_stream_without_one(hub):
    """A rate, slow or idle limit without a clock is refused when the stream is made."""
    with pytest.raises(ValueError):
        Stream(hub, FlowLimits(max_rate=0, slow_timeout=0, idle_timeout=5), None, FakeAdapter(), "")


def test_start_registers_the_outbox_as_the_transports_streaming_producer(hub):
    """The transport's pauseProducing reaches the stream's outbox (a push producer)."""
    stream, adapter = started(hub)
    assert adapter.transport.producer is stream.outbox
    assert adapter.transport.streaming is True


# --- output: the hub's Client seam ------------------------------------------------------------


def test_deliver_renders_a_room_event_once_with_render_event_and_writes_those_bytes(hub):
    """A room event without a ref is rendered by render_event, once, and written as it came."""
    stream, adapter = started(hub)
    event = lobby_event("hi")
    stream.deliver(event)
    assert adapter.renders == [("event", event)]
    assert adapter.writes == [b"E hi\n"]


def test_deliver_renders_other_items_with_render_item_the_ref_and_the_nick(hub):
    """A reply, or an event carrying a ref, goes through render_item with the ref and nick."""
    stream, adapter = started(hub)
    event = lobby_event("mine")
    stream.deliver(event, "r1")
    stream.deliver(Notice("hello"))
    assert adapter.renders == [
        ("item", event, "r1", "alice"),
        ("item", Notice("hello"), None, "alice"),
    ]
    assert adapter.writes == [b"I Event r1\n", b"I Notice None\n"]


def test_an_item_rendered_as_nothing_writes_nothing(hub):
    """render_item's b"" means there is nothing to send: no write at all."""
    stream, adapter = started(hub)
    adapter.render_item = lambda item, ref, nick: b""  # type: ignore[method-assign]
    stream.deliver(Notice("quiet"))
    assert adapter.writes == []


def test_deliver_events_renders_the_batch_once(hub):
    """A batch of room events is one render_events call and one write."""
    stream, adapter = started(hub)
    batch = (lobby_event("a", 1), lobby_event("b", 2), lobby_event("c", 3))
    stream.deliver_events(batch)
    assert adapter.renders == [("events", batch)]
    assert adapter.writes == [b"E a\nE b\nE c\n"]


def test_deliver_events_goes_event_by_event_while_the_peer_is_behind(hub):
    """Behind, a batch is offered one event at a time (each may be queued or skipped)."""
    stream, adapter = started(hub)
    stream.outbox.pauseProducing()
    batch = (lobby_event("a", 1), lobby_event("b", 2))
    stream.deliver_events(batch)
    assert adapter.renders == [("event", batch[0]), ("event", batch[1])]
    assert adapter.writes == []
    stream.outbox.resumeProducing()
    assert adapter.writes == [b"E a\n", b"E b\n"]


def test_nothing_is_written_after_end_output(hub):
    """After end_output, deliveries, batches and the outbox's backlog are all dropped."""
    stream, adapter = started(hub)
    stream.outbox.pauseProducing()
    stream.deliver(Notice("queued"))
    stream.end_output()
    stream.outbox.resumeProducing()
    stream.deliver(lobby_event("late"))
    stream.deliver_events((lobby_event("a", 1), lobby_event("b", 2)))
    stream.tell(Notice("told"))
    assert adapter.writes == []
    assert stream.open is False


def test_tell_goes_through_the_hub_after_what_it_queued(hub):
    """What the adapter says on its own comes after the room messages queued before it."""
    stream, adapter = started(hub)
    bob = hub.connect(RecordingClient(), "bob")
    adapter.writes.clear()
    with hub.batch():
        hub.handle(bob, cmd.Say("first"))
        stream.tell(Error("rate-limited", "slow down"))
    assert adapter.writes == [b"E first\n", b"I Error None\n"]


def test_command_hands_commands_to_the_hub_and_tells_parse_errors(hub):
    """A parsed command reaches the hub; a parser's Error is told back with no hub action."""
    stream, adapter = started(hub)
    stream.command(cmd.Say("hello"))
    stream.command(Error("unknown-command", "no such command"))
    assert [r[0] for r in adapter.renders] == ["events", "item"]
    assert adapter.renders[1][1] == Error("unknown-command", "no such command")


# --- input: the throttle and the idle timer ---------------------------------------------------


def test_receive_without_a_rate_limit_hands_each_item_to_the_adapter(hub):
    """With max_rate 0, every item goes straight to handle_input, in order."""
    stream, adapter = started(hub)
    for n in range(50):
        stream.receive(n)
    assert adapter.handled == list(range(50))


def test_receive_passes_the_throttle_and_the_item_past_the_burst_is_dropped(hub, clock):
    """max_rate 1, burst 1: the first item is handled, the second waits, the third is dropped."""
    flow = FlowLimits(max_rate=1, burst=1, slow_timeout=0, idle_timeout=0)
    stream, adapter = started(hub, clock, flow)
    for item in ("a", "b", "c"):
        stream.receive(item)
    assert adapter.handled == ["a"]
    assert adapter.dropped == ["c"]
    assert [r[1].code for r in adapter.renders if r[0] == "item"] == ["rate-limited"]
    clock.advance(1)
    assert adapter.handled == ["a", "b"]
    assert hub.counters.rate_dropped == 1


def test_receive_touches_the_idle_timer(hub, clock):
    """Input restarts the idle countdown: 9 s, an item, 9 s more, and the stream is still open."""
    flow = FlowLimits(max_rate=0, slow_timeout=0, idle_timeout=10)
    stream, adapter = started(hub, clock, flow)
    clock.advance(9)
    stream.receive("x")
    clock.advance(9)
    assert adapter.closes == [] and stream.open
    clock.advance(1)
    assert adapter.closes == ["idle"]


def test_touch_without_a_message_also_keeps_the_connection(hub, clock):
    """A ping or pong (touch) restarts the idle countdown and hands nothing to the adapter."""
    flow = FlowLimits(max_rate=0, slow_timeout=0, idle_timeout=10)
    stream, adapter = started(hub, clock, flow)
    clock.advance(9)
    stream.touch()
    clock.advance(9)
    assert adapter.closes == [] and adapter.handled == []


def test_idle_timeout_tells_the_client_after_queued_output_then_leaves_and_closes(hub, clock):
    """Idle: queued output, then the idle error (via the hub); its rooms hear it left; "idle"."""
    flow = FlowLimits(max_rate=0, slow_timeout=0, idle_timeout=10)
    stream, adapter = started(hub, clock, flow)
    bob_client = RecordingClient()
    bob = hub.connect(bob_client, "bob")
    adapter.writes.clear()
    bob_client.clear()
    with hub.batch():
        hub.handle(bob, cmd.Say("last words"))
        clock.advance(10)
    assert adapter.writes == [b"E last words\n", b"I Error None\n"]
    [idle_error] = [r[1] for r in adapter.renders if r[0] == "item"]
    assert idle_error.code == "idle"
    assert nick_skeleton("alice") not in hub.sessions
    assert [(e.kind, e.nick, e.text) for e in bob_client.of_type(Event) if e.kind == "part"] == [
        ("part", "alice", "idle")
    ]
    assert adapter.closes == ["idle"]
    assert hub.counters.idle_closed == 1
    assert not stream.open


# --- a peer that does not read ----------------------------------------------------------------


def test_a_peer_too_slow_for_the_outbox_is_cut_off_at_once_and_leaves(hub, clock):
    """Behind for slow_timeout: close_at_once, the session leaves the hub, nothing more is sent."""
    flow = FlowLimits(max_rate=0, slow_timeout=5, idle_timeout=0, max_backlog=100)
    stream, adapter = started(hub, clock, flow)
    bob_client = RecordingClient()
    hub.connect(bob_client, "bob")
    bob_client.clear()
    adapter.writes.clear()
    stream.outbox.pauseProducing()
    clock.advance(5)
    assert adapter.closes == ["at once"]
    assert nick_skeleton("alice") not in hub.sessions
    assert [(e.kind, e.text) for e in bob_client.of_type(Event)] == [("part", "too slow")]
    assert hub.counters.slow_closed == 1
    stream.deliver(Notice("after"))
    assert adapter.writes == []


def test_output_past_the_hard_limit_cuts_the_peer_off(hub):
    """Replies that cannot be skipped, past twice max_backlog while behind: cut at once."""
    flow = FlowLimits(max_rate=0, slow_timeout=0, idle_timeout=0, max_backlog=10)
    stream, adapter = started(hub, flow=flow)
    stream.outbox.pauseProducing()
    for _ in range(3):
        stream.deliver(Notice("x"))  # 14 bytes each: the second passes the hard limit of 20
    assert adapter.closes == ["at once"]
    assert nick_skeleton("alice") not in hub.sessions


def test_others_private_messages_to_a_reader_behind_are_skipped_never_cut_it_off(hub):
    """A flood of private messages to a reader that is behind skips them, with a notice once
    it catches up; the reader stays connected. The sender's own copy with its ref is a reply:
    never skipped."""
    flow = FlowLimits(max_rate=0, slow_timeout=0, idle_timeout=0, max_backlog=100)
    stream, adapter = started(hub, flow=flow)
    bob_client = RecordingClient()
    bob = hub.connect(bob_client, "bob")
    stream.outbox.pauseProducing()
    for n in range(200):
        hub.handle(bob, cmd.Msg("alice", f"psst {n}", ref=n))
    assert adapter.closes == []
    assert hub.counters.slow_closed == 0
    assert len([ref for item, ref in bob_client.received if type(item) is Private]) == 200
    adapter.renders.clear()
    stream.outbox.resumeProducing()
    skipped = [r[1] for r in adapter.renders if r[0] == "item" and type(r[1]) is Skipped]
    assert skipped == [Skipped(None, hub.counters.skipped, 0, None)]
    assert hub.counters.skipped > 0


# --- closing ----------------------------------------------------------------------------------


def test_close_is_a_graceful_quit_outside_a_shutdown(hub):
    """The hub's close() (after /quit) closes gracefully with reason "quit", once."""
    stream, adapter = started(hub)
    stream.close()
    stream.close()
    assert adapter.closes == ["quit"]
    assert not stream.open


def test_close_during_hub_shutdown_is_a_graceful_shutdown(hub):
    """During hub.shutdown(), every stream closes gracefully with reason "shutdown"."""
    _alice, adapter = started(hub)
    _bob, other_adapter = started(hub, nick="bob")
    adapter.writes.clear()
    hub.shutdown()
    assert adapter.closes == other_adapter.closes == ["shutdown"]
    assert adapter.writes == [b"I Notice None\n"]


def test_close_while_behind_aborts_the_connection(hub):
    """A peer that is not reading is dropped at once: a graceful close would never finish."""
    stream, adapter = started(hub)
    stream.outbox.pauseProducing()
    stream.deliver(Notice("waiting"))
    stream.close()
    assert adapter.closes == ["at once"]
    assert not stream.open


def test_quit_through_the_hub_says_goodbye_then_closes_gracefully(hub):
    """/quit: the goodbye is written before the graceful close, and nothing after it."""
    stream, adapter = started(hub)
    stream.command(cmd.Quit("bye"))
    assert adapter.writes == [b"I Notice None\n"]
    assert adapter.closes == ["quit"]
    stream.deliver(Notice("too late"))
    assert adapter.writes == [b"I Notice None\n"]


# --- the name-clash rule ----------------------------------------------------------------------


def adapter_method_names() -> set[str]:
    """The names StreamAdapter declares for adapters to implement (its methods)."""
    return {
        name
        for name, value in vars(StreamAdapter).items()
        if not name.startswith("_") and inspect.isfunction(value)
    }


def test_stream_adapter_declares_the_methods_stream_calls():
    """The Protocol's methods are the eight the stream uses (so the next test checks them)."""
    assert adapter_method_names() == {
        "render_event",
        "render_events",
        "render_item",
        "write_rendered",
        "handle_input",
        "input_dropped",
        "close_gracefully",
        "close_at_once",
    }
    assert "transport" in StreamAdapter.__annotations__


@pytest.mark.parametrize("framework", [WebSocketServerProtocol, protocol.Protocol])
def test_no_stream_adapter_method_overrides_a_framework_method(framework):
    """No StreamAdapter method name exists on Autobahn's or Twisted's protocol class."""
    # So an adapter that implements them never overrides the framework by accident.
    clashes = {name for name in adapter_method_names() if hasattr(framework, name)}
    assert clashes == set()


def test_reading_stops_while_the_hub_or_the_throttle_holds_it_and_resumes_when_neither_does():
    """The hub's hold and the throttle's are counted apart: reading resumes after both end."""
    hub = Hub(clock=lambda: 1.0)
    stream, adapter = started(hub)
    transport = adapter.transport
    stream.hold_input(True)
    assert transport.producerState == "paused"
    stream.throttle_holds(True)
    stream.hold_input(False)
    assert transport.producerState == "paused"  # the throttle still holds it
    stream.throttle_holds(False)
    assert transport.producerState == "producing"
    stream.hold_input(True)
    stream.hold_input(True)  # a second hold from the hub is the same hold
    stream.hold_input(False)
    assert transport.producerState == "producing"
