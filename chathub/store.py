"""History: the `Store` interface the hub keeps messages in, and the in-memory store.

Rules:
- A room is opened before messages are appended to it (`open_room`: its last id must be known;
  a store that keeps rooms on disk reads it there, off the reactor thread, and calls `ready`
  later). The hub opens a room when it gets its first member and closes it (`close_room`) when
  the last one leaves; a closed room may stay in memory a while, then leaves it.
- `append` assigns the event's id and returns at once; it never blocks and never fails for the
  caller. A store that persists does so behind it (write-behind), so fan-out never waits.
- Ids are per room, strictly increasing, start at 1 and are never reused, also after retention
  has removed every message of a room, and whatever a damaged file says.
- Reads (`read`: the newest messages, those after an id, or those before one) answer through
  a callback: at once from memory when it holds what is asked, later (from the reactor, after
  a read off the reactor thread) when not. An answer is consistent when it is given: it
  includes every message stored before then that it asks for.
- Memory is bounded: recent history lives in a `HistoryCache` with one byte budget.
- Back-pressure: `behind()` is true while unwritten messages are older than about half a second
  (or too many bytes); the hub then holds new messages until `when_caught_up` calls back.
- Retention: at most `retain_messages` per room and, when `retain_days` is above 0, nothing
  older than that (enforced by `prune`, which the service calls periodically).
- Counters (the HTTP request counter) live here too, so that they persist like history does.
- So do accounts, log-in sessions, rooms' settings and roles, and bans (`records.py`): the
  hub's models hold them and hand every change to `save`, which returns at once; a store
  that persists writes it behind, after the messages appended before it. `load_state` gives
  them back at start-up.
- A stored message may be edited (`edit_message`: its text replaced, marked edited) or deleted
  (`delete_message`: gone from every read); its id is never given out again.
- Private messages with an identified side are kept too, in `privates` (`privatelog.py`): ids
  of their own, and reads answered through callbacks like `read`.
"""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from chathub.cache import HistoryCache
from chathub.events import Event
from chathub.privatelog import MemoryPrivateLog, PrivateLog
from chathub.records import Change, SavedState, StateBook

DEFAULT_RETAIN_MESSAGES = 10_000
DEFAULT_RETAIN_DAYS = 0.0
DEFAULT_HISTORY_MEMORY = 256 * 1024 * 1024

SECONDS_PER_DAY = 86_400.0


class StoreError(Exception):
    """The store cannot be used (a damaged, locked or unwritable file); one line says why."""


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """What operators see of a store in /healthz: whether its writes succeed, and the backlog."""

    ok: bool = True
    pending: int = 0  # events and counters accepted but not yet written
    error: str | None = None  # the last write error, until a write succeeds again


@dataclass(frozen=True, slots=True)
class Recent:
    """The newest `count` messages of a room, oldest first."""

    count: int


@dataclass(frozen=True, slots=True)
class Since:
    """The first `limit` messages of a room with an id above `after`, oldest first."""

    after: int
    limit: int


@dataclass(frozen=True, slots=True)
class Before:
    """The newest `limit` messages of a room with an id below `before`, oldest first (scrolling
    back: the page before the oldest one shown)."""

    before: int
    limit: int


Query = Recent | Since | Before
Answer = Callable[[list[Event]], None]


def from_memory(cache: HistoryCache, room: str, query: Query) -> list[Event] | None:
    """What `cache` holds that answers `query` about `room`; None when it cannot tell (the
    answer must be read from behind it). A limit or count of 0 is answered with nothing."""
    match query:
        case Recent(count):
            return cache.recent(room, count) if count > 0 else []
        case Since(after, limit):
            return cache.since(room, after, limit) if limit > 0 else []
        case Before(before, limit):
            return cache.before(room, before, limit) if limit > 0 else []


class Store(Protocol):
    @property
    def privates(self) -> PrivateLog:
        """Kept private messages (`privatelog.py`)."""

    def open_room(self, room: str, ready: Callable[[], None]) -> None:
        """Make `room` ready for `append`; call `ready` then (at once, or later)."""

    def close_room(self, room: str) -> None:
        """`room` has no members now: it may leave memory once nothing of it is unwritten."""

    def is_open(self, room: str) -> bool:
        """Whether `append` may be called for `room` now."""

    def append(self, event: Event) -> Event:
        """Store a `message` or `action` event of an open room; returns it with its id set."""

    def read(self, room: str, query: Query, answer: Answer) -> None:
        """Answer `query` about `room` (see the module's rules)."""

    def rooms(self) -> list[str]:
        """The rooms in memory (open, or recently active)."""

    def room_count(self) -> int:
        """How many rooms have stored messages."""

    def room_names(self, after: str, limit: int, answer: Callable[[list[str]], None]) -> None:
        """The first `limit` names of rooms with stored messages that sort after `after`."""

    def last_id(self, room: str) -> int:
        """The id of the last message stored in an open room (0: none, or not open)."""

    def bump_counter(self, name: str) -> int:
        """Add one to the counter `name` and return its new value (the first is 1)."""

    def count(self, name: str, answer: Callable[[int | None], None]) -> None:
        """`bump_counter` answered through a callback: at once, or later from a shared store
        (None: it cannot be reached)."""

    def prune(self) -> None:
        """Drop messages past retention and rooms idle in memory; called periodically."""

    def health(self) -> StoreHealth:
        """Whether the store is keeping up (for /healthz)."""

    def behind(self) -> bool:
        """Whether new messages should wait (unwritten ones are getting old)."""

    def when_caught_up(self, callback: Callable[[], None]) -> None:
        """Call `callback` once, when `behind()` is no longer true."""

    def load_state(self) -> SavedState:
        """The accounts, log-ins, rooms' settings and roles, and bans saved before."""

    def save(self, change: Change) -> None:
        """Keep a change to them (written behind; never blocks, never fails for the caller)."""

    def edit_message(self, room: str, id: int, text: str) -> None:
        """The stored message `id` of `room` says `text` from now on, marked edited."""

    def delete_message(self, room: str, id: int) -> None:
        """The stored message `id` of `room` is gone from every read from now on."""

    def close(self, seconds: float) -> "Awaitable[int] | int":
        """Write out what is pending, for at most `seconds`; the count of messages not saved."""


