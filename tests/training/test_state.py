"""modeling.training.state, .run_folder and .reporting: run state, the training length, checkpoint
discovery, flag types, trackers."""

import argparse
import json
import math

import pytest
import torch

from modeling.training.reporting import resolve_trackers, tracker_config
from modeling.training.run_folder import TRAINER_STATE_FILE, find_checkpoint
from modeling.training.state import (
    MAX_EPOCHS, MIN_EVAL_STEPS, TrainingState, checkpointing_steps, plan_training_length,
)
from modeling.utils import atomic_write_json


def test_training_state_records_best_and_round_trips():
    state = TrainingState()
    for loss in (0.5, 0.7):
        state.add_train_loss(loss)
    state.global_step = 4
    assert state.record_evaluation({"loss": 0.6, "accuracy": 0.7}, epoch=0.5)
    state.global_step = 8
    state.add_train_loss(0.3)
    assert not state.record_evaluation({"loss": 0.65, "accuracy": 0.75}, epoch=1.0)
    assert not state.record_evaluation({"loss": math.nan, "accuracy": 0.5}, epoch=1.0)  # NaN is never best
    assert state.history["train_loss_list"][:2] == [0.6, 0.3]
    assert state.history["global_steps_list"] == [4, 8, 8]
    assert (state.best_valid_loss, state.best_global_step) == (0.6, 4)
    assert state.mean_train_loss == pytest.approx(0.5)
    state.best_weights = {"w": torch.ones(2)}
    copy = TrainingState()
    copy.load_state_dict(state.state_dict())
    assert copy.summary() == state.summary() and torch.equal(copy.best_weights["w"], torch.ones(2))
    # Checkpoints store the counters as JSON (no pickle): floats, inf and the history come back exactly.
    fresh = TrainingState()
    assert json.loads(json.dumps(fresh.counters()))["best_valid_loss"] == math.inf
    from_json = TrainingState()
    from_json.load_state_dict(json.loads(json.dumps(state.counters())))
    assert json.dumps(from_json.counters()) == json.dumps(state.counters())  # NaN != NaN: compare the text
    assert "best_weights" not in state.counters()


def evaluated(losses, every=10):
    """A state that saw one evaluation with each of ``losses``, ``every`` steps apart."""
    state = TrainingState()
    for i, loss in enumerate(losses, start=1):
        state.global_step = i * every
        state.record_evaluation({"loss": loss, "accuracy": 0.5}, epoch=i)
    return state


def test_evaluations_since_best():
    assert TrainingState().evaluations_since_best == 0
    assert evaluated([0.7, 0.6, 0.5]).evaluations_since_best == 0
    assert evaluated([0.7, 0.5, 0.6, 0.55, 0.5]).evaluations_since_best == 3  # a tie is no improvement


@pytest.mark.parametrize("steps_per_epoch, eval_steps", [(8, MIN_EVAL_STEPS), (32, MIN_EVAL_STEPS), (267, 66)])
def test_default_length_evaluates_four_times_an_epoch_at_least_min_eval_steps_apart(steps_per_epoch, eval_steps):
    length = plan_training_length(steps_per_epoch)
    assert (length.eval_steps, length.limit) == (eval_steps, "max_epochs")
    assert (length.max_steps, length.num_epochs) == (MAX_EPOCHS * steps_per_epoch, MAX_EPOCHS)


def test_explicit_limits_win_and_cap_the_minimum():
    assert plan_training_length(8, num_train_epochs=3).max_steps == 24
    length = plan_training_length(8, num_train_epochs=3, max_steps=5, min_steps=200)
    assert (length.max_steps, length.limit, length.min_steps, length.eval_steps) == (5, "max_steps", 5, 5)
    assert plan_training_length(8, eval_steps=3).eval_steps == 3


