"""SQLite history: the default store, one file, written behind the hub's back in bounded pieces.

Rules:
- Start-up is quick and strict: the file is opened in WAL mode and locked (`sqlitefile.py`), the
  counters and the number of rooms are read, nothing else: a room's last id and recent messages
  are read when the room is opened, off the reactor thread. A damaged, locked or unwritable
  file raises `StoreError` with one line saying which file and why.
- One thread does all the file's work, in order: writes, reads, retention. The reactor never
  waits for it; what it answers comes back to the reactor as a Deferred.
- Memory: open rooms' last ids, and recent messages in a `HistoryCache` under one byte budget
  (`--history-memory`); reads it covers are answered at once, others from the file
  (`sqlitereader.py`). An answer from the file is joined up with what was stored since it was
  read, so it is never stale.
- Writes: `append` queues the row; the writer commits queued rows in transactions of at most
  `batch_rows` rows (and `MAX_BATCH_BYTES`), `flush_seconds` after the first or at once when a
  batch is full, one after another while rows wait. The queue is bounded in time: once its
  oldest row is `MAX_LAG` seconds old (or it holds `MAX_PENDING_BYTES`), `behind()` says so
  and the hub holds new messages until the writer catches up. So a message acknowledged to its
  sender is on disk within about a second, at any load the hub accepts, and survives `kill -9`
  (synchronous=NORMAL: only a power loss or an OS crash can take back the last commits).
- A failed write (a full disk) keeps the rows queued, is logged once, shows in `health()`, and
  is retried every `retry_seconds`; messages are held (`behind()`) meanwhile.
- `close(seconds)` writes what is queued for at most that long and says how many messages it
  could not save.
- Accounts, rooms' settings and bans (`records.py`) are read whole at start-up and every
  change is written behind with the messages (`sqlitestate.py`). An edited or deleted
  message changes in memory at once; until the change is written, answers read from the file
  are corrected by it, so nobody is served the old text.
- Kept private messages (`privatelog.py`) are written behind the same way and read in the same
  thread (`sqliteprivate.py`); while they are behind, so is the store.
"""

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from chathub import sqlitefile, sqlitestate
from chathub.cache import HistoryCache, pack
from chathub.events import Event
from chathub.records import Change, SavedState
from chathub.sqliteedits import MessageEdits
from chathub.sqlitefile import Row, Rows
from chathub.sqliteprivate import SqlitePrivateLog
from chathub.sqlitereader import Reader
from chathub.sqlitewriter import BATCH_ROWS, FLUSH_SECONDS, RETRY_SECONDS, Runner, Writer
from chathub.store import (
    DEFAULT_HISTORY_MEMORY,
    DEFAULT_RETAIN_DAYS,
    DEFAULT_RETAIN_MESSAGES,
    Answer,
    Query,
    StoreError,
    StoreHealth,
    age_cutoff,
)

log = Logger()


PRUNE_BATCH = 1000  # rows one retention transaction deletes at most
HOT_MESSAGES = 100  # the newest messages read into memory when a room is opened
IDLE_SECONDS = 600.0  # a room without members leaves memory after this long
MAX_OPEN_ROOMS = 10_000  # rooms whose last id is kept in memory


