import sqlite3

import pytest

from nasforge.core.errors import UserError
from nasforge.core.records import Architecture, TrialState
from nasforge.core.store import Store


def test_trial_life_cycle_is_persisted_at_each_step(tmp_path):
    store = Store(tmp_path, create=True)
    t = store.add_trial(Architecture(a=1), None, {"format": "replay", "log": [["ask", {"a": 1}, None]]})
    assert Store(tmp_path).trials()[0].state is TrialState.PENDING  # visible to another connection at once
    t = store.mark_running(t)
    assert Store(tmp_path).trials()[0].state is TrialState.RUNNING
    store.finish_trial(t.evolve(state=TrialState.COMPLETE, metrics={"accuracy": 0.5}, finished_at=1.0), {"format": "replay", "log": [["ask", {"a": 1}, None], ["tell", {}]]})
    other = Store(tmp_path)
    [done] = other.trials()
    assert done.state is TrialState.COMPLETE and done.metrics == {"accuracy": 0.5}
    assert other.strategy_state()["log"] == [["ask", {"a": 1}, None], ["tell", {}]]
    assert other.attempts(0) == 1


def test_replay_log_is_appended_not_rewritten(tmp_path):
    store = Store(tmp_path, create=True)
    log = [["ask", {"a": i}, None] for i in range(3)]
    store.add_trial(Architecture(a=0), None, {"format": "replay", "log": log})
    store.add_trial(Architecture(a=1), None, {"format": "replay", "log": log + [["ask", {"a": 9}, None]]})
    rows = sqlite3.connect(tmp_path / "nasforge.db").execute("SELECT COUNT(*) FROM strategy_log").fetchone()[0]
    assert rows == 4
    with pytest.raises(ValueError, match="shrank"):
        store.add_trial(Architecture(a=2), None, {"format": "replay", "log": log[:1]})


def test_snapshot_states_replace_each_other(tmp_path):
    store = Store(tmp_path, create=True)
    store.add_trial(Architecture(a=0), None, {"format": "custom", "x": 1})
    store.add_trial(Architecture(a=1), None, {"format": "custom", "x": 2})
    assert Store(tmp_path).strategy_state() == {"format": "custom", "x": 2}


def test_unfinished_trial_cannot_be_stored_as_finished(tmp_path):
    store = Store(tmp_path, create=True)
    t = store.add_trial(Architecture(a=0), None, {"format": "x"})
    with pytest.raises(ValueError):
        store.finish_trial(t, None)


def test_missing_or_foreign_database_gives_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no nasforge experiment"):
        Store(tmp_path / "nowhere")
    (tmp_path / "nasforge.db").write_text("this is not sqlite" * 100)
    with pytest.raises(UserError, match="not a nasforge database"):
        Store(tmp_path)
