"""The library's training call: ``train(...)``, which ``scripts/train.py`` runs for its command line.

    from modeling.training.recipe import train

    results = train("data/news/train.csv", "data/news/valid.csv", "data/news/test.csv",
                    output_dir="outputs/news", num_train_epochs=3)

The loop follows Accelerate's ``nlp_example.py`` and ``by_feature/checkpointing.py``: ``Accelerator``
→ ``set_seed`` → data (under ``main_process_first``) → model → optimizer → ``prepare`` → loop,
evaluating with ``gather_for_metrics`` → ``wait_for_everyone`` → ``save_pretrained`` on the main process.
"""

import argparse
import math
import os
import signal
import threading
import time
from pathlib import Path

import datasets
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from tqdm.auto import tqdm

from ..config import BiLSTMConfig
from ..data.pipeline import encode_dataset, make_dataloader
from ..data.checks import check_batch_size, check_vocabulary
from .evaluation import evaluate_model, make_eval_dataloader, prefixed_summary, save_eval_results
from ..model import BiLSTMForSequenceClassification
from .optimization import create_optimizer, get_scheduler, resolve_train_precision, train_autocast
from ..data.preparation import as_text_batches
from .run_folder import is_demo_run, resume_hint, rotate_checkpoints, write_run_status
from .inputs import load_base_model, load_data, write_card_data
from ..tokenizer import PAD_TOKEN_ID, train_tokenizer
from .options import check_options, default_options
from .state import (
    ALL_RESULTS_FILE, TrainingState, check_output_dir, clear_output_dir, find_checkpoint, load_checkpoint, log_banner,
    resolve_trackers, save_checkpoint, tracker_config, write_history,
)
from ..utils import atomic_write_json

