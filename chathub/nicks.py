"""Nicks: guest nicks, who may be called what, nick changes, and private messages.

Rules:
- Pure functions of the hub's state, called by `Hub.handle` and `Hub.connect`; what more than
  one client sees leaves through `Hub.publish`, answers through `Hub.tell`.
- A nick is 1-24 of A-Z a-z 0-9 _ -, starting with a letter or `_`. Nicks that look alike are
  one nick (`nick_skeleton`): the second is refused while the first is connected. The nick of
  an API token's bot is never anyone else's; a registered nick is only its account's
  (`identity.py`); a nick a server operator banned everywhere is nobody's.
- With a roster (many processes), a nick is claimed from it before it is given (and a
  private message's recipient is looked up there when it is not connected here); the client
  waits meanwhile, and a nick another process holds is refused like one held here. A change
  made without asking first (`change`, for identifying) tells the roster after.
- A nick change goes once to the renamed client and once to everyone who shares a room with it;
  a private message to its recipient and a copy to its sender (with the command's `ref`). Both
  have the room messages' limits: nick changes a minute, and the 4,000-character text.
- A private message to or from an identified user is kept, with an id (`privatelog.py`); one
  that is refused is not.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from chathub import errors, privatelog
from chathub.broker import Claim
from chathub.commands import Ref
from chathub.events import Error, Event, Notice, Private
from chathub.records import GLOBAL
from chathub.text import clean_message, is_valid_nick, nick_skeleton

if TYPE_CHECKING:
    from chathub.hub import Hub
    from chathub.session import Session


def next_guest(hub: "Hub") -> str:
    """The next free guest nick: guest-1, guest-2, ..."""
    while True:
        hub.guest_number += 1
        nick = f"guest-{hub.guest_number}"
        if nick_skeleton(nick) not in hub.sessions:
            return nick


def problem(
    hub: "Hub", nick: str, session: "Session | None", account: str | None = None
) -> Error | None:
    """Why `session` (None: a new client, identified as `account`) may not have `nick`."""
    if not is_valid_nick(nick):
        return errors.bad_nick(nick)
    owner = hub.accounts.find(nick)
    mine = session.account if session is not None else account
    if owner is not None and (mine is None or nick_skeleton(mine) != nick_skeleton(owner.name)):
        return errors.nick_registered(nick)
    ban = hub.bans.match(GLOBAL, nick, None, "", hub.clock())
    if ban is not None:
        return errors.banned(None, ban.reason, None)
    holder = hub.sessions.get(nick_skeleton(nick))
    if holder is None and hub.claiming:
        holder = hub.claiming.get(nick_skeleton(nick))
    if holder is not None and holder is not session:
        return errors.nick_taken(nick, holder.nick)
    if nick_skeleton(nick) in hub.bots:
        return errors.nick_of_a_bot(nick)
    return None


def rename(hub: "Hub", session: "Session", nick: str, ref: Ref | None) -> None:
    owner = hub.accounts.find(nick) if is_valid_nick(nick) else None
    mine = session.account
    if owner is not None and mine is not None and nick_skeleton(owner.name) == nick_skeleton(mine):
        from chathub import identity  # which renames through this module

        identity.free_nick(hub, owner.name, session)  # the account's nick is its own
    error = problem(hub, nick, session)
    if error is not None:
        hub.tell(session, error, ref)
        return
    old = session.nick
    if nick == old:
        hub.tell(session, Notice(f"you are already {nick}"), ref)
        return
    now = hub.clock()
    if not session.nick_changes.allow(now):
        hub.counters.nick_limited += 1
        per_minute = hub.settings.nick_changes_per_minute
        retry = session.nick_changes.retry_after(now)
        hub.tell(session, errors.rate_limited("nick changes", per_minute, retry), ref)
        return
    if hub.roster is None:
        change(hub, session, nick, ref)
        return
    roster = hub.roster
    key = nick_skeleton(nick)

    def start(done: Callable[[], None]) -> None:
        hub.claiming[key] = session
        rooms = tuple(session.rooms)

        def claimed(claim: Claim | None) -> None:
            if hub.claiming.get(key) is session:
                del hub.claiming[key]
            if hub.sessions.get(nick_skeleton(session.nick)) is not session:  # gone meanwhile
                if claim is not None and claim.nick is not None:
                    for room in rooms:
                        roster.left(room, claim.nick)
                    roster.release(claim.nick)
            elif claim is None:
                hub.tell(session, errors.backplane_away(), ref)
            elif claim.nick is None:
                hub.tell(session, errors.nick_taken(nick, claim.holder), ref)
            else:
                change(hub, session, nick, ref, claimed=True)
            done()

        roster.claim(nick, session.nick, rooms, claimed)

    hub.when_done(session, start)


def change(
    hub: "Hub", session: "Session", nick: str, ref: Ref | None, claimed: bool = False
) -> None:
    """Rename `session` to `nick` (already checked) and tell whoever shares a room with it;
    with a roster, `claimed` says whether the roster gave it the nick (else it is told)."""
    if hub.roster is not None and not claimed:
        hub.roster.claim(nick, session.nick, tuple(session.rooms), _told)
    old = session.nick
    del hub.sessions[nick_skeleton(old)]
    session.nick = nick
    hub.sessions[nick_skeleton(nick)] = session
    event = Event(None, "nick", nick, "", hub.clock(), old=old)
    # Once to the renamed client (first: it is in `nicks`) and once to everyone who shares
    # a room with it.
    hub.publish((event,), tuple(session.rooms), (nick_skeleton(nick),), ((0, session, ref),))


def private(hub: "Hub", session: "Session", to: str, text: str, ref: Ref | None) -> None:
    target = hub.sessions.get(nick_skeleton(to))
    if target is None and hub.roster is None:
        hub.tell(session, errors.no_such_nick(to), ref)
        return
    text = clean_message(text)
    # The same limits as in a room.
    if error := errors.message_problem(text, hub.settings.text_max, hub.settings.lines_max):
        hub.tell(session, error, ref)
        return
    if target is not None:
        _send_private(hub, session, target.nick, target.account, text, ref)
        return
    roster = hub.roster
    assert roster is not None

    def start(done: Callable[[], None]) -> None:
        def found(holder: str | None, answered: bool) -> None:
            if hub.sessions.get(nick_skeleton(session.nick)) is not session:
                pass  # gone meanwhile
            elif not answered:
                hub.tell(session, errors.backplane_away(), ref)
            elif holder is None:
                hub.tell(session, errors.no_such_nick(to), ref)
            else:
                _send_private(hub, session, holder, None, text, ref)
            done()

        roster.holder(to, found)

    hub.when_done(session, start)


def _send_private(
    hub: "Hub", session: "Session", to: str, account: str | None, text: str, ref: Ref | None
) -> None:
    """Send to the nick `to`, identified as `account`. Kept when a side is identified
    (privatelog.py); the account of a recipient on another process is not known here (None),
    so such a message is kept for the sender's side only."""
    now = hub.clock()
    id = privatelog.record(hub, session, to, account, text, now)
    message = Private(session.nick, to, text, now, id)
    # To the recipient, then the sender's copy (with its ref); once if they are one.
    nicks = (nick_skeleton(to), nick_skeleton(session.nick))
    hub.publish((message,), (), nicks, ((0, session, ref),))


def _told(claim: Claim | None) -> None:
    """The roster's answer to a change it was told of: nothing to do (a nick held elsewhere
    meanwhile stays held there; identifying takes a registered nick back only here)."""
