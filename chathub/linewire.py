"""The line protocol's rendering: what a telnet or nc user reads, one line per item.

Rules:
- Pure: items in, text out; `line.py` encodes and writes it. Every line is what PROTOCOL.md's
  table says (`[room] <nick> text`, `* notice`, `! error`...); history lines carry the id and
  the time (`[room #42 09:15] <nick> text`, UTC), and a line before each day's first says
  which day it is.
- The wording that is the line protocol's own lives here: the `/help` text, and the hints that
  name its commands (`/join`, `/since ID ROOM`), added to the hub's errors by their code.
- Encode once: a room event (or a batch of them) is rendered and encoded once per terminal
  width, and the same bytes go to every member with that width (a one-entry cache: the hub
  hands one event or tuple to every member before the next).
- No user text can draw what looks like the start of a server line (`screen.py`): runs of
  blanks in what users wrote are squeezed to one space for every client, and for a client
  that reported its width each line is wrapped with indented continuation rows.
"""

import time

from chathub.bans import describe, show_duration
from chathub.events import (
    BanList,
    Error,
    Event,
    Gap,
    Help,
    History,
    Identified,
    Invited,
    Modes,
    Notice,
    Ok,
    Outgoing,
    Private,
    RoomList,
    Skipped,
    Topic,
    Welcome,
    Who,
)
from chathub.screen import collapse_spaces, wrap
from chathub.signals import SIGNAL_KINDS

# The commands `/help` lists, in sections: usage, then what it does.
COMMANDS = (
    (
        "commands",
        (
            ("text", "say text in your current room (//text says /text)"),
            ("/nick NAME", "change your nick"),
            ("/join ROOM", "join a room and make it current"),
            ("/part [ROOM] [REASON]", "leave a room (default: the current one)"),
            ("/rooms", "list rooms and their member counts"),
            ("/who [ROOM]", "list the members of a room"),
            ("/me ACTION", "act in your current room"),
            ("/msg NICK TEXT", "send a private message"),
            ("/history [N]", "show the last N messages of your current room"),
            ("/since ID [ROOM]", "show the messages after id ID"),
            ("/before ID [N]", "show the N messages before id ID (default 20)"),
            ("/help", "this list"),
            ("/quit [REASON]", "leave"),
        ),
    ),
    (
        "accounts",
        (
            ("/register PASSWORD", "register your nick (passwords: 8-128 characters)"),
            ("/identify [NICK] PASSWORD", "log in to your account and take its nick"),
            ("/logout", "stop being identified"),
            ("/password OLD NEW", "change your password (your other log-ins end)"),
        ),
    ),
    (
        "rooms (operators; #ROOM first for another room than the current one)",
        (
            ("/topic [TEXT]", "show or set the topic (/topic - clears it)"),
            ("/op, /deop NICK", "make or unmake a room operator (an account)"),
            ("/voice, /devoice NICK", "let or stop NICK speak in a moderated room"),
            ("/kick NICK [REASON]", "put NICK out of the room"),
            ("/ban MASK [TIME] [REASON]", "ban a nick, account:NAME, IP or network"),
            ("/unban MASK, /bans", "lift a ban, list bans (TIME: 30m, 2h, 7d)"),
            ("/invite NICK", "invite NICK (needed for an invite-only room)"),
            ("/mode [+|-][ims]", "show or set: invite-only, moderated, secret"),
            ("/edit ID TEXT", "change a message (your own; operators: anyone's)"),
            ("/delete ID", "delete a message (your own; operators: anyone's)"),
        ),
    ),
    (
        "server operators",
        (
            ("/kill NICK [REASON]", "disconnect NICK"),
            ("/gban MASK [TIME] [REASON]", "ban from the whole server"),
            ("/ungban MASK, /gbans", "lift a server ban, list them"),
        ),
    ),
)
_USAGE_WIDTH = max(len(usage) for _, rows in COMMANDS for usage, _ in rows) + 2

HELP = "\n".join(
    f"{heading}:\n" + "\n".join(f"  {usage.ljust(_USAGE_WIDTH)}{what}" for usage, what in rows)
    for heading, rows in COMMANDS
)

# The greeting's last line: where to find the commands, and how to leave.
GREETING_HINT = "* type /help for a list of commands; /quit or Ctrl-C leaves"

