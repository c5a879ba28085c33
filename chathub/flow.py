"""Flow control for one stream connection: slowing a fast sender, bounding what waits for a reader.

Rules:
- Input, `Throttle`: every message takes a token from the connection's bucket (`--max-rate`,
  `--burst`). Without one, the message waits, the connection stops being read (`hold`)
  until the bucket refills, and the client is told, at most once a second. At most `burst`
  messages wait; more that arrived in the same read are dropped (and the client was told).
  Input that costs work but is not a message (a WebSocket message's further frames, a ping)
  is `charge`d: a token now, or one owed, and reading stops until what is owed is paid.
  Only that connection is slowed: nothing here blocks or delays anyone else.
- Output, `Outbox`: registered as the transport's streaming producer, so the transport's
  `pauseProducing` says the peer's receive window and our send buffer are full. While it is,
  output waits in a backlog of at most `max_backlog` bytes. Past that, room events are skipped,
  counted per room, and once the backlog has drained the client is told how many and from
  which id to catch up (a `Skipped` item, which each transport words for its users). Others'
  private messages are skipped the same way and counted apart (the notice says how many;
  an identified user finds them in its conversations), so nobody can push a reader off by
  writing to it. Output that cannot be skipped (replies, nick changes) may fill the backlog
  to twice `max_backlog`; past that hard limit, or when the peer has been behind for
  `slow_timeout` seconds, the connection is cut.
- Every connection's input together, `TurnBudget`: big reads (more than a few KiB) are parsed
  at most `per_turn` bytes a reactor turn across all connections; past it, a connection's
  input waits for a later turn, first come first served (and the connection is not read
  meanwhile). So a crowd of flooders, each within its own limits, cannot make one turn long
  enough to keep a person's line waiting; small reads, a person's, are never held by it.
- Every refusal is counted in the hub's `Counters`, so the totals show up in /healthz.
- Items are opaque: the adapter says how many bytes each is, and how to send one.
"""

import math
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from chathub.config import FlowLimits
from chathub.events import Error, Skipped
from chathub.limits import Counters, TokenBucket

T = TypeVar("T")


class Timer(Protocol):
    """What is used of a Twisted `IDelayedCall` (typed here: zope interfaces are not)."""

    def active(self) -> bool: ...

    def cancel(self) -> None: ...

    def reset(self, seconds: float) -> None: ...


class Clock(Protocol):
    """What is used of the reactor (`IReactorTime`): the time and timers."""

    def seconds(self) -> float: ...

    def callLater(self, delay: float, callable: Callable[..., Any], *args: Any) -> Timer: ...


# For adapters built without a reactor (unit tests): no rate, no timers, only the backlog bound.
UNTIMED = FlowLimits(max_rate=0, slow_timeout=0, idle_timeout=0)

# The least time between two "too fast" warnings to one connection.
WARN_INTERVAL = 1.0


