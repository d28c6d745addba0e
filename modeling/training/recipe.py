"""The library's training call: ``train(...)``, which ``scripts/train.py`` runs for its command line.

    from modeling.training import train

    results = train("data/news/train.csv", "data/news/valid.csv", "data/news/test.csv",
                    output_dir="outputs/news", num_train_epochs=3)

:func:`run_training` reads as its phases, in the order of Accelerate's ``nlp_example.py`` and
``by_feature/checkpointing.py``: open the run (``Accelerator``, ``set_seed``, folder checks) → data
(under ``main_process_first``) → model → ``prepare`` and the loop (``modeling.training.loop``) →
``wait_for_everyone`` → ``save_pretrained`` on the main process → push.
"""

import argparse
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import datasets
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed

from ..config import BiLSTMConfig
from ..data.batching import as_text_batches, encode_dataset, make_dataloader
from ..data.checks import check_vocabulary, warn_if_one_batch_per_epoch
from ..data.splits import Splits, align_labels, load_demo_splits, load_splits
from ..model import BiLSTMForSequenceClassification
from ..source import warn_if_unfinished
from ..tokenizer import PAD_TOKEN_ID
from ..utils import atomic_write_json
from .baseline import baseline_scores, baseline_warning
from .evaluation import evaluate_model, make_eval_dataloader, prefixed_summary, record_unscored, save_eval_results
from .loop import Loop, TrainingInterrupted, train_loop
from .open_vocabulary import AUTO, NONE, Vocabulary, build_vocabulary
from .optimization import check_precision_supported, create_optimizer, get_scheduler, resolve_train_precision
from .options import ARCHITECTURE_OPTIONS, check_options, default_options, resolve_aliases
from .reporting import (
    describe_accelerator, describe_classes, log_banner, next_steps, resolve_trackers, tracker_config,
    write_card_data, write_history,
)
from .run_folder import (
    ALL_RESULTS_FILE, check_output_dir, find_checkpoint, is_demo_run, prepare_output_dir,
    write_run_status,
)
from .state import TrainingState, load_checkpoint, plan_training_length, stop_reason_message
from .threads import align_threads
from .streaming import StreamInfo, load_stream_data

logger = get_logger(__name__)

DEMO_FILE = Path(__file__).resolve().parents[2] / "data" / "demo.csv"

__all__ = ["TrainingInterrupted", "run_training", "train"]


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
    resolve_aliases(options)
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


@dataclass
class Run:
    """What every phase of one run reads: its options, the ``Accelerator``, and what was decided
    before any data was read."""

    args: argparse.Namespace
    accelerator: Accelerator
    demo: bool  # training on the shipped demo data (no data flags)
    checkpoint: Optional[Path]  # the checkpoint to resume from
    trackers: Optional[list]
    threads: Optional[int] = None  # the thread count set instead of accelerate launch's default of 1


@dataclass
class RunData:
    """The run's cleaned splits, its tokenizer and the encoded splits."""

    data: Splits
    tokenizer: object
    encoded: dict
    vocabulary: Optional[Vocabulary] = None  # how the vocabulary was built (None: a continued model's or a stream's)
    stream: Optional[StreamInfo] = None  # --streaming: the train split as a stream (not in data or encoded)

    @property
    def num_train_examples(self):
        return self.stream.rows_kept if self.stream else len(self.encoded["train"])


def run_training(args, given=None):
    """The training recipe for parsed options ``args`` (``scripts/train.py``'s namespace); ``given``:
    ``datasets.Dataset`` splits standing in for the files."""
    given = given or {}
    run = open_run(args, given)
    base = load_base_model(args) if args.model_name_or_path else None
    data = load_stream_data(run, RunData) if args.streaming else load_run_data(run, given, base)
    baseline = measure_baseline(run, data)
    model, embeddings_info = build_model(run, data, base)
    loop = prepare_loop(run, model, data)
    train_runtime, examples_seen = train_loop(run, loop)
    results = finish_run(run, loop, data, train_runtime, examples_seen, embeddings_info, baseline)
    if args.push_to_hub and run.accelerator.is_main_process:
        push(args)
    return results


