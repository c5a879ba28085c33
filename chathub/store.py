"""History: the `Store` interface the hub writes events to, and the in-memory store.

Rules:
- `append` assigns the event's id and returns at once; it never blocks and never fails for the
  caller. A store that persists does so behind it (write-behind), so fan-out never waits for a
  disk or a network.
- Ids are per room, strictly increasing, start at 1 and are never reused, also after retention
  has removed every message of a room.
- Reads are synchronous and answered from memory: a persistent store keeps the retained window
  of each room in memory, loaded once at start-up.
- Retention: at most `retain_messages` per room (enforced on append) and, when `retain_days` is
  above 0, nothing older than that many days (enforced by `prune`, which the service calls
  periodically, so an old message may outlive its deadline by up to one pruning interval).
- Counters (the HTTP request counter) live here too, so that they persist like history does.
"""

import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from chathub.events import Event

# How many messages a room keeps when nothing else is said: enough for any replay or page.
DEFAULT_RETAIN_MESSAGES = 10_000
# Keep messages regardless of age by default: the per-room count already bounds the size.
DEFAULT_RETAIN_DAYS = 0.0

SECONDS_PER_DAY = 86_400.0


class StoreError(Exception):
    """The store cannot be used (a damaged, locked or unwritable file); one line says why."""


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """What operators see of a store in /healthz: whether its writes succeed, and the backlog."""

    ok: bool = True
    pending: int = 0  # events and counters accepted but not yet written
    error: str | None = None  # the last write error, until a write succeeds again


class Store(Protocol):
    def append(self, event: Event) -> Event:
        """Store a `message` or `action` event; returns it with its id set."""

    def recent(self, room: str, count: int) -> list[Event]:
        """The last `count` stored events of `room`, oldest first."""

    def since(self, room: str, after_id: int, limit: int) -> list[Event]:
        """The first `limit` stored events of `room` with id > `after_id`, oldest first."""

    def rooms(self) -> list[str]:
        """The rooms that have stored events."""

    def bump_counter(self, name: str) -> int:
        """Add one to the counter `name` and return its new value (the first is 1)."""

    def prune(self) -> None:
        """Drop messages older than the retention age; called periodically, never blocks."""

    def health(self) -> StoreHealth:
        """Whether the store is keeping up (for /healthz)."""

    def close(self) -> Awaitable[None] | None:
        """Write out whatever is pending; called once, at shutdown."""


class MemoryStore:
    """History in memory only: gone on restart, bounded per room by count and age."""

    def __init__(
        self,
        retain_messages: int = DEFAULT_RETAIN_MESSAGES,
        retain_days: float = DEFAULT_RETAIN_DAYS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if retain_messages < 1:
            raise ValueError("retain_messages must be 1 or more")
        if retain_days < 0:
            raise ValueError("retain_days must be 0 (forever) or more")
        self.retain_messages = retain_messages
        self.retain_days = retain_days
        self.clock = clock
        self._events: dict[str, deque[Event]] = {}
        self._last_id: dict[str, int] = {}
        self._counters: dict[str, int] = {}

    # --- loading (used by persistent stores at start-up) --------------------------------------

    def restore(self, room: str, last_id: int, events: Iterable[Event]) -> None:
        """Set a room's last id and its retained events (oldest first, ids at most `last_id`)."""
        self._last_id[room] = max(last_id, self._last_id.get(room, 0))
        window = self._window(room)
        window.extend(events)

    def restore_counter(self, name: str, value: int) -> None:
        self._counters[name] = value

    def last_id(self, room: str) -> int:
        """The id of the last message ever stored in `room` (0 for none)."""
        return self._last_id.get(room, 0)

    def last_ids(self) -> dict[str, int]:
        return dict(self._last_id)

    def counter(self, name: str) -> int:
        return self._counters.get(name, 0)

    # --- the Store interface ------------------------------------------------------------------

    def append(self, event: Event) -> Event:
        assert event.room is not None
        room = event.room
        next_id = self._last_id.get(room, 0) + 1
        self._last_id[room] = next_id
        # The constructor, not dataclasses.replace: several times faster on this hot path.
        stored = Event(event.room, event.kind, event.nick, event.text, event.ts, next_id, event.old)
        self._window(room).append(stored)  # the deque's maxlen drops the oldest
        return stored

    def recent(self, room: str, count: int) -> list[Event]:
        events = self._events.get(room)
        if not events or count <= 0:
            return []
        if count >= len(events):
            return list(events)
        return [events[i] for i in range(len(events) - count, len(events))]

    def since(self, room: str, after_id: int, limit: int) -> list[Event]:
        events = self._events.get(room)
        if not events or limit <= 0:
            return []
        start = _first_after(events, after_id)
        stop = min(len(events), start + limit)
        return [events[i] for i in range(start, stop)]

    def rooms(self) -> list[str]:
        return [room for room, events in self._events.items() if events]

    def bump_counter(self, name: str) -> int:
        value = self._counters.get(name, 0) + 1
        self._counters[name] = value
        return value

    def prune(self) -> None:
        cutoff = self.age_cutoff()
        if cutoff is None:
            return
        for events in self._events.values():
            while events and events[0].ts < cutoff:
                events.popleft()

    def age_cutoff(self) -> float | None:
        """Messages with `ts` below this are past the retention age (None: kept forever)."""
        if self.retain_days <= 0:
            return None
        return self.clock() - self.retain_days * SECONDS_PER_DAY

    def health(self) -> StoreHealth:
        return StoreHealth()

    def close(self) -> None:
        return None

    def _window(self, room: str) -> deque[Event]:
        events = self._events.get(room)
        if events is None:
            events = self._events[room] = deque(maxlen=self.retain_messages)
        return events


def _first_after(events: deque[Event], after_id: int) -> int:
    """The position of the first event with id > `after_id` (ids increase along the deque)."""
    first_id = events[0].id
    assert first_id is not None
    # Ids are usually consecutive, so the position is arithmetic; check it, and fall back to a
    # binary search where the ids have gaps (rows lost to a failed disk, for instance).
    guess = min(len(events), max(0, after_id + 1 - first_id))
    if _is_first_after(events, guess, after_id):
        return guess
    low, high = 0, len(events)
    while low < high:
        middle = (low + high) // 2
        if (events[middle].id or 0) <= after_id:
            low = middle + 1
        else:
            high = middle
    return low


def _is_first_after(events: deque[Event], position: int, after_id: int) -> bool:
    before_ok = position == 0 or (events[position - 1].id or 0) <= after_id
    here_ok = position == len(events) or (events[position].id or 0) > after_id
    return before_ok and here_ok
