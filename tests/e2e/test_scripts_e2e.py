"""Scripts on the real process: publish with `curl -X POST` and a token made by `chathub token`,
follow with `curl -N` (Server-Sent Events), over drops, restarts and a reader that never reads.

The event-stream tests use the real curl binary, and the browser's test Debian's Chromium through
Playwright: each skipped when missing, except under CI.
"""

import contextlib
import http.client
import json
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect as ws_connect

from tests.e2e.conftest import HubProcess, TelnetClient, ci, start_hub
from tests.e2e.measure import rss_mb
from tests.e2e.test_browser import CHROMIUM_ARGS
from tests.e2e.test_browser import _missing as missing

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None  # type: ignore[assignment]

Frame = dict[str, str]


# --- the configuration: tokens made with `chathub token` ------------------------------------------


@dataclass
class Scripts:
    """The configuration file and the secrets of its tokens."""

    config: Path
    deploy: str  # deploy-bot: dev and ops, 1,000 a second
    slow: str  # slow-bot: dev only, 1 a second (a burst of 2)
    bulk: str  # bulk-bot: any room, 100,000 a second


def make_token(*argv: str) -> tuple[str, str]:
    """Run `chathub token ARGV`: the secret it shows, and the entry it prints to paste."""
    result = subprocess.run(
        [sys.executable, "-m", "chathub", "token", *argv],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    lines = result.stdout.splitlines()
    secret = next(line for line in lines if line.startswith("chathub_"))
    return secret, result.stdout[result.stdout.index("[[tokens]]") :]


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> Scripts:
    """Three tokens made once for the module (`chathub token` takes about 2 s a run)."""
    tmp_path = tmp_path_factory.mktemp("scripts")
    deploy, deploy_entry = make_token("deploy", "--rooms", "dev,ops", "--rate", "1000")
    slow, slow_entry = make_token("slow", "--rooms", "dev", "--rate", "1")
    bulk, bulk_entry = make_token("bulk", "--rate", "100000")
    config = tmp_path / "chathub.toml"
    config.write_text(f"replay = 50\n\n{deploy_entry}\n{slow_entry}\n{bulk_entry}")
    return Scripts(config, deploy, slow, bulk)


@pytest.fixture
def hub(tmp_path: Path, scripts: Scripts) -> Iterator[HubProcess]:
    """chathub with the tokens' configuration and a SQLite file (so that it can restart)."""
    running = start_hub(tmp_path, "--config", str(scripts.config))
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def restart(tmp_path: Path, hub: HubProcess, scripts: Scripts) -> HubProcess:
    """SIGTERM, then the same database, configuration and web port again."""
    assert hub.stop(signal.SIGTERM) == 0
    return start_hub(
        tmp_path, "--config", str(scripts.config),
        "--web", f"tcp:{hub.web}:interface=127.0.0.1", db=hub.db,
    )  # fmt: skip


# --- HTTP -----------------------------------------------------------------------------------------


def publish(
    hub: HubProcess,
    body: Any,
    token: str | None,
    room: str = "dev",
    key: str | None = None,
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], Any]:
    """POST to /api/rooms/ROOM/messages: (status, headers in lower case, JSON answer)."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if key is not None:
        headers["Idempotency-Key"] = key
    connection = http.client.HTTPConnection("127.0.0.1", hub.web, timeout=10)
    try:
        data = raw if raw is not None else json.dumps(body).encode()
        connection.request("POST", f"/api/rooms/{room}/messages", data, headers)
        response = connection.getresponse()
        answer = response.read()
        found = {name.lower(): value for name, value in response.getheaders()}
        return response.status, found, json.loads(answer) if answer else None
    finally:
        connection.close()


def history(hub: HubProcess, room: str = "dev") -> list[dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", hub.web, timeout=10)
    try:
        connection.request("GET", f"/api/rooms/{room}/messages?since=0&limit=500")
        events: list[dict[str, Any]] = json.loads(connection.getresponse().read())["events"]
        return events
    finally:
        connection.close()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.05)


# --- `curl -N`: an event-stream reader ------------------------------------------------------------


def curl() -> str:
    found = shutil.which("curl")
    if found is None:
        if ci():
            pytest.fail("curl is missing, and CI must run the event-stream tests")
        pytest.skip("curl is missing")
    return found


class CurlStream:
    """`curl -N URL` in the background; its events, parsed, in a queue."""

    def __init__(self, url: str, last_event_id: str | None = None) -> None:
        command = [curl(), "-sSN", url]
        if last_event_id is not None:
            command += ["-H", f"Last-Event-ID: {last_event_id}"]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.frames: queue.Queue[Frame | None] = queue.Queue()
        self.comments: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        frame: Frame = {}
        for raw in self.process.stdout:
            line = raw.decode("utf-8").rstrip("\n")
            if not line:
                if frame:
                    self.frames.put(frame)
                frame = {}
            elif line.startswith(":"):
                self.comments.put(line)
            else:
                name, _, value = line.partition(": ")
                frame[name] = value
        self.frames.put(None)  # the stream ended

    def opened(self, timeout: float = 10.0) -> None:
        """Wait for the comment the server sends first."""
        assert self.comments.get(timeout=timeout) == ": chathub event stream"

    def next(self, timeout: float = 10.0) -> Frame:
        try:
            frame = self.frames.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event within {timeout} s") from None
        if frame is None:
            raise AssertionError("the stream ended")
        return frame

    def messages(self, count: int, timeout: float = 10.0) -> list[Frame]:
        """The next `count` message events (others, such as joins, are passed over)."""
        found: list[Frame] = []
        while len(found) < count:
            frame = self.next(timeout)
            if frame.get("event") == "message":
                found.append(frame)
        return found

    def nothing_more(self, seconds: float = 0.5) -> list[Frame]:
        got: list[Frame] = []
        with contextlib.suppress(queue.Empty):
            while True:
                frame = self.frames.get(timeout=seconds)
                if frame is not None:
                    got.append(frame)
        return got

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture
def streams() -> Iterator[Callable[..., CurlStream]]:
    opened: list[CurlStream] = []

    def open_stream(url: str, last_event_id: str | None = None) -> CurlStream:
        stream = CurlStream(url, last_event_id)
        opened.append(stream)
        stream.opened()
        return stream

    yield open_stream
    for stream in opened:
        stream.kill()


def data(frame: Frame) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(frame["data"])
    return decoded


# --- publish: what users see ----------------------------------------------------------------------


def test_a_curl_post_reaches_telnet_websocket_and_an_event_stream_at_once(
    hub: HubProcess, scripts: Scripts, connect: Any, streams: Any
) -> None:
    """`curl -X POST -d '{"text":"deployed 1.2"}'` with the token `chathub token` made: a
    telnet user sees `[dev] <deploy-bot> deployed 1.2`, a WebSocket client gets the event
    with `"bot": true`, and an open `curl -N .../events` gets it too."""
    terminal: TelnetClient = connect("tel")
    terminal.send("/join dev")
    terminal.expect("[dev] -> tel joined")
    browser = ws_connect(f"ws://127.0.0.1:{hub.web}/ws?nick=web&rooms=dev", open_timeout=5)
    follower = streams(f"{hub.base_url}/api/rooms/dev/events")
    try:
        result = subprocess.run(
            [curl(), "-sS", "-X", "POST", "-H", f"Authorization: Bearer {scripts.deploy}",
             "-d", '{"text":"deployed 1.2"}', f"{hub.base_url}/api/rooms/dev/messages",
             "-w", "\n%{http_code}"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        body, status = result.stdout.rsplit("\n", 1)
        answer = json.loads(body)
        assert status == "201"
        assert answer["room"] == "dev" and isinstance(answer["id"], int)

        assert "[dev] <deploy-bot> deployed 1.2" in terminal.expect("deployed 1.2")[-1]
        while True:
            message = json.loads(browser.recv(timeout=10))
            if message.get("type") == "event" and message.get("kind") == "message":
                break
        assert (message["nick"], message["text"], message["id"], message["bot"]) == (
            "deploy-bot", "deployed 1.2", answer["id"], True,
        )  # fmt: skip
        (frame,) = follower.messages(1)
        assert frame["id"] == f"dev:{answer['id']}"
        assert (data(frame)["nick"], data(frame)["text"], data(frame)["bot"]) == (
            "deploy-bot", "deployed 1.2", True,
        )  # fmt: skip
    finally:
        browser.close()


def test_several_rooms_on_one_stream(hub: HubProcess, scripts: Scripts, streams: Any) -> None:
    """`/api/events?rooms=dev,ops`: both rooms' events, each id naming both rooms."""
    follower = streams(f"{hub.base_url}/api/events?rooms=dev,ops")
    publish(hub, {"text": "to dev"}, scripts.deploy, "dev")
    publish(hub, {"text": "to ops"}, scripts.deploy, "ops")
    frames = follower.messages(2)
    assert [data(frame)["text"] for frame in frames] == ["to dev", "to ops"]
    assert [frame["id"] for frame in frames] == ["dev:1,ops:0", "dev:1,ops:1"]


