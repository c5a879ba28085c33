"""The syntax of the account and moderation commands: telnet lines and WebSocket ops.

Rules:
- Pure, never raises on any input, like the rest of `parsing.py` (whose parsers call these
  for the names they do not know): a command, an `Error` (`usage`, `bad-request`), or None
  for a name that is none of these.
- On a line, the room is the current one unless the first argument names one with `#`
  (`/topic #dev release`, `/kick #dev bob spam`): a nick or a mask never starts with `#`.
  `/invite NICK [#ROOM]` takes it last too, as IRC clients write it.
- Passwords are taken as typed (after the line's cleaning); they are never quoted back.
  `/register PASSWORD` and `/identify NICK PASSWORD` take the rest of the line as the
  password, so it may hold spaces; `/identify PASSWORD` a single word; `/password OLD NEW`
  two words.
- A duration (`30m`, `2h`, `7d`) is read here (`bans.parse_duration`), into seconds; the
  WebSocket `duration` field also takes a number of seconds.
"""

from typing import Any

from chathub import bans
from chathub import commands as cmd
from chathub.events import Error
from chathub.parsing import _BadField, _field, _parse_int
from chathub.text import is_valid_nick

_ROLES: dict[str, tuple[cmd.Role, bool]] = {
    "op": ("op", True),
    "deop": ("op", False),
    "voice": ("voice", True),
    "devoice": ("voice", False),
}


def _usage(text: str) -> Error:
    return Error("usage", "usage: " + text)


def _room_first(rest: str) -> tuple[str | None, str]:
    """A leading `#ROOM` argument, and the rest of the line after it."""
    if rest.startswith("#"):
        room, _, after = rest.partition(" ")
        return room, after.strip()
    return None, rest


def parse_line(name: str, rest: str) -> cmd.Command | Error | None:
    """The command a telnet line `/NAME REST` asks for, if NAME is one of these."""
    match name:
        case "register":
            return cmd.Register(rest) if rest else _usage("/register PASSWORD")
        case "identify" | "login":
            return _identify(rest)
        case "logout":
            return cmd.Logout()
        case "password" | "passwd":
            words = rest.split()
            if len(words) != 2:
                return _usage("/password OLD NEW")
            return cmd.Password(words[0], words[1])
        case "kill":
            nick, _, reason = rest.partition(" ")
            return cmd.Kill(nick, reason.strip()) if nick else _usage("/kill NICK [REASON]")
        case "gban":
            return _ban(rest, None, "/gban MASK [DURATION] [REASON]", room_allowed=False)
        case "ungban":
            words = rest.split()
            return cmd.GlobalUnban(words[0]) if len(words) == 1 else _usage("/ungban MASK")
        case "gbans":
            return cmd.GlobalBans()
    room, rest = _room_first(rest)
    words = rest.split()
    match name:
        case "topic":
            if not rest:
                return cmd.Topic(None, room)
            return cmd.Topic("" if rest == "-" else rest, room)
        case "op" | "deop" | "voice" | "devoice":
            role, give = _ROLES[name]
            if len(words) != 1:
                return _usage(f"/{name} [#ROOM] NICK")
            return cmd.Grant(words[0], role, give, room)
        case "kick":
            nick, _, reason = rest.partition(" ")
            if not nick:
                return _usage("/kick [#ROOM] NICK [REASON]")
            return cmd.Kick(nick, reason.strip(), room)
        case "ban":
            return _ban(rest, room, "/ban [#ROOM] MASK [DURATION] [REASON]", room_allowed=True)
        case "unban":
            return cmd.Unban(words[0], room) if len(words) == 1 else _usage("/unban [#ROOM] MASK")
        case "bans":
            return cmd.Bans(room) if not words else _usage("/bans [#ROOM]")
        case "invite":
            if room is None and len(words) == 2 and words[1].startswith("#"):
                room, words = words[1], words[:1]
            return cmd.Invite(words[0], room) if len(words) == 1 else _usage("/invite NICK [#ROOM]")
        case "mode":
            if len(words) > 1:
                return _usage("/mode [#ROOM] [+|-][ims]")
            return cmd.Mode(words[0] if words else None, room)
        case "edit":
            id_, _, text = rest.partition(" ")
            number = _parse_int(id_.lstrip("#"))
            if number is None or not text.strip():
                return _usage("/edit [#ROOM] ID TEXT")
            return cmd.Edit(number, text.strip(), room)
        case "delete" | "del":
            number = _parse_int(words[0].lstrip("#")) if len(words) == 1 else None
            return cmd.Delete(number, room) if number is not None else _usage("/delete [#ROOM] ID")
    return None


