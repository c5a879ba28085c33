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
- Pure: the hub supplies the clock and the timer (`Hub.later`).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Literal

from chathub.commands import Ref
from chathub.events import Event, History, Outgoing
from chathub.text import nick_skeleton

if TYPE_CHECKING:
    from chathub.hub import Hub
    from chathub.session import Session

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
    client: "Session | None" = None  # the session of a joiner waiting for its batch
    ref: Ref | None = None
    replay: History | None = None
    done: Callable[[], None] | None = None
    told: bool = False  # told already (a digest room): the batch is not sent to it
    greeting: tuple[Outgoing, ...] = ()  # what a joiner is told before its replay (the topic)


@dataclass
class PendingPresence:
    """What one room has not announced yet."""

    arrivals: list[Arrival] = field(default_factory=list)
    digest: bool = False  # flushed by the digest timer, not at the end of the turn


def batch_events(
    room: str, arrivals: list[Arrival], topic: str | None = None
) -> list[tuple[Event, list[int]]]:
    """The events announcing `arrivals` in order, each with the positions it covers; an
    event's time is its first arrival's. A join carries the room's `topic`."""
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
        shown_topic = topic if first.kind == "join" else None
        event = Event(room, first.kind, nicks[0], text, first.ts, nicks=several, topic=shown_topic)
        events.append((event, list(range(start, end))))
        start = end
    return events


class Presence:
    """A hub's joins and parts not announced yet, and when they will be."""

    def __init__(self, hub: "Hub") -> None:
        self.hub = hub
        self.pending: dict[str, PendingPresence] = {}
        self._turn_flush_due = False

    def announce(self, room: str, arrival: Arrival) -> None:
        """Announce a join or part: now (the hub has no timer), at the end of the turn, or
        in a digest."""
        hub = self.hub
        if hub.later is None:
            self._publish(room, [arrival])
            return
        pending = self.pending.get(room)
        if pending is None:
            digest = len(hub.members.get(room, ())) > DIGEST_MEMBERS
            pending = self.pending[room] = PendingPresence(digest=digest)
            if digest:
                hub.later(DIGEST_SECONDS, partial(self.flush, room))
            elif not self._turn_flush_due:
                self._turn_flush_due = True
                hub.later(0, self._flush_turn)
        if pending.digest and arrival.client is not None:
            self._tell_at_once(room, arrival)  # a big room's joiner does not wait for the digest
        pending.arrivals.append(arrival)

    def flush(self, room: str) -> None:
        pending = self.pending.pop(room, None)
        if pending is not None:
            self._publish(room, pending.arrivals)

    def flush_all(self) -> None:
        for room in list(self.pending):
            self.flush(room)

    def _flush_turn(self) -> None:
        self._turn_flush_due = False
        for room in [name for name, pending in self.pending.items() if not pending.digest]:
            self.flush(room)

    def _tell_at_once(self, room: str, arrival: Arrival) -> None:
        """A joiner's own join and replay, at once; the digest will not go to it."""
        session = arrival.client
        assert session is not None
        hub = self.hub
        topic = hub.room_states.topic_of(room)
        joined = Event(room, "join", arrival.nick, "", arrival.ts, topic=topic)
        hub.tell(session, joined, arrival.ref)
        for item in arrival.greeting:
            hub.tell(session, item)
        if arrival.replay is not None:
            hub.tell(session, arrival.replay)
        done = arrival.done
        arrival.told, arrival.client, arrival.replay, arrival.done = True, None, None, None
        if done is not None:
            done()

    def _publish(self, room: str, arrivals: list[Arrival]) -> None:
        hub = self.hub
        events = batch_events(room, arrivals, hub.room_states.topic_of(room))
        senders: list[tuple[int, Session, Ref | None]] = []
        for index, (_, positions) in enumerate(events):
            for position in positions:
                client = arrivals[position].client
                if client is not None:
                    senders.append((index, client, arrivals[position].ref))
        told = tuple(nick_skeleton(arrival.nick) for arrival in arrivals if arrival.told)
        hub.publish(tuple(event for event, _ in events), (room,), (), tuple(senders), told)
        for arrival in arrivals:
            if arrival.client is not None:
                for item in arrival.greeting:
                    hub.tell(arrival.client, item)
            if arrival.client is not None and arrival.replay is not None:
                hub.tell(arrival.client, arrival.replay)
            if arrival.done is not None:
                arrival.done()
