"""One labelled file → clean rows: :func:`read_labelled_file` is how every caller (training, evaluation,
``prepare_data.py``, the ONNX checks) reads one; texts to classify are read by the same rules, as a
stream (:class:`modeling.data.streaming.TextSource`).

Cleaning: titletext from title and text, rows under the short-text rule dropped, texts trimmed to
their first words, labels encoded (:mod:`modeling.data.labels`): one batched ``map`` in Arrow compute
that writes one table, so a million-row file streams through without being held in Python lists or
copied once per step.
"""

import contextlib
import functools
import logging
from dataclasses import dataclass, field

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..config import NON_EMPTY, short_text_reason
from .files import DataError, header_hint, read_table, show_columns as _show
from .labels import check_labels, label_counts, label_ids, label_names_from, value_counts

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
                min_text_chars=NON_EMPTY, label_names=None, label_names_given="train split", text_only=False):
    """Clean one :class:`~modeling.data.files.Table` as the tutorial does, on Arrow.

    With ``title`` and ``text`` columns present (and ``text_column`` unset or ``"titletext"``)
    it builds ``titletext`` = title + ". " + text. Rows whose text is shorter than
    ``min_text_chars`` characters, whitespace stripped, are dropped (the default, 1, drops only empty
    texts; the tutorial's news recipe uses 5), ``text``/``titletext`` are trimmed to the first ``first_n_words`` words, and
    the label column becomes a ``ClassLabel`` named ``label`` (see :mod:`modeling.data.labels`).
    ``text_only`` keeps only ``label`` and the text column (what training reads) instead of every
    column. Messages name the table's file and rows.

    One batched ``map`` over the file's Arrow table does it all with Arrow compute (what ``str.strip``
    and ``str.split`` do, with Python's whitespace) and writes the one cleaned table.

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
    mapping, stats.labels_as_ids = check_labels(label_column, label_names, counts, source=source,
                                                given=label_names_given,
                                                row_of=lambda predicate: row_of(label_column, predicate))
    columns = [c for c in cols if c not in (label_column, "label")] + ["label"] + [TITLETEXT] * build_titletext
    columns = ["label", text_column] if text_only else columns
    features = datasets.Features({c: ds.features.get(c, datasets.Value("string")) for c in columns})
    features["label"] = datasets.ClassLabel(names=list(label_names))
    trim = sorted({"text", TITLETEXT, text_column} & set(columns) - {"label"})
    ds = ds.with_format("arrow").map(
        _clean_batch, batched=True, batch_size=10_000, remove_columns=cols, features=features,
        fn_kwargs=dict(label_column=label_column, mapping=mapping, title_column=title_column if build_titletext else None,
                       body_column=body_column, trim=trim, n=first_n_words, min_chars=min_text_chars, columns=columns),
        desc=f"Cleaning (dropping {short_text_reason(min_text_chars, plural=True)}, first {first_n_words} words)",
    ).with_format(None)
    stats.rows_dropped_short = stats.rows_read - stats.rows_dropped_unlabelled - len(ds)
    if stats.rows_dropped_short:
        first = int(_short_rows(table.dataset, body_column, min_text_chars)[0]) + table.first_row
        _report_short_texts(body_column, stats, source, first=first)
    stats.label_counts = label_counts(ds, label_names)
    return ds, text_column, label_names, stats


# What str.isspace() accepts: Arrow's whitespace differs, so str.strip() and str.split() are matched
# with these characters given explicitly.
PY_WHITESPACE = "".join(c for c in map(chr, range(0x110000)) if c.isspace())
_WHITESPACE_RUN = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in PY_WHITESPACE) + "]+"
# Spacing for which str.split() is not a split on " ": other whitespace, runs, spaces at either end.
_IRREGULAR_SPACING = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in PY_WHITESPACE if c != " ") + "]|  |^ | $"


def _stripped_length(strings):
    return pc.utf8_length(pc.utf8_trim(strings, characters=PY_WHITESPACE))


def first_words(strings, n):
    """``" ".join(t.split(maxsplit=n)[:n])`` of each string of an Arrow array, in Arrow.

    A text whose only whitespace is single spaces between words (most of them) keeps the bytes before
    its n-th space, copied in one numpy step; the others go through a split on runs of Python's
    whitespace and a join."""
    strings = strings.combine_chunks() if isinstance(strings, pa.ChunkedArray) else strings
    if strings.type != pa.string() or strings.null_count:
        return _first_words_split(strings, n)
    irregular = pc.match_substring_regex(strings, _IRREGULAR_SPACING)
    parts = pc.split_pattern(strings, " ", max_splits=n)
    over = pc.greater(pc.list_value_length(parts), n).to_numpy(zero_copy_only=False)
    keep = pc.binary_length(strings).to_numpy(zero_copy_only=False).astype(np.int64)
    rest = pc.binary_length(pc.list_flatten(pc.list_slice(parts, n, n + 1))).to_numpy(zero_copy_only=False)
    keep[over] -= rest.astype(np.int64) + 1  # the bytes after the n-th space, and the space
    out = _prefixes(strings, keep)
    if pc.any(irregular).as_py():
        out = pc.replace_with_mask(out, irregular, _first_words_split(strings.filter(irregular), n))
    return out


def _first_words_split(strings, n):
    words = pc.split_pattern_regex(pc.utf8_trim(strings, characters=PY_WHITESPACE), pattern=_WHITESPACE_RUN,
                                   max_splits=n)
    return pc.binary_join(pc.list_slice(words, 0, n), " ")


def _prefixes(strings, lengths):
    """The first ``lengths[i]`` bytes of each string of a ``pa.string()`` array (whole UTF-8 characters)."""
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)[strings.offset : strings.offset + len(strings) + 1]
    full = np.diff(offsets)
    if np.array_equal(full, lengths):
        return strings
    data = memoryview(strings.buffers()[2] or b"")
    new_offsets = np.zeros(len(strings) + 1, dtype=np.int32)
    np.cumsum(lengths, out=new_offsets[1:])
    joined = b"".join([data[start : start + n] for start, n in zip(offsets[:-1].tolist(), lengths.tolist())])
    return pa.StringArray.from_buffers(len(strings), pa.py_buffer(new_offsets), pa.py_buffer(joined))


def _short_rows(ds, column, min_chars):
    """Positions of the rows under the short-text rule (``is_long_enough`` in Arrow), read column-wise;
    for the message about them."""
    short = []
    for start, batch in enumerate(ds.select_columns([column]).with_format("arrow").iter(batch_size=100_000)):
        mask = pc.less(_stripped_length(batch.column(column)), min_chars).to_numpy(zero_copy_only=False)
        short.append(np.flatnonzero(mask) + start * 100_000)
    return np.concatenate(short) if short else np.zeros(0, np.int64)


def _clean_batch(batch, *, label_column, mapping, title_column, body_column, trim, n, min_chars, columns):
    """``map`` function over an Arrow batch of the file: labels, titletext, kept rows, trimmed texts."""
    out = {name: batch.column(name) for name in batch.column_names}
    out["label"] = label_ids(batch.column(label_column), mapping)
    if title_column:
        out[TITLETEXT] = pc.binary_join_element_wise(batch.column(title_column), batch.column("text"), ". ")
    keep = pc.greater_equal(_stripped_length(batch.column(body_column)), min_chars)
    for name in trim:
        out[name] = first_words(out[name], n)
    return pa.table({name: out[name] for name in columns}).filter(keep)


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


def _report_short_texts(column, stats, source, first):
    """Warn about the dropped rows (empty, whitespace-only, "NaN"...), or refuse a file that keeps none;
    ``first`` is the file row of the first."""
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


def _first_row(ds, column, predicate, first_row=2):
    """File row (``first_row`` for the first example) of the first example whose ``column``
    satisfies ``predicate``."""
    with _quiet():
        index = ds.map(lambda b, idx: {"i": [i for i, v in zip(idx, b[column]) if predicate(v)][:1]},
                       batched=True, with_indices=True, remove_columns=ds.column_names)["i"]
    return index[0] + first_row if index else "?"
