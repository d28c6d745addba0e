"""The data phase of ``train.py --streaming``: the train file as a stream (never an Arrow cache), the
vocabulary and classes from one pass over it on the main process (shared with the others), the
validation and test files read and encoded as usual, and each process's
:class:`~modeling.data.stream_training.TrainStream`.
"""

import itertools
import math
from dataclasses import dataclass

from accelerate.logging import get_logger
from accelerate.utils import broadcast_object_list
from tokenizers import Tokenizer

from ..data.batching import encode_dataset
from ..data.cleaning import clean_table
from ..data.files import read_table, stream_table
from ..data.splits import Splits, take_first
from ..data.stream_training import TrainStream, scan_train_stream
from ..tokenizer import PAD_TOKEN_ID, train_tokenizer

logger = get_logger(__name__)


@dataclass
class StreamInfo:
    """The train stream of a run and what the fitting pass counted."""

    batches: TrainStream
    rows_read: int
    rows_kept: int  # rows the short-text rule kept: the examples of one pass
    complete: bool  # the fitting pass read the whole file (else --tokenizer_train_samples rows)
    label_counts: list  # kept rows per class id

    def steps_per_epoch(self, num_processes, batch_size, accumulation):
        """Optimizer steps per pass over the file (the largest share's), or None when only a sample was read."""
        if not self.complete:
            return None
        return math.ceil(math.ceil(math.ceil(self.rows_kept / num_processes) / batch_size) / accumulation)

    def train_labels(self):
        """The class id of every kept row (for the banner's class counts), lazily."""
        return itertools.chain.from_iterable(itertools.repeat(i, n) for i, n in enumerate(self.label_counts))


def load_stream_data(run, run_data_class):
    """:class:`~modeling.training.recipe.RunData` of a ``--streaming`` run (``run_data_class``), with
    its :class:`StreamInfo` as ``stream``. A bad file fails every process with the same error."""
    args, accelerator = run.args, run.accelerator
    table = stream_table(args.train_file, required_columns=[args.label_column], delimiter=args.delimiter,
                         column_names=args.column_names)
    scan = scan_train_stream(table, text_column=args.text_column, label_column=args.label_column,
                             first_n_words=args.max_length, min_text_chars=args.min_text_chars,
                             max_rows=args.max_train_samples, sample_rows=args.tokenizer_train_samples)
    fitted = [None, None]  # (tokenizer JSON, counts), or (None, the error) from the main process
    if accelerator.is_main_process:
        try:
            tokenizer = train_tokenizer(scan, args.min_frequency, args.max_length, lowercase=args.lowercase)
            fitted = [tokenizer.to_str(), (scan.counts, scan.rows_read, scan.rows_kept, scan.complete)]
        except Exception as err:  # noqa: BLE001 - raised on every process below
            fitted = [None, err]
    if accelerator.num_processes > 1:
        fitted = broadcast_object_list(fitted)
    if fitted[0] is None:
        raise fitted[1]
    tokenizer = Tokenizer.from_str(fitted[0])
    scan.counts, scan.rows_read, scan.rows_kept, scan.complete = fitted[1]
    label_names = scan.finish(args.label_names)
    what = "the whole train stream" if scan.complete else f"its first {scan.rows_read:,} rows (--tokenizer_train_samples)"
    logger.info(f"--streaming: {args.train_file} is read as a stream (no Arrow cache); vocabulary of"
                f" {tokenizer.get_vocab_size():,} and classes {label_names} fitted on {what}: {scan.rows_kept:,} of"
                f" {scan.rows_read:,} rows kept")
    data = eval_splits(args, scan.rules.text_column, label_names)
    encoded = {name: encode_dataset(ds, tokenizer, data.text_column) for name, ds in data.splits.items()}
    label_counts = [0] * len(label_names)
    for cell, n in scan.counts.items():
        label_counts[scan.rules.label_ids[cell]] += n
    batches = TrainStream(table, scan.rules, tokenizer, args.per_device_train_batch_size, seed=args.seed,
                          rank=accelerator.process_index, world_size=accelerator.num_processes,
                          pad_token_id=PAD_TOKEN_ID)
    stream = StreamInfo(batches, scan.rows_read, scan.rows_kept, scan.complete, label_counts)
    return run_data_class(data, tokenizer, encoded, stream=stream)


def eval_splits(args, text_column, label_names):
    """The validation (and test) files, read and cleaned as the cached path reads them, in the classes
    of the train stream; their rows under the short-text rule are counted as unscored."""
    splits, unscored = {}, {}
    for name, path in (("validation", args.validation_file), ("test", args.test_file)):
        if path is None:
            continue
        table = read_table(path, required_columns=[args.label_column], delimiter=args.delimiter,
                           column_names=args.column_names)
        splits[name], _, _, stats = clean_table(
            table, text_column=text_column, label_column=args.label_column, first_n_words=args.max_length,
            min_text_chars=args.min_text_chars, label_names=label_names, label_names_given="train stream")
        unscored[name] = stats.rows_dropped_short
    splits = take_first(splits, max_eval_samples=args.max_eval_samples)
    test_name = args.test_file and str(args.test_file).rsplit("/", 1)[-1]
    return Splits(splits, text_column, label_names, test_name if "test" in splits else None, unscored)
