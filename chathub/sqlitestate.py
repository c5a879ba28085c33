"""The history file's tables for what is not history: accounts, log-ins, rooms' settings and
roles, and bans (`records.py`), and the statements that read and change them.

Rules:
- Like `sqlitefile.py`: everything here blocks and runs in the store's one thread, except
  `load`, which runs once at start-up.
- Changes are applied inside the writer's transaction (`sqlitefile.write`), after the
  messages of the same batch, so what is written is always what the hub said, in its order.
- Rows come out checked: a row with a wrong type is skipped, never raised; a log-in session
  that has expired is not loaded.
- No secret is stored in clear: `accounts.hash` is an Argon2id hash, `logins.token_hash` the
  SHA-256 of a token that only its holder has.
"""

import sqlite3

from chathub.records import (
    AccountRecord,
    BanRecord,
    Change,
    LoginRecord,
    Put,
    Remove,
    RoleRecord,
    RoomRecord,
    SavedState,
)
from chathub.text import nick_skeleton

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    skeleton TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS logins (
    token_hash TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS room_settings (
    room TEXT PRIMARY KEY,
    owner TEXT,
    topic TEXT NOT NULL DEFAULT '',
    topic_by TEXT,
    topic_ts REAL,
    modes TEXT NOT NULL DEFAULT '',
    closed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS room_roles (
    room TEXT NOT NULL,
    skeleton TEXT NOT NULL,
    role TEXT NOT NULL,
    account TEXT NOT NULL,
    PRIMARY KEY (room, skeleton, role)
);
CREATE TABLE IF NOT EXISTS bans (
    scope TEXT NOT NULL,
    mask_key TEXT NOT NULL,
    mask TEXT NOT NULL,
    by TEXT NOT NULL,
    reason TEXT NOT NULL,
    created REAL NOT NULL,
    until REAL,
    PRIMARY KEY (scope, mask_key)
);
"""


def load(connection: sqlite3.Connection, now: float) -> SavedState:
    """Every record, checked; log-ins that expired before `now` are left out."""
    state = SavedState()
    for name, hash_, created in connection.execute("SELECT name, hash, created FROM accounts"):
        if _text(name, hash_) and _number(created):
            state.accounts.append(AccountRecord(name, hash_, float(created)))
    for row in connection.execute("SELECT token_hash, account, created, expires FROM logins"):
        token_hash, account, created, expires = row
        if _text(token_hash, account) and _number(created, expires) and expires > now:
            state.logins.append(LoginRecord(token_hash, account, float(created), float(expires)))
    for row in connection.execute(
        "SELECT room, owner, topic, topic_by, topic_ts, modes, closed FROM room_settings"
    ):
        room, owner, topic, topic_by, topic_ts, modes, closed = row
        if (
            _text(room, topic, modes)
            and _optional_text(owner, topic_by)
            and (topic_ts is None or _number(topic_ts))
        ):
            ts = float(topic_ts) if topic_ts is not None else None
            state.rooms.append(RoomRecord(room, owner, topic, topic_by, ts, modes, closed == 1))
    for room, account, role in connection.execute("SELECT room, account, role FROM room_roles"):
        if _text(room, account) and role in ("op", "voice"):
            state.roles.append(RoleRecord(room, account, role))
    for row in connection.execute("SELECT scope, mask, by, reason, created, until FROM bans"):
        scope, mask, by, reason, created, until = row
        if (
            _text(scope, mask, by, reason)
            and _number(created)
            and (until is None or _number(until))
        ):
            ends = float(until) if until is not None else None
            state.bans.append(BanRecord(scope, mask, by, reason, float(created), ends))
    return state


def apply(connection: sqlite3.Connection, change: Change) -> None:
    """One change, inside the caller's transaction."""
    match change:
        case Put(AccountRecord(name, hash_, created)):
            connection.execute(
                "INSERT OR REPLACE INTO accounts (skeleton, name, hash, created) "
                "VALUES (?, ?, ?, ?)",
                (nick_skeleton(name), name, hash_, created),
            )
        case Remove(AccountRecord(name)):
            connection.execute("DELETE FROM accounts WHERE skeleton = ?", (nick_skeleton(name),))
        case Put(LoginRecord(token_hash, account, created, expires)):
            connection.execute(
                "INSERT OR REPLACE INTO logins (token_hash, account, created, expires) "
                "VALUES (?, ?, ?, ?)",
                (token_hash, account, created, expires),
            )
        case Remove(LoginRecord(token_hash)):
            connection.execute("DELETE FROM logins WHERE token_hash = ?", (token_hash,))
        case Put(RoomRecord(room, owner, topic, topic_by, topic_ts, modes, closed)):
            connection.execute(
                "INSERT OR REPLACE INTO room_settings "
                "(room, owner, topic, topic_by, topic_ts, modes, closed) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (room, owner, topic, topic_by, topic_ts, modes, int(closed)),
            )
        case Remove(RoomRecord(room)):
            connection.execute("DELETE FROM room_settings WHERE room = ?", (room,))
        case Put(RoleRecord(room, account, role)):
            connection.execute(
                "INSERT OR REPLACE INTO room_roles (room, skeleton, role, account) "
                "VALUES (?, ?, ?, ?)",
                (room, nick_skeleton(account), role, account),
            )
        case Remove(RoleRecord(room, account, role)):
            connection.execute(
                "DELETE FROM room_roles WHERE room = ? AND skeleton = ? AND role = ?",
                (room, nick_skeleton(account), role),
            )
        case Put(BanRecord(scope, mask, by, reason, created, until)):
            connection.execute(
                "INSERT OR REPLACE INTO bans (scope, mask_key, mask, by, reason, created, until) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (scope, mask.lower(), mask, by, reason, created, until),
            )
        case Remove(BanRecord(scope, mask)):
            connection.execute(
                "DELETE FROM bans WHERE scope = ? AND mask_key = ?", (scope, mask.lower())
            )


def _text(*values: object) -> bool:
    return all(isinstance(value, str) for value in values)


def _optional_text(*values: object) -> bool:
    return all(value is None or isinstance(value, str) for value in values)


def _number(*values: object) -> bool:
    return all(isinstance(value, int | float) and not isinstance(value, bool) for value in values)
