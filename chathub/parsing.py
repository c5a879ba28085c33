"""The two parsers that make commands: telnet lines and the WebSocket's JSON objects.

Rules:
- Pure: no I/O, no bytes. `parse_line` reads the telnet line protocol (`/join dev`, plain text is
  a message); `parse_json` reads the WebSocket protocol's decoded JSON objects. Both return a
  command (`commands.py`) or an `Error` to send back; neither raises on any input.
- Names are checked by the hub, not here, so every transport gets the same answer for the same
  mistake.
- The account and moderation commands' syntax is `modsyntax.py`'s, asked for the names these
  do not know.
"""

from typing import Any

from chathub.commands import (
    Command,
    Conversations,
    Help,
    History,
    Join,
    Me,
    Msg,
    Nick,
    Part,
    PmHistory,
    Quit,
    Ref,
    Rooms,
    Say,
    Typing,
    Who,
)
from chathub.events import Error
from chathub.text import clean_text, command_start


def _usage(text: str) -> Error:
    return Error("usage", "usage: " + text)


def _parse_int(text: str) -> int | None:
    # str.isdigit accepts digits such as "²" that int() refuses; stick to ASCII.
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None


def parse_line(line: str) -> Command | Error | None:
    """The command a telnet line asks for; None for a line that shows nothing, which does
    nothing. A line is a command when its first visible character is `/` (`command_start`):
    what hides before it, invisible characters or an arrow key's escape sequence, never makes
    `/msg bob secret` a room message."""
    start = command_start(line)
    if start is None:
        return Say(line) if clean_text(line).strip() else None
    line = clean_text(line[start:])
    if line.startswith("//"):
        return Say(line[1:])
    # Any whitespace ends the name: "/nick<TAB>bob" is /nick, not an unknown "/nick bob".
    name, _, rest = line[1:].replace("\t", " ").partition(" ")
    name = name.lower()
    rest = rest.strip()
    args = rest.split()
    match name:
        case "nick":
            return Nick(args[0]) if len(args) == 1 else _usage("/nick NAME")
        case "join" | "j":
            # A name with spaces is a bad name, not a bad command: the hub says the rule.
            return Join(rest) if rest else _usage("/join ROOM")
        case "part" | "leave":
            if not args:
                return Part()
            return Part(args[0], rest[len(args[0]) :].strip())
        case "rooms" | "list":
            return Rooms()
        case "who" | "names":
            if len(args) > 1:
                return _usage("/who [ROOM]")
            return Who(args[0] if args else None)
        case "me":
            return Me(rest) if rest else _usage("/me ACTION")
        case "msg" | "query" | "tell":
            to, _, text = rest.partition(" ")
            text = text.strip()
            return Msg(to, text) if to and text else _usage("/msg NICK TEXT")
        case "pms":
            if not args:
                return Conversations()
            count = _parse_int(args[1]) if len(args) == 2 else None
            if len(args) > 2 or (len(args) == 2 and not count):
                return _usage("/pms [NICK [N]], N a positive number")
            return PmHistory(args[0], limit=count or 20)
        case "history":
            if not args:
                return History()
            count = _parse_int(args[0])
            if len(args) > 1 or count is None or count < 1:
                return _usage("/history [N], N a positive number")
            return History(limit=count)
        case "since":
            since = _parse_int(args[0]) if args else None
            if since is None or len(args) > 2:
                return _usage("/since ID [ROOM], ID a number")
            return History(args[1] if len(args) == 2 else None, since=since)
        case "before":
            below = _parse_int(args[0]) if args else None
            count = _parse_int(args[1]) if len(args) == 2 else None
            if below is None or len(args) > 2 or (len(args) == 2 and not count):
                return _usage("/before ID [N], ID and N numbers")
            return History(before=below, limit=count)
        case "help" | "?":
            return Help()
        case "quit" | "exit":
            return Quit(rest)
        case _ if (more := modsyntax.parse_line(name, rest)) is not None:
            return more
        case _:
            # Quoted back to a terminal: cleaned, or "/\x1b[2J" would clear the sender's screen.
            shown = clean_text(name[:64])[:32]
            return Error("unknown-command", f"unknown command /{shown}; type /help")


