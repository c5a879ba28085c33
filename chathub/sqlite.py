"""SQLite history: the default store, one file, written behind the hub's back in batches.

Rules:
- Start-up is synchronous and strict: the file is opened in WAL mode, checked, and each room's
  retained window, last id and the counters are loaded into memory. A damaged, locked or
  unwritable file raises `StoreError` with one line saying which file and why.
- One process owns the file: the connection uses SQLite's exclusive locking mode and takes the
  write lock at start-up, so a second chathub on the same `--db` fails to start instead of
  handing out the same ids twice. The lock dies with the process, also after `kill -9`.
- Reads and id assignment happen in memory on the reactor thread (see `MemoryStore`); `append`
  only queues the row. One writer thread writes queued rows and counters in batches, one
  transaction per batch (group commit): `FLUSH_SECONDS` after the first queued row, or at once
  when `BATCH_ROWS` are waiting. The reactor never waits for the disk, and fan-out never waits
  for a write.
- A failed write (a full disk) keeps the rows queued, is logged, shows in `health()`, and is
  retried every `RETRY_SECONDS`; chat goes on meanwhile.
- Retention deletes run in the same writer thread, in bounded batches, so they never hold up a
  flush for long.
- `close()` writes everything still queued and releases the file.
- Durability: a row is in the file (its WAL) once its batch commits, at most `FLUSH_SECONDS`
  plus one write after `append`, and a committed batch survives `kill -9` (synchronous=NORMAL:
  only a power loss or an OS crash can take back the last commits).
"""

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar, cast

from twisted.internet import defer
from twisted.internet.base import DelayedCall
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from chathub.events import Event, EventKind
from chathub.store import (
    DEFAULT_RETAIN_DAYS,
    DEFAULT_RETAIN_MESSAGES,
    MemoryStore,
    StoreError,
    StoreHealth,
)

log = Logger()

T = TypeVar("T")
# Runs a blocking function somewhere off the reactor thread; the Deferred fires on the reactor.
Runner = Callable[[Callable[[], Any]], "Deferred[Any]"]

