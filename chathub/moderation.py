"""Moderation: topics, roles, kicks, invitations, modes, kills, closing rooms.

Rules:
- Pure hub rules, called by `Hub.handle` (bans: `banning.py`; edits: `edits.py`) and by the
  admin API. Who may do what is `access.py`'s: a room's operators (and its owner) moderate it,
  server operators moderate everywhere, and one acts only on lower ranks.
- A command about a room is about the client's current room, or the one it names, which it
  must be in (a server operator need not be).
- Every change is an event to the room (`topic`, `mode`, `kick`, `ban`, `unban`, `edit`,
  `delete`, `close`) through `Hub.publish`, the actor's copy carrying its command's `ref`, and
  is kept by the store (`roomstate.py`, `bans.py`). A kicked or banned member leaves the room
  with that event, without a `part`: told it first, then taken out (`put_out`), so it has it
  once whatever the broker (through Redis the room's copy comes back after it left).
- With many processes, a command about a client of another process is carried out there
  (`remotemod.py`).
- What moderation says about joining and speaking (bans, `room-closed`, `invite-only`,
  `moderated`, the first registered user to join a room without an owner becoming its owner)
  is `access.py`'s.
"""

from typing import TYPE_CHECKING

from chathub import access, banning, errors, remotemod
from chathub import commands as cmd
from chathub import edits as message_edits
from chathub import rooms as room_rules
from chathub.access import OP, SERVER
from chathub.commands import Ref
from chathub.events import Error, Event, Invited, Modes, Notice, Topic
from chathub.roomstate import TOPIC_MAX, mode_change
from chathub.text import clean_text, nick_skeleton

if TYPE_CHECKING:
    from chathub.hub import Hub
    from chathub.session import Session

REASON_MAX = 200  # characters of a kick's or a ban's reason


def handle(hub: "Hub", session: "Session", command: cmd.ModerationCommand) -> None:
    match command:
        case cmd.Topic(text, room, ref):
            topic(hub, session, text, room, ref)
        case cmd.Grant(nick, role, give, room, ref):
            grant(hub, session, nick, role, give, room, ref)
        case cmd.Kick(nick, reason, room, ref):
            kick(hub, session, nick, reason, room, ref)
        case cmd.Invite(nick, room, ref):
            invite(hub, session, nick, room, ref)
        case cmd.Mode(modes, room, ref):
            mode(hub, session, modes, room, ref)
        case cmd.Kill(nick, reason, ref):
            kill(hub, session, nick, reason, ref)
        case cmd.Edit() | cmd.Delete():
            message_edits.handle(hub, session, command)
        case _:
            banning.handle(hub, session, command)


# --- helpers the other moderation modules share -------------------------------------------------


def target_room(hub: "Hub", session: "Session", room: str | None, ref: Ref | None) -> str | None:
    """The room a moderation command is about: one the client is in, or for a server
    operator any room. None after an error reply."""
    if access.is_server_operator(hub, session.account):
        return room_rules.named_room(hub, session, room, ref)
    return room_rules.member_room(hub, session, room, ref)


def allowed(
    hub: "Hub", session: "Session", room: str | None, minimum: int, what: str, ref: Ref | None
) -> bool:
    """Whether `session` ranks at least `minimum` in `room` (None: the server); else told."""
    if room is None:
        ranked = SERVER if access.is_server_operator(hub, session.account) else access.NOBODY
    else:
        ranked = access.rank(hub, session, room)
    if ranked >= minimum:
        return True
    hub.tell(session, errors.not_op(room if minimum < SERVER else None, what), ref)
    return False


def announce(hub: "Hub", session: "Session | None", event: Event, ref: Ref | None = None) -> None:
    """Tell the room of a change; the actor gets its copy with `ref` (also from outside)."""
    assert event.room is not None
    if session is not None and event.room in session.rooms:
        hub.publish((event,), (event.room,), (), ((0, session, ref),))
        return
    hub.publish((event,), (event.room,))
    if session is not None:
        hub.tell(session, event, ref)


def put_out(
    hub: "Hub",
    members: "list[Session]",
    room: str,
    event: Event,
    actor: "Session | None" = None,
    ref: Ref | None = None,
) -> None:
    """Take `members` out of `room` because of `event` (a kick, a closing) and tell the room.
    Each gets the event once whatever the broker: told directly, then taken out, then the
    room's copy goes to those left (through Redis it comes back after they left)."""
    for member in members:
        if member is not actor:
            hub.tell(member, event)
    for member in members:
        remove(hub, member, room)
    announce(hub, actor, event, ref)


def remove(hub: "Hub", session: "Session", room: str) -> None:
    """Take `session` out of `room` without a part (a kick, a ban, a closing said why)."""
    if room in session.rooms:
        session.rooms.remove(room)
        hub.remove_member(room, session)


