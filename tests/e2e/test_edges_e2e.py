"""Hostile edges of what users send, on the real process (issue 11): over telnet and over /ws.

Each test is an attack that worked before and a check that it no longer does: lookalike nicks,
commands hidden behind invisible characters, forged lines on a terminal, endless WebSocket
messages, and private messages that skipped the limits.
"""

import contextlib
import json
import re
import select
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from tests.e2e.conftest import HubProcess, TelnetClient, start_hub

# The sync client's plain `connect()` (without `with`) warns; these tests close what they open.
pytestmark = pytest.mark.filterwarnings("ignore:connect\\(\\) must be used:DeprecationWarning")


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    running = start_hub(tmp_path, db=":memory:")
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def greeted(hub: HubProcess, nick: str) -> TelnetClient:
    client = TelnetClient(hub.telnet, timeout=10)
    client.expect("type /help")
    client.send(f"/nick {nick}")
    client.expect(f"is now known as {nick}")
    return client


def health(hub: HubProcess) -> dict[str, Any]:
    with urllib.request.urlopen(hub.base_url + "/healthz", timeout=5) as response:
        return json.loads(response.read())


def ws_messages(ws: Any, until: str, timeout: float = 5) -> list[dict[str, Any]]:
    """Messages from `ws` up to the first of type `until`, that one last."""
    seen = []
    while True:
        seen.append(json.loads(ws.recv(timeout=timeout)))
        if seen[-1]["type"] == until:
            return seen


# --- lookalike nicks ----------------------------------------------------------------------------


def test_a_nick_that_looks_like_a_connected_one_is_refused_on_telnet_and_websocket(hub):
    """While `alice` is here, `aIice` (capital i) and `a1ice` are refused on telnet and /ws."""
    alice = greeted(hub, "alice")
    mallory = greeted(hub, "mallory")
    for lookalike in ("aIice", "a1ice"):
        mallory.send(f"/nick {lookalike}")
        assert mallory.expect("! ")[-1] == f"! the nick {lookalike} is taken: it looks like alice"
    ws = ws_connect(f"ws://127.0.0.1:{hub.web}/ws?nick=aIice", open_timeout=5)
    welcome, error = (json.loads(ws.recv(timeout=5)) for _ in range(2))
    assert welcome["nick"].startswith("guest-")
    assert error["code"] == "nick-taken"
    ws.send(json.dumps({"op": "nick", "nick": "A1ICE", "ref": 1}))
    reply = next(m for m in ws_messages(ws, "error") if m.get("ref") == 1)
    assert reply["code"] == "nick-taken"
    ws.close()
    alice.close()
    mallory.close()


# --- the message of the day ---------------------------------------------------------------------


def test_a_motd_with_an_escape_sequence_reaches_telnet_cleaned(tmp_path):
    """`--motd` with a clear-screen and a window title: a telnet user gets the text alone."""
    hub = start_hub(tmp_path, "--motd", "\x1b[2J\x1b]0;pwned\x07Welcome\x1b[5m!", db=":memory:")
    try:
        client = TelnetClient(hub.telnet)
        assert client.expect("type /help")[0] == "* Welcome!"
        ws = ws_connect(f"ws://127.0.0.1:{hub.web}/ws", open_timeout=5)
        assert json.loads(ws.recv(timeout=5))["motd"] == "Welcome!"
        ws.close()
        client.close()
    finally:
        hub.process.kill()
        hub.process.wait()


# --- commands hidden behind invisible characters ------------------------------------------------

HIDDEN_PREFIXES = [b"\x1b[A", b"\x1bOA", b"\x1b", b"\x00", "\u200b".encode(), "\ufeff".encode()]
HIDDEN_PREFIXES += ["\u200e".encode(), b"  "]


