"""The JSON wire: what the hub delivers, as the JSON objects `/ws`, the HTTP API and SSE send.

Rules:
- Pure: items in, dicts and UTF-8 bytes out; no framing, no I/O. Every JSON transport renders
  the same item the same way, so an event has the same fields everywhere (`event_fields`).
- A reply to a command that carried a `ref` carries it too (`render`'s `ref`).
- Encoding never fails: a lone surrogate (from a JSON `\\ud800` escape) is replaced, since one
  bad string must never stop a delivery to everyone else (`scrub` cleans input; `encode`
  replaces anything that still cannot be UTF-8).
"""

import json
import re
from dataclasses import fields, replace
from typing import Any, TypeVar

from chathub import modsyntax
from chathub.commands import Command, Ref
from chathub.events import (
    BanEntry,
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

# The operations a JSON client may send (PROTOCOL.md, "WebSocket"), listed by `help`.
OPS = ("say", "me", "join", "part", "nick", "who", "rooms", "history", "msg", "typing")
# And those of accounts and moderation (PROTOCOL.md, "Accounts", "Rooms: owners, ...").
ACCOUNT_AND_MODERATION_OPS = modsyntax.OPS

# The most nicks a batched join or part names in JSON (see `event_fields`).
NICKS_NAMED = 100

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

C = TypeVar("C", bound=Command)


def event_fields(event: Event) -> dict[str, Any]:
    """An event as the JSON object every transport shows: id for stored kinds, old for nick,
    and the nicks of a batched join or part in `nicks` (`nick` is the first; past
    `NICKS_NAMED`, `count` says how many there were in all)."""
    fields_: dict[str, Any] = {
        "room": event.room,
        "kind": event.kind,
        "nick": event.nick,
        "text": event.text,
        "ts": event.ts,
    }
    if event.id is not None:
        fields_["id"] = event.id
    if event.old is not None:
        fields_["old"] = event.old
    if event.nicks is not None:
        # A crowd of 10,000 arriving is one event, but naming them all would cost every member
        # 200 KB: the first NICKS_NAMED are named, and `count` says how many there were.
        fields_["nicks"] = list(event.nicks[:NICKS_NAMED])
        if len(event.nicks) > NICKS_NAMED:
            fields_["count"] = len(event.nicks)
    if event.bot:
        fields_["bot"] = True
    if event.author is not None and not event.author.startswith("~"):
        fields_["account"] = event.author  # said by an identified user (a guest's is secret)
    if event.edited:
        fields_["edited"] = True
    if event.target is not None:
        fields_["target"] = event.target
    if event.message_id is not None:
        fields_["message_id"] = event.message_id
    if event.kind == "ban":
        fields_["until"] = event.until
    if event.topic is not None:
        fields_["topic"] = event.topic
    return fields_


def ban_fields(entry: BanEntry) -> dict[str, Any]:
    """One ban as JSON (`bans` replies and the admin API)."""
    return {
        "mask": entry.mask,
        "by": entry.by,
        "reason": entry.reason,
        "created": entry.created,
        "until": entry.until,
    }


def message_for(item: Outgoing, now: float) -> dict[str, Any]:
    """The JSON object for anything the hub delivers (without `ref`); `now` dates notices."""
    match item:
        case Event():
            return {"type": "event", **event_fields(item)}
        case Welcome(nick, rooms, motd, account, topics):
            return {"type": "welcome", "nick": nick, "rooms": list(rooms), "motd": motd,
                    "account": account, "topics": dict(topics)}  # fmt: skip
        case Who(room, members):
            return {"type": "who", "room": room, "members": list(members)}
        case RoomList(rooms, total):
            listing = [{"name": name, "members": count} for name, count in rooms]
            return {"type": "rooms", "rooms": listing, "total": max(total, len(listing))}
        case History(room, events):
            return {"type": "history", "room": room, "events": [event_fields(e) for e in events]}
        case Private(sender, to, text, ts):
            return {"type": "pm", "from": sender, "to": to, "text": text, "ts": ts}
        case Error(code, message, nick):
            error = {"type": "error", "code": code, "message": message}
            if nick is not None:
                error["nick"] = nick
            return error
        case Skipped(room, messages, others, since):
            if room is None:
                text = (
                    f"skipped {messages} private messages while you were not reading; "
                    "they are not kept"
                )
            elif messages:
                text = f"skipped {messages} messages in {room}; ask for history since {since}"
            else:
                text = f"skipped {others} events in {room}; ask who is there"
            return {"type": "error", "code": "skipped", "message": text, "room": room,
                    "since": since}  # fmt: skip
        case Gap(room, first):
            return {"type": "gap", "room": room, "first": first}
        case Help():
            return {"type": "help", "ops": [*OPS, *ACCOUNT_AND_MODERATION_OPS]}
        case Identified(account, nick):
            return {"type": "account", "account": account, "nick": nick}
        case Topic(room, text, by, ts):
            return {"type": "topic", "room": room, "topic": text, "by": by, "ts": ts}
        case Modes(room, modes):
            return {"type": "modes", "room": room, "modes": modes}
        case BanList(room, bans):
            return {"type": "bans", "room": room, "bans": [ban_fields(ban) for ban in bans]}
        case Invited(room, by):
            return {"type": "invite", "room": room, "from": by}
        case Ok():
            return {"type": "ok"}
        case Notice(text):
            # A line from the server to this one client: shown as a notice event.
            fields_ = {"room": None, "kind": "notice", "nick": None, "text": text, "ts": now}
            return {"type": "event", **fields_}
    raise TypeError(f"cannot render {item!r}")


def encode(message: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON; "replace": a lone surrogate must never stop a delivery."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


def render(item: Outgoing, ref: Ref | None, now: float) -> bytes:
    """The encoded JSON object for `item`, carrying `ref` when there is one."""
    message = message_for(item, now)
    if ref is not None:
        message["ref"] = ref
    return encode(message)


def scrub(value: Any) -> Any:
    """A string with lone surrogates (from JSON `\\ud800` escapes) replaced by U+FFFD.

    They cannot be encoded as UTF-8, so one would break the delivery of a message to every
    recipient, telnet ones included.
    """
    if isinstance(value, str) and _LONE_SURROGATE.search(value):
        return _LONE_SURROGATE.sub("\ufffd", value)
    return value


def scrubbed(command: C) -> C:
    """`command` with every string field scrubbed."""
    changes = {f.name: scrub(getattr(command, f.name)) for f in fields(command)}
    return replace(command, **changes)
