"""The web port's and the listeners' limits on the real process: attacks on loopback, each
bounded in time.

Every test here that guards a new limit was first run against the code before the limit
existed, and failed there (README's "Limits" has the figures before and after). The bound each
test asserts is stated in its docstring.
"""

import contextlib
import errno
import json
import os
import resource
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.e2e.conftest import HubProcess, TelnetClient, start_hub

Launch = Callable[..., HubProcess]

# The sync client's plain `connect()` (without `with`) warns; these tests close what they open.
pytestmark = pytest.mark.filterwarnings("ignore:connect\\(\\) must be used:DeprecationWarning")

MIB = 1024 * 1024


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """`launch(*flags)` starts a hub with an in-memory store; all are killed after the test."""
    started: list[HubProcess] = []

    def run(*flags: str) -> HubProcess:
        hub = start_hub(tmp_path, *flags, db=":memory:")
        started.append(hub)
        return hub

    yield run
    for hub in started:
        if hub.process.poll() is None:
            hub.process.kill()
            hub.process.wait()


# --- raw HTTP ---------------------------------------------------------------------------------


class Response:
    """An HTTP response read off a raw socket."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.headers!r}, {self.body[:200]!r})"


def read_response(sock: socket.socket, timeout: float = 5.0) -> Response:
    """One response (head and a Content-Length body, or up to EOF); raises TimeoutError."""
    deadline = time.monotonic() + timeout
    data = b""

    def more() -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no complete response in {timeout} s; have {data[:300]!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError as problem:
            message = f"no complete response in {timeout} s; have {data[:300]!r}"
            raise TimeoutError(message) from problem
        return bool(chunk) and not _append(chunk)

    def _append(chunk: bytes) -> bool:
        nonlocal data
        data += chunk
        return False

    while b"\r\n\r\n" not in data:
        if not more():
            raise ConnectionError(f"closed before a whole response head; have {data[:300]!r}")
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(data) - len(head) - 4 < length:
            if not more():
                break
        body = data[len(head) + 4 : len(head) + 4 + length]
    return Response(status, headers, body)


def request(hub: HubProcess, raw: bytes, timeout: float = 5.0) -> Response:
    """Send `raw` on a new connection and read one response."""
    with socket.create_connection(("127.0.0.1", hub.web), timeout=timeout) as sock:
        sock.sendall(raw)
        return read_response(sock, timeout)


def get(hub: HubProcess, path: str, host: str | None = None, **headers: str) -> Response:
    host = host if host is not None else f"127.0.0.1:{hub.web}"
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return request(hub, ("\r\n".join(lines) + "\r\n\r\n").encode())


class Peer:
    """A raw client connection that keeps what the server sent and whether it has closed."""

    def __init__(self, hub: HubProcess, first: bytes = b"") -> None:
        self.sock = socket.create_connection(("127.0.0.1", hub.web), timeout=5)
        self.received = b""
        self.closed = False
        if first:
            self.sock.sendall(first)

    def send(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # the server may have closed already
            self.sock.sendall(data)

    def poll(self, timeout: float = 0.0) -> bool:
        """Read what has come, waiting up to `timeout`; True once the server has closed."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                if time.monotonic() >= deadline:
                    break
                continue
            except ConnectionError:
                chunk = b""
            if not chunk:
                self.closed = True
            self.received += chunk
        return self.closed

    def close(self) -> None:
        self.sock.close()


def health(hub: HubProcess) -> dict[str, Any]:
    with urllib.request.urlopen(hub.base_url + "/healthz", timeout=5) as response:
        return json.loads(response.read())


def rss_bytes(hub: HubProcess) -> int:
    for line in Path(f"/proc/{hub.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition never held")
        time.sleep(0.05)


def greeted(hub: HubProcess, timeout: float = 5.0) -> TelnetClient:
    client = TelnetClient(hub.telnet, timeout=timeout)
    client.expect("type /help")
    return client


# --- 1. pipelined requests nobody reads ------------------------------------------------------


