"""Presence across processes: the `Roster` over Redis (nicks, members, who, room lists), each
process's heartbeat, and what clients are told when the backplane goes and comes back.

Rules:
- A nick is one process's at a time (Redis's nick table, keyed by `nick_skeleton`, so
  lookalikes are one nick everywhere): `claim` asks the claim script, which grants the first
  free candidate (the nick asked for, then guest nicks from a block this process reserved).
- Members and released nicks are told, not asked (`joined`, `left`, `release`): they are
  batched until the end of the reactor turn, and always sent before any other script, so
  Redis sees them in the order the hub made them. While the backplane is away they are
  dropped, not queued: when it is back the process writes its whole state again (`sync`).
- Liveness, not per-client expiry: every `heartbeat_seconds` a process says it is alive for
  `presence_ttl` more seconds (one script, whatever its number of clients). `who` and `holder`
  leave out the entries of a process whose time ran out, at once; the heartbeat script also
  clears up to ten such processes (their members, nicks and rooms), and the process that
  cleared them announces their parts. A worker killed with -9 leaves everyone's `who` within
  `presence_ttl` seconds, and its rooms hear it within one more heartbeat.
- A heartbeat answered later than the watchdog allows means Redis is gone (`redisconn.py`).
- The backplane lost: every client is told once, with a notice; back: told again. Accounts,
  bans and room settings, when they come, are shared the same way: a table in Redis written
  by a script, read through a protocol like this one that a hub without it answers itself.
"""

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python.failure import Failure

from chathub.broker import Claim, Listing, Publication
from chathub.events import Error, Event, Notice
from chathub.redisconn import Backplane
from chathub.text import nick_skeleton

if TYPE_CHECKING:
    from chathub.hub import Hub
    from chathub.redisbroker import RedisBroker

log = Logger()

