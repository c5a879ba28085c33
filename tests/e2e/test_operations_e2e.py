"""Operations on the real process: /metrics, /readyz and /livez on the admin port, the drain on
SIGTERM with thousands of clients, the JSON log, and a page that outlives a restart.

Loopback only: the drain's clients bind source addresses 127.0.0.2 and up (the hub allows 50
connections per address). `promtool` (Debian's `prometheus`) and Chromium are skipped when
missing, except under CI, where that is a failure.
"""

import asyncio
import contextlib
import json
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import HubProcess, TelnetClient, ci, start_hub
from tests.e2e.test_browser import CHROMIUM_ARGS, ChatPage, sync_playwright
from tests.e2e.test_websocket_e2e import WebClient, event

with contextlib.suppress(ImportError):  # the test extra installs it; the test skips without
    from playwright.sync_api import Browser, expect

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def http_get(url: str) -> tuple[int, dict[str, str], bytes]:
    """GET `url`: (status, headers, body), error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def admin(hub: HubProcess, path: str) -> tuple[int, dict[str, str], bytes]:
    assert hub.admin is not None, "the ports file names the admin port"
    return http_get(f"http://127.0.0.1:{hub.admin}{path}")


def scrape(hub: HubProcess) -> Samples:
    """`/metrics` on the admin port, parsed by prometheus_client's parser."""
    code, headers, body = admin(hub, "/metrics")
    assert code == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)


def greeted(hub: HubProcess, nick: str) -> TelnetClient:
    client = TelnetClient(hub.telnet)
    client.expect("type /help")
    client.send(f"/nick {nick}")
    client.expect(f"is now known as {nick}")
    return client


def expect_all(client: WebClient, *wanted: Callable[[dict[str, Any]], bool]) -> None:
    """Read messages until each of `wanted` has matched one, in any order."""
    waiting = list(wanted)

    def matches(message: dict[str, Any]) -> bool:
        waiting[:] = [w for w in waiting if not w(message)]
        return not waiting

    client.expect(matches)


# --- /metrics ---------------------------------------------------------------------------------


