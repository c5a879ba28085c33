"""What the hub hands to a connection: frozen dataclasses, one class per kind of output.

Pure: no I/O, no bytes. Each adapter renders these for its own wire (a line for telnet, a JSON
object for WebSocket and HTTP). A room `Event` is one thing that happened in a room and is the
same object for every recipient, so an adapter may encode it once and write the bytes many times.
"""

from dataclasses import dataclass, field
from typing import Literal

EventKind = Literal[
    "message",
    "action",
    "join",
    "part",
    "nick",
    "notice",
    "typing",  # a signal (signals.py): never stored
    # Moderation (moderation.py, edits.py): changes to a room, told to its members.
    "topic",
    "mode",
    "kick",
    "ban",
    "unban",
    "edit",
    "delete",
    "close",
]

# Only these kinds are stored in history and carry an id.
STORED_KINDS: frozenset[str] = frozenset({"message", "action"})


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened in a room. `id` is set only for stored kinds.

    A `nick` event is not tied to one room: its `room` is None and `old` holds the former nick.
    A `part` event's `text` is the reason, if one was given. A join or part announced in a
    batch (`presence.py`) names all its nicks in `nicks`; `nick` is the first of them.

    A stored message knows its `author` (the account that said it, or for a guest `~` and a
    key of its connection, never shown) and whether it was `edited`. A `join` carries the
    room's `topic`, if it has one. The moderation kinds name who did it in `nick` and whom or
    what in `target` (a nick or a ban mask), a reason or a new text in `text`; `mode` says
    the change in `text` (`+im`, `+o`); `ban` says until when in `until` (None: for ever);
    `edit` and `delete` name the message in `message_id`.
    """

    room: str | None
    kind: EventKind
    nick: str
    text: str
    ts: float
    id: int | None = None
    old: str | None = None
    nicks: tuple[str, ...] | None = None  # a batched join or part: every nick it names
    bot: bool = False  # said by an API token's bot (HTTP publish), not by a connected client
    author: str | None = None  # of a stored message: its account, or `~KEY` for a guest's
    edited: bool = False  # a stored message changed by `edit`
    target: str | None = None  # of a moderation event: the nick or mask it is about
    message_id: int | None = None  # of an `edit` or `delete`: the message's id
    until: float | None = None  # of a `ban`: when it ends (None: never)
    topic: str | None = None  # of a `join`: the room's topic, if it has one


@dataclass(frozen=True, slots=True)
class Notice:
    """A line from the server to one client (a listing, a hint, a shutdown warning)."""

    text: str


@dataclass(frozen=True, slots=True)
class Error:
    """A refused command or input. `code` is stable for scripts; `message` is for people.
    `nick` names the nick the refusal is about when a transport's hint needs it
    (`nick-registered`: `/identify NICK PASSWORD`)."""

    code: str
    message: str
    nick: str | None = None


@dataclass(frozen=True, slots=True)
class Private:
    """A private message. The sender gets a copy too, so it can show what it sent."""

    sender: str
    to: str
    text: str
    ts: float


@dataclass(frozen=True, slots=True)
class Welcome:
    """Sent once when a client connects: the nick it got and the rooms it is joining; the
    account it is identified as (a session token), and the topics of those rooms."""

    nick: str
    rooms: tuple[str, ...]
    motd: str
    account: str | None = None
    topics: tuple[tuple[str, str], ...] = ()  # (room, topic) for rooms that have one


@dataclass(frozen=True, slots=True)
class Who:
    """The members of a room."""

    room: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RoomList:
    """The busiest rooms, with their member counts, and how many rooms there are in all."""

    rooms: tuple[tuple[str, int], ...]
    total: int = 0


@dataclass(frozen=True, slots=True)
class History:
    """Stored events of one room, oldest first (a replay on join, or an answer to a request)."""

    room: str
    events: tuple[Event, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Skipped:
    """Room events or private messages a client was too far behind to be sent (its outbox
    skipped them).

    `messages` stored messages were skipped, the first after `since` (ask for the history after
    it to catch up); `others` counts skipped events that are not kept (joins, parts). With
    `room` None, `messages` private messages were skipped: they are not kept, so there is
    nothing to catch up from.
    """

    room: str | None
    messages: int
    others: int
    since: int | None


@dataclass(frozen=True, slots=True)
class Gap:
    """A reader asked for messages older than the room keeps: its history starts at `first`."""

    room: str
    first: int


@dataclass(frozen=True, slots=True)
class Help:
    """The answer to a request for help; each transport lists its own commands."""


@dataclass(frozen=True, slots=True)
class Ok:
    """A command that changed nothing visible was accepted (it is the reply that carries `ref`)."""


@dataclass(frozen=True, slots=True)
class Identified:
    """The account a client is identified as now (None: none; it logged out)."""

    account: str | None
    nick: str


@dataclass(frozen=True, slots=True)
class Topic:
    """A room's topic, for one client: on join, or asked for (`text` "" when it has none)."""

    room: str
    text: str
    by: str | None = None
    ts: float | None = None


@dataclass(frozen=True, slots=True)
class Modes:
    """A room's modes, asked for: `+` and the letters set (`+is`), or "" for none."""

    room: str
    modes: str


@dataclass(frozen=True, slots=True)
class BanEntry:
    """One ban: whom it matches (`mask`), who set it, why, when, and until when (None:
    for ever)."""

    mask: str
    by: str
    reason: str
    created: float
    until: float | None = None


@dataclass(frozen=True, slots=True)
class BanList:
    """The bans of a room (`room` None: the server's global bans), asked for."""

    room: str | None
    bans: tuple[BanEntry, ...]


@dataclass(frozen=True, slots=True)
class Invited:
    """An operator of `room` invited this client (`by`)."""

    room: str
    by: str


Outgoing = (
    Event
    | Notice
    | Error
    | Private
    | Welcome
    | Who
    | RoomList
    | History
    | Skipped
    | Gap
    | Help
    | Ok
    | Identified
    | Topic
    | Modes
    | BanList
    | Invited
)