def test_a_private_message_after_an_arrow_key_or_an_invisible_character_stays_private(hub):
    """Up (ESC [ A) then `/msg alice ...` in nc, or a NUL, zero-width space, BOM or U+200E
    first: alice gets a private message each time; the room sees none of it, none is stored."""
    alice, bob, carol = greeted(hub, "alice"), greeted(hub, "bob"), greeted(hub, "carol")
    for n, prefix in enumerate(HIDDEN_PREFIXES):
        bob.send(prefix + f"/msg alice my password is hunter{n}".encode() + b"\r\n")
        assert alice.expect("[pm]")[-1] == f"[pm] <bob> my password is hunter{n}"
    bob.send("marker")
    seen = carol.expect("[lobby] <bob> marker")
    assert not [line for line in seen if "hunter" in line]
    with urllib.request.urlopen(hub.base_url + "/api/rooms/lobby/messages", timeout=5) as reply:
        stored = json.loads(reply.read())["events"]
    assert [event["text"] for event in stored] == ["marker"]
    for client in (alice, bob, carol):
        client.close()


def test_a_websocket_say_hiding_a_command_is_refused_and_a_visible_slash_is_said(hub):
    """/ws `say` is explicit: `/etc/hosts changed` is said; with a zero-width space before the
    slash it is refused (`hidden-command`), and the telnet room mate never sees it."""
    carol = greeted(hub, "carol")
    ws = ws_connect(f"ws://127.0.0.1:{hub.web}/ws?nick=bob", open_timeout=5)
    ws.send(json.dumps({"op": "say", "text": "\u200b/msg alice my password", "ref": 1}))
    assert ws_messages(ws, "error")[-1]["code"] == "hidden-command"
    ws.send(json.dumps({"op": "say", "text": "/etc/hosts changed"}))
    seen = carol.expect("[lobby] <bob> ")
    assert seen[-1] == "[lobby] <bob> /etc/hosts changed"
    assert not [line for line in seen if "password" in line]
    ws.close()
    carol.close()


# --- private messages ---------------------------------------------------------------------------


