"""Data pipeline: CSV → cleaned, trimmed, labelled, split datasets (``batching`` turns them into batches).

Everything runs on Arrow through ``datasets`` (batched ``map``/``filter``), so a million-row
CSV streams through without being held in Python lists. Only training needs this module:
a trained model classifies raw text with its own tokenizer.
"""

import contextlib
import functools
import logging
from dataclasses import dataclass, field

import datasets

from .files import DataError, read_table, show_columns as _show
from .labels import encode_labels, label_names_from, value_counts
from ..inference import NON_EMPTY, is_long_enough

logger = logging.getLogger(__name__)

TITLETEXT = "titletext"


@dataclass
class PrepareStats:
    """What :func:`prepare_dataset` did, for the logs."""

    rows_read: int = 0
    rows_dropped_short: int = 0  # rows under the short-text rule (min_text_chars)
    min_text_chars: int = NON_EMPTY
    label_counts: dict = field(default_factory=dict)


@contextlib.contextmanager
def _quiet():
    """No progress bars for internal look-ups (label checks, row search, casts): next to the real
    steps they are noise, and before an ``error:`` line they bury it."""
    if datasets.are_progress_bars_disabled():
        yield
        return
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        datasets.enable_progress_bars()


def load_csv(path, required_columns=(), delimiter=None):
    """The rows of a data file (CSV/TSV, JSON lines or Parquet) as a ``datasets.Dataset`` of string
    columns; see :func:`modeling.data.files.read_table`."""
    return read_table(path, required_columns=required_columns, delimiter=delimiter).dataset


def prepare_dataset(
    ds,
    *,
    text_column=None,
    title_column="title",
    label_column="label",
    first_n_words=200,
    min_text_chars=NON_EMPTY,
    label_names=None,
    source="data",
    first_row=2,
    label_names_given="train split",
):
    """Clean one dataset as the tutorial does, on Arrow.

    With ``title`` and ``text`` columns present (and ``text_column`` unset or ``"titletext"``)
    it builds ``titletext`` = title + ". " + text. Rows whose text is shorter than
    ``min_text_chars`` characters, whitespace stripped, are dropped (the default, 1, drops only empty
    texts; the tutorial's news recipe uses 5), ``text``/``titletext`` are trimmed to the first ``first_n_words`` words, and
    the label column becomes a ``ClassLabel`` named ``label`` (see :mod:`modeling.data.labels`).
    ``first_row`` is the row number of the first example in ``source`` (2 below a CSV header),
    for messages.

    Returns:
        (dataset, text column name, label names, :class:`PrepareStats`)
    """
    stats = PrepareStats(rows_read=len(ds), min_text_chars=min_text_chars)
    cols = ds.column_names
    if label_column not in cols:
        raise DataError(f"{source}: no label column {label_column!r}; the file has columns {_show(cols)}"
                        " (set --label_column)")
    text_column, build_titletext = choose_text_column(cols, text_column, title_column, source)
    body_column = "text" if build_titletext else text_column
    # Labels are checked before any row is dropped, so an error names the row of the file.
    row_of = functools.partial(_first_row, ds, first_row=first_row)
    label_names = list(label_names) if label_names else _label_names_from(ds, label_column, source, row_of)
    ds = encode_labels(ds, label_column, label_names, source=source, given=label_names_given,
                       row_of=lambda predicate: row_of(label_column, predicate))
    if build_titletext:
        ds = ds.map(add_titletext, batched=True, fn_kwargs={"title_column": title_column}, desc="Building titletext")
    kept = ds.filter(_is_long_enough, batched=True, fn_kwargs={"column": body_column, "min_chars": min_text_chars},
                     desc=f"Dropping {short_texts(min_text_chars)}")
    stats.rows_dropped_short = stats.rows_read - len(kept)
    if stats.rows_dropped_short:
        _report_short_texts(ds, body_column, stats, source, row_of)
    ds = kept
    trim_columns = [c for c in ("text", TITLETEXT, text_column) if c in ds.column_names]
    ds = ds.map(_trim, batched=True, fn_kwargs={"columns": sorted(set(trim_columns)), "n": first_n_words},
                desc=f"Keeping the first {first_n_words} words")
    stats.label_counts = label_counts(ds, label_names)
    return ds, text_column, label_names, stats


