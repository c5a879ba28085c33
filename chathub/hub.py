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

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
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
from chathub.store import MemoryStore, Store
from chathub.text import (
    DEFAULT_ROOM,
    clean_lines,
    clean_text,
    is_valid_nick,
    nick_skeleton,
    normalize_room,
)

Ref = cmd.Ref


class Client(Protocol):
    """What the hub needs of a connection: somewhere to put output, and a way to end it."""

    def deliver(self, item: Outgoing, ref: Ref | None = None) -> None: ...

    def deliver_events(self, events: tuple[Event, ...]) -> None:
        """Room events fanned out together (`Hub.batch`), in order, none with a `ref`: the
        same tuple goes to every member, so an adapter can encode it once."""
        ...

    def close(self) -> None: ...


@dataclass(eq=False)
class Session:
    """The hub's record of one connected client."""

    client: Client
    nick: str
    rooms: list[str] = field(default_factory=list)  # in join order; the last is current
    nick_changes: MinuteCounter = field(default_factory=lambda: MinuteCounter(0))
    joins: MinuteCounter = field(default_factory=lambda: MinuteCounter(0))

    @property
    def current_room(self) -> str | None:
        return self.rooms[-1] if self.rooms else None


# Who sent each item of a publication, and the ref its reply carries (None: no ref).
Senders = tuple[tuple["Session", Ref | None], ...]


class Hub:
    def __init__(
        self,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        settings: HubSettings = HubSettings(),
        broker: Broker | None = None,
        origin: str = "",
    ) -> None:
        self.store: Store = store if store is not None else MemoryStore()
        self.clock = clock
        # The motd is an operator's text, but it reaches terminals too: cleaned once, here.
        self.settings = replace(settings, motd=clean_lines(settings.motd))
        self.sessions: dict[str, Session] = {}  # nick_skeleton -> session
        self.counters = Counters()
        self.connections = ConnectionCounter(settings.max_connections, settings.max_per_ip)
        self.members: dict[str, dict[Session, None]] = {}  # room -> members, in join order
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

        wanted: list[str] = []
        for name in rooms:
            room = normalize_room(name)
            if room is None:
                problems.append(errors.bad_room(name))
            elif room not in wanted:
                if error := room_rules.join_problem(self, session, len(wanted)):
                    problems.append(error)
                    break
                wanted.append(room)
        client.deliver(Welcome(session.nick, tuple(wanted), self.settings.motd))
        for error in problems:
            client.deliver(error)
        for room in wanted:
            room_rules.join(self, session, room, None, (since or {}).get(room))
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
            senders = tuple((session, ref) for _, session, ref in queued)
            self.publish(items, (room,), (), senders)

    def handle(self, session: Session, command: cmd.Command) -> None:
        """Carry out one command from `session`'s client."""
        ref = command.ref
        if self._queued and not isinstance(command, cmd.Say | cmd.Me):
            self.flush()
        match command:
            case cmd.Say(text, room) | cmd.Me(text, room):
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
                self.tell(session, RoomList(tuple(self.room_list())), ref)
            case cmd.History(room, since, limit):
                room_rules.history_command(self, session, room, since, limit, ref)
            case cmd.Msg(to, text):
                self._private(session, to, text, ref)
            case cmd.Help():
                self.tell(session, Help(), ref)
            case cmd.Quit(reason):
                # The one reply to a ref'd quit is `ok`; a terminal gets a goodbye line instead.
                self.tell(session, Ok() if ref is not None else Notice("goodbye"), ref)
                self.disconnect(session, clean_text(reason) or "quit")
                session.client.close()

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
        """Tell every client the server is going away and ask each connection to close.

        Nobody is told of the others leaving: they are all going."""
        self.flush()
        self.closing = True
        for session in list(self.sessions.values()):
            session.client.deliver(Notice("server shutting down"))
            session.client.close()

    # --- what the broker calls ----------------------------------------------------------------

    def receive(self, publication: Publication) -> None:
        """Deliver a publication to this hub's members of its rooms and holders of its nicks,
        each once; a sender of this hub gets its own items with their refs."""
        senders = None
        if publication.origin == self.origin:
            senders = self._awaiting.pop(publication.seq, None)
        items = publication.items
        replied = {s for s, ref in senders if ref is not None} if senders else None
        # One room's events go to each member as one tuple, encoded once by its transport.
        room_events = not publication.nicks and type(items[0]) is Event
        for member in self._recipients(publication):
            client = member.client
            if replied and member in replied:
                assert senders is not None
                for item, (sender, ref) in zip(items, senders, strict=True):
                    client.deliver(item, ref if sender is member else None)
            elif room_events:
                client.deliver_events(items)  # type: ignore[arg-type]  # all Events
            else:
                for item in items:
                    client.deliver(item)

    def _recipients(self, publication: Publication) -> tuple[Session, ...]:
        # Copies: a delivery may end a connection (an outbox cutting off a slow reader), and
        # its part changes the room while we go through it.
        rooms, nicks = publication.rooms, publication.nicks
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
    ) -> None:
        """The one way out for anything more than one client sees (see the module's rules)."""
        self._seq += 1
        if any(ref is not None for _, ref in senders):
            self._awaiting[self._seq] = senders
        if not self.broker.publish(Publication(items, rooms, nicks, self.origin, self._seq)):
            self._awaiting.pop(self._seq, None)
            for session, ref in senders:
                session.client.deliver(errors.unavailable(), ref)

    def queue_message(self, event: Event, session: Session, ref: Ref | None) -> None:
        """Publish a room message now, or at the end of the batch (see the module's rules)."""
        if self._queued and self._queued[0][0].room != event.room:
            # One room at a time: a member of several rooms gets them in the order said.
            self.flush()
        self._queued.append((event, session, ref))
        if not self._batching:
            self.flush()

    # --- questions adapters and HTTP ask ------------------------------------------------------

    def room_list(self) -> list[tuple[str, int]]:
        """Rooms with members or history, most members first, then by name."""
        names = set(self.members) | set(self.store.rooms())
        counts = [(name, len(self.members.get(name, ()))) for name in names]
        counts.sort(key=lambda pair: (-pair[1], pair[0]))
        return counts

    def history(self, room: str, since: int | None, limit: int | None) -> list[Event]:
        """Stored events of a (normalized) room: the newest `limit`, or those after `since`.

        Without a limit, `since` answers up to `history_max` (whoever asks what they missed
        wants all of it); the newest-first form answers `history_default`.
        """
        if limit is None:
            limit = self.settings.history_default if since is None else self.settings.history_max
        count = max(0, min(limit, self.settings.history_max))
        if since is None:
            return self.store.recent(room, count)
        return self.store.since(room, since, count)

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
        self.publish((event,), tuple(session.rooms), (nick_skeleton(nick),), ((session, ref),))

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
        self.publish((message,), (), nicks, ((session, ref),))
