"""Kept private messages in the history file (`privatelog.py`): their tables, their statements,
and the SQLite store's `PrivateLog`.

Rules:
- Two tables: `private_messages` (one row a message: its id, both nicks and accounts, text,
  ts) and `private_threads` (one row for each identified side of a message: the account's key,
  its partner's key, the id), so an account's conversations and one conversation's page are
  read by the primary key, and nothing names a guest's side as anyone's.
- Ids continue after a restart from the largest given out (`last_id`, read at start-up: the
  largest kept, or the one retention recorded in `counters`); the sequence is the server's,
  not a conversation's.
- Written behind like everything else: `append` queues the message on the store's writer
  (`sqlitewriter.py`), which inserts it inside its transaction (`insert`), in order with the
  messages and changes queued before it. Until it is written it is held here (`_pending`) and
  joined to every answer read from the file, so a read never misses one. The queue is
  bounded like the rows': `behind()` once the oldest unwritten message is `MAX_LAG` seconds
  old or `MAX_PENDING` wait, and the hub then holds new messages (`Hub.handle`).
- Reads run in the store's thread and answer on the reactor; a failed read is logged and
  answered empty. Rows come out checked: a malformed one is skipped, never raised.
- Retention by age (`drop_older`, from the store's `prune`) deletes at most `PRUNE_BATCH`
  messages a call, in the store's thread, after the writes queued before it.
"""

import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from twisted.logger import Logger
from twisted.python.failure import Failure

from chathub.events import Conversation
from chathub.privatelog import (
    ConversationsAnswer,
    MessagesAnswer,
    PrivateRecord,
    newest_conversations,
)
from chathub.text import nick_skeleton

if TYPE_CHECKING:
    from chathub.sqlitewriter import Pending, Runner, Writer

log = Logger()

MAX_LAG = 0.3  # seconds the oldest unwritten private message may wait (as sqlitewriter's)
MAX_PENDING = 10_000  # unwritten private messages before new messages are held
PRUNE_BATCH = 1000  # messages one retention transaction deletes at most

SCHEMA = """
CREATE TABLE IF NOT EXISTS private_messages (
    id INTEGER PRIMARY KEY,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    sender_account TEXT,
    recipient_account TEXT,
    text TEXT NOT NULL,
    ts REAL NOT NULL
);
-- One row for each identified side of a message: whose conversation with whom (nick keys).
CREATE TABLE IF NOT EXISTS private_threads (
    account TEXT NOT NULL,
    partner TEXT NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (account, partner, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS private_threads_by_id ON private_threads (id);
CREATE INDEX IF NOT EXISTS private_messages_by_ts ON private_messages (ts);
"""

_COLUMNS = "m.id, m.sender, m.recipient, m.sender_account, m.recipient_account, m.text, m.ts"


# The counter (in `counters`) that keeps the last id given out once retention deleted rows.
LAST_ID_COUNTER = "private_messages_last_id"


def last_id(connection: sqlite3.Connection) -> int:
    """The largest id given out: the largest kept, or the one retention recorded."""
    kept = connection.execute("SELECT max(id) FROM private_messages").fetchone()
    recorded = connection.execute(
        "SELECT value FROM counters WHERE name = ?", (LAST_ID_COUNTER,)
    ).fetchone()
    values = [row[0] for row in (kept, recorded) if row is not None]
    return max((value for value in values if isinstance(value, int)), default=0)


def insert(connection: sqlite3.Connection, message: PrivateRecord) -> None:
    """One message and its threads, inside the caller's transaction (REPLACE: a retried
    batch that did reach the file must not fail on its own rows)."""
    connection.execute(
        "INSERT OR REPLACE INTO private_messages "
        "(id, sender, recipient, sender_account, recipient_account, text, ts) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            message.id, message.sender, message.to, message.sender_account, message.to_account,
            message.text, message.ts,
        ),
    )  # fmt: skip
    connection.executemany(
        "INSERT OR REPLACE INTO private_threads (account, partner, id) VALUES (?, ?, ?)",
        [(mine, partner, message.id) for mine, partner in message.threads()],
    )


def conversations(connection: sqlite3.Connection, account: str, limit: int) -> list[PrivateRecord]:
    """The newest message of each of `account`'s `limit` most recent conversations."""
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM (SELECT max(id) AS last FROM private_threads "
        "WHERE account = ? GROUP BY partner ORDER BY last DESC LIMIT ?) AS t "
        "JOIN private_messages AS m ON m.id = t.last ORDER BY m.id DESC",
        (nick_skeleton(account), limit),
    )
    return _checked(rows.fetchall())


def thread(
    connection: sqlite3.Connection, account: str, partner: str, before: int | None, limit: int
) -> list[PrivateRecord]:
    """The newest `limit` messages of `account` with `partner` below `before`, oldest first."""
    below = before if before is not None else 2**62
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM private_threads AS t JOIN private_messages AS m ON m.id = t.id "
        "WHERE t.account = ? AND t.partner = ? AND t.id < ? ORDER BY t.id DESC LIMIT ?",
        (nick_skeleton(account), nick_skeleton(partner), below, limit),
    ).fetchall()
    rows.reverse()
    return _checked(rows)


