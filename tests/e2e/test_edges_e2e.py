"""Hostile edges of what users send, on the real process (issue 11): over telnet and over /ws.

Each test is an attack that worked before and a check that it no longer does: lookalike nicks,
commands hidden behind invisible characters, forged lines on a terminal, endless WebSocket
messages, and private messages that skipped the limits.
"""

import contextlib
import json
import re
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
            r"! skipped \d+ private messages while you were not reading; they are not kept",
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
