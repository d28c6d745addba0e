"""What a training run reads besides its flags: the data (files, ``datasets`` objects or the demo
CSV), a saved model to continue from, and what the data tells the model card (``card_data.json``).
"""

import logging
from pathlib import Path

import datasets

from ..data.pipeline import DataError
from ..data.checks import dataset_name_from_path, example_texts, guess_language, take_first
from ..data.preparation import prepare_splits
from .state import load_training_files
from ..utils import atomic_write_json

logger = logging.getLogger(__name__)

DEMO_FILE = Path(__file__).resolve().parents[2] / "data" / "demo.csv"
CARD_DATA_FILE = "card_data.json"


def load_base_model(args):
    """The saved model ``--model_name_or_path`` names, to continue training (tokenizer and config kept)."""
    from ..cli import load_model
    from .options import ARCHITECTURE_OPTIONS, default_options

    model = load_model(args.model_name_or_path)
    defaults, config = default_options(), model.config.to_dict()
    # An architecture flag is ignored when it differs from the model's value; a tokenizer flag
    # (no config field) when it differs from its default.
    ignored = [f"--{name}" for name in ARCHITECTURE_OPTIONS
               if getattr(args, name) != config.get(name, defaults[name])]
    if ignored:
        logger.warning("--model_name_or_path %s: its architecture and tokenizer are kept, so %s %s ignored",
                       args.model_name_or_path, ", ".join(ignored), "is" if len(ignored) == 1 else "are")
    # Cleaning trims texts to the model's own max_length, as its tokenizer truncates.
    args.max_length = model.config.max_length
    logger.info("Continuing training of %s (labels %s, vocabulary of %d)", args.model_name_or_path,
                model.config.label_names, model.config.vocab_size)
    model.train()
    return model


def load_data(args, given=None, base=None):
    """The cleaned splits of the run, with ``--max_train_samples``/``--max_eval_samples`` applied.

    Returns:
        (``{"train", "validation"[, "test"]}`` datasets, text column, label names, test split name)
    """
    given = given or {}
    if args.train_file is None and not args.dataset_name and not given:
        if args.validation_file or args.test_file:
            raise ValueError("--validation_file and --test_file need --train_file")
        if not DEMO_FILE.is_file():
            raise FileNotFoundError(f"{DEMO_FILE}: the demo data is not there (it ships with a clone of the"
                                    " repository); pass --train_file")
        logger.info(f"No --train_file: training on the synthetic demo data in {DEMO_FILE}")
        splits, text_column, label_names, _ = prepare_splits(
            DEMO_FILE, text_column=args.text_column, label_column=args.label_column, seed=args.seed,
            label_names=args.label_names)
        test_name = f"{DEMO_FILE.name} (test split)"
    else:
        # Cutting texts to max_length words drops no token the tokenizer keeps (a word is >= 1 token).
        splits, text_column, label_names = load_training_files(
            args.train_file, args.validation_file, args.test_file, text_column=args.text_column,
            label_column=args.label_column, first_n_words=args.max_length, seed=args.seed,
            label_names=args.label_names, delimiter=args.delimiter, dataset_name=args.dataset_name,
            dataset_config_name=args.dataset_config_name, data=given)
        if given:
            test_name = "test split" if "test" in splits else None
        elif args.dataset_name:
            test_name = f"{args.dataset_name} (test split)" if "test" in splits else None
        else:
            test_name = args.test_file and Path(args.test_file).name
    splits = dict(splits)
    if base is not None:
        splits, label_names = align_labels(splits, label_names, base.config.label_names, args)
    splits["train"] = take_first(splits["train"], args.max_train_samples, "train")
    splits["validation"] = take_first(splits["validation"], args.max_eval_samples, "validation")
    return splits, text_column, label_names, test_name


def align_labels(splits, label_names, model_labels, args):
    """Re-number the splits' labels in the continued model's order; refuse labels the model lacks."""
    extra = [name for name in label_names if name not in model_labels]
    if extra:
        raise DataError(f"--model_name_or_path {args.model_name_or_path}: the data has label(s) {extra} that the"
                        f" model does not know (its labels: {model_labels}); train a new model instead")
    if list(label_names) == list(model_labels):
        return splits, label_names
    new_ids = [list(model_labels).index(name) for name in label_names]
    feature = datasets.ClassLabel(names=list(model_labels))
    aligned = {}
    for name, ds in splits.items():
        features = ds.features.copy()
        features["label"] = feature
        aligned[name] = ds.map(lambda b: {"label": [new_ids[i] for i in b["label"]]}, batched=True,
                               features=features)
    return aligned, list(model_labels)


def write_card_data(args, splits, text_column, label_names, demo):
    """Write ``card_data.json``: the data set's name, a language guess and example texts from the
    validation split, for the model card's metadata and widget."""
    examples = example_texts(splits["validation"], text_column, label_names)
    if demo:
        name = f"{DEMO_FILE.name} (synthetic demo data)"
    elif args.dataset_name:
        name = args.dataset_name
    elif args.train_file:
        name = dataset_name_from_path(args.train_file)
    else:
        name = None
    atomic_write_json(Path(args.output_dir) / CARD_DATA_FILE, {
        "dataset_name": name, "train_file": args.train_file and Path(args.train_file).name,
        "text_column": text_column, "label_names": list(label_names),
        "language": guess_language(example_texts(splits["train"], text_column, label_names, per_label=20)),
        "widget_texts": examples,
    })
