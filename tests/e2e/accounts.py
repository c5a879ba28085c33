"""Helpers for the accounts and moderation tests: a hub with a server operator configured, and
clients on every transport (telnet, WebSocket, HTTP)."""

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from chathub.tokens import hash_secret
from tests.e2e.conftest import HubProcess, TelnetClient, start_hub
from tests.e2e.test_websocket_e2e import WebClient

PASSWORD = "correct-horse-battery"  # no spaces: typed as one word on telnet


READER_SECRET = "chathub_e2e-reader-secret"  # an API token whose rooms name `dev`


def start_with_operator(tmp_path: Path, db: str | None = None) -> HubProcess:
    """A hub whose configuration names `root` as a server operator, with an API token
    (`READER_SECRET`) for the room dev (a file database by default, so that it can be
    restarted on the same history)."""
    config = tmp_path / "chathub.toml"
    config.write_text(
        'operators = ["root"]\n'
        "[[tokens]]\n"
        'name = "reader"\nnick = "reader-bot"\nrooms = ["dev"]\n'
        f'hash = "{hash_secret(READER_SECRET)}"\n'
    )
    return start_hub(tmp_path, "--config", str(config), db=db)


def telnet(hub: HubProcess, nick: str | None = None) -> TelnetClient:
    client = TelnetClient(hub.telnet)
    client.expect("type /help")
    if nick is not None:
        client.send(f"/nick {nick}")
        client.expect(f"is now known as {nick}")
    return client


def registered(hub: HubProcess, nick: str, password: str = PASSWORD) -> TelnetClient:
    """A telnet client with `nick` registered (and so identified), in no room but lobby."""
    client = telnet(hub, nick)
    client.send(f"/register {password}")
    client.expect(f"* you are identified as {nick}")
    return client


def web(hub: HubProcess, query: str = "", **options: Any) -> WebClient:
    return WebClient(hub, query, **options)


def http(
    hub: HubProcess, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request: (status, headers, parsed JSON or text)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(hub.base_url + path, data=data, method=method)
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw, got = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        status, raw, got = error.code, error.read(), dict(error.headers)
    text = raw.decode("utf-8", "replace")
    try:
        return status, got, json.loads(text)
    except ValueError:
        return status, got, text


def log_in(hub: HubProcess, nick: str, password: str = PASSWORD) -> str:
    """A log-in token for `nick` from `POST /api/session`."""
    status, _, body = http(hub, "POST", "/api/session", {"nick": nick, "password": password})
    assert status == 200, body
    token: str = body["token"]
    return token


def is_type(kind: str, **fields: Any) -> Any:
    def matches(message: dict[str, Any]) -> bool:
        return message.get("type") == kind and all(message.get(k) == v for k, v in fields.items())

    return matches


def error(code: str, ref: Any = None) -> Any:
    return is_type("error", code=code, **({"ref": ref} if ref is not None else {}))


def quiet(client: TelnetClient, seconds: float) -> list[str]:
    """Every line a telnet client gets within `seconds` (none need come)."""
    lines: list[str] = []
    try:
        while True:
            lines.append(client.read_line(seconds))
    except (TimeoutError, ConnectionError):
        return lines


def last_id(client: TelnetClient, room: str) -> int:
    """The id of the newest message of `room`, the client's current room (`/history 1`)."""
    client.send("/history 1")
    lines = client.expect(f"[{room} #")
    return int(lines[-1].split("#", 1)[1].split("]", 1)[0])


def stream(hub: HubProcess, path: str, seconds: float, **headers: str) -> str:
    """What an event stream sends within `seconds`."""
    sock = socket.create_connection(("127.0.0.1", hub.web), timeout=seconds)
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
    received = b""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
    finally:
        sock.close()
    return received.decode("utf-8", "replace")
