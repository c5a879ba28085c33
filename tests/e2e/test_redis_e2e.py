"""Many processes as one hub: real chathub processes sharing a real redis-server (started by the
test on a free loopback port, stopped by its PID). Skipped when redis-server is missing, except
under CI, where that is a failure; the browser test likewise for Chromium."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import HubProcess, TelnetClient, start_hub
from tests.e2e.test_browser import WAIT_MS, ChatPage, browser  # noqa: F401 - the fixture
from tests.redis_server import RedisServer

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips or fails first
    expect = None


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def hub_on(redis: RedisServer, tmp_path: Path, name: str, *args: str) -> HubProcess:
    where = tmp_path / name
    where.mkdir(exist_ok=True)
    return start_hub(where, "--redis", redis.url, *args, db=":memory:")


@pytest.fixture
def two(redis: RedisServer, tmp_path: Path) -> Iterator[tuple[HubProcess, HubProcess]]:
    """Two chathub processes joined through one Redis."""
    first = hub_on(redis, tmp_path, "one")
    second = hub_on(redis, tmp_path, "two")
    yield first, second
    for hub in (first, second):
        if hub.process.poll() is None:
            hub.process.kill()
            hub.process.wait()


def client(hub: HubProcess, nick: str) -> TelnetClient:
    telnet = TelnetClient(hub.telnet)
    telnet.expect("type /help")
    telnet.send(f"/nick {nick}")
    telnet.expect(f"is now known as {nick}")
    return telnet


def get_json(hub: HubProcess, path: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(hub.base_url + path, timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def who(telnet: TelnetClient, room: str = "lobby") -> list[str]:
    telnet.send(f"/who {room}")
    line = telnet.expect(f"* members of {room}:")[-1]
    return sorted(line.split(":", 1)[1].strip().split(", "))


# --- one hub from any process --------------------------------------------------------------------


def test_telnet_on_one_process_and_the_page_on_the_other_share_a_room(two, browser):  # noqa: F811
    """A telnet user of the first process and a browser user of the second talk both ways."""
    first, second = two
    bob = client(first, "bob")
    context = browser.new_context(viewport={"width": 1200, "height": 760})
    try:
        chat = ChatPage(context.new_page())
        chat.open(second.base_url + "/")
        chat.set_nick("alice")
        bob.expect("is now known as alice")
        chat.type("hello from the page")
        bob.expect("[lobby] <alice> hello from the page")
        bob.send("hello from telnet")
        line = chat.messages("lobby", "hello from telnet")
        expect(line).to_have_count(1, timeout=WAIT_MS)
        expect(chat.page.locator("#member-list")).to_contain_text("bob", timeout=WAIT_MS)
        assert chat.errors == []
    finally:
        context.close()


def test_who_and_room_lists_show_the_members_of_both_processes(two):
    first, second = two
    alice, bob = client(first, "alice"), client(second, "bob")
    alice.send("/join dev")
    alice.expect("[dev] -> alice joined")
    assert who(alice) == who(bob) == ["alice", "bob"]
    assert who(bob, "dev") == ["alice"]
    bob.send("/rooms")
    assert "lobby (2), dev (1)" in bob.expect("* rooms:")[-1]
    for hub in two:
        rooms = {room["name"]: room["members"] for room in get_json(hub, "/api/rooms")["rooms"]}
        assert rooms == {"lobby": 2, "dev": 1}


def test_a_nick_held_on_one_process_is_refused_on_the_other_lookalikes_too(two):
    first, second = two
    alice = client(first, "alice")
    carol = client(second, "carol")
    for taken in ("alice", "ALICE", "aIice", "a1ice"):
        carol.send(f"/nick {taken}")
        assert "is taken" in carol.expect("! the nick")[-1]
    other = TelnetClient(second.telnet)
    other.expect("type /help")
    other.send("/nick bob")
    other.expect("is now known as bob")
    carol.send("/msg alice hi from afar")
    carol.expect("<carol> hi from afar")
    assert alice.expect("[pm] <carol> hi from afar")


def test_since_and_the_event_stream_answer_the_same_events_with_the_same_ids_anywhere(two):
    """History, `since` and SSE from either process: one room, one sequence of ids."""
    first, second = two
    alice, bob = client(first, "alice"), client(second, "bob")
    for n in range(6):  # one at a time: each sender's turn comes after the last was seen
        (alice if n % 2 else bob).send(f"message {n}")
        bob.expect(f"message {n}")
        alice.expect(f"message {n}")
    answers = [get_json(hub, "/api/rooms/lobby/messages?since=2")["events"] for hub in two]
    assert answers[0] == answers[1]
    assert [event["id"] for event in answers[0]] == [3, 4, 5, 6]
    assert [event["text"] for event in answers[0]] == [f"message {n}" for n in range(2, 6)]
    streams = [sse_events(hub, "lobby:2", 4) for hub in two]
    assert streams[0] == streams[1] == [(f"lobby:{n + 1}", f"message {n}") for n in range(2, 6)]
    alice.send("/since 4")
    assert alice.expect("message 5")[-1].startswith("[lobby #6 ")


def sse_events(hub: HubProcess, since: str, count: int) -> list[tuple[str, str]]:
    """The first `count` stored events of the lobby's stream after `since`: (id, text)."""
    connection = http.client.HTTPConnection("127.0.0.1", hub.web, timeout=5)
    connection.request("GET", f"/api/rooms/lobby/events?since={since}")
    response = connection.getresponse()
    assert response.status == 200
    events: list[tuple[str, str]] = []
    event_id = None
    while len(events) < count:
        line = response.readline().decode().rstrip("\n")
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: ") and event_id is not None:
            events.append((event_id, json.loads(line[6:])["text"]))
            event_id = None
    connection.close()
    return events


