"""History that survives on the real process: SIGTERM, kill -9, a bad database file."""

import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from tests.e2e.conftest import HubProcess, TelnetClient, start_hub, untimed

Start = Callable[..., HubProcess]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """`start(*flags, db=...)` runs chathub on tmp_path; whatever is still running is killed."""
    started: list[HubProcess] = []

    def run(*args: str, db: str | None = None) -> HubProcess:
        process = start_hub(tmp_path, *args, db=db)
        started.append(process)
        return process

    yield run
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()


def join_as(hub: HubProcess, nick: str) -> TelnetClient:
    client = TelnetClient(hub.telnet)
    client.expect("type /help")
    client.send(f"/nick {nick}")
    client.expect(f"is now known as {nick}")
    return client


def get(hub: HubProcess, path: str) -> bytes:
    with urllib.request.urlopen(hub.base_url + path, timeout=5) as response:
        body: bytes = response.read()
        return body


def get_json(hub: HubProcess, path: str) -> Any:
    return json.loads(get(hub, path))


def talk(hub: HubProcess, nick: str, *texts: str) -> None:
    """Say each text in lobby and wait for its echo: the hub has relayed it."""
    client = join_as(hub, nick)
    for text in texts:
        client.send(text)
        client.expect(f"[lobby] <{nick}> {text}")
    client.close()


def test_sigterm_then_restart_keeps_history_ids_and_counter(tmp_path: Path, start: Start) -> None:
    """After SIGTERM and a restart on the same --db, history, ids and /counter go on."""
    db = str(tmp_path / "history.db")
    first = start(db=db)
    talk(first, "alice", "one", "two", "three")
    assert get(first, "/counter") == b"I am request #1"
    assert get(first, "/counter") == b"I am request #2"
    assert first.stop(signal.SIGTERM) == 0

    second = start(db=db)
    bob = TelnetClient(second.telnet)
    replay = untimed(bob.expect("<alice> three"))
    assert "[lobby #3] <alice> three" in replay
    assert "[lobby #1] <alice> one" in replay
    assert "[lobby #2] <alice> two" in replay
    bob.send("/history 2")
    assert untimed(bob.expect("<alice> three"))[-2:] == [
        "[lobby #2] <alice> two",
        "[lobby #3] <alice> three",
    ]
    messages = get_json(second, "/api/rooms/lobby/messages?since=1")
    assert [(e["id"], e["nick"], e["text"]) for e in messages["events"]] == [
        (2, "alice", "two"),
        (3, "alice", "three"),
    ]
    bob.send("four")
    bob.expect("<guest-1> four")
    bob.send("/since 3")
    assert untimed(bob.expect("#4 "))[-1] == "[lobby #4] <guest-1> four"
    assert get(second, "/counter") == b"I am request #3"
    bob.close()
    assert second.stop(signal.SIGTERM) == 0


def test_kill_9_keeps_what_was_said_a_second_before(tmp_path: Path, start: Start) -> None:
    """Messages relayed more than one second before a kill -9 are there after a restart."""
    db = str(tmp_path / "history.db")
    first = start(db=db)
    talk(first, "alice", *[f"line {n}" for n in range(1, 16)])
    get(first, "/counter")
    time.sleep(1.0)  # the contract's window: anything older than a second is on disk
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL

    second = start(db=db)
    messages = get_json(second, "/api/rooms/lobby/messages?since=0&limit=500")
    assert [e["id"] for e in messages["events"]] == list(range(1, 16))
    assert messages["events"][-1]["text"] == "line 15"
    assert get(second, "/counter") == b"I am request #2"
    carol = join_as(second, "carol")
    carol.send("after the crash")
    carol.send("/since 15")
    assert untimed(carol.expect("#16 "))[-1] == "[lobby #16] <carol> after the crash"
    carol.close()


def rows_in(db: str) -> int:
    connection = sqlite3.connect(db)
    try:
        return int(connection.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        connection.close()


def test_retain_messages_bounds_history_and_the_file(tmp_path: Path, start: Start) -> None:
    """With --retain-messages 3 only the newest 3 are served and kept; ids still go on."""
    db = str(tmp_path / "history.db")
    first = start("--retain-messages", "3", db=db)
    talk(first, "alice", *[f"m{n}" for n in range(1, 7)])
    events = get_json(first, "/api/rooms/lobby/messages?since=0")["events"]
    assert [e["id"] for e in events] == [4, 5, 6]
    assert first.stop(signal.SIGTERM) == 0

    second = start("--retain-messages", "3", db=db)
    talk(second, "alice", "m7")
    events = get_json(second, "/api/rooms/lobby/messages?since=0")["events"]
    assert [e["id"] for e in events] == [5, 6, 7]
    assert second.stop(signal.SIGTERM) == 0
    assert rows_in(db) == 4  # 4-6 were kept by the pruning at start-up; m7 came after it


def run_chathub(tmp_path: Path, db: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "chathub", "--db", db]
    command += ["--telnet", "tcp:0:interface=127.0.0.1", "--web", "tcp:0:interface=127.0.0.1"]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=tmp_path)