def prune(connection: sqlite3.Connection, cutoff: float, budget: int) -> int:
    """Delete at most `budget` messages said before `cutoff`, with their threads; how many."""
    try:
        connection.execute("BEGIN IMMEDIATE")
        # Ids are never given out again, even once every message is deleted.
        top = connection.execute("SELECT max(id) FROM private_messages").fetchone()[0]
        if isinstance(top, int):
            connection.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) "
                "DO UPDATE SET value = max(value, excluded.value)",
                (LAST_ID_COUNTER, top),
            )
        ids = [
            (id,)
            for (id,) in connection.execute(
                "SELECT id FROM private_messages WHERE ts < ? LIMIT ?", (cutoff, budget)
            )
        ]
        connection.executemany("DELETE FROM private_threads WHERE id = ?", ids)
        connection.executemany("DELETE FROM private_messages WHERE id = ?", ids)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return len(ids)


def _checked(rows: list[tuple[object, ...]]) -> list[PrivateRecord]:
    messages: list[PrivateRecord] = []
    for id, sender, to, sender_account, to_account, text, ts in rows:
        if (
            isinstance(id, int)
            and isinstance(sender, str)
            and isinstance(to, str)
            and (sender_account is None or isinstance(sender_account, str))
            and (to_account is None or isinstance(to_account, str))
            and isinstance(text, str)
            and isinstance(ts, int | float)
        ):
            messages.append(PrivateRecord(id, sender, to, sender_account, to_account, text, ts))
    return messages


class SqlitePrivateLog:
    """The SQLite store's kept private messages: written behind, read in its thread."""

    def __init__(self, connection: sqlite3.Connection, run: "Runner", writer: "Writer") -> None:
        self.connection = connection
        self.run = run
        self.writer = writer
        self.last_id = last_id(connection)
        # Unwritten messages by id (in id order), with the time each was queued.
        self._pending: dict[int, tuple[PrivateRecord, float]] = {}
        self._caught_up: list[Callable[[], None]] = []
        told = writer.changes_written  # the edits' (sqliteedits.py): both hear of changes

        def written(changes: "list[Pending]") -> None:
            if told is not None:
                told(changes)
            self.written(changes)

        writer.changes_written = written

    def append(self, message: PrivateRecord) -> PrivateRecord:
        self.last_id += 1
        stored = replace(message, id=self.last_id)
        self._pending[stored.id] = (stored, time.monotonic())
        self.writer.change(stored)
        return stored

    def written(self, changes: "list[Pending]") -> None:
        for change in changes:
            if isinstance(change, PrivateRecord):
                self._pending.pop(change.id, None)
        if self._caught_up and not self.behind():
            callbacks, self._caught_up = self._caught_up, []
            for callback in callbacks:
                callback()

    def behind(self) -> bool:
        if not self._pending:
            return False
        _, oldest = next(iter(self._pending.values()))
        return time.monotonic() - oldest > MAX_LAG or len(self._pending) > MAX_PENDING

    def when_caught_up(self, callback: Callable[[], None]) -> None:
        if self.behind():
            self._caught_up.append(callback)
        else:
            callback()

    def drop_older(self, cutoff: float) -> None:
        def failed(failure: Failure) -> None:
            log.error(
                "cannot delete old private messages: {error}", error=failure.getErrorMessage()
            )

        self.run(lambda: prune(self.connection, cutoff, PRUNE_BATCH)).addErrback(failed)

    def _unwritten(self, account: str) -> list[PrivateRecord]:
        key = nick_skeleton(account)
        return [
            message
            for message, _ in self._pending.values()
            if any(mine == key for mine, _ in message.threads())
        ]

    def conversations(self, account: str, limit: int, answer: ConversationsAnswer) -> None:
        def done(read: list[PrivateRecord]) -> None:
            # Unwritten messages are newer than anything read: they win their conversation.
            messages = read + self._unwritten(account)
            found: list[Conversation] = newest_conversations(account, messages, limit)
            answer(found)

        self._read(lambda: conversations(self.connection, account, limit), done)

    def read(
        self, account: str, partner: str, before: int | None, limit: int, answer: MessagesAnswer
    ) -> None:
        key = nick_skeleton(partner)

        def done(read: list[PrivateRecord]) -> None:
            known = {message.id for message in read}
            unwritten = [
                message
                for message in self._unwritten(account)
                if message.id not in known
                and (before is None or message.id < before)
                and any(mine == nick_skeleton(account) and other == key
                        for mine, other in message.threads())
            ]  # fmt: skip
            answer(sorted(read + unwritten, key=lambda message: message.id)[-limit:])

        self._read(lambda: thread(self.connection, account, partner, before, limit), done)

    def _read(
        self, work: Callable[[], list[PrivateRecord]], done: Callable[[list[PrivateRecord]], None]
    ) -> None:
        def failed(failure: Failure) -> None:
            log.error("cannot read private messages: {error}", error=failure.getErrorMessage())
            done([])  # what is not written yet is still answered

        self.run(work).addCallbacks(done, failed)