class MemoryStore:
    """History in memory only: gone on restart, bounded per room by count and age, and in all
    by the byte budget (what falls out of it is gone)."""

    def __init__(
        self,
        retain_messages: int = DEFAULT_RETAIN_MESSAGES,
        retain_days: float = DEFAULT_RETAIN_DAYS,
        clock: Callable[[], float] = time.time,
        history_memory: int = DEFAULT_HISTORY_MEMORY,
    ) -> None:
        if retain_messages < 1:
            raise ValueError("retain_messages must be 1 or more")
        if retain_days < 0:
            raise ValueError("retain_days must be 0 (forever) or more")
        self.retain_messages = retain_messages
        self.retain_days = retain_days
        self.clock = clock
        self.cache = HistoryCache(history_memory, retain_messages, lossless=False)
        self._last_id: dict[str, int] = {}
        self._counters: dict[str, int] = {}
        self._state = StateBook()
        self.privates = MemoryPrivateLog()

    def open_room(self, room: str, ready: Callable[[], None]) -> None:
        ready()

    def close_room(self, room: str) -> None:
        return None

    def is_open(self, room: str) -> bool:
        return True

    def append(self, event: Event) -> Event:
        assert event.room is not None
        room = event.room
        next_id = self._last_id.get(room, 0) + 1
        self._last_id[room] = next_id
        # The constructor, not dataclasses.replace: several times faster on this hot path.
        stored = Event(
            room, event.kind, event.nick, event.text, event.ts, next_id, event.old, bot=event.bot,
            author=event.author,
        )  # fmt: skip
        self.cache.append(room, stored, on_disk=True)
        return stored

    def load_state(self) -> SavedState:
        return self._state.saved()

    def save(self, change: Change) -> None:
        self._state.apply(change)

    def edit_message(self, room: str, id: int, text: str) -> None:
        self.cache.edit(room, id, text)

    def delete_message(self, room: str, id: int) -> None:
        self.cache.delete(room, id)

    def read(self, room: str, query: Query, answer: Answer) -> None:
        match query:
            case Recent(count):
                answer(self.recent(room, count))
            case Since(after, limit):
                answer(self.since(room, after, limit))
            case Before(before, limit):
                answer(self.cache.before(room, before, limit) or [])

    def recent(self, room: str, count: int) -> list[Event]:
        """`read(room, Recent(count))`, which memory answers at once."""
        return self.cache.recent(room, count) or []

    def since(self, room: str, after: int, limit: int) -> list[Event]:
        """`read(room, Since(after, limit))`, which memory answers at once."""
        return self.cache.since(room, after, limit) or []

    def rooms(self) -> list[str]:
        return [room for room in self.cache.rooms() if self.cache.holds_messages(room)]

    def room_count(self) -> int:
        return len(self._last_id)

    def room_names(self, after: str, limit: int, answer: Callable[[list[str]], None]) -> None:
        answer(sorted(name for name in self._last_id if name > after)[:limit])

    def last_id(self, room: str) -> int:
        """The id of the last message ever stored in `room` (0 for none)."""
        return self._last_id.get(room, 0)

    def bump_counter(self, name: str) -> int:
        value = self._counters.get(name, 0) + 1
        self._counters[name] = value
        return value

    def count(self, name: str, answer: Callable[[int | None], None]) -> None:
        answer(self.bump_counter(name))

    def prune(self) -> None:
        cutoff = age_cutoff(self.retain_days, self.clock())
        if cutoff is not None:
            for room in self.cache.rooms():
                self.cache.drop_older(room, cutoff)
            self.privates.drop_older(cutoff)

    def health(self) -> StoreHealth:
        return StoreHealth()

    def behind(self) -> bool:
        return False

    def when_caught_up(self, callback: Callable[[], None]) -> None:
        callback()

    def close(self, seconds: float = 0.0) -> int:
        return 0


def age_cutoff(retain_days: float, now: float) -> float | None:
    """Messages with `ts` below this are past the retention age (None: kept forever)."""
    if retain_days <= 0:
        return None
    return now - retain_days * SECONDS_PER_DAY
