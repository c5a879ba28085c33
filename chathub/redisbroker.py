"""The Broker for many processes: publications go through Redis, one Lua script each.

Rules (broker.py's, carried out over Redis):
- One channel per process, not per room. The publish script sends a publication to the channel
  of every process that has one of its rooms open, holds one of its nicks, or published it:
  each process gets it once, whatever the number of reasons (a nick change for members of
  three rooms here, a private message), and delivers it to its own clients once. A process
  needs one subscription for its whole life (re-made after a reconnect), never one per room
  joined, so joining and leaving rooms costs no SUBSCRIBE round trip and leaves no window
  where a room's channel is not yet subscribed. Because every publication a process gets comes
  down one channel, it gets them in the order the script ran: one room's publications reach
  every process in the order of their ids.
- Ids are given by the script, with the room's history appended and the PUBLISH in the same
  atomic step; `floor` (the highest id this process has seen of the room) keeps ids from ever
  going back, even if Redis lost its data.
- A publication of this process comes back on its channel: its own items are used again (only
  the ids are read), so the publisher decodes nothing; other processes decode it once, then
  deliver the same objects to all their members. Replies find their sender by `origin`/`seq`.
- In flight: a publication is in flight from the script's call until it comes back on the
  channel. `publish` returns False at once, and sends nothing, while the backplane is away or
  more than `MAX_IN_FLIGHT` are in flight; when the backplane goes, every publication in
  flight is handed back as lost (its senders are told `unavailable`). Nothing is queued.
- What reaches a room goes past the store first (`RedisStore.incoming`), which keeps recent
  history in memory, holds a room's publications while the room is being opened, and drops
  any that its snapshot already covered.
- The pushes of one read from the channel (`reading`, around the backplane's parse of it) are
  handed to the hubs together, and the hubs are told when the read is over (`read_over`):
  a busy process writes each member once per read, not once per message. Anything else the
  channel brings (a change to the records) first has what is held delivered.
"""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from twisted.logger import Logger
from twisted.python.failure import Failure

from chathub.broker import Publication, Receiver
from chathub.events import STORED_KINDS, Event
from chathub.redisconn import Backplane
from chathub.redisstore import RedisStore
from chathub.rediswire import decode_item, encode_item, entry, with_ids

log = Logger()

MAX_IN_FLIGHT = 5_000  # publications sent and not back: past it, publish refuses
BEHIND = 1_000  # past it, the store says it is behind: new messages wait (their senders held)


class RedisBroker:
    """Publishes through the backplane's script; hands back what comes down its channel."""

    def __init__(self, backplane: Backplane, store: RedisStore) -> None:
        self.backplane = backplane
        self.store = store
        self.origin = backplane.origin
        self._origin_bytes = self.origin.encode()
        self._receivers: list[Receiver] = []
        self._in_flight: dict[int, Publication] = {}
        self._quiet: set[int] = set()  # published for the others only (the hub is closing)
        self._caught_up: list[Callable[[], None]] = []
        self._reading = False  # inside a read from the channel: pushes are handed over together
        backplane.on_push = self.pushed
        backplane.on_read = self.reading
        backplane.on_lost.append(self._lost)
        store.broker = self

    def attach(self, receiver: Receiver) -> None:
        self._receivers.append(receiver)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def behind(self) -> bool:
        return len(self._in_flight) > BEHIND

    def when_caught_up(self, callback: Callable[[], None]) -> None:
        if not self.behind():
            callback()
        else:
            self._caught_up.append(callback)

    # --- out ----------------------------------------------------------------------------------

    def publish(self, publication: Publication, quiet: bool = False) -> bool:
        """Send `publication` through the script; False (nothing sent) when it cannot go."""
        if not self.backplane.available or len(self._in_flight) >= MAX_IN_FLIGHT:
            return False
        items = publication.items
        stored = [
            entry(item) for item in items if type(item) is Event and item.kind in STORED_KINDS
        ]
        rooms = publication.rooms
        floor = self.store.last_id(rooms[0]) if stored else 0
        body = {"i": [encode_item(item) for item in items], "r": rooms}
        if publication.nicks:
            body["n"] = publication.nicks
        if publication.exclude:
            body["x"] = publication.exclude
        payload = (
            b"%s %d " % (self._origin_bytes, publication.seq)
            + json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        )
        maxlen = self.store.retain_messages
        args = [self.origin, maxlen, floor, len(stored), *stored, len(rooms), *rooms]
        args += [len(publication.nicks), *publication.nicks, payload]
        seq = publication.seq
        self._in_flight[seq] = publication
        if quiet:
            self._quiet.add(seq)
        self.backplane.run("publish", *args).addErrback(self._failed, seq)
        return True

    def _failed(self, failure: Failure, seq: int) -> None:
        """The script did not run (or its answer was lost): it will not come back."""
        publication = self._in_flight.pop(seq, None)
        if publication is not None:
            log.error("publish failed: {error}", error=failure.getErrorMessage())
            self._quiet.discard(seq)
            self._hand_back_lost(publication)

    def _lost(self) -> None:
        """The backplane went: nothing in flight will come back."""
        lost, self._in_flight = self._in_flight, {}
        self._quiet.clear()
        for publication in lost.values():
            self._hand_back_lost(publication)
        self._check_caught_up()

    def _hand_back_lost(self, publication: Publication) -> None:
        for receiver in self._receivers:
            receiver.lost(publication)
        self._check_caught_up()

    # --- in -----------------------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[None]:
        """The pushes of one read: handed over together, delivered when it is over."""
        if self._reading:  # never nested; a parse that calls back into a parse is one read
            yield
            return
        self._reading = True
        try:
            yield
        finally:
            self._reading = False
            for receiver in self._receivers:
                receiver.read_over()

    def _fan_out_held(self) -> None:
        for receiver in self._receivers:
            receiver.fan_out_held()

    def pushed(self, message: bytes) -> None:
        """One publication from this process's channel: `FIRST ORIGIN SEQ JSON`."""
        if message.startswith(b"R "):  # a change to the records (redisrecords.py)
            self._fan_out_held()  # what came before it is delivered before its effects
            if message.split(b" ", 2)[1] != self._origin_bytes:
                self.store.records.pushed(message.split(b" ", 3)[-1])
            return
        try:
            first_text, origin, seq_text, body = message.split(b" ", 3)
            first, seq = int(first_text), int(seq_text)
            own = self._in_flight.pop(seq, None) if origin == self._origin_bytes else None
            if own is not None:
                items = own.items
                publication = Publication(
                    with_ids(items, first) if first else items,
                    own.rooms, own.nicks, self.origin, seq, own.exclude,
                )  # fmt: skip
                if seq in self._quiet:
                    self._quiet.discard(seq)
                    self._check_caught_up()
                    return
            else:
                data = json.loads(body)
                items = tuple(decode_item(fields) for fields in data["i"])
                publication = Publication(
                    with_ids(items, first) if first else items,
                    tuple(data["r"]), tuple(data.get("n", ())), origin.decode(), seq,
                    tuple(data.get("x", ())),
                )  # fmt: skip
        except (ValueError, KeyError, TypeError) as problem:
            log.error("unreadable publication on the channel: {problem}", problem=problem)
            return
        self.store.incoming(publication, self.deliver)
        if own is not None:
            self._check_caught_up()

    def deliver(self, publication: Publication) -> None:
        together = self._reading
        for receiver in self._receivers:
            receiver.receive(publication, together)

    def _check_caught_up(self) -> None:
        if self._caught_up and not self.behind():
            waiting, self._caught_up = self._caught_up, []
            for callback in waiting:
                callback()
