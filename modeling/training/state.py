"""The state of a training run and its checkpoints: counters, loss history and best weights
(:class:`TrainingState`), written and restored with Accelerate's ``save_state``/``load_state`` as
safetensors and JSON, and checked to hold nothing that runs code (no pickle); and how long a run
trains (:class:`TrainingLength`: the evaluation schedule, early stopping and the limits).
"""

import argparse
import codecs
import inspect
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from ..model import read_weights
from ..source import WEIGHTS_FILE
from ..utils import atomic_write_json, give_default_mode
from .run_folder import TRAINER_STATE_FILE

BEST_WEIGHTS_FILE = "best_model.safetensors"
# What Accelerate's RNG-state files hold besides tensors: numpy arrays and dtypes, and the bytes
# codec of numpy's pickled state. Nothing here runs code.
_PLAIN_DATA_GLOBALS = [np.ndarray, np.dtype, codecs.encode, np.dtypes.UInt32DType,
                       getattr(np, "_core", None) and np._core.multiarray._reconstruct]


def load_plain_data(file):
    """``torch.load(weights_only=True)`` that also accepts numpy arrays and dtypes (the RNG states
    Accelerate saves); raises on any other pickled object, code included."""
    with torch.serialization.safe_globals([g for g in _PLAIN_DATA_GLOBALS if g is not None]):
        return torch.load(file, map_location="cpu", weights_only=True)


class TrainingState:
    """Counters, loss history and best weights: everything a resumed run needs besides what
    ``save_state`` already stores (model, optimizer, RNG). :func:`save_checkpoint` writes it as
    JSON and safetensors (not through ``register_for_checkpointing``, whose pickle Accelerate
    loads with ``weights_only=False``)."""

    def __init__(self):
        self.epoch = 0  # epoch in progress
        self.batches_in_epoch = 0  # batches of that epoch already trained on
        self.global_step = 0  # optimizer steps
        self.running_loss, self.running_batches = 0.0, 0  # train loss since the last evaluation
        self.total_loss, self.total_batches = 0.0, 0  # train loss over the whole run
        self.history = {"train_loss_list": [], "valid_loss_list": [], "global_steps_list": [],
                        "valid_accuracy_list": [], "epoch_list": []}
        self.best_valid_loss, self.best_global_step, self.best_weights = math.inf, None, None
        self.stream_positions = None  # --streaming: each process's place in its train stream (TrainStream.position)

    def state_dict(self):
        return dict(vars(self))

    def load_state_dict(self, state):
        vars(self).update(state)

    def counters(self):
        """Everything but the best weights, JSON-able (floats round-trip exactly through ``json``)."""
        return {k: v for k, v in vars(self).items() if k != "best_weights"}

    def add_train_loss(self, loss):
        self.running_loss += loss
        self.running_batches += 1
        self.total_loss += loss
        self.total_batches += 1

    @property
    def mean_train_loss(self):
        return self.total_loss / max(self.total_batches, 1)

    def record_evaluation(self, results, epoch):
        """Append one evaluation to the history; return True if it is the best valid loss so far."""
        train_loss = self.running_loss / max(self.running_batches, 1)
        self.running_loss, self.running_batches = 0.0, 0
        for key, value in (("train_loss_list", train_loss), ("valid_loss_list", results["loss"]),
                           ("global_steps_list", self.global_step), ("valid_accuracy_list", results["accuracy"]),
                           ("epoch_list", round(epoch, 4))):
            self.history[key].append(value)
        if results["loss"] < self.best_valid_loss:
            self.best_valid_loss, self.best_global_step = results["loss"], self.global_step
            return True
        return False

    @property
    def last_evaluated_step(self):
        steps = self.history["global_steps_list"]
        return steps[-1] if steps else None

    @property
    def evaluations_since_best(self):
        """Evaluations after the one with the lowest validation loss (0 when the last one is the best)."""
        steps = self.history["global_steps_list"]
        if self.best_global_step is None:
            return len(steps)
        return len(steps) - 1 - steps.index(self.best_global_step)

    def summary(self):
        """JSON-able view (no weights): ``metrics.json`` and each checkpoint's ``trainer_state.json``."""
        best = self.best_valid_loss if self.best_global_step is not None else None
        return {**self.history, "best_valid_loss": best, "best_global_step": self.best_global_step,
                "global_step": self.global_step, "epoch": self.epoch, "batches_in_epoch": self.batches_in_epoch}


