"""Hostile input on the real process: 10 MB of random bytes and of escape sequences.

Into telnet and into WebSocket, next to users who keep chatting. "Safe" below means what
`clean_text` promises: valid UTF-8 with no character of the categories Cc (controls, ESC among
them), Cf (bidi marks and overrides, zero-width and other invisible characters), Zl, Zp or Cs,
except the zero-width joiner and non-joiner; and every line from a user starts with that user's
own prefix, so nobody can forge another nick's line.
"""

import contextlib
import json
import random
import threading
import unicodedata
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from tests.e2e.conftest import HubProcess, TelnetClient, start_hub
from tests.e2e.test_traffic_e2e import Reader

# The sync client's plain `connect()` (without `with`) warns; these tests close what they open.
pytestmark = pytest.mark.filterwarnings("ignore:connect\\(\\) must be used:DeprecationWarning")

TEN_MB = 10 * 1024 * 1024
UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}
JOINERS = {"\u200c", "\u200d"}

# Pieces of escape-sequence soup: terminal controls of every family, bidi and invisible
# characters, and text that tries to look like someone else's line.
SOUP = [
    "\x1b[31m",
    "\x1b[2J",
    "\x1b[H",
    "\x1b[1A\x1b[2K",
    "\x1b[?1049h",
    "\x1b[6n",
    "\x1bc",
    "\x1b]0;pwned\x07",
    "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    "\x1b]52;c;cm0gLXJmIC8K\x07",
    "\x1bP+q544e\x1b\\",
    "\x1b_apc\x1b\\",
    "\x1b^pm\x1b\\",
    "\x1bX sos\x1b\\",
    "\x9b2J",
    "\x90dcs\x9c",
    "\x07",
    "\x08\x08\x08",
    "\r",
    "\x00",
    "\x7f",
    "\u202e",
    "\u2066",
    "\u200b",
    "\u200f",
    "\ufeff",
    "\u2028",
    "\U000e0041",
    "\x1b[",
    "\x1b]",
    "\x1b",
    "text ",
    "[lobby] <alice> I owe you 100 euros ",
    "* alice is now known as bob ",
]


def soup(rng: random.Random, size: int) -> Iterator[str]:
    """Lines of escape soup, about `size` bytes in all."""
    made = 0
    while made < size:
        line = "".join(rng.choice(SOUP) for _ in range(rng.randint(1, 40)))
        if rng.random() < 0.1:  # raw escape bytes with random parameters
            line += (
                f"\x1b[{rng.randint(0, 9999)};{rng.randint(0, 9999)}{chr(rng.randint(0x40, 0x7E))}"
            )
        made += len(line.encode("utf-8")) + 2
        yield line


def unsafe(text: str) -> set[str]:
    return {
        char
        for char in text
        if char not in JOINERS and unicodedata.category(char) in UNSAFE_CATEGORIES
    }


class Observer:
    """A telnet user who reads everything and records anything unsafe it is shown."""

    def __init__(self, hub: HubProcess, nick: str, attacker: str) -> None:
        self.client = greeted(hub, nick)
        self.attacker = attacker
        self.problems: list[str] = []
        self.lines = 0
        self.seen_end = threading.Event()
        self.reader = Reader(self.client.sock, self.line)

    def line(self, data: bytes) -> None:
        self.lines += 1
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.problems.append(f"not UTF-8: {data[:60]!r}")
            return
        if bad := unsafe(text):
            self.problems.append(f"unsafe {sorted(bad)!r} in {text[:60]!r}")
        if text.startswith(("[lobby] <alice>", "* alice is now known")):
            self.problems.append(f"forged: {text[:60]!r}")
        # END is the last line the attacker sends: a message of its own, or the last line of
        # the message its flood was joined into (lines sent together are one, a paste).
        if text == f"[lobby] <{self.attacker}> END" or (
            text.startswith(" ") and text.strip() == "END"
        ):
            self.seen_end.set()


def greeted(hub: HubProcess, nick: str) -> TelnetClient:
    client = TelnetClient(hub.telnet, timeout=10)
    client.expect("type /help")
    client.send(f"/nick {nick}")
    client.expect(f"is now known as {nick}")
    return client


def health(hub: HubProcess) -> dict[str, Any]:
    with urllib.request.urlopen(hub.base_url + "/healthz", timeout=5) as response:
        return json.loads(response.read())