def choose_text_column(columns, text_column=None, title_column="title", source="data"):
    """The text of a row, for training and prediction alike: with ``title`` and ``text`` columns (and
    ``text_column`` unset or ``"titletext"``), ``titletext`` built as title + ". " + text; else
    ``text_column``, or else a ``titletext`` or ``text`` column.

    Returns:
        (text column, whether ``titletext`` is to be built with :func:`add_titletext`)
    """
    if title_column in columns and "text" in columns and text_column in (None, TITLETEXT):
        return TITLETEXT, True
    text_column = text_column or next((c for c in (TITLETEXT, "text") if c in columns), None)
    if text_column not in columns:
        wanted = repr(text_column) if text_column else f"('{TITLETEXT}', 'text', or '{title_column}' and 'text')"
        raise DataError(f"{source}: no text column {wanted}; the file has columns {_show(columns)}"
                        " (set --text_column)")
    return text_column, False


def prepare_file(path, *, label_column="label", delimiter=None, column_names=None, **options):
    """Read a data file (:func:`modeling.data.files.read_table`, requiring ``label_column``) then
    :func:`prepare_dataset`, with errors naming ``path`` and its rows. ``options`` go to
    :func:`prepare_dataset`."""
    table = read_table(path, required_columns=[label_column], delimiter=delimiter, column_names=column_names)
    return prepare_dataset(table.dataset, label_column=label_column, source=str(path), first_row=table.first_row,
                           **options)


def _label_names_from(ds, label_column, source, row_of):
    counts = value_counts(ds, label_column)
    if any(not v.strip() for v in counts):
        raise DataError(f"{source}: row {row_of(label_column, lambda v: not v.strip())},"
                        f" column {label_column!r}: empty label; every row needs one")
    label_names = label_names_from(counts)
    if len(label_names) < 2:
        raise DataError(f"{source}: column {label_column!r} holds a single class {label_names};"
                        " a classifier needs at least 2 (check the file or the split)")
    return label_names


def _report_short_texts(ds, column, stats, source, row_of):
    """Warn about the dropped rows (empty, whitespace-only, "NaN"...), or refuse a file that keeps none."""
    first = row_of(column, lambda v: not is_long_enough(v, stats.min_text_chars))
    what = ("empty or whitespace-only" if stats.min_text_chars <= NON_EMPTY else
            f"shorter than {stats.min_text_chars} characters (empty, whitespace-only or a placeholder such as 'NaN')")
    if stats.rows_dropped_short == stats.rows_read:
        raise DataError(f"{source}: column {column!r}: every row's text is {what}, so no row is left;"
                        " check --text_column")
    logger.warning(f"{source}: {stats.rows_dropped_short} of {stats.rows_read} rows skipped: the text in column"
                   f" {column!r} is {what} (first: row {first})")


def add_titletext(batch, title_column):
    """``datasets.map`` function: the tutorial's ``titletext`` = title + ". " + text."""
    return {TITLETEXT: [f"{t}. {x}" for t, x in zip(batch[title_column], batch["text"])]}


def short_texts(min_text_chars):
    """The rows a short-text rule drops, in words: ``"empty texts"`` or ``"texts under N characters"``."""
    return "empty texts" if min_text_chars <= NON_EMPTY else f"texts under {min_text_chars} characters"


def _is_long_enough(batch, column, min_chars):
    return [is_long_enough(t, min_chars) for t in batch[column]]


def _trim(batch, columns, n):
    return {c: [" ".join(t.split(maxsplit=n)[:n]) for t in batch[c]] for c in columns}


def _first_row(ds, column, predicate, first_row=2):
    """File row (``first_row`` for the first example) of the first example whose ``column``
    satisfies ``predicate``."""
    with _quiet():
        index = ds.map(lambda b, idx: {"i": [i for i, v in zip(idx, b[column]) if predicate(v)][:1]},
                       batched=True, with_indices=True, remove_columns=ds.column_names)["i"]
    return index[0] + first_row if index else "?"


def label_counts(ds, label_names):
    """``{label name: rows}`` of a dataset with a ``label`` id column."""
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
    counts = label_counts(ds, ds.features["label"].names)
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
