"""The hot path: the batched fan-out (`Hub.batch`), where one read's messages go to each member
together and in order. (The handshake's deferred debug formatting: tests/test_internals.py.)"""

from twisted.internet.testing import StringTransport

from chathub import commands as cmd
from chathub.events import Error, Event, Ok
from chathub.hub import Hub
from chathub.line import LineFactory
from chathub.store import MemoryStore
from tests.recording import RecordingClient
from tests.test_line import connected


class BatchClient(RecordingClient):
    """A client that takes batches, recording each batch as one tuple."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[Event, ...]] = []

    def deliver_events(self, events: tuple[Event, ...]) -> None:
        self.batches.append(events)
        for event in events:
            self.deliver(event)


def make_hub() -> Hub:
    return Hub(MemoryStore(), clock=lambda: 1700000000.0)


def texts(client: RecordingClient) -> list[str]:
    return [
        item.text for item in client.items if isinstance(item, Event) and item.kind == "message"
    ]


def test_messages_said_in_a_batch_reach_each_member_as_one_tuple() -> None:
    """Three messages in one batch are one call per member, with the same tuple for all."""
    hub = make_hub()
    a, b, c = BatchClient(), BatchClient(), BatchClient()
    alice = hub.connect(a)
    hub.connect(b)
    hub.connect(c)
    with hub.batch():
        for text in ("one", "two", "three"):
            hub.handle(alice, cmd.Say(text))
        assert texts(b) == []  # nothing goes out before the batch ends
    assert b.batches[-1] is c.batches[-1]
    assert [event.text for event in b.batches[-1]] == ["one", "two", "three"]
    assert [event.id for event in b.batches[-1]] == [1, 2, 3]


def test_without_a_batch_a_message_goes_out_at_once() -> None:
    """Outside `batch()` the hub fans out each message as it is said (no added delay)."""
    hub = make_hub()
    a, b = BatchClient(), BatchClient()
    alice = hub.connect(a)
    hub.connect(b)
    hub.handle(alice, cmd.Say("now"))
    assert texts(b) == ["now"]
    assert [event.text for event in b.batches[-1]] == ["now"]  # a batch of one, sent at once


def test_a_reply_in_a_batch_comes_after_the_messages_queued_before_it() -> None:
    """An error for a later command is delivered after the sender's earlier messages."""
    hub = make_hub()
    a = BatchClient()
    alice = hub.connect(a)
    a.clear()
    with hub.batch():
        hub.handle(alice, cmd.Say("first"))
        hub.handle(alice, cmd.Say("   "))
        hub.handle(alice, cmd.Say("second"))
    kinds = [item.text if isinstance(item, Event) else type(item).__name__ for item in a.items]
    assert kinds == ["first", "Error", "second"]


def test_a_join_in_a_batch_sends_the_queued_messages_first() -> None:
    """Messages said before a join reach only the members there before it, in order."""
    hub = make_hub()
    a, late = BatchClient(), BatchClient()
    alice = hub.connect(a)
    bob = hub.connect(late, rooms=("dev",))
    with hub.batch():
        hub.handle(alice, cmd.Say("before"))
        hub.handle(bob, cmd.Join("lobby"))
        hub.handle(alice, cmd.Say("after"))
    assert texts(late) == ["after"]
    assert texts(a) == ["before", "after"]


def test_the_sender_with_a_ref_gets_its_own_messages_with_the_ref() -> None:
    """A command's `ref` comes back on the sender's copy only, in order with the rest."""
    hub = make_hub()
    a, b = BatchClient(), BatchClient()
    alice = hub.connect(a)
    hub.connect(b)
    a.clear()
    b.clear()
    with hub.batch():
        hub.handle(alice, cmd.Say("x", ref="r1"))
        hub.handle(alice, cmd.Say("y"))
    assert [(item.text, ref) for item, ref in a.received if isinstance(item, Event)] == [
        ("x", "r1"),
        ("y", None),
    ]
    assert [(item.text, ref) for item, ref in b.received] == [("x", None), ("y", None)]


