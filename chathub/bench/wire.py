"""What the load generator sends and how it counts what comes back, for each wire format.

Rules:
- Counting is done on whole receive buffers with C-speed scans (`bytes.count`), never by
  splitting a buffer into messages in Python: a telnet delivery is a line ending, a Redis
  delivery is the fixed header of a `message` push, a WebSocket delivery read in a batch is a
  marker's `MARKER_TAG`. The few sampled WebSocket subscribers are counted by `FrameCounter`,
  which walks frame headers, jumping over payloads, so the two methods check each other.
- Every counter keeps just enough state to count correctly however the stream was split
  into reads (a header cut in two, a payload spread over many reads).
- Server-Sent Events are counted like batched WebSocket reads, by the marker tag (it is in each
  event's `data:` line once, and nothing else of the stream can hold it). Publishing over HTTP
  is a `POST` on a keep-alive connection; its answers are tallied by status line.
- A bench payload carries a marker `~~~~PUB.SEQ.TIME_NS~` (publisher, sequence, send time in
  nanoseconds since the epoch); only the few sampled subscribers look for it, to measure latency.
"""

import base64
import json
import os
import re
import time
from urllib.parse import quote

# --- payloads and latency ------------------------------------------------------------------

_MARKER = re.compile(rb"~~~~(\d+)\.(\d+)\.(\d{19})~")
# A marker is at most this long; a partial one can only be in the last this many bytes.
_MARKER_MAX = 48


def make_payload(publisher: int, seq: int, size: int, now_ns: int | None = None) -> bytes:
    """A message of `size` bytes (or the marker alone, if longer) stamped with its send time."""
    stamp = time.time_ns() if now_ns is None else now_ns
    marker = b"~~~~%d.%d.%d~" % (publisher, seq, stamp)
    return marker + b"x" * (size - len(marker)) if size > len(marker) else marker


class LatencySampler:
    """Finds payload markers in a sampled subscriber's stream and records how old each one is.

    Split-safe: what follows the last complete marker (at most `_MARKER_MAX` bytes of it) is
    kept for the next read, so a marker cut in two is seen once, whole.
    """

    def __init__(self) -> None:
        self.latencies_ns: list[int] = []
        self.seen = 0  # markers found, ever
        self.last_seq: dict[int, int] = {}  # publisher -> highest sequence seen
        self._tail = b""

    def feed(self, data: bytes, now_ns: int | None = None) -> int:
        """Record the markers in `data`; returns how many were found."""
        received = time.time_ns() if now_ns is None else now_ns
        buffer = self._tail + data if self._tail else data
        end = 0
        found = 0
        last_seq = self.last_seq
        for match in _MARKER.finditer(buffer):
            publisher, seq, sent = int(match[1]), int(match[2]), int(match[3])
            self.latencies_ns.append(received - sent)
            if seq > last_seq.get(publisher, -1):
                last_seq[publisher] = seq
            end = match.end()
            found += 1
        self.seen += found
        rest = len(buffer) - end
        self._tail = bytes(buffer[len(buffer) - min(rest, _MARKER_MAX) :]) if rest else b""
        return found


# --- counters ------------------------------------------------------------------------------


class LineCounter:
    """Telnet: one delivery per line; the server ends every line with `\\r\\n`."""

    def feed(self, data: bytes) -> int:
        return data.count(b"\n")


class PatternCounter:
    """Counts occurrences of a fixed byte string, including one split across two reads."""

    def __init__(self, pattern: bytes) -> None:
        self.pattern = pattern
        self._tail = b""

    def feed(self, data: bytes) -> int:
        keep = len(self.pattern) - 1
        count = data.count(self.pattern)
        if self._tail:
            # A match across the seam starts in the tail and ends in the first bytes of data;
            # none fits wholly in either part, which are shorter than the pattern.
            count += (self._tail + data[:keep]).count(self.pattern)
        self._tail = bytes(data[-keep:]) if len(data) >= keep else (self._tail + data)[-keep:]
        return count


# A bench message's marker starts with this; nothing else a hub sends can hold it (nicks and
# rooms have no `~`), and no WebSocket frame header can either: a header is 0x81, then at most
# three bytes that may be `~` (0x7E: the 16-bit length flag, then the length), then the
# payload's `{`. So WebSocket subscribers read in batches count this tag with one C-speed scan
# per read, where walking frame headers in Python would make the generator the bottleneck
# past a million frames a second.
MARKER_TAG = b"~~~~"


