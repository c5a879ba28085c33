"""SqliteStore beyond the shared contract: restart, write-behind batching, failures, start-up."""

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer, task
from twisted.internet.defer import Deferred

from chathub import sqlitewriter as writer_module
from chathub.events import Event
from chathub.records import AccountRecord, BanRecord, Put, RoleRecord, RoomRecord
from chathub.sqlite import HOT_MESSAGES, IDLE_SECONDS, SqliteStore
from chathub.sqlitewriter import BATCH_ROWS, FLUSH_SECONDS, MAX_LAG, RETRY_SECONDS
from chathub.store import SECONDS_PER_DAY, Before, Query, Recent, Since, StoreError

START = 1_700_000_000.0


class ManualRunner:
    """A stand-in writer thread: jobs wait until the test runs them, in order."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[[], Any], Deferred[Any]]] = []
        self.ran = 0

    def __call__(self, work: Callable[[], Any]) -> "Deferred[Any]":
        done: Deferred[Any] = Deferred()
        self.jobs.append((work, done))
        return done

    def run_all(self) -> None:
        while self.jobs:
            work, done = self.jobs.pop(0)
            self.ran += 1
            try:
                result = work()
            except Exception:
                done.errback()
            else:
                done.callback(result)


@pytest.fixture
def clock() -> task.Clock:
    clock = task.Clock()
    clock.advance(START)
    return clock


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "history.db")


def open_store(path: str, clock: task.Clock, runner: ManualRunner, **options: Any) -> SqliteStore:
    return SqliteStore(path, clock, run=runner, **options)


def close(store: SqliteStore, runner: ManualRunner) -> None:
    closed = store.close()
    runner.run_all()
    failures: list[object] = []
    closed.addErrback(failures.append)
    assert closed.called and not failures, failures


def say(store: SqliteStore, room: str, text: str, ts: float = START) -> Event:
    if not store.is_open(room):
        opening: list[bool] = []
        store.open_room(room, lambda: opening.append(True))
        assert isinstance(store._run, ManualRunner)
        store._run.run_all()  # the room's last id is read in the store's thread
        assert opening
    return store.append(Event(room, "message", "alice", text, ts))


def read(store: SqliteStore, room: str, query: Query) -> list[Event]:
    """Read through the store, running its thread's jobs until it answers."""
    answers: list[list[Event]] = []
    store.read(room, query, answers.append)
    assert isinstance(store._run, ManualRunner)
    store._run.run_all()
    assert len(answers) == 1
    return answers[0]


def rows_in_file(path: str) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        connection.close()


def test_history_ids_and_counter_continue_after_a_restart(path: str, clock: task.Clock) -> None:
    """Close and reopen: the messages are there, the next id follows, the counter goes on."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    for n in range(3):
        say(store, "dev", f"m{n}")
    say(store, "ops", "x")
    store.bump_counter("counter")
    store.bump_counter("counter")
    close(store, runner)

    again = open_store(path, clock, runner)
    assert [e.text for e in read(again, "dev", Recent(10))] == ["m0", "m1", "m2"]
    assert [e.id for e in read(again, "dev", Since(1, 10))] == [2, 3]
    assert again.room_count() == 2
    assert say(again, "dev", "m3").id == 4
    assert again.bump_counter("counter") == 3
    close(again, runner)


def test_restart_keeps_the_last_id_of_a_room_emptied_by_retention(
    path: str, clock: task.Clock
) -> None:
    """Ids are not reused even when every row of the room was deleted before the restart."""
    runner = ManualRunner()
    store = open_store(path, clock, runner, retain_days=1)
    say(store, "dev", "a", ts=clock.seconds())
    say(store, "dev", "b", ts=clock.seconds())
    clock.advance(FLUSH_SECONDS)
    runner.run_all()
    clock.advance(SECONDS_PER_DAY * 2)
    store.prune()
    runner.run_all()
    close(store, runner)
    assert rows_in_file(path) == 0

    again = open_store(path, clock, runner, retain_days=1)
    assert read(again, "dev", Recent(10)) == []
    assert say(again, "dev", "c", ts=clock.seconds()).id == 3
    close(again, runner)


def test_restart_loads_only_the_retained_window(path: str, clock: task.Clock) -> None:
    """Reopened with a smaller retain_messages, a room holds only its newest messages."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    for n in range(10):
        say(store, "dev", f"m{n}")
    close(store, runner)

    again = open_store(path, clock, runner, retain_messages=4)
    assert [e.id for e in read(again, "dev", Since(0, 100))] == [7, 8, 9, 10]
    close(again, runner)