def test_quit_in_a_batch_still_delivers_what_was_queued() -> None:
    """A /quit after messages in the same read: the messages go out before the part."""
    hub = make_hub()
    a, b = BatchClient(), BatchClient()
    alice = hub.connect(a)
    hub.connect(b)
    b.clear()
    with hub.batch():
        hub.handle(alice, cmd.Say("bye all"))
        hub.handle(alice, cmd.Quit("done", ref="q"))
    assert [getattr(item, "kind", None) for item in b.items] == ["message", "part"]
    assert (Ok(), "q") in a.received


def test_batches_nest_and_go_out_when_the_outermost_ends() -> None:
    """`batch()` inside `batch()` flushes once, at the outer end."""
    hub = make_hub()
    a, b = BatchClient(), BatchClient()
    alice = hub.connect(a)
    hub.connect(b)
    with hub.batch():
        with hub.batch():
            hub.handle(alice, cmd.Say("inner"))
        assert texts(b) == []
    assert texts(b) == ["inner"]


def test_a_telnet_read_of_many_lines_is_one_write_per_member() -> None:
    """Lines that arrive in one read are written to each terminal at once, the same bytes."""
    hub = make_hub()
    factory = LineFactory(hub)
    transports = []
    for _ in range(3):
        connection = factory.buildProtocol(None)
        transport = StringTransport()
        connected(connection, transport)
        transports.append((connection, transport))
    writes: list[bytes] = []
    for _, transport in transports[1:]:
        transport.clear()
        transport.write = writes.append  # type: ignore[method-assign]
    transports[0][0].dataReceived(b"one\r\ntwo\r\nthree\r\n")
    assert len(writes) == 2
    assert writes[0] is writes[1]
    assert writes[0] == (
        b"[lobby] <guest-1> one\r\n[lobby] <guest-1> two\r\n[lobby] <guest-1> three\r\n"
    )


def test_a_telnet_error_in_a_read_comes_after_the_earlier_lines() -> None:
    """A bad command between messages in one read is answered in its place."""
    hub = make_hub()
    connection = LineFactory(hub).buildProtocol(None)
    transport = StringTransport()
    connected(connection, transport)
    transport.clear()
    connection.dataReceived(b"one\r\n/nosuch\r\ntwo\r\n")
    lines = transport.value().decode().split("\r\n")[:-1]
    assert lines[0] == "[lobby] <guest-1> one"
    assert lines[1].startswith("! ")
    assert lines[2] == "[lobby] <guest-1> two"


def test_an_error_item_is_not_batched() -> None:
    """Errors are never queued: only room messages wait for the end of the batch."""
    hub = make_hub()
    a = BatchClient()
    alice = hub.connect(a)
    a.clear()
    with hub.batch():
        hub.handle(alice, cmd.Say("x", room="nowhere"))
        assert any(isinstance(item, Error) for item in a.items)


def test_websocket_frames_of_one_read_are_one_write_per_member() -> None:
    """Several say ops in one read reach each WebSocket peer as one write of all their frames."""
    from twisted.internet.testing import MemoryReactorClock

    from chathub.config import WebSocketSettings
    from chathub.websocket import WebSocketFactory
    from tests.test_websocket import client_frame, connect

    clock = MemoryReactorClock()
    factory = WebSocketFactory(Hub(clock=clock.seconds), clock, WebSocketSettings())
    peers = [connect(factory, f"?nick=p{n}") for n in range(3)]
    for peer in peers:
        peer.messages()
    writes: list[bytes] = []
    for peer in peers[1:]:
        original = peer.transport.write
        peer.transport.write = (  # type: ignore[method-assign]
            lambda data, original=original: writes.append(data) or original(data)
        )
    ops = b"".join(client_frame(f'{{"op":"say","text":"m{i}"}}'.encode()) for i in range(3))
    peers[0].conn.dataReceived(ops)
    assert len(writes) == 2 and writes[0] is writes[1]
    assert [m["text"] for m in peers[1].messages()] == ["m0", "m1", "m2"]
    assert [m["text"] for m in peers[0].messages()] == ["m0", "m1", "m2"]


def test_websocket_connections_read_their_factorys_options_from_their_class() -> None:
    """Options live on a class per factory, not in each connection; functions stay functions."""
    from twisted.internet.testing import MemoryReactorClock

    from chathub.config import WebSocketSettings
    from chathub.websocket import WebSocketFactory
    from tests.test_websocket import connect

    clock = MemoryReactorClock()
    factory = WebSocketFactory(Hub(clock=clock.seconds), clock, WebSocketSettings())
    conn = connect(factory).conn
    assert "openHandshakeTimeout" not in vars(conn)
    assert conn.openHandshakeTimeout == factory.openHandshakeTimeout
    assert conn.perMessageCompressionAccept == factory.perMessageCompressionAccept


