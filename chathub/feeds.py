"""Clients without a chat session: bots that publish over HTTP, and streams that only read.

Rules:
- A bot (an API token) publishes to a room whether or not anyone is in it; its messages are
  events like any other (ids, history, replay, `since`), said by its reserved nick and marked
  `bot`. The room is opened for it and closed again if nobody is in it. A batch is one
  publication: its ids are consecutive, and its readers get it as one write.
- A bot's text has the room messages' rules (cleaned, not empty, at most `text_max`); one bad
  item refuses the whole batch and stores nothing.
- A room a server operator closed is closed to bots too (`room-closed`; HTTP 403).
- While the store is behind, or the room cannot be opened, a publish is refused with
  `unavailable` (the HTTP answer is 503 with Retry-After), never queued without bound.
- A watcher (an SSE stream) reads rooms: first the stored events after what it has seen, then
  live ones, with no gap and no duplicate: it is added to a room's readers in the same step
  that its catch-up is answered (the store's answers include what was stored meanwhile). A
  catch-up longer than one read (`history_max`) is read page after page before that step.
  When what it asks for is older than what the room keeps, it is told where history starts
  (a gap). Its session records, for each room, the last id stored when it was added
  (`Reader.caught_up`): it has been told everything up to there, even in a room with nothing
  to tell. Once it is a reader of every room it asked for, `ready` is called: whatever is
  published after that reaches it.
- A watcher reads a private room (secret, invite-only, closed) only if its `Viewer` may see it
  (`access.py`: an API token naming the room, an account with a role in it); otherwise the
  room is, for it, one where nothing happens. A room that becomes private stops being read
  by watchers that may not see it.
- Pure, like the hub: callers get answers through callbacks.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from chathub import errors
from chathub.access import ANONYMOUS, Viewer, can_see
from chathub.events import Error, Event, EventKind, Gap, Outgoing
from chathub.hub import Hub
from chathub.session import Client, Session
from chathub.store import Recent, Since
from chathub.text import clean_message


@dataclass(frozen=True, slots=True)
class Post:
    """One message a bot publishes."""

    kind: EventKind
    text: str


def publish(
    hub: Hub,
    nick: str,
    room: str,
    posts: list[Post],
    answer: Callable[[tuple[Event, ...] | Error], None],
) -> None:
    """Publish a bot's `posts` to a (normalized) `room`; `answer` gets them stored, or why not."""
    texts: list[str] = []
    for post in posts:
        text = clean_message(post.text)
        if error := errors.message_problem(text, hub.settings.text_max, hub.settings.lines_max):
            answer(error)
            return
        texts.append(text)
    state = hub.room_states.get(room)
    if state is not None and state.closed:  # a server operator closed it: bots too
        answer(errors.room_closed(room))
        return
    if hub.store.behind():
        answer(errors.unavailable())
        return

    def opened() -> None:
        if hub.store.behind():
            answer(errors.unavailable())
        else:
            now = hub.clock()
            events = tuple(
                Event(room, post.kind, nick, text, now, bot=True)
                for post, text in zip(posts, texts, strict=True)
            )
            # The answer comes when the broker hands the events back, ids set: at once from
            # the local broker, later from one for many processes (or never: unavailable).
            # Readers get them at the end of the turn, with the other posts to the room.
            hub.publish(
                events,
                (room,),
                on_stored=answer,
                on_failed=lambda: answer(errors.unavailable()),
                fan_out_later=True,
            )
        if room not in hub.members and room not in hub.watchers:
            hub.store.close_room(room)

    hub.store.open_room(room, opened)


@dataclass(eq=False, slots=True)
class Reader(Session):
    """A watching client's session: not in the hub's `sessions`; `gone` once unwatched;
    `caught_up`: room -> the last id stored when it became a reader of that room."""

    gone: bool = False
    caught_up: dict[str, int] = field(default_factory=dict)
    viewer: Viewer = ANONYMOUS


def watch(
    hub: Hub,
    client: Client,
    rooms: Iterable[str],
    since: dict[str, int],
    replay: int,
    tell: Callable[[Outgoing], None],
    viewer: Viewer = ANONYMOUS,
    ready: Callable[[], None] = lambda: None,
) -> Reader:
    """Make `client` a reader of `rooms`: for each, the events after `since[room]` (or the
    newest `replay` when it names none), then live ones; `ready` once it reads them all.
    Returns its session (for `unwatch`). A private room `viewer` may not see is not read."""
    session = Reader(client, "", viewer=viewer, account=viewer.account)
    hub.traffic.opened(client.transport_name)
    visible = [room for room in rooms if can_see(hub, room, viewer)]
    pending = len(visible)

    def room_done() -> None:
        nonlocal pending
        pending -= 1
        if pending == 0 and not session.gone:
            ready()

    if not visible:
        ready()
    for room in visible:
        _watch_room(hub, session, room, since.get(room), replay, tell, room_done)
    return session


def _watch_room(
    hub: Hub,
    session: Reader,
    room: str,
    after: int | None,
    replay: int,
    tell: Callable[[Outgoing], None],
    done: Callable[[], None],
) -> None:
    limit = hub.settings.history_max

    def opened() -> None:
        if after is None:
            hub.store.read(room, Recent(replay), caught_up)
        else:
            hub.store.read(room, Since(after, limit), caught_up)

    def caught_up(events: list[Event], first_page: bool = True) -> None:
        if session.gone or not can_see(hub, room, session.viewer):  # unwatched meanwhile
            _close_if_unused(hub, room)
            done()  # read as far as it goes: the others may still make the reader ready
            return
        if after is not None and first_page:
            first = events[0].id if events else None
            if first is not None and first > after + 1:
                tell(Gap(room, first))
        for event in events:
            tell(event)
        last = events[-1].id if events else None
        if after is not None and last is not None and len(events) >= limit:
            # A full page: more may follow. Read on before joining the live readers, or
            # what lies between this page and the live events would never be sent.
            hub.store.read(room, Since(last, limit), lambda more: caught_up(more, False))
            return
        hub.fan_out_held()  # stored before its catch-up was read: sent in it, not again
        hub.watchers.setdefault(room, {})[session] = None
        session.rooms.append(room)
        session.caught_up[room] = hub.store.last_id(room)
        hub.traffic.joined(room, session.client.transport_name)
        done()

    hub.store.open_room(room, opened)


def unwatch(hub: Hub, session: Reader) -> None:
    """The reader has gone: it leaves every room it read. Safe to call twice."""
    if session.gone:
        return
    session.gone = True  # for reads still under way
    hub.traffic.closed(session.client.transport_name)
    for room in list(session.rooms):
        unwatch_room(hub, session, room)


def unwatch_room(hub: Hub, session: Reader, room: str) -> None:
    """The reader stops reading `room` (it went, or may no longer see the room)."""
    readers = hub.watchers.get(room)
    if readers is not None and session in readers:
        del readers[session]
        hub.traffic.left(room, session.client.transport_name)
        if not readers:
            del hub.watchers[room]
        _close_if_unused(hub, room)
    if room in session.rooms:
        session.rooms.remove(room)


def _close_if_unused(hub: Hub, room: str) -> None:
    if room not in hub.members and room not in hub.watchers:
        hub.store.close_room(room)
