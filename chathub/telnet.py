"""Telnet option negotiation, filtered out of a byte stream before it is split into lines.

Pure bytes-in, bytes-out; no I/O. The hub asks for two options when a client connects
(`PREAMBLE`) and refuses every other:
- BINARY (RFC 856), both ways: the Debian `telnet` client (netkit) otherwise takes bytes
  0x80-0x9F, which UTF-8 is full of, for control characters (0x9C is its ^\\ "quit"): typed
  `本` would arrive as IAC BRK, and shown `Ü` would be mangled.
- NAWS (RFC 1073), from the client: its window width, so the hub can wrap long lines itself
  (`width`; None until reported, or when reported as 0).
IAC IP (Interrupt Process: what telnet sends for Ctrl-C) becomes the byte a terminal sends for
Ctrl-C, 0x03, in the data: the adapter decides what it means.
Negotiation follows RFC 1143's rules without its queue: a request we made is answered by the
client's agreement or refusal, which needs no reply; anything else the client offers (WILL) is
refused with DONT, anything it asks of us (DO) with WONT; a WONT/DONT for an option that is
already off gets no answer, so nothing can loop. Subnegotiations other than NAWS and the
one-byte commands (NOP, GA, ...) are dropped. IAC IAC is a literal 0xFF byte.

The preamble goes inside an APC string (`ESC _ ... ESC \\`): a telnet client takes the IAC
sequences out and shows an empty APC, which terminals ignore; `nc` hands the bytes to the
terminal, which ignores the whole string instead of drawing the invalid UTF-8 as `�`. A raw
client (a script) sees the 13 bytes before the greeting.

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
IP = 0xF4  # Interrupt Process: Ctrl-C in telnet
CTRL_C = 0x03

BINARY = 0
NAWS = 31

_IAC_BYTE = b"\xff"

# Parser states.
_DATA, _COMMAND, _OPTION, _SUB, _SUB_IAC = range(5)

# Option states (RFC 1143 without the queue bits).
_NO, _WANT_YES, _YES = range(3)

# What the client may do (WILL) and what we do (DO) when asked, and what we ask for at once.
_THEIRS = frozenset((BINARY, NAWS))
_OURS = frozenset((BINARY,))

PREAMBLE = b"\x1b_" + bytes((IAC, DO, NAWS, IAC, DO, BINARY, IAC, WILL, BINARY)) + b"\x1b\\"

# A NAWS subnegotiation is 4 bytes (each 0xFF doubled); anything longer is not kept.
_SUB_MAX = 16


class TelnetFilter:
    """Splits a telnet stream into application data and the replies negotiation needs."""

    def __init__(self) -> None:
        self._state = _DATA
        self._verb = 0
        self._theirs: dict[int, int] = {}  # option -> state, for what the client does
        self._ours: dict[int, int] = {}  # option -> state, for what we do
        self._sub = bytearray()
        self.width: int | None = None  # the client's window width, once it reports one

    def start(self) -> bytes:
        """What the hub sends first: its requests (BINARY both ways, NAWS), in `PREAMBLE`."""
        self._theirs = {NAWS: _WANT_YES, BINARY: _WANT_YES}
        self._ours = {BINARY: _WANT_YES}
        return PREAMBLE

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
                    self._sub.clear()
                    self._state = _SUB
                elif byte == IP:
                    out.append(CTRL_C)
                    self._state = _DATA
                else:  # NOP, GA, AYT, ... and unknown bytes: nothing to do
                    self._state = _DATA
            elif state == _OPTION:
                replies += self._negotiate(self._verb, byte)
                self._state = _DATA
            elif state == _SUB:
                if byte == IAC:
                    self._state = _SUB_IAC
                elif len(self._sub) < _SUB_MAX:
                    self._sub.append(byte)
            else:  # _SUB_IAC
                if byte == IAC:  # a doubled 0xFF inside the subnegotiation
                    if len(self._sub) < _SUB_MAX:
                        self._sub.append(IAC)
                    self._state = _SUB
                else:  # SE, or a malformed end: the subnegotiation is over either way
                    self._subnegotiation(bytes(self._sub))
                    self._state = _DATA
        return bytes(out), bytes(replies)

    def _negotiate(self, verb: int, option: int) -> bytes:
        if verb in (WILL, WONT):
            return _answer(self._theirs, option, verb == WILL, option in _THEIRS, DO, DONT)
        return _answer(self._ours, option, verb == DO, option in _OURS, WILL, WONT)

    def _subnegotiation(self, sub: bytes) -> None:
        if len(sub) == 5 and sub[0] == NAWS:
            self.width = (sub[1] << 8 | sub[2]) or None  # 0: the client does not know


def _answer(
    states: dict[int, int], option: int, on: bool, wanted: bool, agree: int, refuse: int
) -> bytes:
    """The reply to the client's WILL/DO (`on`) or WONT/DONT about `option`, and the new state:
    agreement to what we want, refusal of the rest, silence for an answer to our request or
    for what is already so."""
    state = states.get(option, _NO)
    if on:
        if state == _YES:
            return b""
        if wanted:
            states[option] = _YES
            return b"" if state == _WANT_YES else bytes((IAC, agree, option))
        return bytes((IAC, refuse, option))
    states[option] = _NO
    return bytes((IAC, refuse, option)) if state == _YES else b""
