"""How a line of text lands on a terminal: cells, padding, and wrapping a line for a known width.

Rules:
- Pure: text in, text out. `linewire.py` uses it for the line protocol; nothing here knows what
  the lines say beyond where a line's prefix (`[room] <nick> `, `* `, `! `) ends.
- A message of several lines is one line with `\n` in it: each of its lines after the first
  starts a row indented like a wrapped row, whether the width is known or not.
- No user text may draw a screen row that looks like the start of the server's own line.
  `collapse_spaces` squeezes every run of blank characters in user text to one space, for every
  client, so padding cannot push text to where a terminal wraps it. For a client that reported
  its width (telnet NAWS), `wrap` breaks long lines itself, before the terminal would, and
  indents every continuation row, so no row but a line's first starts at the left edge.
- Widths are counted generously: a character a terminal might draw two cells wide counts two,
  an emoji sequence counts each emoji (in case the terminal cannot join them); only what every
  terminal draws on the character before it (combining marks, joiners) counts nothing. Counting
  too many only wraps a row early; counting too few would let the terminal wrap it instead.
  Ambiguous-width characters (Greek, Cyrillic, box drawing...) count one cell, as in every
  terminal outside CJK locales.
"""

import re
import unicodedata

# Widths a client may report that the hub wraps for. Narrower than MIN_WIDTH a row cannot hold
# an indent and a wide character: such a terminal wraps for itself. Wider than MAX_WIDTH, rows
# are cut at MAX_WIDTH (shorter rows than the terminal's are harmless).
MIN_WIDTH = 10
MAX_WIDTH = 1000

# Runs of what draws as blank: spaces of every width, and the blank letters (Hangul fillers,
# the braille blank) that no category calls a space.
_BLANKS = re.compile(r"[\s\u115f\u1160\u3164\uffa0\u2800]{2,}")

_ZWJ = "\u200d"

# Where a line's own prefix ends: `[room] <nick> `, `[room #42] * nick `, `[room] -> `, `* `...
# Continuation rows are indented to there (the text of a message lines up under its start).
_PREFIX = re.compile(r"\[[^\]]*\] (?:<[^>]*> |\* \S+ |-> |<- )|[*!] ")


def collapse_spaces(text: str) -> str:
    """`text` with every run of blank characters made one space."""
    if "  " not in text and text.isascii():  # the common case: nothing to squeeze
        return text
    return _BLANKS.sub(" ", text)


def cells(char: str) -> int:
    """How many terminal cells `char` may take on its own: two for wide and fullwidth
    characters (CJK, most emoji), else one."""
    if char < "\u1100":  # nothing below U+1100 is wide
        return 1
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _drawn_on_previous(char: str) -> bool:
    """Whether terminals draw `char` in the cell of the character before it (wcwidth 0):
    non-spacing and enclosing marks (variation selectors among them) and the joiners."""
    return char in "\u200c\u200d" or unicodedata.category(char) in ("Mn", "Me")


def _attached(char: str, previous: str) -> bool:
    """Whether a row may not be broken between `previous` and `char`."""
    code = ord(char)
    return (
        _drawn_on_previous(char)
        or unicodedata.category(char) == "Mc"
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or (previous == _ZWJ and code >= 0x2000)  # an emoji sequence, not ASCII after a joiner
    )


def _cluster_cells(cluster: str) -> int:
    """Cells a cluster may take: its characters that have a cell of their own, each as wide as
    it may be (so an emoji sequence a terminal cannot join counts all its emoji); two when an
    emoji presentation selector may widen a narrow character; at least one."""
    total = sum(cells(char) for char in cluster if not _drawn_on_previous(char))
    if "\ufe0f" in cluster:
        total = max(total, 2)
    return max(total, 1)


def _clusters(text: str) -> list[str]:
    """`text` cut where a row may be broken: never before a character drawn with the last."""
    clusters: list[str] = []
    previous = ""
    for char in text:
        if clusters and char >= "\u0300" and _attached(char, previous):
            clusters[-1] += char
        else:
            clusters.append(char)
        previous = char
    return clusters


def wrap(line: str, width: int | None) -> list[str]:
    """The rows `line` takes on a terminal `width` cells wide (None: unknown).

    Rows hold at most `width - 1` cells (a spare column: terminals differ on a full row);
    every row after the first starts with an indent to the end of the line's prefix (at most
    a third of the row), so it never looks like a line's start. A row breaks after a space
    when one is in its second half, else where it is full. A line of several lines (a
    message of several lines, `\n` between them) takes a row for each at least, every one
    after the first indented in the same way; with the width unknown the indent is at most
    `UNKNOWN_INDENT` cells and the terminal wraps each row itself.
    """
    if "\n" not in line and (width is None or width < MIN_WIDTH):
        return [line]  # the common case for a terminal that reports nothing
    first, *more = line.split("\n")
    prefix = _PREFIX.match(first)
    hang = sum(cells(char) for char in prefix.group()) if prefix else 2
    if width is None or width < MIN_WIDTH:
        indent = " " * max(1, min(hang, UNKNOWN_INDENT))
        return [first, *(indent + text for text in more)]
    limit = min(width, MAX_WIDTH) - 1
    indent = " " * max(1, min(hang, limit // 3))
    rows = _wrapped(first, limit, indent)
    for text in more:
        rows += _wrapped(indent + text, limit, indent)
    return rows


# The most a continuation row is indented for a terminal of unknown width.
UNKNOWN_INDENT = 8


def _wrapped(line: str, limit: int, indent: str) -> list[str]:
    """`line` in rows of at most `limit` cells, every row after the first after `indent`."""
    if len(line) * 2 <= limit:  # fits, whatever its characters are
        return [line]
    pieces: list[tuple[str, int]] = []
    for cluster in _clusters(line):
        size = _cluster_cells(cluster)
        if size > limit // 2:  # a giant cluster (marks or joiners glued on): cut it up
            pieces.extend((char, cells(char)) for char in cluster)
        else:
            pieces.append((cluster, size))
    if sum(size for _, size in pieces) <= limit:
        return [line]
    rows: list[str] = []
    row: list[tuple[str, int]] = []
    room = limit
    for piece, size in pieces:
        # What a break carries on may itself not fit with the piece: break until it does.
        while row and sum(s for _, s in row) + size > room:
            row, carried = _break(row)
            rows.append((indent if rows else "") + "".join(p for p, _ in row))
            row, room = carried, limit - len(indent)
        if piece == " " and not row and rows:
            continue  # a continuation row does not start with the space it was broken at
        row.append((piece, size))
    if row:
        rows.append((indent if rows else "") + "".join(p for p, _ in row))
    return rows


def _break(row: list[tuple[str, int]]) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """A full row cut at its last space if that is in its second half, else as it is.
    Returns the row to show and what goes on to the next one."""
    for at in range(len(row) - 1, len(row) // 2, -1):
        if row[at][0] == " ":
            return row[:at], row[at + 1 :]
    return row, []