_TEXT = "text"
_ROOM = "room"


def _field(obj: dict[str, Any], name: str, kind: type, required: bool) -> Any:
    value = obj.get(name)
    if value is None:
        if required:
            raise _BadField(f"'{name}' is required")
        return None
    # bool is an int in Python; a JSON true is not a count.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _BadField(f"'{name}' must be a {'string' if kind is str else 'number'}")
    return value


class _BadField(Exception):
    pass


def _said(obj: dict[str, Any]) -> str:
    """The text of a `say` or `me` op. The op is explicit, so a text that starts with `/` is
    said as it is; but one whose first visible character is a `/` behind invisible ones is a
    command typed by mistake (a paste, a stray key in a client that took it for text): it is
    refused rather than shown to a room with the invisible part cleaned away."""
    text: str = _field(obj, _TEXT, str, True)
    if text[:1] != "/" and command_start(text) is not None:
        raise _Refused(
            Error(
                "hidden-command",
                "not sent: the text starts with invisible characters and then /, "
                "so it looks like a command typed by mistake",
            )
        )
    return text


class _Refused(Exception):
    def __init__(self, error: Error) -> None:
        super().__init__(error.message)
        self.error = error


def json_ref(obj: Any) -> Ref | None:
    """The `ref` of a WebSocket message (string or integer), so that even an error echoes it."""
    ref = obj.get("ref") if isinstance(obj, dict) else None
    if isinstance(ref, str) and len(ref) <= 64:
        return ref
    if isinstance(ref, int) and not isinstance(ref, bool):
        return ref
    return None


def parse_json(obj: Any) -> Command | Error:
    """The command a decoded WebSocket JSON message asks for."""
    if not isinstance(obj, dict):
        return Error("bad-request", "a message must be a JSON object")
    if obj.get("ref") is not None and json_ref(obj) is None:
        return Error("bad-request", "'ref' must be a string or a number")
    ref = json_ref(obj)
    op = obj.get("op")
    try:
        match op:
            case "say":
                return Say(_said(obj), _field(obj, _ROOM, str, False), ref)
            case "me":
                return Me(_said(obj), _field(obj, _ROOM, str, False), ref)
            case "join":
                return Join(_field(obj, _ROOM, str, True), ref)
            case "part":
                reason = _field(obj, "reason", str, False) or ""
                return Part(_field(obj, _ROOM, str, False), reason, ref)
            case "nick":
                return Nick(_field(obj, "nick", str, True), ref)
            case "who":
                return Who(_field(obj, _ROOM, str, False), ref)
            case "rooms":
                return Rooms(ref)
            case "history":
                return History(
                    _field(obj, _ROOM, str, False),
                    _field(obj, "since", int, False),
                    _field(obj, "limit", int, False),
                    ref,
                    _field(obj, "before", int, False),
                )
            case "msg":
                return Msg(_field(obj, "to", str, True), _field(obj, _TEXT, str, True), ref)
            case "typing":
                return Typing(_field(obj, _ROOM, str, False), ref)
            case "conversations":
                return Conversations(ref)
            case "pm_history":
                return PmHistory(
                    _field(obj, "with", str, True),
                    _field(obj, "before", int, False),
                    _field(obj, "limit", int, False),
                    ref,
                )
            case None:
                return Error("bad-request", "'op' is required")
            case str() if (more := modsyntax.parse_json(op, obj, ref)) is not None:
                return more
            case _:
                return Error("unknown-op", f"unknown op {str(op)[:32]!r}")
    except _BadField as problem:
        return Error("bad-request", f"{op}: {problem}")
    except _Refused as refused:
        return refused.error


# The account and moderation commands' syntax, which needs the helpers above.
from chathub import modsyntax  # noqa: E402
