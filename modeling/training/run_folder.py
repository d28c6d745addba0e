"""A run's folder (``--output_dir``): the files it holds, whether its run finished, its checkpoints
(listing, rotation, ``latest``), and the checks before a run writes to it.

``run_status.json`` is written when training starts (``"state": "running"``) and replaced when it
ends: ``"finished"``, ``"interrupted"`` (Ctrl-C) or ``"diverged"``. A run killed outright stays
``"running"``. Reading it is ``modeling.source``'s (prediction needs it without this wing):
``evaluate_model.py`` and ``predict.py`` warn about a model whose run did not finish,
``push_to_hub.py`` refuses it unless ``--force``.
"""

import json
import logging
import re
import shutil
from pathlib import Path

from ..source import CONFIG_FILE, EVAL_RESULTS_FILE, RUN_STATUS_FILE, WEIGHTS_FILE, read_run_status, unfinished_message
from ..tokenizer import TOKENIZER_FILE
from ..transformers_files import TRANSFORMERS_FILES
from ..utils import atomic_write_json

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
LOSS_CURVE_FILE = "loss_curve.png"
ALL_RESULTS_FILE = "all_results.json"
CARD_DATA_FILE = "card_data.json"
TRAINER_STATE_FILE = "trainer_state.json"
# What a finished run leaves in --output_dir besides checkpoints (--overwrite_output_dir removes them).
RUN_FILES = (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, METRICS_FILE, LOSS_CURVE_FILE,
             ALL_RESULTS_FILE, EVAL_RESULTS_FILE, "confusion_matrix.png", "training_args.json", *TRANSFORMERS_FILES)
CHECKPOINT_NAME = re.compile(r"^(step|epoch)_(\d+)$")


def write_run_status(output_dir, state, *, global_step=None, best_global_step=None, demo=False):
    """Record where the run in ``output_dir`` stands (atomically)."""
    atomic_write_json(Path(output_dir) / RUN_STATUS_FILE, {
        "state": state, "finished": state == "finished", "global_step": global_step,
        "best_global_step": best_global_step, "demo": demo})


def check_finished(model_dir, force=False):
    """Refuse (``ValueError``) a run that did not finish, unless ``force``."""
    message = unfinished_message(model_dir)
    if message and not force:
        raise ValueError(f"{message}; finish or resume the run first, or pass --force to use it anyway")
    if message:
        logger.warning(message)


def is_demo_run(output_dir):
    """Whether ``output_dir`` holds a run of the demo data (``train.py`` with no data flags)."""
    status = read_run_status(output_dir)
    return bool(status and status.get("demo"))


def complete_checkpoints(output_dir):
    """Complete ``step_N``/``epoch_N`` checkpoints of ``output_dir``, oldest (fewest steps) first."""
    found = [p for p in Path(output_dir).glob("*_*")
             if CHECKPOINT_NAME.match(p.name) and (p / TRAINER_STATE_FILE).is_file()]
    return sorted(found, key=lambda p: json.loads((p / TRAINER_STATE_FILE).read_text())["global_step"])


def rotate_checkpoints(output_dir, save_total_limit):
    """Delete the oldest complete checkpoints so that at most ``save_total_limit`` remain
    (``--save_total_limit``, as the HF Trainer does). Returns the deleted paths."""
    if not save_total_limit:
        return []
    found = complete_checkpoints(output_dir)
    doomed = found[: max(0, len(found) - save_total_limit)]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
        logger.info("Deleted %s (--save_total_limit %d)", path, save_total_limit)
    return doomed


def resume_hint(output_dir):
    """How to continue a stopped run: resume from its checkpoint if one exists, else say there is none."""
    if complete_checkpoints(output_dir):
        return "to continue, run the same command with --resume_from_checkpoint latest"
    return "no checkpoint was saved, so it cannot be resumed (--checkpointing_steps epoch makes a run resumable)"


def find_checkpoint(spec, output_dir):
    """Resolve ``--resume_from_checkpoint``: a checkpoint folder, or ``latest`` (the complete
    checkpoint with the most steps in ``output_dir``)."""
    if spec != "latest":
        path = Path(spec)
        if not (path / TRAINER_STATE_FILE).is_file():
            raise FileNotFoundError(f"{path}: not a complete checkpoint (no {TRAINER_STATE_FILE})")
        return path
    found = complete_checkpoints(output_dir)
    if not found:
        raise FileNotFoundError(f"--resume_from_checkpoint latest: no complete checkpoint in {output_dir}")
    return found[-1]


def check_output_dir(output_dir, overwrite=False, resume_from_checkpoint=None):
    """Refuse to train into a folder that already holds a model, unless told to overwrite it or
    to resume a checkpoint inside it. Called before anything is loaded or written."""
    output_dir = Path(output_dir)
    if overwrite or not any((output_dir / name).is_file() for name in (CONFIG_FILE, WEIGHTS_FILE)):
        return
    if resume_from_checkpoint == "latest" or (
            resume_from_checkpoint and output_dir.resolve() in Path(resume_from_checkpoint).resolve().parents):
        return
    try:  # suggest resuming only where there is a checkpoint to resume from
        checkpoint = find_checkpoint("latest", output_dir).name
    except FileNotFoundError:
        checkpoint = None
    status = read_run_status(output_dir) or {}
    if checkpoint and status.get("state") in ("interrupted", "running"):
        how = "was interrupted" if status["state"] == "interrupted" else "did not finish"
        raise ValueError(f"{output_dir} holds a run that {how} at step {status.get('global_step')}: add"
                         f" --resume_from_checkpoint latest to the same command to continue it (from {checkpoint}),"
                         " --overwrite_output_dir to start again, or choose another --output_dir")
    resume = f", --resume_from_checkpoint latest to continue its run (from {checkpoint})" if checkpoint else ""
    raise ValueError(f"{output_dir} already holds a model ({CONFIG_FILE}, {WEIGHTS_FILE}): pass"
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


def prepare_output_dir(args, checkpoint, demo=False):
    """Create --output_dir (emptied of a previous run with --overwrite_output_dir, unless resuming
    from a checkpoint inside it), record the run's flags and mark the run as running."""
    output_dir = Path(args.output_dir)
    if args.overwrite_output_dir and not (checkpoint and output_dir.resolve() in checkpoint.resolve().parents):
        clear_output_dir(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(output_dir / "training_args.json", {k: v for k, v in vars(args).items() if k != "hub_token"})
    write_run_status(output_dir, "running", demo=demo)
