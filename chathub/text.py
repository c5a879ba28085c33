"""Rules for what users type: room names, nicks, and the text that may reach a screen.

Pure functions, no I/O. Every transport passes user text through `clean_text` (via the hub) so
that nothing one user types can move another user's cursor, recolour their terminal, set their
window title, or reorder the characters they see. What survives has no character of the Unicode
categories Cc (controls), Cf (invisible format characters: bidi marks, zero-width spaces, BOM,
tag characters), Zl/Zp (line and paragraph separators) or Cs (lone surrogates), except the
zero-width joiner and non-joiner that emoji and several scripts need. A message may have
several lines (`clean_message`): there the line feed is the one control character kept.
"""

import re
import unicodedata

DEFAULT_ROOM = "lobby"
ROOM_MAX = 32
NICK_MAX = 24

_ROOM = re.compile(f"[a-z0-9_-]{{1,{ROOM_MAX}}}")
_NICK = re.compile(f"[A-Za-z_][A-Za-z0-9_-]{{0,{NICK_MAX - 1}}}")

# Terminal escape sequences, removed whole so that no "[31m" debris is left behind:
# CSI (ESC [ or the 8-bit 0x9B), OSC (ESC ]) up to BEL or ST, DCS/SOS/PM/APC strings up to ST,
# SS2/SS3 with the character they shift (ESC O A is the Up arrow in a terminal's application
# mode), and the two-byte escapes (ESC followed by one character, with optional intermediates).
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[NO][!-~]?"
    r"|\x1b[ -/]*[0-~]?"
)
# C0 controls, DEL, C1 controls, and the explicit bidirectional embeddings, overrides and
# isolates (U+202A-U+202E, U+2066-U+2069) that can make text display in another order than it
# was typed ("Trojan Source"). Zero-width joiners stay: emoji sequences need them.
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Removed by category after the escapes and controls above (see the module's rules).
_INVISIBLE = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs"))
_JOINERS = frozenset("\u200c\u200d")


# Letters that show nothing (Hangul fillers, the braille blank): no category says so.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _shows_nothing(char: str) -> bool:
    """Whether a terminal shows nothing for `char` at the start of a line: a space of any
    width, a control, format or unassigned character, a combining mark with nothing to
    combine with, or a blank letter."""
    if char.isspace() or char in _BLANK_LETTERS:
        return True
    category = unicodedata.category(char)
    return category[0] in "CZ" or category in ("Mn", "Me")


def command_start(line: str) -> int | None:
    """Where the `/` is that makes `line` a command, or None when `line` is a message.

    A line is a command when its first visible character is `/`: what shows nothing before it
    (see `_shows_nothing`) is skipped, and so is an escape sequence (an arrow key, pressed
    before typing). A `/` inside such a sequence counts too: after a stray ESC, `ESC / m`
    reads as one escape sequence, but the user typed `/msg`. A line is never taken for a
    message because of what it hid before its first slash.
    """
    start, end = 0, len(line)
    while start < end:
        char = line[start]
        if char == "/":
            return start
        if char in "\x1b\x9b":
            match = _ESCAPES.match(line, start)
            sequence = match.group() if match else char
            slash = sequence.find("/")
            if slash >= 0:
                return start + slash
            start += len(sequence)
        elif _shows_nothing(char):
            start += 1
        else:
            return None
    return None


def normalize_room(name: str) -> str | None:
    """The canonical room name (`#Dev` is `dev`), or None when the name is not allowed."""
    if name.startswith("#"):
        name = name[1:]
    name = name.lower()
    return name if _ROOM.fullmatch(name) else None


def is_valid_nick(nick: str) -> bool:
    """Whether `nick` is 1-24 of A-Z a-z 0-9 _ -, starting with a letter or `_`."""
    return _NICK.fullmatch(nick) is not None


def nick_key(nick: str) -> str:
    """The form under which nicks are sorted: `Alice` and `alice` sort together."""
    return nick.lower()


# Nicks that look alike are one nick (Unicode TR39 "skeletons", over the characters a nick may
# have). TR39's confusables.txt maps four of them: 0 -> O, 1 -> l, I -> l and m -> rn. Nicks
# also compare ignoring case, so i (the small I) joins I and l; and w -> vv, which TR39 leaves
# out, looks the same in many terminal fonts. Anything else that is visible makes another nick:
# `alice_` is not `alice` (TR39 agrees: `_` is not a lookalike of nothing).
_LOOKALIKES = str.maketrans({"0": "o", "1": "l", "i": "l", "m": "rn", "w": "vv"})


def nick_skeleton(nick: str) -> str:
    """The form under which nicks are the same nick: `alice`, `ALICE`, `aIice` and `a1ice`
    (and `rn`/`m`, `vv`/`w`, `0`/`o`) share one. The nick shown stays as it was typed."""
    return nick.lower().translate(_LOOKALIKES)


def clean_text(text: str) -> str:
    """`text` with escape sequences and control characters removed and tabs made spaces."""
    if text.isprintable():  # the common case: nothing to remove, no regex work
        return text
    text = text.replace("\t", " ")
    text = _ESCAPES.sub("", text)
    text = _CONTROLS.sub("", text)
    if text.isprintable():
        return text
    # Still unusual (other spaces, private use, format characters...): a slower, exact pass.
    return "".join(
        char for char in text if char in _JOINERS or unicodedata.category(char) not in _INVISIBLE
    )


# What ends a line of a message: CR LF, CR or LF (line and paragraph separators are removed
# as invisible characters, like every other control).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def clean_message(text: str) -> str:
    """The text of a message, which may have several lines: each line cleaned as `clean_text`
    does (so a line break is the only control character left) and without trailing blanks;
    blank lines at the start and the end are dropped; lines are joined with `\n`."""
    if "\n" not in text and "\r" not in text:
        return clean_text(text)
    lines = [clean_text(line).rstrip() for line in _LINE_BREAK.split(text)]
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def clean_lines(text: str) -> str:
    """`text` of several lines (an operator's message of the day), each cleaned as `clean_text`
    does, joined with `\n`."""
    return "\n".join(clean_text(line) for line in text.splitlines())
