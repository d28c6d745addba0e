"""modeling.data.splits: duplicates, leakage counts, written splits; modeling.data.streaming.TextSource: texts for prediction."""

import csv

import datasets
import pytest

from modeling.data.streaming import TextSource
from modeling.data.splits import (
    count_cross_split_duplicates, count_label_conflicts, drop_duplicate_texts, prepare_splits, write_splits,
)

from tests.conftest import write_csv




def test_duplicates_and_conflicts():
    ds = datasets.Dataset.from_dict({"t": ["a", "b", "a", "c", "b"], "label": [0, 1, 1, 0, 1]})
    assert drop_duplicate_texts(ds, "t")["t"][:] == ["a", "b", "c"]
    assert count_label_conflicts(ds, "t") == 1  # "a" is labelled 0 and 1
    splits = {"train": ds.select([0, 1]), "validation": ds.select([2]), "test": ds.select([3, 4])}
    assert count_cross_split_duplicates(splits, "t") == 2  # "a" and "b"


def test_prepare_and_write_splits_keep_label_names(tmp_path):
    rows = [[i, f"Title {i}", f"body words number {i} " * 3, "FAKE" if i % 2 else "REAL"] for i in range(40)]
    path = write_csv(tmp_path / "raw.csv", ["id", "title", "text", "label"], rows)
    splits, column, names, report = prepare_splits(path, first_n_words=4, seed=0)
    assert column == "titletext" and names == ["REAL", "FAKE"]
    assert {k: len(v) for k, v in splits.items()} == {"train": 32, "validation": 4, "test": 4}
    assert report.class_balance["train"] == {"REAL": 16, "FAKE": 16}
    write_splits(splits, tmp_path / "out", column, names)
    with open(tmp_path / "out" / "valid.csv", newline="") as f:
        written = list(csv.DictReader(f))
    assert list(written[0]) == ["label", "title", "text", "titletext"]
    assert {r["label"] for r in written} == {"REAL", "FAKE"} and all(len(r["titletext"].split()) == 4 for r in written)


def test_single_text_column_output(tmp_path):
    rows = [[f"statement number {i}", "yes" if i % 2 else "no"] for i in range(20)]
    path = write_csv(tmp_path / "raw.csv", ["statement", "verdict"], rows)
    splits, column, names, _ = prepare_splits(path, text_column="statement", label_column="verdict",
                                              train_ratio=0.6, valid_ratio=0.2)
    write_splits(splits, tmp_path / "out", column, names)
    header = (tmp_path / "out" / "train.csv").read_text().splitlines()[0]
    assert header == "label,statement" and names == ["no", "yes"]


def texts_to_classify(path, **options):
    """Every text predict.py classifies from ``path`` (modeling.data.streaming.TextSource), in order."""
    return [text for chunk in TextSource.from_file(path, **options).chunks(2) for text in chunk.texts]


def test_texts_to_classify_choose_the_text_column(tmp_path):
    path = write_csv(tmp_path / "a.csv", ["title", "text"], [["Hello", "world of news"]] * 3)
    assert TextSource.from_file(path).text_column == "titletext"
    assert texts_to_classify(path) == ["Hello. world of news"] * 3
    assert texts_to_classify(path, text_column="text") == ["world of news"] * 3
    with pytest.raises(ValueError, match="no text column 'body'"):
        texts_to_classify(path, text_column="body")
