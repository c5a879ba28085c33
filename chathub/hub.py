"""The Hub: the one registry of clients, nicks and rooms, and the rules of the chat.

Rules:
- Pure: no twisted, autobahn or jinja2, no bytes, nothing asynchronous. Adapters call `connect`,
  `handle`, `tell` and `disconnect`; the hub answers by calling `deliver` on the `Client` seam,
  which must buffer and return at once.
- One publish point: every event for more than one client (messages, actions, joins, parts,
  nick changes, private messages) leaves through `_publish` to the `Broker`, which stores what
  is kept (and gives it its id) and hands it back to `receive`, which delivers it to this
  hub's members. Only direct answers to one client go straight to it (`tell`).
- Every event of a room goes to every member, the one who caused it included. The copy that
  goes to the client whose command caused it carries that command's `ref`; so does every
  direct reply. A command with a `ref` gets exactly one reply with it.
- User text is cleaned (`clean_text`) once, here, so every transport shows the same safe text.
- Order: inside `batch()` (an adapter wraps one read in it) room messages are queued and
  published at its end, one room at a time, as one publication, so every member gets the same
  tuple of events (`deliver_events`) and an adapter encodes it once. Anything else the hub
  does first publishes what is queued, so nobody sees a different order; an adapter that has
  something of its own to say (an error, a warning) says it through `tell`, which keeps that
  order too.
- Events carry data, never a transport's wording: errors are worded for every transport
  (`errors.py`), and `/help` is a `Help` item that each transport renders.
"""

import heapq
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol

from chathub import commands as cmd
from chathub import errors
from chathub import rooms as room_rules
from chathub.broker import Broker, LocalBroker, Publication
from chathub.config import HubSettings
from chathub.events import (
    Error,
    Event,
    EventKind,
    Help,
    Notice,
    Ok,
    Outgoing,
    Private,
    RoomList,
    Welcome,
)
from chathub.limits import ConnectionCounter, Counters, MinuteCounter
from chathub.presence import DIGEST_MEMBERS, DIGEST_SECONDS, Arrival, PendingPresence, batch_events
from chathub.store import Answer, MemoryStore, Query, Recent, Since, Store
from chathub.text import (
    DEFAULT_ROOM,
    clean_lines,
    clean_text,
    is_valid_nick,
    nick_skeleton,
    normalize_room,
)
from chathub.traffic import Traffic

Ref = cmd.Ref


class Client(Protocol):
    """What the hub needs of a connection: somewhere to put output, and a way to end it."""

    @property
    def transport_name(self) -> str:
        """`telnet`, `ws`, `sse`, `http`: traffic is counted by it."""
        ...

    def deliver(self, item: Outgoing, ref: Ref | None = None) -> None: ...

    def deliver_events(self, events: tuple[Event, ...]) -> None:
        """Room events fanned out together (`Hub.batch`), in order, none with a `ref`: the
        same tuple goes to every member, so an adapter can encode it once."""
        ...

    def close(self) -> None: ...

    def hold_input(self, held: bool) -> None:
        """Stop (True) or go back to (False) reading this client's input: the hub cannot
        carry out its next command yet (a room is read from disk, history is being written)."""
        ...


# What waits behind a command the hub could not finish at once: commands, and the rest of a
# connect (its later joins).
Waiting = list[cmd.Command | Callable[[], None]]


@dataclass(eq=False)
class Session:
    """The hub's record of one connected client."""

    client: Client
    nick: str
    rooms: list[str] = field(default_factory=list)  # in join order; the last is current
    nick_changes: MinuteCounter = field(default_factory=lambda: MinuteCounter(0))
    joins: MinuteCounter = field(default_factory=lambda: MinuteCounter(0))
    # Commands waiting for one that is not finished (see `Hub.when_done`); None: nothing waits.
    waiting: Waiting | None = None

    @property
    def current_room(self) -> str | None:
        return self.rooms[-1] if self.rooms else None