class SqliteStore:
    """History and counters in a SQLite file, recent history in memory, written behind."""

    def __init__(
        self,
        path: str,
        reactor: Any,
        retain_messages: int = DEFAULT_RETAIN_MESSAGES,
        retain_days: float = DEFAULT_RETAIN_DAYS,
        run: Runner | None = None,
        flush_seconds: float = FLUSH_SECONDS,
        batch_rows: int = BATCH_ROWS,
        retry_seconds: float = RETRY_SECONDS,
        prune_batch: int = PRUNE_BATCH,
        history_memory: int = DEFAULT_HISTORY_MEMORY,
        max_open_rooms: int = MAX_OPEN_ROOMS,
    ) -> None:
        self.path = path
        self.reactor = reactor
        self.retain_messages = retain_messages
        self.retain_days = retain_days
        self.prune_batch = prune_batch
        self.max_open_rooms = max_open_rooms
        self.cache = HistoryCache(history_memory, retain_messages)
        self._connection = sqlitefile.open_file(path)
        try:
            self._counters = sqlitefile.counters(self._connection)
            self._room_count = sqlitefile.room_count(self._connection)
            self._saved: SavedState | None = sqlitestate.load(self._connection, reactor.seconds())
        except Exception as problem:
            self._connection.close()
            raise StoreError(f"cannot use the database {path}: {problem}") from problem
        self._last_id: dict[str, int] = {}  # open rooms
        self._idle: OrderedDict[str, float] = OrderedDict()  # open rooms without members
        self._opening: dict[str, list[Callable[[], None]]] = {}
        self._pruning = False
        self._pruned_to: dict[str, int] = {}  # room -> id up to which rows are known deleted
        self._closed = False
        self._pool: ThreadPool | None = None
        if run is None:
            self._pool = ThreadPool(1, 1, "chathub-sqlite")
            self._pool.start()
            # Should close() never run (a failed start-up), the thread must not keep us alive.
            reactor.addSystemEventTrigger("during", "shutdown", self._stop_pool)
            pool = self._pool
            run = lambda work: deferToThreadPool(reactor, pool, work)  # noqa: E731
        self._run = run
        self.writer = Writer(
            path, reactor, run, self._connection, self._counters, self._written,
            flush_seconds, batch_rows, retry_seconds,
        )  # fmt: skip
        self.edits = MessageEdits(self.cache, self.writer, reactor.seconds)
        self.privates = SqlitePrivateLog(self._connection, run, self.writer)
        self.reader = Reader(
            path, reactor, run, self._connection, self.cache, self.edits, self._last_id,
            retain_messages, retain_days,
        )  # fmt: skip

    # --- rooms --------------------------------------------------------------------------------

    def open_room(self, room: str, ready: Callable[[], None]) -> None:
        if room in self._last_id:
            self._idle.pop(room, None)
            ready()
            return
        waiting = self._opening.get(room)
        if waiting is not None:
            waiting.append(ready)
            return
        self._opening[room] = [ready]
        age = self.reader.age_floor()

        def load() -> tuple[int, Rows]:
            last = sqlitefile.last_id(self._connection, room)
            floor = max(0, last - self.retain_messages)
            return last, sqlitefile.newest(self._connection, room, HOT_MESSAGES, floor, age)

        def loaded(result: tuple[int, Rows]) -> None:
            last, rows = result
            self.reader.report_skipped(room, rows)
            self._last_id[room] = max(last, self._last_id.get(room, 0))
            read = [self.reader.as_event(room, message) for message in rows.messages]
            events = self.edits.corrected(read)
            records = [pack(event) for event in events]
            complete = len(rows.messages) + rows.skipped < HOT_MESSAGES
            self.cache.start(room, records, complete)
            self._close_idle_rooms()
            if last - self.retain_messages > self._pruned_to.get(room, 0) and not self._pruning:
                self._prune_step()  # a room with more than it keeps: trim the file too
            for callback in self._opening.pop(room, []):
                callback()

        def failed(failure: Failure) -> None:
            log.error(
                "cannot read room {room} from {path}: {error}",
                room=room,
                path=self.path,
                error=failure.getErrorMessage(),
            )
            # The room still works: ids go on from the largest we can be sure of.
            self._last_id.setdefault(room, 0)
            for callback in self._opening.pop(room, []):
                callback()

        self._run(load).addCallbacks(loaded, failed)

    def close_room(self, room: str) -> None:
        if room in self._last_id:
            self._idle[room] = self.reactor.seconds()
            self._idle.move_to_end(room)
            self._close_idle_rooms()

    def is_open(self, room: str) -> bool:
        return room in self._last_id

    def rooms(self) -> list[str]:
        return list(self._last_id)

    def room_count(self) -> int:
        return self._room_count

    def last_id(self, room: str) -> int:
        return self._last_id.get(room, 0)

    def room_names(self, after: str, limit: int, answer: Callable[[list[str]], None]) -> None:
        # Rooms whose first messages are not written yet are only in memory.
        new = {row[0] for row, _ in self.writer.pending if row[0] > after}

        def read() -> list[str]:
            return sqlitefile.room_names(self._connection, after, limit)

        def done(names: list[str]) -> None:
            answer(sorted(set(names) | new)[:limit])

        def failed(failure: Failure) -> None:
            error = failure.getErrorMessage()
            log.error("cannot list rooms of {path}: {error}", path=self.path, error=error)
            answer(sorted(new)[:limit])

        self._run(read).addCallbacks(done, failed)

    def _close_idle_rooms(self, older_than: float | None = None) -> None:
        """Let idle rooms leave memory: the oldest while too many are open, and any idle for
        longer than `older_than` seconds. A room with unwritten messages stays."""
        now = self.reactor.seconds()
        for room in list(self._idle):
            too_many = len(self._last_id) > self.max_open_rooms
            too_old = older_than is not None and now - self._idle[room] > older_than
            if not (too_many or too_old):
                break
            if self.cache.has_unwritten(room):
                continue
            del self._idle[room]
            del self._last_id[room]
            self.cache.forget(room)

    # --- writing ------------------------------------------------------------------------------

    def append(self, event: Event) -> Event:
        room = event.room
        assert room is not None
        last = self._last_id.get(room)
        if last is None:  # not opened: a caller's mistake, but ids must still never repeat
            raise ValueError(f"room {room} is not open")
        if last == 0:
            self._room_count += 1
        stored = Event(
            room, event.kind, event.nick, event.text, event.ts, last + 1, event.old, bot=event.bot,
            author=event.author,
        )  # fmt: skip
        self._last_id[room] = last + 1
        self.cache.append(room, stored, on_disk=False)
        text = stored.text.encode("utf-8", "replace")
        self.writer.queue(
            (room, last + 1, stored.kind, stored.nick, text, stored.ts, stored.bot, stored.author)
        )
        return stored

    # --- what is not history ------------------------------------------------------------------

    def load_state(self) -> SavedState:
        """What the file held at start-up (given once: the hub's models keep it from then on)."""
        saved, self._saved = self._saved, None
        return saved if saved is not None else SavedState()

    def save(self, change: Change) -> None:
        self.writer.change(change)

    def edit_message(self, room: str, id: int, text: str) -> None:
        self.edits.edit(room, id, text)

    def delete_message(self, room: str, id: int) -> None:
        self.edits.delete(room, id)

    def bump_counter(self, name: str) -> int:
        value = self._counters.get(name, 0) + 1
        self._counters[name] = value
        self.writer.counter_changed(name)
        return value

    def count(self, name: str, answer: Callable[[int | None], None]) -> None:
        answer(self.bump_counter(name))

    def behind(self) -> bool:
        return self.writer.behind() or self.privates.behind()

    def when_caught_up(self, callback: Callable[[], None]) -> None:
        if self.writer.behind():
            self.writer.when_caught_up(callback)
        else:
            self.privates.when_caught_up(callback)

    def health(self) -> StoreHealth:
        writer = self.writer
        return StoreHealth(writer.error is None, writer.waiting(), writer.error)

    def _written(self, rows: list[Row]) -> None:
        """Rows are on disk: memory may let them go now."""
        last_ids: dict[str, int] = {}
        for room, id, *_ in rows:
            last_ids[room] = max(id, last_ids.get(room, 0))
        for room, id in last_ids.items():
            self.cache.written(room, id)

    # --- reading ------------------------------------------------------------------------------

    def read(self, room: str, query: Query, answer: Answer) -> None:
        self.reader.read(room, query, answer)

    # --- retention ----------------------------------------------------------------------------

    def prune(self) -> None:
        """Drop expired messages from memory now and from the file in the store's thread; let
        rooms idle for long leave memory."""
        cutoff = age_cutoff(self.retain_days, self.reactor.seconds())
        if cutoff is not None:
            for room in self.cache.rooms():
                self.cache.drop_older(room, cutoff)
            if not self._closed:
                self.privates.drop_older(cutoff)
        self._close_idle_rooms(older_than=IDLE_SECONDS)
        if not self._pruning and not self._closed:
            self._prune_step()

    def _prune_step(self) -> None:
        """Delete one bounded batch of expired rows; go on (after queued writes) while more."""
        keep = self.retain_messages
        cutoffs = [
            (room, last_id - keep)
            for room, last_id in self._last_id.items()
            if last_id - keep > self._pruned_to.get(room, 0)
        ]
        age = age_cutoff(self.retain_days, self.reactor.seconds())
        if not cutoffs and age is None:
            return
        self._pruning = True

        def finished(more: bool) -> None:
            self._pruning = False
            if more and not self._closed:
                # Later, from the reactor: writes queued meanwhile go to the thread first.
                self.reactor.callLater(0, self.prune)
            elif not more:
                self._pruned_to.update(cutoffs)

        def failed(failure: Failure) -> None:
            self._pruning = False
            log.error(
                "cannot delete old history from {path}: {error}",
                path=self.path,
                error=failure.getErrorMessage(),
            )

        pruned = self._run(
            lambda: sqlitefile.prune(self._connection, cutoffs, age, self.prune_batch)
        )
        pruned.addCallbacks(finished, failed)

    # --- the end ------------------------------------------------------------------------------

    def close(self, seconds: float = 10.0) -> "Deferred[int]":
        return defer.ensureDeferred(self._close(seconds))

    async def _close(self, seconds: float) -> int:
        if self._closed:
            return len(self.writer.pending)
        self._closed = True
        unsaved = await self.writer.drain(seconds)
        if unsaved:
            log.error(
                "{count} messages could not be written to {path} before exit: {error}",
                count=unsaved,
                path=self.path,
                error=self.writer.error or "out of time",
            )
        # Through the store's thread, so that it comes after any retention batch still running.
        await self._run(self._connection.close)
        self._stop_pool()
        return unsaved

    def _stop_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()
