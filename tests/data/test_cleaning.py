import pytest
import torch

from modeling.data.batching import LengthGroupedBatchSampler, collate_batch, encode_dataset, make_dataloader
from modeling.data.cleaning import DataError, clean_table
from modeling.data.files import read_table
from modeling.data.splits import split_dataset
from modeling.data.labels import infer_label_names
from modeling.tokenizer import train_tokenizer

from tests.conftest import write_csv, write_news_csv

def test_titletext_drop_trim_and_labels(tmp_path):
    path = write_csv(
        tmp_path / "raw.csv",
        ["id", "title", "text", "label"],
        [
            [1, "Big News", "one two three four five six", "FAKE"],
            [2, "Short", "abc", "REAL"],  # dropped: text under 5 characters (the tutorial's rule)
            [3, "Blank", "    ", "FAKE"],  # dropped: whitespace only
            [4, "NA", "NA is kept as text, not missing", "REAL"],
        ],
    )
    ds, text_column, names, stats = clean_table(read_table(path), first_n_words=4, min_text_chars=5)
    assert text_column == "titletext" and names == ["REAL", "FAKE"]
    assert stats.rows_read == 4 and stats.rows_dropped_short == 2
    assert ds["titletext"] == ["Big News. one two", "NA. NA is kept"]
    assert ds["text"] == ["one two three four", "NA is kept as"]
    assert ds["label"] == [1, 0]  # REAL -> 0, FAKE -> 1 as the tutorial
    assert stats.label_counts == {"REAL": 1, "FAKE": 1}

def test_named_text_column_and_multiclass(tmp_path):
    path = write_csv(tmp_path / "liar.csv", ["statement", "label"],
                  [[f"claim number {i} here", name] for i, name in enumerate(["true", "false", "half-true"] * 3)])
    ds, text_column, names, _ = clean_table(read_table(path), text_column="statement")
    assert text_column == "statement" and names == ["false", "half-true", "true"]
    assert ds["label"][:3] == [2, 0, 1]

def test_explicit_label_names_and_unknown_label(tmp_path):
    path = write_csv(tmp_path / "x.csv", ["text", "label"], [["hello world", "REAL"], ["hello there", "SATIRE"]])
    with pytest.raises(DataError, match=r"row 3, column 'label': label 'SATIRE' is not one of \['REAL', 'FAKE'\]"):
        clean_table(read_table(path), label_names=["REAL", "FAKE"])

def test_missing_columns_are_listed(tmp_path):
    path = write_csv(tmp_path / "x.csv", ["body", "label"], [["hello world", "REAL"]])
    with pytest.raises(DataError, match=r"no text column 'text'.*\['body', 'label'\]"):
        clean_table(read_table(path), text_column="text")
    with pytest.raises(DataError, match=r"x.csv: no column 'target'"):
        read_table(path, required_columns=["target"])
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        read_table(tmp_path / "empty.csv")

def test_infer_label_names_numeric_and_sorted():
    assert infer_label_names(["FAKE", "REAL"]) == ["REAL", "FAKE"]
    assert infer_label_names(["10", "2", "1"]) == ["1", "2", "10"]
    assert infer_label_names(["b", "a"]) == ["a", "b"]

def test_stratified_seeded_split(tmp_path):
    path = write_news_csv(tmp_path / "news.csv", n_rows=200)
    ds, *_ = clean_table(read_table(path))
    splits = split_dataset(ds, train_ratio=0.7, valid_ratio=0.15, seed=3)
    assert [len(splits[k]) for k in ("train", "validation", "test")] == [140, 30, 30]
    for part in splits.values():
        assert sum(part["label"]) * 2 == len(part)  # 50/50 classes preserved exactly
    again = split_dataset(ds, train_ratio=0.7, valid_ratio=0.15, seed=3)
    assert again["test"]["id"] == splits["test"]["id"]
    other = split_dataset(ds, train_ratio=0.7, valid_ratio=0.15, seed=4)
    assert other["test"]["id"] != splits["test"]["id"]
    ids = [set(part["id"]) for part in splits.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])

def test_split_errors_are_clear(tmp_path):
    path = write_news_csv(tmp_path / "news.csv", n_rows=6)
    ds, *_ = clean_table(read_table(path))
    with pytest.raises(DataError, match="cannot split 6 rows"):
        split_dataset(ds, train_ratio=0.9, valid_ratio=0.05)
    with pytest.raises(DataError, match="ratios"):
        split_dataset(ds, train_ratio=0.9, valid_ratio=0.2)

