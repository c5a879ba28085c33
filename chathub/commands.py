"""What a client asks of the hub: the frozen dataclasses that `parsing.py` makes.

Pure: no I/O, no bytes. A command carries what the client asked, as typed; names are checked by
the hub, not here, so every transport gets the same answer for the same mistake. A `ref` is the
client's label for a request, echoed in the one reply to it.
"""

from dataclasses import dataclass
from typing import Literal

# A client's label for a request, echoed in the one reply to it.
Ref = str | int
Role = Literal["op", "voice"]


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    room: str | None = None  # None: the client's current room
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Me:
    text: str
    room: str | None = None
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Join:
    room: str
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Part:
    room: str | None = None
    reason: str = ""
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Nick:
    nick: str
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Who:
    room: str | None = None
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Rooms:
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class History:
    room: str | None = None
    since: int | None = None  # None: the most recent `limit` messages
    limit: int | None = None  # None: the hub's default
    ref: Ref | None = None
    before: int | None = None  # the newest `limit` below this id (scrolling back); not with since


@dataclass(frozen=True, slots=True)
class Msg:
    to: str
    text: str
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Conversations:
    """An identified client's private conversations (`privatelog.py`)."""

    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class PmHistory:
    """Kept private messages with `with_` (an account, or a guest's nick)."""

    with_: str
    before: int | None = None  # the newest `limit` below this id; None: the newest
    limit: int | None = None  # None: the hub's default
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Typing:
    """The client's user is typing in `room` (a signal for the page, never stored)."""

    room: str | None = None
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Help:
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Quit:
    reason: str = ""
    ref: Ref | None = None


# --- accounts (identity.py) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Register:
    password: str
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Identify:
    password: str
    nick: str | None = None  # None: the client's current nick
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Logout:
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Password:
    old: str
    new: str
    ref: Ref | None = None


# --- moderation (moderation.py, banning.py, edits.py); `room` None: the current room ---------


@dataclass(frozen=True, slots=True)
class Topic:
    text: str | None = None  # None: show the topic; "": clear it
    room: str | None = None
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    """`/op`, `/deop`, `/voice`, `/devoice`."""

    nick: str
    role: Role
    give: bool
    room: str | None = None
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Kick:
    nick: str
    reason: str = ""
    room: str | None = None
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Ban:
    mask: str
    duration: float | None = None  # seconds; None: for ever
    reason: str = ""
    room: str | None = None
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Unban:
    mask: str
    room: str | None = None
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Bans:
    room: str | None = None
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Invite:
    nick: str
    room: str | None = None
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Mode:
    modes: str | None = None  # `+i`, `-s`, `+im-s`; None: show the modes
    room: str | None = None
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Edit:
    id: int
    text: str
    room: str | None = None
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    id: int
    room: str | None = None
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Kill:
    nick: str
    reason: str = ""
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class GlobalBan:
    mask: str
    duration: float | None = None
    reason: str = ""
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class GlobalUnban:
    mask: str
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class GlobalBans:
    ref: Ref | None = None


AccountCommand = Register | Identify | Logout | Password
ModerationCommand = (
    Topic | Grant | Kick | Ban | Unban | Bans | Invite | Mode | Edit | Delete | Kill | GlobalBan
    | GlobalUnban | GlobalBans
)  # fmt: skip

Command = (
    Say | Me | Join | Part | Nick | Who | Rooms | History | Msg | Help | Quit | Typing
    | Conversations | PmHistory | AccountCommand | ModerationCommand
)  # fmt: skip
