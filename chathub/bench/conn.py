"""One bench connection and what it takes to open it: the target's ports, the plan of who
connects over which wire to which room, what each client sends first, and when it is ready.

Rules:
- Pure bookkeeping over bytes: no sockets are read or written here (`load.py` does that).
- A telnet client is ready at its first greeting line, a WebSocket client at the `101` of its
  handshake (any other status is an error), a Redis subscriber at its `subscribe` reply.
"""

import socket
from dataclasses import dataclass, field

from chathub.bench.wire import (
    FrameCounter,
    LatencySampler,
    LineCounter,
    PatternCounter,
    resp_command,
    resp_counter,
    ws_handshake,
)

Counter = LineCounter | PatternCounter | FrameCounter


@dataclass(frozen=True)
class Endpoint:
    """Where to connect for each wire: telnet and WebSocket for chathub and the baseline,
    RESP for redis."""

    host: str
    telnet: int | None = None
    web: int | None = None
    redis: int | None = None
    ws_path: str = "/ws"


@dataclass(eq=False)
class Conn:
    sock: socket.socket
    wire: str  # "telnet", "ws" or "redis"
    room: str
    publisher: bool
    counter: Counter
    sampler: LatencySampler | None = None
    ready: bool = False
    pending: bytes = b""  # bytes to send that the kernel has not taken yet
    delivered: int = 0
    head: bytes = b""  # before `ready`: what was read of the greeting or handshake

    @property
    def fd(self) -> int:
        return self.sock.fileno()


@dataclass
class Plan:
    subscribers: int
    publishers: int
    rooms: int
    transport: str  # "telnet", "ws", "mix" or "redis"
    publish_over: str  # "telnet" or "ws" (ignored for redis)
    size: int
    sampled: int = 8
    source_ips: int = 1
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
    return resp_counter()


def opening(wire: str, room: str, endpoint: Endpoint, publisher: bool) -> bytes:
    """What a client sends as soon as it is connected."""
    if wire == "telnet":
        return b"" if room == "lobby" else f"/join {room}\r\n/part lobby\r\n".encode()
    if wire == "ws":
        port = endpoint.web or 0
        return ws_handshake(endpoint.host, port, endpoint.ws_path, {"rooms": room})
    return b"" if publisher else resp_command(b"SUBSCRIBE", room.encode())


def is_ready(conn: Conn) -> bool:
    if conn.wire == "telnet":
        return b"\n" in conn.head
    if conn.wire == "ws":
        if b"\r\n\r\n" not in conn.head:
            return False
        status = conn.head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise ConnectionError(f"WebSocket handshake refused: {status.decode(errors='replace')}")
        return True
    return b"subscribe" in conn.head
