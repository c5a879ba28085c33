"""Recognising a storm client's own join in what the hub sends it (`--storm`).

Rules:
- Pure bookkeeping over bytes: a watcher is fed one client's stream from the end of its
  handshake on (telnet: every byte; WebSocket: the frames after the `101`), in reads cut
  anywhere, and says when that client has seen its own join of its room.
- A client's nick is the hub's word for it: its welcome (`* your nick is NICK`, or the JSON
  `welcome`'s `nick`: a `?nick=` the hub refused gives a guest nick), then every nick change that
  names it as the old nick (`* OLD is now known as NEW`, JSON `kind: nick` with `old`).
- Its own join is a join event of its room that names its nick, alone (`[room] -> NICK joined`,
  JSON `nick`) or in a batch (`[room] -> a, NICK and c joined`, JSON `nicks`). A telnet batch of
  more than four nicks names three (`a, b, c and 38 others joined`); such a line counts as the
  client's own join when it is the first join of its room the client hears that does not leave
  it out: a client hears no presence of a room before it is a member, and its arrival is in the
  first presence publication it gets there, which the hub writes to it in one piece (so the
  time is the same even when a batch without it comes first). `named` says whether the nick
  was read.
- A WebSocket watcher keeps every ping it walks past in `pings`, for the client to answer, and
  after the join `rest` holds the bytes that follow the join's frame, for the frame walker that
  takes over (`wire.FrameCounter`).
"""

import json
import re

WELCOME_PREFIX = "* your nick is "
_RENAME = re.compile(r"\* (\S+) is now known as (\S+)")
_OTHERS = re.compile(r"(.*) and (\d+) others")


def join_line_nicks(line: str, room: str) -> tuple[list[str], int] | None:
    """The nicks a telnet join line of `room` names and how many more it counts without naming
    them (`a, b, c and 38 others`), or None when `line` is not a join of `room`."""
    prefix = f"[{room}] -> "
    if not (line.startswith(prefix) and line.endswith(" joined")):
        return None
    who = line[len(prefix) : -len(" joined")]
    others = _OTHERS.fullmatch(who)
    if others is not None:
        return others[1].split(", "), int(others[2])
    head, _, last = who.rpartition(" and ")
    return ([*head.split(", "), last] if head else [last]), 0


class TelnetJoinWatch:
    """One telnet client of `room`, from its first byte until it has seen its own join."""

    def __init__(self, room: str) -> None:
        self.room = room
        self.nick: str | None = None
        self.joined = False
        self.named = False  # the join line named this client (not one of "N others")
        self._partial = b""

    def feed(self, data: bytes) -> bool:
        """Read `data`; True once the client's own join has been seen."""
        if self.joined:
            return True
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            if self._line(raw.rstrip(b"\r").decode("utf-8", "replace")):
                self.joined = True
                self._partial = b""
                return True
        return False

    def _line(self, line: str) -> bool:
        if self.nick is None:
            if line.startswith(WELCOME_PREFIX):
                self.nick = line[len(WELCOME_PREFIX) :].strip()
            return False
        rename = _RENAME.fullmatch(line)
        if rename is not None:
            if rename[1] == self.nick:
                self.nick = rename[2]
            return False
        found = join_line_nicks(line, self.room)
        if found is None:
            return False
        named, others = found
        self.named = self.nick in named
        return self.named or others > 0


def _frames(buffer: bytes, start: int) -> tuple[int, int, int, int] | None:
    """The frame at `start` of an unmasked (server) stream: (opcode and FIN byte, payload
    start, payload end, next frame), or None when it is not all there yet."""
    size = len(buffer)
    if start + 2 > size:
        return None
    first, second = buffer[start], buffer[start + 1]
    length = second & 0x7F
    at = start + 2
    if length == 126:
        if at + 2 > size:
            return None
        length = int.from_bytes(buffer[at : at + 2], "big")
        at += 2
    elif length == 127:
        if at + 8 > size:
            return None
        length = int.from_bytes(buffer[at : at + 8], "big")
        at += 8
    if second & 0x80:
        at += 4  # masked: not from a server, but walkable
    if at + length > size:
        return None
    return first, at, at + length, at + length


class WsJoinWatch:
    """One WebSocket client of `room`, from the first frame after its `101` until it has seen
    its own join (JSON events; see the module's rules)."""

    def __init__(self, room: str) -> None:
        self.room = room
        self.nick: str | None = None
        self.joined = False
        self.named = False
        self.pings: list[bytes] = []
        self.rest = b""  # after the join: what followed its frame
        self._buffer = b""
        self._message = b""  # the fragments of a message not finished yet

    def feed(self, data: bytes) -> bool:
        """Read `data`; True once the client's own join has been seen."""
        if self.joined:
            return True
        buffer = self._buffer + data if self._buffer else data
        at = 0
        while (frame := _frames(buffer, at)) is not None:
            first, begin, end, at = frame
            opcode = first & 0x0F
            if opcode == 9:
                self.pings.append(bytes(buffer[begin:end]))
            elif opcode < 3:  # text, binary or continuation
                self._message += buffer[begin:end]
                if first & 0x80:
                    message, self._message = self._message, b""
                    if self._text(message):
                        self.joined = True
                        self.rest = bytes(buffer[at:])
                        self._buffer = b""
                        return True
        self._buffer = bytes(buffer[at:])
        return False

    def _text(self, message: bytes) -> bool:
        if self.nick is None:
            if b'"type":"welcome"' in message:
                self.nick = str(json.loads(message)["nick"])
            return False
        if b'"kind":"nick"' in message:
            event = json.loads(message)
            if event.get("type") == "event" and event.get("old") == self.nick:
                self.nick = str(event["nick"])
            return False
        if b'"kind":"join"' not in message:
            return False
        event = json.loads(message)
        if event.get("type") != "event" or event.get("kind") != "join":
            return False
        if event.get("room") != self.room:
            return False
        nicks = event.get("nicks") or ()
        if event.get("nick") == self.nick or self.nick in nicks:
            self.named = True
            return True
        # A batch too big to name everyone (`count` > the nicks named): the first join of its
        # room a client hears includes it, as with telnet's "and N others".
        return bool(event.get("count", 0) > len(nicks))