# --- every status ---------------------------------------------------------------------------------


def test_every_status_of_publishing(hub: HubProcess, scripts: Scripts) -> None:
    """201 (one, and an array with ids), 400, 401 with WWW-Authenticate, 403, 413 (items, text,
    body), 429 with Retry-After: each a JSON error, and only the 201s are in history."""
    assert publish(hub, {"text": "one"}, scripts.deploy)[0] == 201
    status, _, answer = publish(hub, [{"text": "two"}, {"text": "three"}], scripts.deploy)
    assert (status, answer["ids"]) == (201, [2, 3])

    for raw in (b"not json", b"{}", b'{"text": ""}', b'{"text": "x", "kind": "join"}'):
        status, _, answer = publish(hub, None, scripts.deploy, raw=raw)
        assert status == 400 and answer["error"] in ("bad-json", "bad-request", "empty")
    assert publish(hub, {"text": "x"}, scripts.deploy, room="no.room")[0] == 400

    for token in (None, "chathub_not-a-token"):
        status, headers, answer = publish(hub, {"text": "x"}, token)
        assert (status, answer["error"], headers["www-authenticate"]) == (
            401, "unauthorized", "Bearer",
        )  # fmt: skip

    status, _, answer = publish(hub, {"text": "x"}, scripts.deploy, room="lobby")
    assert (status, answer["error"]) == (403, "forbidden")

    assert publish(hub, [{"text": "x"}] * 101, scripts.deploy)[0] == 413
    assert publish(hub, {"text": "x" * 4001}, scripts.deploy)[0] == 413
    status, _, answer = publish(hub, None, scripts.deploy, raw=b'{"text":"' + b"x" * 1_100_000)
    assert status == 413 and answer["error"]

    assert [publish(hub, {"text": "s"}, scripts.slow)[0] for _ in range(2)] == [201, 201]
    status, headers, answer = publish(hub, {"text": "s"}, scripts.slow)
    assert (status, answer["error"]) == (429, "rate-limited")
    assert int(headers["retry-after"]) >= 1

    assert [event["text"] for event in history(hub)] == ["one", "two", "three", "s", "s"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs for the database, that a test can fill up (needs root and mount)."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_while_history_cannot_be_written_503_with_retry_after(
    tmp_path: Path, scripts: Scripts, small_disk: Path
) -> None:
    """The disk under the database is full: messages wait unwritten, and once the oldest has
    waited too long a publish is 503 with Retry-After and publishes nothing. Room on the disk
    again: history catches up and publishing works."""
    running = start_hub(tmp_path, "--config", str(scripts.config), db=str(small_disk / "h.db"))
    filler = small_disk / "filler"
    try:
        assert publish(running, {"text": "before"}, scripts.deploy)[0] == 201
        wait_for(lambda: len(history(running)) == 1, what="the first message")
        # Fill the disk to the last block (unbuffered: nothing is left to fail at close).
        with contextlib.suppress(OSError), open(filler, "wb", buffering=0) as out:
            while True:
                out.write(b"\0" * 65536)
        assert publish(running, {"text": "stuck"}, scripts.deploy)[0] == 201
        statuses: list[tuple[int, dict[str, str], Any]] = []

        def refused() -> bool:
            statuses.append(publish(running, {"text": "refused"}, scripts.deploy))
            return statuses[-1][0] == 503

        wait_for(refused, timeout=10, what="a 503")
        _, headers, answer = statuses[-1]
        assert answer["error"] == "unavailable" and int(headers["retry-after"]) >= 1
        published_before_503 = sum(1 for answer in statuses if answer[0] == 201)
        filler.unlink()
        wait_for(lambda: publish(running, {"text": "after"}, scripts.deploy)[0] == 201,
                 timeout=15, what="publishing again")  # fmt: skip
        texts = [event["text"] for event in history(running)]
        assert texts[:2] == ["before", "stuck"] and texts[-1] == "after"
        assert texts.count("refused") == published_before_503  # a 503 published nothing
        assert running.stop(signal.SIGTERM) == 0
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


