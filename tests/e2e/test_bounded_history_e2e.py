"""Issue 10 on the real process: a history file far larger than memory starts in seconds and is
served from disk; a damaged file never makes the hub reuse an id or stop a room.

The big file is made by `scripts/make-history.py` (300 MB here; `E2E_HISTORY_FILE=PATH`
runs the same checks on a file made beforehand, such as the 5 GB one in the README).
"""

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.e2e.conftest import HubProcess, TelnetClient, start_hub, untimed
from tests.e2e.measure import rss_mb

ROOT = Path(__file__).resolve().parents[2]
MAKE_HISTORY = ROOT / "scripts" / "make-history.py"
START_LIMIT_SECONDS = 3.0
RSS_LIMIT_MB = 150.0


def make_history_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_history", MAKE_HISTORY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get_json(hub: HubProcess, path: str) -> Any:
    with urllib.request.urlopen(hub.base_url + path, timeout=30) as response:
        return json.loads(response.read())


def last_ids(db: str) -> dict[str, int]:
    """Each room's last id, as the file records it."""
    connection = sqlite3.connect(db)
    try:
        return dict(connection.execute("SELECT room, last_id FROM rooms ORDER BY room"))
    finally:
        connection.close()


def history_line(make: ModuleType, room: str, id: int) -> str:
    """How telnet shows stored message `id` of a room made by make-history."""
    nick, text = make.nick_for(id), make.text_for(room, id, TEXT_BYTES)
    if make.kind_for(id) == "action":
        return f"[{room} #{id}] * {nick} {text}"
    return f"[{room} #{id}] <{nick}> {text}"


def history_lines(client: TelnetClient, count: int) -> list[str]:
    """The next `count` history lines, without their times and the lines naming the day."""
    lines: list[str] = []
    while len(lines) < count:
        lines += untimed([client.read_line()])
    return lines


TEXT_BYTES = 900