def test_append_returns_before_anything_is_written(path: str, clock: task.Clock) -> None:
    """A message is readable at once and the write waits for the flush interval."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    event = say(store, "dev", "hello")
    assert read(store, "dev", Recent(1)) == [event]
    assert runner.jobs == []
    assert store.health().pending == 1
    close(store, runner)


def test_rows_within_the_flush_interval_go_in_one_write(path: str, clock: task.Clock) -> None:
    """Every message queued before the timer fires is written by one job (group commit)."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    for n in range(50):
        say(store, "dev", f"m{n}")
    clock.advance(FLUSH_SECONDS)
    assert len(runner.jobs) == 1
    runner.run_all()
    assert store.health().pending == 0
    assert rows_in_file_after_close(store, runner, path) == 50


def rows_in_file_after_close(store: SqliteStore, runner: ManualRunner, path: str) -> int:
    close(store, runner)
    return rows_in_file(path)


def test_a_full_batch_is_written_without_waiting(path: str, clock: task.Clock) -> None:
    """When BATCH_ROWS messages are queued the write starts at once, before the timer."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    for n in range(BATCH_ROWS):
        say(store, "dev", f"m{n}")
    assert len(runner.jobs) == 1
    close(store, runner)


def test_one_write_at_a_time_and_the_rest_follows(path: str, clock: task.Clock) -> None:
    """Messages said while a write runs wait for it, then go at once in the next one."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    say(store, "dev", "first")
    clock.advance(FLUSH_SECONDS)
    say(store, "dev", "second")
    clock.advance(FLUSH_SECONDS)
    assert len(runner.jobs) == 1  # the second waits for the first write to finish
    work, done = runner.jobs.pop(0)
    done.callback(work())
    assert len(runner.jobs) == 1  # and is written right after, without another wait
    runner.run_all()
    assert rows_in_file_after_close(store, runner, path) == 2


def test_the_counter_is_written_behind_like_messages(path: str, clock: task.Clock) -> None:
    """A counter bump is queued and written by the next flush."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    store.bump_counter("counter")
    assert store.health().pending == 1
    clock.advance(FLUSH_SECONDS)
    runner.run_all()
    assert store.health().pending == 0
    close(store, runner)


def test_close_writes_everything_still_queued(path: str, clock: task.Clock) -> None:
    """Messages not yet flushed when close() is called are in the file afterwards."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    for n in range(7):
        say(store, "dev", f"m{n}")
    assert rows_in_file_after_close(store, runner, path) == 7


def fill_the_disk(store: SqliteStore) -> None:
    # A real SQLITE_FULL: the file may not grow past the pages it has now.
    connection = store._connection
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages}")


def free_the_disk(store: SqliteStore) -> None:
    store._connection.execute("PRAGMA max_page_count = 1073741823")


