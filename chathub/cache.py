"""Recent history in memory: a window per room, packed, under one byte budget for the process.

Rules:
- A room's window is a suffix of its stored history: every kept message with an id at or above
  the window's first. New messages are appended as they are stored; a store that reads older
  rows from disk may put them in front (`prepend`) when they join up.
- Each message is one packed `bytes` record (its id, time and kind in a fixed header, then nick,
  author and text in UTF-8), so a retained message costs its UTF-8 size plus a fixed overhead,
  whatever its characters (a `str` with one emoji would cost 4 bytes a character, and
  `sqlite3` keeps a UTF-8 copy of every `str` it was handed). `RECORD_OVERHEAD` is that
  overhead, measured with tracemalloc (tests/test_cache.py checks it).
- The budget (`--history-memory`) is for every window together. Past it, the least recently
  active room loses its oldest messages first, then the next; a message that is not yet on
  disk (`pinned_from`: the first id the store has not written) is never dropped, so whatever
  is not in memory is on disk.
- A window knows whether it holds everything the room still keeps (`complete`), so a read
  that it covers never goes to disk.
- An edited message's record is replaced in its window, a deleted one taken out (`edit`,
  `delete`): a window may then have gaps in its ids.
- Pure: no I/O, no clock.
"""

import struct
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import cast

from chathub.events import Event, EventKind

_HEADER = struct.Struct("<qdBBB")  # id, ts, kind (| _BOT | _EDITED), nick and author lengths
_BOT = 0x80  # in the kind byte: said by an API token's bot
_EDITED = 0x40  # in the kind byte: changed by an edit
_FLAGS = _BOT | _EDITED
_KINDS: tuple[EventKind, ...] = ("message", "action")
_KIND_CODES = {kind: code for code, kind in enumerate(_KINDS)}

# What one retained message costs beyond its nick and text in UTF-8: a bytes object's header
# (33 bytes), the record's own header, and the window's slot for it (measured: see the test).
RECORD_OVERHEAD = 33 + _HEADER.size + 8


def pack(event: Event) -> bytes:
    """One stored event as a record (its room is the window's)."""
    assert event.id is not None
    nick = event.nick.encode("utf-8", "replace")
    author = (event.author or "").encode("utf-8", "replace")[:255]
    text = event.text.encode("utf-8", "replace")
    kind = _KIND_CODES[event.kind] | (_BOT if event.bot else 0) | (_EDITED if event.edited else 0)
    return _HEADER.pack(event.id, event.ts, kind, len(nick), len(author)) + nick + author + text


def unpack(room: str, record: bytes) -> Event:
    id, ts, kind, nick_size, author_size = _HEADER.unpack_from(record)
    start = _HEADER.size
    nick = record[start : start + nick_size].decode("utf-8", "replace")
    start += nick_size
    author = record[start : start + author_size].decode("utf-8", "replace") or None
    text = record[start + author_size :].decode("utf-8", "replace")
    return Event(
        room, _KINDS[kind & ~_FLAGS], nick, text, ts, id, bot=bool(kind & _BOT), author=author,
        edited=bool(kind & _EDITED),
    )  # fmt: skip


def record_id(record: bytes) -> int:
    return cast(int, _HEADER.unpack_from(record)[0])


def record_ts(record: bytes) -> float:
    return cast(float, _HEADER.unpack_from(record)[1])


def cost(record: bytes) -> int:
    return len(record) + RECORD_OVERHEAD


@dataclass
class Window:
    """One room's recent messages, oldest first."""

    records: deque[bytes] = field(default_factory=deque)
    size: int = 0  # what the records cost, in bytes (see `cost`)
    complete: bool = False  # holds every message the room keeps

    @property
    def first_id(self) -> int | None:
        return record_id(self.records[0]) if self.records else None

    @property
    def last_id(self) -> int | None:
        return record_id(self.records[-1]) if self.records else None


