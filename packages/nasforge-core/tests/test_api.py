"""nasforge.api with the core alone (the test plugin's strategy; pandas may be missing)."""

import pytest

import nasforge.api as nf


def test_a_python_space_and_a_closure_as_evaluator(tmp_path):
    calls = []

    def score(arch):  # a closure: not importable by name, registered for the run
        calls.append(arch)
        return {"accuracy": arch["a"] / 10, "params": 100.0 * (arch["a"] + 1)}

    result = nf.run(space={"a": range(10), "b": nf.categorical(["x", "y"])}, evaluator=score, strategy="seeded_random", plugins=["nasforge_test_plugin"],
                    objectives=["accuracy", "params:min"], constraints=["params <= 500"], budget={"trials": 8}, output=str(tmp_path))
    assert len(calls) == 8 and result.config.evaluator.name == "python:test_a_python_space_and_a_closure_as_evaluator.<locals>.score"
    assert result.best.metrics["accuracy"] == max(t.metrics["accuracy"] for t in result.trials if t.metrics["params"] <= 500)
    rows = result.records()
    assert [r["feasible"] for r in rows] == [r["params"] <= 500 for r in rows] and {"arch.a", "arch.b"} <= set(rows[0])
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="records"):
            result.table()
    else:
        assert list(result.table().index) == list(range(8))
    loaded = nf.load(result.directory)
    assert loaded.best.number == result.best.number and [t.number for t in loaded.pareto] == [t.number for t in result.pareto]


def test_config_from_keywords_reports_mistakes_by_field():
    with pytest.raises(nf.ConfigError, match="budget.trails"):
        nf.config(space={"a": [1, 2]}, evaluator="synthetic", budget={"trails": 3})
    cfg = nf.config(space={"a": [1, 2]}, evaluator="synthetic", strategy="seeded_random")
    assert cfg.space.choices == [{"name": "a", "type": "categorical", "values": [1, 2], "ordered": False}] or cfg.space.choices[0]["name"] == "a"
