"""The WebSocket adapter without sockets: a StringTransport, a MemoryReactorClock, and frames
built and read by hand, fed whole and one byte at a time."""

import json
import random
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import txaio
from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.util import peer2str
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from zope.interface import directlyProvides

from chathub import wsframes
from chathub.config import WebSocketSettings
from chathub.events import Event, Ok
from chathub.hub import Hub
from chathub.options import ConfigError, load
from chathub.web import make_root
from chathub.websocket import WebSocketConnection, WebSocketFactory
from chathub.wsframes import event_payload
from chathub.wsoptions import configure_factory

HOST = "chat.example:8080"
SAME_ORIGIN = "http://chat.example:8080"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
MASK = b"\x01\x02\x03\x04"
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
MODES = ["whole", "bytes"]


# --- a client by hand -------------------------------------------------------------------------


def handshake(
    path: str = "/ws", origin: str | None = None, host: str = HOST, extensions: str | None = None
) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    if extensions is not None:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def client_frame(payload: bytes, opcode: int = TEXT, fin: bool = True) -> bytes:
    """A masked client frame, as RFC 6455 requires of clients."""
    head = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", size)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", size)
    masked = bytes(byte ^ MASK[i % 4] for i, byte in enumerate(payload))
    return head + MASK + masked


def read_frames(data: bytes) -> tuple[list[tuple[int, bool, bytes]], bytes]:
    """Complete server frames in `data` as (opcode, rsv1, payload), and what is left over."""
    frames = []
    while len(data) >= 2:
        opcode, rsv1 = data[0] & 0x0F, bool(data[0] & 0x40)
        size, start = data[1] & 0x7F, 2
        if size == 126:
            (size,), start = struct.unpack("!H", data[2:4]), 4
        elif size == 127:
            (size,), start = struct.unpack("!Q", data[2:10]), 10
        if len(data) < start + size:
            break
        frames.append((opcode, rsv1, data[start : start + size]))
        data = data[start + size :]
    return frames, data


def feed(conn: WebSocketConnection, data: bytes, mode: str) -> None:
    if mode == "whole":
        conn.dataReceived(data)
    else:
        for i in range(len(data)):
            conn.dataReceived(data[i : i + 1])


class TcpLikeTransport(StringTransport):
    """A StringTransport that, like a TCP transport, allows unregistering no producer."""

    def unregisterProducer(self) -> None:
        self.producer = None


class Peer:
    """One client connection to the adapter, over a StringTransport."""

    def __init__(self, factory: WebSocketFactory, mode: str = "whole", tls: bool = False) -> None:
        self.mode = mode
        self.transport = TcpLikeTransport(
            hostAddress=IPv4Address("TCP", "127.0.0.1", 8080),
            peerAddress=IPv4Address("TCP", "127.0.0.1", 50000),
        )
        self.conn: WebSocketConnection = factory.buildProtocol(self.transport.getPeer())
        self.conn.makeConnection(self.transport)
        if tls:  # after connectionMade, or Autobahn asks this fake for its TLS channel id
            directlyProvides(self.transport, ISSLTransport)
        self.status = 0
        self.headers = ""
        self._pending = b""
        self._read = 0
        self.frames: list[tuple[int, bool, bytes]] = []

    def open(self, request: bytes) -> "Peer":
        feed(self.conn, request, self.mode)
        response = self.transport.value()
        head, _, _ = response.partition(b"\r\n\r\n")
        self.status = int(head.split()[1])
        self.headers = head.decode().lower()
        self._read = len(head) + 4
        return self

    def send(self, data: bytes | str | dict[str, Any], opcode: int = TEXT) -> None:
        if isinstance(data, dict):
            data = json.dumps(data)
        if isinstance(data, str):
            data = data.encode()
        feed(self.conn, client_frame(data, opcode), self.mode)

    def poll(self) -> list[tuple[int, bool, bytes]]:
        """The frames that arrived since the last poll."""
        value = self.transport.value()
        self._pending += value[self._read :]
        self._read = len(value)
        frames, self._pending = read_frames(self._pending)
        self.frames += frames
        return frames

    def messages(self) -> list[dict[str, Any]]:
        """The JSON messages that arrived since the last poll."""
        return [json.loads(payload) for op, _, payload in self.poll() if op == TEXT]

    def close_code(self) -> int | None:
        self.poll()
        for opcode, _, payload in self.frames:
            if opcode == CLOSE:
                return int(struct.unpack("!H", payload[:2])[0])
        return None

    def lose(self) -> None:
        """The TCP connection ends (as the reactor reports once the server dropped it)."""
        self.conn.connectionLost(Failure(ConnectionDone()))

    def hang_up(self) -> None:
        """A clean close from the client: close frame, the server's reply, then TCP closes."""
        self.send(struct.pack("!H", 1000), CLOSE)
        self.lose()


