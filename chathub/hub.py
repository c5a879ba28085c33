"""The Hub: the one registry of clients, nicks and rooms, and the rules of the chat.

Rules:
- Pure: no twisted, autobahn or jinja2, no bytes, nothing asynchronous. Adapters call `connect`,
  `handle` and `disconnect`; the hub answers by calling `deliver` on the `Client` seam, which
  must buffer and return at once.
- Every event of a room goes to every member, the one who caused it included. The copy that goes
  to the client whose command caused it carries that command's `ref`; so does every direct reply.
  A command with a `ref` gets exactly one reply with it.
- User text is cleaned (`clean_text`) once, here, so every transport shows the same safe text.
- Fan-out: inside `batch()` (an adapter wraps one read in it) room messages are queued and sent
  at its end, the same tuple of events to every member (`deliver_events`); anything else the
  hub does first sends what is queued, so order is never changed.
"""

import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from chathub import commands as cmd
from chathub.config import HubSettings
from chathub.events import (
    Error,
    Event,
    EventKind,
    History,
    Notice,
    Ok,
    Outgoing,
    Private,
    RoomList,
    Welcome,
    Who,
)
from chathub.limits import ConnectionCounter, MinuteCounter
from chathub.store import MemoryStore, Store
from chathub.text import DEFAULT_ROOM, clean_text, is_valid_nick, nick_key, normalize_room

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


# The counters every limit bumps when it refuses or cuts something; /healthz shows them all,
# zeros included, so an operator sees which limits exist.
COUNTERS = (
    "connections_refused",  # --max-connections
    "connections_refused_per_ip",  # --max-per-ip
    "rate_limited",  # --max-rate: times a connection was slowed
    "rate_dropped",  # --max-rate: messages dropped past the burst while slowed
    "line_too_long",  # --max-line (telnet) and the WebSocket message size
    "nick_limited",  # nick changes per minute
    "join_limited",  # joins per minute
    "rooms_limited",  # rooms per connection
    "idle_closed",  # --idle-timeout
    "skipped",  # --max-backlog: events not sent to a client that was behind
    "slow_closed",  # --slow-timeout and the backlog's hard limit
)