def reason_of(text: str) -> str:
    return clean_text(text).strip()[:REASON_MAX]


# --- the commands -------------------------------------------------------------------------------


def topic(
    hub: "Hub", session: "Session", text: str | None, room: str | None, ref: Ref | None
) -> None:
    target = target_room(hub, session, room, ref)
    if target is None:
        return
    state = hub.room_states.get(target)
    if text is None:
        if state is None:
            hub.tell(session, Topic(target, ""), ref)
        else:
            hub.tell(session, Topic(target, state.topic, state.topic_by, state.topic_ts), ref)
        return
    if not allowed(hub, session, target, OP, "set the topic", ref):
        return
    text = clean_text(text).strip()
    if len(text) > TOPIC_MAX:
        hub.tell(session, errors.too_long(TOPIC_MAX), ref)
        return
    state = hub.room_states.ensure(target)
    now = hub.clock()
    state.topic, state.topic_by, state.topic_ts = text, session.nick, now
    hub.room_states.changed(state)
    announce(hub, session, Event(target, "topic", session.nick, text, now), ref)


def account_of(hub: "Hub", nick: str) -> tuple["Session | None", str | None]:
    """The client called `nick` (if connected) and the account it stands for: the client's
    account, else the registered account owning the nick."""
    holder = hub.sessions.get(nick_skeleton(nick))
    if holder is not None and holder.account is not None:
        return holder, holder.account
    owner = hub.accounts.find(nick)
    return holder, owner.name if owner is not None else None


def grant(
    hub: "Hub",
    session: "Session",
    nick: str,
    role: cmd.Role,
    give: bool,
    room: str | None,
    ref: Ref | None,
) -> None:
    target = target_room(hub, session, room, ref)
    if target is None or not allowed(hub, session, target, OP, "change roles", ref):
        return
    holder, account = account_of(hub, nick)
    if holder is None and account is None and hub.roster is not None:  # a guest elsewhere?
        order = ("grant", nick, target, ("+" if give else "-") + role)
        remotemod.send(hub, session, order, errors.no_such_nick(nick), ref)
        return
    if holder is None and account is None:
        hub.tell(session, errors.no_such_nick(nick), ref)
        return
    mine = access.rank(hub, session, target)
    outcome = role_change(
        hub, session.nick, mine, holder is session, holder, account, role, give, target
    )
    if isinstance(outcome, Event):
        announce(hub, session, outcome, ref)
    else:
        hub.tell(session, outcome, ref)


def role_change(
    hub: "Hub",
    by: str,
    mine: int,
    itself: bool,
    holder: "Session | None",
    account: str | None,
    role: cmd.Role,
    give: bool,
    room: str,
) -> Error | Notice | Event:
    """`by` (ranked `mine`) gives or takes `role` in `room` from the client `holder` and the
    `account` it stands for: the refusal, the notice that nothing changed, or the change made
    (its event, to announce)."""
    shown = holder.nick if holder is not None else (account or "")
    theirs = access.account_rank(hub, account, room) if account else 0
    if not itself and theirs >= mine and not (give and theirs < OP):
        return errors.outranked(shown)
    if account is not None:
        changed = hub.room_states.set_role(hub.room_states.ensure(room), account, role, give)
    elif role == "op":
        message = f"{shown} is not identified: only an account can be an operator"
        return Error("not-registered", message)
    else:
        assert holder is not None  # a guest, voiced for its connection
        voiced = holder.voiced or set()
        changed = give != (room in voiced)
        (voiced.add if give else voiced.discard)(room)
        holder.voiced = voiced or None
    if not changed:
        state = "already" if give else "not"
        name = "an operator" if role == "op" else "voiced"
        return Notice(f"{shown} is {state} {name} in {room}")
    change = ("+" if give else "-") + ("o" if role == "op" else "v")
    return Event(room, "mode", by, change, hub.clock(), target=shown)


def kick(
    hub: "Hub", session: "Session", nick: str, reason: str, room: str | None, ref: Ref | None
) -> None:
    target = target_room(hub, session, room, ref)
    if target is None or not allowed(hub, session, target, OP, "kick", ref):
        return
    victim = hub.sessions.get(nick_skeleton(nick))
    if victim is None and hub.roster is not None:  # connected to another process, perhaps
        order = ("kick", nick, target, reason_of(reason))
        remotemod.send(hub, session, order, not_in_room(nick, target), ref)
        return
    mine = access.rank(hub, session, target)
    refusal = kick_refusal(hub, victim, nick, target, mine, victim is session)
    if refusal is not None:
        hub.tell(session, refusal, ref)
        return
    assert victim is not None
    event = Event(target, "kick", session.nick, reason_of(reason), hub.clock(), target=victim.nick)
    put_out(hub, [victim], target, event, session, ref)


