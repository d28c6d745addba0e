"""The file shapes users have, built from real articles (../shared data; skipped without it): what is
read, what is refused, and with which one-line message."""

import csv
import json
import logging
import zipfile
from pathlib import Path

import pytest

from modeling.data.cleaning import DataError, read_labelled_file
from modeling.data.files import read_table
from modeling.data.splits import prepare_splits
from modeling.tokenizer import train_tokenizer

ROOT = Path(__file__).resolve().parents[2]

from tests.conftest import write_csv


def _prepared(path, **options):
    ds, text_column, label_names, stats = read_labelled_file(path, **options)
    return ds, text_column, label_names, stats


def _assert_articles(ds, frame, label_names=("REAL", "FAKE")):
    """The file's rows came through: titletext built from title and text, labels in the tutorial's order."""
    assert len(ds) == len(frame)
    assert list(ds.features["label"].names) == list(label_names)
    first = frame.iloc[0]
    assert ds[0]["titletext"] == " ".join(f"{first['title']}. {first['text']}".split()[:200])
    assert [label_names[i] for i in ds["label"]] == [{"REAL": label_names[0], "FAKE": label_names[1]}[v]
                                                     for v in frame["label"]]


# ----------------------------------------------------------------------------- accepted shapes
@pytest.mark.parametrize("index_label", [None, "Unnamed: 0"], ids=["empty-first-header", "Unnamed-0"])
def test_pandas_index_column_is_dropped(kaggle_frame, tmp_path, caplog, index_label):
    path = tmp_path / "fake_or_real_news.csv"
    kaggle_frame.to_csv(path, index_label=index_label)  # Kaggle's shape: header ",title,text,label"
    assert path.read_text().splitlines()[0] == ("," if index_label is None else "Unnamed: 0,") + "title,text,label"
    with caplog.at_level(logging.INFO):
        ds, text_column, names, _ = _prepared(path)
    assert text_column == "titletext" and "Unnamed: 0" not in ds.column_names
    assert "ignoring the first column, which has no name" in caplog.text
    _assert_articles(ds, kaggle_frame)
    # The ids stay out of the vocabulary: they are in no text column.
    vocab = train_tokenizer(ds["titletext"], min_frequency=1).get_vocab()
    assert not {str(i) for i in kaggle_frame.index} & set(vocab)


def test_explicit_id_column_is_ignored(kaggle_frame, tmp_path):
    path = tmp_path / "news.csv"
    kaggle_frame.rename_axis("id").reset_index().to_csv(path, index=False)
    ds, text_column, names, _ = _prepared(path)
    assert text_column == "titletext"
    _assert_articles(ds, kaggle_frame)


def test_prepare_splits_writes_clean_files_from_the_kaggle_shape(kaggle_frame, tmp_path):
    from modeling.data.splits import write_splits

    path = tmp_path / "fake_or_real_news.csv"
    kaggle_frame.to_csv(path)
    splits, text_column, names, report = prepare_splits(path)
    paths = write_splits(splits, tmp_path / "out", text_column, names)
    for file in paths.values():
        assert file.read_text().splitlines()[0] == "label,title,text,titletext"
    assert sum(report.class_balance[s][n] for s in report.class_balance for n in names) == len(kaggle_frame)


def test_windows_line_endings_and_bom(kaggle_frame, tmp_path):
    path = tmp_path / "excel.csv"
    kaggle_frame.to_csv(path, lineterminator="\r\n", encoding="utf-8-sig")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf,title") and b"\r\n" in raw
    ds, _, _, _ = _prepared(path)
    _assert_articles(ds, kaggle_frame)
    assert not any(t.endswith("\r") for t in ds["text"]) and "label" in ds.column_names


@pytest.mark.parametrize("flag", [None, ";"], ids=["sniffed", "--delimiter"])
def test_semicolon_delimited_as_european_excel_writes_it(kaggle_frame, tmp_path, flag):
    path = tmp_path / "excel_de.csv"
    frame = kaggle_frame.copy()
    frame.loc[frame.index[0], "text"] = "Preise; Löhne, und mehr; " + frame["text"].iloc[0]  # delimiters in a field
    frame.to_csv(path, sep=";", encoding="utf-8-sig", lineterminator="\r\n")
    assert path.read_text(encoding="utf-8-sig").splitlines()[0] == ";title;text;label"
    ds, _, _, _ = _prepared(path, delimiter=flag)
    _assert_articles(ds, frame)