def wait_for(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class SmallWindowClient(TelnetClient):
    """A telnet client with a small receive buffer, so that it falls behind soon once it
    stops reading."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.timeout = 10.0
        self._buffer = b""
        self._preamble = True


class Drain(threading.Thread):
    """Reads a WebSocket until it closes, keeping the replies that carry a `ref`."""

    def __init__(self, ws: Any) -> None:
        super().__init__(daemon=True)
        self.ws = ws
        self.replies: dict[Any, dict[str, Any]] = {}
        self.start()

    def run(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                message = json.loads(self.ws.recv())
                if "ref" in message:
                    self.replies[message["ref"]] = message


def test_private_messages_are_limited_and_cannot_push_a_telnet_reader_off(tmp_path):
    """Five /ws senders write to a telnet reader that has stopped reading: a 60,000-character
    private message is refused (`too-long`); the 4,000-character ones that do not fit are
    skipped for the reader, who is told once it reads again and is still connected."""
    hub = start_hub(
        tmp_path, "--max-rate", "0", "--max-backlog", "65536", "--slow-timeout", "600",
        db=":memory:",
    )  # fmt: skip
    try:
        reader = SmallWindowClient(hub.telnet)
        reader.expect("type /help")
        reader.send("/nick reader")
        reader.expect("is now known as reader")
        senders = [
            ws_connect(f"ws://127.0.0.1:{hub.web}/ws?nick=sender{n}", open_timeout=5)
            for n in range(5)
        ]
        drains = [Drain(ws) for ws in senders]
        for ws in senders:
            ws.send(json.dumps({"op": "msg", "to": "reader", "text": "x" * 60_000, "ref": "big"}))
        assert wait_for(lambda: all("big" in drain.replies for drain in drains), 10)
        assert {drain.replies["big"]["code"] for drain in drains} == {"too-long"}
        text = "y" * 3990
        for n in range(300):  # 6 MB: more than the kernel's buffers hold
            for ws in senders:
                ws.send(json.dumps({"op": "msg", "to": "reader", "text": f"{n} {text}"}))
        last = {"op": "msg", "to": "reader", "text": "the end", "ref": "end"}
        senders[0].send(json.dumps(last))
        assert wait_for(lambda: "end" in drains[0].replies, 30)
        assert wait_for(lambda: health(hub)["limits"]["skipped"] > 0, 10)
        seen = reader.expect("! skipped ", timeout=30)
        assert re.fullmatch(
            r"! skipped \d+ private messages while you were not reading; "
            r"identified users find them with /pms",
            seen[-1],
        )
        assert any(line.startswith("[pm] <sender") for line in seen)
        reader.send("/msg sender1 still here")
        reader.expect("[pm -> sender1] <reader> still here")
        assert health(hub)["limits"]["slow_closed"] == 0
        for ws in senders:
            ws.close()
        reader.close()
    finally:
        hub.process.kill()
        hub.process.wait()


# --- WebSocket messages that never end --------------------------------------------------------

TEXT, CONTINUATION, CLOSE = 0x1, 0x0, 0x8


def ws_frame(opcode: int, payload: bytes = b"", fin: bool = True) -> bytes:
    """A client frame of fewer than 126 bytes, masked with zeros (RFC 6455 wants a mask; a
    zero one leaves the payload as it is)."""
    return bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


def _server_frame(data: bytes) -> tuple[int, bytes, bytes] | None:
    """The first whole (unmasked) server frame in `data`: opcode, payload, what follows."""
    if len(data) < 2:
        return None
    size, start = data[1] & 0x7F, 2
    if size == 126:
        size, start = int.from_bytes(data[2:4]), 4
    elif size == 127:
        size, start = int.from_bytes(data[2:10]), 10
    if len(data) < start + size:
        return None
    return data[0] & 0x0F, data[start : start + size], data[start + size :]


class RawWebSocket:
    """A WebSocket client by hand, to send frames no library would: the handshake, then bytes;
    a thread reads what the hub sends and notes its close frame."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.closed: tuple[int, str] | None = None
        self.closed_at = 0.0
        self.ended = threading.Event()  # the hub closed the TCP connection
        self.done = threading.Event()  # a close frame came, or the connection ended
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        data = b""
        while True:
            # select, not the socket's timeout: that one is for the sender's writes.
            try:
                readable, _, _ = select.select([self.sock], [], [], 0.5)
                if not readable:
                    continue
                chunk = self.sock.recv(1 << 16)
            except (OSError, ValueError):  # closed by the test meanwhile (fileno -1)
                break
            if not chunk:
                break
            data += chunk
            while (frame := _server_frame(data)) is not None:
                opcode, payload, data = frame
                if opcode == CLOSE and self.closed is None:
                    self.closed = (int.from_bytes(payload[:2]), payload[2:].decode())
                    self.closed_at = time.monotonic()
                    self.done.set()
        self.ended.set()
        self.done.set()

    def send(self, data: bytes) -> bool:
        """Send `data`; False once the hub has closed or stopped reading for good."""
        if self.closed is not None:
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def close(self) -> None:
        self.sock.close()


def rss_kb(hub: HubProcess) -> int:
    with open(f"/proc/{hub.process.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize(
    ("rate", "close", "within"),
    [
        ("10", (1008, "a message must end within 10 seconds"), 12),
        ("0", (1009, "a message may have at most 1000 frames"), 2),
    ],
    ids=["default-rate", "no-rate-limit"],
)
def test_a_websocket_message_that_never_ends_is_closed_and_costs_no_memory(
    tmp_path, rate, close, within
):
    """`{` and then empty continuation frames, as fast as the hub takes them (it used to grow
    by 59 MB in 20 s and never close). The rate limit counts the frames, so the hub stops
    reading the sender after its burst and the message hits its 10 s deadline (1008); without
    the rate limit, frame 1,001 closes it (1009). The hub's memory stays put, /healthz counts
    it, and everyone else chats on."""
    hub = start_hub(tmp_path, "--max-rate", rate, db=":memory:")
    try:
        baseline = rss_kb(hub)
        attacker = RawWebSocket(hub.web)
        started = time.monotonic()
        attacker.send(ws_frame(TEXT, b"{", fin=False))
        empty = ws_frame(CONTINUATION, fin=False) * 1000
        attacker.sock.settimeout(1)
        while time.monotonic() - started < 20 and attacker.send(empty):
            pass  # until the hub closes, or stops reading (the send times out)
        peak = baseline
        while attacker.closed is None and time.monotonic() - started < 20:
            peak = max(peak, rss_kb(hub))
            time.sleep(0.1)
        print(f"\nendless message, --max-rate {rate}: {attacker.closed} after "
              f"{attacker.closed_at - started:.2f} s; RSS {baseline // 1024} MB, "
              f"peak {peak // 1024} MB")  # fmt: skip
        assert attacker.closed == close
        assert attacker.closed_at - started < within
        assert peak - baseline < 10 * 1024
        assert attacker.ended.wait(10)  # the closing handshake is not awaited for long
        limits = health(hub)["limits"]
        assert limits["ws_too_many_frames" if close[0] == 1009 else "ws_message_timeout"] == 1
        alice, bob = greeted(hub, "alice"), greeted(hub, "bob")
        alice.send("still here")
        bob.expect("[lobby] <alice> still here")
    finally:
        hub.process.kill()
        hub.process.wait()


def test_a_websocket_message_dripping_past_10_seconds_is_closed_with_1008(hub):
    """`{`, then one more empty frame every half second (far under the frame limit): after
    10 s the hub closes with 1008 and says why."""
    attacker = RawWebSocket(hub.web)
    started = time.monotonic()
    attacker.send(ws_frame(TEXT, b"{", fin=False))
    while time.monotonic() - started < 20 and attacker.send(ws_frame(CONTINUATION, fin=False)):
        time.sleep(0.5)
    assert attacker.closed == (1008, "a message must end within 10 seconds")
    assert 9.5 < attacker.closed_at - started < 12
    assert health(hub)["limits"]["ws_message_timeout"] == 1
    attacker.close()


FRAME_CLOSES = {
    (1009, "a message may have at most 1000 frames"),
    (1008, "a message must end within 10 seconds"),
}


def test_one_byte_frames_from_ten_connections_do_not_slow_anyone_else(hub):
    """Ten attackers each send 60 KB messages as one-byte frames (60,000 frames a message),
    reconnecting as soon as they are closed; beside them a telnet user's messages come back as
    fast as ever and the hub's memory stays put. (Before the frame rules, p99 was near a
    second.) Every frame takes a token, so the hub parses no more of an attacker's input once
    its frames have used its burst, and closes it at the message's 10 s deadline."""
    alice = greeted(hub, "alice")
    baseline = rss_kb(hub)
    attacking = True
    closes: list[tuple[int, str] | None] = []

    def attack() -> None:
        message = ws_frame(TEXT, b"{", fin=False) + ws_frame(CONTINUATION, b" ", fin=False) * 60_000
        while attacking:
            attacker = RawWebSocket(hub.web)
            attacker.sock.settimeout(0.5)
            for start in range(0, len(message), 7 * 1000):  # a thousand frames a write
                if not attacker.send(message[start : start + 7000]):
                    break
            attacker.done.wait(15)
            closes.append(attacker.closed)
            attacker.close()

    attackers = [threading.Thread(target=attack, daemon=True) for _ in range(10)]
    for thread in attackers:
        thread.start()
    time.sleep(1)  # the attack is on
    latencies = []
    peak = baseline
    for n in range(100):
        sent = time.monotonic()
        alice.send(f"ping {n}")
        alice.expect(f"[lobby] <alice> ping {n}", timeout=10)
        latencies.append((time.monotonic() - sent) * 1000)
        peak = max(peak, rss_kb(hub))
        time.sleep(0.05)
    assert wait_for(lambda: len(closes) >= 10, 20)
    attacking = False
    latencies.sort()
    p50, p99 = latencies[49], latencies[98]
    print(f"\none-byte frames from 10 connections: alice's latency ms p50 {p50:.1f} "
          f"p99 {p99:.1f} max {latencies[-1]:.1f}; {len(closes)} attacks closed; "
          f"RSS {baseline // 1024} MB -> peak {peak // 1024} MB")  # fmt: skip
    assert p99 < 500
    assert peak - baseline < 20 * 1024
    assert set(closes[:10]) <= FRAME_CLOSES
    limits = health(hub)["limits"]
    assert limits["ws_too_many_frames"] + limits["ws_message_timeout"] >= 10
