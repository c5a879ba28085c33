"""Every limit on the real process: the flag, what the client sees, and the /healthz counter."""

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.e2e.conftest import HubProcess, TelnetClient, start_hub

Launch = Callable[..., HubProcess]

# The sync client's plain `connect()` (without `with`) warns; these tests close what they open.
pytestmark = pytest.mark.filterwarnings("ignore:connect\\(\\) must be used:DeprecationWarning")


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """`launch(*flags)` starts a hub (rate limit off unless the flags turn it on; telnet lines
    sent together are not joined as a paste, since these tests count lines)."""
    started: list[HubProcess] = []

    def run(*flags: str) -> HubProcess:
        hub = start_hub(tmp_path, "--max-rate", "0", "--paste-window", "0", *flags, db=":memory:")
        started.append(hub)
        return hub

    yield run
    for hub in started:
        if hub.process.poll() is None:
            hub.process.kill()
            hub.process.wait()


def health(hub: HubProcess) -> dict[str, Any]:
    with urllib.request.urlopen(hub.base_url + "/healthz", timeout=5) as response:
        return json.loads(response.read())


def health_once_there_is_room(hub: HubProcess, timeout: float = 5.0) -> dict[str, Any]:
    """/healthz as soon as the hub has a place for the request (HTTP connections count in
    --max-connections and --max-per-ip too)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return health(hub)
        except urllib.error.HTTPError as refused:
            if refused.code not in (429, 503) or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll until `condition` holds (the hub acts on a closed socket asynchronously)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition never held")
        time.sleep(0.02)


def greeted(hub: HubProcess) -> TelnetClient:
    client = TelnetClient(hub.telnet)
    client.expect("type /help")
    client.expect("joined")
    return client


def ws_status(hub: HubProcess) -> int:
    """The HTTP status of a WebSocket handshake that is expected to be refused."""
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(f"ws://127.0.0.1:{hub.web}/ws", open_timeout=5).close()
    return refused.value.response.status_code


def test_past_max_connections_telnet_gets_a_line_and_websocket_a_503(launch):
    """--max-connections 2: the third connection is refused and counted; a freed place is reused."""
    hub = launch("--max-connections", "2")
    first, _second = greeted(hub), greeted(hub)
    refused = TelnetClient(hub.telnet)
    assert refused.read_until_closed() == ["! the server is full (2 connections); try again later"]
    assert ws_status(hub) == 503
    first.close()  # /healthz needs a place too
    wait_for(lambda: health_once_there_is_room(hub)["clients"] == 1)
    assert health(hub)["limits"]["connections_refused"] >= 2
    greeted(hub)


def test_past_max_per_ip_telnet_gets_a_line_and_websocket_a_429(launch):
    """--max-per-ip 1: a second connection from 127.0.0.1 is refused and counted."""
    hub = launch("--max-per-ip", "1")
    first = greeted(hub)  # kept open: a collected socket would close
    refused = TelnetClient(hub.telnet)
    assert refused.read_until_closed() == ["! too many connections from your address (at most 1)"]
    assert ws_status(hub) == 429
    first.close()  # /healthz needs the address's place
    assert health_once_there_is_room(hub)["limits"]["connections_refused_per_ip"] >= 2


def test_over_max_rate_the_sender_is_told_and_its_first_messages_arrive_in_order(launch):
    """--max-rate 5 --burst 3: a burst of 10 lines gets a warning; what arrives is in order."""
    hub = launch("--max-rate", "5", "--burst", "3")
    sender = greeted(hub)
    sender.send(b"".join(b"line %d\r\n" % n for n in range(10)))
    seen = sender.expect("you are sending too fast: at most 5 messages a second")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # let the waiting lines come out at the rate
        with contextlib.suppress(TimeoutError):
            seen.append(sender.read_line(0.5))
    said = [int(line.rsplit(" ", 1)[1]) for line in seen if "> line " in line]
    assert said[:3] == [0, 1, 2]
    assert said == sorted(said) and len(said) >= 3
    assert health(hub)["limits"]["rate_limited"] >= 1


def test_over_long_lines_are_refused_and_counted(launch):
    """--max-line 100: a longer line gets a `! ` line; the next line works."""
    hub = launch("--max-line", "100")
    client = greeted(hub)
    client.send("x" * 200)
    client.expect("! line longer than 100 bytes, discarded")
    client.send("short")
    client.expect("> short")
    assert health(hub)["limits"]["line_too_long"] == 1


def test_nick_changes_per_minute_are_limited(launch):
    """--nick-changes-per-minute 2: the third change is refused with the wait."""
    hub = launch("--nick-changes-per-minute", "2")
    client = greeted(hub)
    for nick in ("one", "two"):
        client.send(f"/nick {nick}")
        client.expect(f"is now known as {nick}")
    client.send("/nick three")
    client.expect("! too many nick changes: at most 2 a minute; try again in")
    assert health(hub)["limits"]["nick_limited"] == 1


def test_joins_per_minute_are_limited(launch):
    """--joins-per-minute 2: lobby on connect and one /join, then a refusal."""
    hub = launch("--joins-per-minute", "2")
    client = greeted(hub)
    client.send("/join one")
    client.expect("[one] -> ")
    client.send("/join two")
    client.expect("! too many joins: at most 2 a minute; try again in")
    assert health(hub)["limits"]["join_limited"] == 1


def test_rooms_per_connection_are_limited(launch):
    """--max-rooms 2: lobby and one more, then a refusal with a hint to /part."""
    hub = launch("--max-rooms", "2")
    client = greeted(hub)
    client.send("/join one")
    client.expect("[one] -> ")
    client.send("/join two")
    client.expect("! you can be in at most 2 rooms; /part one")
    assert health(hub)["limits"]["rooms_limited"] == 1


def test_an_idle_telnet_client_is_told_and_disconnected(launch):
    """--idle-timeout 1: after a second of silence, a `! ` line and the connection closes."""
    hub = launch("--idle-timeout", "1")
    client = greeted(hub)
    lines = client.read_until_closed(timeout=10)
    assert lines[-1] == "! no input for 1 seconds; closing the connection"
    assert health(hub)["limits"]["idle_closed"] == 1


def test_an_idle_websocket_gets_an_error_and_close_code_1000(launch):
    """--idle-timeout 1 on /ws: an `idle` error message, then a close with code 1000."""
    hub = launch("--idle-timeout", "1")
    ws = ws_connect(f"ws://127.0.0.1:{hub.web}/ws", open_timeout=5)
    messages = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            messages.append(json.loads(ws.recv(timeout=10)))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    assert messages[-1]["type"] == "error" and messages[-1]["code"] == "idle"


def test_over_max_rate_a_websocket_gets_a_rate_limited_error(launch):
    """--max-rate 5 --burst 3 on /ws: a burst of 10 messages gets a `rate-limited` error."""
    hub = launch("--max-rate", "5", "--burst", "3")
    ws = ws_connect(f"ws://127.0.0.1:{hub.web}/ws", open_timeout=5)
    for n in range(10):
        ws.send(json.dumps({"op": "say", "room": "lobby", "text": f"m{n}"}))
    texts = []
    while True:
        message = json.loads(ws.recv(timeout=5))
        if message["type"] == "event" and message["kind"] == "message":
            texts.append(message["text"])
        if message["type"] == "error":
            assert message["code"] == "rate-limited"
            break
    assert texts == ["m0", "m1", "m2"][: len(texts)]
    assert health(hub)["limits"]["rate_limited"] >= 1
    ws.close()


def test_a_websocket_message_over_ws_max_message_closes_with_1009_and_is_counted(launch):
    """--ws-max-message 1000: a larger message closes with 1009 and bumps line_too_long."""
    hub = launch("--ws-max-message", "1000")
    ws = ws_connect(f"ws://127.0.0.1:{hub.web}/ws", open_timeout=5, compression=None)
    ws.send(json.dumps({"op": "say", "room": "lobby", "text": "x" * 2000}))
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    wait_for(lambda: health(hub)["limits"]["line_too_long"] == 1)