class IdleTimer:
    """Calls `on_idle` once the connection has had no input for `timeout` seconds (0: never).

    Adapters `touch()` it on every input (a line, a message, a ping or pong) and `stop()` it when
    the connection goes.
    """

    def __init__(self, clock: Clock | None, timeout: float, on_idle: Callable[[], None]) -> None:
        self.timeout = timeout
        self._timer: Timer | None = None
        if timeout > 0:
            if clock is None:
                raise ValueError("an idle timeout needs a clock")
            self._timer = clock.callLater(timeout, on_idle)

    def touch(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.reset(self.timeout)

    def stop(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()

    def error(self) -> Error:
        """What the client is told when the timer runs out."""
        return Error("idle", f"no input for {self.timeout:g} seconds; closing the connection")


# Bytes of big reads parsed in one reactor turn by each listener's connections together (about
# 16 of the longest WebSocket messages, a few milliseconds of work); a "big" read is one over
# the size of a line or of a WebSocket feed piece (2 KiB).
INPUT_PER_TURN = 256 * 1024
BIG_READ = 2048


class TurnBudget:
    """Bytes of input that all connections together may parse in one reactor turn."""

    def __init__(self, later: Callable[[float, Callable[[], None]], object], per_turn: int):
        self.later = later
        self.per_turn = per_turn
        self.spent = 0
        self._waiting: deque[Callable[[], None]] = deque()
        self._turn_ends = False  # the end of this turn is scheduled

    def take(self, size: int) -> bool:
        """Whether `size` more bytes may be parsed this turn (they are counted if so)."""
        if self.spent >= self.per_turn:
            return False
        self.spent += size
        self._end_turn_later()
        return True

    def wait(self, feed: Callable[[], None]) -> None:
        """Call `feed` in a later turn with budget left, after those that waited before."""
        self._waiting.append(feed)
        self._end_turn_later()

    def _end_turn_later(self) -> None:
        if not self._turn_ends:
            self._turn_ends = True
            self.later(0, self._new_turn)

    def _new_turn(self) -> None:
        self._turn_ends = False
        self.spent = 0
        waiting, self._waiting = self._waiting, deque()
        while waiting and self.spent < self.per_turn:
            waiting.popleft()()  # it takes what it parses; what it cannot, it waits again for
        if waiting:  # not served this turn: still first in line, before those that just came
            waiting.extend(self._waiting)
            self._waiting = waiting
            self._end_turn_later()


class Throttle(Generic[T]):
    """Lets a connection's messages through at `rate` a second (after a `burst`), in order."""

    def __init__(
        self,
        clock: Clock,
        hold: Callable[[bool], None],
        rate: float,
        burst: int,
        handle: Callable[[T], None],
        warn: Callable[[Error], None],
        counters: Counters,
        dropped: Callable[[T], None] | None = None,
        resumed: Callable[[], None] | None = None,
    ) -> None:
        self.clock = clock
        self.hold = hold  # stop (True) or go back to (False) reading the connection
        self.rate = rate
        self.bucket = TokenBucket(rate, burst, clock.seconds())
        self.handle = handle
        self.warn = warn
        self.counters = counters
        self.dropped = dropped  # told of each item dropped (a WebSocket op's ref gets its reply)
        self.resumed = resumed  # told when reading resumes (input held meanwhile may go on)
        self._pending: deque[T] = deque()
        self._owed = 0  # tokens charged without a token in the bucket
        self._wake: Timer | None = None
        self._reading_paused = False
        self._last_warning = -math.inf
        self._stopped = False

    def push(self, item: T) -> None:
        """Handle `item` now if the bucket allows, else queue it (or drop it past the burst)."""
        if self._stopped:
            return
        if not self._pending and not self._owed and self.bucket.take(self.clock.seconds()):
            self.handle(item)
            return
        if len(self._pending) >= self.bucket.burst:
            self.counters.rate_dropped += 1
            self._warn()
            if self.dropped is not None:
                self.dropped(item)
            return
        self._pending.append(item)
        if self._wake is None:
            self._stall()

    @property
    def paused(self) -> bool:
        """Whether this throttle has stopped reading the transport (input should wait)."""
        return self._reading_paused

    def charge(self) -> None:
        """Input that is not an item but costs a token (a frame of a message still arriving):
        one is taken, or owed when the bucket is empty, and then reading stops until the
        bucket has paid it; items that come meanwhile wait behind it."""
        if self._stopped:
            return
        if not self._pending and not self._owed and self.bucket.take(self.clock.seconds()):
            return
        self._owed += 1
        if self._wake is None:
            self._stall()

    def stop(self) -> None:
        """The connection is gone: forget what waits and cancel the timer."""
        self._stopped = True
        self._pending.clear()
        self._owed = 0
        if self._wake is not None and self._wake.active():
            self._wake.cancel()
        self._wake = None

    def _stall(self) -> None:
        if not self._reading_paused:
            self._reading_paused = True
            self.counters.rate_limited += 1
            self.hold(True)
        self._warn()
        self._wake = self.clock.callLater(self.bucket.wait(self.clock.seconds()), self._drain)

    def _warn(self) -> None:
        now = self.clock.seconds()
        if now - self._last_warning >= WARN_INTERVAL:
            self._last_warning = now
            self.warn(
                Error(
                    "rate-limited",
                    f"you are sending too fast: at most {self.rate:g} messages a second; "
                    f"your input is slowed down, and messages past {self.bucket.burst} waiting "
                    "are dropped",
                )
            )

    def _drain(self) -> None:
        self._wake = None
        while self._owed and self.bucket.take(self.clock.seconds()):
            self._owed -= 1
        while (
            self._pending
            and not self._owed
            and not self._stopped
            and self.bucket.take(self.clock.seconds())
        ):
            self.handle(self._pending.popleft())
        if self._stopped:
            return
        if self._pending or self._owed:
            self._stall()
        elif self._reading_paused:
            self._reading_paused = False
            self.hold(False)
            if self.resumed is not None:
                self.resumed()


class Outbox(Generic[T]):
    """What one peer is sent: straight through while it keeps up, bounded while it is behind.

    Twisted calls `pauseProducing`/`resumeProducing`/`stopProducing` (IPushProducer): register
    it with `transport.registerProducer(outbox, True)`.
    """

    def __init__(
        self,
        clock: Clock,
        send: Callable[[T], None],
        tell: Callable[[Skipped], None],
        too_slow: Callable[[str], None],
        counters: Counters,
        max_backlog: int,
        slow_timeout: float = 0.0,
    ) -> None:
        if max_backlog < 1:
            raise ValueError("max_backlog must be 1 byte or more")
        self.clock = clock
        self.send = send
        self.tell = tell
        self.too_slow = too_slow
        self.counters = counters
        self.max_backlog = max_backlog
        self.hard_limit = 2 * max_backlog
        self.slow_timeout = slow_timeout
        self.paused = False
        # Made when first needed: most peers keep up, and an empty deque costs ~600 bytes.
        self._backlog: deque[tuple[T, int]] | None = None
        self._queued = 0  # bytes in the backlog
        # Per room (None: private messages), in order of the first skip: (messages skipped,
        # events skipped, the id to ask /since for). While anything is skipping, every room
        # event is skipped, so that what the client gets after its catch-up is gap-free.
        self._skipped: dict[str | None, list[int]] = {}
        self._timer: Timer | None = None
        self._stopped = False

    @property
    def behind(self) -> bool:
        """Whether output is waiting (the peer is not keeping up)."""
        return self.paused or bool(self._backlog)

    def offer(
        self,
        item: T,
        size: int,
        room: str | None = None,
        event_id: int | None = None,
        private: bool = False,
    ) -> None:
        """Send `item` (of `size` bytes); `room` marks a room event and `private` another's
        private message: either may be skipped."""
        if self._stopped:
            return
        if not self.behind:
            self.send(item)
            return
        skippable = room is not None or private
        if skippable and (self._skipped or self._queued + size > self.max_backlog):
            self._skip(None if private else room, event_id)
            return
        if self._queued + size > self.hard_limit:
            self._cut(f"more than {self.hard_limit} bytes of output waiting")
            return
        if self._backlog is None:
            self._backlog = deque()
        self._backlog.append((item, size))
        self._queued += size

    def _skip(self, room: str | None, event_id: int | None) -> None:
        self.counters.skipped += 1
        counts = self._skipped.get(room)
        if counts is None:
            # Ids are consecutive within a room, so the one before the first skipped message
            # is the last one the client has (or will have, once the backlog is out).
            counts = self._skipped[room] = [0, 0, -1]
        if room is None:  # a private message: no id, nothing to catch up from
            counts[0] += 1
            return
        if event_id is None:
            counts[1] += 1
            return
        if counts[2] < 0:
            counts[2] = event_id - 1
        counts[0] += 1

    def _cut(self, reason: str) -> None:
        if self._stopped:
            return
        self.counters.slow_closed += 1
        self.stopProducing()
        self.too_slow(reason)

    # --- IPushProducer: the transport calls these ---------------------------------------------

    def pauseProducing(self) -> None:
        if self.paused or self._stopped:
            return
        self.paused = True
        if self.slow_timeout > 0:
            self._timer = self.clock.callLater(
                self.slow_timeout, self._cut, f"not reading for {self.slow_timeout:g} seconds"
            )

    def resumeProducing(self) -> None:
        if self._stopped:
            return
        self.paused = False
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        while self._backlog and not self.paused:
            item, size = self._backlog.popleft()
            self._queued -= size
            self.send(item)
        if self.paused or not self._skipped:
            return
        skipped, self._skipped = self._skipped, {}
        for room, (messages, others, since) in skipped.items():
            self.tell(Skipped(room, messages, others, since if messages and room else None))

    def stopProducing(self) -> None:
        self._stopped = True
        self._backlog = None
        self._queued = 0
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