@pytest.fixture
def clock() -> MemoryReactorClock:
    return MemoryReactorClock()


@pytest.fixture
def hub(clock: MemoryReactorClock) -> Hub:
    return Hub(clock=clock.seconds)


@pytest.fixture
def factory(hub: Hub, clock: MemoryReactorClock) -> Iterator[WebSocketFactory]:
    yield WebSocketFactory(hub, clock, WebSocketSettings(ws_max_message=4096))


def connect(factory: WebSocketFactory, query: str = "", mode: str = "whole", **kw: Any) -> Peer:
    peer = Peer(factory, mode).open(handshake("/ws" + query, **kw))
    assert peer.status == 101
    return peer


class RecordingClient:
    """A hub client that keeps what it was sent (stands in for a telnet connection)."""

    transport_name = "test"

    def __init__(self) -> None:
        self.items: list[Any] = []

    def deliver(self, item: Any, ref: Any = None) -> None:
        self.items.append(item)

    def deliver_events(self, events: tuple[Any, ...]) -> None:
        self.items.extend(events)

    def close(self) -> None:
        pass


def kinds(messages: list[dict[str, Any]]) -> list[str]:
    return [m["type"] if m["type"] != "event" else m["kind"] for m in messages]


# --- connecting -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_welcome_comes_first_with_the_nick_and_rooms_asked_for(factory, mode):
    """The first message is one welcome with the query's nick and rooms, then their joins."""
    peer = connect(factory, "?nick=alice&rooms=dev,%23Ops", mode)
    messages = peer.messages()
    assert messages[0] == {
        "type": "welcome",
        "nick": "alice",
        "rooms": ["dev", "ops"],
        "motd": "Welcome to chathub.",
        "account": None,
        "topics": {},
    }
    assert kinds(messages[1:]) == ["join", "join"]
    assert [m["type"] for m in messages].count("welcome") == 1


def test_handshake_and_first_message_in_one_write(factory):
    """A message that arrives in the same read as the handshake is handled after the welcome."""
    peer = Peer(factory)
    say = client_frame(json.dumps({"op": "say", "text": "early", "ref": 1}).encode())
    peer.open(handshake("/ws?nick=eager") + say)
    messages = peer.messages()
    assert messages[0]["type"] == "welcome"
    assert messages[-1]["text"] == "early" and messages[-1]["ref"] == 1


def test_no_query_joins_lobby_as_a_guest(factory):
    """Without a query the client is a guest in lobby."""
    welcome = connect(factory).messages()[0]
    assert welcome["nick"].startswith("guest-") and welcome["rooms"] == ["lobby"]


def test_taken_nick_in_query_gets_a_guest_nick_and_an_error(factory):
    """A nick already in use falls back to a guest nick, with an error after the welcome."""
    connect(factory, "?nick=alice")
    messages = connect(factory, "?nick=Alice").messages()
    assert messages[0]["nick"].startswith("guest-")
    assert messages[1]["type"] == "error" and messages[1]["code"] == "nick-taken"


def test_since_in_query_replays_only_newer_messages(factory, hub):
    """`since=dev:2` replays the messages of dev after id 2, with their ids."""
    for n in range(1, 5):
        hub.store.append(Event("dev", "message", "bob", f"m{n}", 0.0))
    messages = connect(factory, "?rooms=dev&since=dev:2").messages()
    history = [m for m in messages if m["type"] == "history"]
    assert [(e["id"], e["text"]) for e in history[0]["events"]] == [(3, "m3"), (4, "m4")]


