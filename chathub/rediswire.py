"""How chathub's items look in Redis: publications on the channels and a room's stream entries.

Rules:
- Pure: JSON text with short keys, no I/O. A publication's items are `encode_item`'s objects;
  a stored event is a stream entry `e` (`entry`: kind, nick, text, time, bot, author; its room
  and id are the stream's), with `x` after it when it was edited (see `lua/amend.lua`).
- An unreadable entry is skipped and logged, never raised.
"""

import json
from typing import Any

from twisted.logger import Logger

from chathub.broker import Item, Order, Outcome
from chathub.events import STORED_KINDS, Event, EventKind, Private

log = Logger()


def encode_item(item: Item) -> dict[str, Any]:
    if type(item) is Private:
        return {"p": item.sender, "to": item.to, "t": item.text, "s": item.ts}
    if type(item) is Order:
        return {
            "O": item.token, "c": item.command, "n": item.by, "a": item.account,
            "g": item.target, "r": item.room, "t": item.text,
        }  # fmt: skip
    if type(item) is Outcome:
        return {"A": item.token, "c": item.code, "t": item.text}
    assert type(item) is Event
    fields: dict[str, Any] = {"k": item.kind, "r": item.room, "n": item.nick, "t": item.text}
    fields["s"] = item.ts
    if item.old is not None:
        fields["o"] = item.old
    if item.nicks is not None:
        fields["N"] = item.nicks
    if item.bot:
        fields["b"] = 1
    for name, value in (
        ("a", item.author), ("e", item.edited or None), ("g", item.target),
        ("m", item.message_id), ("u", item.until), ("c", item.topic),
    ):  # fmt: skip
        if value is not None:
            fields[name] = value
    return fields


def decode_item(fields: dict[str, Any]) -> Item:
    if "p" in fields:
        return Private(fields["p"], fields["to"], fields["t"], fields["s"])
    if "O" in fields:
        return Order(
            fields["O"], fields["c"], fields["n"], fields["a"], fields["g"], fields["r"],
            fields["t"],
        )  # fmt: skip
    if "A" in fields:
        return Outcome(fields["A"], fields["c"], fields["t"])
    nicks = fields.get("N")
    return Event(
        fields["r"], fields["k"], fields["n"], fields["t"], fields["s"], None, fields.get("o"),
        tuple(nicks) if nicks is not None else None, bool(fields.get("b")), fields.get("a"),
        bool(fields.get("e")), fields.get("g"), fields.get("m"), fields.get("u"),
        fields.get("c"),
    )  # fmt: skip


def entry(event: Event) -> bytes:
    """A stored event as its room's stream keeps it (room and id are the stream's)."""
    fields: dict[str, Any] = {"k": event.kind, "n": event.nick, "t": event.text, "s": event.ts}
    if event.bot:
        fields["b"] = 1
    if event.author is not None:
        fields["a"] = event.author
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()


def with_ids(items: tuple[Item, ...], first: int) -> tuple[Item, ...]:
    """`items` with their stored events numbered from `first`, in order."""
    numbered: list[Item] = []
    next_id = first
    for item in items:
        if type(item) is Event and item.kind in STORED_KINDS:
            item = Event(
                item.room, item.kind, item.nick, item.text, item.ts, next_id, item.old,
                bot=item.bot, author=item.author,
            )  # fmt: skip
            next_id += 1
        numbered.append(item)
    return tuple(numbered)


def parse_entries(room: str, entries: list[Any]) -> list[Event]:
    """Stream entries (`[id, [b"e", json]]`) as events, in the order given."""
    events = []
    for entry_id, fields in entries:
        try:
            data = json.loads(fields[1])
            kind: EventKind = "action" if data["k"] == "action" else "message"
            number = int(entry_id.split(b"-", 1)[0])
            edited = len(fields) >= 4 and fields[2] == b"x"
            text = fields[3].decode("utf-8", "replace") if edited else data["t"]
            events.append(
                Event(
                    room,
                    kind,
                    data["n"],
                    text,
                    data["s"],
                    number,
                    bot=bool(data.get("b")),
                    author=data.get("a"),
                    edited=edited,
                )
            )
        except (ValueError, KeyError, IndexError, TypeError):
            log.warn("skipped an unreadable entry {id} of room {room}", id=entry_id, room=room)
    return events
