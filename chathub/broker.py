"""The Broker: where every event for more than one client leaves a hub, and how it comes back.

Rules (decided here, so that a broker for many processes is an implementation, not a redesign):
- One publish point. The hub hands every event that reaches more than one client (room
  messages, actions, joins, parts, nick changes, private messages) to `Broker.publish` as a
  `Publication`, and delivers nothing of it itself. The broker hands each publication back to
  every hub attached to it (`Receiver.receive`); each hub delivers it to its own members of the
  publication's rooms and to its own holders of its nicks, each at most once. Nothing else fans
  out.
- Ids are the broker's. Events of stored kinds reach the broker without an id, and the broker
  gives each its room's next id as it stores it: the `LocalBroker` through the `Store` (one
  process, ids from the store's counters); a broker for many processes from the shared
  backplane in one atomic step that allocates the id, appends to the room's history and
  publishes (Redis: one Lua script), so ids are strictly increasing per room across processes.
- One order per room. A broker hands one room's publications to every hub in the same order,
  the order of their ids (the local broker: the order of the calls; a Redis broker: the order
  of each process's channel, which is the order of the script's runs).
- Replies find their sender through the publication's `origin` (the publishing hub's id) and
  `seq` (its number there). Only the origin hub knows which of its sessions sent which item
  with which `ref`; other hubs deliver every item plainly. A hub keeps what it waits for in a
  table it bounds itself.
- Synchronous or not. The local broker calls `receive` before `publish` returns. A remote one
  calls it later, from the reactor; a hub must then keep a client's direct replies behind the
  publications it is still waiting for (ordering per client), which the local broker never
  needs. A remote broker hands over what arrived together (one read from its connection) with
  `together=True`, then calls `read_over`: the hub may deliver a room's run of them as one.
- Failure is said, never silent. `publish` returns False when the publication cannot reach
  every process (the backplane is down): the hub answers its sender with an `unavailable`
  error and nobody sees the event. A publication already in flight when the backplane goes
  is handed back as lost (`Receiver.lost`), and its senders are told the same. The local
  broker never fails.
- Presence across processes is a `Roster`: who holds which nick, who is in which room, which
  rooms there are. A hub without one (the local broker's) knows all of it itself.
- Pure: no twisted, no I/O of its own; a broker that talks to a network gets its reactor and
  client injected.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from chathub.events import STORED_KINDS, Event, Private
from chathub.store import Store


@dataclass(frozen=True, slots=True)
class Order:
    """A moderation command about a nick another process holds, sent to that process to be
    carried out there (`remotemod.py`); never delivered to a client, never stored."""

    token: str  # the actor's process and a number: how the outcome finds its command
    command: str  # "kick", "kill", "grant", "invite"
    by: str  # the actor's nick
    account: str | None  # the actor's account: its rank there comes from the shared records
    target: str  # the nick
    room: str | None
    text: str  # the reason (kick, kill), or the change (grant: "+voice", "-op", ...)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an `Order` went, sent back to the actor's nick: a notice (`code` None) or an
    error's code and text."""

    token: str
    code: str | None
    text: str


Item = Event | Private | Order | Outcome


@dataclass(frozen=True, slots=True)
class Publication:
    """Items for several clients: the members of `rooms` and the holders of `nicks`.

    `items` are the events of one room (a batch of messages from one read, a join, a part), a
    nick change (whose `rooms` are the renamed client's rooms and whose `nicks` hold the new
    nick, so a client in no room hears of it too) or one private message (`nicks`: recipient
    and sender). Nicks are in `nick_skeleton` form (the hub's key for a nick).
    """

    items: tuple[Item, ...]
    rooms: tuple[str, ...] = ()
    nicks: tuple[str, ...] = ()
    origin: str = ""
    seq: int = 0
    exclude: tuple[str, ...] = ()  # nick keys not to deliver to (told already)


class Receiver(Protocol):
    """What a broker hands publications to: a hub."""

    def receive(self, publication: Publication, together: bool = False) -> None:
        """Deliver `publication`; `together`: more follow at once (a read's worth), and a
        room's events may wait for them, until `read_over`."""

    def read_over(self) -> None:
        """The broker has handed over all it had together: what `receive` held may go (the
        receiver's fan-out window may hold it a little longer)."""

    def fan_out_held(self) -> None:
        """Deliver what `receive` held now: something that must come after it is next."""

    def lost(self, publication: Publication) -> None:
        """One of this receiver's own publications will never be handed back."""


class Broker(Protocol):
    def attach(self, receiver: Receiver) -> None:
        """Hand every publication, this hub's own included, to `receiver` from now on."""

    def publish(self, publication: Publication) -> bool:
        """Store what is kept (giving it ids), then hand it to every attached hub; False when
        that cannot be done (nothing was stored or delivered)."""


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to a nick claim: the nick now this process's (None: none), and who holds
    the nick asked for when another process has it."""

    nick: str | None
    holder: str | None = None


# A listing of rooms: the busiest (name, members), and how many rooms there are.
Listing = tuple[list[tuple[str, int]], int]


class Roster(Protocol):
    """Who is where across every process that shares a backplane: the presence half of a
    broker for many processes. Its answers come later, from the reactor; None means the
    backplane cannot be reached (the hub then answers `unavailable`).

    Nicks are given as shown; the roster keys them by `nick_skeleton`, as the hub does. What
    is only told (`release`, `joined`, `left`) is applied in the order told; while the
    backplane is away it is not queued: the process's whole state is written again when it
    is back."""

    def available(self) -> bool:
        """Whether the backplane can be reached now."""

    def claim(
        self,
        nick: str | None,
        old: str | None,
        rooms: tuple[str, ...],
        answer: Callable[[Claim | None], None],
    ) -> None:
        """Make `nick` this process's unless another process holds it (None, or refused at
        connect: a free `guest-N` instead); `old` is released, and the entries of `rooms`
        renamed with it."""

    def release(self, nick: str) -> None:
        """`nick` is no longer held here."""

    def joined(self, room: str, nick: str) -> None: ...

    def left(self, room: str, nick: str) -> None: ...

    def holder(self, nick: str, answer: Callable[[str | None, bool], None]) -> None:
        """The nick as its holder shows it, anywhere (None: nobody), and whether the
        backplane answered at all."""

    def who(self, room: str, answer: Callable[[list[str] | None], None]) -> None:
        """The nicks in `room`, in every live process."""

    def rooms(self, limit: int, answer: Callable[[Listing | None], None]) -> None:
        """The busiest rooms (most members first, then by name), and the number of rooms."""

    def room_page(
        self, after: str, limit: int, answer: Callable[[list[tuple[str, int]] | None], None]
    ) -> None:
        """Rooms with members or history whose names sort after `after`, with member counts."""


class LocalBroker:
    """One process: ids from the `Store`, delivery by a direct call."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._receivers: list[Receiver] = []

    def attach(self, receiver: Receiver) -> None:
        self._receivers.append(receiver)

    def publish(self, publication: Publication) -> bool:
        items = publication.items
        if any(type(item) is Event and item.kind in STORED_KINDS for item in items):
            publication = Publication(
                tuple(_stored(self.store, item) for item in items),
                publication.rooms,
                publication.nicks,
                publication.origin,
                publication.seq,
                publication.exclude,
            )
        for receiver in self._receivers:
            receiver.receive(publication)
        return True


def _stored(store: Store, item: Item) -> Item:
    if type(item) is Event and item.kind in STORED_KINDS:
        return store.append(item)
    return item
