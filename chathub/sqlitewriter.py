"""The SQLite store's write-behind queue: rows and counters waiting for the disk, written in
bounded transactions, and the back-pressure that keeps the wait short.

Rules:
- `queue` takes a row and returns at once; the writer commits queued rows in transactions of at
  most `batch_rows` rows and `MAX_BATCH_BYTES` of text: `flush_seconds` after the first, or at
  once when a batch is full or the queue is behind; one after another while rows wait.
- `behind()` is true once the oldest queued row is `MAX_LAG` seconds old or the queue holds
  `MAX_PENDING_BYTES`: the hub then holds new messages until `when_caught_up` calls back. So
  an acknowledged message is on disk within about a second.
- Changes that are not messages (accounts, rooms, bans, edits: `change`) go in the same
  transactions, after the rows queued before them: a change is written with the batch that
  holds the last row queued before it, or a later one, so an edit never comes before the
  message it edits. They are small and do not count toward `behind()`.
- A failed write (a full disk) keeps the rows and changes queued, in order, is logged once,
  and is retried every `retry_seconds`.
- `drain(seconds)` writes what is queued for at most that long, at shutdown, and says how many
  messages it could not save.
"""

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.base import DelayedCall
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from chathub import sqlitefile
from chathub.records import Change
from chathub.sqlitefile import Edit, Row

log = Logger()

# Runs a blocking function in the store's thread; the Deferred fires on the reactor.
Runner = Callable[[Callable[[], Any]], "Deferred[Any]"]

FLUSH_SECONDS = 0.1  # the longest a queued row waits for its batch
BATCH_ROWS = 500  # rows in one transaction at most
MAX_BATCH_BYTES = 1024 * 1024  # and bytes of text
RETRY_SECONDS = 1.0  # after a failed write
MAX_LAG = 0.3  # seconds the oldest unwritten row may wait before new messages are held
MAX_PENDING_BYTES = 32 * 1024 * 1024  # bytes of unwritten text before new messages are held
MAX_BATCH_CHANGES = 1000  # changes in one transaction at most

Pending = Change | Edit


