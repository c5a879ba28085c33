"""The search for the highest passing rate (`chathub/bench/capacity.py`), over made-up trials."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import pytest

from chathub.bench import capacity
from chathub.bench.load import Load
from chathub.bench.report import Latency, Trial

FANOUT = 10


@dataclass
class Publisher:
    room: str = "lobby"


@dataclass
class FakeLoad:
    """What `find_capacity` reads of a Load: the rooms' sizes, the publishers, `settle`."""

    per_room: dict[str, int] = field(default_factory=lambda: {"lobby": FANOUT})
    publishers: list[Publisher] = field(default_factory=lambda: [Publisher()])
    settled: int = 0

    def settle(self) -> None:
        self.settled += 1


def made_up(passes: Callable[[float, int], bool]) -> Callable[..., Trial]:
    """A `run_trial` whose trial at `rate` passes when `passes(rate, nth trial at that rate)`."""
    runs: dict[float, int] = {}

    def run_trial(load: object, rate: float, seconds: float, *args: object, **kw: object) -> Trial:
        runs[rate] = runs.get(rate, 0) + 1
        published = round(rate * seconds)
        ok = passes(rate, runs[rate])
        delivered = published * FANOUT if ok else published * FANOUT - 1
        return Trial(rate, seconds, published, published * FANOUT, delivered, Latency(5, 1, 2, 3))

    return run_trial


def search(load: FakeLoad, rate: float | None) -> tuple[list[Trial], Trial | None]:
    return capacity.find_capacity(
        cast(Load, load),
        rate=rate,
        step=2.0,
        p99_limit=100.0,
        seconds=1.0,
        sample=lambda: (None, None),
        progress=False,
        log=lambda text: None,
    )


def test_capacity_is_the_best_pass_within_six_percent_of_the_first_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stepping up then bisecting ends at a passing rate within 6% below where trials fail."""
    monkeypatch.setattr(capacity, "run_trial", made_up(lambda rate, nth: rate <= 1000))
    load = FakeLoad()
    trials, best = search(load, 100.0)
    assert best is not None and best.rate is not None
    assert 1000 / 1.06 <= best.rate <= 1000
    assert best.deliveries_per_second == max(t.deliveries_per_second for t in trials if not t.lost)
    assert load.settled == len(trials)


def test_a_rate_fails_only_when_a_second_trial_at_it_fails_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One stalled trial is retried; a retry that passes lets the search go on upward."""
    monkeypatch.setattr(
        capacity, "run_trial", made_up(lambda rate, nth: rate <= 1000 and (rate, nth) != (400, 1))
    )
    trials, best = search(FakeLoad(), 100.0)
    assert [t.rate for t in trials[:4]] == [100, 200, 400, 400]
    assert best is not None and best.rate is not None and best.rate > 400


def test_no_capacity_when_the_first_rate_fails_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --rate the search starts at 20,000 deliveries/s; if that fails twice, it stops."""
    monkeypatch.setattr(capacity, "run_trial", made_up(lambda rate, nth: False))
    trials, best = search(FakeLoad(), None)
    assert [t.rate for t in trials] == [20_000 / FANOUT] * 2
    assert best is None
