"""Accounts, log-ins, rooms' settings and roles, and bans shared by every process over Redis.

Rules:
- Redis keeps every record (`records.py`) in one hash (`records`: the record's key joined by
  tabs -> the record as JSON). Each process holds all of them in its hub's models, as with
  one process (they are small); Redis is where they survive and where a process starting
  reads them.
- A change is applied here at once (the hub's model already has it), then one script writes
  it to the hash and sends it to every other process's channel (`R ORIGIN 0 JSON`), in the
  order of that process's other scripts: a ban reaches the others before the event that
  announces it. A process applies the others' changes to its hub's models (`apply`).
- Every time the backplane is ready (at start, before listening, and after an outage) the
  whole hash is read again and what differs from what this process holds is applied, so a
  change missed while cut off is not missed for ever. Changes made here while Redis was away
  are kept (at most `MAX_UNSENT`) and written when it is back.
- A ban made elsewhere holds here at once: the members here it matches are put out of its
  room when its `ban` event comes (`announced`, after the record), or disconnected at once
  for a server ban, as the process that made it does with its own.
- Two processes changing one record at once: the last write wins (no account is registered
  twice in practice: registering takes a password hash of about 0.1 s).
"""

import json
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger
from twisted.python.failure import Failure

from chathub.bans import matches
from chathub.events import BanEntry, Event
from chathub.records import (
    GLOBAL,
    AccountRecord,
    BanRecord,
    Change,
    LoginRecord,
    Put,
    Record,
    Remove,
    RoleRecord,
    RoomRecord,
    SavedState,
    StateBook,
)
from chathub.redisconn import Backplane
from chathub.roomstate import MODES
from chathub.text import nick_skeleton

if TYPE_CHECKING:
    from chathub.hub import Hub

log = Logger()

MAX_UNSENT = 10_000  # changes kept while Redis is away
_KINDS: dict[str, type[Record]] = {
    "account": AccountRecord,
    "login": LoginRecord,
    "room": RoomRecord,
    "role": RoleRecord,
    "ban": BanRecord,
}
_NAMES = {kind: name for name, kind in _KINDS.items()}


def encode(record: Record) -> str:
    fields = {name: getattr(record, name) for name in record.__dataclass_fields__}
    fields["kind"] = _NAMES[type(record)]
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def decode(text: str | bytes) -> Record | None:
    """A record from its JSON; None (logged) when it is not one."""
    try:
        fields = json.loads(text)
        kind = _KINDS[fields.pop("kind")]
        return kind(**fields)
    except (ValueError, KeyError, TypeError) as problem:
        log.warn("skipped an unreadable record: {problem}", problem=problem)
        return None


def field(record: Record) -> str:
    return "\t".join(record.key)


