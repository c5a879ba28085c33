"""Property tests (hypothesis) for every parser and for the hub as a whole.

What holds for any input: no parser raises; a byte stream parses the same however it is split
into reads; cleaned text holds no control character or escape sequence; and no sequence of
commands from several clients leaves the hub inconsistent (see `HubMachine`).
"""

import dataclasses
import json
import re
import unicodedata
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from chathub import commands as cmd
from chathub.config import HubSettings, WebSocketSettings
from chathub.events import Error, Event
from chathub.hub import Hub
from chathub.line import (
    INTERRUPT,
    TOO_LONG,
    LineConnection,
    LineFactory,
    LineSplitter,
    LineTooLong,
)
from chathub.origins import origin_allowed, parse_origin
from chathub.parsing import json_ref, parse_json, parse_line
from chathub.session import Session
from chathub.store import MemoryStore
from chathub.telnet import BINARY, DO, DONT, IAC, NAWS, WILL, WONT, TelnetFilter
from chathub.text import (
    ROOM_MAX,
    clean_message,
    clean_text,
    command_start,
    is_valid_nick,
    nick_skeleton,
    normalize_room,
)
from chathub.tls import split_endpoint, tls_files
from chathub.websocket import WebSocketFactory
from tests.recording import RecordingClient
from tests.test_line import connected
from tests.test_websocket import PONG, read_frames

# Shared machines are slow and busy: no per-example deadline, which would only make flakes.
settings.register_profile("chathub", deadline=None)
settings.load_profile("chathub")

# Bytes that matter to the parsers, mixed into random bytes so that they are common.
_SPECIAL = [b"\xff", b"\xff\xff", b"\xff\xfa", b"\xff\xf0", b"\xff\xfb\x01", b"\xff\xfd\x03"]
_SPECIAL += [b"\xff\xfb\x1f", b"\xff\xfc\x1f", b"\xff\xfd\x00", b"\xff\xfe\x00", b"\xff\xfa\x1f"]
_SPECIAL += [b"\n", b"\r\n", b"\r", b"\x1b[31m", b"\x00", b"\xc3", b"\xa9", b"/", b"/nick "]
stream_bytes = st.lists(st.one_of(st.binary(max_size=12), st.sampled_from(_SPECIAL))).map(b"".join)


# Names and texts for commands: valid, invalid and colliding ones.
nicks = st.sampled_from(["alice", "Alice", "bob", "_c", "guest-1", "guest-2", "bad nick", ""])
rooms = st.sampled_from(["lobby", "dev", "#Dev", "DEV", "ops", "bad room", "", "x" * 33])
texts = st.one_of(st.sampled_from(["hi", "", "  ", "\x1b[31mred", "/x"]), st.text(max_size=8))
optional_rooms = st.none() | rooms


