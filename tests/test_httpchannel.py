"""The web port's HTTP channel (chathub/httpchannel.py) over in-memory transports and a clock:
admission, the descriptor reserve, the request deadline, head and body sizes, pipelining,
the Host check, and what every refusal says."""

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.protocol import connectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from chathub.config import HttpSettings, HubSettings
from chathub.httpchannel import HttpChannel, answer, request_target
from chathub.httpsite import HttpRequest, HttpSite
from chathub.hub import Hub
from chathub.web import make_site
from chathub.websocket import WebSocketFactory

# --- the fixtures -----------------------------------------------------------------------------


class Tcp(StringTransport):
    """A StringTransport that acts like TCP for a producer: past `size` unsent bytes it pauses
    its producer, and `drain()` (the peer reading) resumes it; it can half-close."""

    def __init__(self, peer: str = "10.0.0.1", size: int = 64 * 1024) -> None:
        address = IPv6Address("TCP", peer, 4321) if ":" in peer else IPv4Address("TCP", peer, 4321)
        super().__init__(peerAddress=address)
        self.size = size
        self.full = False
        self.half_closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        super().write(data)
        if self.producer is not None and not self.full and len(self.value()) > self.size:
            self.full = True
            self.producer.pauseProducing()

    def drain(self) -> bytes:
        data = self.value()
        self.clear()
        if self.full and self.producer is not None:
            self.full = False
            self.producer.resumeProducing()
        return data

    def loseWriteConnection(self) -> None:
        self.half_closed = True

    def abortConnection(self) -> None:
        self.aborted = True
        super().abortConnection()


class Pages(Resource):
    """`/`: a short page; `/big`: 200 KB; `/hang`: never answers; `/echo`: the body back;
    `/boom`: raises. Counts what it renders."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.rendered: list[bytes] = []
        self.bodies: list[bytes] = []
        self.content_types: list[str] = []

    def render(self, request: Any) -> Any:
        self.rendered.append(request.path)
        if request.path == b"/big":
            return b"x" * 200_000
        if request.path == b"/hang":
            return NOT_DONE_YET
        if request.path.endswith(b"/boom"):
            raise RuntimeError("a bug")
        if request.path == b"/echo":
            body = request.content.read()
            self.bodies.append(body)
            self.content_types.append(type(request.content).__name__)
            return b"got %d" % len(body)
        return b"hello"


class Web:
    """A site on a clock, a hub, and the connections made to it."""

    def __init__(self, hub: Hub, settings: HttpSettings, slow_timeout: float) -> None:
        self.clock = MemoryReactorClock()
        self.hub = hub
        self.pages = Pages()
        self.site = HttpSite(self.pages, hub, settings, self.clock, slow_timeout)
        self.site.descriptor_line = None  # a StringTransport has no descriptor anyway

    def connect(self, peer: str = "10.0.0.1", transport: Tcp | None = None) -> "Conn":
        transport = transport if transport is not None else Tcp(peer)
        channel = self.site.buildProtocol(transport.getPeer())
        assert isinstance(channel, HttpChannel)
        channel.makeConnection(transport)
        return Conn(channel, transport)


class Conn:
    def __init__(self, channel: HttpChannel, transport: Tcp) -> None:
        self.channel = channel
        self.transport = transport

    def send(self, data: bytes, one_byte_at_a_time: bool = False) -> None:
        if one_byte_at_a_time:
            for index in range(len(data)):
                self.channel.dataReceived(data[index : index + 1])
        else:
            self.channel.dataReceived(data)

    def lose(self) -> None:
        self.channel.connectionLost(connectionDone)

    @property
    def closed(self) -> bool:
        return bool(self.transport.disconnecting or self.transport.half_closed)


def web(hub: Hub | None = None, slow_timeout: float = 60.0, **settings: Any) -> Web:
    return Web(hub or Hub(), HttpSettings(**settings), slow_timeout)


def status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1])


def parse(data: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return status(data), headers, body


GET = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


# --- admission --------------------------------------------------------------------------------


def test_a_connection_takes_a_place_when_accepted_and_gives_it_back_once():
    """Counted from the accept, before any byte; released at connection loss, only once."""
    site = web()
    conn = site.connect()
    assert site.hub.connections.per_peer == {"10.0.0.1": 1}
    conn.lose()
    conn.lose()
    assert (site.hub.connections.total, site.hub.connections.per_peer) == (0, {})


def test_past_max_per_ip_the_first_bytes_get_a_429_with_retry_after():
    """A connection past --max-per-ip is answered 429 with Retry-After and the hub's words as
    soon as its request arrives, counted nowhere, and closed."""
    site = web(Hub(settings=HubSettings(max_per_ip=1)))
    site.connect()
    refused = site.connect()
    assert refused.transport.value() == b""
    refused.send(GET)
    code, headers, body = parse(refused.transport.value())
    assert (code, headers[b"retry-after"]) == (429, b"10")
    assert body == b"too many connections from your address (at most 1)\n"
    assert refused.closed
    assert site.hub.connections.total == 1
    assert site.hub.counters.connections_refused_per_ip == 1
    refused.lose()
    assert site.hub.connections.total == 1


def test_a_refusal_under_api_is_json():
    """Past --max-connections a request for /api gets 503 as `{"error", "message"}`."""
    site = web(Hub(settings=HubSettings(max_connections=1)))
    site.connect()
    refused = site.connect(peer="10.9.9.9")
    refused.send(b"GET /api/rooms HTTP/1.1\r\nHost: localhost\r\n\r\n")
    code, headers, body = parse(refused.transport.value())
    assert (code, headers[b"content-type"]) == (503, b"application/json; charset=utf-8")
    assert json.loads(body)["error"] == "server-full"


def test_a_refused_connection_that_sends_nothing_is_answered_after_the_linger():
    """With no request in sight, the refusal goes out as text after `linger` seconds."""
    site = web(Hub(settings=HubSettings(max_per_ip=1)))
    site.connect()
    refused = site.connect()
    site.clock.advance(1.9)
    assert refused.transport.value() == b""
    site.clock.advance(0.1)
    assert status(refused.transport.value()) == 429


def test_ipv6_addresses_of_one_slash_64_share_their_places():
    """Two addresses of one /64 are one address for --max-per-ip; another /64 is not."""
    site = web(Hub(settings=HubSettings(max_per_ip=1)))
    site.connect(peer="2001:db8:1:2::10")
    refused = site.connect(peer="2001:db8:1:2:ffff::99")
    refused.send(GET)
    assert status(refused.transport.value()) == 429
    other = site.connect(peer="2001:db8:1:3::10")
    other.send(GET)
    assert status(other.transport.value()) == 200


@pytest.fixture
def a_socket() -> Iterator[socket.socket]:
    ours, theirs = socket.socketpair()
    yield ours
    ours.close()
    theirs.close()


class SocketTransport(Tcp):
    """A Tcp whose handle is a real socket, so its descriptor number is real."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock

    def getHandle(self) -> socket.socket:
        return self.sock