# ----------------------------------------------------------------------------- training length
# The default length of a run, chosen on the validation loss of learning curves (MR, Subj, TREC,
# SST-2 at 250 and 1,000 rows and full size; docs/BENCHMARKS.md, section 9): one rule for every size.
EVALUATIONS_PER_EPOCH = 4  # evaluate four times per epoch ...
MIN_EVAL_STEPS = 10  # ... but not more often than every 10 optimizer steps
EARLY_STOPPING_PATIENCE = 10  # evaluations without a lower validation loss before the run stops
MIN_STEPS = 200  # optimizer steps before early stopping may end a run
MAX_EPOCHS = 100  # the cap when neither --num_train_epochs nor --max_steps is given
STOP_REASONS = {
    "early_stopping": "the validation loss did not improve for {patience} evaluations",
    "max_steps": "--max_steps {max_steps} reached",
    "num_train_epochs": "--num_train_epochs {num_train_epochs} done",
    "max_epochs": f"the cap of {MAX_EPOCHS} epochs reached (no --num_train_epochs or --max_steps given)",
}


@dataclass(frozen=True)
class TrainingLength:
    """How long a run trains, how often it evaluates, and when it may stop early.

    ``max_steps`` is the step the run never goes past and ``limit`` what set it (``"max_steps"``,
    ``"num_train_epochs"`` or ``"max_epochs"``, the default cap); the run stops earlier once
    ``patience`` evaluations in a row (``0``: never) have not lowered the best validation loss,
    but not before step ``min_steps``.
    """

    steps_per_epoch: int
    max_steps: int
    limit: str
    eval_steps: int
    patience: int
    min_steps: int

    @property
    def num_epochs(self):
        """Epochs the limit spans; None for a stream of unknown length."""
        return math.ceil(self.max_steps / self.steps_per_epoch) if self.steps_per_epoch else None

    def should_stop_early(self, state):
        """Whether the run in ``state`` ends at its last evaluation. It depends only on the evaluation
        history and the step, so a resumed run stops where the uninterrupted one did."""
        return (self.patience > 0 and state.last_evaluated_step == state.global_step
                and state.global_step >= self.min_steps and state.evaluations_since_best >= self.patience)

    def earliest_stop(self, state):
        """The first step at which early stopping could end the run in ``state`` if the validation loss
        does not improve again: ``patience`` evaluations after the best one, not before ``min_steps``,
        never past ``max_steps`` (which it is without early stopping)."""
        if not self.patience:
            return self.max_steps
        best = state.best_global_step or 0
        first_allowed = math.ceil(self.min_steps / self.eval_steps) * self.eval_steps
        return min(self.max_steps, max(best + self.patience * self.eval_steps, first_allowed))

    def bar_total(self, state):
        """The progress bar's end: :meth:`earliest_stop`, which moves out each time the validation loss
        improves, so the bar and its time estimate track the run's likely end rather than the cap."""
        return max(self.earliest_stop(state), state.global_step)

    def describe(self):
        """The banner's words for it."""
        text = f"at most {self.max_steps} ({self.limit.replace('_', ' ')})"
        if self.patience:
            text += (f"; early stopping after {self.patience} evaluations without a lower validation loss,"
                     f" from step {self.min_steps}")
        return text