def test_pipelined_requests_that_are_never_read_do_not_grow_the_hub(launch):
    """1,110 pipelined 2 MB history requests in one write, never read: the hub's RSS grows by
    less than 64 MB over 10 s (it grew to 4.4 GB before), and others are still answered."""
    hub = launch("--max-line", "8192", "--max-rate", "0")
    writer = greeted(hub)
    writer.send("/join big")
    text = "x" * 3990
    writer.send(b"".join(f"{n:05d} {text}\r\n".encode() for n in range(500)))
    wait_for(lambda: len(get(hub, "/api/rooms/big/messages?limit=500").json()["events"]) == 500)
    writer.close()
    one = f"GET /api/rooms/big/messages?limit=500 HTTP/1.1\r\nHost: 127.0.0.1:{hub.web}\r\n\r\n"
    before = rss_bytes(hub)
    attacker = socket.create_connection(("127.0.0.1", hub.web))
    try:
        attacker.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        attacker.sendall(one.encode() * 1110)
        grown = 0
        started = time.monotonic()
        while time.monotonic() - started < 10:
            grown = max(grown, rss_bytes(hub) - before)
            if grown > 1024 * MIB:  # far past the bound: stop before the machine suffers
                break
            time.sleep(0.2)
        assert grown < 64 * MIB, (
            f"RSS grew by {grown / MIB:.0f} MB in {time.monotonic() - started:.1f} s"
        )
        answered = time.monotonic()
        assert health(hub)["status"] == "ok"
        assert time.monotonic() - answered < 2
    finally:
        attacker.close()


def test_idle_http_connections_count_toward_max_per_ip(launch):
    """--max-per-ip 3: three idle HTTP connections take every place of 127.0.0.1; a fourth
    connection gets 429 with Retry-After and a message, and so does telnet."""
    hub = launch("--max-per-ip", "3")
    idle = [socket.create_connection(("127.0.0.1", hub.web)) for _ in range(3)]
    try:
        time.sleep(0.2)
        refused = get(hub, "/healthz")
        assert refused.status == 429
        assert int(refused.headers["retry-after"]) > 0
        assert b"too many connections from your address (at most 3)" in refused.body
        telnet = TelnetClient(hub.telnet)
        assert telnet.read_until_closed() == [
            "! too many connections from your address (at most 3)"
        ]
    finally:
        for sock in idle:
            sock.close()
    wait_for(lambda: get(hub, "/healthz").status == 200)
    assert health(hub)["limits"]["connections_refused_per_ip"] == 2


def test_idle_http_connections_count_toward_max_connections(launch):
    """--max-connections 2: two idle HTTP connections fill the server; the next request gets
    503 with Retry-After, and an API path gets it as JSON."""
    hub = launch("--max-connections", "2")
    idle = [socket.create_connection(("127.0.0.1", hub.web)) for _ in range(2)]
    try:
        time.sleep(0.2)
        refused = get(hub, "/api/rooms")
        assert refused.status == 503
        assert int(refused.headers["retry-after"]) > 0
        assert refused.headers["content-type"].startswith("application/json")
        assert refused.json()["error"] == "server-full"
    finally:
        for sock in idle:
            sock.close()
    wait_for(lambda: get(hub, "/healthz").status == 200)


def test_a_websocket_takes_one_place_and_gives_it_back_once(launch):
    """--max-per-ip 2 with a telnet client held: a WebSocket opens and closes, a second opens,
    and a third is refused with 429 (a place counted twice, or released twice, would differ)."""
    hub = launch("--max-per-ip", "2")
    held = greeted(hub)
    try:
        first = ws_connect(f"ws://127.0.0.1:{hub.web}/ws", open_timeout=5)
        first.recv(timeout=5)  # welcome
        first.close()
        time.sleep(0.3)
        second = ws_connect(f"ws://127.0.0.1:{hub.web}/ws", open_timeout=5)
        second.recv(timeout=5)
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(f"ws://127.0.0.1:{hub.web}/ws", open_timeout=5).close()
        assert refused.value.response.status_code == 429
        second.close()
    finally:
        held.close()


# --- 2. slowloris -----------------------------------------------------------------------------


