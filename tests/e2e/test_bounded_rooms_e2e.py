"""Issue 10 on the real process: the number of rooms is bounded, and 20,000 rooms are listed
capped (the busiest, with a total) and paged, never all at once."""

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect as ws_connect

from tests.e2e.conftest import HubProcess, TelnetClient, start_hub
from tests.e2e.wsload import LoadRun, crowd

ROOT = Path(__file__).resolve().parents[2]
HISTORY_ROOMS = 20_000
ROOM_LIST_MAX = 200  # --room-list-max's default


def get(hub: HubProcess, path: str) -> bytes:
    with urllib.request.urlopen(hub.base_url + path, timeout=30) as response:
        body: bytes = response.read()
        return body


def get_json(hub: HubProcess, path: str) -> Any:
    return json.loads(get(hub, path))


def timed(work: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = work()
    return result, (time.monotonic() - started) * 1000


def telnet(hub: HubProcess, nick: str) -> TelnetClient:
    client = TelnetClient(hub.telnet, timeout=10)
    client.expect("type /help")
    client.send(f"/nick {nick}")
    client.expect(f"is now known as {nick}")
    return client


def ws_reply(ws: Any, ref: str) -> dict[str, Any]:
    """The reply that carries `ref`."""
    while True:
        message: dict[str, Any] = json.loads(ws.recv(timeout=10))
        if message.get("ref") == ref:
            return message


@pytest.mark.filterwarnings("ignore:connect\\(\\) must be used:DeprecationWarning")
def test_twenty_thousand_rooms_are_listed_capped_with_a_total_and_paged_in_name_order(
    tmp_path: Path,
):
    """20,000 rooms in the history and 302 with members: `/`, `/rooms/`, `/api/rooms`, the
    `rooms` op and `/rooms` list at most 200 with the total; `?after=` pages through all."""
    db = str(tmp_path / "rooms.db")
    make = [sys.executable, str(ROOT / "scripts" / "make-history.py"), db]
    make += ["--rooms", str(HISTORY_ROOMS), "--messages", str(HISTORY_ROOMS), "--text-bytes", "40"]
    subprocess.run(make, check=True, timeout=120, capture_output=True)
    hub = start_hub(tmp_path, db=db)
    # 300 rooms with one member each (15 connections in 20 rooms), 2 with two members.
    members = LoadRun(tmp_path, port=hub.web, connections=crowd(15, 20), text="", rate=0,
                      duration=120)  # fmt: skip
    alice = telnet(hub, "alice")
    try:
        members.wait_ready(timeout=60)
        alice.send("/join r00005")
        alice.expect("[r00005] -> alice joined")
        history_names = {f"r{n:05d}" for n in range(HISTORY_ROOMS)}
        every_name = sorted(history_names | {f"f{c}-{r}" for c in range(15) for r in range(20)}
                            | {"lobby"})  # fmt: skip
        total = len(every_name)
        wendy = ws_connect(
            f"ws://127.0.0.1:{hub.web}/ws?nick=wendy&rooms=lobby,r00005", open_timeout=10
        )
        wendy.send(json.dumps({"op": "rooms", "ref": "list"}))
        listed, ws_ms = timed(lambda: ws_reply(wendy, "list"))
        assert listed["type"] == "rooms" and listed["total"] == total
        assert len(listed["rooms"]) == ROOM_LIST_MAX
        # The busiest first: lobby and r00005 have two members each (alice and wendy).
        assert [r["name"] for r in listed["rooms"][:2]] == ["lobby", "r00005"]
        assert {r["members"] for r in listed["rooms"][2:]} == {1}

        api, api_ms = timed(lambda: get_json(hub, "/api/rooms"))
        assert len(api["rooms"]) == ROOM_LIST_MAX and api["total"] == total
        assert [r["name"] for r in api["rooms"][:2]] == ["lobby", "r00005"]

        index, index_ms = timed(lambda: get(hub, "/rooms/").decode())
        assert len(re.findall(r'<li><a href="/rooms/', index)) == ROOM_LIST_MAX
        assert f"The busiest {ROOM_LIST_MAX} of {total} rooms" in index

        page, page_ms = timed(lambda: get(hub, "/").decode())
        assert len(re.findall(r'<a class="room" href="/rooms/', page)) == ROOM_LIST_MAX

        alice.send("/rooms")
        line = alice.expect("* rooms")[-1]
        assert line.startswith(f"* rooms (the busiest {ROOM_LIST_MAX} of {total}): lobby (2)")
        assert line.count("), ") == ROOM_LIST_MAX - 1

        # Paging: every room once, in name order, at most `limit` a page.
        names: list[str] = []
        after, pages = "", 0
        started = time.monotonic()
        while after is not None:
            listing = get_json(hub, f"/api/rooms?after={after}&limit=150")
            assert len(listing["rooms"]) <= 150
            names += [room["name"] for room in listing["rooms"]]
            after, pages = listing["next"], pages + 1
            assert pages <= total // 150 + 2, "paging does not end"
        paging_ms = (time.monotonic() - started) * 1000
        assert names == every_name
        capped = get_json(hub, "/api/rooms?after=&limit=100000")["rooms"]
        assert len(capped) == ROOM_LIST_MAX and [r["name"] for r in capped] == every_name[:200]
        wendy.close()
        print(
            f"\n{total:,} rooms: rooms op {ws_ms:.0f} ms, GET /api/rooms {api_ms:.0f} ms, "
            f"GET /rooms/ {index_ms:.0f} ms, GET / {page_ms:.0f} ms; all {total:,} in {pages} "
            f"pages of 150 in {paging_ms:.0f} ms"
        )
        assert str(total) in page, "the chat page (GET /) does not say how many rooms there are"
    finally:
        alice.close()
        members.stop()
        hub.process.kill()
        hub.process.wait()


@pytest.mark.filterwarnings("ignore:connect\\(\\) must be used:DeprecationWarning")
def test_max_rooms_total_refuses_a_new_room_on_telnet_and_websocket_and_counts_it(
    tmp_path: Path,
):
    """With --max-rooms-total 3, a join that would make a 4th room with members is refused on
    telnet (`! ` line) and WebSocket (`server-rooms-full`), and /healthz counts each refusal."""
    hub = start_hub(tmp_path, "--max-rooms-total", "3", db=":memory:")
    try:
        alice = telnet(hub, "alice")  # lobby: 1
        alice.send("/join one")
        alice.expect("[one] -> alice joined")
        alice.send("/join two")
        alice.expect("[two] -> alice joined")
        alice.send("/join three")
        refusal = alice.expect("! ")[-1]
        assert refusal.startswith("! the server has its most rooms in use (3)"), refusal

        with ws_connect(
            f"ws://127.0.0.1:{hub.web}/ws?nick=wendy&rooms=lobby,four", open_timeout=10
        ) as ws:
            welcome = json.loads(ws.recv(timeout=10))
            assert welcome["type"] == "welcome" and welcome["rooms"] == ["lobby"]
            error = json.loads(ws.recv(timeout=10))
            assert error["type"] == "error" and error["code"] == "server-rooms-full"
            ws.send(json.dumps({"op": "join", "room": "five", "ref": "j5"}))
            reply = ws_reply(ws, "j5")
            assert reply["type"] == "error" and reply["code"] == "server-rooms-full"
            ws.send(json.dumps({"op": "join", "room": "one", "ref": "j1"}))  # has members
            joined = ws_reply(ws, "j1")
            assert joined["kind"] == "join" and joined["room"] == "one"

            # A room that empties frees its place.
            alice.send("/part two")
            alice.expect("[two] <- alice left")
            ws.send(json.dumps({"op": "join", "room": "six", "ref": "j6"}))
            assert ws_reply(ws, "j6")["room"] == "six"

        health = get_json(hub, "/healthz")
        assert health["limits"]["rooms_total_limited"] == 3
        alice.close()
    finally:
        hub.process.kill()
        hub.process.wait()