def test_deflated_room_messages_are_compressed_once_and_match_autobahns_own() -> None:
    """With permessage-deflate, a batch is compressed once for all peers with the same
    parameters, byte for byte what Autobahn would send each, and it decompresses right."""
    import json
    import zlib

    from twisted.internet.testing import MemoryReactorClock

    from chathub.config import WebSocketSettings
    from chathub.websocket import WebSocketFactory
    from chathub.wsframes import event_payload
    from tests.test_websocket import Peer, client_frame, handshake, read_frames

    clock = MemoryReactorClock()
    factory = WebSocketFactory(Hub(clock=clock.seconds), clock, WebSocketSettings())
    offer = "permessage-deflate; client_max_window_bits"
    peers = [Peer(factory).open(handshake(extensions=offer)) for _ in range(3)]
    for peer in peers:
        peer.poll()
    writes: list[bytes] = []
    for peer in peers[1:]:
        original = peer.transport.write
        peer.transport.write = (  # type: ignore[method-assign]
            lambda data, original=original: writes.append(data) or original(data)
        )
    ops = b"".join(client_frame(f'{{"op":"say","text":"m{i}"}}'.encode()) for i in range(2))
    peers[0].conn.dataReceived(ops)
    assert len(writes) == 2 and writes[0] is writes[1]
    frames, rest = read_frames(writes[0])
    assert rest == b"" and [rsv1 for _, rsv1, _ in frames] == [True, True]
    texts = [
        json.loads(zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff"))["text"]
        for _, _, payload in frames
    ]
    assert texts == ["m0", "m1"]
    # What Autobahn's own compressor makes of the first message, for the same connection:
    deflate = peers[1].conn._perMessageCompress
    payload = event_payload(factory.hub.store.recent("lobby", 2)[0])
    deflate.start_compress_message()
    own = deflate.compress_message_data(payload) + deflate.end_compress_message()
    assert frames[0][2] == own


class _CutOff(RecordingClient):
    """A client whose first message ends its own session, as a cut-off slow reader does."""

    def __init__(self, hub: Hub) -> None:
        super().__init__()
        self.hub = hub
        self.session = None

    def deliver(self, item, ref=None) -> None:  # type: ignore[no-untyped-def]
        super().deliver(item, ref)
        if self.session is not None and getattr(item, "kind", None) == "message":
            session, self.session = self.session, None
            self.hub.disconnect(session, "too slow")


def test_a_member_cut_off_during_a_broadcast_does_not_stop_it() -> None:
    """A delivery that disconnects its member mid-broadcast: the rest still get the message."""
    for batched in (False, True):
        hub = make_hub()
        alice = hub.connect(RecordingClient())
        cut = _CutOff(hub)
        cut.session = hub.connect(cut)
        last = RecordingClient()
        hub.connect(last)
        if batched:
            with hub.batch():
                hub.handle(alice, cmd.Say("hi"))
        else:
            hub.handle(alice, cmd.Say("hi"))
        assert texts(last) == ["hi"]
        # (its part may reach the members after it before the message does)
        assert sorted(getattr(item, "kind", "") for item in last.items[-2:]) == ["message", "part"]


def test_a_member_cut_off_while_told_of_a_nick_change_does_not_stop_it() -> None:
    """A nick change still reaches everyone when telling one member ends its session."""

    class CutOnNick(_CutOff):
        def deliver(self, item, ref=None) -> None:  # type: ignore[no-untyped-def]
            RecordingClient.deliver(self, item, ref)
            if self.session is not None and getattr(item, "kind", None) == "nick":
                session, self.session = self.session, None
                self.hub.disconnect(session, "too slow")

    hub = make_hub()
    alice = hub.connect(RecordingClient())
    cut = CutOnNick(hub)
    cut.session = hub.connect(cut)
    last = RecordingClient()
    hub.connect(last)
    hub.handle(alice, cmd.Nick("alicia"))
    assert "nick" in [getattr(item, "kind", None) for item in last.items]