def open_run(args, given):
    """Check flags and folders (before any data is read or file written), start Accelerate, seed."""
    demo = args.train_file is None and not args.dataset_name and not given
    # The demo is re-runnable as written: its output is rebuilt from the shipped data in a minute.
    replace_demo = demo and not args.overwrite_output_dir and not args.resume_from_checkpoint and is_demo_run(
        args.output_dir)
    args.overwrite_output_dir = args.overwrite_output_dir or replace_demo
    check_output_dir(args.output_dir, args.overwrite_output_dir, args.resume_from_checkpoint)
    checkpoint = find_checkpoint(args.resume_from_checkpoint, args.output_dir) if args.resume_from_checkpoint else None
    trackers = resolve_trackers(args.report_to) if args.with_tracking and args.report_to != "none" else None
    # On CPU, denormal floats slow training ~10x after a few dozen steps; flush them to zero.
    torch.set_flush_denormal(True)
    project = ProjectConfiguration(project_dir=args.output_dir, logging_dir=str(Path(args.output_dir) / "runs"))
    accelerator = Accelerator(gradient_accumulation_steps=args.gradient_accumulation_steps, log_with=trackers,
                              project_config=project, mixed_precision="fp16" if args.fp16 else None)
    check_precision_supported("bf16" if accelerator.mixed_precision == "bf16" else args.train_precision,
                              accelerator.device)
    threads = align_threads(accelerator.num_processes, accelerator.device.type == "cpu")  # logged by announce
    if replace_demo:
        logger.warning(f"{args.output_dir} holds an earlier demo run: replacing it (runs on your own data are"
                       " never overwritten without --overwrite_output_dir)")
    if args.push_to_hub and accelerator.is_main_process:
        check_hub(args)
    set_seed(args.seed)
    return Run(args, accelerator, demo, checkpoint, trackers, threads)


def load_base_model(args):
    """The saved model ``--model_name_or_path`` names, to continue training (tokenizer and config kept)."""
    model = BiLSTMForSequenceClassification.from_pretrained(args.model_name_or_path)
    warn_if_unfinished(args.model_name_or_path)  # a run stopped by Ctrl-C or a kill left its best-so-far model
    defaults, config = default_options(), model.config.to_dict()
    # An architecture flag is ignored when it differs from the model's value; a tokenizer flag
    # (no config field) when it differs from its default.
    ignored = [f"--{name}" for name in ARCHITECTURE_OPTIONS if getattr(args, name) != config.get(name, defaults[name])
               and not (name == "pretrained_embeddings" and getattr(args, name) in (AUTO, NONE))]
    if ignored:
        logger.warning(f"--model_name_or_path {args.model_name_or_path}: its architecture and tokenizer are kept,"
                       f" so {', '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} ignored")
    # Cleaning trims texts to the model's own max_length, as its tokenizer truncates, and keeps its
    # short-text rule, which predict applies.
    args.max_length, args.min_text_chars = model.config.max_length, model.config.min_text_chars
    logger.info(f"Continuing training of {args.model_name_or_path} (labels {model.config.label_names},"
                f" vocabulary of {model.config.vocab_size})")
    model.train()
    return model