def test_should_stop_early_after_patience_evaluations_from_min_steps():
    rising = [0.6, 0.7, 0.8, 0.9, 1.0]  # best at step 10, then four evaluations without improvement
    length = plan_training_length(1000, early_stopping_patience=3, min_steps=0)
    assert [length.should_stop_early(evaluated(rising[:n])) for n in range(1, 6)] == [False, False, False, True, True]
    assert not plan_training_length(1000, early_stopping_patience=3, min_steps=60).should_stop_early(evaluated(rising))
    assert plan_training_length(1000, early_stopping_patience=3, min_steps=50).should_stop_early(evaluated(rising))
    assert not plan_training_length(1000, early_stopping_patience=0, min_steps=0).should_stop_early(evaluated(rising))


def test_the_bar_ends_at_the_earliest_step_early_stopping_can_end_the_run():
    """Evaluations every 10 steps, patience 3, from step 45: before any evaluation, at most step 50
    (the first evaluation from step 45); the bar's end moves out with each new best and is the step
    where the run stops when the loss does not improve again."""
    length = plan_training_length(1000, eval_steps=10, early_stopping_patience=3, min_steps=45)
    assert length.earliest_stop(TrainingState()) == 50
    losses = [0.7, 0.6, 0.5, 0.4, 0.45, 0.5, 0.55]  # best at step 40; evaluations at 10, 20, ... 70
    ends = [length.earliest_stop(evaluated(losses[:n])) for n in range(1, len(losses) + 1)]
    assert ends == [50, 50, 60, 70, 70, 70, 70]
    stopped = evaluated(losses)
    assert length.should_stop_early(stopped) and stopped.global_step == ends[-1]
    assert plan_training_length(8, max_steps=30, eval_steps=10, early_stopping_patience=3).earliest_stop(stopped) == 30
    assert plan_training_length(8, max_steps=300, early_stopping_patience=0).earliest_stop(stopped) == 300


def test_checkpointing_steps_type():
    assert checkpointing_steps("epoch") == "epoch"
    assert checkpointing_steps("25") == 25
    for bad in ("0", "-3", "often"):
        with pytest.raises(argparse.ArgumentTypeError):
            checkpointing_steps(bad)


def _checkpoint(root, name, global_step, complete=True):
    path = root / name
    path.mkdir()
    if complete:
        atomic_write_json(path / TRAINER_STATE_FILE, {"global_step": global_step})
    return path


def test_find_checkpoint_latest_skips_incomplete_ones(tmp_path):
    _checkpoint(tmp_path, "step_40", 40)
    best = _checkpoint(tmp_path, "epoch_1", 64)  # an epoch checkpoint can be the most recent
    _checkpoint(tmp_path, "step_80", 80, complete=False)  # cut short by a crash
    (tmp_path / "notes_1").mkdir()
    assert find_checkpoint("latest", tmp_path) == best
    assert find_checkpoint(str(tmp_path / "step_40"), tmp_path) == tmp_path / "step_40"
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        find_checkpoint(str(tmp_path / "step_80"), tmp_path)
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        find_checkpoint("latest", tmp_path / "step_80")


def test_resolve_trackers(monkeypatch):
    import modeling.training.reporting as training

    installed = {"tensorboard"}
    monkeypatch.setattr(training, "tracker_available", lambda name: name in installed)
    assert resolve_trackers("all") == ["tensorboard"]
    assert resolve_trackers("tensorboard") == ["tensorboard"]
    with pytest.raises(ValueError, match="wandb package is not installed"):
        resolve_trackers("wandb")
    installed.clear()
    with pytest.raises(ValueError, match="no tracker is installed"):
        resolve_trackers("all")


def test_tracker_available_detects_by_import_name(monkeypatch, tmp_path):
    from modeling.training.reporting import tracker_available

    assert not tracker_available("wandb_not_a_package")
    (tmp_path / "wandb").mkdir()
    (tmp_path / "wandb" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert tracker_available("wandb")


def test_tracker_config_is_flat_scalars():
    args = argparse.Namespace(lr=1e-3, name="x", test_file=None, steps="epoch")
    assert tracker_config(args) == {"lr": 1e-3, "name": "x", "test_file": "None", "steps": "epoch"}