def test_metrics_pass_promtool_check(hub: HubProcess):
    """The real /metrics, after some traffic, is accepted by `promtool check metrics`."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if ci():
            pytest.fail("promtool is missing (Debian's prometheus package), and CI must run it")
        pytest.skip("promtool is missing (Debian's prometheus package)")
    alice = greeted(hub, "alice")
    alice.send("hello metrics")
    alice.expect("<alice> hello metrics")
    http_get(hub.base_url + "/api/rooms/lobby/messages")
    http_get(hub.base_url + "/no/such/page")
    code, _, body = admin(hub, "/metrics")
    assert code == 200 and body.startswith(b"# HELP chathub_")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    alice.close()


def test_counters_move_with_traffic_on_telnet_websocket_and_http(hub: HubProcess):
    """Messages in, deliveries and connections by transport, and HTTP requests by path class
    and status, move by what the test did."""
    alice = greeted(hub, "alice")
    web = WebClient(hub, "?nick=webby&rooms=lobby")
    web.expect(lambda m: m["type"] == "welcome")
    alice.expect("-> webby joined")
    before = scrape(hub)
    assert value(before, "chathub_connections", transport="telnet") == 1
    assert value(before, "chathub_connections", transport="ws") == 1

    alice.send("one from telnet")
    alice.send("/me waves from telnet")
    web.send(op="say", room="lobby", text="one from the web", ref=1)
    # No ref: the hub does not count a sender's own ref'd copy of a pm (see test_traffic.py).
    web.send(op="msg", to="alice", text="psst")
    alice.expect("[pm] <webby> psst")
    # The two connections are read in either order: wait for the last of each's.
    pm = lambda m: m["type"] == "pm" and m["text"] == "psst"  # noqa: E731
    expect_all(web, event("action", text="waves from telnet"), pm)
    pages = {
        "/": 200,
        "/api/rooms/lobby/messages": 200,
        "/api/rooms/lobby/messages?since=nonsense": 400,
        "/rooms/lobby": 200,
        "/no/such/page": 404,
    }
    for path, status in pages.items():
        assert http_get(hub.base_url + path)[0] == status, path
    after = scrape(hub)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("chathub_messages_in_total", transport="telnet") == 2
    assert moved("chathub_messages_in_total", transport="ws") == 2
    # Three room messages to one telnet and one ws member, and the pm to each end.
    assert moved("chathub_deliveries_total", transport="telnet") == 4
    assert moved("chathub_deliveries_total", transport="ws") == 4
    assert moved("chathub_http_requests_total", path="page", status="200") == 1
    assert moved("chathub_http_requests_total", path="api_messages", status="200") == 1
    assert moved("chathub_http_requests_total", path="api_messages", status="400") == 1
    assert moved("chathub_http_requests_total", path="transcript", status="200") == 1
    assert moved("chathub_http_requests_total", path="other", status="404") == 1
    assert not any("lobby" in str(labels) for _, labels in after)

    alice.send("/quit")
    alice.read_until_closed()
    wait_for(lambda: value(scrape(hub), "chathub_connections", transport="telnet") == 0)
    final = scrape(hub)
    assert value(final, "chathub_connections_opened_total", transport="telnet") == 1
    assert value(final, "chathub_connections_opened_total", transport="ws") == 1
    assert value(final, "chathub_connections", transport="ws") == 1
    web.close()


# --- /readyz and /livez -----------------------------------------------------------------------


def test_readyz_turns_503_at_once_after_sigterm_while_clients_are_still_being_closed(tmp_path):
    """/readyz is 200 while serving, and 503 right after SIGTERM, before most clients are
    closed; /livez and /metrics still answer during the drain."""
    hub = start_hub(tmp_path, "--drain-seconds", "3", db=":memory:")
    try:
        clients = [TelnetClient(hub.telnet) for _ in range(40)]
        for client in clients:
            client.expect("type /help")
        code, _, body = admin(hub, "/readyz")
        assert (code, json.loads(body)) == (200, {"status": "ready"})
        assert admin(hub, "/livez")[0] == 200

        hub.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        wait_for(lambda: admin(hub, "/readyz")[0] == 503, timeout=1.0, what="/readyz 503")
        turned = time.monotonic() - signalled
        still_open = sum(1 for client in clients if not closed_yet(client))
        code, _, body = admin(hub, "/readyz")
        assert code == 503 and "draining: shutting down" in json.loads(body)["problems"]
        assert admin(hub, "/livez")[0] == 200
        assert scrape(hub)[("chathub_ready", ())] == 0
        assert turned < 0.5
        assert still_open >= 20, "most clients are still open when /readyz says 503"
        for client in clients:
            assert "* server shutting down" in client.read_until_closed(timeout=5)
        assert hub.process.wait(timeout=5) == 0
    finally:
        if hub.process.poll() is None:
            hub.process.kill()


def closed_yet(client: TelnetClient) -> bool:
    """Whether the server has closed `client` (reads what is waiting, without blocking)."""
    client.sock.setblocking(False)
    try:
        while True:
            chunk = client.sock.recv(65536)
            if not chunk:
                return True
            client._buffer += chunk
    except BlockingIOError:
        return False
    finally:
        client.sock.setblocking(True)


# --- the log ----------------------------------------------------------------------------------


def test_the_log_is_json_lines_with_listening_and_draining_and_no_message_text(tmp_path):
    """stderr (not a terminal) gets one JSON object per line: listening, draining, stopped;
    nothing anyone said appears in it."""
    hub = start_hub(tmp_path, "--drain-seconds", "1", db=str(tmp_path / "log.db"))
    marker = "zanzibar-marker-4711"
    alice = greeted(hub, "alice")
    web = WebClient(hub, "?nick=webby")
    web.expect(lambda m: m["type"] == "welcome")
    alice.send(f"the secret word is {marker}")
    web.send(op="msg", to="alice", text=f"private {marker}", ref=1)
    web.send(op="say", room="lobby", text=f"said on the web {marker}", ref=2)
    alice.expect(f"<webby> said on the web {marker}")
    http_get(hub.base_url + f"/api/rooms/lobby/messages?q={marker}")
    assert hub.stop(signal.SIGTERM) == 0
    alice.close()
    web.close()

    log = (tmp_path / "hub.log").read_text()
    assert marker not in log
    events = []
    for line in log.splitlines():
        if line.startswith("chathub: serving "):
            continue  # cli.py's one-line banner (not a log event): see the report
        events.append(json.loads(line))
    assert events, "the process logged nothing"
    for entry in events:
        assert {"time", "level", "event"} <= set(entry)
        assert all(isinstance(v, str | int | float | bool | type(None)) for v in entry.values())
    said = [entry["event"] for entry in events]
    for transport in ("telnet", "web", "admin"):
        assert any(e.startswith(f"listening for {transport} on ") for e in said), said
    assert any(e.startswith("draining: ") for e in said), said
    assert any(e.startswith("stopped") for e in said), said
    assert said.index(next(e for e in said if e.startswith("draining"))) > said.index(
        next(e for e in said if e.startswith("listening"))
    )


# --- the drain --------------------------------------------------------------------------------

DRAIN_CLIENTS = 2000
PER_ADDRESS = 40  # under the hub's 50 connections per address
DRAIN_SECONDS = 4.0
SHUTTING_DOWN = "server shutting down"


@dataclass
class Drained:
    """What one client of the drain saw."""

    kind: str  # "telnet" or "ws"
    greeted: asyncio.Event = field(default_factory=asyncio.Event)
    told_at: float | None = None  # when "server shutting down" came
    closed_at: float | None = None  # when the server closed the connection
    close_code: int | None = None  # WebSocket only
    after_close: list[str] = field(default_factory=list)  # anything odd, for the message


async def telnet_drained(port: int, source: str, record: Drained) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        while line := await reader.readline():
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if "type /help" in text:
                record.greeted.set()
            elif text == f"* {SHUTTING_DOWN}":
                record.told_at = time.monotonic()
    except ConnectionError as problem:  # a reset is a close too, but not a graceful one
        record.after_close.append(repr(problem))
    finally:
        record.closed_at = time.monotonic()
        writer.close()


async def ws_drained(port: int, source: str, record: Drained) -> None:
    uri = f"ws://127.0.0.1:{port}/ws?rooms=lobby"
    async with ws_connect(
        uri, local_addr=(source, 0), open_timeout=30, ping_interval=None, compression=None
    ) as ws:
        try:
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "welcome":
                    record.greeted.set()
                elif message.get("kind") == "notice" and message.get("text") == SHUTTING_DOWN:
                    record.told_at = time.monotonic()
        except ConnectionClosed:
            pass
        record.closed_at = time.monotonic()
        record.close_code = ws.close_code


async def drain_many(hub: HubProcess) -> tuple[list[Drained], float, float]:
    """Connect DRAIN_CLIENTS (telnet and /ws alternating, PER_ADDRESS per source address),
    SIGTERM the hub once all are greeted, and follow each until the server closes it.
    Returns the records, when the signal was sent and when the process exited."""
    records: list[Drained] = []
    tasks: list[asyncio.Task[None]] = []
    for n in range(DRAIN_CLIENTS):
        source = f"127.0.0.{2 + n // PER_ADDRESS}"
        record = Drained("ws" if n % 2 else "telnet")
        client = ws_drained(hub.web, source, record) if n % 2 else telnet_drained(
            hub.telnet, source, record
        )  # fmt: skip
        records.append(record)
        tasks.append(asyncio.create_task(client))
        if n % 100 == 99:  # a hundred at a time, each greeted before the next
            batch = records[-100:]
            await asyncio.wait_for(asyncio.gather(*(r.greeted.wait() for r in batch)), 30)
    exited: list[float] = []
    waiter = threading.Thread(
        target=lambda: (hub.process.wait(30), exited.append(time.monotonic())), daemon=True
    )
    waiter.start()
    signalled = time.monotonic()
    hub.process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(asyncio.gather(*tasks), DRAIN_SECONDS + 10)
    await asyncio.to_thread(waiter.join, 15)
    assert exited, "the hub did not exit"
    return records, signalled, exited[0]


def test_sigterm_drains_two_thousand_clients_spread_over_the_drain_and_exits_0(tmp_path):
    """2,000 telnet and /ws clients are told, then closed spread over --drain-seconds 4
    (WebSocket with 1012), and the process exits 0 within the drain and 2 s."""
    hub = start_hub(tmp_path, "--drain-seconds", str(DRAIN_SECONDS), db=":memory:")
    try:
        records, signalled, exited = asyncio.run(drain_many(hub))
        assert hub.process.returncode == 0
    finally:
        if hub.process.poll() is None:
            hub.process.kill()
    closes = sorted(r.closed_at for r in records if r.closed_at is not None)
    assert len(closes) == DRAIN_CLIENTS
    assert [r.after_close for r in records if r.after_close] == []
    untold = [r for r in records if r.told_at is None or r.told_at > (r.closed_at or 0)]
    assert untold == [], f"{len(untold)} clients were closed without being told first"
    codes = {r.close_code for r in records if r.kind == "ws"}
    assert codes == {1012}
    spread = closes[-1] - closes[0]
    assert spread > 1.5, f"all {DRAIN_CLIENTS} closed within {spread:.2f} s"
    assert exited - signalled <= DRAIN_SECONDS + 2.0
    print(f"closes spread over {spread:.2f} s; exit {exited - signalled:.2f} s after SIGTERM")


# --- a page across a restart ------------------------------------------------------------------

RECONNECT_MS = 40_000  # the page's backoff doubles from 0.5 s; a restart here takes seconds


@pytest.fixture(scope="module")
def chromium() -> Iterator["Browser"]:
    """Debian's Chromium, headless, as test_browser.py launches it."""
    executable = shutil.which("chromium")
    if sync_playwright is None or executable is None:
        what = "chromium" if sync_playwright is not None else "the playwright package"
        if ci():
            pytest.fail(f"{what} is missing, and CI must run the browser tests")
        pytest.skip(f"{what} is missing")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


