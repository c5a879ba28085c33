"""The WebSocket adapter's limits: admission, rate, idle and slow readers, without sockets."""

import struct

import pytest
from twisted.internet.testing import MemoryReactorClock

from chathub.config import FlowLimits, HubSettings, WebSocketSettings
from chathub.flow import INPUT_PER_TURN
from chathub.hub import Hub
from chathub.stream import Admission
from chathub.websocket import WebSocketFactory
from tests.test_websocket import (
    CLOSE,
    MODES,
    PING,
    PONG,
    TEXT,
    Peer,
    client_frame,
    connect,
    feed,
    handshake,
)

QUIET = FlowLimits(max_rate=0, slow_timeout=0, idle_timeout=0)


def make_factory(
    flow: FlowLimits = QUIET, **limits: int
) -> tuple[WebSocketFactory, Hub, MemoryReactorClock]:
    clock = MemoryReactorClock()
    hub = Hub(clock=clock.seconds, settings=HubSettings(**limits))
    factory = WebSocketFactory(hub, clock, WebSocketSettings(ws_max_message=4096, ping_interval=0))
    factory.flow = flow
    return factory, hub, clock


def test_handshake_past_the_total_is_refused_with_503():
    """Past --max-connections the opening handshake gets HTTP 503 and no session."""
    factory, hub, _ = make_factory(max_connections=1)
    connect(factory)
    refused = Peer(factory).open(handshake("/ws"))
    assert refused.status == 503
    assert len(hub.sessions) == 1
    assert hub.counters.connections_refused == 1


def test_handshake_past_the_per_address_limit_is_refused_with_429():
    """Past --max-per-ip from one address the handshake gets HTTP 429."""
    factory, hub, _ = make_factory(max_per_ip=1)
    connect(factory)
    assert Peer(factory).open(handshake("/ws")).status == 429
    assert hub.counters.connections_refused_per_ip == 1


def test_a_closed_websocket_frees_its_place():
    """Once the TCP connection is gone, its address may connect again."""
    factory, hub, _ = make_factory(max_per_ip=1)
    connect(factory).hang_up()
    assert hub.connections.total == 0
    connect(factory)


def test_a_handed_over_admission_is_used_and_released_once():
    """A connection built while the factory holds a handover (the HTTP channel's admission)
    counts nothing more in its handshake, even past the limit, and releases that one place
    once, whoever else lets it go."""
    factory, hub, _ = make_factory(max_per_ip=1)
    admission = Admission.take(hub, "127.0.0.1")
    assert isinstance(admission, Admission)
    factory.handover = admission
    peer = connect(factory)
    assert factory.handover is None and peer.conn.admission is admission
    assert hub.connections.total == 1
    peer.hang_up()
    admission.release()
    assert (hub.connections.total, hub.connections.per_peer) == (0, {})


def test_a_handed_over_admission_is_released_when_the_origin_is_refused():
    """Refused in its handshake (403), the connection still gives the place back."""
    factory, hub, _ = make_factory()
    admission = Admission.take(hub, "127.0.0.1")
    assert isinstance(admission, Admission)
    factory.handover = admission
    refused = Peer(factory).open(handshake("/ws", origin="http://evil.example"))
    assert refused.status == 403
    refused.lose()
    assert hub.connections.total == 0


def test_over_the_rate_messages_wait_and_the_client_gets_one_error():
    """Past the burst: the rest waits for the bucket, and one rate-limited error says so."""
    factory, hub, clock = make_factory(
        FlowLimits(max_rate=10, burst=2, slow_timeout=0, idle_timeout=0)
    )
    peer = connect(factory)
    peer.messages()
    for n in range(3):
        peer.send({"op": "say", "room": "lobby", "text": f"m{n}"})
    got = peer.messages()
    assert [m.get("text") for m in got if m["type"] == "event"] == ["m0", "m1"]
    assert [m["code"] for m in got if m["type"] == "error"] == ["rate-limited"]
    assert peer.transport.producerState == "paused"
    clock.advance(0.1)
    assert [m.get("text") for m in peer.messages()] == ["m2"]
    assert peer.transport.producerState == "producing"
    assert hub.counters.rate_limited == 1


