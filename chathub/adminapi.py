"""`/api/admin/...`: what server operators do over HTTP: bans, deleting a message, closing a room.

Rules:
- Only server operators (accounts the configuration lists), by a log-in session: `Authorization:
  Bearer TOKEN` with the token `POST /api/session` gave, or the page's cookie (not from
  another site: `httpauth.py`). None or an unknown one is 401, another account 403 (`not-op`).
- The same rules as the chat commands, by the same functions (`banning.py`, `edits.py`,
  `moderation.py`): the rooms are told, the store keeps it, bans put out whom they match.
- Paths, all JSON (errors `{"error", "message"}`):
  - `GET /api/admin/bans` (`?room=ROOM` for one room): `{"bans": [{"room", "mask", "by",
    "reason", "created", "until"}]}`, `room` null for a server-wide ban;
  - `POST /api/admin/bans` `{"mask", "room"?, "duration"?, "reason"?}` (no room: server-wide;
    duration `30m`, `2h`, `7d` or seconds): 201 `{"ban": {...}}`; 400 `bad-mask`;
  - `DELETE /api/admin/bans?mask=MASK[&room=ROOM]`: 200 `{"ban": {...}}`, 404 `no-such-ban`;
  - `DELETE /api/admin/rooms/ROOM/messages/ID`: 200 `{"room", "id"}`, 404 `no-such-message`;
  - `POST /api/admin/rooms/ROOM/close` `{"reason"?}` and `POST /api/admin/rooms/ROOM/open`:
    200 `{"room", "closed"}`.
"""

import json
from typing import Any

from twisted.web.error import UnsupportedMethod
from twisted.web.server import Request

from chathub import banning, edits, moderation
from chathub.bans import parse_duration
from chathub.events import BanEntry, Error
from chathub.httpauth import operator_of
from chathub.hub import Hub
from chathub.jsonwire import ban_fields
from chathub.records import GLOBAL
from chathub.respond import Reply, answer, send_error, send_json
from chathub.text import normalize_room

GET, POST, DELETE = b"GET", b"POST", b"DELETE"


def _ban(scope: str, entry: BanEntry) -> dict[str, Any]:
    return {"room": scope or None, **ban_fields(entry)}


def _body(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(request.content.read() if request.content is not None else b"{}")
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def _argument(request: Request, name: bytes) -> str | None:
    values = (request.args or {}).get(name)
    return values[0].decode("utf-8", "replace") if values else None


class AdminApi:
    """Routes `/api/admin/...` for one hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def render(self, request: Request, path: list[str]) -> bytes | int:
        method = request.method if request.method != b"HEAD" else GET
        match path:
            case ["bans"]:
                allowed: tuple[bytes, ...] = (GET, POST, DELETE)
            case ["rooms", _, "messages", _]:
                allowed = (DELETE,)
            case ["rooms", _, "close" | "open"]:
                allowed = (POST,)
            case _:
                return send_error(request, 404, "not-found", "no such API path; see the README")
        if method not in allowed:
            raise UnsupportedMethod(allowed)
        operator = operator_of(request, self.hub)
        if not isinstance(operator, str):
            return send_error(request, *operator)
        match path:
            case ["bans"] if method == GET:
                return self._bans(request)
            case ["bans"] if method == POST:
                return self._ban(request, operator)
            case ["bans"]:
                return self._unban(request, operator)
            case ["rooms", name, "messages", id_]:
                return self._delete(request, operator, name, id_)
            case ["rooms", name, action]:
                return self._close(request, operator, name, action == "close")
        raise AssertionError(path)

    def _room(self, request: Request, name: str | None) -> str | bytes | None:
        """A room argument normalized (None: none given), or the 400 answer."""
        if name is None:
            return None
        room = normalize_room(name)
        if room is None:
            return send_error(request, 400, "bad-room", f"{name[:40]!r} is not a valid room")
        return room

    def _bans(self, request: Request) -> bytes:
        room = self._room(request, _argument(request, b"room"))
        if isinstance(room, bytes):
            return room
        hub, now = self.hub, self.hub.clock()
        scopes = [room] if room is not None else [GLOBAL, *sorted(hub.bans.scopes())]
        bans = [_ban(scope, entry) for scope in scopes for entry in hub.bans.of(scope, now)]
        return send_json(request, {"bans": bans})

    def _ban(self, request: Request, operator: str) -> bytes:
        body = _body(request)
        mask = body.get("mask") if body is not None else None
        if body is None or not isinstance(mask, str):
            return send_error(request, 400, "bad-request", 'send JSON {"mask": ..., ...}')
        room = self._room(request, body.get("room") if isinstance(body.get("room"), str) else None)
        if isinstance(room, bytes):
            return room
        duration = body.get("duration")
        seconds: float | None = None
        if isinstance(duration, str):
            seconds = parse_duration(duration)
        elif isinstance(duration, int | float) and not isinstance(duration, bool) and duration > 0:
            seconds = float(duration)
        if duration is not None and seconds is None:
            return send_error(request, 400, "bad-request", "duration: 30m, 2h, 7d or seconds")
        reason = body.get("reason") if isinstance(body.get("reason"), str) else ""
        scope = room or GLOBAL
        entry = banning.add_ban(self.hub, operator, scope, mask, seconds, reason or "")
        if isinstance(entry, Error):
            return send_error(request, 400, entry.code, entry.message)
        return send_json(request, {"ban": _ban(scope, entry)}, 201)

    def _unban(self, request: Request, operator: str) -> bytes:
        mask = _argument(request, b"mask")
        room = self._room(request, _argument(request, b"room"))
        if isinstance(room, bytes):
            return room
        if mask is None:
            return send_error(request, 400, "bad-request", "name the ban: ?mask=MASK[&room=ROOM]")
        scope = room or GLOBAL
        entry = banning.lift_ban(self.hub, operator, scope, mask, None, None)
        if entry is None:
            error = banning.no_such_ban(room, mask)
            return send_error(request, 404, error.code, error.message)
        return send_json(request, {"ban": _ban(scope, entry)})

    def _delete(self, request: Request, operator: str, name: str, id_: str) -> bytes | int:
        room = self._room(request, name)
        if isinstance(room, bytes) or room is None:
            return room or b""
        if not (id_.isascii() and id_.isdigit() and len(id_) <= 18):
            return send_error(request, 400, "bad-request", "a message id is a whole number")
        id = int(id_)

        def start(reply: Reply) -> None:
            def done(found: bool) -> None:
                if found:
                    reply(send_json(request, {"room": room, "id": id}))
                else:
                    message = f"there is no message #{id} in {room}"
                    reply(send_error(request, 404, "no-such-message", message))

            edits.delete_as_operator(self.hub, operator, room, id, done)

        return answer(request, start)

    def _close(self, request: Request, operator: str, name: str, closing: bool) -> bytes:
        room = self._room(request, name)
        if isinstance(room, bytes) or room is None:
            return room or b""
        body = _body(request) or {}
        reason = body.get("reason") if isinstance(body.get("reason"), str) else ""
        moderation.close_room(self.hub, operator, room, reason or "", closing)
        return send_json(request, {"room": room, "closed": closing})