def test_quoted_multi_line_fields(kaggle_frame, tmp_path):
    frame = kaggle_frame.copy()
    frame["text"] = frame["text"].str.replace(". ", ".\n\n", regex=False)  # paragraphs, as full articles have
    path = tmp_path / "multiline.csv"
    frame.to_csv(path)
    assert "\n\n" in path.read_text() and frame["text"].str.contains("\n").sum() > 100
    ds, _, _, _ = _prepared(path)
    _assert_articles(ds, frame)
    assert ds[0]["text"] == " ".join(frame["text"].iloc[0].split()[:200])  # newlines are whitespace to trimming


def test_integer_labels_named_by_label_names(kaggle_frame, tmp_path):
    frame = kaggle_frame.assign(label=kaggle_frame["label"].map({"REAL": 0, "FAKE": 1}))
    path = tmp_path / "ints.csv"
    frame.to_csv(path)
    ds, _, names, _ = _prepared(path, label_names=["REAL", "FAKE"])
    _assert_articles(ds, kaggle_frame)
    _, _, names, _ = _prepared(path)  # without names, the integers are the class names
    assert names == ["0", "1"]
    frame.iloc[3, frame.columns.get_loc("label")] = 2
    frame.to_csv(path)
    with pytest.raises(DataError, match=r"ints.csv: row 5, column 'label': label '2' is not an id of"
                                        r" \['REAL', 'FAKE'\] \(0..1\) \(1 such rows\)"):
        _prepared(path, label_names=["REAL", "FAKE"])


def test_labels_differing_in_case_or_spaces_are_one_class(kaggle_frame, tmp_path, caplog):
    spellings = {"FAKE": ["fake", " FAKE ", "FAKE", "Fake"], "REAL": ["REAL", "real ", "REAL"]}
    frame = kaggle_frame.copy()
    frame["label"] = [spellings[v][i % len(spellings[v])] for i, v in enumerate(frame["label"])]
    path = tmp_path / "mixed_case.csv"
    frame.to_csv(path)
    with caplog.at_level(logging.WARNING):
        ds, _, names, stats = _prepared(path)
    assert names == ["REAL", "FAKE"] and sum(stats.label_counts.values()) == len(frame)
    _assert_articles(ds, kaggle_frame)
    assert "' FAKE ', 'Fake', 'fake'" in caplog.text and "read as 'FAKE'" in caplog.text
    assert "'real '" in caplog.text and "read as 'REAL'" in caplog.text


def test_lower_case_real_fake_keep_the_tutorial_order(kaggle_frame, tmp_path):
    path = tmp_path / "lower.csv"
    kaggle_frame.assign(label=kaggle_frame["label"].str.lower()).to_csv(path)
    _, _, names, _ = _prepared(path)
    assert names == ["real", "fake"]  # REAL=0, FAKE=1 as in the tutorial, spelled as the file spells them


def test_validation_labels_in_another_case_map_to_the_train_names(kaggle_frame, tmp_path):
    path = tmp_path / "valid.csv"
    kaggle_frame.assign(label=kaggle_frame["label"].str.lower()).to_csv(path)
    ds, _, names, _ = _prepared(path, label_names=["REAL", "FAKE"])
    _assert_articles(ds, kaggle_frame)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_json_lines_and_parquet(kaggle_frame, tmp_path, suffix):
    path = tmp_path / f"news{suffix}"
    frame = kaggle_frame.rename_axis("id").reset_index()
    if suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(path, index=False)
    ds, text_column, names, _ = _prepared(path)
    _assert_articles(ds, kaggle_frame)
    assert read_table(path).first_row == 1


def test_json_lines_with_integer_labels_and_nulls(tmp_path):
    path = tmp_path / "claims.jsonl"
    rows = [{"text": f"claim number {i} about the budget vote", "label": i % 2} for i in range(20)]
    rows[3]["text"] = None
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    ds, _, names, stats = _prepared(path, label_names=["REAL", "FAKE"])
    assert names == ["REAL", "FAKE"] and stats.rows_dropped_short == 1 and len(ds) == 19
    rows[5]["label"] = 7
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError, match=r"claims.jsonl: row 6, column 'label': label '7' is not an id"):
        _prepared(path, label_names=["REAL", "FAKE"])