@contextlib.contextmanager
def descriptor_limit(limit: int) -> Iterator[None]:
    """Processes started inside inherit a soft RLIMIT_NOFILE of `limit` (this one gets its own
    back afterwards)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_near_the_descriptor_limit_http_is_refused_first_and_telnet_keeps_working(launch):
    """A hub limited to 512 descriptors, with no connection limits, gets 700 unfinished
    `GET /`: new HTTP connections are refused with 503 (not held), a new telnet client is
    greeted within 3 s and an established WebSocket keeps chatting."""
    with descriptor_limit(512):
        hub = launch("--max-connections", "0", "--max-per-ip", "0", "--max-rate", "0")
    browser = ws_connect(f"ws://127.0.0.1:{hub.web}/ws?nick=web", open_timeout=5)
    browser.recv(timeout=5)
    flood: list[Peer] = []
    try:
        for _ in range(700):
            flood.append(Peer(hub, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"))
        time.sleep(0.5)
        started = time.monotonic()
        terminal = greeted(hub, timeout=3)
        assert time.monotonic() - started < 3
        terminal.send("still here")
        terminal.expect("> still here")
        browser.send(json.dumps({"op": "say", "room": "lobby", "text": "me too", "ref": 1}))
        deadline = time.monotonic() + 3
        while json.loads(browser.recv(timeout=3)).get("ref") != 1:
            assert time.monotonic() < deadline
        refused = [peer for peer in flood if peer.poll()]
        assert len(refused) > 100, "connections past the reserve are refused at once"
        answer = request(hub, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert answer.status == 503
        assert int(answer.headers["retry-after"]) > 0
        assert b"too many open connections" in answer.body
        terminal.close()
    finally:
        for peer in flood:
            peer.close()
        browser.close()
    wait_for(lambda: get(hub, "/healthz").status == 200)
    assert health(hub)["limits"]["connections_refused_descriptors"] > 100


def test_a_request_that_trickles_its_headers_is_cut_after_ten_seconds(launch):
    """Ten connections each send a header byte a second: each gets 408 and is closed within
    12.5 s of connecting (before, every byte restarted a 60 s idle timer); an idle connection
    that sends nothing is closed too."""
    hub = launch()
    started = time.monotonic()
    trickling = [Peer(hub, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") for _ in range(10)]
    idle = Peer(hub)
    try:
        while time.monotonic() - started < 12.5:
            for peer in trickling:
                if not peer.closed:
                    peer.send(b"a")
                    peer.poll(0.05)
            if all(peer.closed for peer in trickling):
                break
            time.sleep(0.9)
        still_open = [peer for peer in trickling if not peer.closed]
        assert still_open == [], f"still open after 12.5 s: {len(still_open)}"
        assert all(peer.received.startswith(b"HTTP/1.1 408 ") for peer in trickling)
        assert idle.poll(max(0.1, 12.5 - (time.monotonic() - started)))
        assert idle.received == b""
    finally:
        for peer in [*trickling, idle]:
            peer.close()
    assert health(hub)["limits"]["http_timed_out"] == 10


def test_unfinished_websocket_upgrades_from_one_address_are_bounded(launch):
    """200 unfinished `/ws` upgrades from 127.0.0.1 (default --max-per-ip 50): 150 are refused
    with 429 within 2 s, and none is still open 12.5 s after it connected (before: all 200
    were held for 75 s)."""
    hub = launch()
    head = (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{hub.web}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
    ).encode()
    started = time.monotonic()
    upgrades = [Peer(hub, head) for _ in range(200)]
    try:
        while time.monotonic() - started < 2:
            for peer in upgrades:
                peer.poll()
            time.sleep(0.1)
        refused = [peer for peer in upgrades if peer.received.startswith(b"HTTP/1.1 429 ")]
        assert len(refused) == 150
        assert all(peer.received == b"" for peer in upgrades[:50])  # still waiting
        for peer in upgrades:
            peer.poll(max(0.001, 12.5 - (time.monotonic() - started)))
        still_open = [peer for peer in upgrades if not peer.closed]
        assert still_open == [], f"{len(still_open)} still open 12.5 s after connecting"
    finally:
        for peer in upgrades:
            peer.close()


# --- 3. request bodies ------------------------------------------------------------------------


def test_a_huge_declared_body_is_refused_at_once_and_nothing_reaches_the_disk(
    launch, tmp_path, monkeypatch
):
    """`POST /counter` declaring 1,000,000,000 bytes, then sending 8 MB: 413 within 2 s, and
    the hub's temporary directory stays empty (before, the body was spooled there)."""
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setenv("TMPDIR", str(spool))
    hub = launch()
    with socket.create_connection(("127.0.0.1", hub.web), timeout=5) as sock:
        sock.sendall(
            b"POST /counter HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000\r\n\r\n"
        )
        started = time.monotonic()
        with contextlib.suppress(OSError):  # the hub may close before it all went out
            sock.settimeout(2)
            for _ in range(8):
                sock.sendall(b"x" * MIB)
        answer = read_response(sock, max(0.1, 2 - (time.monotonic() - started)))
    assert answer.status == 413
    assert b"1048576" in answer.body
    assert list(spool.iterdir()) == []
    assert health(hub)["limits"]["http_body_too_large"] == 1