def test_a_failed_write_is_reported_and_chat_goes_on(path: str, clock: task.Clock) -> None:
    """When the disk is full, health says so, rows stay queued and appends still work."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    fill_the_disk(store)
    for n in range(100):
        say(store, "dev", f"m{n} " + "x" * 1000)
    clock.advance(FLUSH_SECONDS)
    runner.run_all()
    health = store.health()
    assert not health.ok
    assert health.error is not None and "full" in health.error
    assert health.pending == 100
    assert say(store, "dev", "still talking").id == 101
    assert read(store, "dev", Recent(1))[0].text == "still talking"
    free_the_disk(store)
    close(store, runner)


def test_a_failed_write_is_retried_until_it_succeeds(path: str, clock: task.Clock) -> None:
    """After the disk has room again, the retry writes every kept row, in order."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    fill_the_disk(store)
    for n in range(100):
        say(store, "dev", f"m{n} " + "x" * 1000)
    clock.advance(FLUSH_SECONDS)
    runner.run_all()
    assert not store.health().ok
    say(store, "dev", "during the outage")
    free_the_disk(store)
    clock.advance(RETRY_SECONDS)
    runner.run_all()
    assert store.health().ok
    assert store.health().pending == 0
    close(store, runner)

    again = open_store(path, clock, runner)
    assert [e.id for e in read(again, "dev", Since(0, 500))] == list(range(1, 102))
    close(again, runner)


def test_retention_deletes_from_the_file_in_bounded_batches(path: str, clock: task.Clock) -> None:
    """Pruning 20 surplus rows 5 at a time takes several writer jobs and leaves the newest."""
    runner = ManualRunner()
    store = open_store(path, clock, runner, retain_messages=10, prune_batch=5)
    for n in range(30):
        say(store, "dev", f"m{n}")
    clock.advance(FLUSH_SECONDS)
    runner.run_all()
    before = runner.ran
    store.prune()
    for _ in range(10):
        runner.run_all()
        clock.advance(0)
    assert runner.ran - before >= 4  # 20 rows, at most 5 a job
    assert rows_in_file_after_close(store, runner, path) == 10


def test_retention_by_age_deletes_old_rows_from_the_file(path: str, clock: task.Clock) -> None:
    """Rows older than retain_days leave the file when pruned."""
    runner = ManualRunner()
    store = open_store(path, clock, runner, retain_days=1)
    say(store, "dev", "old", ts=clock.seconds())
    clock.advance(SECONDS_PER_DAY * 2)
    say(store, "dev", "new", ts=clock.seconds())
    clock.advance(FLUSH_SECONDS)
    runner.run_all()
    store.prune()
    runner.run_all()
    assert rows_in_file_after_close(store, runner, path) == 1


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path, clock: task.Clock) -> None:
    """A corrupt file raises StoreError naming the file, not a sqlite traceback."""
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database at all\n" * 200)
    with pytest.raises(StoreError, match=r"broken\.db.*not a database"):
        SqliteStore(str(broken), clock, run=ManualRunner())


def test_a_damaged_database_is_a_clear_error(tmp_path: Path, clock: task.Clock) -> None:
    """A real database with garbage written over its pages is refused at start-up."""
    damaged = tmp_path / "damaged.db"
    connection = sqlite3.connect(damaged)
    connection.execute("CREATE TABLE t (x TEXT)")
    connection.executemany("INSERT INTO t VALUES (?)", [(f"row {n}",) for n in range(2000)])
    connection.commit()
    connection.close()
    data = bytearray(damaged.read_bytes())
    data[4096:12288] = b"\xa5" * 8192  # pages 2 and 3 (the header in page 1 stays valid)
    damaged.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"damaged\.db"):
        SqliteStore(str(damaged), clock, run=ManualRunner())


def test_a_database_another_process_holds_is_a_clear_error(path: str, clock: task.Clock) -> None:
    """A second store on a file in use fails with 'locked' instead of sharing ids."""
    runner = ManualRunner()
    first = open_store(path, clock, runner)
    with pytest.raises(StoreError, match="locked"):
        SqliteStore(path, clock, run=ManualRunner())
    close(first, runner)


def test_an_unopenable_path_is_a_clear_error(tmp_path: Path, clock: task.Clock) -> None:
    """A database in a directory that does not exist is refused with a hint."""
    missing = tmp_path / "no" / "such" / "dir" / "history.db"
    with pytest.raises(StoreError, match="unable to open database file"):
        SqliteStore(str(missing), clock, run=ManualRunner())


