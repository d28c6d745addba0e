"""One labelled file → clean rows: :func:`read_labelled_file` is how every caller (training, evaluation,
``prepare_data.py``, the ONNX checks) reads one; texts to classify are read by the same rules, as a
stream (:class:`modeling.data.streaming.TextSource`).

Cleaning: titletext from title and text, rows under the short-text rule dropped, texts trimmed to
their first words, labels encoded (:mod:`modeling.data.labels`). Everything runs on Arrow through
``datasets`` (batched ``map``/``filter``), so a million-row file streams through without being held
in Python lists.
"""

import contextlib
import functools
import logging
from dataclasses import dataclass, field

import datasets

from ..config import NON_EMPTY, is_long_enough, short_text_reason
from .files import DataError, header_hint, read_table, show_columns as _show
from .labels import encode_labels, label_counts, label_names_from, value_counts

logger = logging.getLogger(__name__)

TITLETEXT = "titletext"


@dataclass
class CleaningStats:
    """What :func:`clean_table` did, for the logs."""

    rows_read: int = 0
    rows_dropped_short: int = 0  # rows under the short-text rule (min_text_chars)
    rows_dropped_unlabelled: int = 0  # rows whose label cell is empty (an empty cell, NaN or null)
    min_text_chars: int = NON_EMPTY
    label_counts: dict = field(default_factory=dict)
    labels_as_ids: bool = False  # integer cells were read as ids into the label names


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


def read_labelled_file(path, *, label_column="label", delimiter=None, column_names=None, **options):
    """Read a labelled data file (:func:`modeling.data.files.read_table`, requiring ``label_column``) and
    clean it (:func:`clean_table`; ``options`` go there), with errors naming ``path`` and its rows.

    Returns:
        (dataset, text column name, label names, :class:`CleaningStats`)
    """
    table = read_table(path, required_columns=[label_column], delimiter=delimiter, column_names=column_names)
    return clean_table(table, label_column=label_column, **options)


def clean_table(table, *, text_column=None, title_column="title", label_column="label", first_n_words=200,
                min_text_chars=NON_EMPTY, label_names=None, label_names_given="train split"):
    """Clean one :class:`~modeling.data.files.Table` as the tutorial does, on Arrow.

    With ``title`` and ``text`` columns present (and ``text_column`` unset or ``"titletext"``)
    it builds ``titletext`` = title + ". " + text. Rows whose text is shorter than
    ``min_text_chars`` characters, whitespace stripped, are dropped (the default, 1, drops only empty
    texts; the tutorial's news recipe uses 5), ``text``/``titletext`` are trimmed to the first ``first_n_words`` words, and
    the label column becomes a ``ClassLabel`` named ``label`` (see :mod:`modeling.data.labels`).
    Messages name the table's file and rows.

    Returns:
        (dataset, text column name, label names, :class:`CleaningStats`)
    """
    ds, source = table.dataset, str(table.path)
    stats = CleaningStats(rows_read=len(ds), min_text_chars=min_text_chars)
    cols = ds.column_names
    if label_column not in cols:
        raise DataError(f"{source}: no label column {label_column!r}; the file has columns {_show(cols)}"
                        " (set --label_column)")
    text_column, build_titletext = choose_text_column(cols, text_column, title_column, source)
    body_column = "text" if build_titletext else text_column
    # Labels are checked before any row is dropped, so an error names the row of the file.
    row_of = functools.partial(_first_row, ds, first_row=table.first_row)
    counts = value_counts(ds, label_column)
    if any(not value.strip() for value in counts):
        ds, counts = _drop_unlabelled(ds, label_column, counts, stats, source, row_of)
    label_names = list(label_names) if label_names else _label_names_from(counts, label_column, source, row_of)
    ds, stats.labels_as_ids = encode_labels(ds, label_column, label_names, counts, source=source,
                                            given=label_names_given,
                                            row_of=lambda predicate: row_of(label_column, predicate))
    if build_titletext:
        ds = ds.map(add_titletext, batched=True, fn_kwargs={"title_column": title_column}, desc="Building titletext")
    kept = ds.filter(_is_long_enough, batched=True, fn_kwargs={"column": body_column, "min_chars": min_text_chars},
                     desc=f"Dropping {short_text_reason(min_text_chars, plural=True)}")
    stats.rows_dropped_short = stats.rows_read - stats.rows_dropped_unlabelled - len(kept)
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
                        f" (set --text_column){header_hint(columns)}")
    return text_column, False


def _drop_unlabelled(ds, label_column, counts, stats, source, row_of):
    """Leave out the rows with an empty label (an empty cell, NaN or null: exports often have a few),
    with a warning that counts them and names the first; refuse a column that is empty in every row
    (a wrong --label_column). Returns (the dataset, its label counts)."""
    stats.rows_dropped_unlabelled = sum(n for value, n in counts.items() if not value.strip())
    if stats.rows_dropped_unlabelled == stats.rows_read:
        raise DataError(f"{source}: column {label_column!r} is empty in every row; check --label_column")
    first = row_of(label_column, lambda v: not v.strip())
    logger.warning(f"{source}: {stats.rows_dropped_unlabelled} of {stats.rows_read} rows left out: no label in column"
                   f" {label_column!r} (first: row {first}); they are neither trained on nor scored")
    ds = ds.filter(lambda batch: [bool(v.strip()) for v in batch[label_column]], batched=True,
                   desc="Leaving out rows without a label")
    return ds, {value: n for value, n in counts.items() if value.strip()}


def _label_names_from(counts, label_column, source, row_of):
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
    if stats.rows_dropped_short == stats.rows_read - stats.rows_dropped_unlabelled:
        raise DataError(f"{source}: column {column!r}: every row's text is {what}, so no row is left;"
                        " check --text_column")
    logger.warning(f"{source}: {stats.rows_dropped_short} of {stats.rows_read} rows skipped: the text in column"
                   f" {column!r} is {what} (first: row {first})")


def add_titletext(batch, title_column):
    """``datasets.map`` function: the tutorial's ``titletext`` = title + ". " + text."""
    return {TITLETEXT: [f"{t}. {x}" for t, x in zip(batch[title_column], batch["text"])]}


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