def test_a_chunked_body_over_one_mib_is_refused(launch):
    """A chunked body that passes 1 MiB gets 413 without being read to its end."""
    hub = launch()
    with socket.create_connection(("127.0.0.1", hub.web), timeout=5) as sock:
        sock.sendall(
            b"POST /api/rooms/lobby/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"y" * 64 * 1024)
        with contextlib.suppress(OSError):
            sock.settimeout(2)
            for _ in range(20):
                sock.sendall(chunk)
        answer = read_response(sock, 2)
    assert answer.status == 413
    assert answer.json()["error"] == "too-large"


def test_a_body_that_stops_coming_is_cut_after_ten_seconds(launch):
    """A body that declares 100 bytes and sends 10 gets 408 within 12.5 s."""
    hub = launch()
    peer = Peer(hub, b"POST /counter HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n")
    peer.send(b"0123456789")
    assert peer.poll(12.5)
    assert peer.received.startswith(b"HTTP/1.1 408 ")
    peer.close()


# --- 4. DNS rebinding -------------------------------------------------------------------------


def handshake(hub: HubProcess, host: str, origin: str) -> Response:
    return request(
        hub,
        (
            f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {origin}\r\n\r\n"
        ).encode(),
    )


def test_a_websocket_from_a_rebound_name_is_refused(launch):
    """Origin and Host both `evil.example:PORT` (a name rebound to 127.0.0.1): 421, where the
    handshake used to succeed (101)."""
    hub = launch()
    evil = f"evil.example:{hub.web}"
    answer = handshake(hub, evil, f"http://{evil}")
    assert answer.status == 421
    assert b"evil.example" in answer.body and b"--allow-host" in answer.body


def test_plain_http_with_a_foreign_host_is_misdirected(launch):
    """`Host: evil.example` gets 421 with a message on pages and JSON under /api."""
    hub = launch()
    page = get(hub, "/", host=f"evil.example:{hub.web}")
    assert page.status == 421
    assert page.headers["content-type"].startswith("text/plain")
    api = get(hub, "/api/rooms", host="evil.example")
    assert api.status == 421
    assert api.json()["error"] == "wrong-host"
    assert health(hub)["limits"]["http_wrong_host"] == 2


def test_the_names_the_operator_serves_are_accepted(launch):
    """Loopback names and addresses are served by default, `--allow-host` adds a name, and a
    WebSocket from that name's page opens."""
    hub = launch("--allow-host", "chat.example")
    for host in (f"localhost:{hub.web}", f"127.0.0.1:{hub.web}", "[::1]", "chat.example"):
        assert get(hub, "/healthz", host=host).status == 200, host
    assert handshake(hub, "chat.example", "http://chat.example").status == 101
    assert get(hub, "/", host="other.example").status == 421


# --- 5. smaller edges -------------------------------------------------------------------------


def test_a_nul_byte_in_a_static_path_is_not_found(launch):
    """`/static/chat.js%00.png` is 404, not a 500 with a traceback."""
    hub = launch()
    answer = get(hub, "/static/chat.js%00.png")
    assert answer.status == 404
    assert b"Traceback" not in answer.body


def test_an_oversized_header_line_gets_431_with_a_message(launch):
    """A 20 KB header line gets 431 and a message, not a silent close."""
    hub = launch()
    answer = request(
        hub, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    )
    assert answer.status == 431
    assert b"16384" in answer.body
    assert health(hub)["limits"]["http_head_too_large"] == 1


def test_an_oversized_request_line_gets_414_with_a_message(launch):
    """A 100 KB request line gets 414 and a message; under /api the message is JSON."""
    hub = launch()
    answer = request(hub, b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.status == 414
    assert b"16384" in answer.body
    api = request(hub, b"GET /api/" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n")
    assert api.status == 414
    assert api.json()["error"] == "too-large"


def test_a_symlink_inside_static_that_leads_outside_is_not_found(launch, tmp_path):
    """A symlink in the static directory pointing outside it is 404, and the file is not
    served; a regular file next to it still is."""
    from chathub.page import asset_dir

    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    link = asset_dir("static") / f"e2e-link-{os.getpid()}.txt"
    link.symlink_to(secret)
    try:
        hub = launch()
        answer = get(hub, f"/static/{link.name}")
        assert answer.status == 404
        assert b"top secret" not in answer.body
        assert get(hub, "/static/chat.css").status == 200
    finally:
        link.unlink()


def test_every_api_error_is_json_whatever_the_method(launch):
    """`POST /api/rooms` and `DELETE /api/nothing` get 405 as JSON with `Allow`."""
    hub = launch()
    for method, path in (("POST", "/api/rooms"), ("DELETE", "/api/nothing")):
        answer = request(
            hub,
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n".encode(),
        )
        assert answer.status == 405, (method, path)
        assert "GET" in answer.headers["allow"]
        body = answer.json()
        assert body["error"] == "method-not-allowed" and body["message"]


# --- 6. the accept backlog --------------------------------------------------------------------


def accept_queue(port: int) -> int:
    """How many connections wait in the accept queue of the loopback listener on `port`
    (/proc/net/tcp gives a listening socket's queue length as its rx_queue)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, queues = fields[1], fields[3], fields[4]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            return int(queues.split(":")[1], 16)
    raise AssertionError(f"no listener on port {port}")


def test_a_crowd_connecting_at_once_waits_in_the_accept_queue(launch):
    """3,000 telnet connections opened at once while the hub cannot accept (stopped, the
    extreme of a reconnect storm): every one waits in the kernel's accept queue (bound: all
    3,000, or net.core.somaxconn if smaller; before: 51, the rest were reset or left hanging
    with no greeting), and once the hub runs again it greets them from the front of the queue
    (all 3,000 take it minutes here: each join is announced to everyone already in lobby)."""
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    hub = launch("--max-connections", "0", "--max-per-ip", "0", "--replay", "0")
    crowd: list[socket.socket] = []
    os.kill(hub.process.pid, signal.SIGSTOP)
    try:
        for _ in range(3000):
            sock = socket.socket()
            sock.setblocking(False)
            code = sock.connect_ex(("127.0.0.1", hub.telnet))
            assert code in (0, errno.EINPROGRESS), errno.errorcode.get(code, code)
            crowd.append(sock)
        queued, deadline = 0, time.monotonic() + 5
        while time.monotonic() < deadline:  # the kernel completes the handshakes by itself
            queued = accept_queue(hub.telnet)
            if queued >= min(3000, somaxconn):
                break
            time.sleep(0.1)
    finally:
        os.kill(hub.process.pid, signal.SIGCONT)
    try:
        assert queued >= min(3000, somaxconn), f"only {queued} of 3,000 were queued"
        for sock in crowd[:20]:
            sock.setblocking(True)
            seen = b""
            sock.settimeout(30)
            while b"type /help" not in seen:
                chunk = sock.recv(65536)
                assert chunk, "closed before the greeting"
                seen += chunk
    finally:
        for sock in crowd:
            sock.close()


def test_urllib_sees_the_refusal_as_an_http_error(launch):
    """A refused connection's answer reaches an ordinary client as an HTTP error, not a reset."""
    hub = launch("--max-per-ip", "1")
    held = socket.create_connection(("127.0.0.1", hub.web))
    try:
        time.sleep(0.2)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(hub.base_url + "/", timeout=5)
        assert refused.value.code == 429
    finally:
        held.close()
