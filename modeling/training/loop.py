"""The training loop of a run: epochs of ``accelerator.accumulate`` steps, evaluation on a schedule
(the best validation loss kept), checkpoints, and Ctrl-C / SIGTERM / a non-finite loss turned into
one line that says what was kept."""

import json
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate.logging import get_logger
from accelerate.utils import gather_object
from tqdm.auto import tqdm

from .evaluation import evaluate_model
from .optimization import train_autocast
from .reporting import log_step, write_history
from .run_folder import TRAINER_STATE_FILE, resume_hint, rotate_checkpoints, write_run_status
from .state import TrainingLength, TrainingState, save_checkpoint

logger = get_logger(__name__)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the message says where the run stopped, what was kept and how to go on."""


class StopRequested(Exception):
    """Raised by the loop at the end of an optimizer step after a Ctrl-C or SIGTERM asked it to stop."""


@dataclass
class Loop:
    """The prepared objects and the schedule of a run's loop."""

    model: object
    optimizer: object
    lr_scheduler: object
    train_dataloader: object  # None under --streaming
    train_sampler: object  # the length-grouped batch sampler, whose epoch the loop sets
    eval_dataloaders: dict
    state: TrainingState
    length: TrainingLength  # steps per epoch, the step limit, the evaluation schedule, early stopping
    precision: str
    precision_name: str
    first_step: int = 0  # the step a resumed run started from
    stopped_early: bool = False  # early stopping ended the run
    stop_signal: list = None  # the signal that asked the run to stop (catch_stop_signals), if any
    stream: object = None  # --streaming: this process's endless batches (modeling.data.stream_training.TrainStream)

    @property
    def steps_per_epoch(self):
        return self.length.steps_per_epoch

    @property
    def total_steps(self):
        return self.length.max_steps  # with early stopping the schedule spans the limit, not the steps run

    @property
    def num_epochs(self):
        return self.length.num_epochs

    @property
    def eval_steps(self):
        return self.length.eval_steps

    @property
    def stop_reason(self):
        """Why the run ended: ``"early_stopping"`` or the limit it reached (``loop.length.limit``)."""
        return "early_stopping" if self.stopped_early else self.length.limit

    def epochs_done(self):
        """Passes over the train data so far: fractional when the epoch's length is known, else (a
        stream fitted on a sample) the passes this process completed."""
        if self.steps_per_epoch:
            return self.state.global_step / self.steps_per_epoch
        return float(self.state.epoch)

    def done(self):
        return self.stopped_early or self.state.global_step >= self.total_steps


def train_loop(run, loop):
    """Train until ``loop.total_steps`` or early stopping; returns (seconds, examples seen by this process)."""
    state = loop.state
    # A run resumed from the checkpoint of the evaluation that stopped it stops there again.
    loop.stopped_early = loop.length.should_stop_early(state)
    # disable= only where this process must not draw: an explicit disable=False would override tqdm's
    # own TQDM_DISABLE=1 (tqdm reads TQDM_* variables only for arguments not passed).
    hidden = {} if run.accelerator.is_local_main_process else {"disable": True}
    progress_bar = tqdm(total=loop.length.bar_total(state), initial=state.global_step, desc="Training", unit="step",
                        **hidden)
    start_time, counts = time.perf_counter(), {"examples": 0, "loss": 0.0, "batches": 0}
    loop.stop_signal, restore_signals = catch_stop_signals(run.accelerator.is_main_process)
    try:
        if loop.stream is not None:
            if not loop.done():
                train_batches(run, loop, loop.stream, progress_bar, counts)
        for epoch in range(state.epoch, loop.num_epochs if loop.stream is None else 0):
            if loop.done():
                break
            train_epoch(run, loop, epoch, progress_bar, counts)
        if state.last_evaluated_step != state.global_step:
            evaluate_and_record(run, loop, progress_bar)  # the final weights compete too
        stop_if_requested(run, loop)  # a Ctrl-C during that last evaluation
    except StopRequested:
        progress_bar.close()
        checkpoint = checkpoint_now(run, loop, f"step_{state.global_step}")
        raise TrainingInterrupted(interrupted_message(run, state, checkpoint)) from None
    except KeyboardInterrupt:  # a second Ctrl-C: stop at once, without a checkpoint
        progress_bar.close()
        raise TrainingInterrupted(interrupted_message(run, state)) from None
    finally:
        restore_signals()
    progress_bar.close()
    return time.perf_counter() - start_time, counts["examples"]


