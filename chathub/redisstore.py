"""History in Redis: one stream per room, shared by every process; recent history in memory.

Rules (store.py's, over Redis):
- Messages are appended by the broker's publish script, never here: `append` is not used with
  a `RedisBroker`. A room's stream keeps about `retain_messages` entries (MAXLEN); reads never
  answer more than the newest `retain_messages` ids, nor anything older than `retain_days`.
- A room is opened (`open_room`) before anyone here joins or reads it: one script makes this
  process's channel get the room's publications from then on and reads the room's last id and
  newest messages, in one step. Publications of a room being opened wait (`incoming` holds
  them) until that answer is in, then those the answer covered are dropped and the others go
  on, so nothing is missed and nothing comes twice.
- The delivery point: for each open room, the id of the last message delivered here. Every
  answer (`read`) is joined up with it, whenever Redis answered: it holds every message
  delivered here up to then that it asks for, and none that is still on its way (that one
  will be delivered live). A join's replay and an SSE stream's catch-up rely on this. The point
  moves as a publication passes `incoming`; a hub may hold the pushes of one read a moment
  longer (delivery.py), and delivers them before it adds a member or a reader, so to whoever
  joins they are history, not live.
- Memory: the open rooms' recent messages in a `HistoryCache` under `--history-memory`; reads
  it covers are answered at once. A room without members or readers for `IDLE_SECONDS` is
  closed at the next `prune`: its channel stops, its memory goes.
- Reads answer later, from the reactor, like the SQLite store's file reads; when Redis cannot
  be reached they answer what memory holds, or nothing (and log it).
- While the backplane is away, rooms stay open; when it is back every open room is opened
  again, and the messages published meanwhile (that its members missed) are delivered first.
- The counter (`/counter`) is Redis's INCR: one count for every process.
- An edit or a deletion is kept in Redis beside the stream (the room's `edits` hash and `gone`
  set, which the read scripts apply) and in memory at once; the `edit` or `delete` event that
  announces it corrects the other processes' memory as it passes (`incoming`).
- Accounts, log-ins, rooms' settings and roles, and bans are `redisrecords.py`'s.
- Kept private messages (`privatelog.py`) are this process's, in memory: not shared with the
  other processes and not kept over a restart (a known limit of many processes).
"""

from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python.failure import Failure

from chathub.broker import Publication
from chathub.cache import HistoryCache, pack
from chathub.events import Event
from chathub.privatelog import MemoryPrivateLog
from chathub.records import Change, SavedState
from chathub.redisconn import Backplane
from chathub.redisrecords import RedisRecords
from chathub.rediswire import parse_entries
from chathub.store import (
    DEFAULT_HISTORY_MEMORY,
    DEFAULT_RETAIN_DAYS,
    DEFAULT_RETAIN_MESSAGES,
    Answer,
    Before,
    Query,
    Recent,
    Since,
    StoreHealth,
    age_cutoff,
    from_memory,
)

if TYPE_CHECKING:
    from chathub.redisbroker import RedisBroker

log = Logger()

HOT_MESSAGES = 100  # the newest messages read into memory when a room is opened
IDLE_SECONDS = 30.0  # a room without members here is closed after this long
MAX_OPEN_ROOMS = 10_000
MARGIN = 64  # read this many more than asked: some may not be delivered here yet

Deliver = Callable[[Publication], None]


