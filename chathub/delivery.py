"""Delivery: how the hub's output reaches clients, and in what order.

Rules:
- One publish point: every event for more than one client (messages, actions, joins, parts,
  nick changes, private messages) leaves through `publish` to the `Broker`, which stores what
  is kept (and gives it its id) and hands it back to `receive`, which delivers it to this
  hub's members and readers. Only direct answers to one client go straight to it (`tell`).
- Every event of a room goes to every member, the one who caused it included. The copy that
  goes to the client whose command caused it carries that command's `ref`; so does every
  direct reply. A command with a `ref` gets exactly one reply with it.
- Order: inside `batch()` (an adapter wraps one read in it) room messages are queued and
  published at its end, one room at a time, as one publication, so every member gets the same
  tuple of events (`deliver_events`) and an adapter encodes it once. Anything else the hub
  does first publishes what is queued, so nobody sees a different order; an adapter that has
  something of its own to say (an error, a warning) says it through `tell`, which keeps that
  order too.
- Held deliveries (bots' posts until the end of the turn, a Redis read's pushes until it is
  over, the fan-out window): `heldfanout.py`.
- Order per client across waits: a command the hub cannot finish at once (a room read from
  disk, history being written) holds that client's later commands, and its input, until it is
  done (`when_done`); they are then carried out in order. Holds are counted: a client waits
  until every one of them is over.
- Publications in flight: a broker for many processes hands a publication back later. Until
  it does, its senders are held like a command that is not finished, and what the hub tells
  them meanwhile waits behind it, so a client's direct replies never overtake its own
  messages, joins or nick changes. A publication the broker loses (the backplane went away)
  is answered to its senders with `unavailable` in its place (`lost`).
- While the store is behind, messages wait with their senders: `storegate.py`.
- Pure: no I/O; `Hub` is a `Delivery`.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, cast

from chathub import commands as cmd
from chathub import errors
from chathub.broker import Broker, Order, Outcome, Publication
from chathub.events import Event, Outgoing, Private
from chathub.heldfanout import HeldFanOut, Refs, Senders
from chathub.session import Session
from chathub.store import Store
from chathub.storegate import StoreGate
from chathub.text import nick_skeleton
from chathub.traffic import Traffic

if TYPE_CHECKING:
    from chathub.presence import Presence

Ref = cmd.Ref


# How the hub waits: `later(seconds, call)` (the reactor's callLater); None: nothing waits.
Later = Callable[[float, Callable[[], None]], object]


class Delivery(StoreGate, HeldFanOut):
    """The publish point and the ordering rules; the hub's state they use is declared here."""

    store: Store
    sessions: dict[str, Session]
    members: dict[str, dict[Session, None]]
    watchers: dict[str, dict[Session, None]]
    traffic: Traffic
    presence: "Presence"
    later: Later | None
    clock: Callable[[], float]

    def __init__(self, broker: Broker, origin: str, fan_out_window: float = 0.0) -> None:
        # Inside `batch()`: room messages waiting to be published, in order, all of one room
        # (a message to another room publishes these first), with their senders and refs.
        self._batching = 0
        self._queued: list[tuple[Event, Session, Ref | None]] = []
        # The publish point (see broker.py): this hub's id among the broker's hubs, the number
        # of its last publication, and the senders of those not yet handed back.
        self.origin = origin
        self.broker = broker
        self._seq = 0
        self._awaiting: dict[int, Senders] = {}
        self._on_stored: dict[int, Callable[[tuple[Event, ...]], None]] = {}
        self._on_failed: dict[int, Callable[[], None]] = {}
        StoreGate.__init__(self)
        HeldFanOut.__init__(self, fan_out_window)
        # Publications a remote broker has not handed back yet, with their senders (held), and
        # the one being published now (0 once a synchronous broker handed it back).
        self._flying: dict[int, Senders] = {}
        self._publishing = 0

    def handle(self, session: Session, command: cmd.Command) -> None:
        raise NotImplementedError  # the Hub's

    def carry_out(self, item: Order | Outcome) -> None:
        raise NotImplementedError  # the Hub's (remotemod.py)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Commands handled inside publish their room messages once, at the end, several per
        recipient at a time. Adapters wrap one read's worth of input in it: a busy hub writes
        each recipient once per read instead of once per message, an idle one adds no delay.
        Anything else the hub does (a reply, a join, a part) first publishes what is queued, so
        every client still sees everything in order."""
        self._batching += 1
        try:
            yield
        finally:
            self._batching -= 1
            if not self._batching:
                self.flush()

    def flush(self) -> None:
        """Publish the room messages queued by `batch()`."""
        while self._queued:
            queued, self._queued = self._queued, []
            room = queued[0][0].room
            assert room is not None  # only room messages are queued
            items = tuple(event for event, _, _ in queued)
            senders = tuple((n, session, ref) for n, (_, session, ref) in enumerate(queued))
            self.publish(items, (room,), (), senders)

    def when_done(self, session: Session, start: Callable[[Callable[[], None]], None]) -> None:
        """Run `start(done)`, work that calls `done` when it is over, at once or later; until
        then, `session`'s later commands wait and its input is not read."""
        finished = False
        synchronous = True

        def done() -> None:
            nonlocal finished
            finished = True
            if not synchronous:
                self._resume(session)

        start(done)
        synchronous = False
        if not finished:
            self._hold(session)

    def _hold(self, session: Session) -> None:
        session.holds += 1
        if session.waiting is None:
            session.waiting = []
            session.client.hold_input(True)

    def _resume(self, session: Session) -> None:
        """One hold of `session` is over; when none is left, carry out what waited, in order."""
        session.holds -= 1
        if session.holds > 0:
            return
        waiting, session.waiting = session.waiting, None
        if waiting is None or self.sessions.get(nick_skeleton(session.nick)) is not session:
            return
        for position, item in enumerate(waiting):
            if session.waiting is not None:  # held again: the rest waits behind it
                session.waiting.extend(waiting[position:])
                return
            if callable(item):
                item()
            else:
                self.handle(session, item)
        if session.waiting is None:
            session.client.hold_input(False)

    def tell(self, session: Session, item: Outgoing, ref: Ref | None = None) -> None:
        """Send one client something for it alone, after everything published before it.

        Adapters say what is theirs to say (a refused line, a rate warning, a skip notice)
        through here too, so it never overtakes the messages queued in the same read.
        """
        self.flush()
        self.fan_out_held()
        if session.in_flight:  # behind its own publications still in flight
            assert session.waiting is not None
            session.waiting.append(partial(session.client.deliver, item, ref))
            return
        session.client.deliver(item, ref)

    # --- what the broker calls ----------------------------------------------------------------

    def receive(self, publication: Publication, together: bool = False) -> None:
        """Deliver a publication to this hub's members of its rooms and holders of its nicks,
        each once; a sender of this hub gets its own items with their refs. `together`: more
        may follow (one read's worth); a room's events may wait for `read_over`."""
        refs: Refs = {}
        items = publication.items
        flying: Senders | None = None
        if publication.origin == self.origin:
            seq = publication.seq
            if seq == self._publishing:
                self._publishing = 0  # handed back at once: nothing is in flight
            flying = self._flying.pop(seq, None) if self._flying else None
            for index, sender, ref in self._awaiting.pop(seq, ()):
                if ref is not None:
                    refs.setdefault(sender, {})[index] = ref
            self._on_failed.pop(seq, None)
            stored = self._on_stored.pop(seq, None)
            if stored is not None:
                stored(items)  # type: ignore[arg-type]  # a room's events
            if seq in self._fan_out_later:
                self._fan_out_later.discard(seq)
                if self.held_to_turns_end(publication, refs, flying):
                    return
        first = items[0]
        if publication.nicks and isinstance(first, Order | Outcome):
            self.carry_out(first)  # from another hub to this one, not to its clients
            return
        if (together or self.fan_out_window) and self.held_for_later(
            publication, refs, flying, together
        ):
            return
        self.fan_out_held()
        self._fan_out(publication, refs)
        if flying is not None:
            self._land(flying)

    def _fan_out(self, publication: Publication, refs: Refs) -> None:
        items = cast(tuple[Event | Private, ...], publication.items)  # orders never get here
        # One room's events go to each member as one tuple, encoded once by its transport.
        room_events = not publication.nicks and type(items[0]) is Event
        if room_events:
            self.traffic.delivered_to_room(publication.rooms[0], len(items))
            if self.fan_out_window:
                self.fanned_out(publication.rooms[0])
        for member in self._recipients(publication):
            client = member.client
            own = refs.get(member) if refs else None
            if own:
                if not room_events:  # a room's events were counted from its member counts
                    self.traffic.deliveries[client.transport_name] += len(items)
                for index, item in enumerate(items):
                    client.deliver(item, own.get(index))
            elif room_events:
                client.deliver_events(items)  # type: ignore[arg-type]  # all Events
            else:
                self.traffic.deliveries[client.transport_name] += len(items)
                for item in items:
                    client.deliver(item)

    def lost(self, publication: Publication) -> None:
        """A publication of this hub that the broker will never hand back (the backplane went
        away with it in flight): its senders are told `unavailable` in its place."""
        self.fan_out_held()
        seq = publication.seq
        flying = self._flying.pop(seq, None)
        self._awaiting.pop(seq, None)
        self._on_stored.pop(seq, None)
        self._fan_out_later.discard(seq)
        failed = self._on_failed.pop(seq, None)
        if failed is not None:
            failed()
        if flying is not None:
            for _, session, ref in flying:
                session.client.deliver(errors.unavailable(), ref)
            self._land(flying)

    def _land(self, senders: Senders) -> None:
        """A publication in flight is back (or lost): its senders go on."""
        for session in {session: None for _, session, _ in senders}:
            session.in_flight -= 1
            self._resume(session)

    def _recipients(self, publication: Publication) -> tuple[Session, ...]:
        # Copies: a delivery may end a connection (an outbox cutting off a slow reader), and
        # its part changes the room while we go through it.
        rooms, nicks = publication.rooms, publication.nicks
        if publication.exclude:
            left_out = {self.sessions.get(key) for key in publication.exclude}
            everyone = self._recipients(replace(publication, exclude=()))
            return tuple(member for member in everyone if member not in left_out)
        if len(rooms) == 1 and not nicks:  # the hot path: one room's members (and readers)
            room = rooms[0]
            if room in self.watchers:
                return tuple(self.members.get(room, ())) + tuple(self.watchers[room])
            return tuple(self.members.get(room, ()))
        chosen: dict[Session, None] = {}
        for key in nicks:
            if (holder := self.sessions.get(key)) is not None:
                chosen[holder] = None
        for room in rooms:
            for member in self.members.get(room, ()):
                chosen.setdefault(member, None)
            for reader in self.watchers.get(room, ()):
                chosen.setdefault(reader, None)
        return tuple(chosen)

    def publish(
        self,
        items: tuple[Event, ...] | tuple[Private] | tuple[Order] | tuple[Outcome],
        rooms: tuple[str, ...],
        nicks: tuple[str, ...] = (),
        senders: Senders = (),
        exclude: tuple[str, ...] = (),
        on_stored: Callable[[tuple[Event, ...]], None] | None = None,
        on_failed: Callable[[], None] | None = None,
        fan_out_later: bool = False,
    ) -> bool:
        """The one way out for anything more than one client sees (see the module's rules).
        `on_stored` hears the items as stored, ids set, when they come back; `on_failed`, if
        they never do; with `fan_out_later` (a bot's room events, no senders) they reach the
        room at the end of the turn. False: refused at once (its senders were told)."""
        for room in rooms:
            if room in self.presence.pending:  # joins and parts said before go first
                self.presence.flush(room)
        self._seq += 1
        seq = self._seq
        if any(ref is not None for _, _, ref in senders):
            self._awaiting[seq] = senders
        if on_stored is not None:
            self._on_stored[seq] = on_stored
        if on_failed is not None:
            self._on_failed[seq] = on_failed
        if fan_out_later:
            self._fan_out_later.add(seq)
        publication = Publication(items, rooms, nicks, self.origin, seq, exclude)
        self._publishing = seq
        if not self.broker.publish(publication):
            self._publishing = 0
            self._awaiting.pop(seq, None)
            self._on_stored.pop(seq, None)
            self._on_failed.pop(seq, None)
            self._fan_out_later.discard(seq)
            for _, session, ref in senders:
                session.client.deliver(errors.unavailable(), ref)
            if on_failed is not None:
                on_failed()
            return False
        if self._publishing == seq:  # not handed back yet: in flight, its senders wait
            self._publishing = 0
            if senders:
                self._flying[seq] = senders
                for session in {session: None for _, session, _ in senders}:
                    session.in_flight += 1
                    self._hold(session)
        return True

    def queue_message(self, event: Event, session: Session, ref: Ref | None) -> None:
        """Publish a room message now, or at the end of the batch (see the module's rules)."""
        if self._queued and self._queued[0][0].room != event.room:
            # One room at a time: a member of several rooms gets them in the order said.
            self.flush()
        self._queued.append((event, session, ref))
        if not self._batching:
            self.flush()