def kick_refusal(
    hub: "Hub", victim: "Session | None", nick: str, room: str, rank: int, itself: bool
) -> Error | None:
    """Why `victim` (called `nick`) cannot be kicked out of `room` by someone of `rank`."""
    if victim is None or room not in victim.rooms:
        return not_in_room(nick, room)
    if not itself and access.rank(hub, victim, room) >= rank:
        return errors.outranked(victim.nick)
    return None


def not_in_room(nick: str, room: str) -> Error:
    return Error("not-in-room", f"{errors.shown(nick)} is not in {room}")


def invite(hub: "Hub", session: "Session", nick: str, room: str | None, ref: Ref | None) -> None:
    target = target_room(hub, session, room, ref)
    if target is None or not allowed(hub, session, target, OP, "invite", ref):
        return
    holder, account = account_of(hub, nick)
    if holder is None and account is None and hub.roster is None:
        hub.tell(session, errors.no_such_nick(nick), ref)
        return
    give_invitation(hub, holder, account, target, session.nick)
    invited = Notice(
        f"invited {holder.nick if holder is not None else account or nick} to {target}"
    )
    if holder is None and hub.roster is not None:  # connected to another process, perhaps
        # It joins through its own process, which must know: invited there (and here).
        not_found = invited if account is not None else errors.no_such_nick(nick)
        remotemod.send(hub, session, ("invite", nick, target, ""), not_found, ref)
        return
    hub.tell(session, invited, ref)


def give_invitation(
    hub: "Hub", holder: "Session | None", account: str | None, room: str, by: str
) -> None:
    """Invite the client `holder` (if connected here) and the `account` it stands for."""
    if account is not None:
        hub.room_states.ensure(room).invited.add(nick_skeleton(account))
    if holder is not None:
        if account is None:
            holder.invited = (holder.invited or set()) | {room}
        hub.tell(holder, Invited(room, by))


def mode(
    hub: "Hub", session: "Session", modes: str | None, room: str | None, ref: Ref | None
) -> None:
    target = target_room(hub, session, room, ref)
    if target is None:
        return
    state = hub.room_states.get(target)
    current = state.modes if state is not None else ""
    if modes is None:
        hub.tell(session, Modes(target, "+" + current if current else ""), ref)
        return
    if not allowed(hub, session, target, OP, "change modes", ref):
        return
    result = mode_change(current, modes.strip())
    if result is None:
        message = "modes are + or - and letters: i (invite-only), m (moderated), s (secret)"
        hub.tell(session, Error("bad-mode", message), ref)
        return
    letters, change = result
    if not change:
        hub.tell(session, Modes(target, "+" + current if current else ""), ref)
        return
    state = hub.room_states.ensure(target)
    state.modes = letters
    hub.room_states.changed(state)
    announce(hub, session, Event(target, "mode", session.nick, change, hub.clock()), ref)
    if state.private:
        access.drop_unwelcome_readers(hub, target)


def kill(hub: "Hub", session: "Session", nick: str, reason: str, ref: Ref | None) -> None:
    if not allowed(hub, session, None, SERVER, "disconnect users", ref):
        return
    victim = hub.sessions.get(nick_skeleton(nick))
    if victim is None and hub.roster is not None:  # connected to another process, perhaps
        order = ("kill", nick, None, reason_of(reason))
        remotemod.send(hub, session, order, errors.no_such_nick(nick), ref)
        return
    if victim is None:
        hub.tell(session, errors.no_such_nick(nick), ref)
        return
    disconnect(hub, victim, session.nick, reason_of(reason))
    hub.tell(session, Notice(f"disconnected {victim.nick}"), ref)


def disconnect(hub: "Hub", victim: "Session", by: str, reason: str) -> None:
    """A server operator ends `victim`'s connection; its rooms see it leave, with why."""
    because = f": {reason}" if reason else ""
    hub.tell(victim, Error("killed", f"you were disconnected by {by}{because}"))
    hub.disconnect(victim, f"killed by {by}{because}")
    victim.client.close()


def close_room(hub: "Hub", by: str, room: str, reason: str, closed: bool) -> bool:
    """A server operator closes `room` (its members are put out, nobody else may join or
    read it) or opens it again; False when it already was so."""
    state = hub.room_states.ensure(room)
    if state.closed == closed:
        return False
    state.closed = closed
    hub.room_states.changed(state)
    if closed:
        event = Event(room, "close", by, reason_of(reason), hub.clock())
        put_out(hub, list(hub.members.get(room, ())), room, event)
        access.drop_unwelcome_readers(hub, room)
    return True
