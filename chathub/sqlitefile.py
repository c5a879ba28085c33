"""The history file itself: opening it, and every statement chathub runs on it.

Rules:
- Everything here blocks and runs in the store's one thread (`sqlite.py`), never on the reactor
  thread, except `open_file`, which runs once at start-up.
- One process owns the file: the connection uses SQLite's exclusive locking mode and takes the
  write lock at start-up, so a second chathub on the same `--db` fails to start instead of
  handing out the same ids twice. The lock dies with the process, also after `kill -9`.
- Transactions are bounded by the caller (a batch of rows), so progress is committed in pieces.
- Text goes in as UTF-8 bytes cast to TEXT: handing `sqlite3` a `str` would leave a UTF-8 copy
  cached inside the string for as long as it lives (in the cache, that doubles non-ASCII text).
- Rows come out checked: a row that is not a well-formed message (a wrong type, an unknown kind)
  is skipped and counted, never raised, so a damaged file cannot stop a room from working.
  Ids are the larger of the room's recorded last id and its largest stored id, so a damaged
  `rooms` table never makes the hub reuse an id.
"""

import sqlite3
from dataclasses import dataclass

from chathub import sqlitestate
from chathub.events import STORED_KINDS
from chathub.records import Change
from chathub.store import StoreError

LOCK_TIMEOUT = 1.0  # how long start-up waits for a lock another process holds
QUICK_CHECK_BYTES = 64 * 1024 * 1024  # files up to this size are checked whole at start-up

