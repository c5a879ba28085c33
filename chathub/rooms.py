"""Rooms: joining, leaving, speaking in and asking about a room; the rules the hub applies.

Rules:
- Pure functions of the hub's state, called by `Hub.handle` (and by `connect` and `disconnect`);
  what more than one client sees leaves through `Hub.publish`, direct answers through
  `Hub.tell`, so the hub's ordering rules hold here too.
- A command about a room names it or means the client's current room (the last it joined);
  a malformed name, a room the client is not in, or no room at all is an error reply.
- Every limit on rooms counts in the hub's `Counters` when it refuses.
- Moderation has its say (`access.py`): who may join (bans, invite-only, closed rooms), who
  may speak (moderated rooms), who becomes the owner and what a joiner is told first (the
  topic). A private room a client may not see answers `who` and history as an empty room.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from chathub import access, errors
from chathub.access import ANONYMOUS, can_see
from chathub.commands import Ref
from chathub.events import Error, Event, EventKind, History, Notice, RoomList, Who
from chathub.presence import Arrival
from chathub.store import Query, Recent, Since
from chathub.text import clean_message, clean_text, nick_key, nick_skeleton, normalize_room

if TYPE_CHECKING:
    from chathub.hub import Hub
    from chathub.session import Session


def join_problem(hub: "Hub", session: "Session", in_rooms: int, room: str) -> Error | None:
    """Why `session`, now in `in_rooms` rooms, may not join `room`; counts the join if not."""
    if hub.roster is not None and not hub.roster.available():
        return errors.backplane_away()
    if refusal := access.join_refusal(hub, session, room):
        return refusal
    max_rooms = hub.settings.max_rooms
    if max_rooms and in_rooms >= max_rooms:
        hub.counters.rooms_limited += 1
        return errors.too_many_rooms(max_rooms)
    total = hub.settings.max_rooms_total
    if room not in hub.members and len(hub.members) >= total:
        hub.counters.rooms_total_limited += 1
        return errors.server_rooms_full(total)
    now = hub.clock()
    if not session.joins.allow(now):
        hub.counters.join_limited += 1
        per_minute = hub.settings.joins_per_minute
        return errors.rate_limited("joins", per_minute, session.joins.retry_after(now))
    return None


def member_room(hub: "Hub", session: "Session", room: str | None, ref: Ref | None) -> str | None:
    """The room a command is about, which `session` must be in; None after an error reply."""
    if room is None:
        if session.current_room is None:
            hub.tell(session, errors.no_room(), ref)
        return session.current_room
    name = normalize_room(room)
    if name is None:
        hub.tell(session, errors.bad_room(room), ref)
    elif name not in session.rooms:
        hub.tell(session, errors.not_in_room(name), ref)
        return None
    return name


def named_room(hub: "Hub", session: "Session", room: str | None, ref: Ref | None) -> str | None:
    """The room a question is about, which need not be one `session` is in."""
    if room is None:
        if session.current_room is None:
            hub.tell(session, errors.no_room(), ref)
        return session.current_room
    name = normalize_room(room)
    if name is None:
        hub.tell(session, errors.bad_room(room), ref)
    return name


def say(
    hub: "Hub", session: "Session", kind: EventKind, text: str, room: str | None, ref: Ref | None
) -> None:
    target = member_room(hub, session, room, ref)
    if target is None:
        return
    text = clean_message(text)
    if error := errors.message_problem(text, hub.settings.text_max, hub.settings.lines_max):
        hub.tell(session, error, ref)
        return
    if target in hub.room_states.moderated and (
        refusal := access.speak_refusal(hub, session, target)
    ):
        hub.tell(session, refusal, ref)
        return
    event = Event(target, kind, session.nick, text, hub.clock(), author=session.author)
    hub.queue_message(event, session, ref)


def join_command(hub: "Hub", session: "Session", room: str, ref: Ref | None) -> None:
    name = normalize_room(room)
    if name is None:
        hub.tell(session, errors.bad_room(room), ref)
    elif name in session.rooms:
        # Already there: make it current, as /join does in IRC clients.
        session.rooms.remove(name)
        session.rooms.append(name)
        hub.tell(session, Notice(f"you are in {name}"), ref)
    elif error := join_problem(hub, session, len(session.rooms), name):
        hub.tell(session, error, ref)
    else:
        join(hub, session, name, ref, None)


def join(hub: "Hub", session: "Session", room: str, ref: Ref | None, since: int | None) -> None:
    """Open the room and read its replay (from disk, if need be, while the client's later
    commands wait), then in one step: the client becomes a member, the room is told, and the
    client gets the replay, so no message of the room can come between or go missing."""
    query: Query = (
        Recent(hub.settings.replay) if since is None else Since(since, hub.settings.history_max)
    )

    def start(done: Callable[[], None]) -> None:
        def opened() -> None:
            if isinstance(query, Recent) and query.count == 0:
                entered([])
            else:
                hub.store.read(room, query, entered)

        def entered(replay: list[Event]) -> None:
            if hub.sessions.get(nick_skeleton(session.nick)) is not session:
                if room not in hub.members:
                    hub.store.close_room(room)  # the client left meanwhile
                done()
                return
            session.rooms.append(room)
            hub.add_member(room, session)
            history = History(room, tuple(replay)) if replay else None
            greeting = access.joined(hub, session, room)
            # The room hears of it (in a batch); the client then gets the topic, its replay,
            # and `done`.
            arrival = Arrival(
                "join", session.nick, hub.clock(), "", session, ref, history, done,
                greeting=greeting,
            )  # fmt: skip
            hub.presence.announce(room, arrival)

        hub.store.open_room(room, opened)

    hub.when_done(session, start)


def part(
    hub: "Hub", session: "Session", room: str, reason: str, ref: Ref | None, tell_self: bool = True
) -> None:
    event = Event(room, "part", session.nick, reason, hub.clock())
    hub.remove_member(room, session)
    session.rooms.remove(room)
    if tell_self:
        hub.tell(session, event, ref)
    if not hub.closing:
        hub.presence.announce(room, Arrival("part", session.nick, event.ts, reason))


def history_command(
    hub: "Hub",
    session: "Session",
    room: str | None,
    since: int | None,
    limit: int | None,
    ref: Ref | None,
    before: int | None = None,
) -> None:
    target = named_room(hub, session, room, ref)
    if target is None:
        return
    if not can_see(hub, target, ANONYMOUS, session):
        hub.tell(session, History(target, ()), ref)  # as for a room without history
        return
    if (since is not None and since < 0) or (limit is not None and limit < 1):
        error = Error("bad-request", "since must be 0 or more and limit 1 or more")
        hub.tell(session, error, ref)
        return
    if before is not None and (before < 0 or since is not None):
        error = Error("bad-request", "before must be 0 or more, and not given with since")
        hub.tell(session, error, ref)
        return

    def start(done: Callable[[], None]) -> None:
        def answer(events: list[Event]) -> None:
            hub.tell(session, History(target, tuple(events)), ref)
            done()

        hub.history(target, since, limit, answer, before)

    hub.when_done(session, start)


def part_command(
    hub: "Hub", session: "Session", room: str | None, reason: str, ref: Ref | None
) -> None:
    target = member_room(hub, session, room, ref)
    if target is not None:
        part(hub, session, target, clean_text(reason), ref)


def who(hub: "Hub", session: "Session", room: str | None, ref: Ref | None) -> None:
    target = named_room(hub, session, room, ref)
    if target is None:
        return
    if not can_see(hub, target, ANONYMOUS, session):
        hub.tell(session, Who(target, ()), ref)
        return
    if hub.roster is None:
        members = sorted((s.nick for s in hub.members.get(target, ())), key=nick_key)
        hub.tell(session, Who(target, tuple(members)), ref)
        return

    def start(done: Callable[[], None]) -> None:
        def answer(members: list[str] | None) -> None:
            if members is None:
                hub.tell(session, errors.backplane_away(), ref)
            else:
                hub.tell(session, Who(target, tuple(members)), ref)
            done()

        hub.room_members(target, answer)

    hub.when_done(session, start)


def rooms_command(hub: "Hub", session: "Session", ref: Ref | None) -> None:
    """`rooms` from the roster: every process's rooms, answered later."""

    def start(done: Callable[[], None]) -> None:
        def answer(listing: tuple[list[tuple[str, int]], int] | None) -> None:
            if listing is None:
                hub.tell(session, errors.backplane_away(), ref)
            else:
                hub.tell(session, RoomList(tuple(listing[0]), listing[1]), ref)
            done()

        hub.list_rooms(None, answer, ANONYMOUS, session)

    hub.when_done(session, start)
