"""What a client asks for when it connects: `?nick=NAME&rooms=a,b&since=ROOM:ID,...&token=T`.

Rules:
- Pure, and never raises: names are checked by the hub (so the answers match every
  transport); `since` is read here, and a malformed entry is reported and ignored.
- `since=ROOM:ID,ROOM:ID` means the same for every transport that takes it (`/ws`, SSE): the
  client has seen everything of ROOM up to id ID.
- `token=T` is a log-in session's token (`POST /api/session`); the adapter may also find one
  in the `chathub_session` cookie (`cookie_token`), which the query's overrides.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chathub.events import Error
from chathub.text import DEFAULT_ROOM, normalize_room


@dataclass(frozen=True)
class ConnectQuery:
    """What the query asks for, and what was wrong with it."""

    nick: str | None = None
    rooms: tuple[str, ...] = (DEFAULT_ROOM,)
    since: dict[str, int] | None = None
    problems: tuple[Error, ...] = ()
    token: str | None = None


def parse_since(values: Iterable[str]) -> tuple[dict[str, int], list[Error]]:
    """`ROOM:ID` entries, comma-separated in each value, as room -> id, and the bad entries."""
    since: dict[str, int] = {}
    problems: list[Error] = []
    for value in values:
        for entry in value.split(","):
            if not entry.strip():
                continue
            room, _, number = entry.strip().rpartition(":")
            name = normalize_room(room)
            if name is None or not (number.isascii() and number.isdigit() and len(number) <= 18):
                shown = entry.strip()[:40]
                problems.append(Error("bad-request", f"since: {shown!r} is not ROOM:ID; ignored"))
                continue
            since[name] = int(number)
    return since, problems


def parse_query(params: Mapping[str, Sequence[str]]) -> ConnectQuery:
    """The connect query from parsed query parameters (name -> values)."""
    nick = params["nick"][0] if params.get("nick") else None
    rooms: tuple[str, ...] = (DEFAULT_ROOM,)
    if params.get("rooms"):
        rooms = tuple(name.strip() for value in params["rooms"] for name in value.split(","))
        rooms = tuple(name for name in rooms if name)
    since, problems = parse_since(params.get("since", ()))
    token = params["token"][0] if params.get("token") else None
    return ConnectQuery(nick, rooms, since or None, tuple(problems), token)


COOKIE = "chathub_session"


def cookie_token(header: str | None) -> str | None:
    """The log-in token in a `Cookie` header's `chathub_session`, if there is one."""
    if not header:
        return None
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value.strip().strip('"')
    return None