def test_malformed_since_entry_is_reported_and_ignored(factory):
    """A since entry that is not ROOM:ID gets an error after the welcome; the rest works."""
    messages = connect(factory, "?rooms=dev&since=dev:x").messages()
    assert messages[0]["type"] == "welcome"
    errors = [m for m in messages if m["type"] == "error"]
    assert errors[0]["code"] == "bad-request" and "dev:x" in errors[0]["message"]


# --- ops --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_say_reaches_everyone_and_only_the_sender_gets_the_ref(factory, mode):
    """A say is an event to every member; the sender's copy carries its ref, the others not."""
    alice = connect(factory, "?nick=alice&rooms=dev", mode)
    bob = connect(factory, "?nick=bob&rooms=dev", mode)
    alice.messages(), bob.messages()
    alice.send({"op": "say", "room": "dev", "text": "hello", "ref": "r1"})
    [mine] = alice.messages()
    [theirs] = bob.messages()
    assert mine == {**theirs, "ref": "r1"}
    assert theirs["type"] == "event" and theirs["kind"] == "message"
    assert (theirs["room"], theirs["nick"], theirs["text"], theirs["id"]) == (
        "dev",
        "alice",
        "hello",
        1,
    )
    assert isinstance(theirs["ts"], float) and "old" not in theirs


def test_a_say_that_starts_invisibly_with_a_slash_is_refused_and_nobody_sees_it(factory):
    """A zero-width space before `/msg bob ...` in a `say`: a `hidden-command` error with the
    ref, nothing to the room; a `say` of text starting with a visible `/` is said."""
    alice = connect(factory, "?nick=alice")
    bob = connect(factory, "?nick=bob")
    alice.messages(), bob.messages()
    alice.send({"op": "say", "text": "\u200b/msg bob my password", "ref": 7})
    [reply] = alice.messages()
    assert (reply["type"], reply["code"], reply["ref"]) == ("error", "hidden-command", 7)
    assert bob.messages() == []
    alice.send({"op": "say", "text": "/etc/hosts changed"})
    assert [m["text"] for m in bob.messages()] == ["/etc/hosts changed"]


def test_me_is_an_action_event(factory):
    """`me` makes an action event with an id."""
    alice = connect(factory, "?nick=alice")
    alice.messages()
    alice.send({"op": "me", "room": "lobby", "text": "waves", "ref": 7})
    [event] = alice.messages()
    assert (event["kind"], event["text"], event["id"], event["ref"]) == ("action", "waves", 1, 7)


def test_join_and_part_are_events_seen_by_the_room(factory):
    """join and part reach the one who did it (with ref) and the room's other members."""
    alice = connect(factory, "?nick=alice&rooms=dev")
    bob = connect(factory, "?nick=bob&rooms=lobby")
    alice.messages(), bob.messages()
    bob.send({"op": "join", "room": "dev", "ref": 1})
    assert alice.messages()[0] == {
        "type": "event",
        "room": "dev",
        "kind": "join",
        "nick": "bob",
        "text": "",
        "ts": 0.0,
    }
    assert bob.messages()[0]["ref"] == 1
    bob.send({"op": "part", "room": "dev", "reason": "bye", "ref": 2})
    [part] = alice.messages()
    assert (part["kind"], part["nick"], part["text"]) == ("part", "bob", "bye")
    assert bob.messages()[0]["ref"] == 2


def test_nick_change_carries_old_and_reaches_room_mates(factory):
    """A nick event carries old and new nick, room null, to both the renamed and room mates."""
    alice = connect(factory, "?nick=alice")
    bob = connect(factory, "?nick=bob")
    alice.messages(), bob.messages()
    alice.send({"op": "nick", "nick": "alicia", "ref": "n"})
    [mine] = alice.messages()
    [theirs] = bob.messages()
    assert mine == {**theirs, "ref": "n"}
    assert (theirs["kind"], theirs["nick"], theirs["old"], theirs["room"]) == (
        "nick",
        "alicia",
        "alice",
        None,
    )
    assert "id" not in theirs


