"""A `Client` for core tests: keeps everything the hub delivers to it."""

from dataclasses import dataclass, field

from chathub.commands import Ref
from chathub.events import Event, Outgoing


@dataclass(eq=False)
class RecordingClient:
    transport_name: str = "test"
    received: list[tuple[Outgoing, Ref | None]] = field(default_factory=list)
    closed: bool = False

    def deliver(self, item: Outgoing, ref: Ref | None = None) -> None:
        self.received.append((item, ref))

    def deliver_events(self, events: tuple[Event, ...]) -> None:
        for event in events:
            self.deliver(event)

    def close(self) -> None:
        self.closed = True

    def hold_input(self, held: bool) -> None:
        """The hub asks to stop or resume reading: a recording has no input to hold."""

    @property
    def items(self) -> list[Outgoing]:
        return [item for item, _ in self.received]

    def of_type(self, kind: type) -> list:
        return [item for item in self.items if isinstance(item, kind)]

    def clear(self) -> None:
        self.received.clear()
