"""One measured run: publish at a rate for a while, wait for the deliveries, count them.

Rules:
- Publishing is paced by the clock: `rate` messages a second from all publishers together, in
  turn. Without a rate, as fast as the target keeps up: at most `MAX_WINDOW_MESSAGES` in flight
  to any sampled subscriber (they are read at once, so the window reopens without waiting for
  a sweep).
- Subscribers read in batches are swept every `SWEEP_SECONDS`; between sweeps the loop sleeps
  in the eager poll until the next message is due.
- After the window the trial drains: it ends when every expected delivery has arrived, or when
  none has for `DRAIN_STALL` seconds; what has not arrived then is lost.
- Over HTTP each message is one `POST` (pipelined on the publisher's keep-alive connection),
  or with `http_batch` N as arrays of up to N: as fast as possible, what the window lets go at
  once; at a set rate, what is due within `LINGER_SECONDS` of an array's first message (a
  script that has several to say sends them together; the wait counts in its latency).
  Answers other than `201` are counted and said, and the messages they refused show as lost.
- The target's CPU is sampled at the start and the end; the bench's own CPU too. Latencies are
  taken from the sampled subscribers and cleared for the next trial.
"""

import sys
import time
from collections.abc import Callable

from chathub.bench.load import Load
from chathub.bench.report import Latency, Trial, progress_line
from chathub.bench.wire import http_publish, make_payload, resp_command, ws_say

SWEEP_SECONDS = 0.02
DRAIN_STALL = 5.0  # a drain gives up after this long without a new delivery
MAX_WINDOW_MESSAGES = 100  # in flight when publishing as fast as possible
LINGER_SECONDS = 0.02  # at a set rate, the longest a message waits for its HTTP array to fill


def run_trial(
    load: Load,
    rate: float | None,
    seconds: float,
    sample: Callable[[], tuple[float | None, int | None]],
    progress: bool = True,
) -> Trial:
    """Publish at `rate` messages/s (None: as fast as the target keeps up) for `seconds`,
    then wait for the deliveries to arrive."""
    if not load.publishers:
        raise RuntimeError("no publisher is connected")
    fanout = [load.per_room[conn.room] for conn in load.publishers]
    base = sum(conn.delivered for conn in load.subscribers)
    # As fast as possible means a window of messages in flight, judged by the sampled
    # subscribers (read at once, so the window reopens without waiting for a sweep).
    sampled = [conn for conn in load.subscribers if conn.sampler is not None]
    seen_before = [conn.sampler.seen for conn in sampled if conn.sampler is not None]
    per_room_published = dict.fromkeys(load.per_room, 0)
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
    # HTTP publishers' arrays being filled (`http_batch`): publisher -> (first added, payloads).
    arrays: dict[int, tuple[float, list[bytes]]] = {}
    batch = load.plan.http_batch
    while True:
        now = time.monotonic()
        if now < end:
            due = int((now - start) * rate) + 1 if rate is not None else sys.maxsize
            while published < due and (rate is not None or in_flight() < MAX_WINDOW_MESSAGES):
                index = published % len(load.publishers)
                if load.publishers[index].wire == "http" and batch > 1:
                    array = arrays.setdefault(index, (now, []))[1]
                    array.append(_payload(load, index))
                    if len(array) >= batch:
                        load.publishers[index].pending += _post(load, index, arrays.pop(index)[1])
                else:
                    load.publishers[index].pending += _message(load, index)
                published += 1
                expected += fanout[index]
                per_room_published[load.publishers[index].room] += 1
            # An array goes when full, when its first message has waited `LINGER_SECONDS`, or
            # at once when publishing as fast as possible (the window decides then).
            for index, (first, array) in list(arrays.items()):
                if rate is None or now - first >= LINGER_SECONDS:
                    load.publishers[index].pending += _post(load, index, array)
                    del arrays[index]
            load.flush()
        elif arrays:
            for index, (_, array) in arrays.items():
                load.publishers[index].pending += _post(load, index, array)
            arrays.clear()
        elif any(conn.pending for conn in load.publishers):
            load.flush()
        elif delivered >= expected or now - last_delivery > DRAIN_STALL:
            break
        sweep = now >= next_sweep
        if sweep:
            next_sweep = now + SWEEP_SECONDS
        if now < end and rate is not None:
            timeout = max(0.0, min(next_sweep, start + published / rate) - now)
        else:  # draining, or as fast as possible: eager sockets wake us
            timeout = max(0.0, next_sweep - now)
        got = load.poll(min(timeout, SWEEP_SECONDS), sweep)
        if got:
            delivered += got
            last_delivery = time.monotonic()
        if now >= next_progress:
            load.keepalive()
            if progress:
                elapsed = now - start
                behind = expected - delivered
                load.log(progress_line(elapsed, delivered, delivered / elapsed, behind))
            next_progress += 1.0
    cpu, rss = sample()
    own = 100.0 * (time.process_time() - own_start) / max(1e-9, time.monotonic() - start)
    latencies: list[int] = []
    for conn in load.subscribers:
        if conn.sampler is not None:
            latencies.extend(conn.sampler.latencies_ns)
            conn.sampler.latencies_ns.clear()
    total = sum(conn.delivered for conn in load.subscribers) - base
    answers, created = load.answers()
    if answers > created:
        load.log(f"bench: {answers - created} of {answers} HTTP publishes were refused")
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


def _payload(load: Load, publisher_index: int) -> bytes:
    payload = make_payload(publisher_index, load.seq, load.plan.size)
    load.seq += 1
    return payload


def _post(load: Load, publisher_index: int, payload: bytes | list[bytes]) -> bytes:
    """A POST of one message, or of an array of them."""
    conn = load.publishers[publisher_index]
    endpoint = load.endpoint
    if endpoint.token is None:
        raise RuntimeError("publishing over HTTP needs a token")
    conn.sent += 1
    return http_publish(endpoint.host, endpoint.web or 0, conn.room, endpoint.token, payload)


def _message(load: Load, publisher_index: int) -> bytes:
    """The next message of publisher `publisher_index`, in its wire's format."""
    conn = load.publishers[publisher_index]
    payload = _payload(load, publisher_index)
    if conn.wire == "telnet":
        return payload + b"\r\n"
    if conn.wire == "ws":
        return ws_say(conn.room, payload)
    if conn.wire == "http":
        return _post(load, publisher_index, payload)
    return resp_command(b"PUBLISH", conn.room.encode(), payload)
