"""A WebSocket load for the end-to-end tests: many raw /ws connections driven by one process.

Run as `python -m tests.e2e.wsload SPEC RESULT` (JSON files): it opens every connection of the
spec (each from its own source address, with its nick and rooms), writes `ready` into the spec's
`ready_file` once all are welcomed, then has each say `text` into its rooms in turn, at `rate`
messages a second, every message with a `ref` (`{ref}` in `text` is replaced by it, so each
message can be told apart), and at most `window` of them unanswered (a
client that waits for its echoes, so it stays within the hub's rate and burst limits). It stops
after `duration` seconds or when every connection is gone (the hub was killed), then writes
RESULT: counts, and with `acks`, every acknowledged message as [room, id, unix time of the
ack, ref]. Frames are made once and written with plain non-blocking sockets, so one process drives
hundreds of connections without becoming the bottleneck.
"""

import json
import os
import random
import selectors
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chathub.bench.wire import ws_client_frame, ws_handshake


@dataclass(eq=False)
class Conn:
    index: int
    sock: socket.socket
    rooms: list[str]
    bodies: list[bytes]  # one `say` op per room, with `{ref}` where its ref goes
    open: bool = False  # the handshake is done
    welcomed: bool = False
    joined: int = 0  # rooms it has been announced in
    nick: str = ""
    closed: bool = False
    buffer: bytearray = field(default_factory=bytearray)
    out: bytearray = field(default_factory=bytearray)
    next_at: float = 0.0
    seq: int = 0
    unanswered: int = 0
    acked: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    frames_in: int = 0
    bytes_in: int = 0
    partial: bytearray = field(default_factory=bytearray)  # a fragmented message so far


def say_body(room: str, text: str, ref: str) -> bytes:
    body = json.dumps({"op": "say", "room": room, "text": text, "ref": ref}, ensure_ascii=False)
    return body.encode("utf-8")


def connect(index: int, spec: dict[str, Any], port: int) -> Conn:
    source = spec.get("source", "127.0.0.1")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    query = {"nick": spec["nick"], "rooms": ",".join(spec["rooms"])}
    conn = Conn(index, sock, list(spec["rooms"]), [], nick=spec["nick"])
    conn.out += ws_handshake("127.0.0.1", port, "/ws", query)
    return conn


def parse_frames(conn: Conn) -> list[tuple[int, bytes]]:
    """Complete server frames (unmasked) from the connection's buffer: (opcode, payload)."""
    data = conn.buffer
    frames: list[tuple[int, bytes]] = []
    i = 0
    size = len(data)
    while i + 2 <= size:
        first, second = data[i], data[i + 1]
        length = second & 0x7F
        start = i + 2
        if length == 126:
            if i + 4 > size:
                break
            length = int.from_bytes(data[i + 2 : i + 4], "big")
            start = i + 4
        elif length == 127:
            if i + 10 > size:
                break
            length = int.from_bytes(data[i + 2 : i + 10], "big")
            start = i + 10
        if start + length > size:
            break
        payload = bytes(data[start : start + length])
        opcode = first & 0x0F
        if opcode == 0 or not first & 0x80:  # a fragmented message: put it together
            conn.partial += payload
            if first & 0x80:
                frames.append((1, bytes(conn.partial)))
                conn.partial.clear()
        else:
            frames.append((opcode, payload))
        i = start + length
    del data[:i]
    return frames


