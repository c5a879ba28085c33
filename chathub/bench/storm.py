"""`--storm`: N clients into one room as fast as the bench opens them, each timed until it has
seen its own join; then, with `--then-say`, messages to the room timed to every member.

Rules:
- One epoll loop over raw non-blocking sockets, as in `load.py`. A client is connecting (TCP),
  then handshaking (its opening sent: a telnet client waits for its first line, a WebSocket
  client for the `101`), then joining (until `joins.py` recognises its own join), then joined:
  a joined client's reads are only scanned for bench markers (and on WebSocket walked for pings,
  which it answers), and every socket is read as soon as it has data, so the hub never holds
  output for a reader that fell behind.
- At most `window` clients connect or handshake at once (0: no limit). The hub listens with a
  backlog of 1024: past it the kernel drops SYNs (sent again a second later) and, with SYN
  cookies, the handshake's last ACK, which leaves a client that thinks it is connected and a
  hub that never heard of it (a telnet client then waits for a greeting that never comes: not
  joined by the deadline). The report shows it rather than hides it: the kernel's listen
  overflows, its retransmit count over the bench's sockets, handshakes of a second or more.
- Every client that does not join is counted by why: refused, reset, closed by the target,
  handshake refused (a status other than 101), not opened (the bench's own descriptors or
  ports), or not joined by the deadline.
- The clock starts at the first `connect`; all joined is when the last client saw its own
  join. The target's CPU seconds and RSS are read at the start and at that moment.
- A target without presence (the baseline) has no join to see: its clients join at the end of
  their handshake.
- Then-say: after `say_after` seconds of reading (by default longer than the hub's 5-second
  presence digest, so the message is measured alone), the first joined client of the first
  room (the lobby) says one message there; a member's time runs from just before the send to
  the return of the poll that reported the read holding the marker. Messages go one at a
  time, each once every member has had the one before (or `SAY_DEADLINE` passed).
"""

import contextlib
import errno
import json
import select
import socket
import time
from collections.abc import Callable

from chathub.bench.conn import Endpoint
from chathub.bench.crowd import (
    CONNECTING,
    GONE,
    HANDSHAKING,
    JOINED,
    JOINING,
    Client,
    StormPlan,
    listen_counters,
    retransmits,
)
from chathub.bench.joins import TelnetJoinWatch, WsJoinWatch
from chathub.bench.report import Say, Storm
from chathub.bench.wire import FrameCounter, make_payload, ws_client_frame, ws_say

READ_SIZE = 1 << 16
SLOW_CONNECT = 1.0  # a dropped SYN is sent again after a second
SAY_DEADLINE = 10.0  # seconds for every member to have one message
POLL_EVENTS = 256  # events per poll: a member's time is the poll's, so polls stay short


