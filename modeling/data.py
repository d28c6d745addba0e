"""Data pipeline: CSV → cleaned, trimmed, labelled splits → token ids → length-grouped batches.

Everything runs on Arrow through ``datasets`` (batched ``map``/``filter``), so a million-row
CSV streams through without being held in Python lists. Only training needs this module:
a trained model classifies raw text with its own tokenizer.
"""

import contextlib
import csv
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
from torch.utils.data import DataLoader, Sampler

from .model import pad_sequences

logger = logging.getLogger(__name__)

MIN_TEXT_CHARS = 5
TITLETEXT = "titletext"


class DataError(ValueError):
    """Bad input data; the message names the file, column or row and the fix."""


@dataclass
class PrepareStats:
    """What :func:`prepare_dataset` did, for the logs."""

    rows_read: int = 0
    rows_dropped_short: int = 0
    label_counts: dict = field(default_factory=dict)


@contextlib.contextmanager
def _quiet():
    """No progress bars for internal look-ups (label checks, row search, casts): next to the real
    steps they are noise, and before an ``error:`` line they bury it."""
    if datasets.utils.are_progress_bars_disabled():
        yield
        return
    datasets.utils.disable_progress_bars()
    try:
        yield
    finally:
        datasets.utils.enable_progress_bars()


def _delimiter(path):
    """Tab for ``.tsv``/``.tab`` files and for files whose header line holds tabs but no commas."""
    if Path(path).suffix.lower() in (".tsv", ".tab"):
        return "\t"
    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline()
    return "\t" if "\t" in first and "," not in first else ","


def read_columns(path):
    """Return the header of a CSV/TSV file, with clear errors for missing or empty files."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    _check_utf8(path)
    # utf-8-sig: Excel's "CSV UTF-8" starts the file with a byte-order mark, which would
    # otherwise become part of the first column name.
    with open(path, newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f, delimiter=_delimiter(path)), None)
        has_rows = bool(f.read(65536).strip())
    if not header or not any(name.strip() for name in header):
        raise DataError(f"{path}: the file is empty (expected a header row with column names)")
    if not has_rows:
        raise DataError(f"{path}: the file has a header row {_show(header)} but no data rows")
    return header


def _check_utf8(path, chunk_lines=100_000):
    """Refuse a file that is not UTF-8, naming the first bad line (datasets would only say 'codec')."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(
                    f"{path}: line {number} is not valid UTF-8 (byte {line[err.start]:#04x} at column {err.start + 1});"
                    " re-save the file as UTF-8"
                ) from None


def _show(columns, width=40):
    """Column names for a message, long ones cut (a header-less file's "names" are data)."""
    return "[" + ", ".join(repr(c if len(c) <= width else c[: width - 3] + "...") for c in columns) + "]"


def _header_hint(columns):
    # Column names are short words; data cells are often numbers, ids or sentences.
    looks_like_data = any(not c.strip() or len(c) > 40 or len(c.split()) >= 4 or any(ch.isdigit() for ch in c)
                          for c in columns)
    return " (the first row looks like data: does the file lack a header row?)" if looks_like_data else ""


def load_csv(path, required_columns=()):
    """Load a CSV (or ``.tsv``) file as a ``datasets.Dataset`` with every column a string.

    Explicit string features and ``keep_default_na=False`` keep "NA", "null" and empty
    cells as text instead of missing values, and stop per-chunk type inference from
    failing on columns that are empty for the first 10,000 rows.
    """
    columns = read_columns(path)
    missing = [c for c in required_columns if c and c not in columns]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r}; the file has columns {_show(columns)}"
                        f"{_header_hint(columns) or ' (set --label_column or --text_column)'}")
    if len(set(columns)) != len(columns) or not all(c.strip() for c in columns):
        raise DataError(f"{path}: the header row has empty or repeated column names {_show(columns)}"
                        f"{_header_hint(columns)}")
    features = datasets.Features({name: datasets.Value("string") for name in columns})
    # The CSV builder logs a parse failure before raising it; the DataError below says it once.
    csv_logger = logging.getLogger("datasets.packaged_modules.csv.csv")
    level = csv_logger.level
    csv_logger.setLevel(logging.CRITICAL)
    try:
        return datasets.load_dataset(
            "csv",
            data_files=str(path),
            features=features,
            keep_default_na=False,
            sep=_delimiter(path),
            split="train",
        )
    except Exception as err:  # pandas' ParserError arrives wrapped in datasets' DatasetGenerationError
        cause = err.__cause__ or err
        raise DataError(f"{path}: cannot parse the file as {'TSV' if _delimiter(path) == chr(9) else 'CSV'}:"
                        f" {str(cause).strip().splitlines()[-1]}") from None
    finally:
        csv_logger.setLevel(level)


