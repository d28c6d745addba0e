"""predict.py and model.predict: one output per input, in order, with its index; short texts get no label."""

import io
import json
import sys

import pytest

from modeling import BiLSTMForSequenceClassification
from tests.hub.test_upload import TEXTS, tiny_model
from tests.test_scripts import load_script


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "run"
    tiny_model().save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def predict():
    return load_script("predict").main


def printed(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_short_texts_get_no_label_as_in_training():
    model = tiny_model()
    texts = [TEXTS[0], "", "   ", "abcd", " abcde ", TEXTS[-1]]
    results = model.predict(texts)
    assert [r["label"] is None for r in results] == [False, True, True, True, False, False]
    assert results[1] == {"label": None, "score": None, "scores": None,
                          "skipped": "text shorter than 5 characters (training skips such texts)"}
    # The others are exactly what the model says for them alone: skipping moves nothing.
    for i in (0, 4, 5):
        assert results[i] == model.predict(texts[i])
    assert model.predict("")["label"] is None and model.predict([""], min_chars=0)[0]["label"] in ("REAL", "FAKE")
    assert model.predict([]) == []


def test_text_file_blank_lines_are_kept_in_order_with_an_index(predict, run, tmp_path, capsys):
    lines = [TEXTS[0], "", TEXTS[1], "   ", TEXTS[2]]
    path = tmp_path / "in.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    predict(["--model_name_or_path", str(run), "--input_file", str(path), "--include_text"])
    captured = capsys.readouterr()
    out = [json.loads(line) for line in captured.out.splitlines()]
    assert [(o["index"], o["text"]) for o in out] == [(i, t.strip()) for i, t in enumerate(lines)]
    assert [o["label"] is None for o in out] == [False, True, False, True, False]
    assert "warning: 2 of 5 texts are shorter than 5 characters and got no label" in captured.err
    reference = BiLSTMForSequenceClassification.from_pretrained(run).predict([TEXTS[0], TEXTS[1], TEXTS[2]])
    assert [o["scores"] for o in out if o["label"]] == [r["scores"] for r in reference]


def test_text_only_on_request_and_stdin_keeps_blank_lines(predict, run, capsys, monkeypatch):
    predict(["--model_name_or_path", str(run), TEXTS[0], TEXTS[1]])
    out = printed(capsys)
    assert [o["index"] for o in out] == [0, 1] and all("text" not in o for o in out)
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{TEXTS[0]}\n\n{TEXTS[1]}\n"))
    predict(["--model_name_or_path", str(run)])
    assert [o["label"] is None for o in printed(capsys)] == [False, True, False]


def test_csv_output_keeps_every_row_with_its_index(predict, run, tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_text("id,text\n7,%s\n8,\n9,%s\n" % (TEXTS[0], TEXTS[1]), encoding="utf-8")
    predict(["--model_name_or_path", str(run), "--input_file", str(source), "--output_file", str(tmp_path / "p.csv")])
    rows = (tmp_path / "p.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "index,id,text,label,score,skipped,prob_REAL,prob_FAKE"
    assert [r.split(",")[:2] for r in rows[1:]] == [["0", "7"], ["1", "8"], ["2", "9"]]
    assert rows[2] == "1,8,,,,text shorter than 5 characters (training skips such texts),,"