def load_run_data(run, given, base=None):
    """Read and clean the splits, build the vocabulary from the train split and encode every split."""
    args, accelerator = run.args, run.accelerator
    failure = None
    with accelerator.main_process_first():
        # A bad file must fail every process the same way: had the main process left this block by
        # raising, it would skip the barrier the others wait at, and they would die in gloo/NCCL with
        # a "connection closed by peer" traceback. Kept, the error lets the others through to find it too.
        try:
            data = read_splits(args, given, run.demo)
            if base is not None:
                data = align_labels(data, base.config.label_names, f"--model_name_or_path {args.model_name_or_path}")
                tokenizer, vocabulary = base.tokenizer, None
                args.pretrained_embeddings = NONE  # its vocabulary and vectors are the base model's
            else:
                vocabulary = build_vocabulary(args, lambda: as_text_batches(data.splits["train"], data.text_column))
                tokenizer = vocabulary.tokenizer
            encoded = {name: encode_dataset(ds, tokenizer, data.text_column) for name, ds in data.splits.items()}
        except Exception as err:  # noqa: BLE001 - raised again below, on every process
            failure = err
    if failure is not None:
        raise failure
    if accelerator.is_main_process:
        check_vocabulary(tokenizer, encoded["train"], data.splits["train"], data.text_column, args.min_frequency)
        warn_if_one_batch_per_epoch(args.per_device_train_batch_size, len(encoded["train"]),
                                    accelerator.num_processes)
    return RunData(data, tokenizer, encoded, vocabulary)


def read_splits(args, given, demo):
    """The run's :class:`~modeling.data.splits.Splits`: the demo CSV, or what the data flags name."""
    limits = dict(max_train_samples=args.max_train_samples, max_eval_samples=args.max_eval_samples,
                  max_predict_samples=args.max_predict_samples, min_text_chars=args.min_text_chars)
    if demo:
        if args.validation_file or args.test_file:
            raise ValueError("--validation_file and --test_file need --train_file")
        if not DEMO_FILE.is_file():
            raise FileNotFoundError(f"{DEMO_FILE}: the demo data is not there (it ships with a clone of the"
                                    " repository); pass --train_file")
        logger.info(f"No --train_file: training on the synthetic demo data in {DEMO_FILE}")
        return load_demo_splits(DEMO_FILE, text_column=args.text_column, label_column=args.label_column,
                                seed=args.seed, label_names=args.label_names, **limits)
    # Cutting texts to max_length words drops no token the tokenizer keeps (a word is >= 1 token).
    return load_splits(args.train_file, args.validation_file, args.test_file, dataset_name=args.dataset_name,
                       dataset_config_name=args.dataset_config_name, data=given, text_column=args.text_column,
                       label_column=args.label_column, first_n_words=args.max_length, seed=args.seed,
                       label_names=args.label_names, delimiter=args.delimiter, column_names=args.column_names,
                       validation_split_percentage=args.validation_split_percentage, **limits)


def measure_baseline(run, data):
    """The TF-IDF + LogisticRegression baseline's scores on the run's splits (main process, unless
    ``--no_baseline``), reported with the model's at the end. It is fitted before training, so a
    baseline that does not fit in memory shows at the start of the run, not after it."""
    if run.args.no_baseline or not run.accelerator.is_main_process:
        return {}
    if data.stream:  # it fits on the whole train split in memory
        logger.info("No TF-IDF baseline with --streaming: it needs the train split in memory")
        return {}
    scores = baseline_scores(data.data)
    if scores:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in scores.items() if k.endswith("accuracy"))
        logger.info(f"Baseline (TF-IDF + LogisticRegression, same train split): {shown}"
                    f" ({scores['baseline_runtime']:.1f} s)")
    return scores


