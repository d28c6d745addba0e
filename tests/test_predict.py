"""predict.py and model.predict: one output per input, in order, with its index; short texts get no label."""

import io
import json
import sys
from pathlib import Path

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


def assert_same_prediction(got, expected, abs_tol=1e-6):
    """Labels exactly, probabilities within ``abs_tol`` (batch shape and CPU move the last bits)."""
    assert got.keys() == expected.keys() and got["label"] == expected["label"]
    assert got["score"] == pytest.approx(expected["score"], abs=abs_tol)
    assert got["scores"] == pytest.approx(expected["scores"], abs=abs_tol)


def test_short_texts_get_no_label_as_in_training():
    model = tiny_model()
    texts = [TEXTS[0], "", "   ", "abcd", " abcde ", TEXTS[-1]]
    results = model.predict(texts)
    assert [r["label"] is None for r in results] == [False, True, True, True, False, False]
    assert results[1] == {"label": None, "score": None, "scores": None,
                          "skipped": "text shorter than 5 characters (training skips such texts)"}
    # The others are what the model says for them alone: skipping moves nothing. The same label, and
    # the same probabilities up to float rounding: a batch of 3 and a batch of 1 run other LSTM
    # kernels (ONEDNN_MAX_CPU_ISA=SSE41 or the default AVX-512 differ in the 7th digit here).
    for i in (0, 4, 5):
        assert_same_prediction(results[i], model.predict(texts[i]))
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
    assert ("warning: 2 of 5 texts got no label: text shorter than 5 characters, which the model was trained without"
            " (min_text_chars 5 in its config.json)") in captured.err
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


@pytest.mark.parametrize("rule, labelled", [(1, [True, False, True, True]), (5, [False, False, False, True])])
def test_predict_applies_the_short_text_rule_saved_in_config_json(predict, tmp_path, capsys, rule, labelled):
    """The rule a model was trained with travels in config.json: 1 labels 'abc', 5 does not."""
    model = tiny_model()
    model.config.min_text_chars = rule
    model.save_pretrained(tmp_path / "run")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["min_text_chars"] == rule
    texts = ["abc", "   ", "ok!", TEXTS[0]]
    loaded = BiLSTMForSequenceClassification.from_pretrained(tmp_path / "run")
    assert loaded.config.min_text_chars == rule
    assert [r["label"] is not None for r in loaded.predict(texts)] == labelled
    assert all(r["label"] for r in loaded.predict(texts, min_chars=0))  # the explicit override still works
    predict(["--model_name_or_path", str(tmp_path / "run"), *texts])
    captured = capsys.readouterr()
    assert [json.loads(line)["label"] is not None for line in captured.out.splitlines()] == labelled
    reason = "empty text" if rule == 1 else "text shorter than 5 characters"
    assert f"texts got no label: {reason}, which the model was trained without (min_text_chars {rule}" in captured.err


def test_a_model_saved_before_min_text_chars_keeps_the_5_character_rule():
    folder = Path(__file__).resolve().parent / "fixtures" / "model_ec690d9"
    assert "min_text_chars" not in json.loads((folder / "config.json").read_text())
    model = BiLSTMForSequenceClassification.from_pretrained(folder)
    assert model.config.min_text_chars == 5
    assert [r["label"] is None for r in model.predict(["abcd", " abcd ", "abcde"])] == [True, True, False]


def test_csv_input_prints_predictions_and_no_progress_bars(predict, run, tmp_path, capsys):
    path = tmp_path / "in.csv"
    path.write_text("label,text\nREAL," + TEXTS[0] + "\nFAKE," + TEXTS[1] + "\n", encoding="utf-8")
    predict(["--model_name_or_path", str(run), "--input_file", str(path), "--output_file", str(tmp_path / "out.csv")])
    err = capsys.readouterr().err
    # the backend that served, then the result; no datasets "Generating ..." bar
    assert err.startswith(f"backend: torch\nwrote 2 predictions to {tmp_path / 'out.csv'} (2 texts in ")
    assert err.endswith(" texts/s on 1 process)\n") and err.count("\n") == 2
    # The input's own label column keeps its name; the prediction's is predicted_label (as the docstring says).
    header = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:4] == ["index", "label", "text", "predicted_label"]
    assert "predicted_label" in load_script("predict").__doc__


def test_predict_runs_as_the_readme_runs_it(run):
    # `python scripts/predict.py` puts scripts/ first on sys.path, so a script named like a package that
    # loading a model imports would stand in for it (the tests above call main() in this process, which
    # does not show that; test_scripts.test_no_script_shadows_a_package checks the names).
    import subprocess

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(root / "scripts" / "predict.py"), "--model_name_or_path", str(run),
                           TEXTS[0]], capture_output=True, text=True, timeout=300, cwd=root)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["label"] in ("REAL", "FAKE")