def test_a_300_mb_history_starts_in_seconds_and_is_served_from_disk(tmp_path: Path):
    """A 300 MB history: chathub starts in under 3 s with RSS under 150 MB, and the replay on
    join, /since and the API's ?since= answer the right ids and texts from the file."""
    make = make_history_module()
    given = os.environ.get("E2E_HISTORY_FILE")
    if given:
        db = given
    else:
        db = str(tmp_path / "big.db")
        made = time.monotonic()
        command = [sys.executable, str(MAKE_HISTORY), db, "--gigabytes", "0.3", "--rooms", "50"]
        subprocess.run(command, check=True, timeout=120)
        print(f"\nmade {os.path.getsize(db) / 1e6:.0f} MB in {time.monotonic() - made:.1f} s")
    rooms = last_ids(db)
    names = sorted(rooms)
    retain = str(max(10_000, max(rooms.values())))  # nothing is pruned when a room opens

    started = time.monotonic()
    hub = start_hub(tmp_path, "--retain-messages", retain, db=db)
    start_seconds = time.monotonic() - started
    try:
        rss_after_start = rss_mb(hub.process.pid)
        print(
            f"\nbig history: {os.path.getsize(db) / 1e9:.2f} GB, {len(rooms)} rooms, "
            f"{sum(rooms.values()):,} messages: started in {start_seconds:.2f} s, "
            f"RSS {rss_after_start:.0f} MB"
        )
        assert start_seconds < START_LIMIT_SECONDS
        assert rss_after_start < RSS_LIMIT_MB

        # Replay on join, over telnet: the newest 50 of a room never opened before.
        room = names[len(names) // 7]
        last = rooms[room]
        client = TelnetClient(hub.telnet, timeout=15)
        client.expect("type /help")
        asked = time.monotonic()
        client.send(f"/join {room}")
        client.expect(f"[{room}] -> ")
        replay = history_lines(client, 50)
        replay_seconds = time.monotonic() - asked
        assert replay == [history_line(make, room, id) for id in range(last - 49, last + 1)]

        # /since from the middle of the room: 500 rows that are on disk only.
        asked = time.monotonic()
        client.send(f"/since 100 {room}")
        lines = history_lines(client, 500)
        since_seconds = time.monotonic() - asked
        assert lines == [history_line(make, room, id) for id in range(101, 601)]
        client.close()

        # The API on another room nobody has opened, from the middle and at the end.
        other = names[-1]
        asked = time.monotonic()
        events = get_json(hub, f"/api/rooms/{other}/messages?since=3000&limit=500")["events"]
        api_seconds = time.monotonic() - asked
        assert [(e["id"], e["text"]) for e in events] == [
            (id, make.text_for(other, id, TEXT_BYTES)) for id in range(3001, 3501)
        ]
        assert [e["kind"] for e in events] == [make.kind_for(id) for id in range(3001, 3501)]
        tail = get_json(hub, f"/api/rooms/{other}/messages?since={rooms[other] - 3}")["events"]
        assert [e["id"] for e in tail] == list(range(rooms[other] - 2, rooms[other] + 1))

        rss_after = rss_mb(hub.process.pid)
        print(
            f"replay of 50 on join {replay_seconds * 1000:.0f} ms, /since 500 "
            f"{since_seconds * 1000:.0f} ms, API 500 {api_seconds * 1000:.0f} ms; "
            f"RSS after {rss_after:.0f} MB"
        )
        assert rss_after < RSS_LIMIT_MB
    finally:
        hub.process.kill()
        hub.process.wait()


def damaged_file(path: Path, rows: list[tuple[str, int, object]], last_ids: dict[str, int]) -> str:
    """A history file in chathub's schema with exactly these rows (room, id, text: a str, or
    bytes stored as a BLOB) and these `rooms.last_id` values, written behind chathub's back."""
    from chathub.sqlitefile import SCHEMA, SCHEMA_VERSION

    connection = sqlite3.connect(path)
    connection.executescript(f"{SCHEMA} PRAGMA user_version = {SCHEMA_VERSION};")
    connection.executemany(
        "INSERT INTO events (room, id, kind, nick, text, ts) VALUES (?, ?, 'message', 'old', ?, ?)",
        [(room, id, text, 1_700_000_000.0 + id) for room, id, text in rows],
    )
    connection.executemany("INSERT INTO rooms (room, last_id) VALUES (?, ?)", last_ids.items())
    connection.commit()
    connection.close()
    return str(path)


def joined(hub: HubProcess, room: str, nick: str = "eve") -> tuple[TelnetClient, list[str]]:
    """A telnet client called `nick` that joined `room`; the lines of its replay."""
    client = TelnetClient(hub.telnet)
    client.expect("type /help")
    client.send(f"/nick {nick}")
    client.expect(f"is now known as {nick}")
    client.send(f"/join {room}")
    client.expect(f"[{room}] -> ")
    client.send("/who")  # a marker: every line before its answer is the replay
    replay = untimed(client.expect(f"* members of {room}")[:-1])
    return client, replay


def test_a_last_id_behind_the_stored_messages_never_reuses_an_id(tmp_path: Path):
    """rooms.last_id says 2 but messages 1-5 are stored: the next message is #6 and #1 keeps
    its text, also after a restart."""
    rows = [("dmg", id, f"old {id}") for id in range(1, 6)]
    db = damaged_file(tmp_path / "behind.db", rows, {"dmg": 2})
    hub = start_hub(tmp_path, db=db)
    try:
        client, replay = joined(hub, "dmg")
        assert replay == [f"[dmg #{id}] <old> old {id}" for id in range(1, 6)]
        client.send("new one")
        client.expect("[dmg] <eve> new one")
        client.send("/since 5")
        assert untimed(client.expect("new one"))[-1] == "[dmg #6] <eve> new one"
        client.close()
        assert hub.stop() == 0
    finally:
        hub.process.kill()
        hub.process.wait()
    again = start_hub(tmp_path, db=db)
    try:
        events = get_json(again, "/api/rooms/dmg/messages?since=0")["events"]
        assert [(e["id"], e["text"]) for e in events] == [*rows_as_pairs(rows), (6, "new one")]
        client, _ = joined(again, "dmg")
        client.send("newer")
        client.expect("[dmg] <eve> newer")
        client.send("/since 6")
        assert untimed(client.expect("newer"))[-1] == "[dmg #7] <eve> newer"
        client.close()
    finally:
        again.process.kill()
        again.process.wait()


def rows_as_pairs(rows: list[tuple[str, int, object]]) -> list[tuple[int, object]]:
    return [(id, text) for _, id, text in rows]


def test_messages_stored_as_blobs_are_replayed_or_skipped_and_the_room_works(tmp_path: Path):
    """A UTF-8 BLOB is replayed as text; a BLOB that is not UTF-8 is skipped with a log line,
    no traceback, and the room goes on with the next id."""
    rows = [
        ("blobs", 1, "one"),
        ("blobs", 2, "two é".encode()),
        ("blobs", 3, "three"),
        ("badblob", 1, "first"),
        ("badblob", 2, b"\xff\xfe not utf-8"),
        ("badblob", 3, "third"),
    ]
    db = damaged_file(tmp_path / "blobs.db", rows, {"blobs": 3, "badblob": 3})
    hub = start_hub(tmp_path, db=db)
    try:
        client, replay = joined(hub, "blobs")
        assert replay == [
            "[blobs #1] <old> one",
            "[blobs #2] <old> two é",
            "[blobs #3] <old> three",
        ]
        client.close()

        client, replay = joined(hub, "badblob")
        assert replay == ["[badblob #1] <old> first", "[badblob #3] <old> third"]
        client.send("still works")
        client.send("/since 0")
        client.expect("[badblob] <eve> still works")
        lines = untimed(client.expect("still works"))
        assert lines == [
            "[badblob #1] <old> first",
            "[badblob #3] <old> third",
            "[badblob #4] <eve> still works",
        ]
        events = get_json(hub, "/api/rooms/badblob/messages?since=0")["events"]
        assert [(e["id"], e["text"]) for e in events] == [
            (1, "first"),
            (3, "third"),
            (4, "still works"),
        ]
        blob_events = get_json(hub, "/api/rooms/blobs/messages?since=1")["events"]
        assert [e["text"] for e in blob_events] == ["two é", "three"]
        client.close()
        assert hub.stop() == 0
    finally:
        hub.process.kill()
        hub.process.wait()
    log = (tmp_path / "hub.log").read_text()
    assert "Traceback" not in log
    assert "skipped 1 unreadable rows of room badblob" in log