class HistoryCache:
    """Every room's window, least recently active first, within `budget` bytes."""

    def __init__(self, budget: int, retain_messages: int, lossless: bool = True) -> None:
        self.budget = budget
        self.retain_messages = retain_messages
        # False for a store with nothing behind the cache: what is dropped is gone, so every
        # window still holds all there is.
        self.lossless = lossless
        self.size = 0
        self._windows: OrderedDict[str, Window] = OrderedDict()
        # Per room, the first id not yet on disk: records from there on are never dropped.
        self._unwritten_from: dict[str, int] = {}
        self._stuck = False  # over budget, and nothing in memory may be dropped yet

    def __contains__(self, room: str) -> bool:
        return room in self._windows

    def rooms(self) -> list[str]:
        """The rooms with a window, least recently active first."""
        return list(self._windows)

    def holds_messages(self, room: str) -> bool:
        window = self._windows.get(room)
        return window is not None and bool(window.records)

    def window(self, room: str) -> Window:
        """The room's window (made empty if it has none), marked as just active."""
        window = self._windows.get(room)
        if window is None:
            # A new window of a store with nothing behind it holds all there is.
            window = self._windows[room] = Window(complete=not self.lossless)
        else:
            self._windows.move_to_end(room)
        return window

    def start(self, room: str, records: list[bytes], complete: bool) -> None:
        """Give a room a window read from disk (the newest of its messages, oldest first)."""
        window = self.window(room)
        if window.records:
            return  # messages came in meanwhile: the store merges them itself
        window.records.extend(records)
        window.complete = complete
        added = sum(cost(record) for record in records)
        window.size += added
        self.size += added
        self._stuck = False  # what was read is on disk: it may be dropped
        self._shrink()

    def append(self, room: str, event: Event, on_disk: bool) -> None:
        """A newly stored message; `on_disk` False marks it as not yet written."""
        window = self.window(room)
        record = pack(event)
        if on_disk:
            self._stuck = False  # it may be dropped
        elif room not in self._unwritten_from:
            assert event.id is not None
            self._unwritten_from[room] = event.id
        window.records.append(record)
        window.size += cost(record)
        self.size += cost(record)
        if len(window.records) > self.retain_messages:  # retention: gone from disk too
            self._drop_oldest(window)
            window.complete = True  # it holds all the room keeps
        self._shrink()

    def written(self, room: str, up_to: int) -> None:
        """Messages of `room` up to id `up_to` are on disk now."""
        first = self._unwritten_from.get(room)
        if first is None or first > up_to:
            return
        window = self._windows.get(room)
        last = window.last_id if window is not None else None
        if last is None or up_to >= last:
            del self._unwritten_from[room]
        else:
            self._unwritten_from[room] = up_to + 1  # later ones are still queued
        self._stuck = False  # what was written may be dropped now
        self._shrink()

    def still_unwritten(self, room: str, from_id: int) -> None:
        """Messages of `room` from `from_id` on are not on disk yet (after a failed write)."""
        first = self._unwritten_from.get(room)
        if first is None or from_id < first:
            self._unwritten_from[room] = from_id

    def drop_older(self, room: str, cutoff: float) -> None:
        """Retention by age: drop a room's messages stored before `cutoff` (ts)."""
        window = self._windows.get(room)
        while window is not None and window.records and record_ts(window.records[0]) < cutoff:
            self._drop_oldest(window)
            window.complete = True  # what is older is gone from the disk too

    def edit(self, room: str, id: int, text: str) -> None:
        """The message `id` of `room`, if in memory, now says `text` and is marked edited."""
        window = self._windows.get(room)
        if window is None:
            return
        position = _first_after(window.records, id - 1)
        if position < len(window.records) and record_id(window.records[position]) == id:
            old = window.records[position]
            event = unpack(room, old)
            new = pack(Event(
                room, event.kind, event.nick, text, event.ts, id, bot=event.bot,
                author=event.author, edited=True,
            ))  # fmt: skip
            window.records[position] = new
            window.size += cost(new) - cost(old)
            self.size += cost(new) - cost(old)
            self._shrink()

    def delete(self, room: str, id: int) -> None:
        """Take the message `id` of `room` out of memory, if it is there."""
        window = self._windows.get(room)
        if window is None:
            return
        position = _first_after(window.records, id - 1)
        if position < len(window.records) and record_id(window.records[position]) == id:
            record = window.records[position]
            del window.records[position]
            window.size -= cost(record)
            self.size -= cost(record)

    def has_unwritten(self, room: str) -> bool:
        return room in self._unwritten_from

    def forget(self, room: str) -> None:
        """Drop a room's window altogether, if nothing in it waits for the disk."""
        if room in self._unwritten_from:
            return
        window = self._windows.pop(room, None)
        if window is not None:
            self.size -= window.size

    def _drop_oldest(self, window: Window) -> None:
        record = window.records.popleft()
        window.size -= cost(record)
        self.size -= cost(record)
        window.complete = not self.lossless

    def _shrink(self) -> None:
        """Drop the oldest written messages of the least recently active rooms until the
        windows fit the budget.

        Over budget with nothing left to drop (what is in memory waits for the disk), it is
        `_stuck` until something is written or read in: a flood then costs each new message
        nothing here, instead of a look at every room's window."""
        if self.size <= self.budget or self._stuck:
            return
        emptied: list[str] = []
        for room, window in self._windows.items():
            keep_from = self._unwritten_from.get(room)
            while window.records and self.size > self.budget:
                if keep_from is not None and record_id(window.records[0]) >= keep_from:
                    break
                self._drop_oldest(window)
            if not window.records and keep_from is None:
                emptied.append(room)
            if self.size <= self.budget:
                break
        else:
            self._stuck = True
        for room in emptied:
            del self._windows[room]

    # --- reading ------------------------------------------------------------------------------

    def recent(self, room: str, count: int) -> list[Event] | None:
        """The newest `count` messages, oldest first; None when the window cannot tell."""
        window = self._windows.get(room)
        if window is None:
            return None
        records = window.records
        if len(records) < count and not window.complete:
            return None
        self._windows.move_to_end(room)
        start = max(0, len(records) - count)
        return [unpack(room, records[i]) for i in range(start, len(records))]

    def since(
        self, room: str, after_id: int, limit: int, force: bool = False
    ) -> list[Event] | None:
        """The first `limit` messages after `after_id`; None when the window cannot tell
        (unless `force`: then what it holds)."""
        window = self._windows.get(room)
        if window is None:
            return None
        records = window.records
        first = window.first_id
        if not (force or window.complete) and (first is None or first > after_id + 1):
            return None
        self._windows.move_to_end(room)
        start = _first_after(records, after_id)
        stop = min(len(records), start + limit)
        return [unpack(room, records[i]) for i in range(start, stop)]

    def before(self, room: str, before_id: int, limit: int) -> list[Event] | None:
        """The newest `limit` messages with an id below `before_id`, oldest first; None when
        the window cannot tell (it holds fewer than `limit` of them and not all there is)."""
        window = self._windows.get(room)
        if window is None:
            return None
        records = window.records
        stop = _first_after(records, before_id - 1)  # the first record with id >= before_id
        if stop < limit and not window.complete:
            return None
        self._windows.move_to_end(room)
        return [unpack(room, records[i]) for i in range(max(0, stop - limit), stop)]

    def newer(self, room: str, after_id: int) -> list[Event] | None:
        """Every message after `after_id` (to join up a read from disk with what came in
        since); None when the window does not reach back that far."""
        window = self._windows.get(room)
        if window is None:
            return []
        first = window.first_id
        if first is None:
            return []
        if first > after_id + 1:
            return None
        return self.since(room, after_id, len(window.records))


def _first_after(records: deque[bytes], after_id: int) -> int:
    """The position of the first record with id > `after_id` (ids increase along the deque)."""
    if not records:
        return 0
    first_id = record_id(records[0])
    # Ids are usually consecutive, so the position is arithmetic; check it, and fall back to a
    # binary search where the ids have gaps (rows lost to a damaged file, for instance).
    guess = min(len(records), max(0, after_id + 1 - first_id))
    before_ok = guess == 0 or record_id(records[guess - 1]) <= after_id
    here_ok = guess == len(records) or record_id(records[guess]) > after_id
    if before_ok and here_ok:
        return guess
    low, high = 0, len(records)
    while low < high:
        middle = (low + high) // 2
        if record_id(records[middle]) <= after_id:
            low = middle + 1
        else:
            high = middle
    return low