class RedisRecords:
    """The store's records half over Redis (see the module's rules)."""

    def __init__(self, backplane: Backplane) -> None:
        self.backplane = backplane
        self.book = StateBook()
        self.hub: Hub | None = None
        self._unsent: list[Change] = []
        backplane.on_ready.append(self.reload)

    def attach(self, hub: "Hub") -> None:
        self.hub = hub

    def load_state(self) -> SavedState:
        return self.book.saved()

    def save(self, change: Change) -> None:
        self.book.apply(change)
        if not self.backplane.available:
            if len(self._unsent) < MAX_UNSENT:
                self._unsent.append(change)
            else:
                log.error("a record change was lost: Redis has been away too long")
            return
        self._send(change)

    def _send(self, change: Change) -> None:
        record = change.record
        value = encode(record) if isinstance(change, Put) else ""
        op = "put" if isinstance(change, Put) else "del"
        message = json.dumps({"op": op, "record": json.loads(encode(record))})
        push = b"R %s 0 %s" % (self.backplane.origin.encode(), message.encode())
        sent = self.backplane.run("record", self.backplane.origin, op, field(record), value, push)
        sent.addErrback(self._failed, change)

    def _failed(self, failure: Failure, change: Change) -> None:
        log.error("cannot keep a record: {error}", error=failure.getErrorMessage())
        if len(self._unsent) < MAX_UNSENT:
            self._unsent.append(change)

    # --- from the others ------------------------------------------------------------------------

    def pushed(self, body: bytes) -> None:
        """A change another process made (`{"op": "put"|"del", "record": {...}}`)."""
        try:
            data = json.loads(body)
            record = decode(json.dumps(data["record"]))
            op = data["op"]
        except (ValueError, KeyError, TypeError) as problem:
            log.error("unreadable record change: {problem}", problem=problem)
            return
        if record is not None:
            self._take(Put(record) if op == "put" else Remove(record), enforce=True)

    def _take(self, change: Change, enforce: bool) -> None:
        self.book.apply(change)
        if self.hub is not None:
            apply(self.hub, change)
            record = change.record
            put = isinstance(change, Put)
            # A server ban is announced by no event: enforced now.
            if enforce and put and isinstance(record, BanRecord) and record.scope == GLOBAL:
                enforce_ban(self.hub, record.scope, record.mask, record.by, record.reason)

    def announced(self, event: Event) -> None:
        """A room's `ban` event from another process (after its record): enforce it here."""
        if self.hub is not None and event.room is not None and event.target is not None:
            enforce_ban(self.hub, event.room, event.target, event.nick, event.text)

    async def reload(self) -> None:
        """Read every record again and apply what differs; then write what waited here."""
        flat: list[Any] = await self.backplane.command("HGETALL", f"{self.backplane.prefix}records")
        unsent, self._unsent = self._unsent, []
        mine = {key for change in unsent for key in [change.record.key]}
        fresh: dict[tuple[str, ...], Record] = {}
        for i in range(0, len(flat) - 1, 2):
            record = decode(flat[i + 1])
            if record is not None:
                fresh[record.key] = record
        for key, record in list(self.book.records.items()):
            if key not in fresh and key not in mine:
                self._take(Remove(record), enforce=False)
        for key, record in fresh.items():
            if key not in mine and self.book.records.get(key) != record:
                self._take(Put(record), enforce=False)
        for change in unsent:
            self._send(change)


def apply(hub: "Hub", change: Change) -> None:
    """Make the hub's models hold `change` (made elsewhere), without saving it again."""
    record, put = change.record, isinstance(change, Put)
    match record:
        case AccountRecord():
            accounts = hub.accounts.by_key
            key = nick_skeleton(record.name)
            if put:
                accounts[key] = record
            else:
                accounts.pop(key, None)
        case LoginRecord():
            if put:
                hub.accounts.logins[record.token_hash] = record
            else:
                hub.accounts.logins.pop(record.token_hash, None)
        case RoomRecord():
            states = hub.room_states
            state = states.ensure(record.room)
            if not put:
                record = RoomRecord(record.room)
            state.owner, state.topic, state.topic_by = record.owner, record.topic, record.topic_by
            state.topic_ts, state.closed = record.topic_ts, record.closed
            state.modes = "".join(mode for mode in MODES if mode in record.modes)
            states._index(state)
        case RoleRecord():
            state = hub.room_states.ensure(record.room)
            holders = state.ops if record.role == "op" else state.voiced
            if put:
                holders[nick_skeleton(record.account)] = record.account
            else:
                holders.pop(nick_skeleton(record.account), None)
        case BanRecord():
            by_scope = hub.bans.by_scope
            bans = by_scope.setdefault(record.scope, {})
            if put:
                entry = BanEntry(
                    record.mask, record.by, record.reason, record.created, record.until
                )
                bans[record.mask.lower()] = entry
            else:
                bans.pop(record.mask.lower(), None)
            if not bans:
                by_scope.pop(record.scope, None)


def enforce_ban(hub: "Hub", scope: str, mask: str, by: str, reason: str) -> None:
    """A ban made elsewhere: put out of its room (or disconnect) the members here it matches."""
    from chathub import moderation as mod

    candidates = hub.members.get(scope, {}) if scope != GLOBAL else hub.sessions.values()
    hit = [m for m in candidates if matches(mask, m.nick, m.account, m.address)]
    because = f"banned: {reason}" if reason else "banned"
    now = hub.clock()
    for member in hit:
        if scope == GLOBAL:
            mod.disconnect(hub, member, by, because)
        else:
            kick = Event(scope, "kick", by, because, now, target=member.nick)
            mod.put_out(hub, [member], scope, kick)
