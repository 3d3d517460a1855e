import json
import math

import pytest

from nasforge.core.records import Architecture, EvaluationResult, Observation, Trial, TrialState


def test_architecture_equality_ignores_key_order_and_hashes_alike():
    a = Architecture({"depth": 2, "act": "relu"})
    b = Architecture(act="relu", depth=2)
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a != Architecture(act="relu", depth=3)


def test_architecture_is_immutable_and_json_round_trips():
    a = Architecture({"depth": 2, "act": "relu", "bn": True, "p": 0.5})
    with pytest.raises(TypeError):
        a["depth"] = 3  # type: ignore[index]
    text = a.to_json()
    assert json.loads(text) == {"act": "relu", "bn": True, "depth": 2, "p": 0.5}
    assert Architecture.from_json(text) == a
    assert a.with_values(depth=4)["depth"] == 4 and a["depth"] == 2


def test_architecture_rejects_non_scalar_values():
    with pytest.raises(TypeError, match="depth"):
        Architecture({"depth": [1, 2]})


def test_trial_round_trip_and_states():
    t = Trial(number=3, architecture=Architecture(a=1), state=TrialState.COMPLETE, metrics={"accuracy": 0.9}, started_at=10.0, finished_at=12.5)
    assert Trial.from_dict(t.to_dict()) == t
    assert t.duration == 2.5
    assert TrialState.COMPLETE.is_finished() and TrialState.PRUNED.is_finished()
    assert not TrialState.RUNNING.is_finished()
    assert t.evolve(state=TrialState.FAILED).state is TrialState.FAILED and t.state is TrialState.COMPLETE


def test_evaluation_result_coerces_numbers_and_rejects_text():
    r = EvaluationResult({"accuracy": 1, "params": 3.5})
    assert r.metrics == {"accuracy": 1.0, "params": 3.5}
    with pytest.raises(TypeError, match="accuracy"):
        EvaluationResult({"accuracy": "high"})


def test_observation_treats_non_finite_score_as_failed():
    assert Observation(Architecture(a=1), score=math.nan).score is None
    assert not Observation(Architecture(a=1), score=math.inf).ok
    assert Observation(Architecture(a=1), score=0.5).ok
