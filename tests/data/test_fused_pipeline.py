"""The fused pipeline gives today's splits and ids: computed both ways on a fixed file."""

import random

import pytest

from bench.pipeline_fused import encode_all, first_words, prepare_fused, select_splits, split_rows, stratified_split
from modeling.data.batching import encode_dataset
from modeling.data.pipeline import load_csv, prepare_dataset, split_dataset
from modeling.data.preparation import as_text_batches
from modeling.tokenizer import train_tokenizer

from tests.conftest import FAKE_WORDS, FILLER, REAL_WORDS, write_csv

SPACES = [" ", " ", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\x1c", "\x1f", "\u2028", "\u200b", "\x85"]
ODD = ["Trump’s", "café", "ﬁne", "東京都。", "!!!", "...", "[UNK]", "e\u0301", "", "NA", "null", "-", "İ"]


def tricky_text(rng, n_words):
    words = [rng.choice(REAL_WORDS + FAKE_WORDS + FILLER + ODD) for _ in range(n_words)]
    out = rng.choice(["", "", " ", "\n", "\u00a0"])
    for word in words:
        out += word + rng.choice(SPACES)
    return out


def write_tricky_csv(path, n_rows=400, seed=7):
    """Titles and texts with every kind of whitespace, short and empty texts, texts over the word limit."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_rows):
        n = rng.choice([0, 1, 2, 5, 30, 60, 250])
        text = rng.choice(["", "   ", "abc", "\u00a0\u00a0", "\x1c\x1c"]) if n < 2 else tricky_text(rng, n)
        rows.append([i, tricky_text(rng, rng.randint(0, 6)), text, rng.choice(["REAL", "FAKE", "FAKE"])])
    return write_csv(path, ["id", "title", "text", "label"], rows)


def test_first_words_is_str_split_and_join():
    import pyarrow as pa

    rng = random.Random(0)
    texts = [tricky_text(rng, rng.randint(0, 40)) for _ in range(500)] + ["", " ", "\x1c", "a\x1cb c"]
    for n in (1, 3, 20):
        assert first_words(pa.array(texts), n).to_pylist() == [" ".join(t.split(maxsplit=n)[:n]) for t in texts]


@pytest.mark.parametrize("min_text_chars", [1, 5])
@pytest.mark.parametrize("text_column", [None, "text"])
def test_same_splits_and_ids_as_the_map_pipeline(tmp_path, min_text_chars, text_column):
    path = write_tricky_csv(tmp_path / "tricky.csv")
    raw = load_csv(path, required_columns=["label"])
    # Today's pipeline: prepare_dataset -> split_dataset -> train_tokenizer -> encode_dataset.
    ds, column, names, stats = prepare_dataset(raw, text_column=text_column, first_n_words=50,
                                               min_text_chars=min_text_chars, source=str(path))
    assert stats.rows_dropped_short > 10
    splits = split_dataset(ds, 0.8, 0.1, seed=3)
    tok = train_tokenizer(as_text_batches(splits["train"], column), 2, 40)
    expected = {name: encode_dataset(split, tok, column) for name, split in splits.items()}
    # The fused one.
    cleaned, column2, names2, stats2 = prepare_fused(raw, text_column=text_column, first_n_words=50,
                                                     min_text_chars=min_text_chars, label_names=names, source=str(path))
    assert (column2, names2, stats2.rows_dropped_short, stats2.label_counts) == (
        column, names, stats.rows_dropped_short, stats.label_counts)
    assert cleaned.column_names == ds.column_names and cleaned.features == ds.features
    rows = split_rows(cleaned, 0.8, 0.1, seed=3)
    tok2 = train_tokenizer(as_text_batches(select_splits(cleaned, rows)["train"], column), 2, 40)
    assert tok2.to_str() == tok.to_str()
    got = select_splits(encode_all(cleaned, tok2, column), rows)
    for name, split in expected.items():
        assert got[name].column_names == split.column_names
        for c in split.column_names:
            assert got[name][c] == split[c], (name, c)
    # Only the label and the text: the same rows, labels and ids.
    lean, *_ = prepare_fused(raw, text_column=text_column, first_n_words=50, min_text_chars=min_text_chars,
                             label_names=names, source=str(path), columns="text")
    assert lean.column_names == ["label", column]
    got = select_splits(encode_all(lean, tok2, column), rows)
    for name, split in expected.items():
        for c in ("label", column, "input_ids", "length"):
            assert got[name][c] == split[c], (name, c)


@pytest.mark.parametrize("n_classes,n,n_test,seed", [(2, 1000, 200, 42), (3, 777, 100, 0), (6, 5000, 1234, 7),
                                                     (2, 10, 2, 1), (4, 401, 397, 3)])
def test_stratified_split_is_train_test_split(n_classes, n, n_test, seed):
    import datasets
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = rng.choice(n_classes, size=n, p=rng.dirichlet(np.ones(n_classes)) * 0.5 + 0.5 / n_classes)
    ds = datasets.Dataset.from_dict({"label": labels, "row": np.arange(n)}, features=datasets.Features(
        {"label": datasets.ClassLabel(num_classes=n_classes), "row": datasets.Value("int64")}))
    split = ds.train_test_split(test_size=n_test, stratify_by_column="label", seed=seed)
    train, test = stratified_split(labels, n_test, seed)
    assert train.tolist() == split["train"]["row"] and test.tolist() == split["test"]["row"]


def test_split_errors_are_todays(tmp_path):
    from modeling.data.pipeline import DataError

    path = write_csv(tmp_path / "few.csv", ["text", "label"], [["some words", "REAL"]] * 8 + [["more", "FAKE"]] * 2)
    raw = load_csv(path)
    cleaned, *_ = prepare_fused(raw, label_names=["REAL", "FAKE"])
    with pytest.raises(DataError) as today:
        split_dataset(prepare_dataset(raw)[0], 0.8, 0.1, seed=1, source="x")
    with pytest.raises(DataError, match="cannot split 10 rows") as fused:
        split_rows(cleaned, 0.8, 0.1, seed=1, source="x")
    assert str(fused.value) == str(today.value)