def others_still_chat(hub: HubProcess) -> None:
    """Two newcomers exchange a message, so the hub is up and serving."""
    alice, bob = greeted(hub, "alice"), greeted(hub, "bob")
    alice.send("hello bob, still here?")
    bob.expect("[lobby] <alice> hello bob, still here?")
    alice.close()
    bob.close()
    assert hub.process.poll() is None
    assert health(hub)["status"] == "ok"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    running = start_hub(tmp_path, "--max-rate", "0", db=":memory:")
    yield running
    running.process.kill()
    running.process.wait()


def flood_telnet(hub: HubProcess, data: bytes) -> Observer:
    """`data` from an attacker into telnet, then END; returns the observer, having seen END."""
    observer = Observer(hub, "observer", "attacker")
    attacker = greeted(hub, "attacker")
    Reader(attacker.sock)  # it reads its own echo, so it is never cut off as slow
    attacker.sock.settimeout(None)
    for start in range(0, len(data), 1 << 20):
        attacker.sock.sendall(data[start : start + (1 << 20)])
    # End any telnet subnegotiation (IAC SE) and any unfinished line, then a marker line.
    attacker.sock.sendall(b"\xff\xf0\r\nEND\r\n")
    assert observer.seen_end.wait(120), "the attacker's END never arrived"
    observer.reader.stop()
    return observer


def test_10_mb_of_random_bytes_into_telnet(hub):
    """Random bytes (IAC, NUL, invalid UTF-8, everything) into telnet: the hub stays up, others
    chat, and the observer is shown only safe text."""
    # Without Ctrl-C (0x03, and telnet's IAC IP): at the start of a line it would end the
    # attacker's session, as it ends anyone's.
    data = random.Random(1).randbytes(TEN_MB).replace(b"\x03", b"")
    while b"\xff\xf4" in data:
        data = data.replace(b"\xff\xf4", b"")
    observer = flood_telnet(hub, data)
    print(f"\nrandom bytes into telnet: observer got {observer.lines} lines")
    assert observer.problems == []
    assert observer.lines > 10_000
    others_still_chat(hub)


def test_10_mb_of_escape_sequences_into_telnet(hub):
    """Escape sequences of every family, bidi and invisible characters, forged prefixes: none
    reaches the observer's terminal."""
    data = "".join(line + "\r\n" for line in soup(random.Random(2), TEN_MB)).encode("utf-8")
    observer = flood_telnet(hub, data)
    print(f"\nescape soup into telnet: observer got {observer.lines} lines")
    assert observer.problems == []
    others_still_chat(hub)


class WebObserver(threading.Thread):
    """A WebSocket user who reads every message and records unsafe text in any event."""

    def __init__(self, hub: HubProcess) -> None:
        super().__init__(daemon=True)
        self.ws = ws_connect(f"ws://127.0.0.1:{hub.web}/ws?nick=webwatcher", open_timeout=5)
        self.problems: list[str] = []
        self.events = 0
        self.seen_end = threading.Event()
        self.start()

    def run(self) -> None:
        try:
            while True:
                message = json.loads(self.ws.recv())
                if message.get("type") != "event":
                    continue
                self.events += 1
                for field in ("text", "nick"):
                    value = message.get(field) or ""
                    if field == "text":  # a message may have several lines: \n is its one control
                        value = value.replace("\n", " ")
                    if bad := unsafe(value):
                        self.problems.append(f"unsafe {sorted(bad)!r} in {field} {value[:60]!r}")
                if message.get("nick") == "wsattacker" and message.get("text") == "END":
                    self.seen_end.set()
        except ConnectionClosed:
            return


def drain(ws: ClientConnection) -> None:
    def run() -> None:
        try:
            while True:
                ws.recv()
        except ConnectionClosed:
            return

    threading.Thread(target=run, daemon=True).start()


def closed_with(ws: ClientConnection) -> int | None:
    try:
        while True:
            ws.recv(timeout=10)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


