"""Raw CSV → cleaned, optionally de-duplicated, stratified train/validation/test splits.

What ``scripts/prepare_data.py`` writes to disk and what ``scripts/train.py`` builds in memory
when it is given a single raw file (the demo): one code path, so both see the same splits.
"""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..inference import MIN_TEXT_CHARS
from ..utils import atomic_path, atomic_write_json
from .pipeline import (
    TITLETEXT, add_titletext, choose_text_column, label_counts, load_csv, prepare_file, short_texts, split_dataset,
)

SPLIT_FILES = {"train": "train.csv", "validation": "valid.csv", "test": "test.csv"}
# Written next to the splits: where they came from, read by train.py for the model card.
DATA_SOURCE_FILE = "data_source.json"


@dataclass
class PrepareReport:
    """What :func:`prepare_splits` did: counts for the logs."""

    rows_read: int = 0
    dedup: bool = False
    rows_dropped_short: int = 0
    min_text_chars: int = MIN_TEXT_CHARS
    rows_dropped_duplicate: int = 0
    duplicate_label_conflicts: int = 0
    cross_split_duplicates: int = 0
    class_balance: dict = field(default_factory=dict)

    def lines(self):
        """Human-readable summary, one line per fact."""
        kept = self.rows_read - self.rows_dropped_short - self.rows_dropped_duplicate
        dropped = f"rows dropped: {self.rows_dropped_short} {short_texts(self.min_text_chars)} (--min_text_chars)"
        if self.dedup:
            dropped += f", {self.rows_dropped_duplicate} exact duplicates of an earlier text (--dedup)"
        out = [f"rows read: {self.rows_read}", dropped, f"rows kept: {kept}"]
        if self.duplicate_label_conflicts:
            out.append(f"warning: {self.duplicate_label_conflicts} duplicated texts carry different labels")
        for split, counts in self.class_balance.items():
            total = sum(counts.values())
            shares = ", ".join(f"{name} {n} ({n / total:.1%})" for name, n in counts.items())
            out.append(f"{split}: {total} rows: {shares}")
        leak = self.cross_split_duplicates
        out.append(f"exact-duplicate texts found in more than one split: {leak}"
                   + (" (test leakage; --dedup removes them)" if leak else ""))
        return out


def prepare_splits(input_file, *, text_column=None, title_column="title", label_column="label",
                   first_n_words=200, min_text_chars=MIN_TEXT_CHARS, train_ratio=0.8, valid_ratio=0.1, seed=42,
                   dedup=False, label_names=None, delimiter=None, column_names=None):
    """Load a raw data file, clean it as the tutorial does, optionally drop duplicates, and split it.

    ``min_text_chars`` is the short-text rule: the tutorial's 5 by default (its news recipe drops
    texts under 5 characters); 1 drops only empty texts.

    ``label_names`` fixes the class names in id order (integer labels are read as ids into them);
    ``delimiter`` overrides the sniffed CSV delimiter; ``column_names`` names the columns of a file
    without a header row.

    Returns:
        (``DatasetDict`` with ``train``/``validation``/``test``, text column, label names, :class:`PrepareReport`)
    """
    ds, text_column, label_names, stats = prepare_file(
        input_file, text_column=text_column, title_column=title_column, label_column=label_column,
        first_n_words=first_n_words, min_text_chars=min_text_chars, label_names=label_names,
        label_names_given="--label_names", delimiter=delimiter, column_names=column_names)
    report = PrepareReport(rows_read=stats.rows_read, rows_dropped_short=stats.rows_dropped_short,
                           min_text_chars=min_text_chars, dedup=dedup)
    report.duplicate_label_conflicts = count_label_conflicts(ds, text_column)
    if dedup:
        before = len(ds)
        ds = drop_duplicate_texts(ds, text_column)
        report.rows_dropped_duplicate = before - len(ds)
    splits = split_dataset(ds, train_ratio=train_ratio, valid_ratio=valid_ratio, seed=seed, source=str(input_file),
                           hint="use more rows or other --train_ratio/--valid_ratio")
    report.cross_split_duplicates = count_cross_split_duplicates(splits, text_column)
    report.class_balance = {name: label_counts(split, label_names) for name, split in splits.items()}
    return splits, text_column, label_names, report


def drop_duplicate_texts(ds, text_column):
    """Keep the first row of each exact-duplicate text."""
    first = {}
    for i, text in enumerate(ds[text_column]):
        first.setdefault(text, i)
    return ds.select(sorted(first.values()))


def count_label_conflicts(ds, text_column):
    """Number of distinct texts that appear with more than one label."""
    labels = {}
    for text, label in zip(ds[text_column], ds["label"]):
        labels.setdefault(text, set()).add(label)
    return sum(len(found) > 1 for found in labels.values())


def count_cross_split_duplicates(splits, text_column):
    """Number of distinct texts found in more than one split (exact match)."""
    seen = {}
    for name, split in splits.items():
        for text in set(split[text_column]):
            seen[text] = seen.get(text, 0) + 1
    return sum(n > 1 for n in seen.values())


def output_columns(ds, text_column):
    """The tutorial's columns when title and text exist, else the label and the text column."""
    if text_column == TITLETEXT and {"title", "text"} <= set(ds.column_names):
        return ["label", "title", "text", TITLETEXT]
    return ["label", text_column]


def write_splits(splits, output_dir, text_column, label_names):
    """Write ``train.csv``/``valid.csv``/``test.csv`` with label names (not ids), atomically."""
    paths = {}
    for name, split in splits.items():
        frame = split.select_columns(output_columns(split, text_column)).to_pandas()
        frame["label"] = [label_names[i] for i in frame["label"]]
        path = Path(output_dir) / SPLIT_FILES[name]
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
        paths[name] = path
    return paths


def write_data_source(output_dir, input_file, report, *, first_n_words, seed, dedup, train_ratio, valid_ratio):
    """Write ``data_source.json`` next to the splits: the raw file's name and SHA-256, what was
    dropped and kept, the word limit and the split, so that the model card can name the data."""
    digest = hashlib.sha256()
    with open(input_file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    atomic_write_json(Path(output_dir) / DATA_SOURCE_FILE, {
        "source_file": Path(input_file).name, "source_sha256": digest.hexdigest(),
        "rows_read": report.rows_read, "rows_dropped_short": report.rows_dropped_short,
        "rows_dropped_duplicate": report.rows_dropped_duplicate, "first_n_words": first_n_words,
        "dedup": dedup, "seed": seed, "train_ratio": train_ratio, "valid_ratio": valid_ratio,
        "split_rows": {name: sum(counts.values()) for name, counts in report.class_balance.items()},
        "prepared_by": "scripts/prepare_data.py",
    })


def read_data_source(train_file):
    """The ``data_source.json`` next to ``train_file`` (written by prepare_data.py), or ``None``."""
    path = Path(str(train_file)).parent / DATA_SOURCE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def texts_from_csv(path, text_column=None, title_column="title"):
    """Texts to classify from a CSV, chosen by training's rule (:func:`~modeling.data.pipeline.choose_text_column`).

    Returns:
        (dataset, name of the text column)
    """
    ds = load_csv(path)
    text_column, build_titletext = choose_text_column(ds.column_names, text_column, title_column, str(path))
    if build_titletext:
        ds = ds.map(add_titletext, batched=True, fn_kwargs={"title_column": title_column})
    return ds, text_column


def as_text_batches(ds, text_column, batch_size=1000):
    """Yield lists of texts from a dataset column, for tokenizer training without a Python list."""
    for batch in ds.select_columns([text_column]).iter(batch_size=batch_size):
        yield batch[text_column]