def restart_on(tmp_path: Path, first: HubProcess, *args: str, tries: int = 10) -> HubProcess:
    """A new hub on `first`'s --db and telnet and web ports, retrying while a port is busy."""
    ports = (
        "--telnet", f"tcp:{first.telnet}:interface=127.0.0.1",
        "--web", f"tcp:{first.web}:interface=127.0.0.1",
    )  # fmt: skip
    for attempt in range(tries):
        try:
            return start_hub(tmp_path, *ports, *args, db=first.db)
        except RuntimeError:
            if attempt == tries - 1:
                raise
            time.sleep(0.3)
    raise AssertionError("unreachable")


def test_page_reconnects_after_a_restart_and_shows_exactly_what_it_missed(chromium, tmp_path):
    """SIGTERM, messages said before the page is back are stored by the restarted hub on the
    same --db and ports; the page reconnects by itself and shows each once, in order."""
    db = str(tmp_path / "restart.db")
    first = start_hub(tmp_path, "--drain-seconds", "1", db=db)
    second: HubProcess | None = None
    context = chromium.new_context(viewport={"width": 1200, "height": 760})
    try:
        chat = ChatPage(context.new_page())
        sockets: list[str] = []
        chat.page.on("websocket", lambda ws: sockets.append(ws.url))
        chat.open(first.base_url + "/")
        chat.set_nick("alice")
        bob = greeted(first, "bob")
        before = ["before one", "before two"]
        for text in before:
            bob.send(text)
            bob.expect(f"<bob> {text}")  # typed one after the other, not pasted
        for text in before:
            expect(chat.messages("lobby", text)).to_have_count(1, timeout=10_000)

        assert first.stop(signal.SIGTERM) == 0
        bob.close()
        status = chat.page.locator("#status")
        expect(status).not_to_have_attribute("data-state", "connected", timeout=10_000)
        # The page stays away (no network) until the missed messages are said: otherwise a
        # quick restart lets it back in first, and they arrive live instead of being missed.
        context.set_offline(True)

        second = restart_on(tmp_path, first, "--drain-seconds", "1")
        carol = greeted(second, "carol")
        missed = [f"missed {n}" for n in range(1, 4)]
        for text in missed:
            carol.send(text)
            carol.expect(f"<carol> {text}")
        was_offline = status.get_attribute("data-state") != "connected"
        context.set_offline(False)

        expect(status).to_have_attribute("data-state", "connected", timeout=RECONNECT_MS)
        expect(status).to_contain_text("connected as alice")
        carol.send("after the restart")
        for text in [*before, *missed, "after the restart"]:
            expect(chat.messages("lobby", text)).to_have_count(1, timeout=10_000)
        ids = chat.lines("lobby").evaluate_all(
            "nodes => nodes.filter(n => n.dataset.id).map(n => Number(n.dataset.id))"
        )
        assert ids == [1, 2, 3, 4, 5, 6], "every message once, in order, with no gap"
        assert was_offline, "the missed messages were said while the page was away"
        assert any("since=lobby%3A2" in url for url in sockets[1:]), sockets
        assert chat.errors == []
        carol.close()
    finally:
        context.close()
        for running in (first, second):
            if running is not None and running.process.poll() is None:
                running.process.kill()
                running.process.wait()