def test_a_websocket_reader_that_falls_behind_is_told_what_it_skipped():
    """While the transport has paused us, events past the backlog are skipped, then reported."""
    factory, hub, _ = make_factory(FlowLimits(max_rate=0, max_backlog=300, idle_timeout=0))
    slow = connect(factory)
    talker = connect(factory, "?nick=talker")
    slow.messages()
    slow.conn.stream.outbox.pauseProducing()  # what the TCP transport does when its buffer fills
    for n in range(20):
        talker.send({"op": "say", "room": "lobby", "text": f"message {n}"})
    assert slow.messages() == []
    slow.conn.stream.outbox.resumeProducing()
    got = slow.messages()
    events = [m for m in got if m["type"] == "event"]
    assert events[0]["text"] == "message 0"
    notice = got[-1]
    assert notice["type"] == "error" and notice["code"] == "skipped"
    skipped = 20 - len(events)
    assert skipped > 0
    assert (notice["room"], notice["since"]) == ("lobby", len(events))  # ask after this id
    assert (
        notice["message"]
        == f"skipped {skipped} messages in lobby; ask for history since {len(events)}"
    )
    assert hub.counters.skipped == skipped


def test_a_websocket_reader_behind_past_the_slow_timeout_is_dropped():
    """Behind for --slow-timeout seconds: the TCP connection is aborted, the others see a part."""
    factory, hub, clock = make_factory(FlowLimits(max_rate=0, slow_timeout=10, idle_timeout=0))
    slow = connect(factory, "?nick=slow")
    other = connect(factory, "?nick=other")
    other.messages()
    slow.conn.stream.outbox.pauseProducing()
    clock.advance(11)
    assert slow.transport.disconnecting
    parts = [m for m in other.messages() if m.get("kind") == "part"]
    assert parts and parts[0]["nick"] == "slow" and parts[0]["text"] == "too slow"
    assert hub.counters.slow_closed == 1


def test_an_idle_websocket_gets_an_error_and_close_code_1000():
    """No message, ping or pong for --idle-timeout seconds: an idle error, then close 1000."""
    factory, hub, clock = make_factory(FlowLimits(max_rate=0, slow_timeout=0, idle_timeout=100))
    peer = connect(factory)
    peer.messages()
    clock.advance(50)
    peer.send({"op": "rooms"})
    clock.advance(60)
    assert peer.close_code() is None
    clock.advance(50)
    errors = [m for m in peer.messages() if m["type"] == "error"]
    assert errors and errors[0]["code"] == "idle"
    assert peer.close_code() == 1000
    assert hub.counters.idle_closed == 1


def test_a_history_larger_than_the_message_limit_is_still_delivered():
    """--ws-max-message bounds what clients send, not the hub's own (long) replay."""
    factory, _, _ = make_factory()
    talker = connect(factory, "?nick=talker")
    for n in range(10):
        talker.send({"op": "say", "room": "lobby", "text": f"{n} " + "z" * 1000})
    newcomer = connect(factory)
    (history,) = [m for m in newcomer.messages() if m["type"] == "history"]
    assert len(history["events"]) == 10  # about 10 KB of JSON, over the 4096-byte limit


def test_pings_from_a_peer_that_does_not_read_get_no_pongs_until_it_catches_up():
    """While the peer is behind, pings are not answered (pongs would pile up unread)."""
    factory, _, _ = make_factory()
    peer = connect(factory)
    peer.poll()
    peer.send(b"1", PING)
    assert [op for op, _, _ in peer.poll()] == [PONG]
    peer.conn.stream.outbox.pauseProducing()
    peer.send(b"2", PING)
    assert peer.poll() == []
    peer.conn.stream.outbox.resumeProducing()
    peer.send(b"3", PING)
    assert [payload for _, _, payload in peer.poll()] == [b"3"]


# --- messages of many frames ------------------------------------------------------------------

CONTINUATION = 0x0


def begin(peer: Peer, first: bytes = b"{") -> None:
    """The first frame of a text message that is not finished."""
    feed(peer.conn, client_frame(first, TEXT, fin=False), peer.mode)


def more(peer: Peer, count: int, payload: bytes = b"", fin: bool = False) -> None:
    """`count` continuation frames (the last one final when `fin`), in one read."""
    frames = [client_frame(payload, CONTINUATION, fin=False) for _ in range(count - 1)]
    frames.append(client_frame(payload, CONTINUATION, fin=fin))
    feed(peer.conn, b"".join(frames), peer.mode)


def close_reason(peer: Peer) -> tuple[int, str] | None:
    peer.poll()
    for opcode, _, payload in peer.frames:
        if opcode == CLOSE:
            return int(struct.unpack("!H", payload[:2])[0]), payload[2:].decode()
    return None