@st.composite
def splits(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """`data` cut into consecutive pieces (some of them empty) at random places."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=len(data) + 2)))
    pieces, start = [], 0
    for cut in cuts:
        pieces.append(data[start:cut])
        start = cut
    pieces.append(data[start:])
    return pieces


@st.composite
def stream_and_pieces(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    data = draw(stream_bytes)
    return data, draw(splits(data))


# --- telnet.TelnetFilter ------------------------------------------------------------------------


def _filter_all(pieces: list[bytes]) -> tuple[bytes, bytes]:
    telnet = TelnetFilter()
    data, replies = b"", b""
    for piece in pieces:
        out, answer = telnet.feed(piece)
        data += out
        replies += answer
    return data, replies


@given(stream_and_pieces())
def test_telnet_filter_output_is_the_same_however_the_stream_is_split(
    case: tuple[bytes, list[bytes]],
) -> None:
    """Data and replies do not depend on how the bytes were cut into reads."""
    data, pieces = case
    assert _filter_all(pieces) == _filter_all([data])


@given(st.booleans(), stream_bytes)
def test_telnet_filter_agrees_only_to_binary_and_naws_and_never_loops(
    started: bool, data: bytes
) -> None:
    """Every reply is IAC DONT x or IAC WONT x, or agrees to what the hub wants (DO NAWS,
    DO BINARY, WILL BINARY); and there is never more than one reply per command received."""
    telnet = TelnetFilter()
    if started:
        telnet.start()
    _, replies = telnet.feed(data)
    assert len(replies) % 3 == 0
    for start in range(0, len(replies), 3):
        verb, option = replies[start + 1], replies[start + 2]
        assert replies[start] == IAC
        assert verb in (DONT, WONT) or (verb, option) in ((DO, NAWS), (DO, BINARY), (WILL, BINARY))
    assert len(replies) // 3 <= data.count(b"\xff")


@given(st.binary().filter(lambda data: b"\xff" not in data))
def test_telnet_filter_passes_data_without_iac_untouched(data: bytes) -> None:
    """Bytes without IAC are application data, unchanged, and need no reply."""
    assert TelnetFilter().feed(data) == (data, b"")


# --- line.LineSplitter --------------------------------------------------------------------------


def _split_all(max_length: int, pieces: list[bytes]) -> list[bytes | LineTooLong]:
    splitter = LineSplitter(max_length)
    lines: list[bytes | LineTooLong] = []
    for piece in pieces:
        lines += splitter.feed(piece)
    return lines


@given(st.integers(1, 12), stream_and_pieces())
def test_line_splitter_output_is_the_same_however_the_stream_is_split(
    max_length: int, case: tuple[bytes, list[bytes]]
) -> None:
    """The lines (and too-long markers) do not depend on how the bytes were cut into reads."""
    data, pieces = case
    assert _split_all(max_length, pieces) == _split_all(max_length, [data])


@given(st.integers(1, 12), stream_bytes)
def test_line_splitter_lines_are_short_and_unbroken(max_length: int, data: bytes) -> None:
    """No line it yields is longer than the limit or holds a line ending."""
    for line in LineSplitter(max_length).feed(data):
        if line is not TOO_LONG and line is not INTERRUPT:
            assert isinstance(line, bytes)
            assert len(line) <= max_length
            assert b"\n" not in line


@given(st.lists(st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"").rstrip(b"\r"))))
def test_line_splitter_returns_each_short_line_as_sent(lines: list[bytes]) -> None:
    """Lines within the limit come back exactly, one per line ending, up to one that starts
    with Ctrl-C, which ends the input there."""
    data = b"".join(line + b"\r\n" for line in lines)
    interrupted = [n for n, line in enumerate(lines) if line.startswith(b"\x03")]
    if interrupted:
        assert LineSplitter(20).feed(data) == [*lines[: interrupted[0]], INTERRUPT]
    else:
        assert LineSplitter(20).feed(data) == lines


# --- the whole telnet input path: filter, split, decode, parse -------------------------------


def _commands(pieces: list[bytes], max_length: int) -> list[object]:
    telnet, splitter = TelnetFilter(), LineSplitter(max_length)
    parsed: list[object] = []
    for piece in pieces:
        data, _ = telnet.feed(piece)
        for line in splitter.feed(data):
            if isinstance(line, LineTooLong) or line is INTERRUPT:
                parsed.append(line)
            else:
                parsed.append(parse_line(line.decode("utf-8", "replace")))
    return parsed


@given(st.integers(1, 40), stream_and_pieces())
def test_telnet_input_parses_to_the_same_commands_however_it_is_split(
    max_length: int, case: tuple[bytes, list[bytes]]
) -> None:
    """Bytes to commands is independent of the reads, IAC and UTF-8 split across them included."""
    data, pieces = case
    assert _commands(pieces, max_length) == _commands([data], max_length)


class _Terminal:
    """A LineConnection on a StringTransport, connected to its own hub."""

    def __init__(self) -> None:
        hub = Hub(MemoryStore(), clock=lambda: 1700000000.0, settings=HubSettings(motd="hi"))
        self.connection = LineFactory(hub, 64).buildProtocol(None)
        self.transport = StringTransport()
        connected(self.connection, self.transport)

    def output(self) -> tuple[bytes, list[bytes]]:
        """The text written, and the telnet replies (IAC x y) apart from it: a read's replies
        go out before its lines, so where they fall in the text depends on the reads, and
        0xFF never occurs in the UTF-8 text."""
        written = self.transport.value()
        return re.sub(rb"\xff..", b"", written, flags=re.S), re.findall(rb"\xff..", written, re.S)


@given(stream_and_pieces())
def test_telnet_connection_answers_the_same_however_input_is_split(
    case: tuple[bytes, list[bytes]],
) -> None:
    """A LineConnection writes the same lines and replies for the same input, whole or in
    pieces."""
    data, pieces = case
    assume(data.count(b"\n") <= 10)  # stay under the rate limit's burst
    whole, split = _Terminal(), _Terminal()
    whole.connection.dataReceived(data)
    for piece in pieces:
        split.connection.dataReceived(piece)
    assert split.output() == whole.output()


# --- parsing.parse_line and parse_json ---------------------------------------------------------


@given(st.text())
def test_parse_line_never_raises_and_returns_a_command_an_error_or_nothing(line: str) -> None:
    """Any text parses to a command, an Error, or None for a line that shows nothing."""
    result = parse_line(line)
    assert result is None or isinstance(result, Error | cmd.Command)
    if not clean_text(line).strip():
        assert result is None


# What a terminal shows nothing for where a line starts, by this test's own reckoning.
_BLANK_LETTERS = "\u115f\u1160\u3164\uffa0\u2800"


def _shows_nothing(char: str) -> bool:
    category = unicodedata.category(char)
    return (
        char.isspace()
        or category[0] in "CZ"
        or category in ("Mn", "Me")
        or (char in _BLANK_LETTERS)
    )


@given(st.text().filter(lambda line: line[:1] != "/" and line[:1] and not _shows_nothing(line[0])))
def test_parse_line_plain_text_is_said_as_typed(line: str) -> None:
    """A line that starts with a visible character other than `/` is a message, as typed."""
    assert parse_line(line) == cmd.Say(line)


# Lines made of what hides a command: invisible characters, escape sequences, slashes, text.
_HIDING = ["/", "//", "/msg alice pw", "a", " ", "\x1b", "[", "A", "O", "]", "\x07", "\x9b", ";"]
_HIDING += ["\u200b", "\ufeff", "\u200e", "\u202e", "\x00", "\u3000", "\u0301", "\u3164", "0"]
hiding_lines = st.lists(st.sampled_from(_HIDING) | st.text(max_size=3), max_size=12).map("".join)


def _first_visible(text: str) -> str:
    """`text` from its first visible character on."""
    start = 0
    while start < len(text) and _shows_nothing(text[start]):
        start += 1
    return text[start:]


@settings(max_examples=500)
@given(hiding_lines)
def test_a_line_whose_first_visible_character_is_a_slash_never_reaches_a_room(line: str) -> None:
    """Seen as a terminal shows it (escape sequences gone) or as its characters are (controls
    skipped, escape sequences read as text), a line whose first visible character is `/` is a
    command: it is said in a room only as the literal text after `//`."""
    result = parse_line(line)
    said = result.text if isinstance(result, cmd.Say) else None
    views = (_first_visible(clean_text(line)), _first_visible(line))
    start = command_start(line)  # a slash inside an escape sequence counts as typed
    escaped = any(view.startswith("//") for view in views) or (
        start is not None and clean_text(line[start:]).startswith("//")
    )
    if any(view.startswith("/") for view in views):
        assert said is None or escaped, (line, result)
    if said is not None and _first_visible(clean_text(said)).startswith("/"):
        assert escaped, (line, result)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
_OPS = ["say", "me", "join", "part", "nick", "who", "rooms", "history", "msg", "bogus"]
_FIELDS = ["text", "room", "nick", "to", "since", "limit", "reason", "ref"]
json_messages = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"op": st.sampled_from(_OPS) | json_values},
        optional={name: json_values for name in _FIELDS},
    ),
)


@given(json_messages)
def test_parse_json_never_raises_and_returns_a_command_or_an_error(message: Any) -> None:
    """Any decoded JSON value parses to a command or an Error."""
    assert isinstance(parse_json(message), Error | cmd.Command)


@given(json_messages)
def test_parse_json_keeps_a_valid_ref_on_the_command(message: Any) -> None:
    """A command parsed from a message carries the message's ref, so its reply can echo it."""
    result = parse_json(message)
    if not isinstance(result, Error):
        assert result.ref == json_ref(message)


@given(json_messages)
def test_parse_json_is_the_same_after_a_round_trip_through_json_text(message: Any) -> None:
    """Parsing the object a client's JSON text decodes to gives the same result every time."""
    try:
        text = json.dumps(message, allow_nan=False)
    except ValueError:
        assume(False)
    assert parse_json(json.loads(text)) == parse_json(message)


# --- text.clean_text and normalize_room --------------------------------------------------------

_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
hostile_text = st.lists(
    st.one_of(
        st.text(max_size=6),
        st.sampled_from(
            [
                "\x1b[31m",
                "\x1b]0;title\x07",
                "\x1b]8;;http://x\x1b\\",
                "\x1bP1$r\x1b\\",
                "\x9b2J",
                "\x1b",
                "\x1b[",
                "\x07",
                "\x00",
                "\r",
                "\n",
                "\t",
                "\x7f",
                "\u202e",
                "\u2066",
                "\u200b",
            ]
        ),
    )
).map("".join)


@given(hostile_text)
def test_clean_text_leaves_no_control_characters(text: str) -> None:
    """No C0/C1 control (ESC included), DEL or bidi override/isolate survives cleaning."""
    cleaned = clean_text(text)
    for character in cleaned:
        assert unicodedata.category(character) != "Cc", repr(cleaned)
        assert character not in _BIDI_CONTROLS, repr(cleaned)


@given(hostile_text)
def test_clean_text_is_idempotent(text: str) -> None:
    """Cleaning clean text changes nothing: removing one sequence never forms another."""
    cleaned = clean_text(text)
    assert clean_text(cleaned) == cleaned


@given(st.text().filter(str.isprintable))
def test_clean_text_keeps_printable_text(text: str) -> None:
    """Printable text comes through unchanged."""
    assert clean_text(text) == text


@given(st.text(max_size=40))
def test_normalize_room_gives_a_valid_name_or_none(name: str) -> None:
    """A normalized room is 1-32 of a-z 0-9 _ -, and normalizing it again keeps it."""
    room = normalize_room(name)
    if room is not None:
        assert 1 <= len(room) <= ROOM_MAX
        assert all(character in "abcdefghijklmnopqrstuvwxyz0123456789_-" for character in room)
        assert normalize_room(room) == room
        assert normalize_room("#" + room) == room


@given(st.text(max_size=30))
def test_valid_nicks_are_ascii_with_no_invisible_characters(nick: str) -> None:
    """A nick the hub accepts is plain ASCII: no zero-width or bidi character can spoof one."""
    if is_valid_nick(nick):
        assert nick.isascii() and nick.isprintable() and " " not in nick


# --- websocket.WebSocketConnection: frames in, frames out ------------------------------------

_WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
_WS_MASK = b"\x0a\x0b\x0c\x0d"


def _ws_handshake(query: str) -> bytes:
    return (
        f"GET /ws{query} HTTP/1.1\r\nHost: chat.example\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {_WS_KEY}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def _ws_frame(payload: bytes, opcode: int, fin: bool = True) -> bytes:
    """A masked client frame (RFC 6455: clients mask)."""
    size = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if size < 126:
        head += bytes([0x80 | size])
    else:
        head += bytes([0x80 | 126]) + size.to_bytes(2, "big")
    masked = bytes(byte ^ _WS_MASK[i % 4] for i, byte in enumerate(payload))
    return head + _WS_MASK + masked


_json_ops = st.fixed_dictionaries(
    {"op": st.sampled_from(_OPS), "ref": st.integers(0, 5)},
    optional={"room": rooms, "text": texts, "nick": nicks, "to": nicks},
).map(lambda message: json.dumps(message).encode())
_ws_payloads = st.one_of(_json_ops, st.binary(max_size=40), st.text(max_size=20).map(str.encode))


@st.composite
def ws_streams(draw: st.DrawFn) -> bytes:
    """A client's side of a connection: the handshake, then text frames (some fragmented, some
    pings), sometimes followed by a binary frame or raw garbage."""
    data = _ws_handshake(draw(st.sampled_from(["", "?nick=prop", "?rooms=dev,%23ops&since=dev:1"])))
    for payload in draw(st.lists(_ws_payloads, max_size=6)):
        match draw(st.sampled_from(["whole", "fragments", "ping"])):
            case "whole":
                data += _ws_frame(payload, 0x1)
            case "fragments":
                cut = draw(st.integers(0, len(payload)))
                data += _ws_frame(payload[:cut], 0x1, fin=False) + _ws_frame(payload[cut:], 0x0)
            case _:
                data += _ws_frame(payload[:125], 0x9)
    return data + draw(st.sampled_from([b"", _ws_frame(b"\x01", 0x2)]) | st.binary(max_size=30))


@st.composite
def ws_stream_and_pieces(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    data = draw(ws_streams())
    return data, draw(splits(data))


class _TcpLikeTransport(StringTransport):
    """A StringTransport that, like TCP, lets Autobahn unregister a producer it never had."""

    def unregisterProducer(self) -> None:
        self.producer = None


def _ws_session(pieces: list[bytes]) -> tuple[bytes, Hub]:
    """Feed `pieces` to a fresh WebSocketConnection; what it wrote, and its hub."""
    clock = MemoryReactorClock()
    hub = Hub(MemoryStore(), clock=clock.seconds)
    factory = WebSocketFactory(hub, clock, WebSocketSettings(ws_max_message=4096))
    transport = _TcpLikeTransport()
    connection = factory.buildProtocol(transport.getPeer())
    connection.makeConnection(transport)
    for piece in pieces:
        connection.dataReceived(piece)
    connection.connectionLost(Failure(ConnectionDone()))
    return transport.value(), hub


@given(ws_stream_and_pieces())
def test_websocket_connection_answers_the_same_however_input_is_split(
    case: tuple[bytes, list[bytes]],
) -> None:
    """A WebSocketConnection writes the same frames for the same input, whole or in pieces
    (a pong may come earlier or later among the data frames, as RFC 6455 5.5 allows)."""
    data, pieces = case
    assert _frames_in_order(_ws_session(pieces)[0]) == _frames_in_order(_ws_session([data])[0])


def _frames_in_order(output: bytes) -> tuple[bytes, list[tuple[int, bool, bytes]], list[bytes]]:
    """The handshake answer, the frames other than pongs in order, and the pongs' payloads."""
    head, _, rest = output.partition(b"\r\n\r\n")
    frames, unread = read_frames(rest)
    pongs = sorted(payload for opcode, _, payload in frames if opcode == PONG)
    others = [frame for frame in frames if frame[0] != PONG]
    return head + unread, others, pongs


@given(ws_streams())
def test_websocket_input_never_raises_and_leaves_no_session(data: bytes) -> None:
    """Any frames (and garbage after them) are handled without raising; when the connection
    ends the hub has forgotten it."""
    output, hub = _ws_session([data])
    assert output.startswith(b"HTTP/1.1 101 ")
    assert hub.sessions == {}
    assert hub.members == {}


# --- the hub: random command sequences from several clients ------------------------------------


hub_commands = st.one_of(
    st.builds(cmd.Say, texts, optional_rooms),
    st.builds(cmd.Me, texts, optional_rooms),
    st.builds(cmd.Join, rooms),
    st.builds(cmd.Part, optional_rooms, texts),
    st.builds(cmd.Nick, nicks),
    st.builds(cmd.Who, optional_rooms),
    st.builds(cmd.Rooms),
    st.builds(
        cmd.History,
        optional_rooms,
        st.none() | st.integers(-2, 30),
        st.none() | st.integers(-2, 30),
    ),
    st.builds(cmd.Msg, nicks, texts),
    st.builds(cmd.Help),
    st.builds(cmd.Quit, texts),
)


class HubMachine(RuleBasedStateMachine):
    """Several recording clients connect, send any commands, and leave, in any order.

    After every step: the nick table and the room member lists agree with each other, every
    command with a ref got exactly one reply with it, and the message ids each client saw live
    are strictly increasing within each room.
    """

    clients = Bundle("clients")

    def __init__(self) -> None:
        super().__init__()
        self.now = 1700000000.0
        self.hub = Hub(MemoryStore(), clock=lambda: self.now)
        self.live: dict[int, tuple[Session, RecordingClient]] = {}
        self.recorders: list[RecordingClient] = []
        self.next_ref = 0
        self.refs_sent: dict[int, RecordingClient] = {}

    @rule(
        target=clients,
        nick=st.none() | nicks,
        joined=st.lists(rooms, max_size=3),
        since=st.none() | st.dictionaries(rooms, st.integers(-1, 30), max_size=2),
    )
    def connect(self, nick: str | None, joined: list[str], since: dict[str, int] | None) -> Any:
        client = RecordingClient()
        session = self.hub.connect(client, nick, joined or ("lobby",), since)
        self.live[id(session)] = (session, client)
        self.recorders.append(client)
        return session

    @rule(session=clients, command=hub_commands, with_ref=st.booleans())
    def send(self, session: Session, command: cmd.Command, with_ref: bool) -> None:
        if id(session) not in self.live:
            return  # it has left; adapters stop calling the hub for it
        client = self.live[id(session)][1]
        if with_ref:
            self.next_ref += 1
            command = dataclasses.replace(command, ref=self.next_ref)
            self.refs_sent[self.next_ref] = client
        self.hub.handle(session, command)
        if isinstance(command, cmd.Quit):
            assert client.closed
            del self.live[id(session)]

    @rule(session=clients, line=st.text(max_size=20))
    def type_line(self, session: Session, line: str) -> None:
        """A telnet line goes through parse_line first, as LineConnection does."""
        if id(session) not in self.live:
            return
        command = parse_line(line)
        if command is not None and not isinstance(command, Error):
            self.hub.handle(session, command)
            if isinstance(command, cmd.Quit):
                del self.live[id(session)]

    @precondition(lambda self: bool(self.live))
    @rule(session=consumes(clients))
    def leave(self, session: Session) -> None:
        self.hub.disconnect(session)
        self.hub.disconnect(session)  # twice is harmless
        self.live.pop(id(session), None)

    @rule(seconds=st.floats(0, 120))
    def tick(self, seconds: float) -> None:
        self.now += seconds

    @invariant()
    def nick_table_matches_sessions(self) -> None:
        live_sessions = {id(session) for session, _ in self.live.values()}
        assert {id(session) for session in self.hub.sessions.values()} == live_sessions
        for key, session in self.hub.sessions.items():
            assert key == nick_skeleton(session.nick)
            assert is_valid_nick(session.nick)

    @invariant()
    def members_match_rooms(self) -> None:
        for room, members in self.hub.members.items():
            assert members, f"empty member list kept for {room}"
            assert normalize_room(room) == room
            for session in members:
                assert self.hub.sessions.get(nick_skeleton(session.nick)) is session
                assert room in session.rooms
        for session in self.hub.sessions.values():
            assert len(set(session.rooms)) == len(session.rooms)
            for room in session.rooms:
                assert session in self.hub.members[room]

    @invariant()
    def every_ref_got_exactly_one_reply(self) -> None:
        for ref, client in self.refs_sent.items():
            replies = [item for item, got in client.received if got == ref]
            assert len(replies) == 1, (ref, replies)

    @invariant()
    def live_ids_increase_within_each_room(self) -> None:
        for client in self.recorders:
            last: dict[str, int] = {}
            for item, _ in client.received:
                if isinstance(item, Event) and item.id is not None:
                    assert item.room is not None
                    assert item.id > last.get(item.room, 0), (item, last)
                    last[item.room] = item.id


HubMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_no_command_sequence_breaks_the_hub = HubMachine.TestCase


# --- what reaches a terminal ------------------------------------------------------------------


def _terminal_text(output: bytes) -> list[str]:
    """The lines a telnet client was sent, without their `\\r\\n` endings."""
    assert output == b"" or output.endswith(b"\r\n")
    return output.decode("utf-8").split("\r\n")[:-1]


_LINE_TOKENS = [b"/", b"/nick ", b"/join ", b"/part ", b"/msg ", b"/me ", b"/who ", b"/since "]
_LINE_TOKENS += [
    b"/quit ",
    b"/history ",
    b"#",
    b" ",
    b"lobby",
    b"bob",
    b"\x1b[31m",
    b"\x1b]0;t\x07",
]
_LINE_TOKENS += [b"\x1b", b"\x07", b"\x00", b"\x7f", b"\t", b"\r", b"\xe2\x80\xae", b"\xc2\x9b"]
terminal_input = st.lists(
    st.lists(st.sampled_from(_LINE_TOKENS) | st.binary(max_size=4), max_size=6).map(b"".join),
    max_size=8,
).map(lambda lines: b"".join(line + b"\r\n" for line in lines))


@given(terminal_input | stream_bytes)
def test_no_input_puts_a_control_character_on_any_terminal(data: bytes) -> None:
    """Whatever one telnet user sends, no control character or escape reaches a terminal:
    not the sender's, not a room mate's."""
    hub = Hub(MemoryStore(), clock=lambda: 1700000000.0, settings=HubSettings(motd="hi"))
    watcher, watcher_out = LineConnection(hub, 64), StringTransport()
    connected(watcher, watcher_out)
    watcher.dataReceived(b"/nick bob\r\n")
    sender, sender_out = LineConnection(hub, 64), StringTransport()
    connected(sender, sender_out)
    sender.dataReceived(data.replace(b"\xff", b""))  # telnet replies are bytes, not text
    for line in _terminal_text(sender_out.value()) + _terminal_text(watcher_out.value()):
        for character in line:
            assert unicodedata.category(character) != "Cc", repr(line)
            assert character not in _BIDI_CONTROLS, repr(line)


# --- small parsers: origins and endpoint strings ------------------------------------------------

origins = st.one_of(
    st.text(max_size=30),
    st.builds(
        "{}://{}{}".format,
        st.sampled_from(["http", "https", "HTTP", "ws", "file", ""]),
        st.sampled_from(["chat.example", "CHAT.example", "[::1]", "127.0.0.1", "", "a b"]),
        st.sampled_from(["", ":8080", ":443", ":0", ":99999", ":x", ":"]),
    ),
)


@given(origins)
def test_parse_origin_never_raises_and_fills_in_the_port(origin: str) -> None:
    """Any Origin header parses to (scheme, host, port) in lower case, or None."""
    parsed = parse_origin(origin)
    if parsed is not None:
        scheme, host, port = parsed
        assert scheme == scheme.lower() and host == host.lower()
        assert port is None or 0 <= port <= 65535


@given(origins, st.sampled_from(["chat.example:8080", "chat.example", "", "x:y"]), st.booleans())
def test_origin_allowed_never_raises_and_allows_a_missing_origin(
    origin: str, host: str, secure: bool
) -> None:
    """Any Origin and Host give an answer; no Origin at all (a script) is always allowed."""
    assert isinstance(origin_allowed(origin, host, secure, ()), bool)
    assert origin_allowed("", host, secure, ())


@given(st.text(max_size=60))
def test_tls_files_never_raises(description: str) -> None:
    """Any endpoint string is either not ssl: (None) or names a key and a certificate file."""
    files = tls_files(description)
    if files is not None:
        assert all(isinstance(path, str) for path in files)


@given(st.lists(st.text(alphabet="ab\\:=", max_size=6), min_size=1, max_size=5))
def test_split_endpoint_inverts_twisted_quoting(fields: list[str]) -> None:
    """Fields quoted with `\\` (backslash and colon escaped) and joined by `:` split back."""
    quoted = [field.replace("\\", "\\\\").replace(":", "\\:") for field in fields]
    assert split_endpoint(":".join(quoted)) == fields


@given(hostile_text)
def test_clean_message_leaves_no_control_but_line_feeds_and_is_idempotent(text: str) -> None:
    """A message of several lines keeps only its line feeds: no other control, no bidi
    override; cleaning it again changes nothing; no line starts or ends it blank."""
    cleaned = clean_message(text)
    for character in cleaned.replace("\n", ""):
        assert unicodedata.category(character) != "Cc", repr(cleaned)
        assert character not in _BIDI_CONTROLS, repr(cleaned)
    assert clean_message(cleaned) == cleaned
    assert not cleaned.startswith("\n") and not cleaned.endswith("\n")