GUEST_BLOCK = 64  # guest numbers reserved at a time
MOST_CLEARED = 10  # dead processes one heartbeat clears at most
LOST = (
    "this server lost its link to the other chathub servers (Redis): messages cannot be sent "
    "until it is back; it reconnects by itself"
)
BACK = "this server is linked to the other chathub servers again: you can send messages"
TIMED_OUT = "lost with its server"  # the reason of a part announced for a dead process


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class RedisRoster:
    """The presence half of the Redis broker."""

    def __init__(
        self,
        backplane: Backplane,
        broker: "RedisBroker",
        reactor: Any,
        heartbeat_seconds: float = 2.0,
        presence_ttl: float = 6.0,
    ) -> None:
        self.backplane = backplane
        self.broker = broker
        self.reactor = reactor
        self.hub: Hub | None = None
        self.heartbeat_seconds = heartbeat_seconds
        self.ttl_ms = int(presence_ttl * 1000)
        self._ops: list[str] = []
        self._guests: deque[int] = deque()
        self._leaving: dict[str, list[str]] = {}  # parts while the hub closes, per room
        self._quiet_seq = 0
        self._beat: task.LoopingCall | None = None
        self._synced_once = False
        backplane.before_run = self._flush
        backplane.on_ready.insert(0, self._sync_identity)  # before the store opens rooms again
        backplane.on_ready.append(self._sync_members)
        backplane.on_lost.append(self._lost)
        backplane.on_back.append(self._back)
        backplane.on_close.append(self._leave)

    def attach(self, hub: "Hub") -> None:
        self.hub = hub

    def available(self) -> bool:
        return self.backplane.available

    # --- told ---------------------------------------------------------------------------------

    def release(self, nick: str) -> None:
        self._op("r", "", nick_skeleton(nick), "")

    def joined(self, room: str, nick: str) -> None:
        self._op("+", room, nick_skeleton(nick), nick)

    def left(self, room: str, nick: str) -> None:
        self._op("-", room, nick_skeleton(nick), "")
        if self.hub is not None and self.hub.closing:
            self._leaving.setdefault(room, []).append(nick)

    def _op(self, *op: str) -> None:
        if not self.backplane.available:
            return  # written again, whole, when the backplane is back
        if not self._ops:
            self.reactor.callLater(0, self._flush)
        self._ops.extend(op)

    def _flush(self) -> None:
        ops, self._ops = self._ops, []
        if ops:
            self.backplane.run("roster", self.backplane.origin, *ops).addErrback(self._failed)

    # --- asked --------------------------------------------------------------------------------

    def claim(
        self,
        nick: str | None,
        old: str | None,
        rooms: tuple[str, ...],
        answer: Callable[[Claim | None], None],
    ) -> None:
        if not self.backplane.available:
            self.reactor.callLater(0, answer, None)
            return
        if old is None and len(self._guests) < 2:  # a connect may fall back to a guest nick
            reserved = self.backplane.command(
                "INCRBY", f"{self.backplane.prefix}guests", GUEST_BLOCK
            )
            reserved.addCallback(self._reserved)
            reserved.addCallbacks(
                lambda _: self.claim(nick, old, rooms, answer),
                lambda failure: self._unanswered(failure, answer),
            )
            return
        candidates: list[str] = []
        if nick is not None:
            candidates += [nick_skeleton(nick), nick]
        if old is None:
            for _ in range(2):
                guest = f"guest-{self._guests.popleft()}"
                candidates += [nick_skeleton(guest), guest]
        shown = candidates[1::2]

        def claimed(result: list[Any]) -> None:
            granted, holder = int(result[0]), _text(result[1])
            given = shown[granted - 1] if granted else None
            refused = holder if holder and nick is not None else None
            answer(Claim(given, refused))

        old_key = nick_skeleton(old) if old is not None else ""
        asked = self.backplane.run(
            "claim", self.backplane.origin, old_key, len(shown), *candidates, len(rooms), *rooms
        )
        asked.addCallbacks(claimed, lambda failure: self._unanswered(failure, answer))

    def _reserved(self, last: Any) -> None:
        last = int(last)
        self._guests.extend(range(last - GUEST_BLOCK + 1, last + 1))

    def holder(self, nick: str, answer: Callable[[str | None, bool], None]) -> None:
        if not self.backplane.available:
            self.reactor.callLater(0, answer, None, False)
            return

        def failed(failure: Failure) -> None:
            self._failed(failure)
            answer(None, False)

        asked = self.backplane.run("holder", nick_skeleton(nick))
        asked.addCallbacks(
            lambda value: answer(None if value is None else _text(value), True), failed
        )

    def who(self, room: str, answer: Callable[[list[str] | None], None]) -> None:
        self._ask(answer, lambda nicks: [_text(nick) for nick in nicks], "who", room)

    def rooms(self, limit: int, answer: Callable[[Listing | None], None]) -> None:
        def listing(result: list[Any]) -> Listing:
            flat = result[1]
            pairs = [(_text(flat[i]), int(float(flat[i + 1]))) for i in range(0, len(flat), 2)]
            pairs.sort(key=lambda pair: (-pair[1], pair[0]))
            return pairs, int(result[0])

        self._ask(answer, listing, "rooms", limit)

    def room_page(
        self, after: str, limit: int, answer: Callable[[list[tuple[str, int]] | None], None]
    ) -> None:
        def page(flat: list[Any]) -> list[tuple[str, int]]:
            return [(_text(flat[i]), int(float(flat[i + 1]))) for i in range(0, len(flat), 2)]

        self._ask(answer, page, "page", after, limit)

    def _ask(self, answer: Callable[[Any], None], read: Callable[[Any], Any], *script: Any) -> None:
        if not self.backplane.available:
            self.reactor.callLater(0, answer, None)
            return
        asked = self.backplane.run(*script)
        asked.addCallbacks(
            lambda result: answer(read(result)), lambda f: self._unanswered(f, answer)
        )

    def _unanswered(self, failure: Failure, answer: Callable[[None], None]) -> None:
        self._failed(failure)
        answer(None)

    def _failed(self, failure: Failure) -> None:
        log.error("presence: {error}", error=failure.getErrorMessage())

    # --- liveness -----------------------------------------------------------------------------

    def start(self) -> None:
        self._beat = task.LoopingCall(self.beat)
        self._beat.clock = self.reactor
        self._beat.start(self.heartbeat_seconds, now=False)

    def beat(self) -> "defer.Deferred[Any] | None":
        if not self.backplane.available:
            return None
        beaten = self.backplane.run("beat", self.backplane.origin, self.ttl_ms, MOST_CLEARED)
        self.backplane.watch(beaten)
        beaten.addCallbacks(self._cleared, self._failed)
        return beaten

    def _cleared(self, result: list[Any]) -> int:
        """Announce the parts of the members of processes that were found dead."""
        flat = result[1]
        gone: dict[str, list[str]] = {}
        for i in range(0, len(flat), 2):
            gone.setdefault(_text(flat[i]), []).append(_text(flat[i + 1]))
        for room, nicks in gone.items():
            self._announce_parts(room, nicks, TIMED_OUT)
        return int(result[0])

    def _announce_parts(
        self, room: str, nicks: list[str], reason: str, quiet: bool = False
    ) -> None:
        hub = self.hub
        if hub is None or not nicks:
            return
        several = tuple(nicks) if len(nicks) > 1 else None
        event = Event(room, "part", nicks[0], reason, hub.clock(), nicks=several)
        if quiet:  # for the other processes only: this one is closing
            self._quiet_seq -= 1
            publication = Publication((event,), (room,), (), self.backplane.origin, self._quiet_seq)
            self.broker.publish(publication, quiet=True)
        else:
            hub.publish((event,), (room,))

    # --- the backplane's state ----------------------------------------------------------------

    async def _sync_identity(self) -> None:
        """(Re)connected: say this process is alive, then claim its clients' nicks again; a
        nick another process took meanwhile ends its client's connection."""
        await self.backplane.run("beat", self.backplane.origin, self.ttl_ms, 0)
        hub = self.hub
        if hub is None or not self._synced_once:
            return
        pairs = [
            part for key, session in hub.sessions.items() if key[0] != "\x00"
            for part in (key, session.nick)
        ]  # fmt: skip
        conflicts = await self.backplane.run(
            "sync", self.backplane.origin, "", len(pairs) // 2, *pairs
        )
        for key in conflicts:
            session = hub.sessions.get(_text(key))
            if session is not None:
                message = "another user took your nick while this server was cut off"
                session.client.deliver(Error("nick-taken", message))
                hub.disconnect(session, "nick taken")
                session.client.close()

    async def _sync_members(self) -> None:
        """(Re)connected, rooms opened again: write this process's members of each room again;
        those who left meanwhile are announced now (their parts could not be sent)."""
        hub = self.hub
        first, self._synced_once = not self._synced_once, True
        if hub is None or first:
            return
        for room, members in list(hub.members.items()):
            pairs = [
                part for member in members for part in (nick_skeleton(member.nick), member.nick)
            ]
            gone = await self.backplane.run(
                "sync", self.backplane.origin, room, len(pairs) // 2, *pairs
            )
            self._announce_parts(room, [_text(nick) for nick in gone], "connection closed")

    def _lost(self) -> None:
        self._ops.clear()
        self._tell_everyone(LOST)

    def _back(self) -> None:
        self._tell_everyone(BACK)

    def _tell_everyone(self, text: str) -> None:
        hub = self.hub
        if hub is None or hub.closing:
            return
        readers = {reader: None for room in hub.watchers.values() for reader in room}
        for session in [*hub.sessions.values(), *readers]:
            hub.tell(session, Notice(text))

    async def _leave(self) -> None:
        """The process stops: its rooms hear its clients' parts, then it clears itself."""
        if self._beat is not None and self._beat.running:
            self._beat.stop()
        if not self.backplane.available:
            return
        for room, nicks in self._leaving.items():
            self._announce_parts(room, nicks, "server shutting down", quiet=True)
        self._leaving.clear()
        self._flush()
        try:
            await self.backplane.run("leave", self.backplane.origin)
        except Exception as problem:  # it will be cleared as dead instead
            log.error("could not clear this process from Redis: {error}", error=problem)