@pytest.mark.parametrize("mode", MODES)
def test_a_message_of_more_than_1000_frames_closes_with_1009_and_is_counted(mode):
    """`{` and then empty continuation frames for ever: frame 1,001 closes the connection
    (the size limit alone never would: the frames are empty), /healthz counts it, and nothing
    more is read from the peer."""
    factory, hub, _ = make_factory()
    peer = connect(factory, mode=mode)
    peer.messages()
    begin(peer)
    more(peer, 998)
    more(peer, 1, fin=False)
    assert close_reason(peer) is None  # 1,000 frames are allowed
    more(peer, 1)
    assert close_reason(peer) == (1009, "a message may have at most 1000 frames")
    assert peer.transport.producerState == "paused"
    assert hub.counters.ws_too_many_frames == 1
    assert hub.counters.line_too_long == 0
    more(peer, 5000)  # what still comes is neither kept nor counted
    assert hub.counters.ws_too_many_frames == 1
    assert len(peer.conn.message_data) <= 1000


@pytest.mark.parametrize("mode", MODES)
def test_a_message_of_1000_frames_is_a_message(mode):
    """A fragmented message within the limit arrives whole, as one message."""
    factory, _, _ = make_factory()
    peer, other = connect(factory, "?nick=alice", mode), connect(factory, "?nick=bob")
    peer.messages(), other.messages()
    begin(peer, b'{"op":"say","text":"')
    more(peer, 998, b"a")
    more(peer, 1, b'"}', fin=True)
    assert [m["text"] for m in other.messages()] == ["a" * 998]
    assert close_reason(peer) is None


def test_a_message_not_finished_within_10_seconds_closes_with_1008_and_is_counted():
    """A slow drip of frames (under the frame limit) still ends after 10 s with a close."""
    factory, hub, clock = make_factory()
    peer = connect(factory)
    peer.messages()
    begin(peer)
    for _ in range(9):
        clock.advance(1)
        more(peer, 1, b" ")
    assert close_reason(peer) is None
    clock.advance(1)
    assert close_reason(peer) == (1008, "a message must end within 10 seconds")
    assert hub.counters.ws_message_timeout == 1


def test_a_message_we_stopped_reading_in_the_middle_of_has_its_time_again():
    """Its first frame read, the hub stopped reading the peer (its messages wait for the
    store): the rest may be unread in the socket, so its 10 s start again, and it closes
    only if the message still does not end once it is read again."""
    factory, _, clock = make_factory()
    peer = connect(factory)
    peer.messages()
    begin(peer)
    peer.conn.stream.hold_input(True)  # as the hub does while the store is behind
    clock.advance(25)
    assert close_reason(peer) is None
    peer.conn.stream.hold_input(False)
    clock.advance(10)
    assert close_reason(peer) == (1008, "a message must end within 10 seconds")


def test_a_message_that_ends_in_time_stops_its_timer():
    """A message finished within 10 s is handled, and no close follows later."""
    factory, hub, clock = make_factory()
    peer = connect(factory)
    peer.messages()
    begin(peer, b'{"op":"rooms"')
    clock.advance(9)
    more(peer, 1, b"}", fin=True)
    assert [m["type"] for m in peer.messages()] == ["rooms"]
    clock.advance(60)
    assert close_reason(peer) is None
    assert hub.counters.ws_message_timeout == 0


def test_every_frame_counts_toward_the_rate_limit():
    """Burst 3: a message of 5 frames takes 5 tokens. Past the burst, reading stops and the
    client is told; the message is handled once the bucket has paid for its frames."""
    flow = FlowLimits(max_rate=10, burst=3, slow_timeout=0, idle_timeout=0)
    factory, hub, clock = make_factory(flow)
    peer = connect(factory)
    peer.messages()
    begin(peer, b'{"op":')
    more(peer, 3, b" ")
    more(peer, 1, b'"rooms"}', fin=True)
    got = peer.messages()
    assert [m["code"] for m in got if m["type"] == "error"] == ["rate-limited"]
    assert [m for m in got if m["type"] == "rooms"] == []
    assert peer.transport.producerState == "paused"
    assert hub.counters.rate_limited == 1
    clock.advance(0.15)
    assert peer.messages() == []
    clock.advance(0.1)
    assert [m["type"] for m in peer.messages()] == ["rooms"]
    assert peer.transport.producerState == "producing"


def test_pings_count_toward_the_rate_limit():
    """A ping flood takes tokens like messages: past the burst, reading stops."""
    flow = FlowLimits(max_rate=10, burst=3, slow_timeout=0, idle_timeout=0)
    factory, _, _ = make_factory(flow)
    peer = connect(factory)
    peer.poll()
    for n in range(5):
        peer.send(b"%d" % n, PING)
    assert peer.transport.producerState == "paused"