def infer_label_names(values):
    """Label names in id order: REAL/FAKE as the tutorial (REAL=0, FAKE=1), else sorted."""
    names = {str(v) for v in values}
    if names == {"REAL", "FAKE"}:
        return ["REAL", "FAKE"]
    if all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def prepare_dataset(
    ds,
    *,
    text_column=None,
    title_column="title",
    label_column="label",
    first_n_words=200,
    label_names=None,
    source="data",
):
    """Clean one dataset as the tutorial does, on Arrow.

    With ``title`` and ``text`` columns present (and ``text_column`` unset or ``"titletext"``)
    it builds ``titletext`` = title + ". " + text. Rows whose text is shorter than 5 characters
    are dropped, ``text``/``titletext`` are trimmed to the first ``first_n_words`` words, and
    the label column becomes a ``ClassLabel`` named ``label``.

    Returns:
        (dataset, text column name, label names, :class:`PrepareStats`)
    """
    stats = PrepareStats(rows_read=len(ds))
    cols = ds.column_names
    if label_column not in cols:
        raise DataError(f"{source}: no label column {label_column!r}; the file has columns {_show(cols)}"
                        " (set --label_column)")
    build_titletext = title_column in cols and "text" in cols and text_column in (None, TITLETEXT)
    if build_titletext:
        text_column, body_column = TITLETEXT, "text"
    else:
        text_column = text_column or next((c for c in (TITLETEXT, "text") if c in cols), None)
        if text_column not in cols:
            wanted = repr(text_column) if text_column else f"('{TITLETEXT}', 'text', or 'title' and 'text')"
            raise DataError(f"{source}: no text column {wanted}; the file has columns {_show(cols)}"
                            " (set --text_column)")
        body_column = text_column
    # Labels are checked before any row is dropped, so an error names the row of the file.
    label_names = list(label_names) if label_names else _label_names_from(ds, label_column, source)
    ds = encode_labels(ds, label_column, label_names, source)
    if build_titletext:
        ds = ds.map(_add_titletext, batched=True, fn_kwargs={"title_column": title_column}, desc="Building titletext")
    kept = ds.filter(_is_long_enough, batched=True, fn_kwargs={"column": body_column},
                     desc=f"Dropping texts under {MIN_TEXT_CHARS} characters")
    stats.rows_dropped_short = stats.rows_read - len(kept)
    if stats.rows_dropped_short:
        _report_short_texts(ds, body_column, stats, source)
    ds = kept
    trim_columns = [c for c in ("text", TITLETEXT, text_column) if c in ds.column_names]
    ds = ds.map(_trim, batched=True, fn_kwargs={"columns": sorted(set(trim_columns)), "n": first_n_words},
                desc=f"Keeping the first {first_n_words} words")
    stats.label_counts = _counts(ds, label_names)
    return ds, text_column, label_names, stats


def prepare_csv(path, *, label_column="label", **options):
    """:func:`load_csv` (requiring ``label_column``) then :func:`prepare_dataset`, with errors
    naming ``path``. ``options`` go to :func:`prepare_dataset`."""
    ds = load_csv(path, required_columns=[label_column])
    return prepare_dataset(ds, label_column=label_column, source=str(path), **options)


def _label_names_from(ds, label_column, source):
    values = ds.unique(label_column)
    if any(not v.strip() for v in values):
        raise DataError(f"{source}: row {_first_row(ds, label_column, lambda v: not v.strip())},"
                        f" column {label_column!r}: empty label; every row needs one")
    label_names = infer_label_names(values)
    if len(label_names) < 2:
        raise DataError(f"{source}: column {label_column!r} holds a single class {label_names};"
                        " a classifier needs at least 2 (check the file or the split)")
    return label_names