def test_who_lists_the_members(factory):
    """`who` answers with the members of the room, sorted."""
    connect(factory, "?nick=zed")
    alice = connect(factory, "?nick=alice")
    alice.messages()
    alice.send({"op": "who", "room": "lobby", "ref": 3})
    assert alice.messages() == [
        {"type": "who", "room": "lobby", "members": ["alice", "zed"], "ref": 3}
    ]


def test_rooms_lists_rooms_with_member_counts(factory):
    """`rooms` answers with every room and its member count."""
    connect(factory, "?rooms=dev,lobby")
    alice = connect(factory, "?nick=alice")
    alice.messages()
    alice.send({"op": "rooms"})
    assert alice.messages() == [
        {
            "type": "rooms",
            "rooms": [{"name": "lobby", "members": 2}, {"name": "dev", "members": 1}],
            "total": 2,
        }
    ]


def test_history_answers_with_stored_events(factory, hub):
    """`history` with since and limit answers with the stored events, oldest first."""
    for n in range(1, 6):
        hub.store.append(Event("dev", "message", "bob", f"m{n}", 1.5))
    alice = connect(factory, "?rooms=lobby")
    alice.messages()
    alice.send({"op": "history", "room": "dev", "since": 1, "limit": 2, "ref": "h"})
    [answer] = alice.messages()
    assert answer["type"] == "history" and answer["room"] == "dev" and answer["ref"] == "h"
    assert answer["events"] == [
        {"room": "dev", "kind": "message", "nick": "bob", "text": "m2", "ts": 1.5, "id": 2},
        {"room": "dev", "kind": "message", "nick": "bob", "text": "m3", "ts": 1.5, "id": 3},
    ]


def test_msg_is_a_pm_to_the_target_and_a_copy_to_the_sender(factory):
    """`msg` delivers a pm with from and to; the sender's copy carries the ref."""
    alice = connect(factory, "?nick=alice")
    bob = connect(factory, "?nick=bob&rooms=dev")
    alice.messages(), bob.messages()
    alice.send({"op": "msg", "to": "BOB", "text": "psst", "ref": 9})
    [received] = bob.messages()
    assert received == {"type": "pm", "from": "alice", "to": "bob", "text": "psst", "ts": 0.0}
    assert alice.messages() == [{**received, "ref": 9}]


def test_join_of_a_room_already_in_is_a_notice_event(factory):
    """A server notice arrives as an event of kind notice with room and nick null."""
    alice = connect(factory, "?rooms=dev")
    alice.messages()
    alice.send({"op": "join", "room": "dev", "ref": 4})
    [notice] = alice.messages()
    assert (notice["type"], notice["kind"], notice["room"], notice["nick"]) == (
        "event",
        "notice",
        None,
        None,
    )
    assert notice["text"] == "you are in dev" and notice["ref"] == 4


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "code"),
    [
        ("{not json", "bad-json"),
        ("[" * 2000 + "]" * 2000, "bad-json"),  # deeper than the recursion limit
        ("[1, 2]", "bad-request"),
        ('"text"', "bad-request"),
        ('{"op": "fly"}', "unknown-op"),
        ('{"text": "no op"}', "bad-request"),
        ('{"op": "say"}', "bad-request"),
        ('{"op": "say", "text": 5}', "bad-request"),
        ('{"op": "join", "room": ["dev"]}', "bad-request"),
        ('{"op": "history", "since": true}', "bad-request"),
        ('{"op": "say", "text": "hi", "ref": [1]}', "bad-request"),
        ('{"op": "join", "room": "no good"}', "bad-room"),
        ('{"op": "nick", "nick": "1bad"}', "bad-nick"),
        ('{"op": "msg", "to": "nobody", "text": "x"}', "no-such-nick"),
    ],
)
def test_bad_messages_get_an_error_and_the_connection_stays(factory, sent, code):
    """Each kind of bad message gets one error reply; the connection stays open and works."""
    alice = connect(factory, "?nick=alice")
    bob = connect(factory, "?nick=bob")
    alice.messages(), bob.messages()
    alice.send(sent)
    [error] = alice.messages()
    assert error["type"] == "error" and error["code"] == code and error["message"]
    assert bob.messages() == []
    alice.send({"op": "say", "text": "still here"})
    assert [m["text"] for m in bob.messages()] == ["still here"]


