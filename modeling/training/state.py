"""Pieces of the training loop that would clutter ``scripts/train.py``: run state, checkpoints, trackers.

The loop itself stays in the script, in the order of Accelerate's ``nlp_example.py`` and
``by_feature/checkpointing.py``.
"""

import argparse
import codecs
import importlib.util
import inspect
import json
import logging
import math
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..data.pipeline import prepare_dataset, split_dataset
from ..data.files import read_dataset, read_table, tables_from_datasets
from .plots import plot_loss_curve
from ..transformers_files import TRANSFORMERS_FILES
from ..utils import atomic_write_json

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
LOSS_CURVE_FILE = "loss_curve.png"
ALL_RESULTS_FILE = "all_results.json"
TRAINER_STATE_FILE = "trainer_state.json"
BEST_WEIGHTS_FILE = "best_model.safetensors"
# What a finished run leaves in --output_dir besides checkpoints (--overwrite_output_dir removes them).
RUN_FILES = ("config.json", "model.safetensors", "tokenizer.json", METRICS_FILE, LOSS_CURVE_FILE,
             ALL_RESULTS_FILE, "eval_results.json", "confusion_matrix.png", "training_args.json", *TRANSFORMERS_FILES)
CHECKPOINT_NAME = re.compile(r"^(step|epoch)_(\d+)$")
# Trackers Accelerate can log to, detected by their import name (accelerate's own ``is_*_available``
# helpers are not public API: a minor release removed one of their neighbours).
TRACKERS = ("tensorboard", "trackio", "wandb")
# What Accelerate's RNG-state files hold besides tensors: numpy arrays and dtypes, and the bytes
# codec of numpy's pickled state. Nothing here runs code.
_PLAIN_DATA_GLOBALS = [np.ndarray, np.dtype, codecs.encode, np.dtypes.UInt32DType,
                       getattr(np, "_core", None) and np._core.multiarray._reconstruct]


def tracker_available(name):
    """Whether the tracker package ``name`` can be imported (``tensorboard`` may also come as
    ``tensorboardX``, which Accelerate accepts too)."""
    names = ("tensorboard", "tensorboardX") if name == "tensorboard" else (name,)
    return any(importlib.util.find_spec(n) is not None for n in names)


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


def write_history(state, output_dir, plot=False):
    """Write ``metrics.json`` (the tutorial's three lists and more), and ``loss_curve.png`` if ``plot``."""
    summary = state.summary()
    atomic_write_json(Path(output_dir) / METRICS_FILE, summary)
    if plot and summary["global_steps_list"]:
        steps = summary["global_steps_list"]
        plot_loss_curve(steps, summary["train_loss_list"], steps, summary["valid_loss_list"],
                        Path(output_dir) / LOSS_CURVE_FILE)


# ----------------------------------------------------------------------------- checkpoints
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


def find_checkpoint(spec, output_dir):
    """Resolve ``--resume_from_checkpoint``: a checkpoint folder, or ``latest`` (the complete
    checkpoint with the most steps in ``output_dir``)."""
    if spec != "latest":
        path = Path(spec)
        if not (path / TRAINER_STATE_FILE).is_file():
            raise FileNotFoundError(f"{path}: not a complete checkpoint (no {TRAINER_STATE_FILE})")
        return path
    found = [p for p in Path(output_dir).glob("*_*") if CHECKPOINT_NAME.match(p.name)
             and (p / TRAINER_STATE_FILE).is_file()]
    if not found:
        raise FileNotFoundError(f"--resume_from_checkpoint latest: no complete checkpoint in {output_dir}")
    return max(found, key=_checkpoint_step)


def _checkpoint_step(path):
    return json.loads((path / TRAINER_STATE_FILE).read_text())["global_step"]


def check_output_dir(output_dir, overwrite=False, resume_from_checkpoint=None):
    """Refuse to train into a folder that already holds a model, unless told to overwrite it or
    to resume a checkpoint inside it. Called before anything is loaded or written."""
    output_dir = Path(output_dir)
    if overwrite or not any((output_dir / name).is_file() for name in ("config.json", "model.safetensors")):
        return
    if resume_from_checkpoint == "latest" or (
            resume_from_checkpoint and output_dir.resolve() in Path(resume_from_checkpoint).resolve().parents):
        return
    try:  # suggest resuming only where there is a checkpoint to resume from
        resume = (f", --resume_from_checkpoint latest to continue its run (from"
                  f" {find_checkpoint('latest', output_dir).name})")
    except FileNotFoundError:
        resume = ""
    raise ValueError(f"{output_dir} already holds a model (config.json, model.safetensors): pass"
                     f" --overwrite_output_dir to replace it{resume}, or choose another --output_dir")