def build_model(run, data, base=None):
    """A new model for the run's vocabulary and labels (or the continued ``base``), with pretrained
    vectors when asked. Returns (model, what the vectors covered)."""
    args = run.args
    if base is not None:
        model = base
    else:
        model = BiLSTMForSequenceClassification(BiLSTMConfig(
            vocab_size=data.tokenizer.get_vocab_size(), embedding_dim=args.embedding_dim,
            hidden_size=args.hidden_size, num_layers=args.num_layers, bidirectional=args.bidirectional,
            dropout=args.dropout, embedding_dropout=args.embedding_dropout, pooling=args.pooling,
            pad_token_id=PAD_TOKEN_ID, label_names=data.data.label_names, max_length=args.max_length,
            min_text_chars=args.min_text_chars))
        model.tokenizer = data.tokenizer  # saved as tokenizer.json by save_pretrained
    vocabulary = data.vocabulary
    if vocabulary is None or vocabulary.source is None:
        if data.stream is not None and args.pretrained_embeddings == AUTO:
            logger.info("--streaming: no pretrained word vectors (the vocabulary is fitted on the stream alone)")
            args.pretrained_embeddings = NONE
        return model, {}
    # The vectors go into the embedding matrix; the width of the vectors wins.
    from .vectors import apply_pretrained_embeddings, token_counts

    counts = token_counts(data.encoded["train"]["input_ids"], model.config.vocab_size)
    model, info = apply_pretrained_embeddings(model, vocabulary.source, counts, freeze=args.freeze_embeddings)
    info.update(train_text_coverage=vocabulary.coverage, words_added=len(vocabulary.added_words))
    if vocabulary.rare_words is not None:
        info["words_below_min_frequency"] = len(vocabulary.rare_words)
    return model, info


def prepare_loop(run, model, data):
    """Dataloaders, optimizer and schedule through ``accelerator.prepare``; the step counts; the
    checkpoint restored; then, and only then, ``--output_dir`` written (bad input leaves it as it was)."""
    args, accelerator = run.args, run.accelerator
    pad_id = model.config.pad_token_id
    eval_names = [name for name in ("validation", "test") if name in data.encoded]
    eval_dataloaders = [make_eval_dataloader(data.encoded[name], args.per_device_eval_batch_size, pad_id)
                        for name in eval_names]
    optimizer = create_optimizer(model.parameters(), args.learning_rate, args.weight_decay)
    if data.stream:
        # Not prepared: each process already reads its own share (split_dataset_by_node), where a prepared
        # loader over an iterable would have rank 0 read and dispatch every batch.
        train_dataloader = train_sampler = None
        model, optimizer, *eval_dataloaders = accelerator.prepare(model, optimizer, *eval_dataloaders)
        steps_per_epoch = data.stream.steps_per_epoch(accelerator.num_processes, args.per_device_train_batch_size,
                                                      args.gradient_accumulation_steps)
    else:
        train_dataloader = make_dataloader(data.encoded["train"], args.per_device_train_batch_size, shuffle=True,
                                           seed=args.seed, pad_token_id=pad_id)
        # Accelerate's DDP wrapper does not reach a custom batch sampler's set_epoch: keep a handle on it.
        train_sampler = train_dataloader.batch_sampler
        model, optimizer, train_dataloader, *eval_dataloaders = accelerator.prepare(
            model, optimizer, train_dataloader, *eval_dataloaders)
        steps_per_epoch = math.ceil(len(train_dataloader) / args.gradient_accumulation_steps)
    length = plan_training_length(steps_per_epoch, max_steps=args.max_steps, num_train_epochs=args.num_train_epochs,
                                  eval_steps=args.eval_steps, early_stopping_patience=args.early_stopping_patience,
                                  min_steps=args.min_steps)
    total_steps = length.max_steps  # with early stopping the schedule spans the limit, not the steps run
    # The prepared scheduler steps once per process at each optimizer step (Accelerate's
    # AcceleratedScheduler), so its step counts are in units of "steps x processes".
    # --num_warmup_steps wins over --warmup_ratio, as in the HF Trainer (TrainingArguments.get_warmup_steps).
    warmup_steps = args.num_warmup_steps or math.ceil(args.warmup_ratio * total_steps)
    lr_scheduler = accelerator.prepare(get_scheduler(
        args.lr_scheduler_type, optimizer, num_warmup_steps=warmup_steps * accelerator.num_processes,
        num_training_steps=total_steps * accelerator.num_processes))
    precision = resolve_train_precision(args.train_precision, accelerator.mixed_precision)
    loop = Loop(model=model, optimizer=optimizer, lr_scheduler=lr_scheduler, train_dataloader=train_dataloader,
                train_sampler=train_sampler, eval_dataloaders=dict(zip(eval_names, eval_dataloaders)),
                state=TrainingState(), length=length, precision=precision,
                precision_name=accelerator.mixed_precision if precision == "accelerate" else precision,
                stream=data.stream and data.stream.batches)
    if run.checkpoint is not None:
        load_checkpoint(accelerator, loop.state, run.checkpoint)  # model, optimizer, RNG states and the state
        if loop.stream is not None:
            restore_stream_position(loop.stream, loop.state, run.checkpoint, accelerator.num_processes)
        logger.info(f"Resumed from {run.checkpoint}: epoch {loop.state.epoch}, step {loop.state.global_step}, "
                    f"{loop.state.batches_in_epoch} batches into the epoch")
    loop.first_step = loop.state.global_step
    if accelerator.is_main_process:
        prepare_output_dir(args, run.checkpoint, run.demo)
    accelerator.wait_for_everyone()
    if run.trackers:
        accelerator.init_trackers("bilstm", tracker_config(args))
    announce(run, loop, data)
    return loop