class Hub:
    def __init__(
        self,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        settings: HubSettings = HubSettings(),
    ) -> None:
        self.store: Store = store if store is not None else MemoryStore()
        self.clock = clock
        self.settings = settings
        self.sessions: dict[str, Session] = {}  # nick_key -> session
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.connections = ConnectionCounter(settings.max_connections, settings.max_per_ip)
        self.members: dict[str, dict[Session, None]] = {}  # room -> members, in join order
        self._guest_number = 0
        # Inside `batch()`: room messages waiting to be fanned out, in order, all of one room
        # (a message to another room sends these first), with their senders and refs.
        self._batching = 0
        self._queued: list[tuple[Event, Session, Ref | None]] = []

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
        if self._queued:
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
        self.sessions[nick_key(session.nick)] = session

        wanted: list[str] = []
        for name in rooms:
            room = normalize_room(name)
            if room is None:
                problems.append(_bad_room(name))
            elif room not in wanted:
                if error := self._join_problem(session, len(wanted)):
                    problems.append(error)
                    break
                wanted.append(room)
        client.deliver(Welcome(session.nick, tuple(wanted), self.settings.motd))
        for error in problems:
            client.deliver(error)
        for room in wanted:
            self._join(session, room, None, (since or {}).get(room))
        return session

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Commands handled inside fan their room messages out once, at the end, several per
        recipient at a time. Adapters wrap one read's worth of input in it: a busy hub writes
        each recipient once per read instead of once per message, an idle one adds no delay.
        Anything else the hub does (a reply, a join, a part) first sends what is queued, so
        every client still sees everything in order."""
        self._batching += 1
        try:
            yield
        finally:
            self._batching -= 1
            if not self._batching:
                self.flush()

    def flush(self) -> None:
        """Fan out the room messages queued by `batch()`."""
        while self._queued:
            items, self._queued = self._queued, []
            room = items[0][0].room
            assert room is not None  # only room messages are queued
            self._fan_out(room, items)

    def handle(self, session: Session, command: cmd.Command) -> None:
        """Carry out one command from `session`'s client."""
        ref = command.ref
        if self._queued and not isinstance(command, cmd.Say | cmd.Me):
            self.flush()
        match command:
            case cmd.Say(text, room) | cmd.Me(text, room):
                kind: EventKind = "message" if isinstance(command, cmd.Say) else "action"
                self._say(session, kind, text, room, ref)
            case cmd.Join(room):
                name = normalize_room(room)
                if name is None:
                    session.client.deliver(_bad_room(room), ref)
                elif name in session.rooms:
                    # Already there: make it current, as /join does in IRC clients.
                    session.rooms.remove(name)
                    session.rooms.append(name)
                    session.client.deliver(Notice(f"you are in {name}"), ref)
                elif error := self._join_problem(session, len(session.rooms)):
                    session.client.deliver(error, ref)
                else:
                    self._join(session, name, ref, None)
            case cmd.Part(room, reason):
                target = self._member_room(session, room, ref)
                if target is not None:
                    self._part(session, target, clean_text(reason), ref)
            case cmd.Nick(nick):
                self._rename(session, nick, ref)
            case cmd.Who(room):
                target = self._named_room(session, room, ref)
                if target is not None:
                    members = sorted((s.nick for s in self.members.get(target, ())), key=nick_key)
                    session.client.deliver(Who(target, tuple(members)), ref)
            case cmd.Rooms():
                session.client.deliver(RoomList(tuple(self.room_list())), ref)
            case cmd.History(room, since, limit):
                self._history(session, room, since, limit, ref)
            case cmd.Msg(to, text):
                self._private(session, to, text, ref)
            case cmd.Help():
                session.client.deliver(Notice(cmd.HELP), ref)
            case cmd.Quit(reason):
                # The one reply to a ref'd quit is `ok`; a terminal gets a goodbye line instead.
                session.client.deliver(Ok() if ref is not None else Notice("goodbye"), ref)
                self.disconnect(session, clean_text(reason) or "quit")
                session.client.close()

    def disconnect(self, session: Session, reason: str = "connection closed") -> None:
        """Forget a client that has gone; its rooms are told it left. Safe to call twice."""
        if self._queued:
            self.flush()
        if self.sessions.get(nick_key(session.nick)) is not session:
            return
        del self.sessions[nick_key(session.nick)]
        for room in list(session.rooms):
            self._part(session, room, reason, None, tell_self=False)

    def admit(self, peer: str) -> Error | None:
        """Count a new connection from address `peer`, or say why it is refused.

        Adapters call this before `connect` and `release` once the connection is gone; a
        refused connection is counted nowhere but in the refusal counters.
        """
        match self.connections.refusal(peer):
            case "total":
                self.counters["connections_refused"] += 1
                return Error(
                    "server-full",
                    f"the server is full ({self.settings.max_connections} connections); "
                    "try again later",
                )
            case "peer":
                self.counters["connections_refused_per_ip"] += 1
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
        self.flush()
        for session in list(self.sessions.values()):
            session.client.deliver(Notice("server shutting down"))
            session.client.close()

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
            if nick_key(nick) not in self.sessions:
                return nick

    def _nick_problem(self, nick: str, session: Session | None) -> Error | None:
        if not is_valid_nick(nick):
            return Error(
                "bad-nick",
                f"{_shown(nick)} is not a valid nick: 1-24 letters, digits, _ or -, "
                "starting with a letter or _",
            )
        holder = self.sessions.get(nick_key(nick))
        if holder is not None and holder is not session:
            return Error("nick-taken", f"the nick {nick} is taken")
        return None

    def _join_problem(self, session: Session, in_rooms: int) -> Error | None:
        """Why `session`, now in `in_rooms` rooms, may not join one more; counts the join if not."""
        max_rooms = self.settings.max_rooms
        if max_rooms and in_rooms >= max_rooms:
            self.counters["rooms_limited"] += 1
            return Error("too-many-rooms", f"you can be in at most {max_rooms} rooms; /part one")
        now = self.clock()
        if not session.joins.allow(now):
            self.counters["join_limited"] += 1
            return Error(
                "rate-limited",
                f"too many joins: at most {self.settings.joins_per_minute} a minute; "
                f"try again in {_seconds(session.joins.retry_after(now))}",
            )
        return None

    def _member_room(self, session: Session, room: str | None, ref: Ref | None) -> str | None:
        """The room a command is about, which `session` must be in; None after an error reply."""
        if room is None:
            if session.current_room is None:
                self._reply(session, _no_room(), ref)
            return session.current_room
        name = normalize_room(room)
        if name is None:
            self._reply(session, _bad_room(room), ref)
        elif name not in session.rooms:
            self._reply(session, Error("not-in-room", f"you are not in {name}"), ref)
            return None
        return name

    def _named_room(self, session: Session, room: str | None, ref: Ref | None) -> str | None:
        """The room a question is about, which need not be one `session` is in."""
        if room is None:
            if session.current_room is None:
                session.client.deliver(_no_room(), ref)
            return session.current_room
        name = normalize_room(room)
        if name is None:
            session.client.deliver(_bad_room(room), ref)
        return name

    def _broadcast(self, room: str, event: Event, sender: Session, ref: Ref | None) -> None:
        # A copy: a delivery may end a connection (an outbox cutting off a slow reader), and
        # its part changes the room while we go through it.
        for member in tuple(self.members.get(room, ())):
            if member is sender and ref is not None:
                member.client.deliver(event, ref)
            else:
                member.client.deliver(event)

    def _reply(self, session: Session, item: Outgoing, ref: Ref | None) -> None:
        """A direct answer, after whatever messages are queued (the sender's included)."""
        if self._queued:
            self.flush()
        session.client.deliver(item, ref)

    def _fan_out(self, room: str, items: list[tuple[Event, Session, Ref | None]]) -> None:
        """Queued messages of one room to its members: the same tuple of events to each, so
        an adapter encodes it once; only a sender whose command carried a `ref` gets its
        messages one by one, its own with the ref."""
        events = tuple(event for event, _, _ in items)
        replied = {sender for _, sender, ref in items if ref is not None}
        for member in tuple(self.members.get(room, ())):
            client = member.client
            if member in replied:
                for event, sender, ref in items:
                    client.deliver(event, ref if sender is member else None)
                continue
            client.deliver_events(events)

    def _say(
        self, session: Session, kind: EventKind, text: str, room: str | None, ref: Ref | None
    ) -> None:
        target = self._member_room(session, room, ref)
        if target is None:
            return
        text = clean_text(text)
        if not text.strip():
            self._reply(session, Error("empty", "nothing to send"), ref)
            return
        if len(text) > self.settings.text_max:
            self._reply(
                session,
                Error("too-long", f"messages are at most {self.settings.text_max} characters"),
                ref,
            )
            return
        event = self.store.append(Event(target, kind, session.nick, text, self.clock()))
        if self._batching:
            if self._queued and self._queued[0][0].room != target:
                # One room at a time: a member of several rooms gets them in the order said.
                self.flush()
            self._queued.append((event, session, ref))
        else:
            self._broadcast(target, event, session, ref)

    def _join(self, session: Session, room: str, ref: Ref | None, since: int | None) -> None:
        session.rooms.append(room)
        self.members.setdefault(room, {})[session] = None
        self._broadcast(room, Event(room, "join", session.nick, "", self.clock()), session, ref)
        if since is None:
            replay = self.store.recent(room, self.settings.replay)
        else:
            replay = self.store.since(room, since, self.settings.history_max)
        if replay:
            session.client.deliver(History(room, tuple(replay)))

    def _part(
        self, session: Session, room: str, reason: str, ref: Ref | None, tell_self: bool = True
    ) -> None:
        event = Event(room, "part", session.nick, reason, self.clock())
        members = self.members[room]
        del members[session]
        session.rooms.remove(room)
        if not members:
            del self.members[room]
        if tell_self:
            session.client.deliver(event, ref)
        self._broadcast(room, event, session, None)

    def _rename(self, session: Session, nick: str, ref: Ref | None) -> None:
        error = self._nick_problem(nick, session)
        if error is not None:
            session.client.deliver(error, ref)
            return
        old = session.nick
        if nick == old:
            session.client.deliver(Notice(f"you are already {nick}"), ref)
            return
        now = self.clock()
        if not session.nick_changes.allow(now):
            self.counters["nick_limited"] += 1
            session.client.deliver(
                Error(
                    "rate-limited",
                    "too many nick changes: at most "
                    f"{self.settings.nick_changes_per_minute} a minute; "
                    f"try again in {_seconds(session.nick_changes.retry_after(now))}",
                ),
                ref,
            )
            return
        del self.sessions[nick_key(old)]
        session.nick = nick
        self.sessions[nick_key(nick)] = session
        event = Event(None, "nick", nick, "", self.clock(), old=old)
        # Once to the renamed client and once to everyone who shares a room with it.
        session.client.deliver(event, ref)
        told = {session}
        for room in tuple(session.rooms):  # copies, as in _broadcast
            for member in tuple(self.members.get(room, ())):
                if member not in told:
                    told.add(member)
                    member.client.deliver(event)

    def _history(
        self,
        session: Session,
        room: str | None,
        since: int | None,
        limit: int | None,
        ref: Ref | None,
    ) -> None:
        target = self._named_room(session, room, ref)
        if target is None:
            return
        if (since is not None and since < 0) or (limit is not None and limit < 1):
            session.client.deliver(
                Error("bad-request", "since must be 0 or more and limit 1 or more"), ref
            )
            return
        events = self.history(target, since, limit)
        session.client.deliver(History(target, tuple(events)), ref)

    def _private(self, session: Session, to: str, text: str, ref: Ref | None) -> None:
        target = self.sessions.get(nick_key(to))
        if target is None:
            session.client.deliver(Error("no-such-nick", f"nobody is called {_shown(to)}"), ref)
            return
        text = clean_text(text)
        if not text.strip():
            session.client.deliver(Error("empty", "nothing to send"), ref)
            return
        message = Private(session.nick, target.nick, text, self.clock())
        if target is not session:
            target.client.deliver(message)
        session.client.deliver(message, ref)


def _shown(name: str) -> str:
    """A name a user typed, made safe and short enough to quote back in an error."""
    cleaned = clean_text(name)
    return repr(cleaned[:32] + ("..." if len(cleaned) > 32 else ""))


def _seconds(delay: float) -> str:
    """A wait, for people: whole seconds, rounded up, never "0 s"."""
    return f"{max(1, math.ceil(delay))} s"


def _bad_room(name: str) -> Error:
    return Error(
        "bad-room",
        f"{_shown(name)} is not a valid room: 1-32 of a-z, 0-9, _ and -, optionally after #",
    )


def _no_room() -> Error:
    return Error("no-room", "you are in no room; /join one first")