def test_input_read_while_the_throttle_stops_reading_waits_and_then_goes_on_in_order():
    """One read holding a 10-frame message and then another: parsing stops once the frames
    have used the burst (the rest of the read is held, not parsed), and goes on, in order,
    as the bucket refills."""
    flow = FlowLimits(max_rate=10, burst=3, slow_timeout=0, idle_timeout=0)
    factory, _, clock = make_factory(flow)
    peer = connect(factory)
    peer.messages()
    frames = [client_frame(b'{"op":"rooms"' + b" " * 300, TEXT, fin=False)]
    frames += [client_frame(b" " * 300, CONTINUATION, fin=False) for _ in range(8)]
    frames += [client_frame(b"}", CONTINUATION, fin=True), client_frame(b'{"op":"who"}')]
    peer.conn.dataReceived(b"".join(frames))
    assert peer.conn.held  # the rest of the read waits for the throttle
    assert [m["type"] for m in peer.messages()] == ["error"]  # sending too fast
    for _ in range(20):
        clock.advance(0.1)
    assert [m["type"] for m in peer.messages()] == ["rooms", "who"]
    assert not peer.conn.held


def test_a_read_of_thousands_of_tiny_frames_is_not_all_parsed_at_once():
    """Past the burst, the rest of a read of one-byte frames waits unparsed; the message is
    refused at its deadline and what was held is dropped."""
    flow = FlowLimits(max_rate=10, burst=3, slow_timeout=0, idle_timeout=0)
    factory, hub, clock = make_factory(flow)
    peer = connect(factory)
    peer.messages()
    begin(peer)
    more(peer, 5000, b" ")
    assert peer.conn.frames_of_message < 400  # at most one piece (FEED_SIZE bytes) parsed
    clock.advance(10)
    assert close_reason(peer) == (1008, "a message must end within 10 seconds")
    assert not peer.conn.held
    assert hub.counters.ws_message_timeout == 1


def flooder_and_person() -> tuple[MemoryReactorClock, Hub, Peer, Peer]:
    """A flooder and a person in the lobby, messages up to 64 KiB, no rate limit."""
    clock = MemoryReactorClock()
    hub = Hub(clock=clock.seconds)
    settings = WebSocketSettings(ws_max_message=65_536, ping_interval=0)
    factory = WebSocketFactory(hub, clock, settings)
    factory.flow = QUIET
    flooder, person = connect(factory, "?nick=flooder"), connect(factory, "?nick=alice")
    flooder.messages()
    person.messages()
    return clock, hub, flooder, person


def test_a_flood_of_big_reads_is_parsed_a_budget_a_turn_and_a_person_s_line_goes_first():
    """One read of 40 messages of 16 KB (more than a turn's input budget): what is past the
    budget waits for later turns and that connection is not read meanwhile; a person's short
    line in the same turn is handled at once; in the end every message is handled, in order."""
    clock, _, flooder, person = flooder_and_person()
    text = "😀" * 4000
    say = b'{"op":"say","room":"lobby","text":"%s","ref":"f%d"}'
    flood = b"".join(client_frame(say % (text.encode(), n), TEXT) for n in range(40))
    assert len(flood) > INPUT_PER_TURN
    flooder.conn.dataReceived(flood)
    assert flooder.conn.waiting_for_turn and flooder.transport.producerState == "paused"
    seen = [m for m in person.messages() if m.get("nick") == "flooder"]
    assert 0 < len(seen) < 40
    person.conn.dataReceived(client_frame(b'{"op":"say","room":"lobby","text":"hi","ref":"a"}'))
    assert [m.get("ref") for m in person.messages()] == ["a"]  # at once, not behind the flood
    for _ in range(10):
        clock.advance(0)
    refs = [m["ref"] for m in flooder.messages() if m.get("ref", "").startswith("f")]
    assert refs == [f"f{n}" for n in range(40)]
    assert not flooder.conn.waiting_for_turn and flooder.transport.producerState == "producing"


def test_a_connection_that_goes_while_its_input_waits_for_a_turn_is_simply_forgotten():
    """Its held input is dropped when its turn comes: nothing is said for it, nobody waits."""
    clock, hub, flooder, person = flooder_and_person()
    say = b'{"op":"say","room":"lobby","text":"%s"}' % ("😀" * 4000).encode()
    flooder.conn.dataReceived(b"".join(client_frame(say, TEXT) for _ in range(40)))
    assert flooder.conn.waiting_for_turn
    said = len([m for m in person.messages() if m.get("nick") == "flooder"])
    flooder.lose()
    for _ in range(3):
        clock.advance(0)
    assert not flooder.conn.held and "flooder" not in hub.sessions
    after = [m for m in person.messages() if m.get("kind") == "message"]
    assert said < 40 and after == []