# ----------------------------------------------------------------------------- refused, with what to do
def test_a_folder_is_not_a_file(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\n")
    with pytest.raises(DataError, match=r": is a folder, not a file \(it holds train.csv\); pass the path of one"):
        read_table(tmp_path)


def test_excel_workbook_renamed_csv(tmp_path):
    path = tmp_path / "news.csv"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(DataError, match=r"news.csv: this is a ZIP archive \(an Excel .xlsx workbook is one\), not a"
                                        r" text file; open it in Excel and save it as 'CSV UTF-8'"):
        read_table(path)


def test_json_lines_named_csv(tmp_path):
    path = tmp_path / "news.csv"
    path.write_text('{"text": "a claim", "label": "REAL"}\n{"text": "another", "label": "FAKE"}\n')
    with pytest.raises(DataError, match=r"news.csv: this looks like JSON .*give it the .jsonl extension"):
        read_table(path)


def test_missing_header_hint_only_when_the_first_row_looks_like_data(kaggle_frame, tmp_path):
    headerless = tmp_path / "headerless.csv"
    kaggle_frame.head(20).to_csv(headerless, header=False, index=False)
    with pytest.raises(DataError, match=r"headerless.csv: no column 'label'.*does the file lack a header row\?"):
        _prepared(headerless)
    named = write_csv(tmp_path / "named.csv", ["title", "", "label"], [["t", "x", "REAL"]])
    with pytest.raises(DataError) as err:
        read_table(named)
    assert "empty or repeated column names ['title', '', 'label']" in str(err.value)
    assert "header row?" not in str(err.value) and "\n" not in str(err.value)
    wrong = write_csv(tmp_path / "wrong.csv", ["title", "body", "class"], [["t", "some text", "REAL"]])
    with pytest.raises(DataError) as err:
        _prepared(wrong)
    assert "no column 'label'" in str(err.value) and "header row?" not in str(err.value)


def test_semicolon_file_read_with_the_wrong_delimiter_says_so(tmp_path):
    path = tmp_path / "semi.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f, delimiter=";").writerows([["text", "label"], ["a, b; c", "REAL"], ["d; e", "FAKE"]])
    with pytest.raises(DataError, match=r"semi.csv: no column 'label'; the file has columns \['text;label'\]"):
        read_table(path, required_columns=["label"], delimiter=",")


# ----------------------------------------------------------------------------- datasets.load_dataset
def test_dataset_name_loads_a_local_dataset_folder_offline(kaggle_frame, tmp_path, monkeypatch):
    import datasets

    from modeling.data.splits import load_splits

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    features = datasets.Features({"title": datasets.Value("string"), "text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["REAL", "FAKE"])})
    frame = kaggle_frame.assign(label=kaggle_frame["label"].map({"REAL": 0, "FAKE": 1}))
    folder = tmp_path / "my_news"
    folder.mkdir()
    for split, part in (("train", frame.iloc[:160]), ("valid", frame.iloc[160:200]), ("test", frame.iloc[200:])):
        datasets.Dataset.from_pandas(part, features=features, preserve_index=False).to_parquet(
            str(folder / f"{split}.parquet"))
    loaded = load_splits(dataset_name=str(folder))
    splits, text_column, names = loaded.splits, loaded.text_column, loaded.label_names
    assert names == ["REAL", "FAKE"] and text_column == "titletext"  # the data set's ClassLabel names
    assert {k: len(v) for k, v in splits.items()} == {"train": 160, "validation": 40, "test": 40}
    expected = kaggle_frame.iloc[200:]
    _assert_articles(splits["test"], expected)
    with pytest.raises(DataError, match=r"--dataset_name .*nope: cannot load it with datasets.load_dataset"):
        load_splits(dataset_name=str(tmp_path / "nope"))


@pytest.mark.parametrize("shape, message", [
    ("folder", "is a folder, not a file"),
    ("xlsx", "this is a ZIP archive (an Excel .xlsx workbook is one), not a text file"),
    ("jsonl_as_csv", "this looks like JSON (JSON lines: one object per line), not CSV"),
    ("latin1", "line 2 is not valid UTF-8"),
])
def test_prepare_data_refuses_with_one_line_and_exit_1(tmp_path, capsys, shape, message):
    import importlib.util

    spec = importlib.util.spec_from_file_location("script_prepare_data", ROOT / "scripts" / "prepare_data.py")
    prepare_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prepare_data)
    path = tmp_path / "news.csv"
    if shape == "folder":
        path.mkdir()
    elif shape == "xlsx":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("[Content_Types].xml", "<Types/>")
    elif shape == "jsonl_as_csv":
        path.write_text('{"text": "a claim here", "label": "REAL"}\n')
    else:
        path.write_bytes("title,text,label\nCaf\xe9,du lait et du sucre,REAL\n".encode("latin-1"))
    with pytest.raises(SystemExit) as exit_info:
        prepare_data.main(["--input_file", str(path), "--output_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 1 and len(err.splitlines()) == 1
    assert err.startswith(f"error: {path}: ") and message in err
    assert not (tmp_path / "out").exists()


def test_train_with_dataset_name_label_names_and_delimiter(kaggle_frame, tmp_path, monkeypatch):
    """train.py's flags reach the reader: --dataset_name (a local folder, offline), and a
    semicolon file of integer labels with --delimiter ';' --label_names REAL,FAKE."""
    import datasets

    from modeling.training import train

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tiny = dict(embedding_dim=16, hidden_size=16, num_train_epochs=1, min_frequency=2)
    folder = tmp_path / "news_dataset"
    folder.mkdir()
    frame = kaggle_frame.rename_axis("id").reset_index()
    datasets.Dataset.from_pandas(frame.iloc[:200], preserve_index=False).to_parquet(str(folder / "train.parquet"))
    datasets.Dataset.from_pandas(frame.iloc[200:], preserve_index=False).to_parquet(str(folder / "test.parquet"))
    results = train(dataset_name=str(folder), output_dir=str(tmp_path / "run_ds"), **tiny)
    assert results["train_samples"] == 180 and results["test_samples"] == 40  # 10% of train held out
    semicolons = tmp_path / "ints.csv"
    kaggle_frame.assign(label=kaggle_frame["label"].map({"REAL": 0, "FAKE": 1})).to_csv(semicolons, sep=";")
    results = train(str(semicolons), output_dir=str(tmp_path / "run_ints"), delimiter=";",
                    label_names=["REAL", "FAKE"], **tiny)
    config = json.loads((tmp_path / "run_ints" / "config.json").read_text())
    assert config["label_names"] == ["REAL", "FAKE"] and results["train_samples"] == 216


def liar_like_tsv(path, rows=40):
    """A headerless TSV shaped like LIAR's (id, label, statement, speaker), the first row data."""
    lines = [f"{i}.json\t{('true', 'false')[i % 2]}\tSays statement number {i} about the budget and taxes.\tspeaker{i}"
             for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_headerless_files_take_their_column_names(tmp_path):
    path = liar_like_tsv(tmp_path / "train.tsv")
    with pytest.raises(DataError, match=r"--column_names, e\.g\. --column_names id,label,text"):
        read_table(path, required_columns=["label"])  # the hint names the way out
    names = ["id", "label", "statement", "speaker"]
    table = read_table(path, required_columns=["label"], column_names=names)
    assert table.dataset.column_names == names and len(table.dataset) == 40  # the first row is data
    assert table.dataset[0] == {"id": "0.json", "label": "true", "statement": table.dataset[0]["statement"],
                                "speaker": "speaker0"}
    assert table.first_row == 1
    ds, text_column, label_names, _ = read_labelled_file(path, text_column="statement", column_names=names)
    assert text_column == "statement" and label_names == ["false", "true"] and len(ds) == 40
    with pytest.raises(DataError, match="--column_names gives 3 names but the first row has 4 columns"):
        read_table(path, column_names=["id", "label", "statement"])
    jsonl = tmp_path / "x.jsonl"
    jsonl.write_text('{"label": "a", "text": "hello there"}\n')
    with pytest.raises(DataError, match="--column_names names the columns of a CSV/TSV file"):
        read_table(jsonl, column_names=["label", "text"])


def test_prepare_splits_and_train_read_a_headerless_file(tmp_path):
    from modeling.training import train

    path = liar_like_tsv(tmp_path / "liar.tsv", rows=60)
    names = ["id", "label", "statement", "speaker"]
    splits, text_column, _, report = prepare_splits(path, text_column="statement", column_names=names)
    assert report.rows_read == 60 and text_column == "statement"
    results = train(str(path), output_dir=str(tmp_path / "run"), column_names=names, text_column="statement",
                    max_steps=1, embedding_dim=8, hidden_size=8, min_frequency=1)
    assert results["train_samples"] == 54  # 60 rows, 10% held out: the first row was not taken for a header