# Who sent which item of a publication (by position), and the ref its copy carries.
Senders = tuple[tuple[int, "Session", Ref | None], ...]
# How the hub waits: `later(seconds, call)` (the reactor's callLater); None: nothing waits.
Later = Callable[[float, Callable[[], None]], object]


class Hub:
    def __init__(
        self,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        settings: HubSettings = HubSettings(),
        broker: Broker | None = None,
        origin: str = "",
        later: Later | None = None,
    ) -> None:
        self.store: Store = store if store is not None else MemoryStore()
        self.clock = clock
        # The motd is an operator's text, but it reaches terminals too: cleaned once, here.
        self.settings = replace(settings, motd=clean_lines(settings.motd))
        self.sessions: dict[str, Session] = {}  # nick_skeleton -> session
        self.counters = Counters()
        self.traffic = Traffic()
        self.connections = ConnectionCounter(settings.max_connections, settings.max_per_ip)
        self.members: dict[str, dict[Session, None]] = {}  # room -> members, in join order
        # room -> sessions that read it without being in it (SSE streams): they have no nick,
        # are not in `sessions`, `who` or the member counts, and can say nothing.
        self.watchers: dict[str, dict[Session, None]] = {}
        self.bots: dict[str, str] = {}  # nick key -> the API token whose bot owns the nick
        self._guest_number = 0
        self.closing = False
        # Inside `batch()`: room messages waiting to be published, in order, all of one room
        # (a message to another room publishes these first), with their senders and refs.
        self._batching = 0
        self._queued: list[tuple[Event, Session, Ref | None]] = []
        # The publish point (see broker.py): this hub's id among the broker's hubs, the number
        # of its last publication, and the senders of those not yet handed back.
        self.origin = origin
        self.broker: Broker = broker if broker is not None else LocalBroker(self.store)
        self.broker.attach(self)
        self._seq = 0
        self._awaiting: dict[int, Senders] = {}
        self._on_stored: dict[int, Callable[[tuple[Event, ...]], None]] = {}
        self._store_waiters: dict[Session, None] = {}  # sessions whose messages wait for it
        # Joins and parts not announced yet, per room (presence.py), and the timer for them.
        self.later = later
        self._presence: dict[str, PendingPresence] = {}
        self._turn_flush_due = False

    # --- what adapters call -------------------------------------------------------------------

    def connect(
        self,
        client: Client,
        nick: str | None = None,
        rooms: Iterable[str] = (DEFAULT_ROOM,),
        since: dict[str, int] | None = None,
    ) -> Session:
        """Register a new client: welcome it, give it a nick, join its rooms, replay history.

        `since` maps a room to the last id the client has seen: it gets exactly the newer
        messages instead of the usual replay (recovery after a reconnect).
        """
        self.flush()
        problems: list[Error] = []
        if nick is not None and (error := self._nick_problem(nick, None)):
            problems.append(error)
            nick = None
        session = Session(
            client,
            nick or self._next_guest_nick(),
            nick_changes=MinuteCounter(self.settings.nick_changes_per_minute),
            joins=MinuteCounter(self.settings.joins_per_minute),
        )
        self.sessions[nick_skeleton(session.nick)] = session
        self.traffic.opened(client.transport_name)

        wanted: list[str] = []
        for name in rooms:
            room = normalize_room(name)
            if room is None:
                problems.append(errors.bad_room(name))
            elif room not in wanted:
                if error := room_rules.join_problem(self, session, len(wanted), room):
                    problems.append(error)
                    break
                wanted.append(room)
        client.deliver(Welcome(session.nick, tuple(wanted), self.settings.motd))
        for error in problems:
            client.deliver(error)
        for room in wanted:
            enter = partial(room_rules.join, self, session, room, None, (since or {}).get(room))
            if session.waiting is None:
                enter()
            else:  # an earlier room is being read from disk: this one joins after it
                session.waiting.append(enter)
        return session

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

    def handle(self, session: Session, command: cmd.Command) -> None:
        """Carry out one command from `session`'s client (after those it still waits for)."""
        if session.waiting is not None:
            session.waiting.append(command)
            return
        ref = command.ref
        if self._queued and not isinstance(command, cmd.Say | cmd.Me):
            self.flush()
        match command:
            case cmd.Say() | cmd.Me() if self.store.behind():
                # Unwritten history is getting old: the message waits (unacknowledged, and
                # its sender is not read) until the store catches up.
                self._wait_for_store(session, command)
            case cmd.Say(text, room) | cmd.Me(text, room):
                self.traffic.messages_in[session.client.transport_name] += 1
                kind: EventKind = "message" if isinstance(command, cmd.Say) else "action"
                room_rules.say(self, session, kind, text, room, ref)
            case cmd.Join(room):
                room_rules.join_command(self, session, room, ref)
            case cmd.Part(room, reason):
                room_rules.part_command(self, session, room, reason, ref)
            case cmd.Nick(nick):
                self._rename(session, nick, ref)
            case cmd.Who(room):
                room_rules.who(self, session, room, ref)
            case cmd.Rooms():
                listing, total = self.room_list()
                self.tell(session, RoomList(tuple(listing), total), ref)
            case cmd.History(room, since, limit):
                room_rules.history_command(self, session, room, since, limit, ref)
            case cmd.Msg(to, text):
                self.traffic.messages_in[session.client.transport_name] += 1
                self._private(session, to, text, ref)
            case cmd.Help():
                self.tell(session, Help(), ref)
            case cmd.Quit(reason):
                # The one reply to a ref'd quit is `ok`; a terminal gets a goodbye line instead.
                self.tell(session, Ok() if ref is not None else Notice("goodbye"), ref)
                self.disconnect(session, clean_text(reason) or "quit")
                session.client.close()

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
        if session.waiting is None:
            session.waiting = []
            session.client.hold_input(True)

    def _resume(self, session: Session) -> None:
        """Carry out what waited for `session`'s unfinished command, in order."""
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

    def _wait_for_store(self, session: Session, command: cmd.Command) -> None:
        if not self._store_waiters:
            self.store.when_caught_up(self._store_caught_up)
        self._store_waiters[session] = None
        self._hold(session)
        assert session.waiting is not None
        session.waiting.append(command)

    def _store_caught_up(self) -> None:
        waiters, self._store_waiters = self._store_waiters, {}
        for session in waiters:
            self._resume(session)

    def tell(self, session: Session, item: Outgoing, ref: Ref | None = None) -> None:
        """Send one client something for it alone, after everything published before it.

        Adapters say what is theirs to say (a refused line, a rate warning, a skip notice)
        through here too, so it never overtakes the messages queued in the same read.
        """
        self.flush()
        session.client.deliver(item, ref)

    def disconnect(self, session: Session, reason: str = "connection closed") -> None:
        """Forget a client that has gone; its rooms are told it left. Safe to call twice."""
        self.flush()
        if self.sessions.get(nick_skeleton(session.nick)) is not session:
            return
        del self.sessions[nick_skeleton(session.nick)]
        self.traffic.closed(session.client.transport_name)
        for room in list(session.rooms):
            room_rules.part(self, session, room, reason, None, tell_self=False)

    def admit(self, peer: str) -> Error | None:
        """Count a new connection from address `peer`, or say why it is refused.

        Adapters call this before `connect` and `release` once the connection is gone; a
        refused connection is counted nowhere but in the refusal counters.
        """
        match self.connections.refusal(peer):
            case "total":
                self.counters.connections_refused += 1
                return Error(
                    "server-full",
                    f"the server is full ({self.settings.max_connections} connections); "
                    "try again later",
                )
            case "peer":
                self.counters.connections_refused_per_ip += 1
                return Error(
                    "too-many-connections",
                    f"too many connections from your address (at most {self.settings.max_per_ip})",
                )
        self.connections.open(peer)
        return None

    def release(self, peer: str) -> None:
        """Forget a connection that `admit` counted."""
        self.connections.close(peer)

    def shutdown(self) -> None:
        """Tell every client the server is going away and ask each connection to close."""
        for session in self.begin_shutdown():
            self.close_session(session)

    def begin_shutdown(self) -> list[Session]:
        """Tell every client the server is going away; the sessions to close (in the order
        they came). Nobody is told of the others leaving from now on: they are all going."""
        self.flush()
        for room in list(self._presence):
            self.flush_presence(room)
        self.closing = True
        readers = {reader: None for room in self.watchers.values() for reader in room}
        sessions = [*self.sessions.values(), *readers]
        for session in sessions:
            session.client.deliver(Notice("server shutting down"))
        return sessions

    def close_session(self, session: Session) -> None:
        session.client.close()

    # --- what the broker calls ----------------------------------------------------------------

    def receive(self, publication: Publication) -> None:
        """Deliver a publication to this hub's members of its rooms and holders of its nicks,
        each once; a sender of this hub gets its own items with their refs."""
        refs: dict[Session, dict[int, Ref]] = {}
        items = publication.items
        if publication.origin == self.origin:
            for index, sender, ref in self._awaiting.pop(publication.seq, ()):
                if ref is not None:
                    refs.setdefault(sender, {})[index] = ref
            stored = self._on_stored.pop(publication.seq, None)
            if stored is not None:
                stored(items)  # type: ignore[arg-type]  # a room's events
        # One room's events go to each member as one tuple, encoded once by its transport.
        room_events = not publication.nicks and type(items[0]) is Event
        if room_events:
            self.traffic.delivered_to_room(publication.rooms[0], len(items))
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

    def _recipients(self, publication: Publication) -> tuple[Session, ...]:
        # Copies: a delivery may end a connection (an outbox cutting off a slow reader), and
        # its part changes the room while we go through it.
        rooms, nicks = publication.rooms, publication.nicks
        if len(rooms) == 1 and rooms[0] in self.watchers and not publication.exclude:
            return tuple(self.members.get(rooms[0], ())) + tuple(self.watchers[rooms[0]])
        if publication.exclude:
            left_out = {self.sessions.get(key) for key in publication.exclude}
            everyone = self._recipients(replace(publication, exclude=()))
            return tuple(member for member in everyone if member not in left_out)
        if len(rooms) == 1 and not nicks:
            return tuple(self.members.get(rooms[0], ()))
        chosen: dict[Session, None] = {}
        for key in nicks:
            if (holder := self.sessions.get(key)) is not None:
                chosen[holder] = None
        for room in rooms:
            for member in self.members.get(room, ()):
                chosen.setdefault(member, None)
        return tuple(chosen)

    def publish(
        self,
        items: tuple[Event, ...] | tuple[Private],
        rooms: tuple[str, ...],
        nicks: tuple[str, ...] = (),
        senders: Senders = (),
        exclude: tuple[str, ...] = (),
        on_stored: Callable[[tuple[Event, ...]], None] | None = None,
    ) -> None:
        """The one way out for anything more than one client sees (see the module's rules).
        `on_stored` hears the items as stored, ids set, when they come back."""
        for room in rooms:
            if room in self._presence:  # joins and parts said before go first
                self.flush_presence(room)
        self._seq += 1
        if any(ref is not None for _, _, ref in senders):
            self._awaiting[self._seq] = senders
        if on_stored is not None:
            self._on_stored[self._seq] = on_stored
        publication = Publication(items, rooms, nicks, self.origin, self._seq, exclude)
        if not self.broker.publish(publication):
            self._awaiting.pop(self._seq, None)
            self._on_stored.pop(self._seq, None)
            for _, session, ref in senders:
                session.client.deliver(errors.unavailable(), ref)

    # --- presence in batches (presence.py) ----------------------------------------------------

    def announce(self, room: str, arrival: Arrival) -> None:
        """Announce a join or part: now (no timer), at the end of the turn, or in a digest."""
        if self.later is None:
            self._publish_arrivals(room, [arrival])
            return
        pending = self._presence.get(room)
        if pending is None:
            digest = len(self.members.get(room, ())) > DIGEST_MEMBERS
            pending = self._presence[room] = PendingPresence(digest=digest)
            if digest:
                self.later(DIGEST_SECONDS, partial(self.flush_presence, room))
            elif not self._turn_flush_due:
                self._turn_flush_due = True
                self.later(0, self._flush_turn)
        if pending.digest and arrival.client is not None:
            self._tell_arrival(room, arrival)  # a big room's joiner does not wait for the digest
        pending.arrivals.append(arrival)

    def flush_presence(self, room: str) -> None:
        pending = self._presence.pop(room, None)
        if pending is not None:
            self._publish_arrivals(room, pending.arrivals)

    def _flush_turn(self) -> None:
        self._turn_flush_due = False
        for room in [name for name, pending in self._presence.items() if not pending.digest]:
            self.flush_presence(room)

    def _tell_arrival(self, room: str, arrival: Arrival) -> None:
        """A joiner's own join and replay, at once; the digest will not go to it."""
        session = arrival.client
        assert isinstance(session, Session)
        self.tell(session, Event(room, "join", arrival.nick, "", arrival.ts), arrival.ref)
        if arrival.replay is not None:
            self.tell(session, arrival.replay)
        done = arrival.done
        arrival.told, arrival.client, arrival.replay, arrival.done = True, None, None, None
        if done is not None:
            done()

    def _publish_arrivals(self, room: str, arrivals: list[Arrival]) -> None:
        events = batch_events(room, arrivals)
        senders: list[tuple[int, Session, Ref | None]] = []
        for index, (_, positions) in enumerate(events):
            for position in positions:
                client = arrivals[position].client
                if isinstance(client, Session):
                    senders.append((index, client, arrivals[position].ref))
        told = tuple(nick_skeleton(arrival.nick) for arrival in arrivals if arrival.told)
        self.publish(tuple(event for event, _ in events), (room,), (), tuple(senders), told)
        for arrival in arrivals:
            if isinstance(arrival.client, Session) and arrival.replay is not None:
                self.tell(arrival.client, arrival.replay)
            if arrival.done is not None:
                arrival.done()

    def add_member(self, room: str, session: Session) -> None:
        self.members.setdefault(room, {})[session] = None
        self.traffic.joined(room, session.client.transport_name)

    def remove_member(self, room: str, session: Session) -> None:
        """Take `session` out of `room`; an empty room is closed (the store may let it go)."""
        members = self.members[room]
        del members[session]
        self.traffic.left(room, session.client.transport_name)
        if not members:
            del self.members[room]
            self.store.close_room(room)

    def queue_message(self, event: Event, session: Session, ref: Ref | None) -> None:
        """Publish a room message now, or at the end of the batch (see the module's rules)."""
        if self._queued and self._queued[0][0].room != event.room:
            # One room at a time: a member of several rooms gets them in the order said.
            self.flush()
        self._queued.append((event, session, ref))
        if not self._batching:
            self.flush()

    # --- questions adapters and HTTP ask ------------------------------------------------------

    def room_list(self, limit: int | None = None) -> tuple[list[tuple[str, int]], int]:
        """The busiest rooms (most members first, then by name; rooms recently active but
        empty after them), at most `limit` (`room_list_max`), and how many rooms there are."""
        limit = limit or self.settings.room_list_max
        busiest = heapq.nsmallest(limit, ((-len(m), name) for name, m in self.members.items()))
        listing = [(name, -negative) for negative, name in busiest]
        if len(listing) < limit:
            idle = sorted(name for name in self.store.rooms() if name not in self.members)
            listing += [(name, 0) for name in idle[: limit - len(listing)]]
        new_rooms = sum(1 for name in self.members if self.store.last_id(name) == 0)
        return listing, self.store.room_count() + new_rooms

    def room_page(
        self, after: str, limit: int, answer: Callable[[list[tuple[str, int]]], None]
    ) -> None:
        """Rooms with members or stored messages whose names sort after `after`, in name
        order, at most `limit`, with their member counts (for paging through every room)."""

        def names_read(names: list[str]) -> None:
            members = self.members
            chosen = sorted(set(names) | {name for name in members if name > after})[:limit]
            answer([(name, len(members.get(name, ()))) for name in chosen])

        self.store.room_names(after, limit, names_read)

    def history(self, room: str, since: int | None, limit: int | None, answer: Answer) -> None:
        """Stored events of a (normalized) room: the newest `limit`, or those after `since`,
        to `answer` (at once, or later when they are read from disk).

        Without a limit, `since` answers up to `history_max` (whoever asks what they missed
        wants all of it); the newest-first form answers `history_default`.
        """
        if limit is None:
            limit = self.settings.history_default if since is None else self.settings.history_max
        count = max(0, min(limit, self.settings.history_max))
        query: Query = Recent(count) if since is None else Since(since, count)
        self.store.read(room, query, answer)

    # --- the rules ----------------------------------------------------------------------------

    def _next_guest_nick(self) -> str:
        while True:
            self._guest_number += 1
            nick = f"guest-{self._guest_number}"
            if nick_skeleton(nick) not in self.sessions:
                return nick

    def _nick_problem(self, nick: str, session: Session | None) -> Error | None:
        if not is_valid_nick(nick):
            return errors.bad_nick(nick)
        holder = self.sessions.get(nick_skeleton(nick))
        if holder is not None and holder is not session:
            return errors.nick_taken(nick, holder.nick)
        if nick_skeleton(nick) in self.bots:
            return errors.nick_of_a_bot(nick)
        return None

    def _rename(self, session: Session, nick: str, ref: Ref | None) -> None:
        error = self._nick_problem(nick, session)
        if error is not None:
            self.tell(session, error, ref)
            return
        old = session.nick
        if nick == old:
            self.tell(session, Notice(f"you are already {nick}"), ref)
            return
        now = self.clock()
        if not session.nick_changes.allow(now):
            self.counters.nick_limited += 1
            per_minute = self.settings.nick_changes_per_minute
            retry = session.nick_changes.retry_after(now)
            self.tell(session, errors.rate_limited("nick changes", per_minute, retry), ref)
            return
        del self.sessions[nick_skeleton(old)]
        session.nick = nick
        self.sessions[nick_skeleton(nick)] = session
        event = Event(None, "nick", nick, "", self.clock(), old=old)
        # Once to the renamed client (first: it is in `nicks`) and once to everyone who shares
        # a room with it.
        self.publish((event,), tuple(session.rooms), (nick_skeleton(nick),), ((0, session, ref),))

    def _private(self, session: Session, to: str, text: str, ref: Ref | None) -> None:
        target = self.sessions.get(nick_skeleton(to))
        if target is None:
            self.tell(session, errors.no_such_nick(to), ref)
            return
        text = clean_text(text)
        if not text.strip():
            self.tell(session, errors.empty(), ref)
            return
        if len(text) > self.settings.text_max:  # the same limit as in a room
            self.tell(session, errors.too_long(self.settings.text_max), ref)
            return
        message = Private(session.nick, target.nick, text, self.clock())
        # To the recipient, then the sender's copy (with its ref); once if they are one.
        nicks = (nick_skeleton(target.nick), nick_skeleton(session.nick))
        self.publish((message,), (), nicks, ((0, session, ref),))
