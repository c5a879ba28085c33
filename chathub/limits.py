"""Counting rules for limits: a token bucket, a per-minute counter, and connection counts.

Rules:
- Pure: no I/O, no twisted, no clock of its own. Every method that needs the time takes `now`
  (seconds, any monotonic origin), so tests drive time by hand and adapters pass
  `reactor.seconds()`.
- A limit of 0 means "off": the object then allows everything and keeps no state.
- Memory is bounded by the limit, never by how hard a client pushes.
- Connections are counted per address group (`address_group`): an IPv4 address, or an IPv6
  address's /64 network (one host commonly holds a whole /64, and picks addresses from it
  freely), so a host cannot take more places by using more of its addresses.
"""

import ipaddress
from dataclasses import dataclass, field

# Token counts are floats: a refill that lands a hair under 1.0 still counts as a whole token.
_EPSILON = 1e-9


class TokenBucket:
    """`rate` tokens a second, holding at most `burst`; each message takes one (IRC's fakelag).

    A full bucket lets `burst` messages through at once; after that, one every 1/rate seconds.
    """

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate < 0 or burst < 0:
            raise ValueError("rate and burst must be 0 or more")
        self.rate = rate
        self.burst = max(1, burst)  # a bucket that can never hold one token would refuse forever
        self._tokens = float(self.burst)
        self._updated = now

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)  # a clock stepping back refills nothing
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = now

    def take(self, now: float) -> bool:
        """Take one token if there is one; False means "not now", and nothing was taken."""
        if not self.enabled:
            return True
        self._refill(now)
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False

    def take_many(self, count: int, now: float) -> bool:
        """Take `count` tokens (at most a full bucket's worth) if there are that many."""
        if not self.enabled:
            return True
        self._refill(now)
        wanted = min(count, self.burst)
        if self._tokens >= wanted - _EPSILON:
            self._tokens = max(0.0, self._tokens - wanted)
            return True
        return False

    def wait_for(self, count: int, now: float) -> float:
        """Seconds until `count` tokens (at most a full bucket's worth) are available."""
        if not self.enabled:
            return 0.0
        self._refill(now)
        missing = min(count, self.burst) - self._tokens
        return max(0.0, missing / self.rate)

    def wait(self, now: float) -> float:
        """Seconds until one token is available (0 when one is available now)."""
        if not self.enabled:
            return 0.0
        self._refill(now)
        if self._tokens >= 1.0 - _EPSILON:
            return 0.0
        # Never less than a millisecond: a wait that rounds away would spin a timer loop.
        return max(0.001, (1.0 - self._tokens) / self.rate)


class MinuteCounter:
    """At most `limit` events in any 60 seconds (a sliding window); 0 is unlimited."""

    __slots__ = ("_times", "limit")
    WINDOW = 60.0

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("limit must be 0 or more")
        self.limit = limit
        # A list, not a deque (the limits are small, so pop(0) is cheap), and made at the first
        # event: every connection has two of these, and most never change nick.
        self._times: list[float] | None = None

    def _expire(self, now: float) -> None:
        times = self._times
        while times and times[0] <= now - self.WINDOW:
            times.pop(0)

    def allow(self, now: float) -> bool:
        """Count one event at `now` if the limit allows it; False counts nothing."""
        if self.limit == 0:
            return True
        self._expire(now)
        if self._times is None:
            self._times = []
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True

    def retry_after(self, now: float) -> float:
        """Seconds until `allow` will say yes again (0 when it would now)."""
        if self.limit == 0 or not self._times:
            return 0.0
        self._expire(now)
        if len(self._times) < self.limit:
            return 0.0
        return max(0.0, self._times[0] + self.WINDOW - now)


def address_group(peer: str) -> str:
    """What per-address limits count `peer` as: its /64 network for an IPv6 address (an
    IPv4-mapped one is its IPv4 address), anything else (IPv4, "local") as it is."""
    if ":" not in peer:
        return peer
    try:
        address = ipaddress.IPv6Address(peer.split("%", 1)[0])  # a zone (fe80::1%eth0) aside
    except ValueError:
        return peer
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))


@dataclass
class ConnectionCounter:
    """Open connections in total and per address group (`address_group`: an IPv6 /64 counts
    as one address); `max_total`/`max_per_peer` 0 is off."""

    max_total: int = 0
    max_per_peer: int = 0
    total: int = 0
    per_peer: dict[str, int] = field(default_factory=dict)

    def refusal(self, peer: str) -> str | None:
        """Why a new connection from `peer` would be refused ("total" or "peer"), or None."""
        if self.max_total and self.total >= self.max_total:
            return "total"
        if self.max_per_peer and self.per_peer.get(address_group(peer), 0) >= self.max_per_peer:
            return "peer"
        return None

    def open(self, peer: str) -> None:
        self.total += 1
        group = address_group(peer)
        self.per_peer[group] = self.per_peer.get(group, 0) + 1

    def close(self, peer: str) -> None:
        """Forget one connection from `peer`; one that was never opened changes nothing."""
        peer = address_group(peer)
        count = self.per_peer.get(peer, 0)
        if count == 0:
            return
        self.total -= 1
        if count == 1:
            del self.per_peer[peer]  # so the dict holds only peers that are connected
        else:
            self.per_peer[peer] = count - 1


@dataclass
class Counters:
    """How often each limit refused or cut something, since start. /healthz shows them all,
    zeros included, so an operator sees which limits exist; the parts that enforce a limit add
    to its field."""

    connections_refused: int = 0  # --max-connections
    connections_refused_per_ip: int = 0  # --max-per-ip
    rate_limited: int = 0  # --max-rate: times a connection was slowed
    rate_dropped: int = 0  # --max-rate: messages dropped past the burst while slowed
    line_too_long: int = 0  # --max-line (telnet) and the WebSocket message size
    ws_too_many_frames: int = 0  # a WebSocket message of more than 1000 frames (close 1009)
    ws_message_timeout: int = 0  # a WebSocket message not ended within 10 s (close 1008)
    nick_limited: int = 0  # nick changes per minute
    join_limited: int = 0  # joins per minute
    rooms_limited: int = 0  # rooms per connection
    rooms_total_limited: int = 0  # --max-rooms-total
    idle_closed: int = 0  # --idle-timeout
    skipped: int = 0  # --max-backlog: events not sent to a client that was behind
    slow_closed: int = 0  # --slow-timeout and the backlog's hard limit (HTTP responses too)
    # The web port's HTTP channel (httpchannel.py).
    connections_refused_descriptors: int = 0  # --fd-reserve: new HTTP near the descriptor limit
    http_timed_out: int = 0  # --request-timeout: a request's head or body too slow (408)
    http_head_too_large: int = 0  # --max-header-bytes: 414 and 431
    http_body_too_large: int = 0  # --max-body-bytes: 413
    http_bad_request: int = 0  # a malformed request (400)
    http_wrong_host: int = 0  # a Host that --allow-host does not name (421)
    # Accounts (attempts.py).
    logins_failed: int = 0  # a wrong password, on any transport
    logins_limited: int = 0  # a log-in refused because its address or account was locked