def chathub_lines(stderr: str) -> list[str]:
    """The lines chathub itself printed (not the Twisted log's timestamped ones)."""
    return [line for line in stderr.splitlines() if line.startswith("chathub:")]


def test_a_corrupt_database_file_exits_1_with_one_clear_line(tmp_path: Path) -> None:
    """A file that is not a database stops start-up: exit 1, one line naming it, no traceback."""
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"garbage, not SQLite\n" * 500)
    result = run_chathub(tmp_path, str(broken))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = chathub_lines(result.stderr)
    assert len(lines) == 1
    assert str(broken) in lines[0] and "not a database" in lines[0]


def test_a_database_in_use_by_another_chathub_exits_1(tmp_path: Path, start: Start) -> None:
    """A second chathub on the same --db refuses to start instead of reusing ids."""
    db = str(tmp_path / "shared.db")
    start(db=db)
    result = run_chathub(tmp_path, db)
    assert result.returncode == 1
    lines = chathub_lines(result.stderr)
    assert len(lines) == 1 and "locked" in lines[0]


def ws_open(hub: HubProcess, query: str) -> ClientConnection:
    return ws_connect(f"ws://127.0.0.1:{hub.web}/ws{query}", open_timeout=5)


def ws_until(ws: ClientConnection, wanted: Callable[[dict[str, Any]], bool]) -> list[Any]:
    """Every message received up to and including the first one `wanted` accepts."""
    seen: list[Any] = []
    while True:
        try:
            message = json.loads(ws.recv(timeout=5))
        except TimeoutError as problem:
            raise AssertionError(f"never got it; saw {seen!r}") from problem
        seen.append(message)
        if wanted(message):
            return seen


def is_history(message: dict[str, Any]) -> bool:
    return message.get("type") == "history" and message.get("room") == "lobby"


def said(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("type") == "event" and m.get("kind") == "message" and m["text"] == text


def stored_ids(messages: list[Any]) -> list[int]:
    """The ids of the stored events in `messages`, live or replayed, in the order received."""
    ids: list[int] = []
    for message in messages:
        if message.get("type") == "history":
            ids += [event["id"] for event in message["events"]]
        elif message.get("type") == "event" and "id" in message:
            ids.append(message["id"])
    return ids


def test_websocket_reconnect_with_since_gets_exactly_the_missed(start: Start) -> None:
    """A client that reconnects with ?since=lobby:ID gets the messages it missed, in order."""
    hub = start()
    alice = join_as(hub, "alice")
    with ws_open(hub, "?nick=wendy&rooms=lobby") as ws:
        alice.send("before the blip")
        last_seen = ws_until(ws, said("before the blip"))[-1]["id"]

    missed = [f"missed {n}" for n in range(1, 6)]
    for text in missed:
        alice.send(text)
        alice.expect(f"<alice> {text}")

    with ws_open(hub, f"?nick=wendy&rooms=lobby&since=lobby:{last_seen}") as again:
        replay = ws_until(again, is_history)[-1]
        assert [e["text"] for e in replay["events"]] == missed
        assert [e["id"] for e in replay["events"]] == list(range(last_seen + 1, last_seen + 6))
        alice.send("live again")
        after = ws_until(again, said("live again"))
    # No gap and no duplicate: the replay and the live stream join up exactly.
    assert stored_ids([replay, *after]) == list(range(last_seen + 1, last_seen + 7))
    alice.close()


def test_websocket_reconnect_with_since_across_a_restart(tmp_path: Path, start: Start) -> None:
    """Ids survive a restart, so since= recovers what was said while the server was away."""
    db = str(tmp_path / "history.db")
    first = start(db=db)
    with ws_open(first, "?nick=wendy&rooms=lobby") as ws:
        talk(first, "alice", "one", "two")
        last_seen = ws_until(ws, said("two"))[-1]["id"]
        assert first.stop(signal.SIGTERM) == 0

    second = start(db=db)
    talk(second, "alice", "three", "four")
    with ws_open(second, f"?nick=wendy&rooms=lobby&since=lobby:{last_seen}") as again:
        replay = ws_until(again, is_history)[-1]
    assert [(e["id"], e["text"]) for e in replay["events"]] == [(3, "three"), (4, "four")]
