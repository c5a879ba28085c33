"""What the store keeps besides history: accounts, log-in sessions, rooms' settings and roles,
and bans.

Rules:
- Pure: frozen dataclasses, no I/O. The hub's models (`accounts.py`, `roomstate.py`,
  `bans.py`) hold these in memory and are the truth while the process runs; every change is
  handed to the store as a `Put` or a `Remove` (`Store.save`), which keeps it (memory) or
  writes it behind, in order with history (SQLite). `Store.load_state` gives all of it back
  at start-up. They are small (an account is about 150 bytes), so all of them are loaded.
- A record's `key` is its identity (its table's primary key): a `Put` replaces the record
  with the same key, a `Remove` deletes it.
- No secret is ever a field: an account keeps an Argon2id hash of its password, a log-in
  session the SHA-256 of its token.
"""

from dataclasses import dataclass, field
from typing import Literal

from chathub.text import nick_skeleton

Role = Literal["op", "voice"]
GLOBAL = ""  # the scope of a ban that holds everywhere (`/gban`)


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """A registered nick: its name as registered, and its password's Argon2id hash."""

    name: str
    hash: str
    created: float

    @property
    def key(self) -> tuple[str, ...]:
        return ("account", nick_skeleton(self.name))


@dataclass(frozen=True, slots=True)
class LoginRecord:
    """A log-in session (`POST /api/session`, a cookie): the SHA-256 of its token."""

    token_hash: str
    account: str
    created: float
    expires: float

    @property
    def key(self) -> tuple[str, ...]:
        return ("login", self.token_hash)


@dataclass(frozen=True, slots=True)
class RoomRecord:
    """A room's settings: its owner (an account), topic, modes (`ims` letters) and whether
    a server operator closed it."""

    room: str
    owner: str | None = None
    topic: str = ""
    topic_by: str | None = None
    topic_ts: float | None = None
    modes: str = ""
    closed: bool = False

    @property
    def key(self) -> tuple[str, ...]:
        return ("room", self.room)


@dataclass(frozen=True, slots=True)
class RoleRecord:
    """An account's role in a room: operator or voiced."""

    room: str
    account: str
    role: Role

    @property
    def key(self) -> tuple[str, ...]:
        return ("role", self.room, nick_skeleton(self.account), self.role)


@dataclass(frozen=True, slots=True)
class BanRecord:
    """A ban of `mask` in a room (`scope`), or everywhere (`scope` is `GLOBAL`)."""

    scope: str
    mask: str
    by: str
    reason: str
    created: float
    until: float | None = None

    @property
    def key(self) -> tuple[str, ...]:
        return ("ban", self.scope, self.mask.lower())


Record = AccountRecord | LoginRecord | RoomRecord | RoleRecord | BanRecord


@dataclass(frozen=True, slots=True)
class Put:
    """Keep `record` (replacing the one with its key)."""

    record: Record


@dataclass(frozen=True, slots=True)
class Remove:
    """Forget the record with `record`'s key."""

    record: Record


Change = Put | Remove


@dataclass
class SavedState:
    """Everything `load_state` gives back, by kind."""

    accounts: list[AccountRecord] = field(default_factory=list)
    logins: list[LoginRecord] = field(default_factory=list)
    rooms: list[RoomRecord] = field(default_factory=list)
    roles: list[RoleRecord] = field(default_factory=list)
    bans: list[BanRecord] = field(default_factory=list)

    def add(self, record: Record) -> None:
        match record:
            case AccountRecord():
                self.accounts.append(record)
            case LoginRecord():
                self.logins.append(record)
            case RoomRecord():
                self.rooms.append(record)
            case RoleRecord():
                self.roles.append(record)
            case BanRecord():
                self.bans.append(record)


class StateBook:
    """Records by key, changed by `Change`s: what the memory store keeps."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, ...], Record] = {}

    def apply(self, change: Change) -> None:
        match change:
            case Put(record):
                self.records[record.key] = record
            case Remove(record):
                self.records.pop(record.key, None)

    def saved(self) -> SavedState:
        state = SavedState()
        for record in self.records.values():
            state.add(record)
        return state
