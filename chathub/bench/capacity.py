"""`--find-capacity`: the highest publish rate a target sustains, found by trials.

Rules:
- A trial passes when no message is lost and p99 latency is within the limit.
- The rate steps up by a factor until a rate fails; then it bisects between the best pass and
  the lowest failure until they are within 6%. The capacity is the best passing trial, by
  deliveries per second.
- On a shared machine one stall of the target fails a p99, so a rate fails only if a second
  trial at it fails too.
- Without a rate to start from, the first is 20,000 deliveries/s over the first publisher's
  room, at least 10 messages/s.
"""

from collections.abc import Callable

from chathub.bench.load import Load
from chathub.bench.report import Trial, trial_line
from chathub.bench.trial import run_trial

MAX_TRIALS = 30
CLOSE_ENOUGH = 1.06  # stop bisecting when the failing rate is within 6% of the passing one


def find_capacity(
    load: Load,
    *,
    rate: float | None,
    step: float,
    p99_limit: float,
    seconds: float,
    sample: Callable[[], tuple[float | None, int | None]],
    progress: bool,
    log: Callable[[str], None],
) -> tuple[list[Trial], Trial | None]:
    """Every trial run, and the best passing one (None if none passed)."""
    fanout = max(1, load.per_room[load.publishers[0].room]) if load.publishers else 1
    rate = rate or max(10.0, 20_000 / fanout)
    trials: list[Trial] = []
    best: Trial | None = None
    failed_at: float | None = None
    for _ in range(MAX_TRIALS):
        trial = run_trial(load, rate, seconds, sample, progress=progress)
        trials.append(trial)
        verdict = "pass" if trial.passes(p99_limit) else "FAIL"
        log(f"{verdict} {trial_line(trial)}")
        load.settle()
        if not trial.passes(p99_limit):
            trial = run_trial(load, rate, seconds, sample, progress=progress)
            trials.append(trial)
            verdict = "pass" if trial.passes(p99_limit) else "FAIL"
            log(f"{verdict} (again) {trial_line(trial)}")
            load.settle()
        if trial.passes(p99_limit):
            if best is None or trial.deliveries_per_second > best.deliveries_per_second:
                best = trial
            low = rate
        else:
            failed_at = rate
            if best is None:
                break
            low = best.rate or rate
        if failed_at is None:
            rate *= step
        else:
            if failed_at / low < CLOSE_ENOUGH:
                break
            rate = (low + failed_at) / 2
    return trials, best