def plan_training_length(steps_per_epoch, *, max_steps=None, num_train_epochs=None, eval_steps=None,
                         early_stopping_patience=EARLY_STOPPING_PATIENCE, min_steps=MIN_STEPS):
    """The :class:`TrainingLength` of a run with ``steps_per_epoch`` optimizer steps per epoch.

    ``max_steps`` wins over ``num_train_epochs`` (as in the HF Trainer); with neither, the cap is
    :data:`MAX_EPOCHS` epochs. Evaluation runs every ``eval_steps`` (``None``: four times per epoch,
    at least :data:`MIN_EVAL_STEPS` apart, never past the end). ``min_steps`` is capped by the limit.
    """
    if max_steps:
        limit, total = "max_steps", max_steps
    elif num_train_epochs:
        limit, total = "num_train_epochs", num_train_epochs * steps_per_epoch
    else:
        limit, total = "max_epochs", MAX_EPOCHS * steps_per_epoch
    if eval_steps is None:
        eval_steps = min(max(MIN_EVAL_STEPS, steps_per_epoch // EVALUATIONS_PER_EPOCH), total)
    return TrainingLength(steps_per_epoch=steps_per_epoch, max_steps=total, limit=limit, eval_steps=eval_steps,
                          patience=early_stopping_patience or 0, min_steps=min(min_steps, total))


def stop_reason_message(reason, length, args):
    """Why the run stopped, in words (``reason``: a key of :data:`STOP_REASONS`)."""
    return STOP_REASONS[reason].format(patience=length.patience, max_steps=args.max_steps,
                                       num_train_epochs=args.num_train_epochs)


def checkpointing_steps(value):
    """``argparse`` type for ``--checkpointing_steps``: ``"epoch"`` or a positive number of steps."""
    if value == "epoch":
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise argparse.ArgumentTypeError(f"expected 'epoch' or a positive integer, got {value!r}")


def save_checkpoint(accelerator, state, output_dir, name):
    """``save_state`` into ``output_dir/name`` (model as safetensors, optimizer, RNG states), the best
    weights as safetensors, then ``trainer_state.json`` (run counters) last: its presence marks a
    complete checkpoint, so ``latest`` never picks one cut short by a crash."""
    path = Path(output_dir) / name
    marker = path / TRAINER_STATE_FILE
    if accelerator.is_main_process and marker.exists():
        marker.unlink()
    accelerator.wait_for_everyone()
    accelerator.save_state(str(path), safe_serialization=True)
    if accelerator.is_main_process and state.best_weights is not None:
        save_file(state.best_weights, str(path / BEST_WEIGHTS_FILE))
    if accelerator.is_main_process:
        for weights in path.glob("*.safetensors"):  # safetensors writes mode 600, every other file is 644
            give_default_mode(weights)
    accelerator.wait_for_everyone()  # every rank has written its RNG state
    if accelerator.is_main_process:
        atomic_write_json(marker, {**state.summary(), "state": state.counters()})
    accelerator.wait_for_everyone()
    return path


def load_checkpoint(accelerator, state, path):
    """Restore a :func:`save_checkpoint` folder into the prepared objects and ``state``.

    No file is unpickled with code execution allowed: the model and best weights come from
    safetensors, and every other file (optimizer, RNG states) must load with
    ``torch.load(weights_only=True)`` (tensors, numbers and numpy arrays only) before anything
    is restored, so a tampered checkpoint is refused whole instead of half-applied.
    """
    path = Path(path)
    saved = json.loads((path / TRAINER_STATE_FILE).read_text())
    if "state" not in saved:
        raise ValueError(f"{path}: {TRAINER_STATE_FILE} holds no run state (a checkpoint of an older train.py);"
                         " resume from a newer checkpoint or start a new run")
    if not (path / WEIGHTS_FILE).is_file():
        raise ValueError(f"{path}: no {WEIGHTS_FILE}; resume only from checkpoints written by this script")
    for file in sorted(path.glob("*.bin")) + sorted(path.glob("*.pkl")):
        try:
            load_plain_data(file)
        except Exception as err:
            raise ValueError(f"{file}: refused: it does not load as plain tensors and numbers ({_first_line(err)})"
                             ) from None
    try:
        # Files already passed load_plain_data; where load_state takes load_kwargs (accelerate >= 1.8)
        # its own torch.load is held to weights_only too.
        extra = ({"load_kwargs": {"weights_only": True}}
                 if "load_kwargs" in inspect.signature(accelerator.load_state).parameters else {})
        accelerator.load_state(str(path), **extra)
    except Exception as err:  # a checkpoint of another model: shapes or parameter names differ
        raise ValueError(f"{path}: cannot resume from this checkpoint ({_first_line(err)})") from None
    state.load_state_dict(saved["state"])
    best = path / BEST_WEIGHTS_FILE
    state.best_weights = read_weights(best) if best.is_file() else None  # a truncated file: one line


def _first_line(err):
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