def _identify(rest: str) -> cmd.Identify | Error:
    words = rest.split()
    if not words:
        return _usage("/identify [NICK] PASSWORD")
    if len(words) == 1:
        return cmd.Identify(words[0])
    if is_valid_nick(words[0]):
        return cmd.Identify(rest[len(words[0]) :].strip(), words[0])
    return cmd.Identify(rest)


def _ban(
    rest: str, room: str | None, usage: str, room_allowed: bool
) -> cmd.Ban | cmd.GlobalBan | Error:
    words = rest.split(" ")
    if not words[0]:
        return _usage(usage)
    mask, reason_words = words[0], words[1:]
    duration = bans.parse_duration(reason_words[0]) if reason_words else None
    if duration is not None:
        reason_words = reason_words[1:]
    reason = " ".join(reason_words).strip()
    if room_allowed:
        return cmd.Ban(mask, duration, reason, room)
    return cmd.GlobalBan(mask, duration, reason)


# --- WebSocket ops ----------------------------------------------------------------------------

_ROOM = "room"
# The ops these are (PROTOCOL.md, "Accounts" and "Rooms: owners, operators, moderation").
OPS = (
    "register", "identify", "logout", "password", "topic", "op", "deop", "voice", "devoice",
    "kick", "ban", "unban", "bans", "invite", "mode", "edit", "delete", "kill", "gban", "ungban",
    "gbans",
)  # fmt: skip


def _duration(obj: dict[str, Any]) -> float | None:
    value = obj.get("duration")
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str) and (seconds := bans.parse_duration(value)) is not None:
        return seconds
    raise _BadField("'duration' must be like 30m, 2h or 7d, or a number of seconds")


def _reason(obj: dict[str, Any]) -> str:
    return _field(obj, "reason", str, False) or ""


def parse_json(op: str, obj: dict[str, Any], ref: cmd.Ref | None) -> cmd.Command | None:
    """The command a WebSocket op asks for, if `op` is one of these; raises `_BadField` (which
    the caller answers with `bad-request`) for a missing or wrongly typed field."""
    if op not in OPS:
        return None
    room = _field(obj, _ROOM, str, False) if op not in ("kill", "gban", "ungban", "gbans") else None
    match op:
        case "register":
            return cmd.Register(_field(obj, "password", str, True), ref)
        case "identify":
            password = _field(obj, "password", str, True)
            return cmd.Identify(password, _field(obj, "nick", str, False), ref)
        case "logout":
            return cmd.Logout(ref)
        case "password":
            return cmd.Password(_field(obj, "old", str, True), _field(obj, "new", str, True), ref)
        case "topic":
            return cmd.Topic(_field(obj, "text", str, False), room, ref)
        case "op" | "deop" | "voice" | "devoice":
            role, give = _ROLES[op]
            return cmd.Grant(_field(obj, "nick", str, True), role, give, room, ref)
        case "kick":
            return cmd.Kick(_field(obj, "nick", str, True), _reason(obj), room, ref)
        case "ban":
            mask = _field(obj, "mask", str, True)
            return cmd.Ban(mask, _duration(obj), _reason(obj), room, ref)
        case "unban":
            return cmd.Unban(_field(obj, "mask", str, True), room, ref)
        case "bans":
            return cmd.Bans(room, ref)
        case "invite":
            return cmd.Invite(_field(obj, "nick", str, True), room, ref)
        case "mode":
            return cmd.Mode(_field(obj, "modes", str, False), room, ref)
        case "edit":
            text = _field(obj, "text", str, True)
            return cmd.Edit(_field(obj, "id", int, True), text, room, ref)
        case "delete":
            return cmd.Delete(_field(obj, "id", int, True), room, ref)
        case "kill":
            return cmd.Kill(_field(obj, "nick", str, True), _reason(obj), ref)
        case "gban":
            mask = _field(obj, "mask", str, True)
            return cmd.GlobalBan(mask, _duration(obj), _reason(obj), ref)
        case "ungban":
            return cmd.GlobalUnban(_field(obj, "mask", str, True), ref)
        case "gbans":
            return cmd.GlobalBans(ref)
    return None
