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


def too_many_lines(lines_max: int) -> Error:
    return Error("too-long", f"messages are at most {lines_max} lines")


def message_problem(text: str, text_max: int, lines_max: int) -> Error | None:
    """Why a cleaned message text (`clean_message`) cannot be sent, or None."""
    if not text.strip():
        return empty()
    if len(text) > text_max:
        return too_long(text_max)
    if text.count("\n") >= lines_max:
        return too_many_lines(lines_max)
    return None


# --- accounts (identity.py) -------------------------------------------------------------------


def nick_registered(nick: str) -> Error:
    """`nick` (valid) belongs to an account; a transport's hint says how to identify."""
    return Error("nick-registered", f"the nick {nick} is registered", nick)


def not_registered(nick: str) -> Error:
    return Error("not-registered", f"the nick {shown(nick)} is not registered")


def bad_password() -> Error:
    return Error("bad-password", "wrong password")


def password_rule(why: str) -> Error:
    return Error("bad-password", why)


def login_locked(retry_after: float) -> Error:
    return Error("rate-limited", f"too many failed log-ins; try again in {seconds(retry_after)}")


def busy() -> Error:
    return Error("busy", "the server is busy checking passwords; try again in a moment")


def not_identified() -> Error:
    return Error("not-identified", "you are not identified")


def bad_token() -> Error:
    return Error("bad-token", "that log-in session has ended or is unknown; log in again")


# --- moderation (moderation.py, banning.py, edits.py) ------------------------------------------


def not_op(room: str | None, what: str = "do that") -> Error:
    where = f" of {room}" if room is not None else " of this server"
    return Error("not-op", f"only an operator{where} may {what}")


def outranked(nick: str) -> Error:
    return Error("not-op", f"{nick} ranks as high as you or higher")


def banned(room: str | None, reason: str, until: str | None) -> Error:
    where = f"from {room}" if room is not None else "from this server"
    why = f": {reason}" if reason else ""
    end = f" (until {until})" if until else ""
    return Error("banned", f"you are banned {where}{end}{why}")


def invite_only(room: str) -> Error:
    return Error("invite-only", f"{room} is invite-only: an operator must invite you")


def moderated(room: str) -> Error:
    return Error("moderated", f"{room} is moderated: only operators and voiced users speak")


def no_such_message(room: str, id: int) -> Error:
    return Error("no-such-message", f"there is no message #{id} in {room}")


def bad_mask(mask: str) -> Error:
    return Error(
        "bad-mask",
        f"{shown(mask)} is not a mask: a nick, account:NAME, an IP address or a network "
        "(10.0.0.0/8)",
    )


def room_closed(room: str) -> Error:
    return Error("room-closed", f"{room} was closed by a server operator")
