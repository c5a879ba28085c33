"""The load itself: many raw non-blocking sockets driven from one epoll loop.

Rules:
- The generator must never be the bottleneck. Most subscribers are read in batches (on each
  sweep, whatever is in their buffers, counted with C-speed scans); a few sampled subscribers
  and the publishers are read as soon as data arrives, for latency. No per-message Python work
  except on the sampled ones. When to sweep and what to publish is the trial's (`trial.py`).
- Connections are opened in parallel, at most `CONNECT_WINDOW` handshakes in flight (a listen
  backlog is small; a dropped SYN would cost a one-second retransmit and falsify connect time).
- Counting starts after the connections settle (no bytes for `QUIET_SECONDS`), so greetings,
  join events and replays are never counted as deliveries.
- An HTTP publisher is a keep-alive connection; the hub closes one that has sent nothing for a
  while (connecting and settling may take longer), so a closed one is opened again at once.
"""

import contextlib
import select
import socket
import time
from collections.abc import Callable

from chathub.bench.conn import (
    Conn,
    Endpoint,
    Plan,
    counter_for,
    is_ready,
    opening,
    ready_at_once,
)
from chathub.bench.report import Connect
from chathub.bench.wire import (
    AnswerCounter,
    FrameCounter,
    LatencySampler,
    marker_counter,
    ws_client_frame,
)

CONNECT_WINDOW = 200
QUIET_SECONDS = 0.3
SETTLE_LIMIT = 60.0
READ_SIZE = 1 << 18
KEEPALIVE_SECONDS = 10.0
KEEPALIVE = ws_client_frame(b"-")


