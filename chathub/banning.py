"""Banning: `/ban`, `/unban`, `/bans` in a room, and a server operator's `/gban`, `/ungban`,
`/gbans` everywhere (the masks and the lists are `bans.py`'s).

Rules:
- Pure hub rules, like `moderation.py`. A room's operators ban in their room; server
  operators ban anywhere and everywhere; the admin API calls `add_ban` and `lift_ban` for
  them.
- A ban is an event to its room (`ban`, `unban`); the members it matches are put out of the
  room at once, each with a `kick` event that says the ban is why. A global ban disconnects
  the clients it matches (their rooms see them leave) and refuses them at the door from then
  on: at connect (an address, a nick), on a nick change, on identifying.
- Nobody bans themselves, nor a member of the same rank or higher: a mask that matches one is
  refused as a whole.
"""

from typing import TYPE_CHECKING

from chathub import access, errors
from chathub import commands as cmd
from chathub import moderation as mod
from chathub.access import OP, SERVER
from chathub.bans import matches, parse_mask
from chathub.commands import Ref
from chathub.events import BanEntry, BanList, Error, Event, Notice
from chathub.records import GLOBAL

if TYPE_CHECKING:
    from chathub.hub import Hub
    from chathub.session import Session


def handle(hub: "Hub", session: "Session", command: cmd.ModerationCommand) -> None:
    match command:
        case cmd.Ban(mask, duration, reason, room, ref):
            target = mod.target_room(hub, session, room, ref)
            if target is not None and mod.allowed(hub, session, target, OP, "ban", ref):
                _told(hub, session, add_ban(hub, session, target, mask, duration, reason, ref), ref)
        case cmd.Unban(mask, room, ref):
            target = mod.target_room(hub, session, room, ref)
            if (
                target is not None
                and mod.allowed(hub, session, target, OP, "lift bans", ref)
                and lift_ban(hub, session.nick, target, mask, session, ref) is None
            ):
                hub.tell(session, no_such_ban(target, mask), ref)
        case cmd.Bans(room, ref):
            target = mod.target_room(hub, session, room, ref)
            if target is not None and mod.allowed(hub, session, target, OP, "list bans", ref):
                hub.tell(session, BanList(target, hub.bans.of(target, hub.clock())), ref)
        case cmd.GlobalBan(mask, duration, reason, ref):
            if mod.allowed(hub, session, None, SERVER, "ban from the server", ref):
                entry = add_ban(hub, session, GLOBAL, mask, duration, reason, ref)
                if not isinstance(entry, Error):
                    hub.tell(session, Notice(f"banned {entry.mask} from the server"), ref)
                _told(hub, session, entry, ref)
        case cmd.GlobalUnban(mask, ref):
            if mod.allowed(hub, session, None, SERVER, "lift server bans", ref):
                if lift_ban(hub, session.nick, GLOBAL, mask, session, ref) is None:
                    hub.tell(session, no_such_ban(None, mask), ref)
                else:
                    hub.tell(session, Notice(f"lifted the server ban on {mask}"), ref)
        case cmd.GlobalBans(ref):
            if mod.allowed(hub, session, None, SERVER, "list server bans", ref):
                hub.tell(session, BanList(None, hub.bans.of(GLOBAL, hub.clock())), ref)


def _told(hub: "Hub", session: "Session", outcome: BanEntry | Error, ref: Ref | None) -> None:
    if isinstance(outcome, Error):
        hub.tell(session, outcome, ref)


def no_such_ban(room: str | None, mask: str) -> Error:
    where = f"in {room}" if room is not None else "on this server"
    return Error("no-such-ban", f"there is no ban on {errors.shown(mask)} {where}")


def add_ban(
    hub: "Hub",
    actor: "Session | str",
    scope: str,
    mask: str,
    duration: float | None,
    reason: str,
    ref: Ref | None = None,
) -> BanEntry | Error:
    """Ban `mask` in room `scope` (or `GLOBAL`) for `duration` seconds (None: for ever), by
    `actor` (a client, whose rank is checked, or a server operator's account name); the
    matching members are put out, and the room told."""
    canonical = parse_mask(mask)
    if canonical is None:
        return errors.bad_mask(mask)
    session = actor if not isinstance(actor, str) else None
    by = actor if isinstance(actor, str) else actor.nick
    candidates = hub.members.get(scope, {}) if scope else hub.sessions.values()
    hit = [m for m in candidates if matches(canonical, m.nick, m.account, m.address)]
    for member in hit:
        if member is session:
            return Error("bad-mask", f"{canonical} matches you")
        ranked = (
            access.rank(hub, member, scope)
            if scope
            else (SERVER if access.is_server_operator(hub, member.account) else 0)
        )
        if ranked >= (access.rank(hub, session, scope) if session and scope else SERVER):
            return errors.outranked(member.nick)
    now = hub.clock()
    until = now + duration if duration else None
    entry = BanEntry(canonical, by, mod.reason_of(reason), now, until)
    hub.bans.add(scope, entry)
    because = f"banned: {entry.reason}" if entry.reason else "banned"
    if not scope:
        for member in hit:
            mod.disconnect(hub, member, by, because)
        return entry
    event = Event(scope, "ban", by, entry.reason, now, target=canonical, until=entry.until)
    mod.announce(hub, session, event, ref)
    for member in hit:
        kick = Event(scope, "kick", by, because, now, target=member.nick)
        mod.put_out(hub, [member], scope, kick)
    return entry


def lift_ban(
    hub: "Hub", by: str, scope: str, mask: str, session: "Session | None", ref: Ref | None
) -> BanEntry | None:
    """Lift the ban on `mask` in `scope`; the room is told. None when there was none."""
    entry = hub.bans.remove(scope, parse_mask(mask) or mask)
    if entry is not None and scope:
        event = Event(scope, "unban", by, "", hub.clock(), target=entry.mask)
        mod.announce(hub, session, event, ref)
    return entry