def train_epoch(run, loop, epoch, progress_bar, counts):
    """One epoch (or what is left of it after a mid-epoch resume); ``counts`` accumulates the
    examples seen and the loss since the last ``--logging_steps`` line."""
    args, accelerator, state = run.args, run.accelerator, loop.state
    loop.train_sampler.set_epoch(epoch)
    loop.train_dataloader.set_epoch(epoch)
    skip = state.batches_in_epoch  # non-zero only when resuming mid-epoch
    batches = accelerator.skip_first_batches(loop.train_dataloader, skip) if skip else loop.train_dataloader
    train_batches(run, loop, batches, progress_bar, counts)
    if state.batches_in_epoch == len(loop.train_dataloader):
        state.epoch, state.batches_in_epoch = epoch + 1, 0
        if args.checkpointing_steps == "epoch":
            checkpoint_now(run, loop, f"epoch_{epoch}")


def train_batches(run, loop, batches, progress_bar, counts):
    """Train on ``batches`` until they end or the run is done: an epoch's, or the endless batches of
    a stream (whose pass, ``loop.stream.position``, becomes the state's epoch)."""
    args, accelerator, state = run.args, run.accelerator, loop.state
    loop.model.train()
    batches = iter(batches)
    for batch in batches:
        if loop.stream is not None:
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            state.epoch = loop.stream.position["epoch"]
        mean_loss = training_step(run, loop, batch)
        stop_if_diverged(run, state, mean_loss, progress_bar)
        state.add_train_loss(mean_loss)
        state.batches_in_epoch += 1
        counts["examples"] += batch["labels"].size(0)
        counts["loss"], counts["batches"] = counts["loss"] + mean_loss, counts["batches"] + 1
        if not accelerator.sync_gradients:
            continue
        state.global_step += 1
        progress_bar.update(1)
        if args.logging_steps and state.global_step % args.logging_steps == 0:
            log_step(accelerator, state, counts["loss"] / counts["batches"], loop.lr_scheduler.get_last_lr()[0],
                     loop.epochs_done())
            counts["loss"], counts["batches"] = 0.0, 0
        if state.global_step % loop.eval_steps == 0:
            evaluate_and_record(run, loop, progress_bar)
        if isinstance(args.checkpointing_steps, int) and state.global_step % args.checkpointing_steps == 0:
            checkpoint_now(run, loop, f"step_{state.global_step}")
        loop.stopped_early = loop.length.should_stop_early(state)
        if loop.done():
            break
        stop_if_requested(run, loop)


def training_step(run, loop, batch):
    """Forward, backward and (at the end of an accumulation) an optimizer step; returns the batch's
    loss averaged over processes."""
    args, accelerator = run.args, run.accelerator
    with accelerator.accumulate(loop.model):
        with train_autocast(loop.precision, accelerator.device):
            loss = loop.model(**batch).loss
        accelerator.backward(loss)
        if accelerator.sync_gradients and args.max_grad_norm > 0:
            accelerator.clip_grad_norm_(loop.model.parameters(), args.max_grad_norm)
        loop.optimizer.step()
        loop.lr_scheduler.step()
        loop.optimizer.zero_grad()
    return accelerator.reduce(loss.detach(), reduction="mean").item()  # the same on every rank


def stop_if_diverged(run, state, mean_loss, progress_bar):
    """Record a non-finite training loss as the run's end and raise its one-line error."""
    if math.isfinite(mean_loss):
        return
    progress_bar.close()  # so that the error starts its own line
    if run.accelerator.is_main_process:
        write_run_status(run.args.output_dir, "diverged", global_step=state.global_step + 1,
                         best_global_step=state.best_global_step, demo=run.demo)
    raise ValueError(diverged_message(mean_loss, state, run.args))


def evaluate_and_record(run, loop, progress_bar=None):
    """Evaluate on the validation split, log it, keep the weights if they are the best so far, and
    move the progress bar's end to the earliest step at which early stopping can now end the run."""
    accelerator, state = run.accelerator, loop.state
    epochs_done = loop.epochs_done()
    results = evaluate_model(loop.model, loop.eval_dataloaders["validation"], accelerator)
    is_best = state.record_evaluation(results, epochs_done)
    train_loss = state.history["train_loss_list"][-1]
    logger.info(f"Epoch [{math.ceil(epochs_done)}/{loop.num_epochs or '?'}], Step [{state.global_step}/{loop.total_steps}], "
                f"Train Loss: {train_loss:.4f}, Valid Loss: {results['loss']:.4f}, "
                f"Valid Accuracy: {results['accuracy']:.4f}" + (" (best)" if is_best else ""))
    accelerator.log({"train_loss": train_loss, "eval_loss": results["loss"], "eval_accuracy": results["accuracy"],
                     "epoch": epochs_done, "learning_rate": loop.lr_scheduler.get_last_lr()[0]},
                    step=state.global_step)
    if is_best:
        keep_best(accelerator, loop.model, state, run.args.output_dir)
    if accelerator.is_main_process:
        write_history(state, run.args.output_dir)
    if progress_bar is not None and progress_bar.total != loop.length.bar_total(state):
        progress_bar.total = loop.length.bar_total(state)
        progress_bar.refresh()


