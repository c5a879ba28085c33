"""Presence in batches: joins and parts of one room become one event naming several nicks.

Why: a room that fills announces every arrival to every member, so N clients joining cost N²
deliveries (half a million join lines for 1,000 telnet connections). Batched, a crowd arriving
in one reactor turn costs one event per member.

Rules:
- Membership changes at once (`who` is exact); only the announcement is batched.
- Joins and parts of a room wait in `PendingPresence` until the hub flushes them: at the end of
  the reactor turn (a lone join waits for nothing else), or for a room of more than
  `DIGEST_MEMBERS` members every `DIGEST_SECONDS`, as a digest. Whatever else the hub publishes
  to the room first flushes it, so a joiner's first message never comes before its join.
- A flush keeps the order: consecutive joins become one `join` event, consecutive parts with
  the same reason one `part` event, each naming its nicks in `nicks` (`nick` is the first). A
  join and a part of one nick in one batch are two events, in that order.
- A joiner of a small room hears its own join in the batch (with its command's `ref`) and then
  its replay; a joiner of a digest room was told its join and replay at once, and the digest is
  not sent to it.
- Pure: the hub supplies the clock and the timer.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from chathub.commands import Ref
from chathub.events import Event, History

DIGEST_MEMBERS = 500  # rooms larger than this announce joins and parts as a digest
DIGEST_SECONDS = 5.0  # how often a digest is sent

Kind = Literal["join", "part"]


@dataclass(slots=True)
class Arrival:
    """One join or part waiting to be announced, and what the hub owes its client then."""

    kind: Kind
    nick: str
    ts: float
    reason: str = ""
    client: object | None = None  # the hub's session of a joiner waiting for its batch
    ref: Ref | None = None
    replay: History | None = None
    done: Callable[[], None] | None = None
    told: bool = False  # told already (a digest room): the batch is not sent to it


@dataclass
class PendingPresence:
    """What one room has not announced yet."""

    arrivals: list[Arrival] = field(default_factory=list)
    digest: bool = False  # flushed by the digest timer, not at the end of the turn


def batch_events(room: str, arrivals: list[Arrival]) -> list[tuple[Event, list[int]]]:
    """The events announcing `arrivals` in order, each with the positions it covers; an
    event's time is its first arrival's."""
    events: list[tuple[Event, list[int]]] = []
    start = 0
    while start < len(arrivals):
        first = arrivals[start]
        end = start + 1
        while (
            end < len(arrivals)
            and arrivals[end].kind == first.kind
            and arrivals[end].reason == first.reason
        ):
            end += 1
        nicks = tuple(arrival.nick for arrival in arrivals[start:end])
        text = first.reason if first.kind == "part" else ""
        several = nicks if len(nicks) > 1 else None
        event = Event(room, first.kind, nicks[0], text, first.ts, nicks=several)
        events.append((event, list(range(start, end))))
        start = end
    return events