# 1: events, rooms, counters. 2: events.bot. 3: events.author and events.edited; accounts,
# logins, room_settings, room_roles and bans (sqlitestate.py).
SCHEMA_VERSION = 3
SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS events (
    room TEXT NOT NULL,
    id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    nick TEXT NOT NULL,
    text TEXT NOT NULL,
    ts REAL NOT NULL,
    bot INTEGER NOT NULL DEFAULT 0,
    author TEXT,
    edited REAL,
    PRIMARY KEY (room, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_by_ts ON events (ts);
-- The last id ever given out per room: ids are never reused, even after retention deleted
-- every row of a room.
CREATE TABLE IF NOT EXISTS rooms (room TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
    + sqlitestate.SCHEMA
)

# What each older schema version needs to become the current one (new tables come from SCHEMA).
UPGRADES = {
    1: "ALTER TABLE events ADD COLUMN bot INTEGER NOT NULL DEFAULT 0;",
    2: "ALTER TABLE events ADD COLUMN author TEXT; ALTER TABLE events ADD COLUMN edited REAL;",
}

# A row as it is written: room, id, kind, nick, text (UTF-8), ts, bot, author.
Row = tuple[str, int, str, str, bytes, float, bool, str | None]


@dataclass(frozen=True, slots=True)
class Message:
    """A stored message as read back (its room is the reader's)."""

    id: int
    kind: str
    nick: str
    text: str
    ts: float
    bot: bool = False
    author: str | None = None
    edited: bool = False


@dataclass(frozen=True, slots=True)
class Rows:
    """Messages read from the file, oldest first, and how many rows were unreadable."""

    messages: list[Message]
    skipped: int = 0


def open_file(path: str) -> sqlite3.Connection:
    """Open, lock, check and if need be create the database; raises `StoreError`."""
    try:
        connection = sqlite3.connect(
            path, timeout=LOCK_TIMEOUT, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as problem:
        raise StoreError(describe(path, problem)) from problem
    try:
        connection.execute("PRAGMA locking_mode = EXCLUSIVE")
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"cannot use the database {path}: it refuses WAL mode ({mode})")
        connection.execute("PRAGMA synchronous = NORMAL")
        # A whole-file check is quick on a small file; on one of gigabytes it would take
        # minutes, so there damaged pages are found when read (their rows are skipped).
        pages, page_size = (
            connection.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("page_count", "page_size")
        )
        if pages * page_size <= QUICK_CHECK_BYTES:
            problems = [row[0] for row in connection.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise StoreError(f"the database {path} is damaged: {problems[0]}")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database {path} was written by a newer chathub (schema {version})"
            )
        # Creating the tables also takes the write lock, which exclusive mode then keeps.
        # Version 0 is a new file: SCHEMA makes every table as it is now.
        steps = range(version, SCHEMA_VERSION) if version else ()
        upgrade = "".join(UPGRADES[step] for step in steps)
        connection.executescript(
            f"BEGIN IMMEDIATE; {SCHEMA} {upgrade} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        )
    except (sqlite3.Error, StoreError) as problem:
        connection.close()
        if isinstance(problem, StoreError):
            raise
        raise StoreError(describe(path, problem)) from problem
    return connection


def describe(path: str, problem: sqlite3.Error) -> str:
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


def counters(connection: sqlite3.Connection) -> dict[str, int]:
    values: dict[str, int] = {}
    for name, value in connection.execute("SELECT name, value FROM counters"):
        if isinstance(name, str) and isinstance(value, int):
            values[name] = value
    return values


def room_count(connection: sqlite3.Connection) -> int:
    return int(connection.execute("SELECT count(*) FROM rooms").fetchone()[0])


def write(
    connection: sqlite3.Connection,
    rows: list[Row],
    counter_values: list[tuple[str, int]],
    changes: "list[Change | Edit]" = [],  # noqa: B006 - never changed
) -> None:
    """One transaction: the rows, each room's last id, the counters, then the changes (to
    accounts, rooms and bans, and edits of messages: after the rows they may be about)."""
    last_ids: dict[str, int] = {}
    for room, id, *_ in rows:
        last_ids[room] = max(id, last_ids.get(room, 0))
    try:
        connection.execute("BEGIN IMMEDIATE")
        # REPLACE: a retried batch that did reach the file must not fail on its own rows.
        connection.executemany(
            "INSERT OR REPLACE INTO events (room, id, kind, nick, text, ts, bot, author) "
            "VALUES (?, ?, ?, ?, CAST(? AS TEXT), ?, ?, ?)",
            rows,
        )
        connection.executemany(
            "INSERT INTO rooms (room, last_id) VALUES (?, ?) ON CONFLICT (room) "
            "DO UPDATE SET last_id = max(last_id, excluded.last_id)",
            list(last_ids.items()),
        )
        connection.executemany(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) "
            "DO UPDATE SET value = max(value, excluded.value)",
            counter_values,
        )
        for change in changes:
            if isinstance(change, Edit):
                edit(connection, change)
            else:
                sqlitestate.apply(connection, change)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


@dataclass(frozen=True, slots=True)
class Edit:
    """A stored message's new text (`text` None: the message is deleted)."""

    room: str
    id: int
    text: str | None
    ts: float = 0.0  # when it was edited


def edit(connection: sqlite3.Connection, change: Edit) -> None:
    if change.text is None:
        connection.execute("DELETE FROM events WHERE room = ? AND id = ?", (change.room, change.id))
    else:
        connection.execute(
            "UPDATE events SET text = CAST(? AS TEXT), edited = ? WHERE room = ? AND id = ?",
            (change.text.encode("utf-8", "replace"), change.ts, change.room, change.id),
        )


def room_names(connection: sqlite3.Connection, after: str, limit: int) -> list[str]:
    rows = connection.execute(
        "SELECT room FROM rooms WHERE room > ? ORDER BY room LIMIT ?", (after, limit)
    )
    return [room for (room,) in rows if isinstance(room, str)]


def last_id(connection: sqlite3.Connection, room: str) -> int:
    """The room's last id: the larger of what `rooms` says and the largest stored id."""
    recorded = connection.execute("SELECT last_id FROM rooms WHERE room = ?", (room,)).fetchone()
    stored = connection.execute("SELECT max(id) FROM events WHERE room = ?", (room,)).fetchone()
    values = [row[0] for row in (recorded, stored) if row is not None]
    return max((value for value in values if isinstance(value, int)), default=0)


_COLUMNS = (
    "SELECT id, kind, nick, text, ts, bot, author, edited FROM events "
    "WHERE room = ? AND id > ? AND ts >= ?"
)


def newest(connection: sqlite3.Connection, room: str, count: int, floor: int, age: float) -> Rows:
    """The newest `count` messages with id > `floor` and ts >= `age`, oldest first."""
    rows = connection.execute(
        _COLUMNS + " ORDER BY id DESC LIMIT ?", (room, floor, age, count)
    ).fetchall()
    rows.reverse()
    return _checked(rows)


def after(connection: sqlite3.Connection, room: str, after_id: int, limit: int, age: float) -> Rows:
    """The first `limit` messages with id > `after_id` and ts >= `age`, oldest first."""
    rows = connection.execute(_COLUMNS + " ORDER BY id LIMIT ?", (room, after_id, age, limit))
    return _checked(rows.fetchall())


def before(
    connection: sqlite3.Connection, room: str, before_id: int, limit: int, floor: int, age: float
) -> Rows:
    """The newest `limit` messages with `floor` < id < `before_id` and ts >= `age`, oldest
    first."""
    rows = connection.execute(
        _COLUMNS + " AND id < ? ORDER BY id DESC LIMIT ?", (room, floor, age, before_id, limit)
    ).fetchall()
    rows.reverse()
    return _checked(rows)


def _checked(rows: list[tuple[object, ...]]) -> Rows:
    messages: list[Message] = []
    skipped = 0
    for id, kind, nick, text, ts, bot, author, edited in rows:
        if isinstance(text, bytes):  # written as a blob by something else: use it if it reads
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if (
            isinstance(id, int)
            and isinstance(kind, str)
            and kind in STORED_KINDS
            and isinstance(nick, str)
            and isinstance(text, str)
            and isinstance(ts, int | float)
        ):
            shown_author = author if isinstance(author, str) else None
            messages.append(
                Message(id, kind, nick, text, float(ts), bot == 1, shown_author, edited is not None)
            )
        else:
            skipped += 1
    return Rows(messages, skipped)


def prune(
    connection: sqlite3.Connection, cutoffs: list[tuple[str, int]], age: float | None, budget: int
) -> bool:
    """Delete at most `budget` rows past retention; True when there may be more."""
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
