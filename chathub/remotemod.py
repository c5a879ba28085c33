"""Moderation across processes: a command about a nick another process holds is carried out
there.

Rules:
- With a roster (many processes), `/kick`, `/kill`, `/voice`, `/op` (and their undoing) of a
  nick no client of this process holds (and, for `/voice` and `/op`, no account is registered
  as: an account's roles are shared records), and `/invite` of a nick no client of this
  process holds (an account's invitation is kept here too, for a join through this process)
  ask the roster who holds it, then send an `Order` to
  that nick (the broker routes a publication for a nick to its holder's process). The actor's
  own rights were checked here, as for a local target.
- The holder's process carries it out as it would its own: it knows the target's rooms, rank
  and connection. The actor's rank there is its account's (roles are shared records; a
  guest's voice never lets it kick). Every other process ignores the order.
- The outcome (a notice, or the refusal) goes back to the actor's nick as an `Outcome` and
  reaches the actor with its command's ref. Until it does, the actor's later commands wait
  (`when_done`), at most `OUTCOME_SECONDS`; then it is told that no answer came.
- Orders and outcomes are never delivered to a client and never stored.
- Pure: no I/O.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chathub import access, errors
from chathub import commands as cmd
from chathub.broker import Order, Outcome
from chathub.events import Error, Event, Notice
from chathub.text import nick_skeleton

if TYPE_CHECKING:
    from chathub.hub import Hub
    from chathub.session import Session

OUTCOME_SECONDS = 5.0  # how long an actor waits for the holder's process to answer

# What an actor asks: the command, the target nick, the room (None: the server), and the
# reason (kick, kill) or the change (grant: "+voice", "-op").
Asked = tuple[str, str, str | None, str]


@dataclass(slots=True)
class Waiting:
    """An order sent, whose outcome its actor waits for."""

    session: "Session"
    ref: cmd.Ref | None
    done: Callable[[], None]
    timer: Any  # the reactor's delayed call, or None without one


def send(
    hub: "Hub", session: "Session", asked: Asked, not_found: Error | Notice, ref: cmd.Ref | None
) -> None:
    """Have `asked` carried out by the process that holds its nick, `session` waiting for the
    outcome; `not_found` is the answer when no process holds it."""
    command, nick, room, text = asked
    roster = hub.roster
    assert roster is not None

    def start(done: Callable[[], None]) -> None:
        def found(holder: str | None, answered: bool) -> None:
            if hub.sessions.get(nick_skeleton(session.nick)) is not session:
                done()  # the actor is gone meanwhile
                return
            if not answered or holder is None:
                hub.tell(session, not_found if answered else errors.backplane_away(), ref)
                done()
                return
            hub.orders_sent += 1
            token = f"{hub.origin}:{hub.orders_sent}"
            order = Order(token, command, session.nick, session.account, holder, room, text)
            if not hub.publish((order,), (), (nick_skeleton(holder),)):
                hub.tell(session, errors.backplane_away(), ref)
                done()
                return
            later = hub.later
            timer = later(OUTCOME_SECONDS, lambda: _unanswered(hub, token)) if later else None
            hub.orders[token] = Waiting(session, ref, done, timer)

        roster.holder(nick, found)

    hub.when_done(session, start)


def _unanswered(hub: "Hub", token: str) -> None:
    waiting = hub.orders.pop(token, None)
    if waiting is not None:
        message = "the chathub server that holds that nick did not answer; try again"
        _answer(hub, waiting, Error("unavailable", message))


def _answer(hub: "Hub", waiting: Waiting, reply: Error | Notice) -> None:
    """Tell the actor how its order went (unless it is gone), and let it go on."""
    session = waiting.session
    if hub.sessions.get(nick_skeleton(session.nick)) is session:
        hub.tell(session, reply, waiting.ref)
    waiting.done()


def received(hub: "Hub", item: Order | Outcome) -> None:
    """An order for a nick held here, or the outcome of one sent from here."""
    if type(item) is Outcome:
        waiting = hub.orders.pop(item.token, None)
        if waiting is None:
            return  # not sent from here (this process published it), or answered too late
        if waiting.timer is not None:
            waiting.timer.cancel()
        _answer(
            hub, waiting, Notice(item.text) if item.code is None else Error(item.code, item.text)
        )
        return
    assert type(item) is Order
    victim = hub.sessions.get(nick_skeleton(item.target))
    if victim is None:
        return  # held elsewhere (the actor's process gets its order back too): not ours
    outcome = _carry_out(hub, item, victim)
    code = outcome.code if isinstance(outcome, Error) else None
    text = outcome.message if isinstance(outcome, Error) else outcome.text
    hub.publish((Outcome(item.token, code, text),), (), (nick_skeleton(item.by),))


def _carry_out(hub: "Hub", order: Order, victim: "Session") -> Error | Notice:
    """What the order does to `victim`, a client of this process, as if its actor were here."""
    from chathub import moderation as mod

    room = order.room
    mine = access.account_rank(hub, order.account, room) if room is not None else access.NOBODY
    match order.command:
        case "kill":
            mod.disconnect(hub, victim, order.by, order.text)
            return Notice(f"disconnected {victim.nick}")
        case "kick" if room is not None:
            refusal = mod.kick_refusal(hub, victim, victim.nick, room, mine, itself=False)
            if refusal is not None:
                return refusal
            event = Event(room, "kick", order.by, order.text, hub.clock(), target=victim.nick)
            mod.put_out(hub, [victim], room, event)
            return Notice(f"kicked {victim.nick} from {room}")
        case "grant" if room is not None and order.text[1:] in ("voice", "op"):
            role: cmd.Role = "op" if order.text[1:] == "op" else "voice"
            give = order.text[0] == "+"
            _, account = mod.account_of(hub, victim.nick)
            change = mod.role_change(hub, order.by, mine, False, victim, account, role, give, room)
            if not isinstance(change, Event):
                return change
            hub.publish((change,), (room,))
            name = "an operator" if role == "op" else "voiced"
            return Notice(f"{victim.nick} is {'now' if give else 'no longer'} {name} in {room}")
        case "invite" if room is not None:
            _, account = mod.account_of(hub, victim.nick)
            mod.give_invitation(hub, victim, account, room, order.by)
            return Notice(f"invited {victim.nick} to {room}")
    return Error("unknown-command", f"this server cannot carry out {order.command!r}")