def test_the_counter_is_one_count_for_every_process(two):
    first, second = two
    numbers = []
    for hub in (first, second, first, second):
        with urllib.request.urlopen(hub.base_url + "/counter", timeout=5) as response:
            numbers.append(int(response.read().decode().rsplit("#", 1)[1]))
    assert numbers == list(range(numbers[0], numbers[0] + 4))


# --- faults -----------------------------------------------------------------------------------


def workers_of(supervisor: int) -> list[int]:
    found = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [int(pid) for pid in found if "worker" in Path(f"/proc/{pid}/cmdline").read_text()]


def worker_holding(workers: list[int], telnet: TelnetClient) -> int | None:
    """The worker whose socket is the other end of `telnet` (from /proc)."""
    own_port = telnet.sock.getsockname()[1]
    inodes: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == own_port:
                inodes[fields[9]] = own_port
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return pid
    return None


def test_a_worker_killed_with_kill_9_leaves_everyones_who_within_10_seconds(redis, tmp_path):
    """Users of a worker killed with -9 leave `who` everywhere within 10 s; the rest go on."""
    hub = start_hub(tmp_path, "--workers", "2", "--redis", redis.url, db=":memory:")
    try:
        workers = workers_of(hub.process.pid)
        assert len(workers) == 2
        clients: dict[int, list[tuple[str, TelnetClient]]] = {pid: [] for pid in workers}
        for n in range(40):
            telnet = client(hub, f"user{n}")
            pid = worker_holding(workers, telnet)
            assert pid is not None
            clients[pid].append((f"user{n}", telnet))
            if n >= 3 and all(len(held) >= 2 for held in clients.values()):
                break
        victim, survivor = workers
        witness = clients[survivor][0][1]
        everyone = sorted(nick for held in clients.values() for nick, _ in held)
        assert who(witness) == everyone
        os.kill(victim, signal.SIGKILL)
        gone = {nick for nick, _ in clients[victim]}
        seen: list[str] = []  # the part lines may come while `who` is being read

        def gone_from_who() -> bool:
            witness.send("/who lobby")
            lines = witness.expect("* members of lobby:")
            seen.extend(lines)
            return not gone & set(lines[-1].split(":", 1)[1].strip().split(", "))

        took = wait_for(gone_from_who, 10.0, "the killed worker's users")
        assert took < 10.0
        parts = [line for line in seen if "left (lost with its server)" in line]
        parted = " ".join(parts or witness.expect("left (lost with its server)"))
        assert all(nick in parted for nick in gone) or len(gone) > 3
        witness.send("still here")
        clients[survivor][-1][1].expect("still here")
    finally:
        hub.stop()


