"""The hub's refusals, worded once: every `Error` the hub answers a command with.

Rules:
- Pure. A message says what was wrong in words that fit every transport; it never names a
  transport's command syntax (`/join`): a transport adds its own hint by the error's `code`.
- Names a user typed are quoted back cleaned and cut short (`shown`), so an error cannot carry
  an escape sequence or a megabyte back to a terminal.
"""

import math

from chathub.events import Error
from chathub.text import clean_text


def shown(name: str) -> str:
    """A name a user typed, made safe and short enough to quote back in an error."""
    cleaned = clean_text(name)
    return repr(cleaned[:32] + ("..." if len(cleaned) > 32 else ""))


def seconds(delay: float) -> str:
    """A wait, for people: whole seconds, rounded up, never "0 s"."""
    return f"{max(1, math.ceil(delay))} s"


def bad_room(name: str) -> Error:
    return Error(
        "bad-room",
        f"{shown(name)} is not a valid room: 1-32 of a-z, 0-9, _ and -, optionally after #",
    )


def bad_nick(nick: str) -> Error:
    return Error(
        "bad-nick",
        f"{shown(nick)} is not a valid nick: 1-24 letters, digits, _ or -, "
        "starting with a letter or _",
    )


def nick_taken(nick: str, holder: str | None = None) -> Error:
    """`nick` (valid, so safe to show) is someone's: `holder`'s, which may only look like it."""
    if holder is not None and holder.lower() != nick.lower():
        return Error("nick-taken", f"the nick {nick} is taken: it looks like {holder}")
    return Error("nick-taken", f"the nick {nick} is taken")


def nick_of_a_bot(nick: str) -> Error:
    return Error("nick-reserved", f"the nick {nick} belongs to a bot")


def no_room() -> Error:
    return Error("no-room", "you are in no room")


def not_in_room(room: str) -> Error:
    return Error("not-in-room", f"you are not in {room}")


def too_many_rooms(max_rooms: int) -> Error:
    return Error("too-many-rooms", f"you can be in at most {max_rooms} rooms")


def server_rooms_full(total: int) -> Error:
    return Error(
        "server-rooms-full",
        f"the server has its most rooms in use ({total}); join a room that has people in it",
    )


def rate_limited(what: str, per_minute: int, retry_after: float) -> Error:
    return Error(
        "rate-limited",
        f"too many {what}: at most {per_minute} a minute; try again in {seconds(retry_after)}",
    )


def unavailable() -> Error:
    return Error("unavailable", "the message could not be delivered everywhere; try again")


def backplane_away() -> Error:
    """Another process must agree and cannot be asked: the backplane (Redis) is away."""
    return Error(
        "unavailable",
        "the server cannot reach the other chathub processes just now; try again in a moment",
    )


def no_such_nick(nick: str) -> Error:
    return Error("no-such-nick", f"nobody is called {shown(nick)}")


def empty() -> Error:
    return Error("empty", "nothing to send")


def too_long(text_max: int) -> Error:
    return Error("too-long", f"messages are at most {text_max} characters")