def test_past_the_descriptor_line_a_connection_is_refused_at_once(a_socket):
    """A socket numbered at or past the limit minus --fd-reserve gets 503 with Retry-After,
    unread, and is closed at once; it takes no place; one below the line is served."""
    site = web()
    site.site.descriptor_line = a_socket.fileno()
    refused = site.connect(transport=SocketTransport(a_socket))
    code, headers, body = parse(refused.transport.value())
    assert (code, headers[b"retry-after"]) == (503, b"10")
    assert b"too many open connections" in body
    assert refused.transport.disconnecting
    assert site.hub.connections.total == 0
    assert site.hub.counters.connections_refused_descriptors == 1
    site.site.descriptor_line = a_socket.fileno() + 1
    served = site.connect(transport=SocketTransport(a_socket))
    served.send(GET)
    assert status(served.transport.value()) == 200


def test_the_descriptor_line_is_the_limit_minus_the_reserve():
    """The Site reads RLIMIT_NOFILE once and keeps --fd-reserve descriptors from HTTP."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    site = HttpSite(Pages(), Hub(), HttpSettings(fd_reserve=100))
    assert site.descriptor_line == soft - 100


# --- the request deadline ---------------------------------------------------------------------


@pytest.mark.parametrize("one_byte_at_a_time", [False, True])
def test_a_head_that_is_not_complete_in_time_gets_408(one_byte_at_a_time):
    """Ten seconds from the accept for the head, however it trickles: then 408 and closed."""
    site = web()
    conn = site.connect()
    conn.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n", one_byte_at_a_time)
    for _ in range(9):
        site.clock.advance(1)
        conn.send(b"X")  # every byte still arrives in time, and moves nothing
    site.clock.advance(0.9)
    assert conn.transport.value() == b""
    site.clock.advance(0.1)
    code, _, body = parse(conn.transport.value())
    assert code == 408
    assert body == b"the request did not arrive within 10 s\n"
    assert conn.closed
    assert site.hub.counters.http_timed_out == 1
    assert site.pages.rendered == []


def test_an_idle_connection_is_closed_silently_and_not_counted():
    """Nothing of a request within the deadline: closed without an answer or a count."""
    site = web()
    conn = site.connect()
    site.clock.advance(10)
    assert conn.transport.value() == b""
    assert conn.transport.disconnecting
    assert site.hub.counters.http_timed_out == 0


def test_the_deadline_starts_again_after_each_response():
    """A kept-alive connection has ten seconds for each request, from its previous answer."""
    site = web()
    conn = site.connect()
    site.clock.advance(9)
    conn.send(GET)
    assert status(conn.transport.value()) == 200
    conn.transport.clear()
    site.clock.advance(9)
    conn.send(GET)
    assert status(conn.transport.value()) == 200
    assert not conn.closed


def test_a_request_being_answered_has_no_deadline():
    """While a request is answered (however long), the deadline does not run."""
    site = web()
    conn = site.connect()
    conn.send(b"GET /hang HTTP/1.1\r\nHost: localhost\r\n\r\n")
    site.clock.advance(100)
    assert conn.transport.value() == b"" and not conn.closed


def test_a_body_must_arrive_within_the_deadline_too():
    """Content-Length 10 with 5 bytes sent: 408 at ten seconds."""
    site = web()
    conn = site.connect()
    conn.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n12345")
    site.clock.advance(10)
    assert status(conn.transport.value()) == 408


def test_the_request_timeout_is_a_setting():
    """--request-timeout 3: 408 at three seconds."""
    site = web(request_timeout=3.0)
    conn = site.connect()
    conn.send(b"GET / HTTP/1.1\r\n")
    site.clock.advance(3)
    assert parse(conn.transport.value())[2] == b"the request did not arrive within 3 s\n"


# --- head and body sizes ----------------------------------------------------------------------


@pytest.mark.parametrize("one_byte_at_a_time", [False, True])
def test_a_long_request_line_gets_414(one_byte_at_a_time):
    """A request line over --max-header-bytes: 414 with a message, counted."""
    site = web(max_header_bytes=100)
    conn = site.connect()
    conn.send(b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", one_byte_at_a_time)
    code, _, body = parse(conn.transport.value())
    assert (code, body) == (414, b"the request line is longer than 100 bytes\n")
    assert site.hub.counters.http_head_too_large == 1


@pytest.mark.parametrize("one_byte_at_a_time", [False, True])
def test_a_long_header_line_gets_431(one_byte_at_a_time):
    """One header line over --max-header-bytes: 431 with a message."""
    site = web(max_header_bytes=100)
    conn = site.connect()
    conn.send(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 200 + b"\r\n\r\n", one_byte_at_a_time)
    code, _, body = parse(conn.transport.value())
    assert (code, body) == (431, b"the request line and headers are longer than 100 bytes\n")


def test_headers_over_the_limit_together_get_431():
    """Short lines whose sum passes --max-header-bytes: 431."""
    site = web(max_header_bytes=100)
    conn = site.connect()
    conn.send(b"GET / HTTP/1.1\r\n" + b"X-A: aaaaaaaaaaaaaaaaaaaa\r\n" * 5 + b"\r\n")
    assert status(conn.transport.value()) == 431


def test_a_head_exactly_at_the_limit_is_served():
    """Request line and headers of exactly --max-header-bytes (with their CRLFs) pass."""
    head = b"GET / HTTP/1.1\r\nHost: localhost\r\n"
    site = web(max_header_bytes=len(head) + 2)
    conn = site.connect()
    conn.send(head + b"\r\n")
    assert status(conn.transport.value()) == 200


def test_more_than_100_header_fields_get_431():
    """101 header lines: 431, whatever their size."""
    site = web()
    conn = site.connect()
    conn.send(b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n")
    code, _, body = parse(conn.transport.value())
    assert (code, body) == (431, b"a request has at most 100 header fields\n")


def test_a_long_request_line_under_api_gets_json():
    """The refusal of a head under /api is JSON, from what of the request line came."""
    site = web(max_header_bytes=100)
    conn = site.connect()
    conn.send(b"GET /api/" + b"a" * 200)
    code, _, body = parse(conn.transport.value())
    assert (code, json.loads(body)["error"]) == (414, "too-large")


def test_a_declared_body_over_the_limit_gets_413_before_it_is_invited():
    """Content-Length over --max-body-bytes: 413 at once, and no `100 Continue`."""
    site = web(max_body_bytes=1000)
    conn = site.connect()
    conn.send(
        b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1001\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    data = conn.transport.value()
    assert data.startswith(b"HTTP/1.1 413 Content Too Large\r\n")
    assert b"100 Continue" not in data
    assert parse(data)[2] == b"a request body is at most 1000 bytes\n"
    assert site.hub.counters.http_body_too_large == 1
    conn.send(b"x" * 1001)  # what still comes is dropped
    assert site.pages.rendered == []


@pytest.mark.parametrize("one_byte_at_a_time", [False, True])
def test_a_chunked_body_over_the_limit_gets_413(one_byte_at_a_time):
    """Chunks adding up past --max-body-bytes: 413, and the resource never runs, even when
    the body's end came in the same read."""
    site = web(max_body_bytes=1000)
    conn = site.connect()
    chunks = b"".join(b"100\r\n" + b"y" * 256 + b"\r\n" for _ in range(4)) + b"0\r\n\r\n"
    conn.send(
        b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks,
        one_byte_at_a_time,
    )
    assert status(conn.transport.value()) == 413
    assert site.pages.rendered == []


