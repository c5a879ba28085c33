"""The `--storm` crowd: the plan of who joins where, one client's state as it goes from connecting
to joined, and what the kernel says of the storm's sockets. The run itself is `storm.py`'s.

Rules:
- The plan decides each client by its index alone: with `mix`, even clients are telnet and odd
  ones WebSocket; rooms go `lobby`, `bench1`, ... in turn.
- A client's phase only moves forward: connecting, handshaking, joining, joined; gone from any
  of them. Its nick is `stormN`; a WebSocket client asks for it and its room in the handshake's
  query, a telnet client of a room other than the lobby types `/join ROOM` and leaves the lobby.
- Kernel readings never fail the bench: an unreadable `/proc/net/netstat` gives no counters,
  a socket without `TCP_INFO` no retransmit count.
"""

import socket
import struct
import time
from dataclasses import dataclass

from chathub.bench.conn import Endpoint, opening
from chathub.bench.joins import TelnetJoinWatch, WsJoinWatch
from chathub.bench.wire import FrameCounter, PatternCounter, marker_counter, ws_handshake

DEFAULT_SAY_AFTER = 6.0  # longer than the hub's presence digest (5 s)

# A client's phases.
CONNECTING, HANDSHAKING, JOINING, JOINED, GONE = range(5)


@dataclass
class StormPlan:
    clients: int
    transport: str  # "telnet", "ws" or "mix"
    rooms: int = 1
    window: int = 1000
    source_ips: int = 1
    presence: bool = True  # False: the target announces no joins (the baseline)
    timeout: float = 120.0
    says: int = 0
    say_after: float = DEFAULT_SAY_AFTER
    size: int = 64

    def wire(self, index: int) -> str:
        if self.transport == "mix":
            return "telnet" if index % 2 == 0 else "ws"
        return self.transport

    def room(self, index: int) -> str:
        turn = index % self.rooms
        return "lobby" if turn == 0 else f"bench{turn}"


class Client:
    __slots__ = (
        "connected_at",
        "frames",
        "head",
        "index",
        "markers",
        "nick",
        "phase",
        "room",
        "seen",
        "sock",
        "started",
        "watch",
        "wire",
    )

    def __init__(self, index: int, wire: str, room: str, sock: socket.socket) -> None:
        self.index = index
        self.wire = wire
        self.room = room
        self.sock = sock
        self.nick = f"storm{index}"
        self.phase = CONNECTING
        self.started = time.monotonic()
        self.connected_at = 0.0
        self.head = b""
        self.watch: TelnetJoinWatch | WsJoinWatch | None = None
        self.frames: FrameCounter | None = None  # a joined WebSocket client's frame walker
        self.markers: PatternCounter = marker_counter()
        self.seen = 0  # bench markers read once joined

    def opening(self, endpoint: Endpoint) -> bytes:
        if self.wire == "telnet":
            return opening("telnet", self.room, endpoint, publisher=False)
        query = {"nick": self.nick, "rooms": self.room}  # the bench's `opening` has no nick
        return ws_handshake(endpoint.host, endpoint.web or 0, endpoint.ws_path, query)


def listen_counters(path: str = "/proc/net/netstat") -> dict[str, int]:
    """TcpExt ListenOverflows and ListenDrops of this network namespace (empty if unreadable)."""
    try:
        with open(path) as file:
            lines = file.read().splitlines()
    except OSError:
        return {}
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:") and values.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return {
                key: int(table[key]) for key in ("ListenOverflows", "ListenDrops") if key in table
            }
    return {}


def retransmits(sock: socket.socket) -> int | None:
    """The kernel's count of segments this socket sent again (`tcpi_total_retrans`)."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    except OSError:
        return None
    return struct.unpack_from("I", info, 100)[0] if len(info) >= 104 else None