def test_redis_stopped_10_s_clients_are_told_refusals_get_errors_and_chat_resumes(two, redis):
    """Redis stopped for 10 s and started again: every client is told, every message sent
    meanwhile is refused with an error, and chat resumes by itself."""
    first, second = two
    alice, bob = client(first, "alice"), client(second, "bob")
    redis.stop()
    for telnet in (alice, bob):
        telnet.expect("lost its link to the other chathub servers", timeout=10)
    refused = 0
    started = time.monotonic()
    while time.monotonic() - started < 10:
        alice.send(f"while away {refused}")
        assert alice.expect("! ")[-1].startswith("! the message could not be delivered")
        refused += 1
        time.sleep(1)
    assert refused >= 5
    redis.start()
    for telnet in (alice, bob):
        telnet.expect("linked to the other chathub servers again", timeout=15)
    alice.send("after the outage")
    bob.expect("[lobby] <alice> after the outage")
    assert who(bob) == ["alice", "bob"]
    events = get_json(second, "/api/rooms/lobby/messages")["events"]
    assert [event["text"] for event in events] == ["after the outage"]  # nothing refused kept


def test_redis_unreachable_at_start_is_one_line_and_exit_1(tmp_path):
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    url = f"redis://127.0.0.1:{port.getsockname()[1]}/0"
    port.close()
    done = subprocess.run(
        [sys.executable, "-m", "chathub", "--redis", url, "--telnet", "tcp:0", "--web", "tcp:0"],
        capture_output=True, timeout=30, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"chathub: cannot use Redis at {url}")


def test_workers_without_redis_run_a_private_redis_that_keeps_history_across_restarts(tmp_path):
    """`--workers 2` alone: a private redis-server on a UNIX socket, data next to --db."""
    RedisServer(tmp_path / "unused")  # skips (or fails under CI) without redis-server
    db = str(tmp_path / "chat.db")
    hub = start_hub(tmp_path, "--workers", "2", db=db)
    try:
        children = Path(f"/proc/{hub.process.pid}/task/{hub.process.pid}/children").read_text()
        [private] = [
            int(pid) for pid in children.split()
            if "redis-server" in Path(f"/proc/{pid}/cmdline").read_text()
        ]  # fmt: skip
        assert "unixsocket" in Path(f"/proc/{private}/cmdline").read_text()
        talkers = [client(hub, f"n{n}") for n in range(4)]
        talkers[0].send("kept across restarts")
        for telnet in talkers:
            telnet.expect("kept across restarts")
    finally:
        assert hub.stop() == 0
    assert not Path(f"/proc/{private}").exists()  # stopped with chathub
    assert (tmp_path / "chat.db.redis").is_dir()
    again = start_hub(tmp_path, "--workers", "2", db=db)
    try:
        events = get_json(again, "/api/rooms/lobby/messages")["events"]
        assert [(e["id"], e["text"]) for e in events] == [(1, "kept across restarts")]
    finally:
        assert again.stop() == 0


def test_with_a_fan_out_window_every_process_delivers_everything_in_order(redis, tmp_path):
    """`--fan-out-window`: messages coming faster than the window are held and delivered
    together when it ends, on the publisher's process and the other; nothing is lost or
    reordered, every sender gets its own copy, a message after a quiet moment goes out at
    once, and one right after it waits for the rest of its window (the timer that ends it
    fires on the real reactor)."""
    window = 0.5
    flags = ("--fan-out-window", str(window), "--paste-window", "0")
    first, second = (hub_on(redis, tmp_path, name, *flags) for name in ("one", "two"))
    try:
        alice, bob, carol = client(first, "alice"), client(first, "bob"), client(second, "carol")
        for telnet in (alice, bob, carol):
            who(telnet)  # each joined, its own join announced, before the burst
        texts = [f"burst {n}" for n in range(15)]
        for text in texts:
            alice.send(text)
            time.sleep(0.01)  # all within one window: all but the first wait for its end
        for telnet in (alice, bob, carol):
            lines = telnet.expect(texts[-1], timeout=10)
            said = [line.split("> ", 1)[1] for line in lines if "<alice> burst" in line]
            assert said == texts, said
        time.sleep(window + 0.2)  # a quiet window: the next one goes out at once
        carol.send("after the burst")
        for telnet in (alice, bob, carol):
            telnet.expect("<carol> after the burst", timeout=10)
        sent = time.monotonic()
        carol.send("right after it")  # inside the window the last one opened: it waits
        alice.expect("<carol> right after it", timeout=10)
        held = time.monotonic() - sent
        assert held >= window / 2, f"delivered {held:.3f} s after it was sent: not held"
        answer = get_json(second, "/api/rooms/lobby/messages?since=0")["events"]
        assert [event["text"] for event in answer] == [*texts, "after the burst", "right after it"]
        assert [event["id"] for event in answer] == list(range(1, 18))
    finally:
        for hub in (first, second):
            hub.process.kill()
            hub.process.wait()