def test_a_body_at_the_limit_is_read_into_memory():
    """A body of exactly --max-body-bytes reaches the resource, from memory, not a file."""
    site = web(max_body_bytes=200_000)
    conn = site.connect()
    conn.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 200000\r\n\r\n")
    conn.send(b"z" * 200_000)
    assert site.pages.bodies == [b"z" * 200_000]
    assert site.pages.content_types == ["BytesIO"]  # twisted.web would spool it to a file


def test_a_malformed_request_gets_400_with_a_message():
    """What Twisted cannot parse is 400 with words, counted."""
    site = web()
    conn = site.connect()
    conn.send(b"GET /\r\n\r\n")
    code, _, body = parse(conn.transport.value())
    assert (code, body) == (400, b"the request is malformed\n")
    assert site.hub.counters.http_bad_request == 1


# --- the lingering close ----------------------------------------------------------------------


def test_after_a_refusal_input_is_dropped_and_the_connection_closed_after_linger():
    """The answer is followed by a FIN (half close); what comes after is read and dropped;
    after `linger` seconds the connection is closed, and aborted if that cannot finish."""
    site = web(max_header_bytes=100)
    conn = site.connect()
    conn.send(b"GET /" + b"a" * 200)
    answered = conn.transport.value()
    assert conn.transport.half_closed and not conn.transport.disconnecting
    conn.send(b"more of the same " * 100)
    assert conn.transport.value() == answered
    site.clock.advance(2)
    assert conn.transport.disconnecting and not conn.transport.aborted
    site.clock.advance(2)
    assert conn.transport.aborted


