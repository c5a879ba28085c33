"""`/ws` on the real process: a real WebSocket client (websockets) and a real telnet client."""

import json
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.e2e.conftest import HubProcess, TelnetClient, start_hub

Message = dict[str, Any]


class WebClient:
    """A WebSocket client that reads JSON messages until the one a test waits for."""

    def __init__(self, hub: HubProcess, query: str = "", **options: Any) -> None:
        self.ws: ClientConnection = connect(
            f"ws://127.0.0.1:{hub.web}/ws{query}", open_timeout=5, **options
        )

    def send(self, **message: Any) -> None:
        self.ws.send(json.dumps(message))

    def expect(self, wanted: Callable[[Message], bool], timeout: float = 5.0) -> Message:
        """Read messages until one satisfies `wanted`; returns it."""
        seen: list[Message] = []
        while True:
            try:
                message = json.loads(self.ws.recv(timeout=timeout))
            except (TimeoutError, ConnectionClosed) as problem:
                raise AssertionError(f"never got the message; saw {seen!r}") from problem
            seen.append(message)
            if wanted(message):
                return message

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def web(hub: HubProcess) -> Iterator[Callable[..., WebClient]]:
    """`web(query)` opens a WebSocket client to the hub; all are closed after the test."""
    clients: list[WebClient] = []

    def open_client(query: str = "", **options: Any) -> WebClient:
        client = WebClient(hub, query, **options)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()


def event(kind: str, **fields: Any) -> Callable[[Message], bool]:
    def matches(message: Message) -> bool:
        return (
            message.get("type") == "event"
            and message.get("kind") == kind
            and all(message.get(name) == value for name, value in fields.items())
        )

    return matches


def test_websocket_and_telnet_users_share_a_room(web, connect):
    """A WebSocket and a telnet client see each other's joins, messages, nicks, and who."""
    browser = web("?nick=web&rooms=dev")
    welcome = browser.expect(lambda m: m["type"] == "welcome")
    assert (welcome["nick"], welcome["rooms"]) == ("web", ["dev"])

    terminal: TelnetClient = connect("tel")
    browser.send(op="join", room="lobby")
    terminal.expect("[lobby] -> web joined")
    terminal.send("/join dev")
    browser.expect(event("join", room="dev", nick="tel"))

    browser.send(op="say", room="dev", text="hello from the page", ref="r1")
    mine = browser.expect(event("message", room="dev"))
    assert (mine["nick"], mine["text"], mine["ref"], mine["id"]) == (
        "web",
        "hello from the page",
        "r1",
        1,
    )
    terminal.expect("[dev] <web> hello from the page")

    terminal.send("hello from the terminal")
    said = browser.expect(event("message", nick="tel"))
    assert (said["room"], said["text"], said["id"]) == ("dev", "hello from the terminal", 2)

    terminal.send("/nick telly")
    renamed = browser.expect(event("nick"))
    assert (renamed["old"], renamed["nick"]) == ("tel", "telly")
    browser.send(op="nick", nick="webby")
    terminal.expect("* web is now known as webby")

    browser.send(op="who", room="dev", ref=5)
    who = browser.expect(lambda m: m["type"] == "who")
    assert who == {"type": "who", "room": "dev", "members": ["telly", "webby"], "ref": 5}
    terminal.send("/who dev")
    terminal.expect("* members of dev: telly, webby")


def test_bad_json_gets_an_error_and_the_connection_keeps_working(web):
    """Invalid JSON and an unknown op get error replies; the next op works."""
    browser = web()
    browser.expect(lambda m: m["type"] == "welcome")
    browser.ws.send("{nope")
    assert browser.expect(lambda m: m["type"] == "error")["code"] == "bad-json"
    browser.send(op="fly", ref=1)
    assert browser.expect(lambda m: m["type"] == "error") == {
        "type": "error",
        "code": "unknown-op",
        "message": "unknown op 'fly'",
        "ref": 1,
    }
    browser.send(op="rooms", ref=2)
    assert browser.expect(lambda m: m["type"] == "rooms")["ref"] == 2


def test_binary_message_closes_with_1003(web):
    """A binary message closes that connection with code 1003."""
    browser = web()
    browser.expect(lambda m: m["type"] == "welcome")
    browser.ws.send(b"\x00\x01")
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            browser.ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003


def test_cross_origin_handshake_is_refused_with_403(hub):
    """A handshake whose Origin is another site gets HTTP 403 and no connection."""
    with pytest.raises(InvalidStatus) as refused:
        WebClient(hub, origin="http://evil.example")
    assert refused.value.response.status_code == 403


def test_same_origin_handshake_is_accepted(web, hub):
    """A handshake from the page's own origin is accepted."""
    browser = web(origin=f"http://127.0.0.1:{hub.web}")
    assert browser.expect(lambda m: m["type"] == "welcome")["rooms"] == ["lobby"]


def test_allow_origin_flag_admits_another_origin(tmp_path):
    """With --allow-origin, that origin's handshake is accepted and others still refused."""
    running = start_hub(tmp_path, "--allow-origin", "https://app.example", db=":memory:")
    try:
        client = WebClient(running, origin="https://app.example")
        assert client.expect(lambda m: m["type"] == "welcome")
        client.close()
        with pytest.raises(InvalidStatus):
            WebClient(running, origin="https://other.example")
    finally:
        assert running.stop() == 0


def test_shutdown_closes_websocket_clients_with_1012(hub, web):
    """On SIGTERM a WebSocket client is told and then closed with 1012 (service restart)."""
    browser = web()
    browser.expect(lambda m: m["type"] == "welcome")
    assert hub.stop(signal.SIGTERM) == 0
    notice = browser.expect(event("notice"))
    assert notice["text"] == "server shutting down"
    with pytest.raises(ConnectionClosed) as closed:
        browser.ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