class StormRun:
    """One storm against one target: open, join, then say; see the module's rules."""

    def __init__(
        self,
        plan: StormPlan,
        endpoint: Endpoint,
        log: Callable[[str], None],
        report: Storm,
    ) -> None:
        self.plan = plan
        self.endpoint = endpoint
        self.log = log
        self.report = report
        self.poller = select.epoll()
        self.by_fd: dict[int, Client] = {}
        self.clients: list[Client] = []
        self.in_flight = 0  # connecting or handshaking
        self.waiting = 0  # opened and not yet joined nor gone
        self.last_handshake = 0.0
        self.last_join = 0.0
        self.received = 0  # bytes read from the target

    # --- opening --------------------------------------------------------------------------

    def _open(self, index: int) -> None:
        plan = self.plan
        wire, room = plan.wire(index), plan.room(index)
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as problem:
            self._not_opened(problem)
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if plan.source_ips > 1:
                sock.bind((f"127.0.0.{1 + index % plan.source_ips}", 0))
            sock.setblocking(False)
            port = self.endpoint.telnet if wire == "telnet" else self.endpoint.web
            if port is None:
                raise ValueError(f"the target has no {wire} port")
            client = Client(index, wire, room, sock)
            code = sock.connect_ex((self.endpoint.host, port))
        except OSError as problem:
            sock.close()
            self._not_opened(problem)
            return
        self.clients.append(client)
        if code not in (0, errno.EINPROGRESS):
            self._gone(client, "refused" if code == errno.ECONNREFUSED else "reset", code)
            return
        self.by_fd[sock.fileno()] = client
        self.poller.register(sock.fileno(), select.EPOLLOUT)
        self.in_flight += 1
        self.waiting += 1

    def _not_opened(self, problem: Exception) -> None:
        if self.report.not_opened == 0:
            self.log(f"bench: cannot open more connections: {problem}")
        self.report.not_opened += 1

    def _gone(self, client: Client, why: str, code: int | None = None) -> None:
        """Count a client that will not join (or dropped after joining) and forget it."""
        report = self.report
        phase = client.phase
        if phase == GONE:
            return
        fd = client.sock.fileno()
        polled = self.by_fd.get(fd) is client  # counted as waiting (and maybe in flight)
        if phase == JOINED:
            report.dropped_after_join += 1
        else:
            setattr(report, why, getattr(report, why) + 1)
            if report.failed == 1:
                detail = f" (errno {code})" if code else ""
                self.log(f"bench: a storm client failed: {why}{detail}")
            if polled:
                self.waiting -= 1
                self.in_flight -= 1 if phase in (CONNECTING, HANDSHAKING) else 0
        if polled:
            del self.by_fd[fd]
            with contextlib.suppress(OSError):
                self.poller.unregister(fd)
        client.phase = GONE
        client.sock.close()

    # --- reading --------------------------------------------------------------------------

    def _writable(self, client: Client) -> None:
        error = client.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            self._gone(client, "refused" if error == errno.ECONNREFUSED else "reset", error)
            return
        client.connected_at = time.monotonic()
        try:
            first = client.opening(self.endpoint)
            if first:
                client.sock.send(first)  # a few hundred bytes on a new socket: taken whole
        except OSError as problem:
            self._gone(client, "reset", problem.errno)
            return
        client.phase = HANDSHAKING
        self.poller.modify(client.sock.fileno(), select.EPOLLIN)

    def _readable(self, client: Client, now: float) -> int:
        """Read what `client` has; returns 1 when that read held a bench marker."""
        try:
            data = client.sock.recv(READ_SIZE)
        except BlockingIOError:
            return 0
        except OSError as problem:
            self._gone(client, "reset", problem.errno)
            return 0
        if not data:
            self._gone(client, "closed")
            return 0
        self.received += len(data)
        phase = client.phase
        if phase == JOINED:
            return self._joined_read(client, data)
        if phase == HANDSHAKING:
            client.head += data
            if client.wire == "telnet":
                if b"\n" not in client.head:
                    return 0
                data, client.head = client.head, b""
            else:
                if b"\r\n\r\n" not in client.head:
                    return 0
                response, data = client.head.split(b"\r\n\r\n", 1)
                client.head = b""
                if b" 101 " not in response.split(b"\r\n", 1)[0] + b" ":
                    self._gone(client, "handshake_refused")
                    return 0
            self._handshaken(client, now)
            if not self.plan.presence:
                self._join(client, now, named=True)
                return self._joined_read(client, data) if data else 0
            client.watch = (
                TelnetJoinWatch(client.room)
                if client.wire == "telnet"
                else WsJoinWatch(client.room)
            )
        watch = client.watch
        assert watch is not None
        if not watch.feed(data):
            if isinstance(watch, WsJoinWatch) and watch.pings:
                self._pong(client, watch.pings)
            return 0
        self._join(client, now, named=watch.named)
        if isinstance(watch, WsJoinWatch):
            if watch.pings:
                self._pong(client, watch.pings)
            client.frames = FrameCounter()
            if watch.rest:
                return self._joined_read(client, watch.rest)
        client.watch = None
        return 0

    def _handshaken(self, client: Client, now: float) -> None:
        report = self.report
        report.handshaken += 1
        self.in_flight -= 1
        self.last_handshake = now
        seconds = now - client.started
        report.handshake_ms.append(seconds * 1000)
        if seconds >= SLOW_CONNECT:
            report.slow_connects += 1
        client.phase = JOINING

    def _join(self, client: Client, now: float, named: bool) -> None:
        report = self.report
        report.joined += 1
        report.joined_named += 1 if named else 0
        report.join_ms.append((now - client.started) * 1000)
        self.waiting -= 1
        self.last_join = now
        client.phase = JOINED
        if client.wire == "ws" and client.frames is None:
            client.frames = FrameCounter()

    def _joined_read(self, client: Client, data: bytes) -> int:
        frames = client.frames
        if frames is not None:
            frames.feed(data)
            if frames.pings:
                self._pong(client, frames.pings)
        found = client.markers.feed(data)
        client.seen += found
        return 1 if found else 0

    def _pong(self, client: Client, pings: list[bytes]) -> None:
        pongs = b"".join(ws_client_frame(payload, opcode=0xA) for payload in pings)
        pings.clear()
        with contextlib.suppress(OSError):  # full or gone: the next read will tell
            client.sock.send(pongs)

    def _poll(self, timeout: float) -> tuple[float, list[Client]]:
        """One poll: its time, and the clients whose reads held a marker."""
        events = self.poller.poll(timeout, POLL_EVENTS)
        now = time.monotonic()
        marked: list[Client] = []
        for fd, mask in events:
            client = self.by_fd.get(fd)
            if client is None:
                continue
            if client.phase == CONNECTING:
                if mask & (select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP):
                    self._writable(client)
            elif self._readable(client, now):
                marked.append(client)
        return now, marked

    # --- the storm ------------------------------------------------------------------------

    def storm(self, cpu: Callable[[], float | None], rss: Callable[[], int | None]) -> None:
        plan, report = self.plan, self.report
        report.hub_rss_before_kib = rss()
        listen_before = listen_counters()
        cpu_before = cpu()
        own_before = time.process_time()
        started = time.monotonic()
        deadline = started + plan.timeout
        next_progress = started + 1.0
        window = plan.window or plan.clients
        opened = 0
        while True:
            while opened < plan.clients and self.in_flight < window:
                self._open(opened)
                opened += 1
            if opened >= plan.clients and self.waiting == 0:
                break
            now, _ = self._poll(0.05)
            if now >= next_progress:
                next_progress += 1.0
                self.log(
                    f"  {now - started:5.1f}s  opened {opened:,}, handshaken "
                    f"{report.handshaken:,}, joined {report.joined:,}, failed {report.failed:,}"
                )
            if now > deadline:
                for client in list(self.by_fd.values()):
                    if client.phase != JOINED:
                        self._gone(client, "timed_out")
                break
        cpu_after = cpu()
        report.bench_cpu_seconds = time.process_time() - own_before
        listen_after = listen_counters()
        for key, name in (("ListenOverflows", "listen_overflows"), ("ListenDrops", "listen_drops")):
            if key in listen_before and key in listen_after:
                setattr(report, name, listen_after[key] - listen_before[key])
        if cpu_before is not None and cpu_after is not None:
            report.hub_cpu_seconds = cpu_after - cpu_before
        report.hub_rss_after_kib = rss()
        report.bytes_received = self.received
        if report.handshaken:
            report.seconds_to_handshaken = self.last_handshake - started
        if report.joined == plan.clients:
            report.seconds_to_joined = self.last_join - started
        counts = [retransmits(client.sock) for client in self.by_fd.values()]
        known = [count for count in counts if count is not None]
        report.retransmits = sum(known) if known else None

    def drain(self, seconds: float) -> None:
        """Read everything for `seconds` (the digest and anything else still coming)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._poll(max(0.0, min(0.05, end - time.monotonic())))

    def say(self, seq: int, cpu: Callable[[], float | None]) -> Say:
        """Say one message in the first room and time it to each of its joined members."""
        members = [c for c in self.by_fd.values() if c.phase == JOINED and c.room == "lobby"]
        if not members:
            return Say(0, 0)
        speaker = members[0]
        payload = make_payload(0, seq, self.plan.size)
        telnet = speaker.wire == "telnet"
        line = payload + b"\r\n" if telnet else ws_say(speaker.room, payload)
        waiting = {id(client): client.seen for client in members}
        result = Say(len(members), 0)
        cpu_before, own_before = cpu(), time.process_time()
        sent = time.monotonic()
        try:
            speaker.sock.send(line)
        except OSError:
            return result
        deadline = sent + SAY_DEADLINE
        while waiting and time.monotonic() < deadline:
            now, marked = self._poll(0.05)
            for client in marked:
                key = id(client)
                if key in waiting and client.seen > waiting[key]:
                    del waiting[key]
                    result.received += 1
                    result.latencies_ms.append((now - sent) * 1000)
        cpu_after = cpu()
        result.bench_cpu_seconds = time.process_time() - own_before
        if cpu_before is not None and cpu_after is not None:
            result.hub_cpu_seconds = cpu_after - cpu_before
        return result

    def close(self) -> None:
        for client in self.clients:
            client.sock.close()
        self.by_fd.clear()
        self.poller.close()


def run_storm(
    plan: StormPlan,
    endpoint: Endpoint,
    log: Callable[[str], None],
    report: Storm,
    cpu: Callable[[], float | None],
    rss: Callable[[], int | None],
) -> Storm:
    """The storm, then the messages; fills and returns `report`."""
    run = StormRun(plan, endpoint, log, report)
    try:
        run.storm(cpu, rss)
        summary = {k: v for k, v in report.as_dict().items() if not isinstance(v, list | dict)}
        log("storm: " + json.dumps(summary))
        if plan.says:
            log(f"reading for {plan.say_after:g}s before the first message")
            run.drain(plan.say_after)
            for seq in range(plan.says):
                say = run.say(seq, cpu)
                report.says.append(say)
                log(f"message {seq + 1}: {json.dumps(say.as_dict())}")
                run.drain(0.5)
        return report
    finally:
        run.close()
