"""Clients without a chat session: bots that publish over HTTP, and streams that only read.

Rules:
- A bot (an API token) publishes to a room whether or not anyone is in it; its messages are
  events like any other (ids, history, replay, `since`), said by its reserved nick and marked
  `bot`. The room is opened for it and closed again if nobody is in it. A batch is one
  publication: its ids are consecutive, and its readers get it as one write.
- A bot's text has the room messages' rules (cleaned, not empty, at most `text_max`); one bad
  item refuses the whole batch and stores nothing.
- While the store is behind, or the room cannot be opened, a publish is refused with
  `unavailable` (the HTTP answer is 503 with Retry-After), never queued without bound.
- A watcher (an SSE stream) reads rooms: first the stored events after what it has seen, then
  live ones, with no gap and no duplicate: it is added to a room's readers in the same step
  that its catch-up is answered (the store's answers include what was stored meanwhile). When
  what it asks for is older than what the room keeps, it is told where history starts (a gap).
- Pure, like the hub: callers get answers through callbacks.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from chathub import errors
from chathub.delivery import Client, Session
from chathub.events import Error, Event, EventKind, Gap, Outgoing
from chathub.hub import Hub
from chathub.store import Recent, Since
from chathub.text import clean_text


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
        text = clean_text(post.text)
        if not text.strip():
            answer(errors.empty())
            return
        if len(text) > hub.settings.text_max:
            answer(errors.too_long(hub.settings.text_max))
            return
        texts.append(text)
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
            hub.publish(
                events, (room,), on_stored=answer, on_failed=lambda: answer(errors.unavailable())
            )
        if room not in hub.members and room not in hub.watchers:
            hub.store.close_room(room)

    hub.store.open_room(room, opened)


@dataclass(eq=False, slots=True)
class Reader(Session):
    """A watching client's session: not in the hub's `sessions`; `gone` once unwatched."""

    gone: bool = False


def watch(
    hub: Hub,
    client: Client,
    rooms: Iterable[str],
    since: dict[str, int],
    replay: int,
    tell: Callable[[Outgoing], None],
) -> Reader:
    """Make `client` a reader of `rooms`: for each, the events after `since[room]` (or the
    newest `replay` when it names none), then live ones. Returns its session (for `unwatch`)."""
    session = Reader(client, "")
    hub.traffic.opened(client.transport_name)
    for room in rooms:
        _watch_room(hub, session, room, since.get(room), replay, tell)
    return session


def _watch_room(
    hub: Hub,
    session: Reader,
    room: str,
    after: int | None,
    replay: int,
    tell: Callable[[Outgoing], None],
) -> None:
    def opened() -> None:
        if after is None:
            hub.store.read(room, Recent(replay), caught_up)
        else:
            hub.store.read(room, Since(after, hub.settings.history_max), caught_up)

    def caught_up(events: list[Event]) -> None:
        if session.gone:  # unwatched meanwhile: nothing to do
            _close_if_unused(hub, room)
            return
        if after is not None:
            first = events[0].id if events else None
            if first is not None and first > after + 1:
                tell(Gap(room, first))
        for event in events:
            tell(event)
        hub.watchers.setdefault(room, {})[session] = None
        session.rooms.append(room)
        hub.traffic.joined(room, session.client.transport_name)

    hub.store.open_room(room, opened)


def unwatch(hub: Hub, session: Reader) -> None:
    """The reader has gone: it leaves every room it read. Safe to call twice."""
    if session.gone:
        return
    session.gone = True  # for reads still under way
    hub.traffic.closed(session.client.transport_name)
    for room in session.rooms:
        readers = hub.watchers.get(room)
        if readers is not None and session in readers:
            del readers[session]
            hub.traffic.left(room, session.client.transport_name)
            if not readers:
                del hub.watchers[room]
            _close_if_unused(hub, room)
    session.rooms.clear()


def _close_if_unused(hub: Hub, room: str) -> None:
    if room not in hub.members and room not in hub.watchers:
        hub.store.close_room(room)