def test_the_file_is_in_wal_mode(path: str, clock: task.Clock) -> None:
    """The store puts the database in WAL mode, which stays set in the file."""
    runner = ManualRunner()
    close(open_store(path, clock, runner), runner)
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        connection.close()


def test_close_waits_for_a_write_under_way(path: str, clock: task.Clock) -> None:
    """close() fires only after the write in flight and the final write are done."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    say(store, "dev", "in flight")
    clock.advance(FLUSH_SECONDS)
    say(store, "dev", "queued")
    closed = store.close()
    assert not closed.called
    runner.run_all()
    assert closed.called
    assert rows_in_file(path) == 2


def test_close_twice_is_harmless(path: str, clock: task.Clock) -> None:
    """A second close() does nothing and does not fail."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    close(store, runner)
    second = store.close()
    assert isinstance(second, defer.Deferred) and second.called


# --- bounded by design (issue 10) -------------------------------------------------------------


def test_start_up_reads_no_message_until_a_room_is_opened(path: str, clock: task.Clock) -> None:
    """A reopened store holds no message in memory; opening a room reads only its newest."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    for n in range(300):
        say(store, "dev", f"m{n}")
    close(store, runner)
    again = open_store(path, clock, runner)
    assert again.cache.size == 0 and runner.jobs == []
    assert say(again, "dev", "next").id == 301
    in_memory = again.cache.since("dev", 0, 1000, force=True) or []
    assert 0 < len(in_memory) <= HOT_MESSAGES + 1
    close(again, runner)


def test_a_read_the_cache_cannot_answer_comes_from_the_file_identical(
    path: str, clock: task.Clock
) -> None:
    """With a tiny memory budget, reads are answered from the file with the same events."""
    runner = ManualRunner()
    store = open_store(path, clock, runner, history_memory=2_000)
    said = [say(store, "dev", f"message {n} " + "x" * 50) for n in range(40)]
    clock.advance(FLUSH_SECONDS)
    runner.run_all()
    assert store.cache.size <= 2_000
    assert read(store, "dev", Since(0, 100)) == said
    assert read(store, "dev", Recent(5)) == said[-5:]
    assert read(store, "dev", Since(10, 3)) == said[10:13]
    assert read(store, "dev", Before(11, 4)) == said[6:10]
    close(store, runner)


def test_a_read_before_an_id_joins_the_file_with_what_is_not_written_yet(
    path: str, clock: task.Clock
) -> None:
    """Scrolling back across messages still waiting for the writer: the file's rows and
    memory's make one answer, in order, none missing."""
    runner = ManualRunner()
    store = open_store(path, clock, runner, history_memory=2_000)
    said = [say(store, "dev", f"message {n} " + "x" * 50) for n in range(30)]
    clock.advance(FLUSH_SECONDS)
    runner.run_all()
    said += [say(store, "dev", f"unwritten {n}") for n in range(3)]
    answers: list[list[Event]] = []
    store.read("dev", Before(33, 20), answers.append)
    assert answers == []  # memory does not hold twenty: the file is read
    runner.run_all()
    assert answers == [said[12:32]]
    close(store, runner)


def test_a_read_from_the_file_includes_what_was_said_meanwhile(
    path: str, clock: task.Clock
) -> None:
    """Messages stored while a read waits for the file are in its answer: never stale."""
    runner = ManualRunner()
    store = open_store(path, clock, runner, history_memory=2_000)
    said = [say(store, "dev", f"message {n} " + "x" * 50) for n in range(40)]
    clock.advance(FLUSH_SECONDS)
    runner.run_all()
    answers: list[list[Event]] = []
    store.read("dev", Since(0, 100), answers.append)
    said.append(say(store, "dev", "while reading"))
    runner.run_all()
    assert answers == [said]
    close(store, runner)