def test_deeply_nested_json_is_an_error_not_a_crash(hub, clock):
    """JSON nested deeper than Python's recursion limit gets bad-json, not a traceback."""
    factory = WebSocketFactory(hub, clock)
    alice = connect(factory)
    alice.messages()
    alice.send("[" * 30_000 + "]" * 30_000)
    assert [m["code"] for m in alice.messages()] == ["bad-json"]


def test_error_echoes_the_ref(factory):
    """An error caused by an op with a ref carries that ref."""
    alice = connect(factory)
    alice.messages()
    alice.send({"op": "fly", "ref": "x1"})
    assert alice.messages()[0]["ref"] == "x1"


@pytest.mark.parametrize("mode", MODES)
def test_binary_frame_closes_with_1003_and_others_carry_on(factory, hub, mode):
    """A binary message closes that connection with 1003; the other clients are unaffected."""
    alice = connect(factory, "?nick=alice", mode)
    bob = connect(factory, "?nick=bob", mode)
    alice.messages(), bob.messages()
    alice.send(b"\x00\x01", BINARY)
    assert alice.close_code() == 1003
    alice.hang_up()
    assert [m["kind"] for m in bob.messages()] == ["part"]
    assert list(hub.sessions) == ["bob"]


def test_invalid_utf8_closes_with_1007(factory):
    """A text frame that is not UTF-8 closes with 1007."""
    alice = connect(factory)
    alice.send(b"\xff\xfe")
    assert alice.close_code() == 1007


@pytest.mark.parametrize("mode", MODES)
def test_oversize_message_closes_with_1009(factory, mode):
    """A message over the size limit closes with 1009 (here the limit is 4096 bytes)."""
    alice = connect(factory, mode=mode)
    alice.send({"op": "say", "text": "x" * 5000})
    assert alice.close_code() == 1009


def test_lone_surrogate_is_replaced_so_every_recipient_can_be_sent_it(factory, hub):
    """A `\\ud800` escape in text reaches everyone as U+FFFD, and encodes as UTF-8."""
    terminal = RecordingClient()
    hub.connect(terminal, "term")
    alice = connect(factory)
    alice.messages()
    alice.send('{"op": "say", "room": "lobby", "text": "a\\ud800b"}')
    assert alice.messages()[0]["text"] == "a\ufffdb"
    said = [item for item in terminal.items if isinstance(item, Event) and item.kind == "message"]
    assert said[0].text.encode("utf-8") == "a\ufffdb".encode()


# --- encode once ------------------------------------------------------------------------------


def test_broadcast_event_is_encoded_once_and_the_same_bytes_sent_to_all(factory, monkeypatch):
    """One event to three members: encoded once, the same bytes object to each socket."""
    peers = [connect(factory, f"?nick=p{n}") for n in range(3)]
    for peer in peers:
        peer.messages()
    encoded: list[bytes] = []
    monkeypatch.setattr(
        wsframes, "event_payload", lambda event: encoded.append(event) or event_payload(event)
    )
    writes: list[bytes] = []
    for peer in peers:
        monkeypatch.setattr(
            peer.transport,
            "write",
            lambda data, write=peer.transport.write: writes.append(data) or write(data),
        )
    peers[0].send({"op": "say", "text": "once"})  # no ref: every copy is the same
    assert len(encoded) == 1
    assert len(writes) == 3 and writes[0] is writes[1] is writes[2]
    assert [peer.messages()[0]["text"] for peer in peers] == ["once"] * 3


def test_reply_with_ref_is_encoded_separately(factory, monkeypatch):
    """With a ref, the sender's copy is its own message; the others share one frame."""
    alice, bob, carol = (connect(factory, f"?nick={n}") for n in ("alice", "bob", "carol"))
    for peer in (alice, bob, carol):
        peer.messages()
    shared: list[object] = []
    monkeypatch.setattr(
        wsframes, "event_payload", lambda event: shared.append(event) or event_payload(event)
    )
    alice.send({"op": "say", "text": "hi", "ref": 1})
    assert len(shared) == 1  # bob's and carol's copy, made once
    assert alice.messages()[0]["ref"] == 1
    assert "ref" not in bob.messages()[0] and "ref" not in carol.messages()[0]