def _report_short_texts(ds, column, stats, source):
    """Warn about the dropped rows (empty, whitespace-only, "NaN"...), or refuse a file that keeps none."""
    first = _first_row(ds, column, lambda v: len(v.strip()) < MIN_TEXT_CHARS)
    what = f"shorter than {MIN_TEXT_CHARS} characters (empty, whitespace-only or a placeholder such as 'NaN')"
    if stats.rows_dropped_short == stats.rows_read:
        raise DataError(f"{source}: column {column!r}: every row's text is {what}, so no row is left;"
                        " check --text_column")
    logger.warning(f"{source}: {stats.rows_dropped_short} of {stats.rows_read} rows skipped: the text in column"
                   f" {column!r} is {what} (first: row {first})")


def _add_titletext(batch, title_column):
    return {TITLETEXT: [f"{t}. {x}" for t, x in zip(batch[title_column], batch["text"])]}


def _is_long_enough(batch, column):
    return [len(t.strip()) >= MIN_TEXT_CHARS for t in batch[column]]


def _trim(batch, columns, n):
    return {c: [" ".join(t.split(maxsplit=n)[:n]) for t in batch[c]] for c in columns}


def encode_labels(ds, label_column, label_names, source="data"):
    """Map label strings to ids with a ``ClassLabel`` in ``label_names`` order, column ``label``."""
    known = set(label_names)
    with _quiet():
        unknown = ds.filter(lambda b: [v not in known for v in b[label_column]], batched=True)
    if len(unknown):
        value = unknown[0][label_column]
        raise DataError(
            f"{source}: row {_first_row(ds, label_column, lambda v: v == value)}, column {label_column!r}:"
            f" label {value!r} is not one of {label_names} ({len(unknown)} such rows); labels come from the train split"
        )
    if label_column != "label" and "label" in ds.column_names:
        ds = ds.remove_columns("label")
    if label_column != "label":
        ds = ds.rename_column(label_column, "label")
    with _quiet():
        return ds.cast_column("label", datasets.ClassLabel(names=label_names))


def _first_row(ds, column, predicate):
    """1-based file row (header = row 1) of the first example whose ``column`` satisfies ``predicate``."""
    with _quiet():
        index = ds.map(lambda b, idx: {"i": [i for i, v in zip(idx, b[column]) if predicate(v)][:1]},
                       batched=True, with_indices=True, remove_columns=ds.column_names)["i"]
    return index[0] + 2 if index else "?"


def _counts(ds, label_names):
    counts = {name: 0 for name in label_names}
    for i in ds["label"]:
        counts[label_names[i]] += 1
    return counts


def split_dataset(ds, train_ratio=0.8, valid_ratio=0.1, seed=42, source="data", hint="use more rows or other ratios"):
    """Seeded, stratified split into ``train``/``validation``/``test`` (test gets the rest).

    Every split must receive every class; otherwise a :class:`DataError` names ``source``,
    the class counts and ``hint`` (the fix).
    """
    test_ratio = max(0.0, round(1.0 - train_ratio - valid_ratio, 10))
    if not (0 < train_ratio < 1 and 0 < valid_ratio < 1 and train_ratio + valid_ratio <= 1 + 1e-10):
        raise DataError(f"ratios must be in (0, 1) and sum to at most 1, got train {train_ratio}, valid {valid_ratio}")
    n = len(ds)
    n_valid = round(n * valid_ratio)
    n_test = 0 if test_ratio == 0 else n - round(n * train_ratio) - n_valid
    sizes = [n - n_valid - n_test, n_valid] + ([n_test] if test_ratio else [])
    counts = _counts(ds, ds.features["label"].names)
    if min(sizes) >= len(counts) and min(counts.values()) >= len(sizes):  # each split can get each class
        try:
            first = ds.train_test_split(test_size=n_valid + n_test, stratify_by_column="label", seed=seed)
            if n_test == 0:
                return datasets.DatasetDict(train=first["train"], validation=first["test"])
            second = first["test"].train_test_split(test_size=n_test, stratify_by_column="label", seed=seed)
            return datasets.DatasetDict(train=first["train"], validation=second["train"], test=second["test"])
        except ValueError:  # the stratified splitter's own checks
            pass
    ratios = f"train {train_ratio:g} / valid {valid_ratio:g}" + (f" / test {test_ratio:g}" if test_ratio else "")
    classes = ", ".join(f"{name} {k}" for name, k in counts.items())
    raise DataError(f"{source}: cannot split {n} rows ({classes}) into {ratios} with every class in every split;"
                    f" {hint}")


