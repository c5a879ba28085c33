"""The HTTP API under `/api`: rooms and their stored history as JSON, for scripts.

Rules:
- Thin: answers come from the hub (`room_list`, `history`); nothing here decides chat rules.
- Events have the same fields as on the WebSocket (`room`, `kind`, `nick`, `text`, `ts`, `id`),
  oldest first.
- Bad input (a malformed room name, `since` or `limit`) is a 400 with a JSON body
  `{"error": CODE, "message": TEXT}`; an unknown path is a 404 in the same shape. A valid room
  with no history is an empty list, not an error: a script polling with `since` may start first.
- `limit` defaults as for `/history` and `/since` (the newest 20, or up to 500 after `since`)
  and is capped at the hub's maximum (500). `before=ID` asks for the newest `limit` below ID
  (scrolling back), oldest first.
- A private room (secret, invite-only, closed) is, for a request that may not see it, a room
  that does not exist: left out of lists, no history, no events. A request is seen as its
  log-in session or API token (`httpauth.py`).
- `/api/session` is `sessionapi.py`; `/api/admin/...` is `adminapi.py`.
"""

from typing import Any

from twisted.web.error import UnsupportedMethod
from twisted.web.resource import Resource
from twisted.web.server import Request

from chathub import sessionapi, sse
from chathub.access import can_see
from chathub.adminapi import AdminApi
from chathub.broker import Listing
from chathub.config import FlowLimits
from chathub.events import Event
from chathub.flow import UNTIMED
from chathub.httpauth import viewer_of
from chathub.hub import Hub
from chathub.jsonwire import event_fields
from chathub.publish import Publisher
from chathub.respond import Reply, answer, send_error, send_json
from chathub.text import normalize_room
from chathub.tokens import TokenTable


class ApiResource(Resource):
    """`/api/...`: routes on the path segments below it (`request.postpath`)."""

    isLeaf = True

    def __init__(
        self,
        hub: Hub,
        tokens: TokenTable | None = None,
        flow: FlowLimits = UNTIMED,
        clock: Any = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.hub = hub
        self.tokens = tokens or TokenTable(())
        self.publisher = Publisher(hub, self.tokens)
        self.admin = AdminApi(hub)
        self.flow = flow  # for event streams
        self.clock = clock

    def render_GET(self, request: Request) -> bytes | int:
        match _path(request):
            case ["rooms"]:
                return self._rooms(request)
            case ["rooms", room, "messages"]:
                return self._messages(request, room)
            case ["rooms", room, "events"]:
                return self._events(request, room)
            case ["events"]:
                return self._events(request, None)
        return send_error(request, 404, "not-found", "no such API path; see the README")

    def render(self, request: Request) -> bytes | int:
        """GET (and HEAD) anywhere; POST where scripts publish; anything else is a 405 that
        names what the path takes (`JsonErrors` words it)."""
        path = _path(request)
        if path == ["session"]:
            return self._session(request)
        if path[:1] == ["admin"]:
            return self.admin.render(request, path[1:])
        publishing = len(path) == 3 and path[0] == "rooms" and path[2] == "messages"
        if request.method == b"POST" and publishing:
            return self.publisher.render(request, path[1])
        if request.method in (b"GET", b"HEAD"):
            return self.render_GET(request)
        raise UnsupportedMethod((b"GET", b"POST") if publishing else (b"GET",))

    def _session(self, request: Request) -> bytes | int:
        match request.method:
            case b"POST":
                return sessionapi.log_in(request, self.hub)
            case b"DELETE":
                return sessionapi.log_out(request, self.hub)
            case b"GET" | b"HEAD":
                return sessionapi.who(request, self.hub)
        raise UnsupportedMethod((b"GET", b"POST", b"DELETE"))

    def _events(self, request: Request, room: str | None) -> bytes | int:
        if self.clock is None:
            return send_error(request, 503, "unavailable", "event streams need a reactor")
        viewer = viewer_of(request, self.hub, self.tokens)
        started = sse.serve(
            request, self.hub, self.flow, self.clock, room, self.hub.settings.replay, viewer
        )
        if isinstance(started, tuple):
            return send_error(request, *started)
        return started

    def _rooms(self, request: Request) -> bytes | int:
        """The busiest rooms and the total; with `after=NAME`, a page of every room by name."""
        limit = _number_argument(request, b"limit", 1)
        if limit == _MALFORMED:
            return send_error(request, 400, "bad-limit", "limit must be a whole number, 1 or more")
        limit = min(limit or self.hub.settings.room_list_max, self.hub.settings.room_list_max)
        after = (request.args or {}).get(b"after")
        viewer = viewer_of(request, self.hub, self.tokens)
        if after is None:

            def start_listing(reply: Reply) -> None:
                def listed(listing: Listing | None) -> None:
                    if listing is None:
                        reply(send_error(request, 503, "unavailable", UNAVAILABLE))
                        return
                    rooms = [{"name": name, "members": count} for name, count in listing[0]]
                    reply(
                        send_json(request, {"rooms": rooms, "total": max(listing[1], len(rooms))})
                    )

                self.hub.list_rooms(limit, listed, viewer)

            return answer(request, start_listing)
        start_after = after[0].decode("utf-8", "replace")[:64]

        def start(reply: Reply) -> None:
            def page_read(listing: list[tuple[str, int]]) -> None:
                rooms = [{"name": name, "members": count} for name, count in listing]
                following = listing[-1][0] if len(listing) == limit else None
                reply(send_json(request, {"rooms": rooms, "next": following}))

            self.hub.room_page(start_after, limit, page_read, viewer)

        return answer(request, start)

    def _messages(self, request: Request, name: str) -> bytes | int:
        room = normalize_room(name)
        if room is None:
            return send_error(
                request,
                400,
                "bad-room",
                f"{name[:40]!r} is not a valid room: 1-32 of a-z, 0-9, _ and -",
            )
        since = _number_argument(request, b"since", 0)
        limit = _number_argument(request, b"limit", 1)
        before = _number_argument(request, b"before", 0)
        if since == _MALFORMED:
            return send_error(request, 400, "bad-since", "since must be a whole number, 0 or more")
        if limit == _MALFORMED:
            return send_error(request, 400, "bad-limit", "limit must be a whole number, 1 or more")
        if before == _MALFORMED or (before is not None and since is not None):
            message = "before must be a whole number, 0 or more, and not given with since"
            return send_error(request, 400, "bad-before", message)
        if not can_see(self.hub, room, viewer_of(request, self.hub, self.tokens)):
            return send_json(request, {"room": room, "events": []})  # as for an empty room

        def start(reply: Reply) -> None:
            def events_read(events: list[Event]) -> None:
                body = {"room": room, "events": [event_fields(e) for e in events]}
                reply(send_json(request, body))

            self.hub.history(room, since, limit, events_read, before)

        return answer(request, start)


_MALFORMED = -1
UNAVAILABLE = "the other chathub processes cannot be reached just now; try again"


def _path(request: Request) -> list[str]:
    path = [segment.decode("utf-8", "replace") for segment in request.postpath or []]
    if path and path[-1] == "":  # a trailing slash names the same thing
        path.pop()
    return path


def _number_argument(request: Request, name: bytes, minimum: int) -> int | None:
    """The query argument as an int; None when absent, `_MALFORMED` when not acceptable."""
    values = (request.args or {}).get(name)
    if not values:
        return None
    if len(values) > 1:
        return _MALFORMED
    text = values[0]
    # ASCII digits only: int() would also take "+5", " 5", "1_000" and Arabic-Indic digits.
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return _MALFORMED
    value = int(text)
    return value if value >= minimum else _MALFORMED
