"""Server-Sent Events: `GET /api/rooms/ROOM/events` and `GET /api/events?rooms=a,b`.

Rules:
- A `text/event-stream` of the rooms' events: `event:` the kind (`message`, `action`, `join`,
  `part`, `nick`), `data:` the event's JSON (the shape `/ws` and the API use), and for a
  stored event an `id:`: `ROOM:ID` for one room; for several, every room's last id so far
  (`a:5,b:7`), so that `Last-Event-ID` alone says exactly where to resume in each.
- `Last-Event-ID` (or `?since=ROOM:ID,...`) sends exactly the stored events after those ids,
  then live ones: no gap, no duplicate. Without it, the newest `--replay` messages come first.
  When an asked id is older than what the room keeps, `event: gap` names the first id kept.
- For several rooms, a room with nothing sent yet is in the `id:` too, at the last id stored
  when the stream began reading it (nothing after it was missed), so that a reconnect does not
  take it for a first visit and replay its newest messages instead of what came meanwhile.
- It is a stream connection like the others (`Stream`): bounded output; a reader that falls
  behind skips, gets `event: gap` saying from which id to resume (with an `id:` that resumes
  there, so that a reconnect right after it catches up from the store), and continues. It sends
  nothing, so no rate or idle limit applies; a comment line every 15 s keeps proxies from
  closing it.
- It reads rooms without joining them: no nick, not in `who`.
- A private room is read only by a stream that may see it (`access.py`: an API token naming
  it, a log-in session with a role in it); for others it is a room where nothing happens.
"""

from dataclasses import replace
from typing import Any

from twisted.internet.interfaces import IDelayedCall
from twisted.web.server import NOT_DONE_YET, Request

from chathub.access import ANONYMOUS, Viewer
from chathub.commands import Ref
from chathub.config import FlowLimits
from chathub.events import Event, Gap, Notice, Outgoing, Skipped
from chathub.hub import Hub
from chathub.jsonwire import encode, event_fields
from chathub.query import parse_since
from chathub.signals import SIGNAL_KINDS
from chathub.stream import CloseReason, Stream, peer_address
from chathub.text import normalize_room

HEARTBEAT_SECONDS = 15.0
MAX_ROOMS = 20  # rooms one stream may read


def _frame(kind: str, data: bytes, id: str | None = None) -> bytes:
    head = f"event: {kind}\n" + (f"id: {id}\n" if id is not None else "")
    return head.encode() + b"data: " + data + b"\n\n"


# Encode once, write many: a broadcast hands one event (or one tuple of them) to every reader
# in a row, so the last one rendered is kept: its JSON, and its frames as every one-room reader
# gets them (their `id:` is the event's own).
_last_event: Event | None = None
_last_data = b""
_last_frame = b""
_last_batch: tuple[Event, ...] | None = None
_last_batch_data: list[bytes] = []
_last_batch_frames = b""


def _data(event: Event) -> bytes:
    global _last_event, _last_data, _last_frame
    if event is not _last_event:
        _last_event, _last_data, _last_frame = event, encode(event_fields(event)), b""
    return _last_data


def _one_room_frame(event: Event) -> bytes:
    global _last_frame
    data = _data(event)
    if not _last_frame:
        _last_frame = _frame(event.kind, data, f"{event.room}:{event.id}")
    return _last_frame


def _batch_data(events: tuple[Event, ...]) -> list[bytes]:
    global _last_batch, _last_batch_data, _last_batch_frames
    if events is not _last_batch:
        _last_batch, _last_batch_frames = events, b""
        _last_batch_data = [encode(event_fields(event)) for event in events]
    return _last_batch_data


def _one_room_frames(events: tuple[Event, ...]) -> bytes:
    global _last_batch_frames
    data = _batch_data(events)
    if not _last_batch_frames:
        _last_batch_frames = b"".join(
            _frame(event.kind, part, None if event.id is None else f"{event.room}:{event.id}")
            for event, part in zip(events, data, strict=True)
        )
    return _last_batch_frames