FLUSH_SECONDS = 0.1  # the longest a queued row waits for its batch
BATCH_ROWS = 500  # a batch this big is written at once, without waiting
RETRY_SECONDS = 1.0  # after a failed write
PRUNE_BATCH = 1000  # rows one retention transaction deletes at most
LOCK_TIMEOUT = 1.0  # how long start-up waits for a lock another process holds

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    room TEXT NOT NULL,
    id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    nick TEXT NOT NULL,
    text TEXT NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (room, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_by_ts ON events (ts);
-- The last id ever given out per room: ids are never reused, even after retention deleted
-- every row of a room.
CREATE TABLE IF NOT EXISTS rooms (room TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class SqliteStore:
    """History and counters in a SQLite file, served from memory, written behind in batches."""

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
    ) -> None:
        self.path = path
        self.reactor = reactor
        self.memory = MemoryStore(retain_messages, retain_days, reactor.seconds)
        self.flush_seconds = flush_seconds
        self.batch_rows = batch_rows
        self.retry_seconds = retry_seconds
        self.prune_batch = prune_batch
        self._connection = _open(path)
        try:
            self._load()
        except sqlite3.Error as problem:
            self._connection.close()
            raise StoreError(_describe(path, problem)) from problem
        self._pending: list[Event] = []
        self._dirty_counters: set[str] = set()
        self._timer: DelayedCall | None = None
        self._writing: Deferred[None] | None = None
        self._pruning = False
        self._pruned_to: dict[str, int] = {}  # room -> id up to which rows are known deleted
        self._error: str | None = None
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

    # --- the Store interface: memory on the reactor thread, writes queued ---------------------

    def append(self, event: Event) -> Event:
        stored = self.memory.append(event)
        self._pending.append(stored)
        self._schedule()
        return stored

    def recent(self, room: str, count: int) -> list[Event]:
        return self.memory.recent(room, count)

    def since(self, room: str, after_id: int, limit: int) -> list[Event]:
        return self.memory.since(room, after_id, limit)

    def rooms(self) -> list[str]:
        return self.memory.rooms()

    def bump_counter(self, name: str) -> int:
        value = self.memory.bump_counter(name)
        self._dirty_counters.add(name)
        self._schedule()
        return value

    def health(self) -> StoreHealth:
        pending = len(self._pending) + len(self._dirty_counters)
        return StoreHealth(self._error is None, pending, self._error)

    def prune(self) -> None:
        """Drop expired messages from memory now and from the file in the writer thread."""
        self.memory.prune()
        if not self._pruning and not self._closed:
            self._prune_step()

    def close(self) -> "Deferred[None]":
        return defer.ensureDeferred(self._close())

    # --- writing ------------------------------------------------------------------------------

    def _schedule(self) -> None:
        """Start a write now, or set the timer for one, unless one is already under way."""
        if self._closed or self._writing is not None:
            return
        if self._error is None and len(self._pending) >= self.batch_rows:
            self._cancel_timer()
            self._write()
        elif self._timer is None and (self._pending or self._dirty_counters):
            delay = self.flush_seconds if self._error is None else self.retry_seconds
            self._timer = self.reactor.callLater(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._writing is None:
            self._write()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None

    def _write(self) -> "Deferred[None]":
        """Write everything queued as one transaction; the Deferred fires when that is over."""
        rows, self._pending = self._pending, []
        names, self._dirty_counters = self._dirty_counters, set()
        counters = [(name, self.memory.counter(name)) for name in sorted(names)]
        done: Deferred[None] = Deferred()
        self._writing = done

        def written(_: object) -> None:
            if self._error is not None:
                log.info("history writes work again: {path}", path=self.path)
            self._error = None

        def failed(failure: Failure) -> None:
            # Keep what was not written, ahead of what came in meanwhile, and try again later.
            self._pending[:0] = rows
            self._dirty_counters |= names
            error = f"{type(failure.value).__name__}: {failure.getErrorMessage()}"
            if error != self._error:
                log.error(
                    "cannot write history to {path}: {error}; {count} messages kept in memory, "
                    "retrying every {retry} s, chat goes on",
                    path=self.path,
                    error=error,
                    count=len(self._pending),
                    retry=self.retry_seconds,
                )
            self._error = error

        def over(_: object) -> None:
            self._writing = None
            self._schedule()
            done.callback(None)

        written_or_not = self._run(lambda: self._write_batch(rows, counters))
        written_or_not.addCallbacks(written, failed)
        written_or_not.addBoth(over)
        return done

    def _write_batch(self, rows: list[Event], counters: list[tuple[str, int]]) -> None:
        """In the writer thread: one transaction for a whole batch."""
        connection = self._connection
        last_ids: dict[str, int] = {}
        for event in rows:
            assert event.room is not None and event.id is not None
            last_ids[event.room] = max(event.id, last_ids.get(event.room, 0))
        try:
            connection.execute("BEGIN IMMEDIATE")
            # REPLACE: a retried batch that did reach the file must not fail on its own rows.
            connection.executemany(
                "INSERT OR REPLACE INTO events (room, id, kind, nick, text, ts) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(e.room, e.id, e.kind, e.nick, e.text, e.ts) for e in rows],
            )
            connection.executemany(
                "INSERT INTO rooms (room, last_id) VALUES (?, ?) ON CONFLICT (room) "
                "DO UPDATE SET last_id = max(last_id, excluded.last_id)",
                list(last_ids.items()),
            )
            connection.executemany(
                "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) "
                "DO UPDATE SET value = max(value, excluded.value)",
                counters,
            )
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    # --- retention ----------------------------------------------------------------------------

    def _prune_step(self) -> None:
        """Delete one bounded batch of expired rows; go on (after queued writes) while more."""
        keep = self.memory.retain_messages
        cutoffs = [
            (room, last_id - keep)
            for room, last_id in self.memory.last_ids().items()
            if last_id - keep > self._pruned_to.get(room, 0)
        ]
        age = self.memory.age_cutoff()
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

        pruned = self._run(lambda: self._prune_batch(cutoffs, age, self.prune_batch))
        pruned.addCallbacks(finished, failed)

    def _prune_batch(self, cutoffs: list[tuple[str, int]], age: float | None, budget: int) -> bool:
        """In the writer thread: delete at most `budget` rows; True when there may be more."""
        connection = self._connection
        deleted = 0
        try:
            connection.execute("BEGIN IMMEDIATE")
            for room, cutoff in cutoffs:
                cursor = connection.execute(
                    "DELETE FROM events WHERE room = ? AND id IN "
                    "(SELECT id FROM events WHERE room = ? AND id <= ? LIMIT ?)",
                    (room, room, cutoff, budget - deleted),
                )
                deleted += cursor.rowcount
                if deleted >= budget:
                    break
            if age is not None and deleted < budget:
                cursor = connection.execute(
                    "DELETE FROM events WHERE (room, id) IN "
                    "(SELECT room, id FROM events WHERE ts < ? LIMIT ?)",
                    (age, budget - deleted),
                )
                deleted += cursor.rowcount
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return deleted >= budget

    # --- start and end ------------------------------------------------------------------------

    def _load(self) -> None:
        """Read each room's last id and retained window, and the counters, into memory."""
        connection = self._connection
        keep = self.memory.retain_messages
        age = self.memory.age_cutoff()
        for room, last_id in connection.execute("SELECT room, last_id FROM rooms").fetchall():
            if age is None:
                rows = connection.execute(
                    "SELECT id, kind, nick, text, ts FROM events WHERE room = ? "
                    "ORDER BY id DESC LIMIT ?",
                    (room, keep),
                ).fetchall()
            else:
                rows = connection.execute(
                    "SELECT id, kind, nick, text, ts FROM events WHERE room = ? AND ts >= ? "
                    "ORDER BY id DESC LIMIT ?",
                    (room, age, keep),
                ).fetchall()
            rows.reverse()
            events = [
                Event(room, cast(EventKind, kind), nick, text, ts, id)
                for id, kind, nick, text, ts in rows
            ]
            self.memory.restore(room, last_id, events)
        for name, value in connection.execute("SELECT name, value FROM counters"):
            self.memory.restore_counter(name, value)

    async def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._cancel_timer()
        while self._writing is not None:
            await self._writing
        if self._pending or self._dirty_counters:
            await self._write()
        if self._pending or self._dirty_counters:
            log.error(
                "{count} messages could not be written to {path} before exit: {error}",
                count=len(self._pending),
                path=self.path,
                error=self._error,
            )
        # Through the writer thread, so that it comes after any retention batch still running.
        await self._run(self._connection.close)
        self._stop_pool()

    def _stop_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()


def _open(path: str) -> sqlite3.Connection:
    """Open, lock, check and if need be create the database; raises `StoreError`."""
    try:
        connection = sqlite3.connect(
            path, timeout=LOCK_TIMEOUT, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as problem:
        raise StoreError(_describe(path, problem)) from problem
    try:
        connection.execute("PRAGMA locking_mode = EXCLUSIVE")
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"cannot use the database {path}: it refuses WAL mode ({mode})")
        connection.execute("PRAGMA synchronous = NORMAL")
        problems = [row[0] for row in connection.execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            raise StoreError(f"the database {path} is damaged: {problems[0]}")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database {path} was written by a newer chathub (schema {version})"
            )
        # Creating the tables also takes the write lock, which exclusive mode then keeps.
        connection.executescript(
            f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        )
    except (sqlite3.Error, StoreError) as problem:
        connection.close()
        if isinstance(problem, StoreError):
            raise
        raise StoreError(_describe(path, problem)) from problem
    return connection


def _describe(path: str, problem: sqlite3.Error) -> str:
    """One line for an operator: which file, what is wrong, and what to check."""
    message = str(problem)
    hint = {
        "file is not a database": "it is damaged or not a SQLite database",
        "database disk image is malformed": "it is damaged",
        "database is locked": "another process, perhaps another chathub, is using it",
        "unable to open database file": "check that its directory exists and is writable",
        "attempt to write a readonly database": "the file or its directory is read-only",
        "database or disk is full": "the disk is full",
    }.get(message)
    return f"cannot use the database {path}: {message}" + (f" ({hint})" if hint else "")
