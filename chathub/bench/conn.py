"""One bench connection and what it takes to open it: the target's ports, the plan of who
connects over which wire to which room, what each client sends first, and when it is ready.

Rules:
- Pure bookkeeping over bytes: no sockets are read or written here (`load.py` does that).
- A telnet client is ready at its first greeting line, a WebSocket client at the `101` of its
  handshake (any other status is an error), an event-stream reader (`sse`) at the `200` of its
  answer's head, a Redis subscriber at its `subscribe` reply; a Redis or HTTP publisher at once.
"""

import socket
from dataclasses import dataclass, field

from chathub.bench.wire import (
    AnswerCounter,
    FrameCounter,
    LatencySampler,
    LineCounter,
    PatternCounter,
    marker_counter,
    resp_command,
    resp_counter,
    sse_request,
    ws_handshake,
)

Counter = LineCounter | PatternCounter | FrameCounter | AnswerCounter


@dataclass(frozen=True)
class Endpoint:
    """Where to connect for each wire: telnet and WebSocket for chathub and the baseline,
    RESP for redis."""

    host: str
    telnet: int | None = None
    web: int | None = None
    redis: int | None = None
    ws_path: str = "/ws"
    token: str | None = None  # an API token's secret, for publishing over HTTP


@dataclass(eq=False)
class Conn:
    sock: socket.socket
    wire: str  # "telnet", "ws", "sse", "http" (a publisher) or "redis"
    room: str
    publisher: bool
    counter: Counter
    sampler: LatencySampler | None = None
    ready: bool = False
    pending: bytes = b""  # bytes to send that the kernel has not taken yet
    delivered: int = 0
    head: bytes = b""  # before `ready`: what was read of the greeting or handshake
    sent: int = 0  # an HTTP publisher's requests

    @property
    def fd(self) -> int:
        return self.sock.fileno()


@dataclass
class Plan:
    subscribers: int
    publishers: int
    rooms: int
    transport: str  # "telnet", "ws", "sse", "mix" or "redis"
    publish_over: str  # "telnet", "ws" or "http" (ignored for redis)
    size: int
    sampled: int = 8
    source_ips: int = 1
    http_batch: int = 1  # messages one HTTP publisher may send in one POST (an array)
    room_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.room_names:
            self.room_names = ["lobby"] + [f"bench{i}" for i in range(1, self.rooms)]

    def subscriber_wire(self, index: int) -> str:
        if self.transport == "mix":
            return "telnet" if index % 2 == 0 else "ws"
        return self.transport


def counter_for(wire: str) -> Counter:
    if wire == "telnet":
        return LineCounter()
    if wire == "ws":
        return FrameCounter()
    if wire == "sse":
        return marker_counter()
    if wire == "http":
        return AnswerCounter()
    return resp_counter()


def opening(wire: str, room: str, endpoint: Endpoint, publisher: bool) -> bytes:
    """What a client sends as soon as it is connected."""
    if wire == "telnet":
        return b"" if room == "lobby" else f"/join {room}\r\n/part lobby\r\n".encode()
    if wire == "ws":
        port = endpoint.web or 0
        return ws_handshake(endpoint.host, port, endpoint.ws_path, {"rooms": room})
    if wire == "sse":
        return sse_request(endpoint.host, endpoint.web or 0, room)
    if wire == "http":
        return b""  # a publisher's requests carry everything
    return b"" if publisher else resp_command(b"SUBSCRIBE", room.encode())


def ready_at_once(conn: "Conn") -> bool:
    """Publishers that wait for nothing before sending: Redis's and HTTP's."""
    return conn.publisher and conn.wire in ("redis", "http")


def is_ready(conn: Conn) -> bool:
    if conn.wire == "telnet":
        return b"\n" in conn.head
    if conn.wire in ("ws", "sse"):
        if b"\r\n\r\n" not in conn.head:
            return False
        status = conn.head.split(b"\r\n", 1)[0]
        wanted, what = (
            (b" 101 ", "WebSocket handshake") if conn.wire == "ws" else (b" 200 ", "event stream")
        )
        if wanted not in status + b" ":
            raise ConnectionError(f"{what} refused: {status.decode(errors='replace')}")
        return True
    return b"subscribe" in conn.head