class SseConnection:
    """One event-stream reader: a `StreamAdapter` writing to a twisted.web request."""

    transport_name = "sse"

    def __init__(
        self, request: Request, hub: Hub, flow: FlowLimits, clock: Any, rooms: list[str]
    ) -> None:
        self.request = request
        self.transport: Any = request  # the stream registers its outbox as the producer here
        self.clock = clock
        self.rooms = rooms
        self.positions: dict[str, int] = {}  # room -> last id sent
        # A reader sends nothing: no rate to keep, nothing to be idle about.
        quiet = replace(flow, max_rate=0.0, idle_timeout=0.0)
        self.stream = Stream(hub, quiet, clock, self, peer_address(request.transport))
        self._heartbeat: IDelayedCall | None = None
        self.gone = False  # the request finished or its connection was lost

    def start(self, since: dict[str, int], replay: int, viewer: Viewer = ANONYMOUS) -> None:
        request = self.request
        request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-accel-buffering", b"no")  # nginx: pass each event on at once
        request.notifyFinish().addBoth(self._gone)
        self.positions.update(since)
        self.stream.watch(self.rooms, since, replay, viewer, self._reading)
        self._heartbeat = self.clock.callLater(HEARTBEAT_SECONDS, self._beat)

    def _reading(self) -> None:
        """It reads every room now: the opening comment (and with it the headers) tells the
        client that whatever is published from here on reaches it."""
        self.write_rendered(b": chathub event stream\n\n")

    def _beat(self) -> None:
        if self.stream.open and self.stream.outbox is not None:
            self.stream.outbox.offer(b": keepalive\n\n", 13)
            self._heartbeat = self.clock.callLater(HEARTBEAT_SECONDS, self._beat)

    def _gone(self, _: object) -> None:
        self.gone = True
        if self._heartbeat is not None and self._heartbeat.active():
            self._heartbeat.cancel()
        self.stream.stop()

    # --- what the stream asks of us (`StreamAdapter`) -----------------------------------------

    def render_event(self, event: Event) -> bytes:
        if event.kind in SIGNAL_KINDS:
            return b""  # typing is for the page, not for scripts following a room
        if event.id is None or event.room is None:
            return _frame(event.kind, _data(event))
        self.positions[event.room] = event.id
        if len(self.rooms) == 1:
            return _one_room_frame(event)
        return _frame(event.kind, _data(event), self._last_ids())

    def _last_ids(self) -> str:
        """`a:5,b:7`: where each room stands (what was sent, or else what was stored when the
        stream began reading the room; a room still being caught up is left out)."""
        reader = self.stream.reader
        caught_up = reader.caught_up if reader is not None else {}
        ids: list[str] = []
        for room in self.rooms:
            position = self.positions.get(room, caught_up.get(room))
            if position is not None:
                ids.append(f"{room}:{position}")
        return ",".join(ids)

    def render_events(self, events: tuple[Event, ...]) -> bytes:
        """A batch (all of one room): the same bytes for every one-room reader."""
        if len(self.rooms) == 1:
            for event in events:
                if event.id is not None and event.room is not None:
                    self.positions[event.room] = event.id
            return _one_room_frames(events)
        frames = []
        for event, data in zip(events, _batch_data(events), strict=True):
            if event.id is None or event.room is None:
                frames.append(_frame(event.kind, data))
                continue
            self.positions[event.room] = event.id  # each frame's id says what is sent so far
            frames.append(_frame(event.kind, data, self._last_ids()))
        return b"".join(frames)

    def render_item(self, item: Outgoing, ref: Ref | None, nick: str) -> bytes:
        match item:
            case Event():
                return self.render_event(item)
            case Gap(room, first):
                return _frame("gap", encode({"room": room, "first": first}))
            case Skipped(room, messages, _, since):
                # Behind: resume with since=ROOM:ID (the events after it are stored). The
                # skipped events were rendered (their ids taken) before the outbox let them
                # go: this room stands at `since` again.
                body = {"room": room, "skipped": messages, "since": since}
                if room is None or since is None:
                    return _frame("gap", encode(body))
                self.positions[room] = since
                return _frame("gap", encode(body), self._last_ids())
            case Notice(text):
                return _frame("notice", encode({"text": text}))
        return b""

    def write_rendered(self, data: bytes) -> None:
        if not self.request.finished and not self.gone:
            self.request.write(data)

    def handle_input(self, item: Any) -> None:
        """A reader sends nothing."""

    def input_dropped(self, item: Any) -> None:
        """A reader sends nothing."""

    def close_gracefully(self, reason: CloseReason) -> None:
        if not self.request.finished:
            self.request.finish()

    def close_at_once(self) -> None:
        self.request.transport.abortConnection()  # type: ignore[union-attr]


def rooms_of(request: Request, room: str | None) -> tuple[list[str], str | None]:
    """The rooms a stream asks for (its path's, or `?rooms=a,b`), or what is wrong."""
    names = [room] if room is not None else []
    if room is None:
        for value in (request.args or {}).get(b"rooms", []):
            names += [name.strip() for name in value.decode("utf-8", "replace").split(",")]
    rooms: list[str] = []
    for name in names:
        if not name:
            continue
        normalized = normalize_room(name)
        if normalized is None:
            return [], f"{name[:40]!r} is not a valid room"
        if normalized not in rooms:
            rooms.append(normalized)
    if not rooms:
        return [], "name at least one room: ?rooms=a,b"
    if len(rooms) > MAX_ROOMS:
        return [], f"at most {MAX_ROOMS} rooms in one stream"
    return rooms, None


def since_of(request: Request) -> tuple[dict[str, int], str | None]:
    """Where to resume: `Last-Event-ID`, else `?since=ROOM:ID,...`."""
    values: list[str] = []
    last = request.getHeader(b"last-event-id")
    if last:
        values.append(last.decode("utf-8", "replace"))
    else:
        values += [v.decode("utf-8", "replace") for v in (request.args or {}).get(b"since", [])]
    since, problems = parse_since(values)
    return since, problems[0].message if problems else None


def serve(
    request: Request,
    hub: Hub,
    flow: FlowLimits,
    clock: Any,
    room: str | None,
    replay: int,
    viewer: Viewer = ANONYMOUS,
) -> bytes | int | tuple[int, str, str]:
    """Start a stream, or the (status, code, message) of why not."""
    rooms, problem = rooms_of(request, room)
    if problem is not None:
        return 400, "bad-room", problem
    since, problem = since_of(request)
    if problem is not None:
        return 400, "bad-since", problem
    if request.method == b"HEAD":  # the headers a stream would have, and no stream
        request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        return b""
    SseConnection(request, hub, flow, clock, rooms).start(since, replay, viewer)
    return NOT_DONE_YET