def restore_stream_position(stream, state, checkpoint, num_processes):
    """Put this process's train stream where it was when ``checkpoint`` was written."""
    positions = state.stream_positions
    if not positions or len(positions) != num_processes:
        found = "no stream positions" if not positions else f"the positions of {len(positions)} processes"
        raise ValueError(f"{checkpoint}: cannot resume a --streaming run on {num_processes} process(es) from it"
                         f" (it holds {found}); resume with the number of processes that wrote it")
    stream.load_position(positions[stream.rank])


def announce(run, loop, data):
    """The "Running training" banner and the precision line."""
    args, accelerator = run.args, run.accelerator
    # One line, once the inputs are read: Accelerate's own repr of its state is 7 lines per process.
    logger.info(describe_accelerator(accelerator))
    if run.threads:
        logger.info(f"accelerate launch set OMP_NUM_THREADS=1 by default: training uses {run.threads} threads (one"
                    " per physical core), as `python scripts/train.py` does, so both train the same model"
                    " (accelerate launch --num_cpu_threads_per_process N chooses)")
    train_labels = data.stream.train_labels() if data.stream else data.encoded["train"]["label"]
    logger.info(describe_classes(data.data.label_names, train_labels))
    total_batch_size = args.per_device_train_batch_size * accelerator.num_processes * args.gradient_accumulation_steps
    log_banner(logger, num_examples=data.num_train_examples, num_epochs=loop.num_epochs,
               batch_size=args.per_device_train_batch_size, total_batch_size=total_batch_size,
               accumulation=args.gradient_accumulation_steps, total_steps=loop.total_steps,
               eval_steps=loop.eval_steps, num_valid=len(data.encoded["validation"]), length=loop.length.describe())
    if loop.length.patience:
        logger.info(f"  Progress bar: up to the earliest step early stopping can end the run"
                    f" ({loop.length.bar_total(loop.state)} now); it moves out each time the validation loss improves,"
                    f" at most to {loop.total_steps}")
    if loop.precision == "accelerate":
        source = "--fp16" if run.args.fp16 else "accelerate launch"
        logger.info(f"Mixed precision {loop.precision_name} from {source} (training and evaluation)")
    else:
        logger.info(f"Training steps in {loop.precision_name} (--train_precision); evaluation in fp32")


