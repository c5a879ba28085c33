"""The Redis parts of a hub, made together: the backplane, the store, the broker, the roster.

Rules:
- Made only with `--redis` (and by every worker of `--workers N`): nothing of Redis is imported
  by a hub without it.
- `start` reaches Redis (one line and `BackplaneError` when it cannot) before the service
  listens, and the heartbeat runs from then on; `store.close`, at the end of the drain, lets
  the other processes hear that this one's clients left, clears this process from Redis and
  closes the connections.
"""

from dataclasses import dataclass
from typing import Any

from chathub.config import BackplaneSettings, StoreSettings
from chathub.redisbroker import RedisBroker
from chathub.redisconn import Backplane
from chathub.redispresence import RedisRoster
from chathub.redisstore import RedisStore
from chathub.redisurl import parse_redis_url


@dataclass
class RedisParts:
    backplane: Backplane
    store: RedisStore
    broker: RedisBroker
    roster: RedisRoster

    @property
    def origin(self) -> str:
        return self.backplane.origin

    async def start(self) -> None:
        await self.backplane.start()
        self.roster.start()


def make_redis_parts(
    settings: BackplaneSettings, store: StoreSettings, reactor: Any, max_open_rooms: int
) -> RedisParts:
    assert settings.redis is not None
    backplane = Backplane(reactor, parse_redis_url(settings.redis))
    history = RedisStore(
        backplane,
        reactor,
        store.retain_messages,
        store.retain_days,
        store.history_memory * 1024 * 1024,
        max_open_rooms,
    )
    broker = RedisBroker(backplane, history)
    roster = RedisRoster(
        backplane, broker, reactor, settings.heartbeat_seconds, settings.presence_ttl
    )
    return RedisParts(backplane, history, broker, roster)
