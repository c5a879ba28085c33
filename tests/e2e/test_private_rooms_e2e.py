"""Secret and invite-only rooms on every surface: a non-member finds their messages nowhere; a
member, and an API token naming the room, read them."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.accounts import (
    READER_SECRET,
    http,
    is_type,
    log_in,
    quiet,
    registered,
    start_with_operator,
    stream,
    telnet,
    web,
)
from tests.e2e.conftest import HubProcess

SECRET_WORD = "swordfish"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[HubProcess]:
    running = start_with_operator(tmp_path)
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def test_a_secret_rooms_messages_appear_nowhere_for_a_non_member(server):
    """alice's +s room `dev`: for a stranger it is in no room list (telnet, WebSocket, API,
    pages), has no members (`who`) and no history (telnet, WebSocket, API, transcript), and
    its event streams (catch-up and live) carry nothing of it."""
    alice = registered(server, "alice")
    alice.send("/join dev")
    alice.expect("* you are the owner of dev")
    alice.send(f"the password is {SECRET_WORD}")
    alice.expect(SECRET_WORD)
    alice.send("/mode +s")
    alice.expect("[dev] * alice set mode +s")

    stranger = telnet(server, "stranger")
    stranger.send("/rooms")
    rooms_line = stranger.expect("* rooms")[-1]
    assert "dev" not in rooms_line
    stranger.send("/who dev")
    stranger.expect("* members of dev: (none)")
    stranger.send("/since 0 dev")
    stranger.expect("* no messages in dev")

    ws = web(server, "?nick=stranger2")
    ws.send(op="rooms", ref=1)
    assert "dev" not in [r["name"] for r in ws.expect(is_type("rooms", ref=1))["rooms"]]
    ws.send(op="who", room="dev", ref=2)
    assert ws.expect(is_type("who", ref=2))["members"] == []
    ws.send(op="history", room="dev", since=0, ref=3)
    assert ws.expect(is_type("history", ref=3))["events"] == []

    surfaces = {}
    for path in (
        "/api/rooms",
        "/api/rooms?after=&limit=50",
        "/api/rooms/dev/messages",
        "/api/rooms/dev/messages?since=0",
        "/rooms/",
        "/rooms/dev",
        "/",
    ):
        status, _, body = http(server, "GET", path)
        assert status == 200, path
        surfaces[path] = str(body)
    live_streams = [
        ("/api/rooms/dev/events?since=dev:0", {}),
        ("/api/events?rooms=dev,lobby", {"Last-Event-ID": "dev:0,lobby:0"}),
    ]
    import threading

    results: dict[str, str] = {}

    def read(path: str, headers: dict[str, str]) -> None:
        results[path] = stream(server, path, 2.0, **headers)

    readers = [threading.Thread(target=read, args=item) for item in live_streams]
    for reader in readers:
        reader.start()
    time.sleep(0.7)
    alice.send(f"live {SECRET_WORD} too")  # said while the streams are open
    for reader in readers:
        reader.join()
    for path, text in [*surfaces.items(), *results.items()]:
        assert SECRET_WORD not in text, path
    for path in ("/api/rooms", "/api/rooms?after=&limit=50"):
        assert "'dev'" not in surfaces[path], path  # not listed
    for path in ("/rooms/", "/"):
        assert 'href="/rooms/dev"' not in surfaces[path], path
    assert "alice" not in surfaces["/rooms/dev"]  # nobody is in it, for a stranger
    assert all("text/event-stream" in text for text in results.values())
    stranger.send("/rooms")
    lines = quiet(stranger, 0.5)
    assert all(SECRET_WORD not in line for line in lines)


def test_members_and_a_token_naming_the_room_read_it(server):
    """The owner's log-in and an API token whose rooms name `dev` see it and its messages."""
    alice = registered(server, "alice")
    alice.send("/join dev")
    alice.expect("* you are the owner of dev")
    alice.send(f"the password is {SECRET_WORD}")
    alice.send("/mode +s")
    alice.expect("[dev] * alice set mode +s")
    token = log_in(server, "alice")
    _, _, rooms = http(server, "GET", "/api/rooms", Authorization=f"Bearer {token}")
    assert "dev" in [room["name"] for room in rooms["rooms"]]
    reader = {"Authorization": f"Bearer {READER_SECRET}"}
    _, _, messages = http(server, "GET", "/api/rooms/dev/messages", **reader)
    assert SECRET_WORD in str(messages)
    assert SECRET_WORD in stream(server, "/api/rooms/dev/events?since=dev:0", 1.0, **reader)
    _, _, page = http(server, "GET", "/rooms/dev", Cookie=f"chathub_session={token}")
    assert SECRET_WORD in page


def test_an_invite_only_room_is_hidden_too_and_a_room_turning_secret_stops_streams(server):
    """+i hides a room like +s; an event stream reading a room that becomes secret gets
    nothing said after."""
    alice = registered(server, "alice")
    alice.send("/join vip")
    alice.expect("* you are the owner of vip")
    alice.send("/mode +i")
    alice.send("invite only chatter")
    alice.expect("invite only chatter")
    assert http(server, "GET", "/api/rooms/vip/messages")[2]["events"] == []
    alice.send("/join dev")
    alice.expect("* you are the owner of dev")
    import threading

    seen: list[str] = []
    reader = threading.Thread(
        target=lambda: seen.append(stream(server, "/api/rooms/dev/events", 2.0))
    )
    reader.start()
    time.sleep(0.5)
    alice.send("public words")
    alice.send("/mode +s")
    alice.expect("[dev] * alice set mode +s")
    alice.send(f"now {SECRET_WORD}")
    reader.join()
    assert "public words" in seen[0] and SECRET_WORD not in seen[0]