def test_encode_and_length_grouped_batches(tmp_path):
    path = write_news_csv(tmp_path / "news.csv", n_rows=200)
    ds, column, *_ = clean_table(read_table(path))
    tok = train_tokenizer(ds[column], min_frequency=2)
    enc = encode_dataset(ds, tok, column)
    assert enc["length"] == [len(ids) for ids in enc["input_ids"]]
    loader = make_dataloader(enc, batch_size=16, shuffle=True, seed=0)
    seen, padding, naive_padding = [], 0, 0
    for batch in loader:
        mask = batch["attention_mask"]
        assert batch["input_ids"].shape == mask.shape and mask[:, 0].all()
        seen += batch["labels"].tolist()
        padding += (mask == 0).sum().item()
    assert len(seen) == 200
    lengths = torch.tensor(enc["length"])
    for chunk in torch.randperm(200, generator=torch.Generator().manual_seed(0)).split(16):
        naive_padding += (lengths[chunk].max() - lengths[chunk]).sum().item()
    assert padding < naive_padding / 3  # grouping by length removes most padding

def test_batch_sampler_epochs_cover_everything_short_batch_last():
    lengths = [(i * 7) % 23 + 1 for i in range(103)]
    sampler = LengthGroupedBatchSampler(lengths, batch_size=10, shuffle=True, seed=5, group_factor=3)
    first = list(sampler)
    assert len(first) == len(sampler) == 11 and [len(b) for b in first[:-1]] == [10] * 10 and len(first[-1]) == 3
    assert sorted(i for b in first for i in b) == list(range(103))
    assert list(sampler) == first  # same epoch, same order
    sampler.set_epoch(1)
    assert list(sampler) != first
    evaluation = list(LengthGroupedBatchSampler(lengths, batch_size=10, shuffle=False))
    flat = [lengths[i] for b in evaluation for i in b]
    assert flat == sorted(flat)
    assert len(list(LengthGroupedBatchSampler(lengths, 10, drop_last=True))) == 10