# What a terminal user can type to get past an error, by the error's code.
HINTS = {
    "no-room": "/join one first",
    "too-many-rooms": "/part one",
    "nick-registered": "/identify {nick} PASSWORD",
    "not-identified": "/identify [NICK] PASSWORD first",
    "already-identified": "/logout first",
}


def _flat(text: str) -> str:
    """User text as a line shows it: runs of blanks squeezed to one space, and none at the
    start of a line (the prefix or indent before it ends with one). The lines of a message of
    several lines stay apart (`\n`); `screen.wrap` indents them."""
    if "\n" in text:
        return "\n".join(collapse_spaces(" " + line)[1:] for line in text.split("\n"))
    return collapse_spaces(" " + text)[1:]


def render_event(event: Event) -> str:
    """The line for a live event, without its ending."""
    text = _flat(event.text)
    match event.kind:
        case "message":
            return f"[{event.room}] <{event.nick}> {text}"
        case "action":
            return f"[{event.room}] * {event.nick} {text}"
        case "join":
            return f"[{event.room}] -> {_who(event)} joined"
        case "part":
            reason = f" ({text})" if text else ""
            return f"[{event.room}] <- {_who(event)} left{reason}"
        case "nick":
            return f"* {event.old} is now known as {event.nick}"
        case "notice":
            return f"[{event.room}] * {text}" if event.room else f"* {text}"
    return _render_change(event, text)


def _render_change(event: Event, text: str) -> str:
    """The line for a moderation event (`topic`, `mode`, `kick`, `ban`...)."""
    room, nick = event.room, event.nick
    because = f" ({text})" if text else ""
    match event.kind:
        case "topic":
            if not text:
                return f"[{room}] * {nick} cleared the topic"
            return f"[{room}] * {nick} set the topic: {text}"
        case "mode":
            whom = f" {event.target}" if event.target else ""
            return f"[{room}] * {nick} set mode {text}{whom}"
        case "kick":
            return f"[{room}] <- {event.target} was kicked by {nick}{because}"
        case "ban":
            length = f" for {show_duration(event.until - event.ts)}" if event.until else ""
            return f"[{room}] * {nick} banned {event.target}{length}{because}"
        case "unban":
            return f"[{room}] * {nick} lifted the ban on {event.target}"
        case "edit":
            return f"[{room}] * {nick} edited #{event.message_id}: {text}"
        case "delete":
            return f"[{room}] * {nick} deleted #{event.message_id}"
        case _:  # close
            return f"[{room}] <- the room was closed by {nick}{because}"


# How many nicks a batched join or part names on a terminal before "and N others".
NAMED_IN_BATCH = 3


def _who(event: Event) -> str:
    """The nick of a join or part, or its batch's: `alice, bob and 38 others`."""
    nicks = event.nicks
    if not nicks:
        return event.nick
    if len(nicks) <= NAMED_IN_BATCH + 1:
        return ", ".join(nicks[:-1]) + " and " + nicks[-1]
    others = len(nicks) - NAMED_IN_BATCH
    return ", ".join(nicks[:NAMED_IN_BATCH]) + f" and {others} others"


def render_stored(event: Event) -> str:
    """The line for a stored event shown as history: it carries the id and the time it was
    said (UTC, hours and minutes; the day is on a line of its own, `history_lines`)."""
    text = _flat(event.text) + (" (edited)" if event.edited else "")
    where = f"{event.room} #{event.id} {time.strftime('%H:%M', time.gmtime(event.ts))}"
    if event.kind == "action":
        return f"[{where}] * {event.nick} {text}"
    return f"[{where}] <{event.nick}> {text}"


def history_lines(events: tuple[Event, ...]) -> list[str]:
    """Stored events as history lines, each new day (UTC) announced by a line of its own
    before its first message: `* 2026-11-30 (UTC)`."""
    lines: list[str] = []
    day = ""
    for event in events:
        stamp = time.gmtime(event.ts)
        if time.strftime("%Y-%m-%d", stamp) != day:
            day = time.strftime("%Y-%m-%d", stamp)
            lines.append(f"* {day} (UTC)")
        lines.append(render_stored(event))
    return lines