def test_lingering_ends_once_a_bodys_worth_has_been_dropped():
    """A client that keeps sending after its refusal is cut off after --max-body-bytes."""
    site = web(max_body_bytes=1000)
    conn = site.connect()
    conn.send(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n")
    assert status(conn.transport.value()) == 413
    conn.send(b"x" * 1000)
    assert not conn.transport.aborted
    conn.send(b"x")
    assert conn.transport.aborted


# --- pipelining -------------------------------------------------------------------------------


def test_a_pipelined_request_waits_until_the_previous_response_has_drained():
    """Two requests in one write, the first answered with 200 KB: the second is not parsed
    (nor rendered) until the transport has taken the first answer."""
    site = web()
    conn = site.connect()
    conn.send(
        b"GET /big HTTP/1.1\r\nHost: localhost\r\n\r\nGET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    assert site.pages.rendered == [b"/big"]
    first = conn.transport.drain()
    assert site.pages.rendered == [b"/big", b"/"]
    assert status(first) == 200 and status(conn.transport.value()) == 200


def test_a_thousand_pipelined_requests_never_read_cost_one_response():
    """1,000 pipelined 200 KB answers, nothing read: one is rendered, the rest wait."""
    site = web()
    conn = site.connect()
    conn.send(b"GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n" * 1000)
    assert site.pages.rendered == [b"/big"]
    assert len(conn.transport.value()) < 250_000


def test_a_response_not_taken_within_the_slow_timeout_cuts_the_connection():
    """The transport stays full for --slow-timeout seconds: aborted, counted."""
    site = web(slow_timeout=60.0)
    conn = site.connect()
    conn.send(b"GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n")
    site.clock.advance(59)
    assert not conn.transport.aborted
    site.clock.advance(1)
    assert conn.transport.aborted
    assert site.hub.counters.slow_closed == 1


def test_a_response_taken_in_time_keeps_the_connection():
    """Drained before --slow-timeout: nothing is cut, and the next request is served."""
    site = web(slow_timeout=60.0)
    conn = site.connect()
    conn.send(b"GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n")
    site.clock.advance(30)
    conn.transport.drain()
    site.clock.advance(5)
    conn.send(GET)
    assert status(conn.transport.value()) == 200
    site.clock.advance(60)
    assert not conn.transport.aborted


# --- the Host ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", [b"localhost", b"localhost:8080", b"127.0.0.1:8080", b"[::1]:8080", b"192.0.2.7"]
)
def test_loopback_names_and_addresses_are_served(host):
    """localhost and any IP address literal are served without --allow-host."""
    site = web()
    conn = site.connect()
    conn.send(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert status(conn.transport.value()) == 200


def test_a_name_not_served_gets_421_that_says_how_to_allow_it():
    """`Host: evil.example:8080` (a rebound name): 421, counted, the resource never runs."""
    site = web()
    conn = site.connect()
    conn.send(b"GET / HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n")
    code, headers, body = parse(conn.transport.value())
    assert (code, headers[b"content-type"]) == (421, b"text/plain; charset=utf-8")
    assert b"'evil.example:8080'" in body and b"--allow-host" in body
    assert site.pages.rendered == []
    assert site.hub.counters.http_wrong_host == 1
    conn.transport.clear()
    conn.send(GET)  # the connection goes on
    assert status(conn.transport.value()) == 200


def test_a_name_not_served_under_api_gets_json():
    """Under /api the 421 is `{"error": "wrong-host", ...}`."""
    site = web()
    conn = site.connect()
    conn.send(b"GET /api/rooms HTTP/1.1\r\nHost: evil.example\r\n\r\n")
    code, _, body = parse(conn.transport.value())
    assert (code, json.loads(body)["error"]) == (421, "wrong-host")


def test_allow_host_adds_names():
    """--allow-host chat.example and *.example.org: those names are served."""
    site = web(allow_host=("chat.example", "*.example.org"))
    for host in (b"chat.example", b"CHAT.example:80", b"a.example.org"):
        conn = site.connect()
        conn.send(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
        assert status(conn.transport.value()) == 200, host
        conn.lose()


def test_the_machines_own_name_is_served():
    """This machine's host name is served: a LAN user may type it."""
    site = web()
    conn = site.connect()
    conn.send(b"GET / HTTP/1.1\r\nHost: " + socket.gethostname().encode() + b"\r\n\r\n")
    assert status(conn.transport.value()) == 200


def test_http_1_1_without_host_is_400_and_http_1_0_is_served():
    """HTTP/1.1 requires a Host (400); an HTTP/1.0 request without one is served."""
    site = web()
    conn = site.connect()
    conn.send(b"GET / HTTP/1.1\r\n\r\n")
    assert status(conn.transport.value()) == 400
    old = site.connect()
    old.send(b"GET / HTTP/1.0\r\n\r\n")
    assert status(old.transport.value()) == 200


def test_two_hosts_are_400():
    """A request naming two Hosts is refused."""
    site = web()
    conn = site.connect()
    conn.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n")
    assert status(conn.transport.value()) == 400


# --- failures ---------------------------------------------------------------------------------


def test_a_failing_resource_answers_500_without_a_traceback():
    """An exception while rendering: 500 in words (JSON under /api), the traceback logged."""
    site = web()
    conn = site.connect()
    conn.send(b"GET /boom HTTP/1.1\r\nHost: localhost\r\n\r\n")
    code, headers, body = parse(conn.transport.value())
    assert (code, headers[b"content-type"]) == (500, b"text/plain; charset=utf-8")
    assert b"Traceback" not in body and b"a bug" not in body
    api = site.connect()
    api.send(b"GET /api/boom HTTP/1.1\r\nHost: localhost\r\n\r\n")
    code, _, body = parse(api.transport.value())
    assert (code, json.loads(body)["error"]) == (500, "internal")


# --- /ws: one connection, one place -----------------------------------------------------------

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class UpgradingTcp(Tcp):
    """What Autobahn's resource needs of a transport besides StringTransport's."""

    protocol: Any = None

    def unregisterProducer(self) -> None:
        self.producer = None


def websocket_site(hub: Hub) -> tuple[Any, MemoryReactorClock]:
    clock = MemoryReactorClock()
    site = make_site(hub, WebSocketFactory(hub, clock), HttpSettings(), clock)
    site.descriptor_line = None
    return site, clock


def test_a_websocket_keeps_the_place_of_its_http_connection():
    """The upgrade hands the channel's admission to the WebSocket: one place while it is
    open (not two), none once it is gone, however many times each end lets go."""
    hub = Hub(settings=HubSettings(max_per_ip=1))
    site, _clock = websocket_site(hub)
    transport = UpgradingTcp()
    channel = site.buildProtocol(transport.getPeer())
    channel.makeConnection(transport)
    channel.dataReceived(UPGRADE)
    assert transport.value().startswith(b"HTTP/1.1 101 ")
    assert hub.connections.total == 1 and len(hub.sessions) == 1
    websocket = transport.protocol
    assert websocket.admission is channel.admission
    websocket.connectionLost(connectionDone)
    channel.connectionLost(connectionDone)
    assert (hub.connections.total, hub.sessions) == (0, {})


def test_a_websocket_refused_in_its_handshake_gives_its_place_back():
    """A handshake refused for its Origin (403) still releases the channel's place, once."""
    hub = Hub()
    site, _clock = websocket_site(hub)
    transport = UpgradingTcp()
    channel = site.buildProtocol(transport.getPeer())
    channel.makeConnection(transport)
    channel.dataReceived(UPGRADE.replace(b"\r\n\r\n", b"\r\nOrigin: http://evil.example\r\n\r\n"))
    assert b" 403 " in transport.value().split(b"\r\n", 1)[0]
    transport.protocol.connectionLost(connectionDone)
    assert hub.connections.total == 0


def test_the_upgrade_stops_the_channels_deadline():
    """Once upgraded, the channel's request deadline no longer runs on that connection."""
    hub = Hub()
    site, clock = websocket_site(hub)
    transport = UpgradingTcp()
    channel = site.buildProtocol(transport.getPeer())
    channel.makeConnection(transport)
    channel.dataReceived(UPGRADE)
    before = transport.value()
    clock.advance(11)
    assert not transport.disconnecting
    assert transport.value() == before or b"\x89" in transport.value()  # a ping, at most


# --- small parts ------------------------------------------------------------------------------


def test_request_target_takes_what_came_of_the_line():
    """The target of a whole request line, or of its start; None without one."""
    assert request_target(b"GET /api/rooms?x=1 HTTP/1.1") == b"/api/rooms?x=1"
    assert request_target(b"GET /api/aaaa") == b"/api/aaaa"
    assert request_target(b"GET") is None


def test_an_answer_is_a_whole_response_that_closes():
    """A refusal's bytes: status, type, length, no-store, close, Retry-After when given."""
    data = answer(429, "too-many-connections", "too many", False, 10)
    assert data == (
        b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 9\r\nCache-Control: no-store\r\nConnection: close\r\n"
        b"Retry-After: 10\r\n\r\ntoo many\n"
    )


def test_no_attribute_of_ours_shadows_one_of_twisted():
    """The channel's and request's own attributes are not names twisted.web uses."""
    from twisted.web.http import HTTPChannel

    channel = HttpChannel()
    ours = set(vars(channel)) - set(vars(HTTPChannel()))
    assert ours and not any(hasattr(HTTPChannel, name) for name in ours)
    mine = {name for name in vars(HttpChannel) if name.startswith("_") and name[1] != "_"}
    assert not any(hasattr(HTTPChannel, name) for name in mine)  # only public overrides
    request_ours = {"body_received", "send_error"}
    assert not any(hasattr(Request, name) for name in request_ours)
    assert hasattr(HttpRequest, "send_error")
