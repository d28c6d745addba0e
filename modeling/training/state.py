"""The state of a training run and its checkpoints: counters, loss history and best weights
(:class:`TrainingState`), written and restored with Accelerate's ``save_state``/``load_state`` as
safetensors and JSON, and checked to hold nothing that runs code (no pickle).
"""

import argparse
import codecs
import inspect
import json
import math
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

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

    def summary(self):
        """JSON-able view (no weights): ``metrics.json`` and each checkpoint's ``trainer_state.json``."""
        best = self.best_valid_loss if self.best_global_step is not None else None
        return {**self.history, "best_valid_loss": best, "best_global_step": self.best_global_step,
                "global_step": self.global_step, "epoch": self.epoch, "batches_in_epoch": self.batches_in_epoch}


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
    if not (path / "model.safetensors").is_file():
        raise ValueError(f"{path}: no model.safetensors; resume only from checkpoints written by this script")
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
    state.best_weights = load_file(str(best)) if best.is_file() else None


def _first_line(err):
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
