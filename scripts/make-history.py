#!/usr/bin/env python3
"""Make a big chathub history file, fast: rows written straight into chathub's schema.

    scripts/make-history.py PATH --gigabytes G --rooms R [--text-bytes N]

Rooms are named `r00000`, `r00001`, ... and get the same number of messages each (the first
rooms one more when it does not divide), ids 1, 2, 3 ... per room, `rooms.last_id` set to the
last. Message N of room R says `R #N ` followed by filler words, `--text-bytes` long in all
(`text_for`), so a test can check any message it gets back; every tenth is an action. Times
increase through the file and end about now. Rows go in room by room in big transactions with
the journal off (the file is only usable once the script has finished); the file is left in
WAL mode, as chathub keeps it. Start chathub with `--retain-messages` at least the messages per
room if none should be pruned when a room is opened.
"""

import argparse
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chathub.sqlitefile import SCHEMA, SCHEMA_VERSION

NICKS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
WORDS = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt "
    "ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco "
    "laboris nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit voluptate "
)
FILLER = (WORDS * 256).strip()
ROW_OVERHEAD = 150  # bytes a row costs in the file beyond its text (measured, 900-byte texts)
BATCH_ROWS = 20_000  # rows per executemany call
COMMIT_ROWS = 500_000  # rows per transaction


def room_name(number: int) -> str:
    return f"r{number:05d}"


def text_for(room: str, id: int, size: int) -> str:
    """The text of message `id` of `room` (ASCII, no runs of spaces), `size` characters."""
    head = f"{room} #{id} "
    start = (id * 7919) % 1000
    # A slice that starts on a space would make a run of two after the head's own (a line
    # client squeezes runs of spaces, so the text would not read back as stored).
    return (head + FILLER[start : start + size].lstrip(" "))[:size].rstrip() or head.strip()


def kind_for(id: int) -> str:
    return "action" if id % 10 == 0 else "message"


def nick_for(id: int) -> str:
    return NICKS[id % len(NICKS)]


def per_room(total: int, rooms: int) -> list[int]:
    base, extra = divmod(total, rooms)
    return [base + (1 if n < extra else 0) for n in range(rooms)]


def rows(counts: list[int], size: int, now: float) -> Iterator[tuple[object, ...]]:
    total = sum(counts)
    ts = now - total * 0.01  # a message every 10 ms, the last about now
    for number, count in enumerate(counts):
        room = room_name(number)
        for id in range(1, count + 1):
            text = text_for(room, id, size).encode()
            yield (room, id, kind_for(id), nick_for(id), text, ts)
            ts += 0.01


def make(path: str, gigabytes: float, rooms: int, size: int, messages: int | None) -> None:
    if os.path.exists(path):
        raise SystemExit(f"make-history: {path} exists; remove it first")
    total = messages if messages is not None else int(gigabytes * 1e9 / (size + ROW_OVERHEAD))
    total = max(total, rooms)
    counts = per_room(total, rooms)
    started = time.monotonic()
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = OFF")
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute("PRAGMA locking_mode = EXCLUSIVE")
    connection.execute("PRAGMA cache_size = -262144")  # 256 MiB
    connection.executescript(f"{SCHEMA} PRAGMA user_version = {SCHEMA_VERSION};")
    insert = (
        "INSERT INTO events (room, id, kind, nick, text, ts) "
        "VALUES (?, ?, ?, ?, CAST(? AS TEXT), ?)"
    )
    written = 0
    source = rows(counts, size, time.time())
    connection.execute("BEGIN")
    while True:
        batch = [row for _, row in zip(range(BATCH_ROWS), source, strict=False)]
        if not batch:
            break
        connection.executemany(insert, batch)
        written += len(batch)
        if written % COMMIT_ROWS < BATCH_ROWS:
            connection.execute("COMMIT")
            connection.execute("BEGIN")
            rate = written / (time.monotonic() - started)
            print(f"  {written:,} of {total:,} rows, {rate:,.0f} rows/s", file=sys.stderr)
    connection.executemany(
        "INSERT INTO rooms (room, last_id) VALUES (?, ?)",
        [(room_name(number), count) for number, count in enumerate(counts)],
    )
    connection.execute("COMMIT")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.close()
    seconds = time.monotonic() - started
    print(
        f"make-history: {path}: {os.path.getsize(path) / 1e9:.2f} GB, {total:,} messages in "
        f"{rooms:,} rooms ({counts[0]:,} in the first), {size} bytes of text each, "
        f"in {seconds:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("--gigabytes", type=float, default=1.0, help="about this big (1e9 bytes)")
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--text-bytes", type=int, default=900, help="each message's length")
    parser.add_argument(
        "--messages", type=int, help="this many messages in all, instead of --gigabytes"
    )
    args = parser.parse_args()
    if args.rooms < 1 or args.text_bytes < 16:
        parser.error("--rooms must be 1 or more and --text-bytes 16 or more")
    make(args.path, args.gigabytes, args.rooms, args.text_bytes, args.messages)


if __name__ == "__main__":
    main()
