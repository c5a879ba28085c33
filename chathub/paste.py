"""A paste on a terminal: plain lines that arrive close together are one message.

Rules:
- A terminal user who pastes a block sends its lines within a moment, and a person typing
  never does (measured with the real clients in tmux: a 50-line paste reached the hub within
  2 ms from telnet and from nc, in two or three reads). Plain lines, the ones that are not
  commands, that follow each other within `window` seconds (default 50 ms) are joined with
  line feeds into one message: one `Say`, one token of the rate limit, one id. So a paste is
  not 50 messages, most of them slowed or dropped by the rate limit.
- What is held goes as one message `window` seconds after its last line, or at once when
  it is full (`lines_max` lines, or one more line would pass `text_max` characters): the next
  line starts the next message. A command, an error or the end of the input sends what is
  held first, so everything keeps its order.
- A blank line inside a paste is kept (a paragraph break); on its own it does nothing, as
  before. With `window` 0 (or no clock) every line is a message of its own.
- The price: a typed line waits `window` seconds before it is sent.
"""

from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from chathub.commands import Command, Say
from chathub.events import Error

DEFAULT_WINDOW = 0.05


class Paste:
    """The plain lines of one connection waiting to become a message."""

    def __init__(
        self,
        clock: IReactorTime | None,
        window: float,
        lines_max: int,
        text_max: int,
        send: Callable[[str], None],
    ) -> None:
        self.clock = clock
        self.window = window if clock is not None else 0.0
        self.lines_max = lines_max
        self.text_max = text_max
        self.send = send
        self._lines: list[str] = []
        self._size = 0  # characters held, with the line feeds between them
        self._timer: IDelayedCall | None = None

    def take(self, command: Command | Error | None) -> bool:
        """Hold `command` if it is a line of a paste (a `Say`, or a blank line while lines are
        held); False when the caller carries it out (after `flush`)."""
        if self.window <= 0:
            return False
        if isinstance(command, Say):
            text = command.text
        elif command is None and self._lines:
            text = ""
        else:
            return False
        if self._lines and self._size + 1 + len(text) > self.text_max:
            self.flush()
        self._lines.append(text)
        self._size += len(text) + (1 if len(self._lines) > 1 else 0)
        if len(self._lines) >= self.lines_max:
            self.flush()
        elif self._timer is not None and self._timer.active():
            self._timer.reset(self.window)
        else:
            assert self.clock is not None
            self._timer = self.clock.callLater(self.window, self.flush)
        return True

    def flush(self) -> None:
        """Send what is held, as one message."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        lines, self._lines, self._size = self._lines, [], 0
        if lines:
            self.send("\n".join(lines))
