"""Who may do what in a room, and who may see a private one.

Rules:
- Ranks, highest first: a server operator (an account the configuration lists), the room's
  owner, its operators, its voiced users, everyone else. Roles are an account's, so a client
  has them only while identified; a guest may be voiced for its connection.
- One may act on another only from a higher rank (an operator cannot kick the owner), except
  on oneself (`/deop` of one's own role).
- A private room (invite-only, secret or closed: `roomstate.py`) is invisible and unreadable
  to whoever is not in it, on every surface: room lists, `who`, history, transcripts, the
  API and event streams answer as for a room that does not exist. It is seen by its members,
  accounts with a role in it or an invitation to it, server operators, and an API token whose
  `rooms` names it. A closed room is seen by server operators only.
- Joining: a ban (the room's or the server's) refuses, then a closed room, then an
  invite-only room without an invitation or a role. Speaking in a moderated room needs a
  voice.
- Pure.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chathub import bans, errors
from chathub.events import Error, Notice, Outgoing, Topic
from chathub.records import GLOBAL
from chathub.text import nick_skeleton

if TYPE_CHECKING:
    from chathub.hub import Hub
    from chathub.session import Session

NOBODY, VOICE, OP, OWNER, SERVER = range(5)
RANK_NAMES = {VOICE: "voiced", OP: "an operator", OWNER: "the owner", SERVER: "a server operator"}


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who reads a room without being in it (an HTTP request, an event stream): the account
    of its log-in session, and the rooms its API token names (never `*`)."""

    account: str | None = None
    token_rooms: tuple[str, ...] = ()


ANONYMOUS = Viewer()


def is_server_operator(hub: "Hub", account: str | None) -> bool:
    return account is not None and nick_skeleton(account) in hub.operators


def account_rank(hub: "Hub", account: str | None, room: str) -> int:
    if account is None:
        return NOBODY
    if nick_skeleton(account) in hub.operators:
        return SERVER
    state = hub.room_states.get(room)
    if state is None:
        return NOBODY
    if state.owner is not None and nick_skeleton(state.owner) == nick_skeleton(account):
        return OWNER
    if state.holds("op", account):
        return OP
    if state.holds("voice", account):
        return VOICE
    return NOBODY


def rank(hub: "Hub", session: "Session", room: str) -> int:
    """`session`'s rank in `room`."""
    ranked = account_rank(hub, session.account, room)
    if ranked == NOBODY and session.voiced and room in session.voiced:
        return VOICE
    return ranked


def invited(hub: "Hub", session: "Session", room: str) -> bool:
    if session.invited and room in session.invited:
        return True
    state = hub.room_states.get(room)
    return (
        state is not None
        and session.account is not None
        and nick_skeleton(session.account) in state.invited
    )


def can_see(hub: "Hub", room: str, viewer: Viewer, session: "Session | None" = None) -> bool:
    """Whether `room` exists for whoever asks (a connected client's `session`, or an HTTP
    `viewer`)."""
    if room not in hub.room_states.private:
        return True
    account = session.account if session is not None else viewer.account
    if is_server_operator(hub, account):
        return True
    state = hub.room_states.get(room)
    if state is None or state.closed:
        return state is None
    if session is not None and (room in session.rooms or invited(hub, session, room)):
        return True
    if room in viewer.token_rooms:
        return True
    if account is None:
        return False
    return account_rank(hub, account, room) > NOBODY or nick_skeleton(account) in state.invited


def drop_unwelcome_readers(hub: "Hub", room: str) -> None:
    """`room` just became private: event streams that may not see it stop reading it."""
    readers = hub.watchers.get(room)
    if not readers:
        return
    from chathub import feeds  # feeds needs the hub; imported here, where it is used

    for reader in list(readers):
        if isinstance(reader, feeds.Reader) and not can_see(hub, room, reader.viewer):
            feeds.unwatch_room(hub, reader, room)


# --- joining and speaking ----------------------------------------------------------------------


def join_refusal(hub: "Hub", session: "Session", room: str) -> Error | None:
    """Why `session` may not join `room` (closed, banned, invite-only), or None."""
    now = hub.clock()
    for scope in (GLOBAL, room):
        ban = hub.bans.match(scope, session.nick, session.account, session.address, now)
        if ban is not None:
            until = bans.shown_until(ban.until)
            return errors.banned(room if scope else None, ban.reason, until)
    if room not in hub.room_states.private:
        return None
    state = hub.room_states.get(room)
    if state is None or rank(hub, session, room) >= OP:
        return None
    if state.closed and rank(hub, session, room) < SERVER:
        return errors.room_closed(room)
    if "i" in state.modes and not (rank(hub, session, room) > 0 or invited(hub, session, room)):
        return errors.invite_only(room)
    return None


def joined(hub: "Hub", session: "Session", room: str) -> tuple[Outgoing, ...]:
    """`session` has just joined `room`: an invitation is used up, a registered user may
    become the owner; what to tell it before the room's replay."""
    told: list[Outgoing] = []
    if session.invited:
        session.invited.discard(room)
    state = hub.room_states.get(room)
    if session.account is not None:
        if state is not None:
            state.invited.discard(nick_skeleton(session.account))
        if state is None or state.owner is None:
            state = hub.room_states.ensure(room)
            state.owner = session.account
            hub.room_states.changed(state)
            told.append(Notice(f"you are the owner of {room}"))
    if state is not None and state.topic:
        told.insert(0, Topic(room, state.topic, state.topic_by, state.topic_ts))
    return tuple(told)


def speak_refusal(hub: "Hub", session: "Session", room: str) -> Error | None:
    """Why `session` may not speak in `room` (moderated, and it has no voice), or None."""
    if room in hub.room_states.moderated and rank(hub, session, room) == 0:
        return errors.moderated(room)
    return None
