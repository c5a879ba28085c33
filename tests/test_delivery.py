"""Delivery at the edges: closing or slow connections, the rate limit, order across rooms."""

import json
import struct
import zlib

from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock

from chathub import commands as cmd
from chathub.config import FlowLimits, HubSettings, WebSocketSettings
from chathub.events import Event, Private
from chathub.hub import Hub
from chathub.websocket import WebSocketFactory
from tests.recording import RecordingClient
from tests.test_line_limits import Terminal
from tests.test_websocket import BINARY, CLOSE, TEXT, Peer, client_frame, connect, handshake
from tests.test_websocket_limits import make_factory


def test_no_event_frame_follows_the_close_frame_after_the_peer_closes():
    """Once the server has sent its close frame, room messages are no longer written to it."""
    factory, _, _ = make_factory()
    alice = connect(factory, "?nick=alice&rooms=dev")
    bob = connect(factory, "?nick=bob&rooms=dev")
    alice.poll(), bob.messages()
    alice.send(struct.pack("!H", 1000), CLOSE)  # TCP stays up until the reactor drops it
    bob.send({"op": "say", "room": "dev", "text": "late"})
    opcodes = [opcode for opcode, _, _ in alice.poll()]
    assert opcodes == [CLOSE]


def test_a_message_dropped_by_the_rate_limit_still_gets_one_reply_for_its_ref():
    """Past the burst waiting, a dropped op with a ref is answered with a rate-limited error."""
    factory, _, clock = make_factory(FlowLimits(max_rate=10, burst=2, idle_timeout=0))
    peer = connect(factory)
    peer.messages()
    # In one read: once the throttle stops reading, no more reads come (TCP), and input read
    # but not parsed yet waits for it.
    ops = [json.dumps({"op": "say", "room": "lobby", "text": f"m{n}", "ref": n}) for n in range(6)]
    peer.conn.dataReceived(b"".join(client_frame(op.encode()) for op in ops))
    clock.advance(1)
    replies = [m for m in peer.messages() if "ref" in m]
    assert sorted(m["ref"] for m in replies) == list(range(6))
    dropped = [m for m in replies if m["type"] == "error"]
    assert [m["code"] for m in dropped] == ["rate-limited", "rate-limited"]


def test_a_pm_to_a_peer_dropped_by_the_keepalive_does_not_raise():
    """Between Autobahn's drop and the connection's end, a reply to it is dropped, not raised."""
    clock = MemoryReactorClock()
    hub = Hub(clock=clock.seconds)
    factory = WebSocketFactory(hub, clock, WebSocketSettings(ping_interval=30, ping_timeout=15))
    alice = connect(factory, "?nick=alice")
    bob = hub.connect(RecordingClient(), "bob")
    clock.advance(30)
    clock.advance(15)  # no pong: Autobahn drops the TCP connection, which ends a turn later
    assert alice.transport.disconnecting
    hub.handle(bob, cmd.Msg("alice", "still there?"))
    assert bob.client.of_type(Private)[-1].text == "still there?"


def test_a_long_room_message_reaches_a_deflate_peer_despite_a_small_message_limit():
    """--ws-max-message bounds what peers send; a compressed room event over it is still sent."""
    clock = MemoryReactorClock()
    hub = Hub(clock=clock.seconds)
    factory = WebSocketFactory(hub, clock, WebSocketSettings(ws_max_message=1024))
    peer = Peer(factory).open(handshake(extensions="permessage-deflate; client_max_window_bits"))
    peer.poll()
    telnet = hub.connect(RecordingClient(), "carol")
    text = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(2000))  # compresses badly
    hub.handle(telnet, cmd.Say(text))
    _, rsv1, payload = peer.poll()[-1]  # after carol's join
    event = json.loads(zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff"))
    assert rsv1 and event["text"] == text


def test_a_dropped_websocket_that_was_behind_leaves_no_slow_timer():
    """Autobahn's drop unregisters the outbox: the slow timer must still go with the connection."""
    clock = MemoryReactorClock()
    hub = Hub(clock=clock.seconds)
    factory = WebSocketFactory(hub, clock, WebSocketSettings(ping_interval=30, ping_timeout=15))
    factory.flow = FlowLimits(max_rate=0, slow_timeout=60, idle_timeout=0)
    alice = connect(factory)
    alice.transport.producer.pauseProducing()  # as TCP does when the peer stops reading
    clock.advance(30)
    clock.advance(15)  # no pong: dropped
    alice.lose()
    assert clock.getDelayedCalls() == []
    clock.advance(60)
    assert hub.counters.slow_closed == 0


def test_output_waiting_for_a_slow_reader_is_not_sent_after_the_close_frame():
    """A close frame goes out at once; the backlog behind it is dropped, never sent after it."""
    factory, hub, _ = make_factory()
    alice = connect(factory, "?nick=alice")
    bob = hub.connect(RecordingClient(), "bob")
    alice.poll()
    alice.transport.producer.pauseProducing()  # the peer stopped reading
    hub.handle(bob, cmd.Say("waiting"))
    alice.send(struct.pack("!H", 1000), CLOSE)
    alice.conn.stream.outbox.resumeProducing()  # the peer reads again
    assert [opcode for opcode, _, _ in alice.poll()] == [CLOSE]


def test_messages_to_two_rooms_in_one_batch_reach_a_member_of_both_in_order():
    """A batch keeps the order across rooms too: a member of both sees them as they were said."""
    hub = Hub(clock=lambda: 1700000000.0)
    alice = hub.connect(RecordingClient(), "alice", ["a", "b"])
    both = RecordingClient()
    hub.connect(both, "carol", ["a", "b"])
    with hub.batch():
        for text, room in (("a1", "a"), ("b1", "b"), ("a2", "a")):
            hub.handle(alice, cmd.Say(text, room))
    said = [item.text for item in both.of_type(Event) if item.kind == "message"]
    assert said == ["a1", "b1", "a2"]


def test_a_too_long_telnet_line_is_answered_after_the_slowed_lines_before_it():
    """While earlier lines wait for the rate limit, the too-long error waits behind them."""
    hub = Hub(clock=lambda: 1.0, settings=HubSettings(motd="hi"))
    clock = Clock()
    terminal = Terminal(hub, clock, FlowLimits(max_rate=1, burst=2, slow_timeout=0, idle_timeout=0))
    terminal.lines()
    terminal.type(b"one\r\ntwo\r\nthree\r\n" + b"x" * 3000 + b"\r\n")
    clock.advance(5)
    lines = [line for line in terminal.lines() if "too fast" not in line]
    assert lines == [
        "[lobby] <guest-1> one",
        "[lobby] <guest-1> two",
        "[lobby] <guest-1> three",
        "! line longer than 2048 bytes, discarded",
    ]


def test_a_message_read_before_a_binary_frame_is_answered_before_the_close():
    """say then a binary frame in one read: the say's event (with its ref) precedes close 1003."""
    factory, _, _ = make_factory()
    alice = connect(factory)
    alice.poll()
    say = json.dumps({"op": "say", "text": "last words", "ref": "r"}).encode()
    alice.conn.dataReceived(client_frame(say) + client_frame(b"\x00", BINARY))
    frames = alice.poll()
    assert [opcode for opcode, _, _ in frames] == [TEXT, CLOSE]
    assert json.loads(frames[0][2])["ref"] == "r"
