"""The data pipeline (one Arrow cleaning pass, the split on the label array, one ids table) gives the
splits and ids of the map-per-step pipeline of commit a2d399d, stored in tests/fixtures/pipeline_a2d399d
(``generate.py`` there made ``expected.json`` from ``tricky.csv`` with that commit's code)."""

import hashlib
import json
import random
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pytest

from modeling.data.batching import as_text_batches, encode_dataset
from modeling.data.cleaning import first_words, read_labelled_file
from modeling.data.files import read_table
from modeling.data.splits import split_dataset, stratified_split
from modeling.tokenizer import train_tokenizer

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "pipeline_a2d399d"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text(encoding="utf-8"))
FIRST_N_WORDS, SEED, MIN_FREQUENCY, MAX_LENGTH = 50, 3, 2, 40  # as generate.py
SPACES = [" ", "  ", "\t", "\n", "\u00a0", "\u3000", "\x1c", "\x1f", "\u2028", "\u200b", "\x85", "\r\n"]


def digest(values):
    return hashlib.sha256(json.dumps(values, ensure_ascii=False).encode()).hexdigest()


@pytest.mark.parametrize("case", EXPECTED, ids=lambda c: f"{c['min_text_chars']}-{c['text_column_given']}-"
                                                         f"{c['train_ratio']}")
def test_same_splits_and_ids_as_a2d399d(case):
    ds, column, names, stats = read_labelled_file(
        FIXTURE / "tricky.csv", text_column=case["text_column_given"], first_n_words=FIRST_N_WORDS,
        min_text_chars=case["min_text_chars"])
    assert (column, names, stats.rows_dropped_short, stats.label_counts) == (
        case["text_column"], case["label_names"], case["rows_dropped_short"], case["label_counts"])
    splits = split_dataset(ds, case["train_ratio"], case["valid_ratio"], seed=SEED)
    tok = train_tokenizer(as_text_batches(splits["train"], column), MIN_FREQUENCY, MAX_LENGTH)
    assert tok.get_vocab() == case["vocabulary"]
    assert list(splits) == list(case["splits"])
    for name, split in splits.items():
        want = case["splits"][name]
        encoded = encode_dataset(split, tok, column)
        # Every column of the cleaned split (title, text, titletext, label...), then the ids.
        assert split.column_names + ["input_ids", "length"] == want["columns"] and len(split) == want["rows"]
        got = {c: digest(list(split[c])) for c in split.column_names}
        got.update({c: digest(list(encoded[c])) for c in ("input_ids", "length")})
        assert got == want["sha256"], name
        if "input_ids" in want:
            assert list(encoded["label"]) == want["label"] and list(encoded["input_ids"]) == want["input_ids"]


def test_training_reads_the_label_and_text_alone():
    """``text_only`` (load_splits, evaluation) keeps the same rows, labels and texts, no other column."""
    case = EXPECTED[0]
    full, column, *_ = read_labelled_file(FIXTURE / "tricky.csv", first_n_words=FIRST_N_WORDS)
    lean, *_ = read_labelled_file(FIXTURE / "tricky.csv", first_n_words=FIRST_N_WORDS, text_only=True)
    assert lean.column_names == ["label", column] and len(full.column_names) > 2
    assert list(lean["label"]) == list(full["label"]) and list(lean[column]) == list(full[column])
    train = split_dataset(lean, 0.8, 0.1, seed=SEED)["train"]
    assert digest(list(train[column])) == case["splits"]["train"]["sha256"][column]


def test_first_words_is_str_split_and_join():
    rng = random.Random(0)
    words = ["a", "bb", "Trump’s", "ﬁne", "東京", "!!", "", "e\u0301"]
    texts = ["".join(rng.choice(words) + rng.choice(SPACES) for _ in range(rng.randint(0, 40))) for _ in range(500)]
    texts += ["", " ", "\x1c", "a\x1cb c", "\u00a0x\u00a0"]
    # Single spaces only (the byte-prefix path), with multi-byte characters, and mixed with the others.
    texts += [" ".join(rng.choice(words[:6] + ["é", "東京都"]) for _ in range(rng.randint(1, 30))) for _ in range(300)]
    for n in (1, 3, 20):
        expected = [" ".join(t.split(maxsplit=n)[:n]) for t in texts]
        assert first_words(pa.array(texts), n).to_pylist() == expected
        assert first_words(pa.chunked_array([texts[:100], texts[100:]]), n).to_pylist() == expected
        assert first_words(pa.array(texts).slice(7), n).to_pylist() == expected[7:]


@pytest.mark.parametrize("n_classes,n,n_test,seed", [(2, 1000, 200, 42), (3, 777, 100, 0), (6, 5000, 1234, 7),
                                                     (2, 10, 2, 1), (4, 401, 397, 3)])
def test_stratified_split_is_train_test_split(n_classes, n, n_test, seed):
    rng = np.random.default_rng(seed)
    labels = rng.choice(n_classes, size=n, p=rng.dirichlet(np.ones(n_classes)) * 0.5 + 0.5 / n_classes)
    ds = datasets.Dataset.from_dict({"label": labels, "row": np.arange(n)}, features=datasets.Features(
        {"label": datasets.ClassLabel(num_classes=n_classes), "row": datasets.Value("int64")}))
    split = ds.train_test_split(test_size=n_test, stratify_by_column="label", seed=seed)
    train, test = stratified_split(labels, n_test, seed)
    assert train.tolist() == list(split["train"]["row"]) and test.tolist() == list(split["test"]["row"])


def test_a_file_of_short_texts_names_the_first_row(tmp_path, caplog):
    path = tmp_path / "x.csv"
    path.write_text("text,label\nhello world,REAL\n   ,FAKE\nabc,FAKE\nmore words,FAKE\n", encoding="utf-8")
    ds, _, _, stats = read_labelled_file(path, min_text_chars=5)
    assert stats.rows_dropped_short == 2 and list(ds["text"]) == ["hello world", "more words"]
    assert "2 of 4 rows skipped" in caplog.text and "(first: row 3)" in caplog.text
    assert read_table(path).dataset.num_rows == 4
