"""History: the `Store` interface the hub writes events to, and the in-memory store.

Rules:
- `append` assigns the event's id and returns at once; it never blocks and never fails for the
  caller. A store that persists does so behind it (write-behind), so fan-out never waits for a
  disk or a network.
- Ids are per room, strictly increasing, start at 1 and are never reused.
- Reads are synchronous and answered from memory: a persistent store keeps the retained window
  of each room in memory, loaded once at start-up.
- Counters (the HTTP request counter) live here too, so that they persist like history does.
"""

from collections import deque
from collections.abc import Awaitable
from dataclasses import replace
from typing import Protocol

from chathub.events import Event

# How many messages a room keeps when nothing else is said: enough for any replay or page.
DEFAULT_ROOM_LIMIT = 10_000


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

    def close(self) -> Awaitable[None] | None:
        """Write out whatever is pending; called once, at shutdown."""


class MemoryStore:
    """History in memory only: gone on restart, at most `room_limit` messages per room."""

    def __init__(self, room_limit: int = DEFAULT_ROOM_LIMIT) -> None:
        self.room_limit = room_limit
        self._events: dict[str, deque[Event]] = {}
        self._last_id: dict[str, int] = {}
        self._counters: dict[str, int] = {}

    def append(self, event: Event) -> Event:
        assert event.room is not None
        room = event.room
        next_id = self._last_id.get(room, 0) + 1
        self._last_id[room] = next_id
        stored = replace(event, id=next_id)
        events = self._events.get(room)
        if events is None:
            events = self._events[room] = deque(maxlen=self.room_limit)
        events.append(stored)
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
        # Ids within a room are consecutive in the deque, so the position is arithmetic.
        first_id = events[0].id
        assert first_id is not None
        start = max(0, after_id + 1 - first_id)
        stop = min(len(events), start + limit)
        return [events[i] for i in range(start, stop)]

    def rooms(self) -> list[str]:
        return [room for room, events in self._events.items() if events]

    def bump_counter(self, name: str) -> int:
        value = self._counters.get(name, 0) + 1
        self._counters[name] = value
        return value

    def close(self) -> None:
        return None