def test_10_mb_of_random_bytes_and_escapes_into_websocket(hub):
    """Over /ws: random bytes as message text (every code point, lone surrogates included),
    escape soup, broken JSON, a binary frame and raw garbage after the handshake. The hub stays
    up, others chat, and telnet and WebSocket observers are shown only safe text."""
    rng = random.Random(3)
    observer = Observer(hub, "observer", "wsattacker")
    web = WebObserver(hub)
    attacker = ws_connect(
        f"ws://127.0.0.1:{hub.web}/ws?nick=wsattacker", open_timeout=5, max_size=None
    )
    drain(attacker)
    sent = 0
    lines = soup(rng, TEN_MB)
    while sent < TEN_MB:
        kind = rng.randrange(4)
        if kind == 0:  # random bytes as text: every Latin-1 character, C0 and C1 included
            raw = rng.randbytes(3000)
            attacker.send(json.dumps({"op": "say", "room": "lobby", "text": raw.decode("latin-1")}))
        elif kind == 1:  # random code points: JSON escapes lone surrogates as \udxxx
            text = "".join(chr(rng.randrange(0x110000)) for _ in range(1000))
            raw = text.encode("utf-8", "surrogatepass")
            attacker.send(json.dumps({"op": "say", "room": "lobby", "text": text}))
        elif kind == 2:  # escape soup
            raw = next(lines).encode("utf-8")
            attacker.send(json.dumps({"op": "say", "room": "lobby", "text": raw.decode()}))
        else:  # not JSON at all: random bytes made into valid UTF-8 text
            raw = rng.randbytes(2000)
            attacker.send(raw.decode("latin-1"))
        sent += len(raw)
    attacker.send(json.dumps({"op": "say", "room": "lobby", "text": "END"}))
    assert web.seen_end.wait(120) and observer.seen_end.wait(120)

    binary = ws_connect(f"ws://127.0.0.1:{hub.web}/ws", open_timeout=5)
    binary.send(rng.randbytes(1000))
    assert closed_with(binary) == 1003

    garbage = ws_connect(f"ws://127.0.0.1:{hub.web}/ws", open_timeout=5)
    with contextlib.suppress(OSError):  # raw bytes where frames belong: the hub fails it
        garbage.socket.sendall(rng.randbytes(1 << 20))
    closed_with(garbage)

    print(f"\nrandom and escapes into /ws: web observer got {web.events} events")
    assert web.problems == []
    assert observer.problems == []
    attacker.close()
    web.ws.close()
    others_still_chat(hub)


def test_nicks_with_invisible_or_lookalike_characters_are_refused_everywhere(hub):
    """Zero-width, bidi-override and lookalike nicks are refused on telnet and on /ws, so
    nobody can appear as another user. (A telnet line loses its invisible characters before
    it is parsed, so `/nick bo<ZWSP>b` asks for `bob`, which is taken.)"""
    real = greeted(hub, "bob")
    client = greeted(hub, "mallory")
    for nick, refusal in [
        ("bo\u200bb", "! the nick bob is taken"),
        ("\u202ebob", "! the nick bob is taken"),
        ("b\u043eb", "is not a valid nick"),
        ("bob\u200d", "is not a valid nick"),
    ]:
        client.send(f"/nick {nick}")
        assert refusal in client.expect("! ")[-1]
    ws = ws_connect(f"ws://127.0.0.1:{hub.web}/ws?nick=b%E2%80%AEob", open_timeout=5)
    first = [json.loads(ws.recv(timeout=5)) for _ in range(2)]
    assert first[0]["type"] == "welcome" and first[0]["nick"].startswith("guest-")
    assert first[1]["type"] == "error" and first[1]["code"] == "bad-nick"
    ws.close()
    real.close()
    client.close()


def test_a_very_long_unbroken_word_arrives_whole_and_one_longer_is_refused(hub):
    """A 4000-character word from /ws reaches a terminal intact; 4001 is refused; chat goes on."""
    observer = greeted(hub, "observer")
    ws = ws_connect(f"ws://127.0.0.1:{hub.web}/ws?nick=wordy", open_timeout=5)
    word = "".join(random.Random(4).choice("abcdefghij") for _ in range(4000))
    ws.send(json.dumps({"op": "say", "room": "lobby", "text": word}))
    assert observer.expect("<wordy> ")[-1] == f"[lobby] <wordy> {word}"
    ws.send(json.dumps({"op": "say", "room": "lobby", "text": word + "k", "ref": 1}))
    while (reply := json.loads(ws.recv(timeout=5))).get("ref") != 1:
        pass
    assert reply["type"] == "error" and reply["code"] == "too-long"
    ws.send(json.dumps({"op": "say", "room": "lobby", "text": "still here"}))
    observer.expect("[lobby] <wordy> still here")
    ws.close()
