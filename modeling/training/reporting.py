"""What a run reports: the "Running training" banner, step lines, trackers, ``metrics.json`` and the
loss curve, and ``card_data.json`` for the model card."""

import collections
import importlib.util
import logging
import shlex
from pathlib import Path

from ..data.checks import dataset_name_from_path, example_texts, guess_language
from ..data.splits import read_data_source
from ..utils import atomic_write_json
from .plots import plot_loss_curve
from .run_folder import CARD_DATA_FILE, LOSS_CURVE_FILE, METRICS_FILE

logger = logging.getLogger(__name__)

# Trackers Accelerate can log to, detected by their import name (accelerate's own ``is_*_available``
# helpers are not public API: a minor release removed one of their neighbours).
TRACKERS = ("tensorboard", "trackio", "wandb")


def tracker_available(name):
    """Whether the tracker package ``name`` can be imported (``tensorboard`` may also come as
    ``tensorboardX``, which Accelerate accepts too)."""
    names = ("tensorboard", "tensorboardX") if name == "tensorboard" else (name,)
    return any(importlib.util.find_spec(n) is not None for n in names)


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


def log_banner(log, *, num_examples, num_epochs, batch_size, total_batch_size, accumulation, total_steps,
               eval_steps, num_valid, length=None):
    """The "Running training" banner of the HF example scripts."""
    log.info("***** Running training *****")
    log.info(f"  Num examples = {num_examples}")
    log.info(f"  Num epochs = {num_epochs}")
    log.info(f"  Instantaneous batch size per device = {batch_size}")
    log.info(f"  Total train batch size (w. parallel, distributed & accumulation) = {total_batch_size}")
    log.info(f"  Gradient accumulation steps = {accumulation}")
    log.info(f"  Total optimization steps = {total_steps}" + (f" ({length})" if length else ""))
    log.info(f"  Evaluation every {eval_steps} steps on {num_valid} validation examples")


def describe_accelerator(accelerator):
    """Accelerate's state in one line, e.g. "Accelerate: 1 process, device cpu, mixed precision no"."""
    state = accelerator.state
    processes = f"{state.num_processes} process" + ("es" if state.num_processes > 1 else "")
    kind = "" if state.num_processes == 1 else f" ({state.distributed_type.value.lower()}" + (
        f", {state.backend})" if getattr(state, "backend", None) else ")")
    return f"Accelerate: {processes}{kind}, device {accelerator.device}, mixed precision {accelerator.mixed_precision}"


def describe_classes(label_names, train_labels):
    """The classes with their ids and train counts, e.g. "Classes (id = name: train examples): 0 = REAL: 412, ..."."""
    counts = collections.Counter(int(label) for label in train_labels)
    shown = ", ".join(f"{i} = {name}: {counts.get(i, 0):,}" for i, name in enumerate(label_names))
    return f"Classes (id = name: train examples): {shown}"


def next_steps(args, eval_file=None):
    """The lines that end a run: where the model is and the commands that use it, with the flags that
    say how the run read its files (``--text_column``, ``--delimiter``, ...), so that they work on the
    run's own data as printed (a run on ``question``/``category`` columns gets them too)."""
    out = shlex.quote(str(args.output_dir))
    test = shlex.quote(str(eval_file)) if eval_file else "<a labelled file>"
    reading = file_flags(args)
    evaluate_flags = "".join(f" {flag} {value}" for flag, value in reading)
    # predict.py reads only texts: it takes the run's flags for the text column and the file's shape.
    predict_flags = "".join(f" {flag} {value}" for flag, value in reading
                            if flag in ("--text_column", "--delimiter", "--column_names"))
    predict = (f"--input_file {test}{predict_flags} --output_file predictions.csv" if eval_file
               else "\"A text to classify\"")
    return [f"Saved the model to {args.output_dir} (config.json, model.safetensors, tokenizer.json). Next:",
            f"  python scripts/evaluate_model.py --model_name_or_path {out} --test_file {test}{evaluate_flags}",
            f"  python scripts/predict.py --model_name_or_path {out} {predict}",
            f"  python scripts/push_to_hub.py --model_dir {out} --hub_model_id <your-name>/<model-name>"]


def file_flags(args):
    """(flag, shell-quoted value) pairs for the ways of reading a file that the run was given."""
    values = {"--text_column": args.text_column,
              "--label_column": args.label_column if args.label_column != "label" else None,
              "--delimiter": args.delimiter and {"\t": "tab"}.get(args.delimiter, args.delimiter),
              "--column_names": args.column_names and ",".join(args.column_names),
              "--label_names": args.label_names and ",".join(args.label_names)}
    return [(flag, shlex.quote(str(value))) for flag, value in values.items() if value]


def write_history(state, output_dir, plot=False):
    """Write ``metrics.json`` (the tutorial's three lists and more), and ``loss_curve.png`` if ``plot``."""
    summary = state.summary()
    atomic_write_json(Path(output_dir) / METRICS_FILE, summary)
    if plot and summary["global_steps_list"]:
        steps = summary["global_steps_list"]
        plot_loss_curve(steps, summary["train_loss_list"], steps, summary["valid_loss_list"],
                        Path(output_dir) / LOSS_CURVE_FILE)




def log_step(accelerator, state, loss, learning_rate, epoch):
    """One ``--logging_steps`` line (and tracker point): mean training loss since the last one."""
    logger.info(f"Step {state.global_step}: loss {loss:.4f}, learning_rate {learning_rate:.3g}, epoch {epoch:.2f}")
    accelerator.log({"loss": loss, "learning_rate": learning_rate, "epoch": epoch}, step=state.global_step)


def write_card_data(args, data, demo, demo_name):
    """Write ``card_data.json``: the data set's name, a language guess and example texts from the
    validation split (``data``: the run's :class:`~modeling.data.splits.Splits`), for the model
    card's metadata and widget."""
    splits, text_column, label_names = data.splits, data.text_column, data.label_names
    examples = example_texts(splits["validation"], text_column, label_names)
    # Under --streaming the train split is a stream that is not held: the validation split stands in.
    train = splits.get("train", splits["validation"])
    if demo:
        name = f"{demo_name} (synthetic demo data)"
    elif args.dataset_name:
        name = args.dataset_name
    elif args.train_file:
        name = dataset_name_from_path(args.train_file)
    else:
        name = None
    source = read_data_source(args.train_file) if args.train_file else None
    if source and not args.dataset_name:
        name = Path(source["source_file"]).stem  # the raw file prepare_data.py split, not its output folder
    words = sorted(len(text.split()) for text in train[text_column])
    atomic_write_json(Path(args.output_dir) / CARD_DATA_FILE, {
        "dataset_name": name, "train_file": args.train_file and Path(args.train_file).name,
        "train_folder": args.train_file and Path(args.train_file).parent.name,
        "text_column": text_column, "label_names": list(label_names),
        "language": guess_language(example_texts(train, text_column, label_names, per_label=20)),
        "widget_texts": examples,
        "data_source": source,  # prepare_data.py's data_source.json, when the splits came from it
        "train_words": {"median": words[len(words) // 2], "max": words[-1]} if words else None,
    })