class Load:
    """Subscribers and publishers connected to one target, read and written without blocking."""

    def __init__(self, plan: Plan, endpoint: Endpoint, log: Callable[[str], None]) -> None:
        self.plan = plan
        self.endpoint = endpoint
        self.log = log
        self.subscribers: list[Conn] = []
        self.publishers: list[Conn] = []
        self.eager = select.epoll()  # sampled subscribers and publishers
        self.batch = select.epoll()  # every other subscriber, polled once per sweep
        self.by_fd: dict[int, Conn] = {}
        self.per_room = {name: 0 for name in plan.room_names}
        self.seq = 0  # messages published so far, over every trial: each marker is unique
        self._next_keepalive = time.monotonic() + 1.0
        self._keepalive_turn = 0

    # --- connecting ---------------------------------------------------------------------------

    def _port(self, wire: str) -> int:
        web = self.endpoint.web
        port = {"telnet": self.endpoint.telnet, "ws": web, "sse": web, "http": web}.get(wire)
        port = self.endpoint.redis if wire == "redis" else port
        if port is None:
            raise ValueError(f"the target has no {wire} port")
        return port

    def _new(self, index: int, wire: str, room: str, publisher: bool) -> Conn:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.plan.source_ips > 1:
            # Several loopback source addresses give more than one port range's worth of
            # connections to one server port.
            sock.bind((f"127.0.0.{1 + index % self.plan.source_ips}", 0))
        sock.setblocking(False)
        sock.connect_ex((self.endpoint.host, self._port(wire)))
        return Conn(sock, wire, room, publisher, counter_for(wire))

    def open(self, rss: Callable[[], int | None]) -> Connect:
        """Open every connection, in parallel, and wait until all are ready and quiet."""
        plan = self.plan
        specs: list[tuple[str, str, bool]] = []
        for i in range(plan.subscribers):
            specs.append((plan.subscriber_wire(i), plan.room_names[i % plan.rooms], False))
        for j in range(plan.publishers):
            wire = "redis" if plan.transport == "redis" else plan.publish_over
            specs.append((wire, plan.room_names[j % plan.rooms], True))
        sample_every = max(1, plan.subscribers // max(1, plan.sampled))
        result = Connect(connections=len(specs), rss_before_kib=rss())
        connecting = select.epoll()
        waiting: dict[int, Conn] = {}
        started = time.monotonic()
        next_spec = 0
        done = 0
        while done + result.failed < len(specs):
            while next_spec < len(specs) and len(waiting) < CONNECT_WINDOW:
                wire, room, publisher = specs[next_spec]
                try:
                    conn = self._new(next_spec, wire, room, publisher)
                except OSError as problem:  # out of descriptors or ports: stop opening
                    self.log(f"bench: cannot open more connections: {problem}")
                    result.failed += len(specs) - next_spec
                    next_spec = len(specs)
                    break
                if not publisher and next_spec % sample_every == 0:
                    conn.sampler = LatencySampler()
                elif wire == "ws" and not publisher:
                    conn.counter = marker_counter()
                waiting[conn.fd] = conn
                connecting.register(conn.fd, select.EPOLLOUT)
                next_spec += 1
            for fd, mask in connecting.poll(1.0, CONNECT_WINDOW + 1):
                conn = waiting[fd]
                try:
                    if mask & select.EPOLLOUT:
                        error = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if error:
                            raise ConnectionError(f"connect failed: errno {error}")
                        first = opening(conn.wire, conn.room, self.endpoint, conn.publisher)
                        conn.sock.sendall(first)
                        if ready_at_once(conn):
                            self._admit(conn, connecting, waiting)  # nothing to wait for
                            done += 1
                        else:
                            connecting.modify(fd, select.EPOLLIN)
                        continue
                    data = conn.sock.recv(READ_SIZE)
                    if not data:
                        raise ConnectionError("closed by the target while connecting")
                    conn.head += data
                    if is_ready(conn):
                        self._admit(conn, connecting, waiting)
                        done += 1
                except (OSError, ConnectionError) as problem:
                    if result.failed == 0:
                        self.log(f"bench: a connection failed: {problem}")
                    connecting.unregister(fd)
                    del waiting[fd]
                    conn.sock.close()
                    result.failed += 1
        result.seconds = time.monotonic() - started
        self.settle()
        result.rss_after_kib = rss()
        result.connections = done
        return result

    def _admit(self, conn: Conn, connecting: select.epoll, waiting: dict[int, Conn]) -> None:
        connecting.unregister(conn.fd)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        del waiting[conn.fd]
        conn.ready = True
        if conn.wire in ("ws", "sse"):
            rest = conn.head.split(b"\r\n\r\n", 1)[1]
            conn.counter.feed(rest)  # keeps the frame walker aligned; not counted as delivered
        conn.head = b""
        self.by_fd[conn.fd] = conn
        if conn.publisher:
            self.publishers.append(conn)
            self.eager.register(conn.fd, select.EPOLLIN)
        else:
            self.subscribers.append(conn)
            self.per_room[conn.room] += 1
            poller = self.eager if conn.sampler is not None else self.batch
            poller.register(conn.fd, select.EPOLLIN)

    # --- reading ------------------------------------------------------------------------------

    def _read(self, conn: Conn) -> int:
        try:
            data = conn.sock.recv(READ_SIZE)
        except BlockingIOError:
            return 0
        except OSError:  # reset by the target
            data = b""
        if not data:
            self._drop(conn)
            return 0
        if conn.publisher:
            if isinstance(conn.counter, AnswerCounter):
                conn.counter.feed(data)  # HTTP answers: tallied, not deliveries
            return 0  # its own echo or Redis's reply counts: not a delivery
        if conn.sampler is not None:
            conn.sampler.feed(data)
        count = conn.counter.feed(data)
        conn.delivered += count
        if isinstance(conn.counter, FrameCounter) and conn.counter.pings:
            self._pong(conn, conn.counter)
        return count

    def _pong(self, conn: Conn, counter: FrameCounter) -> None:
        """A sampled WebSocket subscriber walks frames, so it answers pings as a client must."""
        pongs = b"".join(ws_client_frame(payload, opcode=0xA) for payload in counter.pings)
        counter.pings.clear()
        with contextlib.suppress(OSError):  # full or closed: the next ping or read will tell
            conn.sock.send(pongs)

    def keepalive(self) -> None:
        """Once a second, a tenth of the WebSocket subscribers read in batches each send one
        frame the hub cannot parse (the cheapest thing it answers): they cannot answer pings
        (they do not parse frames), and Autobahn takes any data frame from the peer as an
        answer. Spread out, so the target never gets a thousand at once; the replies carry no
        marker, so they are not counted."""
        now = time.monotonic()
        if now < self._next_keepalive:
            return
        self._next_keepalive = now + 1.0
        quiet = [
            conn
            for conn in self.subscribers
            if conn.wire == "ws" and not isinstance(conn.counter, FrameCounter)
        ]
        turns = int(KEEPALIVE_SECONDS)  # each subscriber once in this many seconds
        self._keepalive_turn = (self._keepalive_turn + 1) % turns
        for conn in quiet[self._keepalive_turn :: turns]:
            try:
                conn.sock.send(KEEPALIVE)
            except BlockingIOError:
                pass
            except OSError:
                self._drop(conn)

    def _drop(self, conn: Conn) -> None:
        if conn.wire == "http" and conn.publisher:
            self._reopen(conn)
            return
        self.log(f"bench: the target closed a {conn.wire} connection")
        poller = self.batch if (not conn.publisher and conn.sampler is None) else self.eager
        poller.unregister(conn.fd)
        del self.by_fd[conn.fd]
        conn.sock.close()
        if conn.publisher:
            self.publishers.remove(conn)
        else:
            self.subscribers.remove(conn)
            self.per_room[conn.room] -= 1

    def _reopen(self, conn: Conn) -> None:
        """A keep-alive HTTP publisher the hub closed: the same publisher on a new connection
        (what it had not sent yet is lost, and shows as loss)."""
        if conn.pending or (
            isinstance(conn.counter, AnswerCounter) and conn.counter.answers < conn.sent
        ):
            self.log("bench: the target closed an HTTP publisher with requests unanswered")
        self.eager.unregister(conn.fd)
        del self.by_fd[conn.fd]
        conn.sock.close()
        sock = socket.create_connection((self.endpoint.host, self._port("http")), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        conn.sock, conn.pending = sock, b""
        if isinstance(conn.counter, AnswerCounter):
            conn.sent = conn.counter.answers  # the lost ones are no longer awaited
        self.by_fd[conn.fd] = conn
        self.eager.register(conn.fd, select.EPOLLIN)

    def answers(self) -> tuple[int, int]:
        """HTTP publishers' answers so far: all of them, and the `201 Created` among them."""
        counters = [c.counter for c in self.publishers if isinstance(c.counter, AnswerCounter)]
        return sum(c.answers for c in counters), sum(c.created for c in counters)

    def poll(self, timeout: float, sweep: bool) -> int:
        """Read the eager sockets that are ready within `timeout`, and with `sweep` every batch
        socket with data too; returns the deliveries counted."""
        count = 0
        for fd, _ in self.eager.poll(timeout, len(self.by_fd) + 1):
            conn = self.by_fd.get(fd)
            if conn is not None:
                count += self._read(conn)
        if sweep:
            for fd, _ in self.batch.poll(0, len(self.by_fd) + 1):
                conn = self.by_fd.get(fd)
                if conn is not None:
                    count += self._read(conn)
        return count

    def flush(self) -> None:
        """Hand each publisher's pending bytes to the kernel, as much as it takes now."""
        for conn in self.publishers:
            if conn.pending:
                try:
                    sent = conn.sock.send(conn.pending)
                except BlockingIOError:
                    continue
                except OSError:
                    self._drop(conn)
                    return
                conn.pending = conn.pending[sent:]

    def settle(self) -> None:
        """Read everything until nothing has arrived for `QUIET_SECONDS`."""
        started = last = time.monotonic()
        while True:
            now = time.monotonic()
            if now - last > QUIET_SECONDS or now - started > SETTLE_LIMIT:
                break
            self.keepalive()
            got = 0
            for poller in (self.eager, self.batch):
                for fd, _ in poller.poll(0.05, len(self.by_fd) + 1):
                    conn = self.by_fd.get(fd)
                    if conn is None:
                        continue
                    try:
                        data = conn.sock.recv(READ_SIZE)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        self._drop(conn)
                        continue
                    got += 1
                    conn.counter.feed(data)  # keeps it aligned; these are not deliveries
                    if conn.sampler is not None:
                        conn.sampler.feed(data)
            if got:
                last = time.monotonic()
        for conn in self.subscribers:
            if conn.sampler is not None:
                conn.sampler.latencies_ns.clear()

    def close(self) -> None:
        for conn in list(self.by_fd.values()):
            conn.sock.close()
        self.by_fd.clear()
        self.eager.close()
        self.batch.close()