def test_collate_right_pads():
    batch = collate_batch([{"input_ids": [5, 6, 7], "label": 1}, {"input_ids": [8], "label": 0}], pad_token_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [1, 0]

# ---------------------------------------------------------------- messy input
def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\nhello world,REAL\ncaf\xe9 au lait,FAKE\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.csv: line 3 is not valid UTF-8 \(byte 0xe9 at column 4\)"):
        read_table(path)

def test_headerless_file_gets_a_hint(tmp_path):
    path = tmp_path / "liar.tsv"
    path.write_text("2635.json\tfalse\tSays the group supports abortions.\n10540.json\thalf-true\tWhen did it start?\n")
    with pytest.raises(DataError, match=r"no column 'label'.*lack a header row"):
        read_table(path, required_columns=["label"])

@pytest.mark.parametrize("name", ["data.tsv", "data.csv"])
def test_tab_separated_files(tmp_path, name):
    path = tmp_path / name
    path.write_text('text\tlabel\nsome words, with commas\tREAL\n"quoted ""tab""\tfield"\tFAKE\n')
    ds = read_table(path, required_columns=["text", "label"]).dataset
    assert ds["text"] == ["some words, with commas", 'quoted "tab"\tfield']

def test_quotes_and_newlines_inside_fields(tmp_path):
    path = write_csv(tmp_path / "q.csv", ["title", "text", "label"],
                  [['He said "no"', 'line one\nline two, "quoted"\n\nend', "REAL"], ["T", "plain text here", "FAKE"]])
    ds, column, _, stats = clean_table(read_table(path))
    assert stats.rows_read == 2
    assert ds[column][0] == 'He said "no". line one line two, "quoted" end'

def test_million_character_text_is_trimmed(tmp_path):
    path = write_csv(tmp_path / "big.csv", ["text", "label"], [["word " * 200_000, "REAL"], ["x" * 1_000_000, "FAKE"]])
    ds, column, _, _ = clean_table(read_table(path), first_n_words=200)
    assert ds[column][0] == " ".join(["word"] * 200)
    assert len(ds[column][1]) == 1_000_000  # one "word": trimming keeps it, the tokenizer truncates it

def test_numeric_labels_and_na_strings(tmp_path):
    path = write_csv(tmp_path / "n.csv", ["text", "label"], [["NA", "1"], ["null text here", "0"], ["more text here", "1"]])
    ds, column, names, stats = clean_table(read_table(path))
    assert names == ["0", "1"] and ds["label"] == [1, 0, 1] and stats.rows_dropped_short == 0
    assert ds[column][0] == "NA"  # a word, not a missing value
    ds, _, _, stats = clean_table(read_table(path), min_text_chars=5)
    assert ds["label"] == [0, 1] and stats.rows_dropped_short == 1


def test_a_short_text_file_keeps_its_short_rows(tmp_path, caplog):
    """Phrase-level data: by default only empty texts are dropped ; the rule is a setting."""
    rows = [["bad", "negative"], ["fun", "positive"], ["hope", "positive"], ["a dull , lifeless film", "negative"],
            ["", "negative"], ["   ", "positive"], ["ok", "positive"]]
    path = write_csv(tmp_path / "phrases.csv", ["text", "label"], rows)
    with caplog.at_level("WARNING"):
        ds, column, _, stats = clean_table(read_table(path))
    assert ds[column] == ["bad", "fun", "hope", "a dull , lifeless film", "ok"]
    assert stats.rows_dropped_short == 2 and stats.min_text_chars == 1
    assert f"{path}: 2 of 7 rows skipped: the text in column 'text' is empty or whitespace-only (first: row 6)" \
        in caplog.text
    ds, column, _, stats = clean_table(read_table(path), min_text_chars=4)
    assert ds[column] == ["hope", "a dull , lifeless film"] and stats.rows_dropped_short == 5

def test_single_class_and_a_label_column_empty_everywhere_are_refused(tmp_path):
    one = write_csv(tmp_path / "one.csv", ["text", "label"], [["hello world", "REAL"], ["hello there", "REAL"]])
    with pytest.raises(DataError, match=r"one.csv: column 'label' holds a single class \['REAL'\]"):
        clean_table(read_table(one))
    empty = write_csv(tmp_path / "empty.csv", ["text", "label"], [["hello world", ""], ["hello there", " "]])
    with pytest.raises(DataError, match=r"empty.csv: column 'label' is empty in every row; check --label_column"):
        clean_table(read_table(empty))


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_rows_without_a_label_are_left_out_with_a_count(tmp_path, caplog, suffix):
    """An empty cell, NaN or null label: the row is left out (neither trained on nor scored), and a
    warning counts such rows and names the first; the rest of the file is used."""
    import pandas as pd

    frame = pd.DataFrame({"text": ["hello world", "hello there", "x y z w", "good day", "bad day"],
                          "label": ["REAL", None, "FAKE", float("nan") if suffix != ".csv" else " ", "FAKE"]})
    path = tmp_path / f"data{suffix}"
    {".csv": lambda: frame.to_csv(path, index=False), ".parquet": lambda: frame.to_parquet(path),
     ".jsonl": lambda: frame.to_json(path, orient="records", lines=True)}[suffix]()
    with caplog.at_level("WARNING"):
        ds, column, names, stats = clean_table(read_table(path))
    assert list(ds[column]) == ["hello world", "x y z w", "bad day"] and names == ["REAL", "FAKE"]
    assert stats.rows_dropped_unlabelled == 2 and stats.rows_dropped_short == 0
    assert (f"{path}: 2 of 5 rows left out: no label in column 'label' (first: row {3 if suffix == '.csv' else 2});"
            " they are neither trained on nor scored") in caplog.text
    # A file scored against known labels leaves them out the same way.
    ds, _, _, stats = clean_table(read_table(path), label_names=["REAL", "FAKE"])
    assert len(ds) == 3 and stats.rows_dropped_unlabelled == 2

def test_label_error_names_the_file_row_after_dropped_rows(tmp_path):
    path = write_csv(tmp_path / "v.csv", ["text", "label"], [["ab", "REAL"], ["hello there", "REAL"], ["x y z w v", "SATIRE"]])
    with pytest.raises(DataError, match=r"row 4, column 'label': label 'SATIRE'"):
        clean_table(read_table(path), label_names=["REAL", "FAKE"])

def test_ragged_rows_are_a_parse_error(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("text,label\nhello world,REAL\nthis,row,has,too,many,FAKE\n")
    with pytest.raises(DataError, match=r"ragged.csv: cannot parse the file as CSV"):
        read_table(path)


def test_texts_of_a_headerless_file_get_the_header_hint(tmp_path):
    """predict.py's reader names the missing header row as training's does, not only the column."""
    from modeling.data.streaming import TextSource

    path = tmp_path / "headerless.csv"
    path.write_text("FAKE,Secret company that school over programs\nREAL,Senate passes the budget bill\n")
    with pytest.raises(DataError, match=r"no text column .*does the file lack a header row\? Then name its 2 columns"):
        TextSource.from_file(path)
    source = TextSource.from_file(path, column_names=["label", "text"])
    texts = [text for chunk in source.chunks(10) for text in chunk.texts]
    assert source.text_column == "text" and texts[1] == "Senate passes the budget bill"