def encode_dataset(ds, tokenizer, text_column, batch_size=1000):
    """Add ``input_ids`` and ``length`` with the tokenizer's fast ``encode_batch`` (batched map)."""

    def encode(batch):
        encodings = tokenizer.encode_batch(batch[text_column])
        return {"input_ids": [e.ids for e in encodings], "length": [len(e.ids) for e in encodings]}

    return ds.map(encode, batched=True, batch_size=batch_size, desc="Tokenizing")


class LengthGroupedBatchSampler(Sampler):
    """Batches of similar lengths, so little compute goes to padding.

    Training (``shuffle=True``): a seeded permutation per epoch is cut into chunks of
    ``batch_size * group_factor`` examples, each chunk sorted by length and cut into batches,
    and the batch order shuffled. Evaluation: batches in order of length. The one short batch
    always comes last, as with ``torch``'s ``BatchSampler``, which Accelerate's sharding expects.
    """

    def __init__(self, lengths, batch_size, shuffle=True, seed=0, group_factor=50, drop_last=False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.lengths = torch.as_tensor(list(lengths))
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.group_factor, self.drop_last, self.epoch = group_factor, drop_last, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        n, b = len(self.lengths), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        n, b = len(self.lengths), self.batch_size
        if not self.shuffle:
            order = torch.sort(self.lengths, stable=True).indices
            batches = [order[i : i + b].tolist() for i in range(0, n, b)]
        else:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            perm = torch.randperm(n, generator=g)
            chunk = b * self.group_factor
            order = torch.cat([c[torch.sort(self.lengths[c], stable=True).indices] for c in perm.split(chunk)])
            batches = [order[i : i + b].tolist() for i in range(0, n, b)]
            full = batches if len(batches[-1]) == b else batches[:-1]
            short = [] if full is batches else batches[-1:]
            batches = [full[i] for i in torch.randperm(len(full), generator=g).tolist()] + short
        if self.drop_last and batches and len(batches[-1]) < b:
            batches = batches[:-1]
        return iter(batches)


def collate_batch(features, pad_token_id=0):
    """Right-pad a list of ``{"input_ids", "label"}`` dicts to the longest in the batch."""
    input_ids, attention_mask = pad_sequences([f["input_ids"] for f in features], pad_token_id)
    batch = {"input_ids": input_ids, "attention_mask": attention_mask}
    if "label" in features[0]:
        batch["labels"] = torch.as_tensor([f["label"] for f in features], dtype=torch.long)
    return batch


def make_dataloader(ds, batch_size, shuffle, seed=0, pad_token_id=0):
    """A ``DataLoader`` over an encoded dataset with length-grouped batches and dynamic padding."""
    lengths = ds["length"] if "length" in ds.column_names else [len(ids) for ids in ds["input_ids"]]
    sampler = LengthGroupedBatchSampler(lengths, batch_size, shuffle=shuffle, seed=seed)
    ds = ds.select_columns([c for c in ("input_ids", "label") if c in ds.column_names])
    # Its own generator: starting an iterator draws a base seed from it, not from the global RNG,
    # so dropout does not depend on how many loaders were started (a run resumed mid-epoch
    # replays the uninterrupted one exactly).
    generator = torch.Generator().manual_seed(seed)
    collate = functools.partial(collate_batch, pad_token_id=pad_token_id)
    return DataLoader(ds, batch_sampler=sampler, collate_fn=collate, generator=generator)
