"""The load itself: many raw non-blocking sockets driven from one epoll loop.

Rules:
- The generator must never be the bottleneck. Most subscribers are read in batches (every
  `SWEEP_SECONDS`, whatever is in their buffers, counted with C-speed scans); a few sampled
  subscribers are read as soon as data arrives, for latency. No per-message Python work except
  on the sampled ones.
- Connections are opened in parallel, at most `CONNECT_WINDOW` handshakes in flight (a listen
  backlog is small; a dropped SYN would cost a one-second retransmit and falsify connect time).
- Counting starts after the connections settle (no bytes for `QUIET_SECONDS`), so greetings,
  join events and replays are never counted as deliveries.
"""

import contextlib
import select
import socket
import sys
import time
from collections.abc import Callable

from chathub.bench.conn import Conn, Endpoint, Plan, counter_for, is_ready, opening
from chathub.bench.report import Connect, Latency, Trial, progress_line
from chathub.bench.wire import (
    FrameCounter,
    LatencySampler,
    make_payload,
    marker_counter,
    resp_command,
    ws_client_frame,
    ws_say,
)

SWEEP_SECONDS = 0.02
CONNECT_WINDOW = 200
QUIET_SECONDS = 0.3
SETTLE_LIMIT = 60.0
DRAIN_STALL = 5.0  # a drain gives up after this long without a new delivery
READ_SIZE = 1 << 18
KEEPALIVE_SECONDS = 10.0
KEEPALIVE = ws_client_frame(b"-")
MAX_WINDOW_MESSAGES = 100  # in flight when publishing as fast as possible


class Load:
    """Subscribers and publishers connected to one target, and the trials run over them."""

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
        self.seq = 0
        self._next_keepalive = time.monotonic() + 1.0
        self._keepalive_turn = 0

    # --- connecting ---------------------------------------------------------------------------

    def _port(self, wire: str) -> int:
        port = {"telnet": self.endpoint.telnet, "ws": self.endpoint.web}.get(wire)
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
                        if conn.wire == "redis" and conn.publisher:
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
        if conn.wire == "ws":
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

    def _poll(self, timeout: float, sweep: bool) -> int:
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

    def _flush(self) -> None:
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

    # --- a trial ------------------------------------------------------------------------------

    def _message(self, publisher_index: int) -> bytes:
        conn = self.publishers[publisher_index]
        payload = make_payload(publisher_index, self.seq, self.plan.size)
        self.seq += 1
        if conn.wire == "telnet":
            return payload + b"\r\n"
        if conn.wire == "ws":
            return ws_say(conn.room, payload)
        return resp_command(b"PUBLISH", conn.room.encode(), payload)

    def trial(
        self,
        rate: float | None,
        seconds: float,
        sample: Callable[[], tuple[float | None, int | None]],
        progress: bool = True,
    ) -> Trial:
        """Publish at `rate` messages/s (None: as fast as the target keeps up) for `seconds`,
        then wait for the deliveries to arrive."""
        if not self.publishers:
            raise RuntimeError("no publisher is connected")
        fanout = [self.per_room[conn.room] for conn in self.publishers]
        base = sum(conn.delivered for conn in self.subscribers)
        # As fast as possible means a window of messages in flight, judged by the sampled
        # subscribers (read at once, so the window reopens without waiting for a sweep).
        sampled = [conn for conn in self.subscribers if conn.sampler is not None]
        seen_before = [conn.sampler.seen for conn in sampled if conn.sampler is not None]
        per_room_published = dict.fromkeys(self.per_room, 0)
        published = expected = delivered = 0

        def in_flight() -> int:
            if not sampled:
                return (expected - delivered) // max(1, max(fanout))
            return max(
                per_room_published[conn.room] - (conn.sampler.seen - before)
                for conn, before in zip(sampled, seen_before, strict=True)
                if conn.sampler is not None
            )

        sample()  # starts the target's CPU clock
        start = time.monotonic()
        own_start = time.process_time()
        next_sweep = start + SWEEP_SECONDS
        next_progress = start + 1.0
        last_delivery = start
        end = start + seconds
        while True:
            now = time.monotonic()
            if now < end:
                due = int((now - start) * rate) + 1 if rate is not None else sys.maxsize
                while published < due and (rate is not None or in_flight() < MAX_WINDOW_MESSAGES):
                    index = published % len(self.publishers)
                    self.publishers[index].pending += self._message(index)
                    published += 1
                    expected += fanout[index]
                    per_room_published[self.publishers[index].room] += 1
                self._flush()
            elif any(conn.pending for conn in self.publishers):
                self._flush()
            elif delivered >= expected or now - last_delivery > DRAIN_STALL:
                break
            sweep = now >= next_sweep
            if sweep:
                next_sweep = now + SWEEP_SECONDS
            if now < end and rate is not None:
                timeout = max(0.0, min(next_sweep, start + published / rate) - now)
            else:  # draining, or as fast as possible: eager sockets wake us
                timeout = max(0.0, next_sweep - now)
            got = self._poll(min(timeout, SWEEP_SECONDS), sweep)
            if got:
                delivered += got
                last_delivery = time.monotonic()
            if now >= next_progress:
                self.keepalive()
                if progress:
                    elapsed = now - start
                    behind = expected - delivered
                    self.log(progress_line(elapsed, delivered, delivered / elapsed, behind))
                next_progress += 1.0
        cpu, rss = sample()
        own = 100.0 * (time.process_time() - own_start) / max(1e-9, time.monotonic() - start)
        latencies: list[int] = []
        for conn in self.subscribers:
            if conn.sampler is not None:
                latencies.extend(conn.sampler.latencies_ns)
                conn.sampler.latencies_ns.clear()
        total = sum(conn.delivered for conn in self.subscribers) - base
        return Trial(
            rate=rate,
            seconds=max(seconds, last_delivery - start),
            published=published,
            expected=expected,
            delivered=total,
            latency=Latency.from_ns(latencies),
            hub_cpu=cpu,
            hub_rss_kib=rss,
            bench_cpu=own,
        )

    def close(self) -> None:
        for conn in list(self.by_fd.values()):
            conn.sock.close()
        self.by_fd.clear()
        self.eager.close()
        self.batch.close()
