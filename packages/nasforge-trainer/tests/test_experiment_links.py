"""The trainer's nasforge_experiment_links: a TensorBoard hint only where its logs were written."""

from types import SimpleNamespace

from nasforge.trainer.plugin import nasforge_experiment_links


def test_tensorboard_is_suggested_only_when_the_run_wrote_its_logs(tmp_path):
    experiment = SimpleNamespace(directory=tmp_path)
    assert nasforge_experiment_links(experiment) == []
    (tmp_path / "trials" / "0003" / "tensorboard").mkdir(parents=True)
    assert nasforge_experiment_links(experiment) == [f"tensorboard --logdir {tmp_path}"]
    other = tmp_path / "other"
    (other / "tensorboard").mkdir(parents=True)
    assert nasforge_experiment_links(SimpleNamespace(directory=other)) == [f"tensorboard --logdir {other}"]