# --- idempotency ----------------------------------------------------------------------------------


def test_a_retry_after_a_dropped_answer_publishes_once(hub: HubProcess, scripts: Scripts) -> None:
    """The script's connection drops after it sent the request and before it read the answer;
    it retries with the same Idempotency-Key: the same answer, and one message in history."""
    body = json.dumps({"text": "deployed 2.0"}).encode()
    request = (
        b"POST /api/rooms/dev/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + scripts.deploy.encode() + b"\r\n"
        b"Idempotency-Key: deploy-2.0\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    with socket.create_connection(("127.0.0.1", hub.web), timeout=5) as dropped:
        dropped.sendall(request)
    # The request arrived whole before the close: the hub published it, nobody read the answer.
    wait_for(lambda: len(history(hub)) == 1, what="the first attempt in history")
    status, _, answer = publish(hub, {"text": "deployed 2.0"}, scripts.deploy, key="deploy-2.0")
    assert (status, answer["id"]) == (201, history(hub)[0]["id"])
    again = publish(hub, {"text": "deployed 2.0"}, scripts.deploy, key="deploy-2.0")
    assert again[:3:2] == (201, answer)
    assert [event["text"] for event in history(hub)] == ["deployed 2.0"]


# --- following: resuming where the reader was -----------------------------------------------------


def test_a_reader_that_reconnects_with_last_event_id_gets_exactly_what_it_missed(
    hub: HubProcess, scripts: Scripts, streams: Any
) -> None:
    """Kill `curl -N`, publish 5 messages, reconnect with the last id it had: exactly those 5,
    in order, then live ones."""
    url = f"{hub.base_url}/api/rooms/dev/events"
    first = streams(url)
    publish(hub, {"text": "seen"}, scripts.deploy)
    last_id = first.messages(1)[0]["id"]
    first.kill()
    for n in range(1, 6):
        assert publish(hub, {"text": f"missed {n}"}, scripts.deploy)[0] == 201
    second = streams(url, last_id)
    publish(hub, {"text": "live"}, scripts.deploy)
    frames = second.messages(6)
    assert [data(frame)["text"] for frame in frames] == [
        "missed 1", "missed 2", "missed 3", "missed 4", "missed 5", "live",
    ]  # fmt: skip
    assert [frame["id"] for frame in frames] == [f"dev:{n}" for n in range(2, 8)]
    assert second.nothing_more() == []


def test_last_event_id_resumes_across_a_server_restart(
    tmp_path: Path, hub: HubProcess, scripts: Scripts, streams: Any
) -> None:
    """The same, with the server restarted (SIGTERM, same --db) while the reader was away:
    the stream ends with a notice, and a reconnect gets exactly the 5 it missed."""
    url = f"{hub.base_url}/api/rooms/dev/events"
    first = streams(url)
    publish(hub, {"text": "seen"}, scripts.deploy)
    last_id = first.messages(1)[0]["id"]
    second_hub = restart(tmp_path, hub, scripts)
    assert data(first.next())["text"] == "server shutting down"
    first.process.wait(10)  # the server ended the stream
    for n in range(1, 6):
        assert publish(second_hub, {"text": f"missed {n}"}, scripts.deploy)[0] == 201
    second = streams(url, last_id)
    assert [data(frame)["text"] for frame in second.messages(5)] == [
        f"missed {n}" for n in range(1, 6)
    ]
    assert second.nothing_more() == []
    assert second_hub.stop(signal.SIGTERM) == 0


# --- a reader that never reads --------------------------------------------------------------------


RSS_GROWTH_LIMIT_MB = 32.0  # what the hub may grow by while 100 MB wait for one reader


def test_a_reader_that_never_reads_costs_a_bounded_amount(tmp_path: Path, scripts: Scripts) -> None:
    """A raw socket asks for the event stream and never reads. 25,000 messages of 4,000
    characters (100 MB for that reader) are published; the hub's RSS grows by less than
    `RSS_GROWTH_LIMIT_MB` (history's own cost is bounded by --retain-messages 1000), and when
    the reader does read it gets `event: gap` naming how much was skipped (or was cut off)."""
    running = start_hub(
        tmp_path, "--config", str(scripts.config), "--retain-messages", "1000", db=":memory:"
    )
    stalled = socket.socket()
    try:
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", running.web))
        stalled.sendall(b"GET /api/rooms/dev/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(0.5)  # the stream is open (its first comment is waiting in our buffer)
        before = rss_mb(running.process.pid)
        text = "x" * 4000
        peak = before
        for _ in range(250):
            status, _, _ = publish(running, [{"text": text}] * 100, scripts.bulk)
            assert status == 201
            peak = max(peak, rss_mb(running.process.pid))
        growth = peak - before
        print(f"RSS {before:.1f} MiB before, {peak:.1f} MiB at most: +{growth:.1f} MiB")
        assert growth < RSS_GROWTH_LIMIT_MB
        # Now it reads: what was kept for it, then the gap; then live events again.
        stalled.settimeout(10)
        received = read_until(stalled, b"event: gap")
        assert b"event: gap" in received, "neither a gap nor a cut"
        gap = received.split(b"event: gap\n", 1)[1]
        id_line, data_line = gap.split(b"\n")[:2]
        skipped = json.loads(data_line[len(b"data: ") :])
        assert skipped["room"] == "dev" and skipped["skipped"] > 20_000
        assert id_line == f"id: dev:{skipped['since']}".encode()
        publish(running, {"text": "live"}, scripts.bulk)
        assert b'"text":"live"' in read_until(stalled, b'"text":"live"')
        assert running.stop(signal.SIGTERM) == 0
    finally:
        stalled.close()
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def read_until(sock: socket.socket, wanted: bytes) -> bytes:
    """What `sock` receives until the event holding `wanted` has come whole (or the server
    closed it). The body is chunked: each event is a chunk of its own."""
    received = b""
    while wanted not in received or b"\n\n" not in received.split(wanted, 1)[1]:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        received += chunk
    return received


def test_head_on_a_stream_gets_its_headers_and_no_stream(hub: HubProcess) -> None:
    """The answer is `text/event-stream`, not cached; a HEAD gets the same and no stream."""
    connection = http.client.HTTPConnection("127.0.0.1", hub.web, timeout=10)
    try:
        connection.request("HEAD", "/api/rooms/dev/events")
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        assert response.getheader("content-type") == "text/event-stream; charset=utf-8"
        assert response.getheader("cache-control") == "no-store"
    finally:
        connection.close()


def test_a_bad_stream_request_is_a_json_400(hub: HubProcess) -> None:
    """A bad room or `since` is a JSON error, not a stream."""
    for path in ("/api/rooms/no.room/events", "/api/events", "/api/rooms/dev/events?since=x"):
        connection = http.client.HTTPConnection("127.0.0.1", hub.web, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            assert response.status == 400, path
            assert json.loads(response.read())["error"] in ("bad-room", "bad-since")
        finally:
            connection.close()


# --- a browser's EventSource ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's) through Playwright, as tests/e2e/test_browser.py has it."""
    executable = shutil.which("chromium")
    if sync_playwright is None:
        missing("the playwright package")
    if executable is None:
        missing("chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


FOLLOW = """() => {
    window.got = [];
    window.opened = 0;
    const source = new EventSource("/api/rooms/dev/events");
    source.onopen = () => { window.opened += 1; };
    source.addEventListener("message", (e) => {
        window.got.push({ id: e.lastEventId, text: JSON.parse(e.data).text });
    });
    source.addEventListener("notice", (e) => {
        window.got.push({ notice: JSON.parse(e.data).text });
    });
}"""


def test_a_browser_event_source_gets_events_and_resumes_after_a_restart(
    tmp_path: Path, hub: HubProcess, scripts: Scripts, browser: Any
) -> None:
    """`new EventSource("/api/rooms/dev/events")` in Chromium gets a published message; the
    server restarts (same port and --db) and two more are published: the browser reconnects by
    itself with Last-Event-ID and gets exactly those two, no replay of the first."""
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(hub.base_url + "/healthz")
        page.evaluate(FOLLOW)
        page.wait_for_function("window.opened === 1", timeout=10_000)
        publish(hub, {"text": "before the restart"}, scripts.deploy)
        page.wait_for_function("window.got.length === 1", timeout=10_000)
        second_hub = restart(tmp_path, hub, scripts)
        publish(second_hub, {"text": "after 1"}, scripts.deploy)
        publish(second_hub, {"text": "after 2"}, scripts.deploy)
        page.wait_for_function("window.got.filter((e) => e.text).length >= 3", timeout=30_000)
        time.sleep(0.5)  # anything more (a duplicate) would have come by now
        got = page.evaluate("window.got")
        assert [event for event in got if "text" in event] == [
            {"id": "dev:1", "text": "before the restart"},
            {"id": "dev:2", "text": "after 1"},
            {"id": "dev:3", "text": "after 2"},
        ]
        assert {"notice": "server shutting down"} in got
        assert page.evaluate("window.opened") >= 2
        assert errors == []
        assert second_hub.stop(signal.SIGTERM) == 0
    finally:
        context.close()