# --- origins ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "tls", "allowed", "status"),
    [
        (None, False, (), 101),
        (SAME_ORIGIN, False, (), 101),
        ("HTTP://Chat.Example:8080", False, (), 101),
        ("http://chat.example:8081", False, (), 403),
        ("http://evil.example:8080", False, (), 403),
        ("https://chat.example:8080", False, (), 403),
        ("https://chat.example:8080", True, (), 101),
        (SAME_ORIGIN, True, (), 403),
        ("http://evil.example:8080", False, ("http://evil.example:8080",), 101),
        ("http://evil.example", False, ("http://evil.example:80",), 101),
        ("http://evil.example:8080", False, ("*",), 101),
        ("null", False, (), 403),
        ("null", False, ("null",), 101),
        ("not an origin", False, (), 400),  # Autobahn refuses a malformed header itself
    ],
)
def test_origin_policy(hub, clock, origin, tls, allowed, status):
    """No Origin or the page's own is accepted, --allow-origin widens it, the rest get 403."""
    factory = WebSocketFactory(hub, clock, WebSocketSettings(allow_origin=allowed))
    peer = Peer(factory, tls=tls).open(handshake(origin=origin))
    assert peer.status == status
    assert bool(hub.sessions) == (status == 101)
    if status != 101:
        assert peer.transport.disconnecting
        peer.lose()
        assert clock.getDelayedCalls() == []


def test_allow_origin_flag_reaches_the_config():
    """`--allow-origin` is repeatable and checked; its values reach Config.allow_origin."""
    argv = ["--allow-origin", "https://a.example", "--allow-origin", "*"]
    assert load(argv, {}).config.websocket.allow_origin == ("https://a.example", "*")
    with pytest.raises(ConfigError):
        load(["--allow-origin", "a.example"], {})


# --- options, keepalive, shutdown, timers -----------------------------------------------------


def test_factory_options_close_autobahns_open_defaults(factory):
    """The options function sets the size limits, keepalive, timeouts and clean closes."""
    defaults = WebSocketSettings()
    assert defaults.ws_max_message == 65536
    assert factory.maxMessagePayloadSize == factory.maxFramePayloadSize == 4096
    assert (factory.autoPingInterval, factory.autoPingTimeout) == (30.0, 15.0)
    assert (factory.openHandshakeTimeout, factory.closeHandshakeTimeout) == (10.0, 5.0)
    assert factory.failByDrop is False and factory.webStatus is False


def test_configure_factory_sets_up_any_autobahn_server_factory(clock):
    """A bare Autobahn factory (such as an echo endpoint) gets the limits and clock timers."""
    factory = WebSocketServerFactory(reactor=clock)
    factory.protocol = WebSocketServerProtocol
    configure_factory(factory, WebSocketSettings(ws_max_message=100, ping_interval=7))
    peer = Peer(factory).open(handshake())
    assert peer.status == 101
    clock.advance(7)
    assert [frame[0] for frame in peer.poll()] == [PING]
    peer.send("x" * 101)
    assert peer.close_code() == 1009


def test_make_root_mounts_the_websocket_resource_at_ws(hub, factory):
    """`/ws` is a WebSocketResource on the same Site when a factory is given."""
    root = make_root(hub, factory)
    assert isinstance(root.children[b"ws"], WebSocketResource)


def test_permessage_deflate_is_accepted_with_small_windows(factory):
    """A deflate offer is accepted with 9-bit windows and no context takeover."""
    offer = "permessage-deflate; client_max_window_bits"
    peer = Peer(factory).open(handshake(extensions=offer))
    assert peer.status == 101
    assert "permessage-deflate" in peer.headers
    assert "client_no_context_takeover" in peer.headers
    assert "client_max_window_bits=9" in peer.headers
    [(opcode, rsv1, payload)] = peer.poll()[:1]
    assert opcode == TEXT and rsv1
    welcome = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
    assert json.loads(welcome)["type"] == "welcome"


