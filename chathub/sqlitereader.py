"""The SQLite store's reads of a room's history: from memory when it covers them, else from the
file in the store's thread, joined up with what memory holds.

Rules:
- A read the `HistoryCache` covers is answered at once; any other goes to the file, through the
  store's one thread, and never blocks the reactor. Nothing is read from beyond retention
  (`retain_messages` below the room's last id, `retain_days` old).
- An answer from the file is joined up with what was stored since it was read (or not yet
  written), so it is never stale; should memory move on meanwhile, the file is read again, a
  few times at most. Edits and deletions not yet written correct it (`MessageEdits`).
- A read that fails is logged and answered with nothing; unreadable rows are skipped and
  logged, never raised.
"""

import sqlite3
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure

from chathub import sqlitefile
from chathub.cache import HistoryCache
from chathub.events import Event, EventKind
from chathub.sqliteedits import MessageEdits
from chathub.sqlitefile import Rows
from chathub.sqlitewriter import Runner
from chathub.store import Answer, Before, Query, Recent, Since, age_cutoff, from_memory

log = Logger()


class Reader:
    """A room's history as the store answers it, from memory or from the file."""

    def __init__(
        self,
        path: str,
        reactor: Any,
        run: Runner,
        connection: sqlite3.Connection,
        cache: HistoryCache,
        edits: MessageEdits,
        last_id: dict[str, int],
        retain_messages: int,
        retain_days: float,
    ) -> None:
        self.path = path
        self.reactor = reactor
        self._run = run
        self._connection = connection
        self.cache = cache
        self.edits = edits
        self._last_id = last_id  # the store's own: open rooms
        self.retain_messages = retain_messages
        self.retain_days = retain_days

    def read(self, room: str, query: Query, answer: Answer) -> None:
        events = from_memory(self.cache, room, query)
        if events is not None:
            answer(events)
            return
        self._read_file(room, query, answer, attempts=3)

    def _read_file(self, room: str, query: Query, answer: Answer, attempts: int) -> None:
        age = self.age_floor()
        last = self._last_id.get(room)

        def work() -> Rows:
            known = last if last is not None else sqlitefile.last_id(self._connection, room)
            floor = max(0, known - self.retain_messages)
            match query:
                case Recent(count):
                    return sqlitefile.newest(self._connection, room, count, floor, age)
                case Since(after, limit):
                    return sqlitefile.after(self._connection, room, max(after, floor), limit, age)
                case Before(before, limit):
                    return sqlitefile.before(self._connection, room, before, limit, floor, age)

        def done(rows: Rows) -> None:
            self.report_skipped(room, rows)
            read = [self.as_event(room, message) for message in rows.messages]
            newest = read[-1].id if read else None
            events = self.edits.corrected(read)
            if isinstance(query, Before):
                answer(self._joined_before(room, query, events))
                return
            # What was stored since the read (or not yet written) is in memory.
            floor = newest if newest is not None else _query_floor(query)
            newer = self.cache.newer(room, floor) if room in self.cache else []
            if newer is None and newest is not None and attempts > 1:
                self._read_file(room, query, answer, attempts - 1)  # memory moved on: again
                return
            if newer is None:  # the file had nothing for it: memory has all there is
                newer = self.cache.since(room, floor, self.retain_messages, force=True) or []
            events += [event for event in newer if event.id is not None and event.id > floor]
            match query:
                case Recent(count):
                    events = events[-count:] if count else []
                case Since(_, limit):
                    events = events[:limit]
            answer(events)

        def failed(failure: Failure) -> None:
            log.error(
                "cannot read history of {room} from {path}: {error}",
                room=room,
                path=self.path,
                error=failure.getErrorMessage(),
            )
            answer([])

        self._run(work).addCallbacks(done, failed)

    def _joined_before(self, room: str, query: Before, events: list[Event]) -> list[Event]:
        """The file's answer to `query` joined up with what memory holds below `query.before`
        that the file did not have yet (messages not written when it was read)."""
        newest = (events[-1].id or 0) if events else 0
        if newest < query.before - 1 and room in self.cache:
            held = self.cache.since(room, newest, self.retain_messages, force=True) or []
            events += [e for e in held if e.id is not None and newest < e.id < query.before]
        return events[-query.limit :] if query.limit else []

    def report_skipped(self, room: str, rows: Rows) -> None:
        if rows.skipped:
            log.warn(
                "skipped {count} unreadable rows of room {room} in {path}",
                count=rows.skipped,
                room=room,
                path=self.path,
            )

    @staticmethod
    def as_event(room: str, message: sqlitefile.Message) -> Event:
        kind: EventKind = "action" if message.kind == "action" else "message"
        return Event(
            room, kind, message.nick, message.text, message.ts, message.id, bot=message.bot,
            author=message.author, edited=message.edited,
        )  # fmt: skip

    def age_floor(self) -> float:
        cutoff = age_cutoff(self.retain_days, self.reactor.seconds())
        return cutoff if cutoff is not None else float("-inf")


def _query_floor(query: Query) -> int:
    """The id a query's answer starts after, when the file had nothing for it."""
    match query:
        case Recent() | Before():
            return 0
        case Since(after, _):
            return after
