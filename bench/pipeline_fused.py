"""Prototype of the fused data pipeline (issue 29): the same splits and ids as
``modeling.data.pipeline.prepare_dataset`` → ``split_dataset`` → ``encode_dataset``, in fewer passes.

Today (a2d399d) a raw file makes these passes, each a ``datasets.map`` that turns every column into
Python objects and writes a new full-size cache table: labels (``encode_labels``), titletext, the
short-text filter, the trim to N words, then one ``encode_dataset`` map per split (text and ids
written again), and ``train_test_split`` flattens its indices. Here:

1. one batched ``map`` over the raw table in Arrow format does labels (``pc.index_in``), titletext
   (``binary_join_element_wise``), the short-text rule (``utf8_trim`` with Python's whitespace, then
   ``utf8_length``) and the trim (``split_pattern_regex`` on runs of Python's whitespace, the first N
   pieces joined by a space): what ``str.strip``/``str.split`` do, with no Python string per row. It
   writes the one cleaned table, with only the columns asked for;
2. the split is computed on the label column alone (``split_dataset`` on a small in-memory dataset of
   labels and row numbers, so the stratified shuffle is today's) and applied with ``select``;
3. one ``map`` writes the ids of every row (``modeling.encoding.encode_ids``: long texts cut first,
   one ``encode_batch`` call per batch) as a table of ``input_ids``/``length`` alone, joined to the
   cleaned table column-wise (``concatenate_datasets(axis=1)``), then split.
"""

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modeling.data.files import DataError
from modeling.data.labels import label_mapping, value_counts
from modeling.data.pipeline import (
    TITLETEXT, PrepareStats, choose_text_column, short_texts, split_dataset,
)
from modeling.encoding import encode_ids
from modeling.inference import NON_EMPTY

# What str.isspace() accepts, so that str.strip() and str.split() are matched exactly.
PY_WHITESPACE = "".join(c for c in map(chr, range(0x110000)) if c.isspace())
_WHITESPACE_RUN = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in PY_WHITESPACE) + "]+"


def clean_batch(batch, *, label_column, mapping, title_column, build_titletext, body_column, trim_columns,
                first_n_words, min_text_chars, keep_columns):
    """One Arrow batch of the raw table → its kept rows, cleaned (see the module docstring)."""
    keys = pa.array(list(mapping), pa.string())
    ids = np.asarray(list(mapping.values()), dtype=np.int64)
    columns = {name: batch.column(name) for name in batch.column_names if name != label_column}
    columns["label"] = pa.array(ids[pc.index_in(batch.column(label_column), value_set=keys).to_numpy()])
    if build_titletext:
        columns[TITLETEXT] = pc.binary_join_element_wise(batch.column(title_column), batch.column("text"), ". ")
    keep = pc.greater_equal(pc.utf8_length(pc.utf8_trim(columns[body_column], characters=PY_WHITESPACE)),
                            min_text_chars)
    for name in trim_columns:
        columns[name] = first_words(columns[name], first_n_words)
    table = pa.table({name: columns[name] for name in keep_columns})
    return table.filter(keep)


def first_words(strings, n):
    """``" ".join(t.split(maxsplit=n)[:n])`` for each string, in Arrow."""
    trimmed = pc.utf8_trim(strings, characters=PY_WHITESPACE)
    words = pc.split_pattern_regex(trimmed, pattern=_WHITESPACE_RUN, max_splits=n)
    return pc.binary_join(pc.list_slice(words, 0, n), " ")


def prepare_fused(ds, *, text_column=None, title_column="title", label_column="label", first_n_words=200,
                  min_text_chars=NON_EMPTY, label_names, source="data", columns="all"):
    """``prepare_dataset`` in one pass (labels already checked: ``label_names`` given, every cell
    known). ``columns="text"`` keeps only ``label`` and the text column (what training reads)."""
    cols = ds.column_names
    text_column, build_titletext = choose_text_column(cols, text_column, title_column, source)
    body_column = "text" if build_titletext else text_column
    mapping, _, unknown, _ = label_mapping(value_counts(ds, label_column), label_names)
    if unknown:
        raise DataError(f"{source}: label {unknown[0]!r} is not one of {label_names}")
    all_columns = [c for c in cols if c != label_column] + ["label"] + ([TITLETEXT] if build_titletext else [])
    keep_columns = all_columns if columns == "all" else ["label", text_column]
    trim_columns = sorted({c for c in ("text", TITLETEXT, text_column) if c in all_columns} & set(keep_columns))
    features = datasets.Features({c: ds.features[c] if c in ds.features and c != "label" else datasets.Value("string")
                                  for c in keep_columns})
    features["label"] = datasets.ClassLabel(names=list(label_names))
    cleaned = ds.with_format("arrow").map(
        clean_batch, batched=True, batch_size=10_000, remove_columns=cols, features=features,
        fn_kwargs=dict(label_column=label_column, mapping=mapping, title_column=title_column,
                       build_titletext=build_titletext, body_column=body_column, trim_columns=trim_columns,
                       first_n_words=first_n_words, min_text_chars=min_text_chars, keep_columns=keep_columns),
        desc=f"Cleaning (labels, titletext, dropping {short_texts(min_text_chars)}, first {first_n_words} words)",
    ).with_format(None)
    stats = PrepareStats(rows_read=len(ds), rows_dropped_short=len(ds) - len(cleaned), min_text_chars=min_text_chars,
                         label_counts=counts_of(label_array(cleaned), label_names))
    return cleaned, text_column, list(label_names), stats