class RedisStore:
    """Rooms' history in Redis streams; the open rooms' recent messages in memory."""

    def __init__(
        self,
        backplane: Backplane,
        reactor: Any,
        retain_messages: int = DEFAULT_RETAIN_MESSAGES,
        retain_days: float = DEFAULT_RETAIN_DAYS,
        history_memory: int = DEFAULT_HISTORY_MEMORY,
        max_open_rooms: int = MAX_OPEN_ROOMS,
    ) -> None:
        self.backplane = backplane
        self.reactor = reactor
        self.retain_messages = retain_messages
        self.retain_days = retain_days
        self.max_open_rooms = max_open_rooms
        self.cache = HistoryCache(history_memory, retain_messages)
        self.broker: RedisBroker | None = None  # set by the broker: it knows what is in flight
        self._last: dict[str, int] = {}  # open rooms: the last id delivered here
        self._opening: dict[str, list[Callable[[], None]]] = {}
        self._held: dict[str, list[tuple[Publication, Deliver]]] = {}
        self._idle: OrderedDict[str, float] = OrderedDict()  # open rooms nobody here is in
        self.records = RedisRecords(backplane)
        self.privates = MemoryPrivateLog()
        backplane.on_ready.append(self._reopen_all)

    # --- rooms --------------------------------------------------------------------------------

    def open_room(self, room: str, ready: Callable[[], None]) -> None:
        if room in self._opening:
            self._opening[room].append(ready)
            return
        if room in self._last:
            self._idle.pop(room, None)
            ready()
            return
        if not self.backplane.available:  # opened for real when the backplane is back
            self._last[room] = 0
            ready()
            return
        self._open(room, [ready])

    def _open(self, room: str, waiting: list[Callable[[], None]]) -> "defer.Deferred[None]":
        """Read the room's snapshot, its channel following from then on; the room's
        publications wait meanwhile. `_last` keeps the delivery point of a room opened
        again (after the backplane was away)."""
        self._opening[room] = waiting
        self._held[room] = []
        previous = self._last.get(room)
        done: defer.Deferred[None] = defer.Deferred()

        def opened(result: list[Any]) -> None:
            top, entries = int(result[0]), result[1]
            events = parse_entries(room, entries)
            events.reverse()  # oldest first
            self.cache.forget(room)
            complete = len(entries) < HOT_MESSAGES
            self.cache.start(room, [pack(event) for event in events], complete)
            last = previous if previous is not None else top
            missed = tuple(event for event in events if event.id is not None and event.id > last)
            self._last[room] = max(top, last)
            self._opened(room, missed)

        def failed(failure: Failure) -> None:
            log.error(
                "cannot open room {room}: {error}", room=room, error=failure.getErrorMessage()
            )
            self._last.setdefault(room, 0)  # it still works; opened again when Redis is back
            self._opened(room, ())

        started = self.backplane.run(
            "open", self.backplane.origin, room, HOT_MESSAGES, self.retain_messages
        )
        started.addCallbacks(opened, failed).addBoth(lambda _: done.callback(None))
        return done

    def _opened(self, room: str, missed: tuple[Event, ...]) -> None:
        held = self._held.pop(room, [])
        waiting = self._opening.pop(room, [])
        if missed and self.broker is not None:  # published while this process was cut off
            self.broker.deliver(Publication(missed, (room,)))
        for publication, deliver in held:
            self._take(publication, deliver)
        for ready in waiting:
            ready()
        self._close_idle_rooms()

    def close_room(self, room: str) -> None:
        if room in self._last:
            self._idle[room] = self.reactor.seconds()
            self._idle.move_to_end(room)

    def is_open(self, room: str) -> bool:
        return room in self._last

    def rooms(self) -> list[str]:
        return list(self._last)

    def room_count(self) -> int:
        return len(self._last)

    def room_names(self, after: str, limit: int, answer: Callable[[list[str]], None]) -> None:
        answer(sorted(name for name in self._last if name > after)[:limit])  # the roster's

    def last_id(self, room: str) -> int:
        return self._last.get(room, 0)

    def _close_idle_rooms(self, older_than: float | None = None) -> None:
        now = self.reactor.seconds()
        closing: list[str] = []
        for room in list(self._idle):
            too_many = len(self._last) - len(closing) > self.max_open_rooms
            too_old = older_than is not None and now - self._idle[room] > older_than
            if not (too_many or too_old):
                break
            del self._idle[room]
            closing.append(room)
        if not closing:
            return
        for room in closing:
            del self._last[room]
            self.cache.forget(room)
        if self.backplane.available:
            self.backplane.run("close", self.backplane.origin, *closing).addErrback(_logged)

    # --- what comes down the channel ------------------------------------------------------------

    def incoming(self, publication: Publication, deliver: Deliver) -> None:
        """Keep a room's new messages in memory and pass the publication on (`deliver`), or
        hold it while its room is being opened, or drop it if that room's snapshot had it."""
        rooms = publication.rooms
        if len(rooms) == 1 and rooms[0] in self._held:
            self._held[rooms[0]].append((publication, deliver))
        elif len(rooms) == 1:
            self._take(publication, deliver)
        else:
            deliver(publication)  # a nick change or a private message: nothing stored

    def _take(self, publication: Publication, deliver: Deliver) -> None:
        room = publication.rooms[0]
        last = self._last.get(room)
        for item in publication.items:
            if type(item) is Event and item.message_id is not None:
                if item.kind == "edit":
                    self.cache.edit(room, item.message_id, item.text)
                elif item.kind == "delete":
                    self.cache.delete(room, item.message_id)
        if last is not None:
            stored = [
                item for item in publication.items if type(item) is Event and item.id is not None
            ]
            if stored:
                first = stored[0].id
                assert first is not None
                if first <= last:
                    return  # the room's snapshot had it, so did those who were there
                for event in stored:
                    self.cache.append(room, event, on_disk=True)
                self._last[room] = stored[-1].id  # type: ignore[assignment]
        deliver(publication)
        if publication.origin != self.backplane.origin:
            for item in publication.items:
                if type(item) is Event and item.kind == "ban":
                    self.records.announced(item)

    # --- reading ------------------------------------------------------------------------------

    def read(self, room: str, query: Query, answer: Answer) -> None:
        events: list[Event] | None = None
        if room in self._last and room not in self._opening:
            events = from_memory(self.cache, room, query)
        if events is not None:
            answer(self._fresh(events))
            return
        self._read_redis(room, query, answer, attempts=3)

    def _read_redis(self, room: str, query: Query, answer: Answer, attempts: int) -> None:
        before = 0
        match query:
            case Recent(count):
                after, asked = -1, count + MARGIN
            case Since(after, limit):
                asked = limit
            case Before(before, limit):
                after, asked = -1, limit

        def done(result: list[Any]) -> None:
            top, entries = int(result[0]), result[1]
            events = parse_entries(room, entries)
            if after < 0:
                events.reverse()  # newest first from Redis
            last = self._last.get(room) if room not in self._opening else None
            if last is not None and last > 0:
                # Joined up with the delivery point: what came here after Redis answered, from
                # memory; what has not come here yet is left out (it will, live).
                reached_top = after < 0 or len(entries) < asked
                if reached_top and top < last and before == 0:
                    newer = self.cache.newer(room, max(top, after))
                    if newer is None and attempts > 1:
                        self._read_redis(room, query, answer, attempts - 1)
                        return
                    events += newer or []
                events = [event for event in events if event.id is not None and event.id <= last]
            match query:
                case Recent(count):
                    events = events[-count:] if count else []
                case Since(_, limit):
                    events = events[:limit]
                case Before(_, limit):
                    events = events[-limit:] if limit else []
            answer(self._fresh(events))

        def failed(failure: Failure) -> None:
            log.error(
                "cannot read history of {room}: {error}", room=room,
                error=failure.getErrorMessage(),
            )  # fmt: skip
            answer([])

        read = self.backplane.run("read", room, after, asked, self.retain_messages, before)
        read.addCallbacks(done, failed)

    def _fresh(self, events: list[Event]) -> list[Event]:
        cutoff = age_cutoff(self.retain_days, self.reactor.seconds())
        if cutoff is None:
            return events
        return [event for event in events if event.ts >= cutoff]

    # --- the rest of the Store ----------------------------------------------------------------

    def load_state(self) -> SavedState:
        return self.records.load_state()

    def save(self, change: Change) -> None:
        self.records.save(change)

    def edit_message(self, room: str, id: int, text: str) -> None:
        self.cache.edit(room, id, text)
        key = f"{self.backplane.prefix}room:{room}:edits"
        self.backplane.command("HSET", key, id, text).addErrback(_logged)

    def delete_message(self, room: str, id: int) -> None:
        self.cache.delete(room, id)
        key = f"{self.backplane.prefix}room:{room}:"
        self.backplane.command("SADD", key + "gone", id).addErrback(_logged)
        self.backplane.command("HDEL", key + "edits", id).addErrback(_logged)

    def append(self, event: Event) -> Event:
        raise RuntimeError("with Redis, the broker's publish script stores messages")

    def bump_counter(self, name: str) -> int:
        raise RuntimeError("with Redis, counters answer later: use count()")

    def count(self, name: str, answer: Callable[[int | None], None]) -> None:
        def failed(failure: Failure) -> None:
            log.error("cannot count {name}: {error}", name=name, error=failure.getErrorMessage())
            answer(None)

        key = f"{self.backplane.prefix}counter:{name}"
        self.backplane.command("INCR", key).addCallbacks(lambda value: answer(int(value)), failed)

    def prune(self) -> None:
        """Close rooms idle here; trim what is past `retain_days` from the open rooms."""
        self._close_idle_rooms(older_than=IDLE_SECONDS)
        cutoff = age_cutoff(self.retain_days, self.reactor.seconds())
        if cutoff is None or not self.backplane.available:
            return
        for room in list(self._last):
            self.cache.drop_older(room, cutoff)
            self._trim_older(room, cutoff)

    def _trim_older(self, room: str, cutoff: float) -> None:
        log_key = f"{self.backplane.prefix}room:{room}:log"

        def oldest(entries: list[Any]) -> None:
            events = parse_entries(room, entries)
            keep = next((event.id for event in events if event.ts >= cutoff), None)
            if keep is None and events:
                keep = (events[-1].id or 0) + 1
            if keep is not None:
                trim = self.backplane.command("XTRIM", log_key, "MINID", f"{keep}-0")
                trim.addErrback(_logged)

        read = self.backplane.command("XRANGE", log_key, "-", "+", "COUNT", 1000)
        read.addCallbacks(oldest, _logged)

    def health(self) -> StoreHealth:
        flying = self.broker.in_flight if self.broker is not None else 0
        return StoreHealth(self.backplane.available, flying, self.backplane.error)

    def behind(self) -> bool:
        return self.broker is not None and self.broker.behind()

    def when_caught_up(self, callback: Callable[[], None]) -> None:
        if self.broker is None:
            callback()
        else:
            self.broker.when_caught_up(callback)

    def close(self, seconds: float = 10.0) -> "defer.Deferred[int]":
        """Wait (at most `seconds`) for what is in flight; then the backplane closes."""
        return defer.ensureDeferred(self._close(seconds))

    async def _close(self, seconds: float) -> int:
        waited = 0.0
        while self.broker is not None and self.broker.in_flight and waited < seconds:
            await _sleep(self.reactor, 0.05)
            waited += 0.05
        unsent = self.broker.in_flight if self.broker is not None else 0
        await self.backplane.close()
        return unsent

    # --- the backplane came back ------------------------------------------------------------------

    def _reopen_all(self) -> "defer.Deferred[Any]":
        """Open every open room again: the channel follows them again, memory starts again
        from a fresh snapshot, and what was published meanwhile is delivered first."""
        reopening = [self._open(room, self._opening.pop(room, [])) for room in list(self._last)]
        return defer.gatherResults(reopening, consumeErrors=True)


def _logged(failure: Failure) -> None:
    log.error("backplane command failed: {error}", error=failure.getErrorMessage())


def _sleep(reactor: Any, seconds: float) -> "defer.Deferred[None]":
    return task.deferLater(reactor, seconds, lambda: None)