logger = get_logger(__name__)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the message says where the run stopped, what was kept and how to go on."""


def train(train_data=None, validation_data=None, test_data=None, **options):
    """Train a BiLSTM classifier as ``scripts/train.py`` does, and return its ``all_results`` dict.

    Args:
        train_data: a CSV/TSV path, a ``datasets.Dataset`` (string or ``ClassLabel`` labels), or a
            ``DatasetDict`` with ``train`` (and ``validation``, ``test``) splits. ``None``: the demo CSV.
        validation_data: the same kinds; ``None``: 10% of ``train_data`` is held out.
        test_data: the same kinds; the best model is evaluated on it at the end.
        **options: any ``scripts/train.py`` flag by name, e.g. ``output_dir``, ``num_train_epochs``,
            ``learning_rate``, ``text_column`` (``python scripts/train.py --help`` lists them with defaults).

    The model, tokenizer and results are written to ``options["output_dir"]`` (default
    ``outputs/bilstm``); load the model with ``BiLSTMForSequenceClassification.from_pretrained``.
    """
    args = default_options()
    unknown = sorted(set(options) - set(args) - {"train_file", "validation_file", "test_file"})
    if unknown:
        raise TypeError(f"train() got unknown option(s) {unknown}; see `python scripts/train.py --help`")
    args.update(options)
    given = {}
    if isinstance(train_data, datasets.DatasetDict):
        train_data, validation_data, test_data = (train_data.get(name, default) for name, default in (
            ("train", None), ("validation", validation_data), ("test", test_data)))
    for name, value in (("train", train_data), ("validation", validation_data), ("test", test_data)):
        if isinstance(value, (str, os.PathLike)):
            args[f"{name}_file"] = str(value)
        elif value is not None:
            given[name] = value
    check_options(args)
    return run_training(argparse.Namespace(**args), given)


def run_training(args, given=None):
    """The training recipe for parsed options ``args`` (``scripts/train.py``'s namespace); ``given``:
    ``datasets.Dataset`` splits standing in for the files."""
    given = given or {}
    demo = args.train_file is None and not args.dataset_name and not given
    # The demo is re-runnable as written: its output is rebuilt from the shipped data in a minute.
    replace_demo = demo and not args.overwrite_output_dir and not args.resume_from_checkpoint and is_demo_run(
        args.output_dir)
    args.overwrite_output_dir = args.overwrite_output_dir or replace_demo
    # Flags and folders are checked before any data is read or any file written.
    check_output_dir(args.output_dir, args.overwrite_output_dir, args.resume_from_checkpoint)
    checkpoint = find_checkpoint(args.resume_from_checkpoint, args.output_dir) if args.resume_from_checkpoint else None
    trackers = resolve_trackers(args.report_to) if args.with_tracking and args.report_to != "none" else None
    # On CPU, denormal floats slow training ~10x after a few dozen steps; flush them to zero.
    torch.set_flush_denormal(True)
    project = ProjectConfiguration(project_dir=args.output_dir, logging_dir=str(Path(args.output_dir) / "runs"))
    accelerator = Accelerator(gradient_accumulation_steps=args.gradient_accumulation_steps, log_with=trackers,
                              project_config=project)
    logger.info(accelerator.state, main_process_only=False)
    if replace_demo:
        logger.warning(f"{args.output_dir} holds an earlier demo run: replacing it (runs on your own data are"
                       " never overwritten without --overwrite_output_dir)")
    if args.push_to_hub and accelerator.is_main_process:
        check_hub(args)
    set_seed(args.seed)

    base = load_base_model(args) if args.model_name_or_path else None
    with accelerator.main_process_first():
        splits, text_column, label_names, test_name = load_data(args, given, base)
        if base is not None:
            tokenizer = base.tokenizer
        else:  # sorted by count, then alphabetically: every process builds the same vocabulary
            tokenizer = train_tokenizer(as_text_batches(splits["train"], text_column), args.min_frequency,
                                        args.max_length, lowercase=args.lowercase)
        encoded = {name: encode_dataset(ds, tokenizer, text_column) for name, ds in splits.items()}
    if accelerator.is_main_process:
        check_vocabulary(tokenizer, encoded["train"], text_column, args.min_frequency)
        check_batch_size(args.per_device_train_batch_size, len(encoded["train"]), accelerator.num_processes)

    if base is not None:
        model = base
    else:
        model = BiLSTMForSequenceClassification(BiLSTMConfig(
            vocab_size=tokenizer.get_vocab_size(), embedding_dim=args.embedding_dim, hidden_size=args.hidden_size,
            num_layers=args.num_layers, bidirectional=args.bidirectional, dropout=args.dropout,
            embedding_dropout=args.embedding_dropout, pooling=args.pooling,
            pad_token_id=PAD_TOKEN_ID, label_names=label_names, max_length=args.max_length))
        model.tokenizer = tokenizer  # saved as tokenizer.json by save_pretrained
    embeddings_info = {}
    if args.pretrained_embeddings:  # the vectors go into the embedding matrix; the width of the vectors wins
        from .vectors import apply_pretrained_embeddings, token_counts

        model, embeddings_info = apply_pretrained_embeddings(
            model, args.pretrained_embeddings, token_counts(encoded["train"]["input_ids"], model.config.vocab_size),
            freeze=args.freeze_embeddings)
    pad_id = model.config.pad_token_id
    train_dataloader = make_dataloader(encoded["train"], args.per_device_train_batch_size, shuffle=True,
                                       seed=args.seed, pad_token_id=pad_id)
    # Accelerate's DDP wrapper does not reach a custom batch sampler's set_epoch: keep a handle on it.
    train_sampler = train_dataloader.batch_sampler
    eval_names = [name for name in ("validation", "test") if name in encoded]
    eval_dataloaders = [make_eval_dataloader(encoded[name], args.per_device_eval_batch_size, pad_id)
                        for name in eval_names]
    optimizer = create_optimizer(model.parameters(), args.learning_rate, args.weight_decay)

    model, optimizer, train_dataloader, *eval_dataloaders = accelerator.prepare(
        model, optimizer, train_dataloader, *eval_dataloaders)
    eval_dataloaders = dict(zip(eval_names, eval_dataloaders))
    state = TrainingState()

    steps_per_epoch = math.ceil(len(train_dataloader) / args.gradient_accumulation_steps)
    total_steps = args.max_train_steps or args.num_train_epochs * steps_per_epoch
    num_epochs = math.ceil(total_steps / steps_per_epoch)
    # The prepared scheduler steps once per process at each optimizer step (Accelerate's
    # AcceleratedScheduler), so its step counts are in units of "steps x processes".
    lr_scheduler = accelerator.prepare(get_scheduler(
        args.lr_scheduler_type, optimizer, num_warmup_steps=args.num_warmup_steps * accelerator.num_processes,
        num_training_steps=total_steps * accelerator.num_processes))
    eval_steps = args.eval_steps or max(1, steps_per_epoch // 2)  # twice per epoch, as the tutorial
    if checkpoint is not None:
        load_checkpoint(accelerator, state, checkpoint)  # model, optimizer, RNG states and `state`
        logger.info(f"Resumed from {checkpoint}: epoch {state.epoch}, step {state.global_step}, "
                    f"{state.batches_in_epoch} batches into the epoch")
    # Only now, with the data read, the model built and the checkpoint loaded, is --output_dir
    # touched: bad input leaves it as it was.
    if accelerator.is_main_process:
        prepare_output_dir(args, checkpoint, demo)
    accelerator.wait_for_everyone()
    if trackers:
        accelerator.init_trackers("bilstm", tracker_config(args))
    total_batch_size = args.per_device_train_batch_size * accelerator.num_processes * args.gradient_accumulation_steps
    log_banner(logger, num_examples=len(encoded["train"]), num_epochs=num_epochs,
               batch_size=args.per_device_train_batch_size, total_batch_size=total_batch_size,
               accumulation=args.gradient_accumulation_steps, total_steps=total_steps, eval_steps=eval_steps,
               num_valid=len(encoded["validation"]))
    first_step = state.global_step
    precision = resolve_train_precision(args.train_precision, accelerator.mixed_precision)
    precision_name = accelerator.mixed_precision if precision == "accelerate" else precision
    if precision == "accelerate":
        logger.info(f"Mixed precision {precision_name} from accelerate launch (training and evaluation)")
    else:
        logger.info(f"Training steps in {precision_name} (--train_precision); evaluation in fp32")

    def evaluate_and_record():
        epochs_done = state.global_step / steps_per_epoch
        results = evaluate_model(model, eval_dataloaders["validation"], accelerator)
        is_best = state.record_evaluation(results, epochs_done)
        train_loss = state.history["train_loss_list"][-1]
        logger.info(f"Epoch [{math.ceil(epochs_done)}/{num_epochs}], Step [{state.global_step}/{total_steps}], "
                    f"Train Loss: {train_loss:.4f}, Valid Loss: {results['loss']:.4f}, "
                    f"Valid Accuracy: {results['accuracy']:.4f}" + (" (best)" if is_best else ""))
        accelerator.log({"train_loss": train_loss, "eval_loss": results["loss"],
                         "eval_accuracy": results["accuracy"], "epoch": epochs_done,
                         "learning_rate": lr_scheduler.get_last_lr()[0]}, step=state.global_step)
        if is_best:
            keep_best(accelerator, model, state, args.output_dir)
        if accelerator.is_main_process:
            write_history(state, args.output_dir)

    def checkpoint_now(name):
        save_checkpoint(accelerator, state, args.output_dir, name)
        if accelerator.is_main_process:
            rotate_checkpoints(args.output_dir, args.save_total_limit)

    progress_bar = tqdm(range(total_steps), initial=state.global_step,
                        disable=not accelerator.is_local_main_process)
    start_time, examples_seen = time.perf_counter(), 0
    logged_loss, logged_batches = 0.0, 0  # training loss since the last --logging_steps line
    restore_signals = catch_stop_signals()
    try:
        for epoch in range(state.epoch, num_epochs):
            model.train()
            train_sampler.set_epoch(epoch)
            train_dataloader.set_epoch(epoch)
            skip = state.batches_in_epoch  # non-zero only when resuming mid-epoch
            batches = accelerator.skip_first_batches(train_dataloader, skip) if skip else train_dataloader
            for batch in batches:
                with accelerator.accumulate(model):
                    with train_autocast(precision, accelerator.device):
                        loss = model(**batch).loss
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and args.max_grad_norm > 0:
                        accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                    optimizer.step()
                    lr_scheduler.step()
                    optimizer.zero_grad()
                mean_loss = accelerator.reduce(loss.detach(), reduction="mean").item()  # the same on every rank
                if not math.isfinite(mean_loss):
                    progress_bar.close()  # so the error starts its own line
                    if accelerator.is_main_process:
                        write_run_status(args.output_dir, "diverged", global_step=state.global_step + 1,
                                         best_global_step=state.best_global_step, demo=demo)
                    raise ValueError(diverged_message(mean_loss, state, args))
                state.add_train_loss(mean_loss)
                state.batches_in_epoch += 1
                examples_seen += batch["labels"].size(0)
                logged_loss, logged_batches = logged_loss + mean_loss, logged_batches + 1
                if not accelerator.sync_gradients:
                    continue
                state.global_step += 1
                progress_bar.update(1)
                if args.logging_steps and state.global_step % args.logging_steps == 0:
                    log_step(accelerator, state, logged_loss / logged_batches, lr_scheduler.get_last_lr()[0],
                             state.global_step / steps_per_epoch)
                    logged_loss, logged_batches = 0.0, 0
                if state.global_step % eval_steps == 0:
                    evaluate_and_record()
                if isinstance(args.checkpointing_steps, int) and state.global_step % args.checkpointing_steps == 0:
                    checkpoint_now(f"step_{state.global_step}")
                if state.global_step >= total_steps:
                    break
            if state.batches_in_epoch == len(train_dataloader):
                state.epoch, state.batches_in_epoch = epoch + 1, 0
                if args.checkpointing_steps == "epoch":
                    checkpoint_now(f"epoch_{epoch}")
            if state.global_step >= total_steps:
                break
        if state.last_evaluated_step != state.global_step:
            evaluate_and_record()  # the final weights compete too
    except KeyboardInterrupt:
        progress_bar.close()
        raise TrainingInterrupted(interrupted_message(accelerator, state, args, demo)) from None
    finally:
        restore_signals()
    train_runtime = time.perf_counter() - start_time
    progress_bar.close()

    # Final results with the best weights (all processes hold the same copy).
    if state.best_weights is None:
        raise ValueError("no evaluation gave a finite validation loss: training diverged (try a lower --learning_rate)")
    accelerator.unwrap_model(model).load_state_dict(state.best_weights)
    examples_seen = accelerator.reduce(torch.tensor(examples_seen, device=accelerator.device), reduction="sum").item()
    all_results = {
        "epoch": state.global_step / steps_per_epoch, "global_step": state.global_step,
        "best_global_step": state.best_global_step, "train_loss": state.mean_train_loss,
        "train_runtime": round(train_runtime, 4), "train_samples": len(encoded["train"]),
        "train_samples_per_second": round(examples_seen / train_runtime, 3),
        "train_steps_per_second": round((state.global_step - first_step) / train_runtime, 3),
        "train_precision": precision_name,
        **{f"pretrained_embeddings_{k}": v for k, v in embeddings_info.items()},
    }
    all_results.update(prefixed_summary(evaluate_model(model, eval_dataloaders["validation"], accelerator), "eval"))
    test_results = None
    if "test" in eval_dataloaders:
        test_results = evaluate_model(model, eval_dataloaders["test"], accelerator)
        all_results.update(prefixed_summary(test_results, "test"))
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(args.output_dir)
        write_history(state, args.output_dir, plot=True)
        atomic_write_json(Path(args.output_dir) / ALL_RESULTS_FILE, all_results)
        if test_results is not None:
            save_eval_results(test_results, args.output_dir, test_file=test_name)
        write_card_data(args, splits, text_column, label_names, demo)
        write_run_status(args.output_dir, "finished", global_step=state.global_step,
                         best_global_step=state.best_global_step, demo=demo)
        for key, value in all_results.items():
            logger.info(f"  {key} = {value}")
    accelerator.wait_for_everyone()
    if trackers:
        accelerator.end_training()
    if args.push_to_hub and accelerator.is_main_process:
        push(args)
    return all_results


def catch_stop_signals():
    """Make SIGINT and SIGTERM stop training as Ctrl-C does, once: ``accelerate launch`` answers a
    Ctrl-C by also sending SIGTERM to the training process, which would otherwise kill it before
    it records the interruption. Returns a function that restores the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    stopping = []

    def stop(signum, frame):
        if stopping:  # already stopping: let the interruption be recorded
            return
        stopping.append(signum)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    return lambda: [signal.signal(sig, handler) for sig, handler in previous.items()]


def prepare_output_dir(args, checkpoint, demo=False):
    """Create --output_dir (emptied of a previous run with --overwrite_output_dir, unless resuming
    from a checkpoint inside it), record the run's flags and mark the run as running."""
    output_dir = Path(args.output_dir)
    if args.overwrite_output_dir and not (checkpoint and output_dir.resolve() in checkpoint.resolve().parents):
        clear_output_dir(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(output_dir / "training_args.json", {k: v for k, v in vars(args).items() if k != "hub_token"})
    write_run_status(output_dir, "running", demo=demo)


def log_step(accelerator, state, loss, learning_rate, epoch):
    """One ``--logging_steps`` line (and tracker point): mean training loss since the last one."""
    logger.info(f"Step {state.global_step}: loss {loss:.4f}, learning_rate {learning_rate:.3g}, epoch {epoch:.2f}")
    accelerator.log({"loss": loss, "learning_rate": learning_rate, "epoch": epoch}, step=state.global_step)


def interrupted_message(accelerator, state, args, demo):
    """Mark the run interrupted (main process) and say, in one line, what was kept and how to go on."""
    if accelerator.is_main_process and Path(args.output_dir).is_dir():
        write_run_status(args.output_dir, "interrupted", global_step=state.global_step,
                         best_global_step=state.best_global_step, demo=demo)
    kept = (f"the best model so far (step {state.best_global_step}) is in {args.output_dir}"
            if state.best_global_step is not None else "no model was saved yet")
    return f"interrupted at step {state.global_step}; {kept}; {resume_hint(args.output_dir)}"


def diverged_message(loss, state, args):
    """The one-line error for a NaN/inf training loss: where it happened, what was kept, the fix."""
    kept = (f"the best model so far (step {state.best_global_step}) stays in {args.output_dir}"
            if state.best_global_step is not None else "no model was saved")
    return (f"non-finite training loss ({loss}) at step {state.global_step + 1} (epoch {state.epoch + 1},"
            f" batch {state.batches_in_epoch + 1}); training stopped and {kept}. Lower --learning_rate"
            f" (now {args.learning_rate:g}) or check the data")


def keep_best(accelerator, model, state, output_dir):
    """Keep the new best weights in memory (for the final evaluation and in checkpoints) and on disk."""
    unwrapped = accelerator.unwrap_model(model)
    state.best_weights = {k: v.detach().cpu().clone() for k, v in unwrapped.state_dict().items()}
    if accelerator.is_main_process:
        unwrapped.save_pretrained(output_dir)


def check_hub(args):
    """Fail before training, not after, when the push cannot happen (bad repo id, no token)."""
    from ..hub.upload import check_can_push  # the Hub code is needed only by runs that push

    check_can_push(args.hub_model_id or Path(args.output_dir).resolve().name, token=args.hub_token)


def push(args):
    from ..hub.upload import push_model_dir

    repo_id = args.hub_model_id or Path(args.output_dir).resolve().name
    url = push_model_dir(args.output_dir, repo_id, private=args.hub_private_repo, token=args.hub_token)
    logger.info(f"Pushed {args.output_dir} to the Hub: {url}")