def keep_best(accelerator, model, state, output_dir):
    """Keep the new best weights in memory (for the final evaluation and in checkpoints) and on disk."""
    unwrapped = accelerator.unwrap_model(model)
    state.best_weights = {k: v.detach().cpu().clone() for k, v in unwrapped.state_dict().items()}
    if accelerator.is_main_process:
        unwrapped.save_pretrained(output_dir)


def checkpoint_now(run, loop, name):
    """A resumable checkpoint ``output_dir/name`` (kept as it is if that step's is already there),
    then ``--save_total_limit`` applied; under --streaming with every process's place in its
    stream. Returns its path."""
    path = Path(run.args.output_dir) / name
    if loop.stream is not None:  # a collective: every process takes part
        loop.state.stream_positions = gather_object([loop.stream.position])
    if not (path / TRAINER_STATE_FILE).is_file() or json.loads(
            (path / TRAINER_STATE_FILE).read_text())["global_step"] != loop.state.global_step:
        save_checkpoint(run.accelerator, loop.state, run.args.output_dir, name)
    if run.accelerator.is_main_process:
        rotate_checkpoints(run.args.output_dir, run.args.save_total_limit)
    return path


def catch_stop_signals(announce=True):
    """Turn Ctrl-C (SIGINT) and SIGTERM into a request that the loop honours at the end of the
    optimizer step in progress, where the run is consistent enough for a resumable checkpoint (a
    step cut in the middle could leave half-updated weights). A second Ctrl-C stops at once, without
    a checkpoint. A SIGTERM after the first signal is ignored: ``accelerate launch`` answers a
    Ctrl-C by also sending SIGTERM to the training process (and SIGKILL 5 s later).

    Returns ``(signal, restore)``: a one-item list that receives the first signal's number, and a
    function that restores the previous handlers."""
    received = []
    if threading.current_thread() is not threading.main_thread():
        return received, lambda: None

    def stop(signum, frame):
        if not received:
            received.append(signum)
            if announce:  # print, not log: a handler may run in the middle of a logging call
                print("\nStopping at the end of this step and saving a checkpoint (Ctrl-C again: stop at once,"
                      " without one)", file=sys.stderr, flush=True)
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    return received, lambda: [signal.signal(sig, handler) for sig, handler in previous.items()]


def stop_if_requested(run, loop):
    """Raise :class:`StopRequested` when a stop signal reached this process or, in a distributed run,
    any other: every process must stop at the same step to write one checkpoint together."""
    asked = bool(loop.stop_signal)
    if run.accelerator.num_processes > 1:
        flag = torch.tensor(int(asked), device=run.accelerator.device)
        asked = run.accelerator.reduce(flag, reduction="sum").item() > 0
    if asked:
        raise StopRequested


def interrupted_message(run, state, checkpoint=None):
    """Mark the run interrupted (main process) and say, in one line, what was kept and how to go on."""
    args = run.args
    if run.accelerator.is_main_process and Path(args.output_dir).is_dir():
        write_run_status(args.output_dir, "interrupted", global_step=state.global_step,
                         best_global_step=state.best_global_step, demo=run.demo)
    kept = (f"the best model so far (step {state.best_global_step}) is in {args.output_dir}"
            if state.best_global_step is not None else "no model was saved yet")
    saved = f"saved the checkpoint {checkpoint}; " if checkpoint is not None else ""
    return f"interrupted at step {state.global_step}; {saved}{kept}; {resume_hint(args.output_dir)}"


def diverged_message(loss, state, args):
    """The one-line error for a NaN/inf training loss: where it happened, what was kept, the fix."""
    kept = (f"the best model so far (step {state.best_global_step}) stays in {args.output_dir}"
            if state.best_global_step is not None else "no model was saved")
    return (f"non-finite training loss ({loss}) at step {state.global_step + 1} (epoch {state.epoch + 1},"
            f" batch {state.batches_in_epoch + 1}); training stopped and {kept}. Lower --learning_rate"
            f" (now {args.learning_rate:g}) or check the data")
