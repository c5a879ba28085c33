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
- Accounts and moderation are their own modules (`identity.py`, `moderation.py` and the
  modules it calls); their state (`accounts`, `room_states`, `bans`) is loaded from the store
  here and saved by each change. Password hashing is the injected `hasher`'s, off the
  reactor thread.
- Many processes: with a `Roster` (the presence half of a broker for many processes), nicks,
  room members and room lists are the roster's, answered later; a client waits for them as
  for a read from disk (`when_done`). Without one, the hub knows everything itself and
  answers at once, as it always has.
"""

import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial

from chathub import claims, errors, identity, moderation, privatelog, remotemod, roomlists, signals
from chathub import commands as cmd
from chathub import nicks as nick_rules
from chathub import rooms as room_rules
from chathub.access import ANONYMOUS, Viewer
from chathub.accounts import Accounts
from chathub.attempts import Attempts
from chathub.bans import Bans
from chathub.broker import Broker, Listing, LocalBroker, Order, Outcome, Roster
from chathub.config import HubSettings
from chathub.delivery import Delivery, Later
from chathub.events import (
    Error,
    EventKind,
    Help,
    Notice,
    Ok,
    RoomList,
    Welcome,
)
from chathub.limits import ConnectionCounter, Counters, MinuteCounter
from chathub.passwords import Hasher, InlineHasher
from chathub.presence import Presence
from chathub.records import GLOBAL
from chathub.roomstate import RoomStates
from chathub.session import Client, Session
from chathub.store import Answer, Before, MemoryStore, Query, Recent, Since, Store
from chathub.text import (
    DEFAULT_ROOM,
    clean_lines,
    clean_text,
    nick_skeleton,
    normalize_room,
)
from chathub.traffic import Traffic


class Hub(Delivery):
    """The registry of clients, nicks and rooms, and the dispatch of their commands."""

    def __init__(
        self,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        settings: HubSettings = HubSettings(),
        broker: Broker | None = None,
        origin: str = "",
        later: Later | None = None,
        roster: Roster | None = None,
        hasher: Hasher | None = None,
        operators: Iterable[str] = (),
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
        self.guest_number = 0  # the last guest-N given out
        self.closing = False
        # With many processes: who is where elsewhere, and the nicks being claimed here (by
        # nick key) while the roster is asked, so that two clients of this process cannot
        # both be given one.
        self.roster = roster
        self.claiming: dict[str, Session] = {}
        # Orders sent to the process holding a nick, waiting for their outcome (remotemod.py).
        self.orders: dict[str, remotemod.Waiting] = {}
        self.orders_sent = 0
        # Accounts and moderation: loaded once from the store, each change saved to it.
        saved = self.store.load_state()
        self.accounts = Accounts(saved, self.store.save)
        self.room_states = RoomStates(saved, self.store.save)
        self.bans = Bans(saved, self.store.save)
        self.attempts = Attempts()
        # Only tests hash on the calling thread: the service passes a `ThreadHasher`.
        self.hasher: Hasher = hasher if hasher is not None else InlineHasher()
        self.operators = frozenset(nick_skeleton(name) for name in operators)
        super().__init__(
            broker if broker is not None else LocalBroker(self.store),
            origin,
            settings.fan_out_window,
        )
        self.broker.attach(self)
        # Joins and parts announced in batches (presence.py), on the reactor's timer.
        self.later = later
        self.presence = Presence(self)

    # --- what adapters call -------------------------------------------------------------------

    def connect(
        self,
        client: Client,
        nick: str | None = None,
        rooms: Iterable[str] = (DEFAULT_ROOM,),
        since: dict[str, int] | None = None,
        address: str = "",
        token: str | None = None,
    ) -> Session:
        """Register a new client: welcome it, give it a nick, join its rooms, replay history.

        `since` maps a room to the last id the client has seen: it gets exactly the newer
        messages instead of the usual replay (recovery after a reconnect). `address` is where
        it connects from (for bans); a log-in `token` identifies it (and gives it its
        account's nick unless it asks for another).
        """
        self.flush()
        problems: list[Error] = []
        account = login = None
        if token is not None:
            if (found := self.accounts.login(token, self.clock())) is None:
                problems.append(errors.bad_token())
            else:
                account, login = found[0].name, found[1].token_hash
        ban = self.bans.match(GLOBAL, nick, account, address, self.clock())
        if ban is not None:  # refused at the door, before it is anyone
            client.deliver(errors.banned(None, ban.reason, None))
            client.close()
            return Session(client, nick or "", address=address)
        if account is not None and (nick is None or nick_skeleton(nick) == nick_skeleton(account)):
            identity.free_nick(self, account, None)
            nick = account
        if nick is not None and (error := nick_rules.problem(self, nick, None, account)):
            problems.append(error)
            nick = None
        if self.roster is not None:
            return claims.connect(
                self, client, nick, rooms, since, problems, address, account, login
            )
        session = Session(
            client,
            nick or nick_rules.next_guest(self),
            nick_changes=MinuteCounter(self.settings.nick_changes_per_minute),
            joins=MinuteCounter(self.settings.joins_per_minute),
            address=address,
            account=account,
            login=login,
        )
        self.sessions[nick_skeleton(session.nick)] = session
        self.traffic.opened(client.transport_name)
        self.welcome(session, rooms, since, problems)
        return session

    def welcome(
        self,
        session: Session,
        rooms: Iterable[str],
        since: dict[str, int] | None,
        problems: list[Error],
    ) -> None:
        """The rest of `connect` once the client has its nick: the welcome, then its rooms."""
        client = session.client
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
        topics = tuple((room, t) for room in wanted if (t := self.room_states.topic_of(room)))
        welcome = Welcome(session.nick, tuple(wanted), self.settings.motd, session.account, topics)
        client.deliver(welcome)
        for error in problems:
            client.deliver(error)
        for room in wanted:
            enter = partial(room_rules.join, self, session, room, None, (since or {}).get(room))
            if session.waiting is None:
                enter()
            else:  # an earlier room is being read from disk: this one joins after it
                session.waiting.append(enter)

    def carry_out(self, item: Order | Outcome) -> None:
        remotemod.received(self, item)

    def handle(self, session: Session, command: cmd.Command) -> None:
        """Carry out one command from `session`'s client (after those it still waits for)."""
        if session.waiting is not None:
            session.waiting.append(command)
            return
        ref = command.ref
        if self._queued and not isinstance(command, cmd.Say | cmd.Me):
            self.flush()
            if session.waiting is not None:  # its messages are in flight: this waits for them
                session.waiting.append(command)
                return
        match command:
            case cmd.Say() | cmd.Me() | cmd.Msg() if self.store.behind() and (
                not self.passes_while_behind(session, command.text)
            ):
                # Unwritten history is getting old: the message waits (unacknowledged, and
                # its sender is not read) until the store catches up, unless its sender is a
                # light one (delivery.py). Private ones too: they may be kept (privatelog.py).
                self.wait_for_store(session, command)
            case cmd.Say(text, room) | cmd.Me(text, room):
                self.traffic.messages_in[session.client.transport_name] += 1
                kind: EventKind = "message" if isinstance(command, cmd.Say) else "action"
                room_rules.say(self, session, kind, text, room, ref)
            case cmd.Join(room):
                room_rules.join_command(self, session, room, ref)
            case cmd.Part(room, reason):
                room_rules.part_command(self, session, room, reason, ref)
            case cmd.Nick(nick):
                nick_rules.rename(self, session, nick, ref)
            case cmd.Who(room):
                room_rules.who(self, session, room, ref)
            case cmd.Rooms() if self.roster is not None:
                room_rules.rooms_command(self, session, ref)
            case cmd.Rooms():
                listing, total = self.room_list(viewer=Viewer(session.account), session=session)
                self.tell(session, RoomList(tuple(listing), total), ref)
            case cmd.History(room, since, limit):
                room_rules.history_command(self, session, room, since, limit, ref, command.before)
            case cmd.Msg(to, text):
                self.traffic.messages_in[session.client.transport_name] += 1
                nick_rules.private(self, session, to, text, ref)
            case cmd.Typing(room):
                signals.typing(self, session, room, ref)
            case cmd.Conversations():
                privatelog.conversations(self, session, ref)
            case cmd.PmHistory(partner, before, limit):
                privatelog.history(self, session, partner, before, limit, ref)
            case cmd.Help():
                self.tell(session, Help(), ref)
            case cmd.Register() | cmd.Identify() | cmd.Logout() | cmd.Password():
                identity.handle(self, session, command)
            case (
                cmd.Topic() | cmd.Grant() | cmd.Kick() | cmd.Ban() | cmd.Unban() | cmd.Bans()
                | cmd.Invite() | cmd.Mode() | cmd.Edit() | cmd.Delete() | cmd.Kill()
                | cmd.GlobalBan() | cmd.GlobalUnban() | cmd.GlobalBans()
            ):  # fmt: skip
                moderation.handle(self, session, command)
            case cmd.Quit(reason):
                # The one reply to a ref'd quit is `ok`; a terminal gets a goodbye line instead.
                self.tell(session, Ok() if ref is not None else Notice("goodbye"), ref)
                self.disconnect(session, clean_text(reason) or "quit")
                session.client.close()

    def disconnect(self, session: Session, reason: str = "connection closed") -> None:
        """Forget a client that has gone; its rooms are told it left. Safe to call twice."""
        self.flush()
        if self.sessions.get(nick_skeleton(session.nick)) is not session:
            return
        del self.sessions[nick_skeleton(session.nick)]
        self.traffic.closed(session.client.transport_name)
        for room in list(session.rooms):
            room_rules.part(self, session, room, reason, None, tell_self=False)
        if self.roster is not None and not session.nick.startswith(claims.PENDING):
            self.roster.release(session.nick)

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
        self.fan_out_held()
        self.presence.flush_all()
        self.closing = True
        readers = {reader: None for room in self.watchers.values() for reader in room}
        sessions = [*self.sessions.values(), *readers]
        for session in sessions:
            session.client.deliver(Notice("server shutting down"))
        return sessions

    def close_session(self, session: Session) -> None:
        session.client.close()

    def add_member(self, room: str, session: Session) -> None:
        self.fan_out_held()  # what was stored before it joined is history to it, not live
        self.members.setdefault(room, {})[session] = None
        self.traffic.joined(room, session.client.transport_name)
        if self.roster is not None:
            self.roster.joined(room, session.nick)

    def remove_member(self, room: str, session: Session) -> None:
        """Take `session` out of `room`; an empty room is closed (the store may let it go)."""
        self.fan_out_held()  # what came before it left (a ban, its kick's cause) reaches it
        members = self.members[room]
        del members[session]
        self.traffic.left(room, session.client.transport_name)
        if self.roster is not None:
            self.roster.left(room, session.nick)
        if not members:
            del self.members[room]
            self.store.close_room(room)

    # --- questions adapters and HTTP ask ------------------------------------------------------

    def room_list(
        self, limit: int | None = None, viewer: Viewer = ANONYMOUS, session: Session | None = None
    ) -> tuple[list[tuple[str, int]], int]:
        """This process's busiest rooms and how many there are (`roomlists.room_list`)."""
        return roomlists.room_list(self, limit, viewer, session)

    def list_rooms(
        self,
        limit: int | None,
        answer: Callable[[Listing | None], None],
        viewer: Viewer = ANONYMOUS,
        session: Session | None = None,
    ) -> None:
        """The busiest rooms of every process (`roomlists.list_rooms`)."""
        roomlists.list_rooms(self, limit, answer, viewer, session)

    def room_members(self, room: str, answer: Callable[[list[str] | None], None]) -> None:
        """The nicks in `room`, in every process (`roomlists.room_members`)."""
        roomlists.room_members(self, room, answer)

    def room_page(
        self,
        after: str,
        limit: int,
        answer: Callable[[list[tuple[str, int]]], None],
        viewer: Viewer = ANONYMOUS,
    ) -> None:
        """A page of every room by name (`roomlists.room_page`)."""
        roomlists.room_page(self, after, limit, answer, viewer)

    def history(
        self,
        room: str,
        since: int | None,
        limit: int | None,
        answer: Answer,
        before: int | None = None,
    ) -> None:
        """Stored events of a (normalized) room: the newest `limit`, those after `since`, or
        the newest `limit` below `before`, to `answer` (at once, or later when they are read
        from disk).

        Without a limit, `since` answers up to `history_max` (whoever asks what they missed
        wants all of it); the newest-first forms answer `history_default`.
        """
        if limit is None:
            limit = self.settings.history_default if since is None else self.settings.history_max
        count = max(0, min(limit, self.settings.history_max))
        query: Query = Recent(count) if since is None else Since(since, count)
        if before is not None:
            query = Before(before, count)
        self.store.read(room, query, answer)

    # --- the rules ----------------------------------------------------------------------------