def marker_counter() -> "PatternCounter":
    return PatternCounter(MARKER_TAG)


# A Redis pub/sub delivery: `*3\r\n$7\r\nmessage\r\n$<len>\r\n<channel>\r\n$<len>\r\n<data>\r\n`.
RESP_MESSAGE = b"*3\r\n$7\r\nmessage\r\n"


def resp_counter() -> PatternCounter:
    return PatternCounter(RESP_MESSAGE)


class FrameCounter:
    """WebSocket, server to client (unmasked): counts complete data messages (final frames of
    text, binary or continuation); control frames are not deliveries, but the payload of each
    ping is kept in `pings`, for the client to answer."""

    def __init__(self) -> None:
        self._skip = 0  # payload bytes of the current frame still to come
        self._head = b""  # a frame header (or a whole ping) cut short by the end of a read
        self.pings: list[bytes] = []

    def feed(self, data: bytes) -> int:
        if self._head:
            data = self._head + data
            self._head = b""
        size = len(data)
        i = self._skip
        count = 0
        while i < size:
            if i + 2 > size:
                break
            first = data[i]
            length = data[i + 1] & 0x7F
            start = i + 2
            if length == 126:
                start = i + 4
                if start > size:
                    break
                length = (data[i + 2] << 8) | data[i + 3]
            elif length == 127:
                start = i + 10
                if start > size:
                    break
                length = int.from_bytes(data[i + 2 : i + 10], "big")
            if data[i + 1] & 0x80:
                start += 4  # a masked frame (not from a server, but legal to walk)
            # FIN set and a data opcode (0 continuation, 1 text, 2 binary) ends one message.
            if first & 0x80 and (first & 0x0F) < 3:
                count += 1
            elif first & 0x0F == 9:  # a ping (at most 125 bytes): wait for all of it
                if start + length > size:
                    break
                self.pings.append(bytes(data[start : start + length]))
            i = start + length
        if i >= size:
            self._skip = i - size
        else:
            self._skip = 0
            self._head = bytes(data[i:])
        return count


# --- what clients send ----------------------------------------------------------------------


def ws_handshake(host: str, port: int, path: str, query: dict[str, str]) -> bytes:
    """The opening handshake of a plain WebSocket client (no Origin, no extensions)."""
    key = base64.b64encode(os.urandom(16)).decode()
    target = path
    if query:
        target += "?" + "&".join(f"{k}={quote(v, safe=',:')}" for k, v in query.items())
    return (
        f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def ws_client_frame(payload: bytes, opcode: int = 1) -> bytes:
    """A final client frame. Clients must mask; an all-zero mask leaves the payload as it is."""
    size = len(payload)
    if size < 126:
        header = bytes((0x80 | opcode, 0x80 | size))
    elif size < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    return header + b"\0\0\0\0" + payload


def ws_say(room: str, payload: bytes) -> bytes:
    """A chathub `say` op as a client frame."""
    body = json.dumps({"op": "say", "room": room, "text": payload.decode()}, separators=(",", ":"))
    return ws_client_frame(body.encode())


def resp_command(*parts: bytes) -> bytes:
    """A Redis command in RESP."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


def sse_request(host: str, port: int, room: str) -> bytes:
    """The GET that opens a room's event stream."""
    return (
        f"GET /api/rooms/{room}/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()


def http_publish(
    host: str, port: int, room: str, token: str, payload: bytes | list[bytes]
) -> bytes:
    """A `POST /api/rooms/ROOM/messages` of one message (or, for a list, an array of them),
    keeping the connection open."""
    if isinstance(payload, list):  # a bench payload needs no JSON escaping
        body = b"[" + b",".join(b'{"text":"' + one + b'"}' for one in payload) + b"]"
    else:
        body = b'{"text":"' + payload + b'"}'
    head = (
        f"POST /api/rooms/{room}/messages HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class AnswerCounter:
    """An HTTP publisher's answers: how many came, and how many were `201 Created`."""

    def __init__(self) -> None:
        self._answers = PatternCounter(b"HTTP/1.1 ")
        self._created = PatternCounter(b"HTTP/1.1 201 ")
        self.answers = 0
        self.created = 0

    def feed(self, data: bytes) -> int:
        self.answers += self._answers.feed(data)
        self.created += self._created.feed(data)
        return 0  # answers are not deliveries