def clear_output_dir(output_dir):
    """Remove a previous run's model, results and checkpoints (``--overwrite_output_dir``), so that
    ``--resume_from_checkpoint latest`` can never pick a checkpoint of the replaced model."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return
    for name in RUN_FILES:
        (output_dir / name).unlink(missing_ok=True)
    for path in output_dir.iterdir():
        if CHECKPOINT_NAME.match(path.name) and path.is_dir():
            shutil.rmtree(path)


# ----------------------------------------------------------------------------- data, logs, trackers
def load_training_files(train_file, validation_file=None, test_file=None, *, text_column=None,
                        label_column="label", first_n_words=200, seed=42, label_names=None, delimiter=None,
                        dataset_name=None, dataset_config_name=None, data=None):
    """Clean the given data files, the splits of ``datasets.load_dataset(dataset_name,
    dataset_config_name)``, or ``data`` (``{"train": datasets.Dataset, ...}``), with the train
    split's label names (or ``label_names``, in id order; a data set's ``ClassLabel`` names
    otherwise). Without a validation split, 10% of the train split is held out (stratified, seeded).

    Returns:
        (``{"train", "validation"[, "test"]}`` datasets, text column, label names)
    """
    given = "--label_names" if label_names else "train split"
    hint = "use more rows or pass validation data"
    if data:
        tables, declared = tables_from_datasets(data, label_column=label_column)
    elif dataset_name:
        tables, declared = read_dataset(dataset_name, dataset_config_name, label_column=label_column)
    else:
        files = {"train": train_file, "validation": validation_file, "test": test_file}
        tables = {name: read_table(path, required_columns=[label_column], delimiter=delimiter)
                  for name, path in files.items() if path is not None}
        declared, hint = None, "use more rows or pass --validation_file"
    if declared and not label_names:
        label_names, given = declared, "ClassLabel names of the train split"
    options = dict(text_column=text_column, label_column=label_column, first_n_words=first_n_words)
    train_table = tables.pop("train")
    train, text_column, label_names, _ = prepare_dataset(
        train_table.dataset, **options, label_names=label_names, label_names_given=given,
        source=str(train_table.path), first_row=train_table.first_row)
    options["text_column"] = text_column
    splits = {"train": train}
    if "validation" not in tables:
        logger.info("no validation split: 10%% of %s is held out for validation", train_table.path)
        splits = dict(split_dataset(train, train_ratio=0.9, valid_ratio=0.1, seed=seed, source=str(train_table.path),
                                    hint=hint))
    for name, table in tables.items():
        splits[name], *_ = prepare_dataset(table.dataset, **options, label_names=label_names, label_names_given=given,
                                           source=str(table.path), first_row=table.first_row)
    return splits, text_column, label_names


def log_banner(log, *, num_examples, num_epochs, batch_size, total_batch_size, accumulation, total_steps,
               eval_steps, num_valid):
    """The "Running training" banner of the HF example scripts."""
    log.info("***** Running training *****")
    log.info(f"  Num examples = {num_examples}")
    log.info(f"  Num epochs = {num_epochs}")
    log.info(f"  Instantaneous batch size per device = {batch_size}")
    log.info(f"  Total train batch size (w. parallel, distributed & accumulation) = {total_batch_size}")
    log.info(f"  Gradient accumulation steps = {accumulation}")
    log.info(f"  Total optimization steps = {total_steps}")
    log.info(f"  Evaluation every {eval_steps} steps on {num_valid} validation examples")


def resolve_trackers(report_to):
    """Tracker names for ``Accelerator(log_with=...)``; raise ``ValueError`` when one is not installed
    (Accelerate would otherwise silently log nowhere)."""
    if report_to == "all":
        found = [name for name in TRACKERS if tracker_available(name)]
        if not found:
            raise ValueError("--report_to all: no tracker is installed (pip install tensorboard, trackio or wandb)")
        return found
    if not tracker_available(report_to):
        raise ValueError(f"--report_to {report_to}: the {report_to} package is not installed (pip install {report_to})")
    return [report_to]


def tracker_config(args):
    """Run settings as flat scalars, which every tracker accepts (TensorBoard's hparams reject None)."""
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in vars(args).items()}