def test_writes_go_in_bounded_transactions(path: str, clock: task.Clock) -> None:
    """3.5 batches of rows are written by four jobs, each committing its part."""
    runner = ManualRunner()
    store = open_store(path, clock, runner, batch_rows=100)
    for n in range(350):
        say(store, "dev", f"m{n}")
    before = runner.ran
    runner.run_all()  # full batches go at once, one after another
    clock.advance(FLUSH_SECONDS)  # the last part waits for the flush interval
    runner.run_all()
    assert runner.ran - before == 4  # one job per transaction of at most 100 rows
    assert rows_in_file_after_close(store, runner, path) == 350


def test_the_store_is_behind_while_its_oldest_unwritten_row_is_old(
    path: str, clock: task.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """behind() turns true past MAX_LAG of unwritten rows; when_caught_up fires after writing."""
    now = [1000.0]
    monkeypatch.setattr(writer_module.time, "monotonic", lambda: now[0])
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    say(store, "dev", "waiting")
    assert not store.behind()
    now[0] += MAX_LAG + 0.1
    assert store.behind()
    caught_up: list[bool] = []
    store.when_caught_up(lambda: caught_up.append(True))
    assert caught_up == []
    clock.advance(FLUSH_SECONDS)
    runner.run_all()
    assert not store.behind() and caught_up == [True]
    close(store, runner)


def test_close_says_how_many_messages_it_could_not_save(path: str, clock: task.Clock) -> None:
    """With the disk full at exit, close() answers the count of unsaved messages."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    fill_the_disk(store)
    for n in range(20):
        say(store, "dev", f"m{n} " + "x" * 2000)
    closed = store.close(1.0)
    runner.run_all()
    assert closed.called
    unsaved: list[int] = []
    closed.addCallback(unsaved.append)
    assert unsaved == [20]


def test_the_next_id_is_above_every_stored_one_when_rooms_is_behind(
    path: str, clock: task.Clock
) -> None:
    """A damaged file whose rooms.last_id lags its messages never makes an id repeat."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    for n in range(5):
        say(store, "dev", f"m{n}")
    close(store, runner)
    connection = sqlite3.connect(path)
    connection.execute("UPDATE rooms SET last_id = 1 WHERE room = 'dev'")
    connection.commit()
    connection.close()
    again = open_store(path, clock, runner)
    assert say(again, "dev", "after").id == 6
    assert read(again, "dev", Since(0, 10))[0].text == "m0"
    close(again, runner)


def test_an_unreadable_row_is_skipped_and_the_room_works(path: str, clock: task.Clock) -> None:
    """A row with a blob that is not UTF-8 or an unknown kind is skipped, never raised."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    for n in range(3):
        say(store, "dev", f"m{n}")
    close(store, runner)
    connection = sqlite3.connect(path)
    connection.execute("UPDATE events SET text = ? WHERE id = 1", (b"\xff\xfe not text",))
    connection.execute("UPDATE events SET text = ? WHERE id = 2", (b"readable blob",))
    connection.execute("UPDATE events SET kind = 'nonsense' WHERE id = 3")
    connection.commit()
    connection.close()
    again = open_store(path, clock, runner)
    assert [e.text for e in read(again, "dev", Since(0, 10))] == ["readable blob"]
    assert say(again, "dev", "still works").id == 4
    texts = [e.text for e in read(again, "dev", Since(0, 10))]
    assert "still works" in texts and "\ufffd" not in "".join(texts)
    close(again, runner)


def test_idle_rooms_leave_memory_but_not_the_file(path: str, clock: task.Clock) -> None:
    """A closed room idle past IDLE_SECONDS is forgotten; reopening reads its last id again."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    say(store, "dev", "a")
    clock.advance(FLUSH_SECONDS)
    runner.run_all()
    store.close_room("dev")
    clock.advance(IDLE_SECONDS + 1)
    store.prune()
    runner.run_all()
    assert not store.is_open("dev") and "dev" not in store.cache
    assert say(store, "dev", "b").id == 2
    close(store, runner)


def test_records_edits_and_deletions_survive_a_restart(path: str, clock: task.Clock) -> None:
    """Accounts, rooms, roles and bans, and edited and deleted messages, are in the file."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    for n in range(4):
        say(store, "dev", f"m{n}")
    store.save(Put(AccountRecord("alice", "$argon2id$fake", START)))
    store.save(Put(RoomRecord("dev", "alice", "release", "alice", START, "m")))
    store.save(Put(RoleRecord("dev", "bob", "voice")))
    store.save(Put(BanRecord("", "account:eve", "alice", "spam", START, START + 60)))
    store.edit_message("dev", 1, "first, edited")
    store.delete_message("dev", 3)
    close(store, runner)

    again = open_store(path, clock, runner)
    state = again.load_state()
    assert [a.name for a in state.accounts] == ["alice"]
    assert state.rooms == [RoomRecord("dev", "alice", "release", "alice", START, "m")]
    assert state.roles == [RoleRecord("dev", "bob", "voice")]
    assert state.bans == [BanRecord("", "account:eve", "alice", "spam", START, START + 60)]
    events = read(again, "dev", Recent(10))
    assert [(e.id, e.text, e.edited) for e in events] == [
        (1, "first, edited", True),
        (2, "m1", False),
        (4, "m3", False),
    ]
    assert say(again, "dev", "m4").id == 5
    close(again, runner)


def test_an_edit_queued_behind_its_message_is_written_after_it(
    path: str, clock: task.Clock
) -> None:
    """An edit of a message still queued is written in the same batch or a later one, after
    the message: the file ends up with the new text, whatever the batch size."""
    runner = ManualRunner()
    store = open_store(path, clock, runner, batch_rows=2)
    for n in range(5):
        say(store, "dev", f"m{n}")
    store.edit_message("dev", 5, "last, edited")
    store.delete_message("dev", 4)
    close(store, runner)
    again = open_store(path, clock, runner)
    assert [(e.id, e.text) for e in read(again, "dev", Recent(10))] == [
        (1, "m0"), (2, "m1"), (3, "m2"), (5, "last, edited"),
    ]  # fmt: skip
    close(again, runner)


def test_a_read_from_the_file_before_an_edit_is_written_gives_the_edit(
    path: str, clock: task.Clock
) -> None:
    """A message read from the file (not in memory) is served edited or not at all, even
    while the change waits to be written."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    for n in range(3):
        say(store, "dev", f"m{n}")
    close(store, runner)
    again = open_store(path, clock, runner, history_memory=1)  # nothing stays in memory
    say(again, "dev", "m3")
    runner.run_all()
    again.cache.forget("dev")
    again.edit_message("dev", 1, "edited")
    again.delete_message("dev", 2)
    answers: list[list[Event]] = []
    again.read("dev", Recent(10), answers.append)
    work, done = runner.jobs.pop(-1)  # the read, run before the queued changes are written
    done.callback(work())
    assert [(e.id, e.text) for e in answers[0]] == [(1, "edited"), (3, "m2"), (4, "m3")]
    close(again, runner)


def test_a_version_2_file_is_upgraded(path: str, clock: task.Clock) -> None:
    """A file written by the previous schema gains the new columns and tables; its
    messages are kept."""
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        CREATE TABLE events (room TEXT NOT NULL, id INTEGER NOT NULL, kind TEXT NOT NULL,
            nick TEXT NOT NULL, text TEXT NOT NULL, ts REAL NOT NULL,
            bot INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (room, id)) WITHOUT ROWID;
        CREATE TABLE rooms (room TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO events VALUES ('dev', 1, 'message', 'alice', 'old', 1.0, 0);
        INSERT INTO rooms VALUES ('dev', 1);
        PRAGMA user_version = 2;
        """
    )
    connection.close()
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    assert [(e.text, e.author) for e in read(store, "dev", Recent(5))] == [("old", None)]
    store.save(Put(AccountRecord("alice", "$argon2id$fake", START)))
    say(store, "dev", "new")
    close(store, runner)
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == 3
    assert connection.execute("SELECT count(*) FROM accounts").fetchone()[0] == 1
    connection.close()