def finish_run(run, loop, data, train_runtime, examples_seen, embeddings_info, baseline=None):
    """Evaluate the best weights on validation and test, save the model and the run's results (with
    the ``baseline``'s scores, :func:`measure_baseline`)."""
    args, accelerator, state = run.args, run.accelerator, loop.state
    if state.best_weights is None:
        raise ValueError("no evaluation gave a finite validation loss: training diverged (try a lower --learning_rate)")
    accelerator.unwrap_model(loop.model).load_state_dict(state.best_weights)  # every process holds the same copy
    logger.info(f"Training stopped at step {state.global_step} (epoch {loop.epochs_done():.1f}):"
                f" {stop_reason_message(loop.stop_reason, loop.length, args)}; the model kept is that of step"
                f" {state.best_global_step}, the lowest validation loss ({state.best_valid_loss:.4f})")
    examples_seen = accelerator.reduce(torch.tensor(examples_seen, device=accelerator.device), reduction="sum").item()
    all_results = {
        "epoch": loop.epochs_done(), "global_step": state.global_step,
        "best_global_step": state.best_global_step, "stop_reason": loop.stop_reason, "eval_steps": loop.eval_steps,
        "early_stopping_patience": loop.length.patience, "train_loss": state.mean_train_loss,
        "train_runtime": round(train_runtime, 4), "train_samples": data.num_train_examples,
        "train_samples_per_second": round(examples_seen / train_runtime, 3),
        "train_steps_per_second": round((state.global_step - loop.first_step) / train_runtime, 3),
        "train_precision": loop.precision_name, "train_threads": torch.get_num_threads(),
        **{f"pretrained_embeddings_{k}": v for k, v in embeddings_info.items()},
    }
    results = {name: score_split(run, loop, data, name) for name in loop.eval_dataloaders}
    all_results.update(prefixed_summary(results["validation"], "eval"))
    test_results = results.get("test")
    if test_results is not None:
        all_results.update(prefixed_summary(test_results, "test"))
    if accelerator.is_main_process:
        all_results.update(baseline or {})  # the same train split, scored on the same rows
        save_run(run, loop, data, all_results, test_results)
        warning = baseline_warning(all_results, args)
        if warning:
            logger.warning(warning)
    accelerator.wait_for_everyone()
    if run.trackers:
        accelerator.end_training()
    return all_results


def score_split(run, loop, data, name):
    """The best model's scores on the ``validation`` or ``test`` split, with the count of its labelled
    rows that the short-text rule left unscored (warned about when there are any)."""
    results = evaluate_model(loop.model, loop.eval_dataloaders[name], run.accelerator)
    validation_file = run.args.validation_file and Path(run.args.validation_file).name
    source = data.data.test_name if name == "test" else (validation_file or "validation split")
    return record_unscored(results, data.data.unscored.get(name, 0), run.args.min_text_chars, source, log=logger)


def save_run(run, loop, data, all_results, test_results):
    """The main process's files at the end of a run: model, history and plot, results, card data, status."""
    args, state = run.args, loop.state
    run.accelerator.unwrap_model(loop.model).save_pretrained(args.output_dir)
    write_history(state, args.output_dir, plot=True)
    atomic_write_json(Path(args.output_dir) / ALL_RESULTS_FILE, all_results)
    if test_results is not None:
        save_eval_results(test_results, args.output_dir, test_file=data.data.test_name)
    write_card_data(args, data.data, run.demo, DEMO_FILE.name)
    write_run_status(args.output_dir, "finished", global_step=state.global_step,
                     best_global_step=state.best_global_step, demo=run.demo)
    for key, value in all_results.items():
        logger.info(f"  {key} = {value}")
    for line in next_steps(args, args.test_file if isinstance(args.test_file, str) else None):
        logger.info(line)


def check_hub(args):
    """Fail before training, not after, when the push cannot happen (bad repo id, no token)."""
    from ..hub.upload import check_can_push  # the Hub code is needed only by runs that push

    check_can_push(args.hub_model_id or Path(args.output_dir).resolve().name, token=args.hub_token,
                   token_flag="--hub_token")


def push(args):
    """Upload the finished run folder (``--push_to_hub``)."""
    from ..hub.upload import push_model_dir

    repo_id = args.hub_model_id or Path(args.output_dir).resolve().name
    url = push_model_dir(args.output_dir, repo_id, private=args.hub_private_repo, token=args.hub_token)
    logger.info(f"Pushed {args.output_dir} to the Hub: {url}")
