"""Telnet option negotiation, filtered out of a byte stream before it is split into lines.

Pure bytes-in, bytes-out; no I/O. We speak plain NVT: every option a client offers (WILL) is
refused with DONT, every option it asks of us (DO) with WONT, and WONT/DONT are already true, so
they get no answer (answering them could loop). Subnegotiations and the one-byte commands (NOP,
GA, ...) are dropped. IAC IAC is a literal 0xFF byte.

Why not `twisted.conch.telnet`: its parser raises on an unknown byte after IAC (any binary noise
ends the connection) and walks every byte in Python even when there is no IAC at all. Here data
without IAC, nearly all of it, passes through untouched.
"""

IAC = 0xFF
DONT = 0xFE
DO = 0xFD
WONT = 0xFC
WILL = 0xFB
SB = 0xFA
SE = 0xF0

_IAC_BYTE = b"\xff"

# Parser states.
_DATA, _COMMAND, _OPTION, _SUB, _SUB_IAC = range(5)


class TelnetFilter:
    """Splits a telnet stream into application data and the replies our refusals need."""

    def __init__(self) -> None:
        self._state = _DATA
        self._verb = 0

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        """Returns (application data, bytes to send back), for any split of the stream."""
        if self._state == _DATA and _IAC_BYTE not in data:
            return data, b""
        out = bytearray()
        replies = bytearray()
        for byte in data:
            state = self._state
            if state == _DATA:
                if byte == IAC:
                    self._state = _COMMAND
                else:
                    out.append(byte)
            elif state == _COMMAND:
                if byte == IAC:
                    out.append(IAC)
                    self._state = _DATA
                elif byte in (WILL, WONT, DO, DONT):
                    self._verb = byte
                    self._state = _OPTION
                elif byte == SB:
                    self._state = _SUB
                else:  # NOP, GA, AYT, ... and unknown bytes: nothing to do
                    self._state = _DATA
            elif state == _OPTION:
                if self._verb == WILL:
                    replies += bytes((IAC, DONT, byte))
                elif self._verb == DO:
                    replies += bytes((IAC, WONT, byte))
                self._state = _DATA
            elif state == _SUB:
                if byte == IAC:
                    self._state = _SUB_IAC
            else:  # _SUB_IAC
                self._state = _DATA if byte == SE else _SUB
        return bytes(out), bytes(replies)