def render(item: Outgoing, my_nick: str) -> list[str]:
    """The lines for anything the hub delivers, as seen by the client called `my_nick`."""
    match item:
        case Event():
            return [] if item.kind in SIGNAL_KINDS else [render_event(item)]
        case History(room, events):
            if not events:
                return [f"* no messages in {room}"]
            return history_lines(events)
        case Notice(text):
            return ["* " + line for line in text.split("\n")]
        case Error(code, message, nick):
            hint = HINTS.get(code)
            if hint is not None:
                hint = hint.replace("{nick}", nick or "NICK")
            return [f"! {message}; {hint}" if hint else "! " + message]
        case Skipped(room, messages, others, since):
            if room is None:
                return [
                    f"! skipped {messages} private messages while you were not reading; "
                    "they are not kept"
                ]
            if messages:
                return [
                    f"! skipped {messages} messages in {room}; /since {since} {room} to catch up"
                ]
            return [f"! skipped {others} events in {room}; /who {room} to see who is here"]
        case Gap(room, first):
            return [f"* history of {room} starts at #{first}; what was before is gone"]
        case Help():
            return ["* " + line for line in HELP.split("\n")]
        case Private(sender, to, text):
            text = _flat(text)
            if sender == my_nick and to != my_nick:
                return [f"[pm -> {to}] <{sender}> {text}"]
            return [f"[pm] <{sender}> {text}"]
        case Welcome(nick, _, motd, account):
            lines = ["* " + line for line in motd.split("\n") if line]
            lines.append(f"* your nick is {nick}")
            if account is not None:
                lines.append(f"* you are identified as {account}")
            return [*lines, GREETING_HINT]
        case Who(room, members):
            return [f"* members of {room}: {', '.join(members) or '(none)'}"]
        case RoomList(rooms, total):
            listing = ", ".join(f"{name} ({count})" for name, count in rooms)
            more = f" (the busiest {len(rooms)} of {total})" if total > len(rooms) else ""
            return [f"* rooms{more}: {listing or '(none)'}"]
        case Ok():
            return []
        case Identified(account, _):
            if account is None:
                return ["* you are no longer identified"]
            return [f"* you are identified as {account}"]
        case Topic(room, text, by):
            if not text:
                return [f"* {room} has no topic"]
            return [f"* topic of {room}: {_flat(text)}" + (f" (set by {by})" if by else "")]
        case Modes(room, modes):
            return [f"* modes of {room}: {modes}" if modes else f"* {room} has no modes set"]
        case BanList(room, bans):
            where = f"bans of {room}" if room is not None else "server bans"
            if not bans:
                return [f"* {where}: (none)"]
            return [f"* {where}:"] + [f"*   {_flat(describe(ban))}" for ban in bans]
        case Invited(room, by):
            return [f"* {by} invited you to {room}; /join {room}"]
    return []


def encoded(lines: list[str], width: int | None) -> bytes:
    """`lines` as a terminal `width` cells wide gets them (None: unknown), `\r\n` after each."""
    lines = [row for line in lines for row in wrap(line, width)]
    return "".join(line + "\r\n" for line in lines).encode("utf-8")


# The last event encoded, and its bytes for each terminal width: a broadcast delivers one
# event to every member in a row, so this one entry turns N encodings into one per width.
_last_event: Event | None = None
_last_bytes: dict[int | None, bytes] = {}


def encoded_event(event: Event, width: int | None = None) -> bytes:
    global _last_event, _last_bytes
    if event.kind in SIGNAL_KINDS:
        return b""  # typing: for the page only
    if event is not _last_event:
        _last_event, _last_bytes = event, {}
    data = _last_bytes.get(width)
    if data is None:
        data = _last_bytes[width] = encoded([render_event(event)], width)
    return data


# The same for a batch of events: the hub hands one tuple to every member.
_last_events: tuple[Event, ...] | None = None
_last_events_bytes: dict[int | None, bytes] = {}


def encoded_events(events: tuple[Event, ...], width: int | None = None) -> bytes:
    global _last_events, _last_events_bytes
    if events is not _last_events:
        _last_events, _last_events_bytes = events, {}
    data = _last_events_bytes.get(width)
    if data is None:
        if len(events) == 1:
            data = encoded_event(events[0], width)
        else:
            shown = [render_event(event) for event in events if event.kind not in SIGNAL_KINDS]
            data = encoded(shown, width)
        _last_events_bytes[width] = data
    return data