class Load:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.port = int(spec["port"])
        self.text = spec["text"]
        self.rate = float(spec["rate"])
        self.window = int(spec.get("window", 10))
        self.keep_acks = bool(spec.get("acks", False))
        self.acks: list[tuple[str, int, float, str]] = []
        self.selector = selectors.DefaultSelector()
        self.conns: list[Conn] = []
        self.started = 0.0

    def run(self) -> dict[str, Any]:
        for index, connection in enumerate(self.spec["connections"]):
            conn = connect(index, connection, self.port)
            conn.bodies = [say_body(room, self.text, "{ref}") for room in conn.rooms]
            self.conns.append(conn)
            self.selector.register(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)
        deadline = time.monotonic() + float(self.spec.get("connect_timeout", 30))
        # Ready once every connection is in all its rooms (each room was read from disk).
        while not all(c.joined >= len(c.rooms) or c.closed for c in self.conns):
            if time.monotonic() > deadline:
                joined = sum(c.joined >= len(c.rooms) for c in self.conns)
                raise SystemExit(f"only {joined} of {len(self.conns)} connections joined in time")
            self.poll(0.05, sending=False)
        ready = self.spec.get("ready_file")
        if ready:
            with open(ready, "w") as file:
                file.write("ready")
        self.started = time.monotonic()
        period = 1.0 / self.rate if self.rate > 0 else None
        for conn in self.conns:  # spread the connections over one period
            conn.next_at = self.started + random.random() * (period or 0)
        end = self.started + float(self.spec["duration"])
        while time.monotonic() < end and not all(c.closed for c in self.conns):
            self.poll(0.005, sending=period is not None)
        elapsed = time.monotonic() - self.started
        return self.result(elapsed)

    def poll(self, timeout: float, sending: bool) -> None:
        now = time.monotonic()
        if sending:
            period = 1.0 / self.rate
            for conn in self.conns:
                if conn.closed or now < conn.next_at:
                    continue
                conn.next_at = max(conn.next_at + period, now - period)
                if conn.unanswered >= self.window:
                    continue  # a slot passes unused: this client waits for its echoes
                body = conn.bodies[conn.seq % len(conn.bodies)]
                ref = b"c%d-%d" % (conn.index, conn.seq)
                conn.out += ws_client_frame(body.replace(b"{ref}", ref))
                conn.seq += 1
                conn.unanswered += 1
                self.want_write(conn)
        for key, events in self.selector.select(timeout):
            conn = key.data
            if events & selectors.EVENT_WRITE:
                self.write(conn)
            if events & selectors.EVENT_READ and not conn.closed:
                self.read(conn)

    def want_write(self, conn: Conn) -> None:
        if not conn.closed:
            self.selector.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)

    def write(self, conn: Conn) -> None:
        if conn.out:
            try:
                sent = conn.sock.send(conn.out)
            except BlockingIOError:
                return
            except OSError:
                self.close(conn)
                return
            del conn.out[:sent]
        if not conn.out and not conn.closed:
            self.selector.modify(conn.sock, selectors.EVENT_READ, conn)

    def read(self, conn: Conn) -> None:
        try:
            chunk = conn.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.close(conn)
            return
        conn.bytes_in += len(chunk)
        conn.buffer += chunk
        if not conn.open:
            end = conn.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(conn.buffer[: conn.buffer.find(b"\r\n")])
            if b" 101 " not in status + b" ":
                raise SystemExit(f"connection {conn.index} refused: {status!r}")
            del conn.buffer[: end + 4]
            conn.open = True
        now = time.time()
        for opcode, payload in parse_frames(conn):
            if opcode == 9:  # ping: answer it
                conn.out += ws_client_frame(payload, opcode=10)
                self.want_write(conn)
                continue
            if opcode == 8:
                self.close(conn)
                return
            if opcode != 1:
                continue
            conn.frames_in += 1
            if not conn.welcomed and payload.startswith(b'{"type":"welcome"'):
                conn.welcomed = True
            elif conn.joined < len(conn.rooms) and self.own_join(conn, payload):
                conn.joined += 1
            if b'"ref":"c' not in payload[-40:]:
                if b'"code":"skipped"' in payload[:40]:  # own echoes skipped: not coming
                    conn.errors["skipped"] = conn.errors.get("skipped", 0) + 1
                    conn.unanswered = 0
                continue
            conn.unanswered = max(0, conn.unanswered - 1)
            message = json.loads(payload)
            if message.get("type") == "error":
                code = message.get("code", "?")
                conn.errors[code] = conn.errors.get(code, 0) + 1
                continue
            conn.acked += 1
            if self.keep_acks and "id" in message:
                self.acks.append((message["room"], message["id"], now, message["ref"]))

    @staticmethod
    def own_join(conn: Conn, payload: bytes) -> bool:
        if b'"kind":"join"' not in payload[:80]:
            return False
        return bool(json.loads(payload)["nick"] == conn.nick)

    def close(self, conn: Conn) -> None:
        if conn.closed:
            return
        conn.closed = True
        self.selector.unregister(conn.sock)
        conn.sock.close()

    def result(self, elapsed: float) -> dict[str, Any]:
        errors: dict[str, int] = {}
        for conn in self.conns:
            for code, count in conn.errors.items():
                errors[code] = errors.get(code, 0) + count
        return {
            "elapsed": elapsed,
            "connections": len(self.conns),
            "welcomed": sum(c.welcomed for c in self.conns),
            "closed": sum(c.closed for c in self.conns),
            "sent": sum(c.seq for c in self.conns),
            "acked": sum(c.acked for c in self.conns),
            "errors": errors,
            "frames_in": sum(c.frames_in for c in self.conns),
            "bytes_in": sum(c.bytes_in for c in self.conns),
            "acks": self.acks,
        }


def main() -> None:
    spec_path, result_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as file:
        spec = json.load(file)
    os.nice(int(spec.get("nice", 0)))  # the load should not take the hub's CPU
    result = Load(spec).run()
    temporary = result_path + ".tmp"
    with open(temporary, "w") as file:
        json.dump(result, file)
    os.replace(temporary, result_path)


# --- the test's side ---------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def crowd(count: int, rooms_each: int, sources: int = 1, prefix: str = "f") -> list[dict[str, Any]]:
    """`count` connections, each in its own `rooms_each` rooms, spread over `sources` loopback
    addresses (127.0.0.2, 127.0.0.3, ...)."""
    return [
        {
            "source": f"127.0.{(2 + n % sources) // 256}.{(2 + n % sources) % 256}",
            "nick": f"{prefix}{n}",
            "rooms": [f"{prefix}{n}-{r}" for r in range(rooms_each)],
        }
        for n in range(count)
    ]


class LoadRun:
    """The load as a child process of a test: `wait_ready()`, then `result()`."""

    def __init__(self, directory: Path, **spec: Any) -> None:
        self.directory = directory
        name = f"load-{time.monotonic_ns()}"
        self.ready_file = directory / f"{name}.ready"
        self.result_file = directory / f"{name}.result.json"
        spec_file = directory / f"{name}.spec.json"
        spec_file.write_text(json.dumps({**spec, "ready_file": str(self.ready_file)}))
        command = [sys.executable, "-m", "tests.e2e.wsload", str(spec_file), str(self.result_file)]
        self.process = subprocess.Popen(command, cwd=ROOT)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready_file.exists():
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the load stopped before it was ready: {self.process.returncode}"
                )
            if time.monotonic() > deadline:
                raise AssertionError("the load's connections did not all join in time")
            time.sleep(0.02)

    def running(self) -> bool:
        return self.process.poll() is None

    def result(self, timeout: float = 30.0) -> dict[str, Any]:
        self.process.wait(timeout)
        result: dict[str, Any] = json.loads(self.result_file.read_text())
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


if __name__ == "__main__":
    main()
