"""Kept private messages in the SQLite file: restart, write-behind, back-pressure, upgrade."""

import sqlite3
from pathlib import Path

import pytest
from twisted.internet import task

from chathub import sqliteprivate
from chathub.events import Conversation
from chathub.privatelog import PrivateRecord
from chathub.sqlite import SqliteStore
from chathub.sqlitewriter import FLUSH_SECONDS
from chathub.store import SECONDS_PER_DAY
from tests.test_sqlite import START, ManualRunner, close, open_store


@pytest.fixture
def clock() -> task.Clock:
    clock = task.Clock()
    clock.advance(START)
    return clock


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "history.db")


def pm(sender: str, to: str, mine: str | None, theirs: str | None, text: str = "hi"):
    return PrivateRecord(0, sender, to, mine, theirs, text, START)


def conversations(store: SqliteStore, account: str) -> list[tuple[str, int]]:
    answers: list[list[Conversation]] = []
    store.privates.conversations(account, 100, answers.append)
    assert isinstance(store._run, ManualRunner)
    store._run.run_all()
    assert len(answers) == 1
    return [(c.with_, c.last_id) for c in answers[0]]


def read(store: SqliteStore, account: str, partner: str, before=None, limit=100):
    answers: list[list[PrivateRecord]] = []
    store.privates.read(account, partner, before, limit, answers.append)
    assert isinstance(store._run, ManualRunner)
    store._run.run_all()
    assert len(answers) == 1
    return [(m.id, m.text) for m in answers[0]]


def rows(path: str, table: str) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        connection.close()


def test_kept_pms_and_their_ids_survive_a_restart(path: str, clock: task.Clock) -> None:
    """Reopening the file: both sides' conversations are there, and ids go on after them."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    store.privates.append(pm("alice", "bobby", "alice", "bob", "one"))
    store.privates.append(pm("bobby", "alice", "bob", "alice", "two"))
    store.privates.append(pm("alice", "carol", "alice", None, "three"))
    close(store, runner)
    assert rows(path, "private_messages") == 3

    runner = ManualRunner()
    store = open_store(path, clock, runner)
    assert conversations(store, "alice") == [("carol", 3), ("bob", 2)]
    assert conversations(store, "BOB") == [("alice", 2)]
    assert conversations(store, "carol") == []  # a guest's side is nobody's
    assert read(store, "bob", "alice") == [(1, "one"), (2, "two")]
    assert read(store, "alice", "bob", before=2) == [(1, "one")]
    assert read(store, "dave", "alice") == []
    assert store.privates.append(pm("alice", "bobby", "alice", "bob")).id == 4
    close(store, runner)


def test_an_unwritten_pm_is_in_every_answer(path: str, clock: task.Clock) -> None:
    """Read before the writer ran, the answers join the file's rows and what waits."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    store.privates.append(pm("alice", "bob", "alice", "bob", "written"))
    clock.advance(FLUSH_SECONDS)
    runner.run_all()
    assert store.health().pending == 0
    store.privates.append(pm("alice", "carol", "alice", "carol", "waiting"))
    store.privates.append(pm("alice", "bob", "alice", "bob", "waiting too"))
    assert conversations(store, "alice") == [("bob", 3), ("carol", 2)]
    assert read(store, "alice", "bob") == [(1, "written"), (3, "waiting too")]
    assert read(store, "alice", "bob", limit=1) == [(3, "waiting too")]
    assert read(store, "alice", "bob", before=3) == [(1, "written")]
    close(store, runner)
    assert rows(path, "private_messages") == 3


def test_a_pm_written_while_a_read_waits_is_answered_once(path: str, clock: task.Clock) -> None:
    """The write lands between the read's question and its answer: one copy, not two."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    store.privates.append(pm("alice", "bob", "alice", "bob"))
    clock.advance(FLUSH_SECONDS)  # the write is queued in the thread first
    answers: list[list[PrivateRecord]] = []
    store.privates.read("alice", "bob", None, 10, answers.append)
    runner.run_all()
    assert [[m.id for m in answer] for answer in answers] == [[1]]
    close(store, runner)


def test_the_store_is_behind_while_its_oldest_unwritten_pm_is_old(
    path: str, clock: task.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unwritten private messages hold senders like rows do; caught up once written."""
    now = [1000.0]
    monkeypatch.setattr(sqliteprivate.time, "monotonic", lambda: now[0])
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    store.privates.append(pm("alice", "bob", "alice", None))
    assert not store.behind()
    now[0] += sqliteprivate.MAX_LAG + 0.1
    assert store.behind()
    caught_up: list[bool] = []
    store.when_caught_up(lambda: caught_up.append(True))
    assert not caught_up
    clock.advance(FLUSH_SECONDS)
    runner.run_all()
    assert caught_up == [True] and not store.behind()
    close(store, runner)


def test_a_version_3_file_gets_the_private_tables(path: str, clock: task.Clock) -> None:
    """A file of schema 3 (before kept private messages) is upgraded in place to 4."""
    runner = ManualRunner()
    close(open_store(path, clock, runner), runner)
    connection = sqlite3.connect(path)
    connection.executescript(
        "DROP TABLE private_messages; DROP TABLE private_threads; PRAGMA user_version = 3;"
    )
    connection.close()
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    assert store.privates.append(pm("alice", "bob", "alice", None)).id == 1
    close(store, runner)
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == 4
    connection.close()
    assert rows(path, "private_threads") == 1


def test_a_malformed_row_is_skipped(path: str, clock: task.Clock) -> None:
    """A row of the wrong types is left out of answers, never raised."""
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    store.privates.append(pm("alice", "bob", "alice", None, "good"))
    store.privates.append(pm("alice", "bob", "alice", None, "bad"))
    close(store, runner)
    connection = sqlite3.connect(path)
    connection.execute("UPDATE private_messages SET ts = 'soon' WHERE id = 2")
    connection.commit()
    connection.close()
    runner = ManualRunner()
    store = open_store(path, clock, runner)
    assert read(store, "alice", "bob") == [(1, "good")]
    close(store, runner)


def test_retention_by_age_deletes_old_pms_and_ids_are_never_reused(
    path: str, clock: task.Clock
) -> None:
    """`--retain-days`: prune deletes what is older, and after every message is gone a
    restart still gives out the next id, not 1 again."""
    runner = ManualRunner()
    store = open_store(path, clock, runner, retain_days=1.0)
    store.privates.append(pm("alice", "bob", "alice", "bob", "old"))
    clock.advance(FLUSH_SECONDS)
    runner.run_all()
    clock.advance(2 * SECONDS_PER_DAY)
    store.prune()
    runner.run_all()
    assert read(store, "alice", "bob") == [] and conversations(store, "bob") == []
    close(store, runner)
    assert rows(path, "private_messages") == 0 and rows(path, "private_threads") == 0
    runner = ManualRunner()
    store = open_store(path, clock, runner, retain_days=1.0)
    assert store.privates.append(pm("alice", "bob", "alice", "bob", "new")).id == 2
    close(store, runner)
