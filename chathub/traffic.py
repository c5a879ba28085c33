"""Traffic by transport: messages in and deliveries out, counted without work per delivery.

Rules:
- Pure; the hub and the streams add to it, `/metrics` reads it.
- A room publication is counted per transport from each room's member counts by transport,
  kept up to date as members come and go, so a fan-out to 10,000 members adds a few integers,
  not 10,000.
- Transport names are the metric's `transport` label: `telnet`, `ws`, `sse`, `http`.
"""

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Traffic:
    """Counts since start, by transport name."""

    messages_in: Counter[str] = field(default_factory=Counter)
    deliveries: Counter[str] = field(default_factory=Counter)
    connections: Counter[str] = field(default_factory=Counter)  # open now
    connections_opened: Counter[str] = field(default_factory=Counter)
    # room -> its members by transport
    rooms: dict[str, Counter[str]] = field(default_factory=dict)

    def joined(self, room: str, transport: str) -> None:
        self.rooms.setdefault(room, Counter())[transport] += 1

    def left(self, room: str, transport: str) -> None:
        members = self.rooms.get(room)
        if members is None:
            return
        members[transport] -= 1
        if members[transport] <= 0:
            del members[transport]
        if not members:
            del self.rooms[room]

    def delivered_to_room(self, room: str, items: int) -> None:
        for transport, members in self.rooms.get(room, {}).items():
            self.deliveries[transport] += members * items

    def opened(self, transport: str) -> None:
        self.connections[transport] += 1
        self.connections_opened[transport] += 1

    def closed(self, transport: str) -> None:
        self.connections[transport] -= 1
