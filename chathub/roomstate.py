"""Rooms' settings: owner, topic, modes, operators and voiced accounts, invitations, closing.

Rules:
- A room has a `RoomState` only once something is set (an owner, a topic, a mode, a role, an
  invitation); most rooms have none, and the hot paths (saying, joining) look a room up in a
  set (`moderated`, `private`) before anything else.
- Roles belong to accounts (they survive restarts): the owner (the first registered user to
  join a room without one), operators and voiced accounts. A guest can only be voiced, for
  the life of its connection (`Session.voiced`). Invitations are not kept over a restart.
- Modes are letters: `i` invite-only (only invited clients, and accounts with a role, may
  join), `m` moderated (only operators and voiced clients speak), `s` secret (absent from room
  lists, transcripts, the API and event streams for everyone but members). A room that is
  invite-only, secret or closed is private (`access.py` says who may see it).
- These are the truth while the process runs; every change goes to the store (`save`).
- Pure.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from chathub.records import Change, Put, Remove, Role, RoleRecord, RoomRecord, SavedState
from chathub.text import nick_skeleton

MODES = "ims"  # the letters a room may have
TOPIC_MAX = 400  # characters in a topic


@dataclass(slots=True)
class RoomState:
    room: str
    owner: str | None = None
    topic: str = ""
    topic_by: str | None = None
    topic_ts: float | None = None
    modes: str = ""  # letters of MODES, in that order
    closed: bool = False
    ops: dict[str, str] = field(default_factory=dict)  # account skeleton -> account name
    voiced: dict[str, str] = field(default_factory=dict)
    invited: set[str] = field(default_factory=set)  # account skeletons (not kept on disk)

    def record(self) -> RoomRecord:
        return RoomRecord(
            self.room, self.owner, self.topic, self.topic_by, self.topic_ts, self.modes,
            self.closed,
        )  # fmt: skip

    def holds(self, role: Role, account: str) -> bool:
        return nick_skeleton(account) in (self.ops if role == "op" else self.voiced)

    @property
    def private(self) -> bool:
        return self.closed or "i" in self.modes or "s" in self.modes


class RoomStates:
    """Every room's state that has one."""

    def __init__(self, saved: SavedState, save: Callable[[Change], None]) -> None:
        self.save = save
        self.rooms: dict[str, RoomState] = {}
        self.private: set[str] = set()  # invite-only, secret or closed
        self.moderated: set[str] = set()
        for record in saved.rooms:
            state = self.ensure(record.room)
            state.owner, state.topic, state.topic_by = record.owner, record.topic, record.topic_by
            state.topic_ts, state.closed = record.topic_ts, record.closed
            state.modes = "".join(mode for mode in MODES if mode in record.modes)
            self._index(state)
        for role in saved.roles:
            state = self.ensure(role.room)
            (state.ops if role.role == "op" else state.voiced)[nick_skeleton(role.account)] = (
                role.account
            )

    def get(self, room: str) -> RoomState | None:
        return self.rooms.get(room)

    def ensure(self, room: str) -> RoomState:
        state = self.rooms.get(room)
        if state is None:
            state = self.rooms[room] = RoomState(room)
        return state

    def changed(self, state: RoomState) -> None:
        """`state`'s settings changed: keep them (the roles are kept by `set_role`)."""
        self._index(state)
        self.save(Put(state.record()))

    def set_role(self, state: RoomState, account: str, role: Role, give: bool) -> bool:
        """Give or take `role` in the room from `account`; False when nothing changed."""
        holders = state.ops if role == "op" else state.voiced
        key = nick_skeleton(account)
        if give == (key in holders):
            return False
        record = RoleRecord(state.room, account, role)
        if give:
            holders[key] = account
            self.save(Put(record))
        else:
            record = RoleRecord(state.room, holders.pop(key), role)
            self.save(Remove(record))
        return True

    def topic_of(self, room: str) -> str | None:
        state = self.rooms.get(room)
        return state.topic if state is not None and state.topic else None

    def _index(self, state: RoomState) -> None:
        (self.private.add if state.private else self.private.discard)(state.room)
        (self.moderated.add if "m" in state.modes else self.moderated.discard)(state.room)


def mode_change(current: str, asked: str) -> tuple[str, str] | None:
    """The modes after `asked` (`+im`, `-s`, `+i-m`) and the change it really makes (`+i`,
    or "" for none); None when `asked` is malformed."""
    if not asked or asked[0] not in "+-" or any(c not in "+-" + MODES for c in asked):
        return None
    letters = set(current)
    adding = True
    added: list[str] = []
    removed: list[str] = []
    for char in asked:
        if char in "+-":
            adding = char == "+"
        elif adding and char not in letters:
            letters.add(char)
            added.append(char)
        elif not adding and char in letters:
            letters.discard(char)
            removed.append(char)
    change = ("+" + "".join(added) if added else "") + ("-" + "".join(removed) if removed else "")
    return "".join(mode for mode in MODES if mode in letters), change