class Writer:
    """Queued rows and changed counters of one history file, and the loop that writes them."""

    def __init__(
        self,
        path: str,
        reactor: Any,
        run: Runner,
        connection: Any,
        counters: dict[str, int],
        written: Callable[[list[Row]], None],
        flush_seconds: float = FLUSH_SECONDS,
        batch_rows: int = BATCH_ROWS,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.path = path
        self.reactor = reactor
        self.run = run
        self.connection = connection
        self.counters = counters  # name -> value, the store's
        self.written = written  # told of every row once it is committed
        self.changes_written: Callable[[list[Pending]], None] | None = None  # and of changes
        self.flush_seconds = flush_seconds
        self.batch_rows = batch_rows
        self.retry_seconds = retry_seconds
        self.on_commit: Callable[[float], None] | None = None  # told each commit's seconds
        # Unwritten rows, oldest first, with the time each was queued; their text bytes.
        self.pending: deque[tuple[Row, float]] = deque()
        self._pending_bytes = 0
        self._dirty_counters: set[str] = set()
        # Changes waiting, each with the number of rows queued before it (`_rows_queued`); a
        # change goes once that many rows have been taken into batches (`_rows_taken`).
        self.changes: deque[tuple[int, Pending]] = deque()
        self._rows_queued = 0
        self._rows_taken = 0
        self._caught_up: list[Callable[[], None]] = []
        self._timer: DelayedCall | None = None
        self._writing: Deferred[None] | None = None
        self.error: str | None = None
        self.closed = False

    # --- what the store calls -----------------------------------------------------------------

    def queue(self, row: Row) -> None:
        self.pending.append((row, time.monotonic()))
        self._pending_bytes += len(row[4])
        self._rows_queued += 1
        self._schedule()

    def change(self, change: Pending) -> None:
        """Write `change` after every row queued before it."""
        self.changes.append((self._rows_queued, change))
        self._schedule()

    def counter_changed(self, name: str) -> None:
        self._dirty_counters.add(name)
        self._schedule()

    def behind(self) -> bool:
        if not self.pending:
            return False
        lag = time.monotonic() - self.pending[0][1]
        return lag > MAX_LAG or self._pending_bytes > MAX_PENDING_BYTES

    def when_caught_up(self, callback: Callable[[], None]) -> None:
        if self.behind():
            self._caught_up.append(callback)
        else:
            callback()

    def waiting(self) -> int:
        """Rows, counters and changes not yet written."""
        return len(self.pending) + len(self._dirty_counters) + len(self.changes)

    async def drain(self, seconds: float) -> int:
        """Stop the timer and write what is queued for at most `seconds`; the count of rows
        that could not be written."""
        self.closed = True
        self._cancel_timer()
        deadline = time.monotonic() + seconds
        while self._writing is not None:
            await self._writing
        while (self.pending or self._dirty_counters or self.changes) and (
            time.monotonic() < deadline
        ):
            failed_before = self.error
            await self._write()
            if self.error is not None and self.error == failed_before:
                break  # the disk still refuses: no use trying until the deadline
        return len(self.pending)

    # --- the loop -----------------------------------------------------------------------------

    def _schedule(self) -> None:
        """Start a write now, or set the timer for one, unless one is already under way."""
        if self.closed or self._writing is not None:
            return
        if self.error is None and (len(self.pending) >= self.batch_rows or self.behind()):
            self._cancel_timer()
            self._write()
        elif self._timer is None and (self.pending or self._dirty_counters or self.changes):
            delay = self.flush_seconds if self.error is None else self.retry_seconds
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

    def _take_batch(self) -> list[tuple[Row, float]]:
        """The oldest queued rows, as many as one transaction takes, with their queue times."""
        batch: list[tuple[Row, float]] = []
        size = 0
        pending = self.pending
        while pending and len(batch) < self.batch_rows and size < MAX_BATCH_BYTES:
            entry = pending.popleft()
            batch.append(entry)
            size += len(entry[0][4])
        self._pending_bytes -= size
        self._rows_taken += len(batch)
        return batch

    def _take_changes(self) -> list[tuple[int, Pending]]:
        """The changes whose rows are all in this batch or written before, in order."""
        taken: list[tuple[int, Pending]] = []
        while (
            self.changes
            and self.changes[0][0] <= self._rows_taken
            and len(taken) < MAX_BATCH_CHANGES
        ):
            taken.append(self.changes.popleft())
        return taken

    def _write(self) -> "Deferred[None]":
        """Write one bounded batch as one transaction; the Deferred fires when that is over."""
        batch = self._take_batch()
        rows = [row for row, _ in batch]
        names, self._dirty_counters = self._dirty_counters, set()
        counters = [(name, self.counters[name]) for name in sorted(names)]
        marked = self._take_changes()
        changes = [change for _, change in marked]
        done: Deferred[None] = Deferred()
        if not rows and not counters and not changes:
            done.callback(None)
            return done
        self._writing = done

        def write() -> float:
            started = time.perf_counter()
            sqlitefile.write(self.connection, rows, counters, changes)
            return time.perf_counter() - started

        def committed(seconds: float) -> None:
            if self.on_commit is not None:
                self.on_commit(seconds)
            if self.error is not None:
                log.info("history writes work again: {path}", path=self.path)
            self.error = None
            self.written(rows)
            if changes and self.changes_written is not None:
                self.changes_written(changes)

        def failed(failure: Failure) -> None:
            # Keep what was not written, ahead of what came in meanwhile, and try again later.
            self.pending.extendleft(reversed(batch))
            self._pending_bytes += sum(len(row[4]) for row in rows)
            self._rows_taken -= len(batch)
            self.changes.extendleft(reversed(marked))
            self._dirty_counters |= names
            error = f"{type(failure.value).__name__}: {failure.getErrorMessage()}"
            if error != self.error:
                log.error(
                    "cannot write history to {path}: {error}; {count} messages kept in memory "
                    "and new ones held, retrying every {retry} s",
                    path=self.path,
                    error=error,
                    count=len(self.pending),
                    retry=self.retry_seconds,
                )
            self.error = error

        def over(_: object) -> None:
            self._writing = None
            if (self.pending or self.changes) and self.error is None and not self.closed:
                self._cancel_timer()
                self._write()  # rows came in meanwhile: the next batch goes at once
            else:
                self._schedule()
            if not self.behind():
                callbacks, self._caught_up = self._caught_up, []
                for callback in callbacks:
                    callback()
            done.callback(None)

        self.run(write).addCallbacks(committed, failed).addBoth(over)
        return done
