"""One reader behind every script: each file format a user brings (CSV with a header, TSV, a headerless
CSV named by --column_names, the Kaggle CSV with pandas' unnamed index column, JSON lines, Parquet)
gives the same texts and labels to predict.py, train.py's splits, evaluation and prepare_data.py;
a text file of lines gives predict.py its texts and the labelled readers one clear refusal."""

import json

import pandas as pd
import pytest

from modeling import BiLSTMForSequenceClassification
from modeling.data.cleaning import DataError, read_labelled_file
from modeling.data.splits import load_splits, prepare_splits
from modeling.training.evaluation import load_eval_dataset
from tests.data.test_splits import texts_to_classify
from tests.hub.test_upload import TEXTS, tiny_model
from tests.test_scripts import load_script

LABELS = ["REAL", "FAKE", "FAKE", "REAL", "REAL", "FAKE"] * 2
ROWS = [(label, TEXTS[i % len(TEXTS)] + f" number {i}") for i, label in enumerate(LABELS)]


def write(path_dir, fmt):
    """The same rows (label, text) in format ``fmt``; returns (path, extra reading flags)."""
    frame = pd.DataFrame(ROWS, columns=["label", "text"])
    if fmt == "csv":
        path = path_dir / "data.csv"
        frame.to_csv(path, index=False)
    elif fmt == "tsv":
        path = path_dir / "data.tsv"
        frame.to_csv(path, index=False, sep="\t")
    elif fmt == "headerless":
        path = path_dir / "data.csv"
        frame.to_csv(path, index=False, header=False)
        return path, {"column_names": ["label", "text"]}
    elif fmt == "kaggle":  # DataFrame.to_csv() with its default index=True: header ",label,text"
        path = path_dir / "data.csv"
        frame.to_csv(path)
    elif fmt == "jsonl":
        path = path_dir / "data.jsonl"
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        path = path_dir / "data.parquet"
        frame.to_parquet(path, index=False)
    return path, {}


def flags(reading):
    return ["--column_names", ",".join(reading["column_names"])] if reading else []


FORMATS = ["csv", "tsv", "headerless", "kaggle", "jsonl", "parquet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "run"
    tiny_model().save_pretrained(out)
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_predict_classifies_the_text_of_every_format(run, tmp_path, capsys, fmt):
    """predict.py once printed each raw JSON line as the text (its label inside) and refused Parquet
    as "not valid UTF-8"; it had no --column_names."""
    path, reading = write(tmp_path, fmt)
    load_script("predict").main(["--model_name_or_path", str(run), "--input_file", str(path), "--include_text",
                                 *flags(reading)])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    texts = [text for _, text in ROWS]
    assert [o["text"] for o in out] == texts
    expected = BiLSTMForSequenceClassification.from_pretrained(run).predict(texts)
    assert [o["label"] for o in out] == [e["label"] for e in expected]
    for o, e in zip(out, expected):
        assert o["scores"] == pytest.approx(e["scores"], abs=1e-6)


@pytest.mark.parametrize("fmt", FORMATS)
def test_predict_csv_output_keeps_the_input_columns_of_every_format(run, tmp_path, fmt):
    path, reading = write(tmp_path, fmt)
    load_script("predict").main(["--model_name_or_path", str(run), "--input_file", str(path), "--output_file",
                                 str(tmp_path / "out.csv"), *flags(reading)])
    written = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert list(written.columns[:4]) == ["index", "label", "text", "predicted_label"]
    assert list(written["label"]) == LABELS and list(written["text"]) == [text for _, text in ROWS]


@pytest.mark.parametrize("fmt", FORMATS)
def test_labelled_readers_read_every_format_alike(run, tmp_path, fmt):
    path, reading = write(tmp_path, fmt)
    ds, column, names, _ = read_labelled_file(path, **reading)  # export_onnx.py --eval_file, prepare_data.py
    assert (column, names) == ("text", ["REAL", "FAKE"])
    assert list(ds[column]) == [text for _, text in ROWS] and [names[i] for i in ds["label"]] == LABELS
    splits, *_ = prepare_splits(path, train_ratio=0.5, valid_ratio=0.25, seed=0, **reading)  # prepare_data.py
    assert sorted(t for split in splits.values() for t in split["text"]) == sorted(t for _, t in ROWS)
    data = load_splits(path, path, **reading)  # train.py --train_file / --validation_file
    assert list(data.splits["validation"]["text"]) == [text for _, text in ROWS]
    model = BiLSTMForSequenceClassification.from_pretrained(run)  # evaluate_model.py
    encoded, _, unscored = load_eval_dataset(path, model.tokenizer, model.config.label_names, **reading)
    assert [model.config.label_names[i] for i in encoded["label"]] == LABELS and unscored == 0


def test_a_text_file_gives_predict_its_lines_and_the_labelled_readers_one_line(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text(f" {TEXTS[0]} \n\n{TEXTS[1]}\n", encoding="utf-8")
    assert texts_to_classify(path) == [TEXTS[0], "", TEXTS[1]]
    with pytest.raises(DataError, match=r"texts\.txt: a text file \(one text per line\) has no columns such as"
                                        r" 'label'; labelled data is a CSV/TSV, JSON lines or Parquet file"):
        read_labelled_file(path)
    with pytest.raises(DataError, match="a text file"):
        load_splits(path)


def test_predict_refuses_column_names_for_a_format_that_names_its_own(run, tmp_path, capsys):
    path, _ = write(tmp_path, "jsonl")
    with pytest.raises(SystemExit) as exit_info:
        load_script("predict").main(["--model_name_or_path", str(run), "--input_file", str(path),
                                     "--column_names", "label,text"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--column_names names the columns of a CSV/TSV file without a header row" in err