def label_array(ds):
    """The ``label`` column as a numpy array, read in Arrow (a ``datasets`` column iterates row by row)."""
    return ds.select_columns(["label"]).with_format("arrow")[:]["label"].to_numpy()


def counts_of(labels, label_names):
    """``{label name: rows}`` from a label array."""
    return dict(zip(label_names, np.bincount(labels, minlength=len(label_names)).tolist()))


def stratified_split(labels, n_test, seed):
    """``(train, test)`` positions into ``labels``, equal to those of ``Dataset.train_test_split(
    test_size=n_test, stratify_by_column="label", seed=seed)`` (scikit-learn's StratifiedShuffleSplit
    as ``datasets`` runs it; tests/data/test_fused_pipeline.py compares the two), computed on the label
    array alone: ``datasets`` reads the column row by row, a minute per million rows."""
    rng = np.random.default_rng(seed)
    n_train = len(labels) - n_test
    classes, y = np.unique(labels, return_inverse=True)
    counts = np.bincount(y)
    if counts.min() < 2 or n_train < len(classes) or n_test < len(classes):
        raise ValueError("too few rows of a class for a stratified split")
    by_class = np.split(np.argsort(y, kind="mergesort"), np.cumsum(counts)[:-1])
    n_i = _approximate_mode(counts, n_train, rng)
    t_i = _approximate_mode(counts - n_i, n_test, rng)
    train, test = [], []
    for i in range(len(classes)):
        rows = by_class[i].take(rng.permutation(counts[i]), mode="clip")
        train.append(rows[: n_i[i]])
        test.append(rows[n_i[i] : n_i[i] + t_i[i]])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _approximate_mode(class_counts, n_draws, rng):
    continuous = n_draws * class_counts / class_counts.sum()
    floored = np.floor(continuous)
    need = int(n_draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need -= add_now
            if need == 0:
                break
    return floored.astype(np.int64)


def split_rows(ds, train_ratio=0.8, valid_ratio=0.1, seed=42, source="data", hint="use more rows or other ratios"):
    """``{split: row numbers of ds}`` exactly as ``split_dataset(ds, ...)`` cuts it (sizes, checks and
    messages as there), computed on the label array."""
    labels = label_array(ds)
    test_ratio = max(0.0, round(1.0 - train_ratio - valid_ratio, 10))
    n = len(labels)
    n_valid = round(n * valid_ratio)
    n_test = 0 if test_ratio == 0 else n - round(n * train_ratio) - n_valid
    sizes = [n - n_valid - n_test, n_valid] + ([n_test] if test_ratio else [])
    counts = counts_of(labels, ds.features["label"].names)
    if min(sizes) >= len(counts) and min(counts.values()) >= len(sizes):
        try:
            train, rest = stratified_split(labels, n_valid + n_test, seed)
            if n_test == 0:
                return {"train": train, "validation": rest}
            valid, test = stratified_split(labels[rest], n_test, seed)
            return {"train": train, "validation": rest[valid], "test": rest[test]}
        except ValueError:
            pass
    split_dataset(ds, train_ratio, valid_ratio, seed, source, hint)  # raises today's DataError
    raise AssertionError("split_dataset split what stratified_split could not")


def encode_all(ds, tokenizer, text_column, batch_size=1000):
    """``ds`` with ``input_ids`` (int32) and ``length``: one map writing the ids alone, joined column-wise."""

    def encode(texts):
        ids = encode_ids(tokenizer, texts)
        return {"input_ids": ids, "length": [len(row) for row in ids]}

    features = datasets.Features({"input_ids": datasets.Sequence(datasets.Value("int32")),
                                  "length": datasets.Value("int32")})
    ids = ds.map(encode, batched=True, batch_size=batch_size, input_columns=[text_column],
                 remove_columns=ds.column_names, features=features, desc="Tokenizing")
    return datasets.concatenate_datasets([ds, ids], axis=1)


def select_splits(ds, rows):
    """The splits of ``ds`` given by :func:`split_rows`."""
    return datasets.DatasetDict({name: ds.select(index) for name, index in rows.items()})
