"""Early stopping from learning curves: the median rule and ASHA."""

import pytest

import nasforge.api as nf
from nasforge.core.early_stopping import EarlyStopper
from nasforge.core.errors import TrialPruned
from nasforge.core.records import TrialState

EPOCHS = 9


class Curves(nf.Evaluator):
    """accuracy(epoch) = a/10 * (1 - 0.6**epoch): the final ranking shows from the first epoch."""

    metrics = ("accuracy",)
    trained: list[int] = []

    def evaluate(self, architecture, context):
        a = architecture["a"] + (0.5 if architecture["b"] == "y" else 0.0)
        for epoch in range(1, EPOCHS + 1):
            Curves.trained.append(epoch)
            accuracy = a / 10 * (1 - 0.6**epoch)
            context.report(epoch, accuracy=accuracy)
        return {"accuracy": accuracy}


def _search(tmp_path, name, early_stopping=None):
    Curves.trained = []
    fields = {"early_stopping": early_stopping} if early_stopping else {}
    result = nf.run(space={"a": range(10), "b": ["x", "y"]}, evaluator=Curves, strategy="seeded_random", plugins=["nasforge_test_plugin"],
                    budget={"trials": 16}, seed=3, output=str(tmp_path / name), **fields)
    return result, len(Curves.trained)


@pytest.mark.parametrize("rule", ["asha", "median"])
def test_a_rule_stops_hopeless_trials_and_keeps_the_best(tmp_path, rule):
    full, full_epochs = _search(tmp_path, "full")
    stopped, stopped_epochs = _search(tmp_path, rule, {"rule": rule, "grace": 1, "eta": 3, "min_trials": 2})
    assert full_epochs == 16 * EPOCHS
    assert stopped_epochs <= 0.6 * full_epochs
    assert stopped.best.metrics["accuracy"] == full.best.metrics["accuracy"]
    pruned = [t for t in stopped.trials if t.state is TrialState.PRUNED]
    assert pruned and all("early-stopped at step" in t.error for t in pruned)
    assert [t.architecture for t in stopped.trials] == [t.architecture for t in full.trials]  # same seeds, same draws


def test_asha_rungs_and_cutoff():
    stopper = EarlyStopper("asha", "accuracy", grace=1, eta=3)
    assert stopper.rungs(30) == [1, 3, 9, 27]
    for trial, value in enumerate([0.5, 0.6, 0.7]):
        assert stopper.decide(trial, 1, value) is None or trial == 0  # too few at the rung for the first two
    assert "ASHA" in stopper.decide(3, 1, 0.4)  # 4 at the rung: keep the top 1
    assert stopper.decide(4, 1, 0.9) is None
    assert stopper.decide(4, 2, 0.1) is None  # not a rung


def test_median_rule_compares_best_so_far_with_other_trials_at_the_same_step():
    stopper = EarlyStopper("median", "latency", sign=-1.0, grace=2, min_trials=2)
    stopper.add_curve(0, {1: 5.0, 2: 4.0, 3: 3.0})
    stopper.add_curve(1, {1: 6.0, 2: 5.0})
    assert stopper.decide(2, 1, 9.0) is None  # within the grace steps
    assert "median rule" in stopper.decide(2, 2, 8.0)  # minimised: 8 is worse than the median 4.5
    assert stopper.decide(3, 2, 4.0) is None


def test_the_reporter_saves_the_curve_and_raises_to_stop(tmp_path):
    stopper = EarlyStopper("asha", "accuracy", grace=1, eta=2)
    stopper.add_curve(0, {1: 0.9})
    reporter = stopper.reporter(1, tmp_path)
    with pytest.raises(TrialPruned):
        reporter(1, {"accuracy": 0.1})
    assert '"curve": {"1": 0.1}' in (tmp_path / "curve.json").read_text()