def test_keepalive_pings_and_drops_a_silent_peer(factory, hub, clock):
    """After 30 s of quiet the server pings; with no pong within 15 s it drops the client."""
    alice = connect(factory)
    alice.poll()
    clock.advance(30)
    assert [frame[0] for frame in alice.poll()] == [PING]
    assert not alice.transport.disconnecting
    clock.advance(15)
    assert alice.transport.disconnecting
    alice.lose()
    assert hub.sessions == {}
    assert clock.getDelayedCalls() == []


def test_pong_keeps_the_connection(factory, clock):
    """A peer that answers the ping stays connected, and is pinged again later."""
    alice = connect(factory)
    alice.poll()
    clock.advance(30)
    [(_, _, payload)] = alice.poll()
    alice.send(payload, PONG)
    clock.advance(15)
    assert not alice.transport.disconnecting
    clock.advance(30)
    assert [frame[0] for frame in alice.poll()] == [PING]
    alice.hang_up()
    assert clock.getDelayedCalls() == []


def test_a_peer_we_stopped_reading_is_not_dropped_for_a_pong_we_did_not_read(factory, clock):
    """While the hub holds a peer's input (its messages wait for the store), its pong may be
    unread in the socket: the ping timeout waits with it. Read again, a late pong keeps it; a
    peer still silent once we read it again is dropped."""
    alice = connect(factory)
    alice.poll()
    alice.conn.stream.hold_input(True)  # as the hub does while the store is behind
    clock.advance(30)
    [(_, _, payload)] = alice.poll()
    clock.advance(60)
    assert not alice.transport.disconnecting
    alice.conn.stream.hold_input(False)
    alice.send(payload, PONG)
    clock.advance(15)
    assert not alice.transport.disconnecting
    clock.advance(15)
    assert [frame[0] for frame in alice.poll()] == [PING]
    clock.advance(15)  # no pong, and nothing held: a dead peer
    assert alice.transport.disconnecting
    alice.lose()


def test_open_handshake_timeout_drops_a_silent_connection(factory, clock):
    """A connection that never completes its handshake is dropped after 10 s."""
    peer = Peer(factory)
    peer.conn.dataReceived(handshake()[:20])
    clock.advance(10)
    assert peer.transport.disconnecting
    peer.lose()
    assert clock.getDelayedCalls() == []


@pytest.mark.parametrize("mode", MODES)
def test_client_close_leaves_no_delayed_calls_and_parts_the_rooms(factory, hub, clock, mode):
    """After a clean close from the client: its session is gone and no timer is left."""
    alice = connect(factory, "?nick=alice", mode)
    bob = connect(factory, "?nick=bob", mode)
    bob.messages()
    alice.hang_up()
    assert alice.close_code() == 1000
    assert [m["kind"] for m in bob.messages()] == ["part"]
    bob.hang_up()
    assert hub.sessions == {}
    assert clock.getDelayedCalls() == []


def test_hub_shutdown_closes_with_1012(factory, hub, clock):
    """On shutdown the client is told, then closed with 1012 (restart: reconnect), no timer left."""
    alice = connect(factory)
    alice.messages()
    hub.shutdown()
    [notice] = alice.messages()
    assert notice["kind"] == "notice" and notice["text"] == "server shutting down"
    assert alice.close_code() == 1012
    alice.send(struct.pack("!H", 1012), CLOSE)  # the client's reply
    assert alice.transport.disconnecting
    alice.lose()
    assert hub.sessions == {}
    assert clock.getDelayedCalls() == []


def test_close_handshake_timeout_drops_a_peer_that_never_replies(factory, clock):
    """A peer that does not answer our close frame is dropped after 5 s."""
    alice = connect(factory)
    alice.conn.close_gracefully("shutdown")
    assert alice.close_code() == 1012 and not alice.transport.disconnecting
    clock.advance(5)
    assert alice.transport.disconnecting
    alice.lose()
    assert clock.getDelayedCalls() == []


def test_nothing_is_delivered_after_close(factory):
    """Deliveries after close() are dropped, not written to a closing connection."""
    alice = connect(factory)
    alice.conn.stream.close()
    alice.poll()
    alice.conn.stream.deliver(Ok())
    assert alice.poll() == []


def test_random_frames_never_raise(factory, hub):
    """Random bytes after the handshake close or confuse one connection, never raise."""
    for seed in range(30):
        peer = connect(factory, f"?nick=r{seed}")
        data = random.Random(seed).randbytes(200)
        peer.conn.dataReceived(data)
        peer.lose()
    assert hub.sessions == {}


# --- Autobahn's own names stay Autobahn's ------------------------------------------------------


def test_send_message_with_sync_sends_the_frame(factory, clock, monkeypatch):
    """Autobahn's sendMessage(sync=True) works: no chathub method shadows its private `_send`."""
    monkeypatch.setattr(txaio, "call_later", clock.callLater)  # where Autobahn's queue re-arms
    alice = connect(factory)
    alice.messages()
    alice.conn.sendMessage(b'{"x":1}', sync=True)
    clock.advance(1)
    assert alice.messages() == [{"x": 1}]


def test_peer_is_autobahns_own_value(factory):
    """conn.peer is Autobahn's "tcp4:HOST:PORT"; the stream counts admission by host alone."""
    alice = connect(factory)
    assert alice.conn.peer == peer2str(alice.transport) == "tcp4:127.0.0.1:50000"
    assert alice.conn.stream.peer == "127.0.0.1"


# --- properties -------------------------------------------------------------------------------

OPS = ["say", "me", "join", "part", "nick", "who", "rooms", "history", "msg", "quit", "fly"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=8,
)
field_values = st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=6) | json_values
ops = st.fixed_dictionaries(
    {"op": st.sampled_from(OPS) | field_values, "ref": st.integers(0, 9) | st.text(max_size=4)},
    optional={name: field_values for name in ("room", "text", "nick", "to", "since", "limit")},
)


@settings(max_examples=150, deadline=None)
@given(st.lists(ops | json_values, min_size=1, max_size=5))
def test_any_json_gets_one_reply_per_ref_and_never_closes(messages):
    """Any JSON sent keeps the connection open; an op with a ref gets exactly one reply with it."""
    clock = MemoryReactorClock()
    hub = Hub(clock=clock.seconds)
    factory = WebSocketFactory(hub, clock)
    connect(factory, "?nick=other")
    peer = connect(factory, "?nick=prop")
    peer.messages()
    for message in messages:
        peer.send(json.dumps(message))
        replies = peer.messages()
        assert all(isinstance(reply.get("type"), str) for reply in replies)
        if isinstance(message, dict) and isinstance(message.get("ref"), int | str):
            assert [r.get("ref") for r in replies].count(message["ref"]) == 1
    assert peer.close_code() is None and not peer.transport.disconnecting


def test_kept_private_messages_over_the_websocket(factory):
    """Identified: the live pm carries its id, `conversations` and `pm_history` answer with
    the contract's fields and the op's ref; a guest asking gets `not-identified`."""
    alice = connect(factory, "?nick=alice")
    bob = connect(factory, "?nick=bob")
    alice.send({"op": "register", "password": "correct-horse", "ref": "r"})
    assert alice.messages()[-1]["type"] == "account"
    bob.messages()
    alice.send({"op": "msg", "to": "bob", "text": "lunch?", "ref": 1})
    [mine] = alice.messages()
    [theirs] = bob.messages()
    assert mine == {**theirs, "ref": 1}
    assert (theirs["type"], theirs["from"], theirs["to"], theirs["id"]) == ("pm", "alice", "bob", 1)
    alice.send({"op": "conversations", "ref": 2})
    assert alice.messages() == [
        {"type": "conversations", "ref": 2,
         "conversations": [{"with": "bob", "last_id": 1, "ts": theirs["ts"]}]},
    ]  # fmt: skip
    alice.send({"op": "pm_history", "with": "bob", "limit": 10, "ref": 3})
    assert alice.messages() == [
        {"type": "pm_history", "with": "bob", "ref": 3,
         "messages": [{"id": 1, "from": "alice", "to": "bob", "text": "lunch?",
                       "ts": theirs["ts"]}]},
    ]  # fmt: skip
    bob.send({"op": "pm_history", "with": "alice", "ref": 4})
    [refused] = bob.messages()
    assert (refused["type"], refused["code"], refused["ref"]) == ("error", "not-identified", 4)
