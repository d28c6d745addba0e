"""The scripts end to end, as transformers' example tests do: call ``main()`` with arguments and check
the artifacts and the numbers. prepare → train → evaluate → predict; resume; 2-process DDP on CPU."""

import csv
import importlib.metadata
import importlib.util
import io
import json
import os
import pkgutil
import socket
import subprocess
import sys
from pathlib import Path

import datasets.config
import evaluate
import pytest
import torch
from safetensors.torch import load_file

from tests.training.test_optimization import bf16_lstm_runs

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N_ROWS, N_SHORT, N_DUPLICATES = 300, 3, 12
# Small enough that a 2-epoch run takes seconds on 2 cores, large enough to learn the fixture data.
# Without pretrained vectors, which the default run would use where their package is installed
# (tests/training/test_open_vocabulary.py covers that default).
TINY = ["--embedding_dim", "16", "--hidden_size", "16", "--dropout", "0.1", "--learning_rate", "0.01",
        "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "16", "--min_frequency", "2",
        "--pretrained_embeddings", "none"]
# Keys that measure time, not results.
TIMING_KEYS = {"train_runtime", "train_samples_per_second", "train_steps_per_second", "baseline_runtime"}


def load_script(name):
    """Import scripts/<name>.py as a module, named script_<name> so that it cannot stand in for a
    package of the same name in ``sys.modules``."""
    spec = importlib.util.spec_from_file_location(f"script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scripts():
    names = ("make_demo_data", "prepare_data", "train", "evaluate_model", "predict")
    return {name: load_script(name) for name in names}


@pytest.fixture(scope="module")
def module_caches(tmp_path_factory):
    """datasets and evaluate caches in a temp folder for the module-scoped runs below."""
    root = tmp_path_factory.mktemp("hf_caches")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(datasets.config, "HF_DATASETS_CACHE", root / "datasets")
        mp.setattr(evaluate.config, "HF_METRICS_CACHE", str(root / "metrics"))
        yield root


@pytest.fixture(autouse=True)
def _metrics_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setattr(evaluate.config, "HF_METRICS_CACHE", str(tmp_path_factory.getbasetemp() / "metrics"))


def write_raw_csv(scripts, path):
    """Kaggle-shaped CSV: N_ROWS synthetic articles (learnable in 2 epochs by a tiny model), N_SHORT
    with a too-short text, and N_DUPLICATES copies of earlier articles (a split scatters them)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scripts["make_demo_data"], "CUE_RATE", 0.35)  # a clearer signal than the demo's
        rows = scripts["make_demo_data"].make_rows(N_ROWS, seed=7)
    for row in rows[:N_SHORT]:
        row["text"] = "abc"
    rows += [{**row, "id": 9000 + i} for i, row in enumerate(rows[N_SHORT:N_SHORT + N_DUPLICATES])]
    scripts["make_demo_data"].write_csv(rows, path)
    return path


@pytest.fixture(scope="module")
def raw_csv(scripts, tmp_path_factory):
    return write_raw_csv(scripts, tmp_path_factory.mktemp("raw") / "news.csv")


@pytest.fixture(scope="module")
def prepared(scripts, raw_csv, tmp_path_factory, module_caches):
    out = tmp_path_factory.mktemp("prepared")
    report = scripts["prepare_data"].main(["--input_file", str(raw_csv), "--output_dir", str(out)])
    return out, report


@pytest.fixture(scope="module")
def trained(scripts, prepared, tmp_path_factory, module_caches):
    data, _ = prepared
    out = tmp_path_factory.mktemp("run")
    results = scripts["train"].main(train_args(data, out, "--num_train_epochs", "2"))
    return out, results


def train_args(data, out, *extra):
    return ["--train_file", str(data / "train.csv"), "--validation_file", str(data / "valid.csv"),
            "--test_file", str(data / "test.csv"), "--output_dir", str(out), *TINY, *extra]


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_json(path):
    return json.loads(Path(path).read_text())


def importable_top_level_names():
    """Every name ``import <name>`` can mean here without scripts/ on sys.path: the standard library,
    the top-level packages and modules of the installed distributions (ours and every dependency)
    and whatever else sys.path holds."""
    others = [p for p in sys.path if Path(p or ".").resolve() != SCRIPTS]
    return (set(sys.stdlib_module_names) | set(importlib.metadata.packages_distributions())
            | {module.name for module in pkgutil.iter_modules(others)})


def test_no_script_shares_its_name_with_a_package():
    # `python scripts/x.py` puts scripts/ first on sys.path: a script named like a package would stand
    # in for it in every import of that name, ours and our dependencies' (evaluate_model.py, not evaluate.py).
    importable = importable_top_level_names()
    assert {"evaluate", "datasets", "modeling", "json"} <= importable  # the check sees what it guards against
    scripts = sorted(path.stem for path in SCRIPTS.glob("*.py"))
    assert "evaluate_model" in scripts
    assert [name for name in scripts if name in importable] == []


# ----------------------------------------------------------------------------- prepare_data.py
def test_prepare_data_splits_and_reports(prepared):
    out, report = prepared
    splits = {name: read_csv(out / f"{name}.csv") for name in ("train", "valid", "test")}
    assert list(splits["train"][0]) == ["label", "title", "text", "titletext"]
    assert sum(len(rows) for rows in splits.values()) == N_ROWS + N_DUPLICATES - N_SHORT
    assert [len(splits[n]) for n in ("train", "valid", "test")] == [247, 31, 31]
    assert {row["label"] for rows in splits.values() for row in rows} == {"REAL", "FAKE"}
    assert report.rows_read == N_ROWS + N_DUPLICATES and report.rows_dropped_short == N_SHORT
    texts = {name: {row["titletext"] for row in rows} for name, rows in splits.items()}
    pairs = [("train", "valid"), ("train", "test"), ("valid", "test")]
    leaked = set().union(*(texts[a] & texts[b] for a, b in pairs))
    assert report.cross_split_duplicates == len(leaked) > 0
    assert f"exact-duplicate texts found in more than one split: {len(leaked)} (test leakage" in "\n".join(report.lines())


def test_prepare_data_dedup(scripts, raw_csv, tmp_path, capsys):
    report = scripts["prepare_data"].main(["--input_file", str(raw_csv), "--output_dir", str(tmp_path), "--dedup"])
    printed = capsys.readouterr().out
    assert f"{N_DUPLICATES} exact duplicates" in printed
    assert "more than one split: 0" in printed and report.cross_split_duplicates == 0
    texts = [row["titletext"] for name in ("train", "valid", "test") for row in read_csv(tmp_path / f"{name}.csv")]
    assert len(texts) == len(set(texts)) == N_ROWS - N_SHORT


def test_prepare_data_never_replaces_earlier_splits_silently(scripts, raw_csv, tmp_path, capsys, caplog):
    import pandas as pd

    kaggle = tmp_path / "fake_or_real_news.csv"  # Kaggle's shape: pandas' unnamed index column first
    pd.read_csv(raw_csv, keep_default_na=False).drop(columns="id").to_csv(kaggle)
    args = ["--input_file", str(kaggle), "--output_dir", str(tmp_path / "news")]
    with caplog.at_level("INFO"):
        scripts["prepare_data"].main(args)
    assert "ignoring the first column, which has no name" in caplog.text  # the README says the log says so
    first = (tmp_path / "news" / "train.csv").read_bytes()
    assert "examples/s" not in capsys.readouterr().err  # no datasets progress bars
    with pytest.raises(SystemExit):
        scripts["prepare_data"].main([*args, "--seed", "1"])
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'news'}: already holds train.csv, valid.csv, test.csv from an"
                          " earlier run; pass --overwrite_output_dir")
    assert (tmp_path / "news" / "train.csv").read_bytes() == first
    scripts["prepare_data"].main([*args, "--seed", "1", "--overwrite_output_dir"])
    assert (tmp_path / "news" / "train.csv").read_bytes() != first


@pytest.mark.parametrize("args, message", [
    (["--label_column", "verdict"], "no column 'verdict'"),
    (["--train_ratio", "0.95", "--valid_ratio", "0.1"], "ratios must be"),
])
def test_prepare_data_bad_input_is_one_line(scripts, raw_csv, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        scripts["prepare_data"].main(["--input_file", str(raw_csv), "--output_dir", str(tmp_path / "out"), *args])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "out" / "train.csv").exists()


def test_readme_real_run_on_the_kaggle_file_shape(scripts, fake_news_dir, tmp_path, capsys, module_caches):
    """The README's real run, verbatim in its flags, on a CSV shaped like Kaggle's fake_or_real_news.csv
    (header ",title,text,label": pandas' index first) of real articles: prepare -> train (1 epoch) ->
    evaluate -> predict."""
    from tests.conftest import real_articles

    raw = tmp_path / "fake_or_real_news.csv"
    real_articles(fake_news_dir, n_rows=400).to_csv(raw)
    assert raw.read_text().startswith(",title,text,label\n")
    news = tmp_path / "data" / "news"
    scripts["prepare_data"].main(["--input_file", str(raw), "--output_dir", str(news)])
    assert "rows read: 400" in capsys.readouterr().out
    assert read_csv(news / "train.csv")[0].keys() == {"label", "title", "text", "titletext"}
    run = tmp_path / "outputs" / "news"
    results = scripts["train"].main(["--train_file", str(news / "train.csv"), "--validation_file",
                                     str(news / "valid.csv"), "--test_file", str(news / "test.csv"),
                                     "--output_dir", str(run), "--num_train_epochs", "1"])
    assert results["train_samples"] == 320 and results["test_samples"] == 40
    assert 0.0 <= results["test_accuracy"] <= 1.0
    evaluated = scripts["evaluate_model"].main(["--model_name_or_path", str(run), "--test_file", str(news / "test.csv"),
                                          "--output_dir", str(run / "eval")])
    assert evaluated["accuracy"] == results["test_accuracy"]
    capsys.readouterr()
    scripts["predict"].main(["--model_name_or_path", str(run), "Senate passes the budget bill after a long debate"])
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["label"] in ("REAL", "FAKE")


# ----------------------------------------------------------------------------- train.py
def test_train_writes_the_run_folder(trained):
    out, results = trained
    for name in ("config.json", "model.safetensors", "tokenizer.json", "metrics.json", "all_results.json",
                 "training_args.json", "eval_results.json"):
        assert (out / name).is_file(), name
    for name in ("loss_curve.png", "confusion_matrix.png"):
        assert (out / name).read_bytes().startswith(PNG_MAGIC)
    config = read_json(out / "config.json")
    assert config["label_names"] == ["REAL", "FAKE"] and config["hidden_size"] == 16
    metrics = read_json(out / "metrics.json")
    # 247 rows / 16 = 16 steps per epoch; four evaluations an epoch, but at least 10 steps apart; the last step too
    steps = metrics["global_steps_list"]
    assert steps == [10, 20, 30, 32] and len(metrics["train_loss_list"]) == len(metrics["valid_loss_list"]) == 4
    assert metrics["best_valid_loss"] == min(metrics["valid_loss_list"])
    assert read_json(out / "all_results.json") == results
    assert {"eval_loss", "eval_accuracy", "test_loss", "test_accuracy", "test_macro_f1", "test_weighted_f1",
            "train_runtime", "train_samples_per_second", "train_samples", "epoch"} <= set(results)
    assert results["train_samples"] == 247 and results["epoch"] == 2.0
    assert results["eval_samples"] == results["test_samples"] == 31
    assert results["eval_unscored_samples"] == results["test_unscored_samples"] == 0  # every labelled row scored
    assert 0.7 < results["baseline_test_accuracy"] <= 1 and results["baseline_runtime"] > 0  # the yardstick ran
    assert results["eval_loss"] == metrics["best_valid_loss"]
    assert results["test_accuracy"] > 0.7  # chance is 0.5: the model learned the cue words
    assert "hub_token" not in read_json(out / "training_args.json")


def test_train_logs_its_classes_one_state_line_and_what_to_run_next(scripts, prepared, tmp_path, caplog,
                                                                     module_caches):
    data, _ = prepared
    out = tmp_path / "run"
    with caplog.at_level("INFO"):
        scripts["train"].main(train_args(data, out, "--max_steps", "2"))
    logged = [r.getMessage().removeprefix("[RANK 0] ") for r in caplog.records]  # accelerate.logging adds it
    train = read_csv(data / "train.csv")
    counts = {name: sum(row["label"] == name for row in train) for name in ("REAL", "FAKE")}
    assert f"Classes (id = name: train examples): 0 = REAL: {counts['REAL']}, 1 = FAKE: {counts['FAKE']}" in logged
    assert "Accelerate: 1 process, device cpu, mixed precision no" in logged
    assert not any("Distributed environment" in line for line in logged)  # Accelerate's 7-line repr
    end = logged.index(f"Saved the model to {out} (config.json, model.safetensors, tokenizer.json). Next:")
    assert logged[end + 1] == (f"  python scripts/evaluate_model.py --model_name_or_path {out}"
                               f" --test_file {data / 'test.csv'}")
    assert logged[end + 2].startswith(f"  python scripts/predict.py --model_name_or_path {out} ")


def test_tqdm_disable_hides_the_training_bar(prepared, tmp_path):
    """TQDM_DISABLE=1 (tqdm's own variable, read when tqdm is imported) hides the step bar: the
    bar is made with disable= only on processes that must not draw."""
    data, _ = prepared
    env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, str(SCRIPTS / "train.py"), *train_args(data, tmp_path / "run", "--max_steps", "2")]
    proc = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "it/s]" not in proc.stderr and "s/it]" not in proc.stderr


def test_the_card_names_the_raw_file_prepare_data_split(trained, raw_csv, tmp_path):
    """prepare_data.py records where the splits came from; the card names that file, its word limit
    and split, the licence as not stated, widget texts cut at a word, and cites McIntire only for
    his data set."""
    import shutil

    import yaml
    from modeling.hub import build_upload_folder

    run, _ = trained
    card_data = read_json(run / "card_data.json")
    source = card_data["data_source"]
    assert source["source_file"] == raw_csv.name and source["first_n_words"] == 200 and source["rows_read"] == N_ROWS + N_DUPLICATES
    assert card_data["dataset_name"] == "news" and card_data["train_words"]["max"] <= 200

    def card(folder):
        text = (build_upload_folder(folder, tmp_path / folder.name / "up", "bob/news") / "README.md").read_text()
        _, meta, body = text.split("---\n", 2)
        return yaml.safe_load(meta), body

    meta, body = card(run)
    assert f"Trained on `{raw_csv.name}` (SHA-256" in body and "texts cut to their first 200 words" in body
    assert meta["license"] == "unknown" and "**License:** not stated" in body
    assert "## Citation" not in body
    for widget in meta["widget"]:  # cut at a word boundary, marked
        assert len(widget["text"]) <= 502 and (widget["text"].endswith(" …") or len(widget["text"]) <= 500)
    kaggle = tmp_path / "kaggle_run"
    shutil.copytree(run, kaggle)
    card_data["data_source"]["source_file"] = "fake_or_real_news.csv"
    (kaggle / "card_data.json").write_text(json.dumps(card_data))
    meta, body = card(kaggle)
    assert "Trained on `fake_or_real_news.csv`" in body and "## Citation" in body
    assert card(kaggle) and build_upload_folder(kaggle, tmp_path / "mit", "bob/news", license="mit")
    assert "license: mit" in (tmp_path / "mit" / "README.md").read_text()


def test_train_precision_bf16(scripts, trained, prepared, tmp_path, module_caches, capsys):
    data, _ = prepared
    _, fp32 = trained  # the default
    if not bf16_lstm_runs():  # below AVX-512 (e.g. CI's ONEDNN_MAX_CPU_ISA=SSE41 leg): one line, before any data
        with pytest.raises(SystemExit):
            scripts["train"].main(train_args(data, tmp_path, "--train_precision", "bf16"))
        assert "error: bf16 training needs an LSTM kernel this CPU lacks" in capsys.readouterr().err
        assert not (tmp_path / "model.safetensors").exists()
        return
    bf16 = scripts["train"].main(train_args(data, tmp_path, "--num_train_epochs", "2", "--train_precision", "bf16"))
    assert (fp32["train_precision"], bf16["train_precision"]) == ("fp32", "bf16")
    # bf16 steps move the weights differently, and the model still learns the task.
    weights = load_file(tmp_path / "model.safetensors")
    assert weights["classifier.weight"].dtype == torch.float32  # the weights stay fp32
    assert bf16["test_loss"] != fp32["test_loss"] and bf16["test_accuracy"] > 0.7


def test_evaluate_agrees_with_train(scripts, trained, prepared, tmp_path, capsys):
    run, train_results = trained
    data, _ = prepared
    results = scripts["evaluate_model"].main(["--model_name_or_path", str(run), "--test_file", str(data / "test.csv"),
                                        "--output_dir", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "macro avg" in printed and "weighted avg" in printed and "true \\ pred" in printed
    from_train = read_json(run / "eval_results.json")
    from_evaluate = read_json(tmp_path / "eval_results.json")
    assert from_evaluate["test_file"] == from_train["test_file"] == "test.csv"
    assert from_evaluate["loss"] == pytest.approx(from_train["loss"], abs=1e-6)
    for key in ("accuracy", "macro_f1", "weighted_f1", "per_class", "confusion_matrix", "num_examples", "num_unscored"):
        assert from_evaluate[key] == from_train[key], key
    assert results["accuracy"] == train_results["test_accuracy"]
    assert results["macro_f1"] == train_results["test_macro_f1"]
    assert (tmp_path / "confusion_matrix.png").read_bytes().startswith(PNG_MAGIC)


def test_evaluate_counts_the_rows_it_cannot_score(scripts, trained, prepared, tmp_path, capsys, caplog):
    """A labelled row under the model's short-text rule (here an empty text) is counted, never silently dropped."""
    run, _ = trained
    data, _ = prepared
    rows = read_csv(data / "test.csv")
    with open(tmp_path / "test.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["label", "text"])
        writer.writeheader()
        writer.writerows([{"label": r["label"], "text": r["titletext"]} for r in rows] + [{"label": "REAL", "text": " "}])
    with caplog.at_level("WARNING"):
        results = scripts["evaluate_model"].main(["--model_name_or_path", str(run), "--test_file",
                                                  str(tmp_path / "test.csv"), "--output_dir", str(tmp_path / "eval")])
    assert results["num_examples"] == len(rows) and results["num_unscored"] == 1
    assert read_json(tmp_path / "eval" / "eval_results.json")["num_unscored"] == 1
    assert f"{len(rows)} examples (1 labelled row not scored)" in capsys.readouterr().out
    assert f"1 of {len(rows) + 1} labelled rows are not scored: they are empty texts (min_text_chars 1)" in caplog.text


def test_evaluate_names_integer_labels_and_warns_when_they_look_inverted(scripts, trained, prepared, tmp_path,
                                                                         capsys, caplog):
    """A test file numbered 0=FAKE, 1=REAL scored by a REAL=0, FAKE=1 model: without --label_names
    the integers are read as the model's ids (a warning says so) and the report is followed by a
    warning that the labels look inverted; --label_names FAKE,REAL scores it as the named file."""
    run, train_results = trained
    data, _ = prepared
    rows = read_csv(data / "test.csv")
    numbered = tmp_path / "numbered.csv"
    with open(numbered, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([{**row, "label": {"FAKE": "0", "REAL": "1"}[row["label"]]} for row in rows])
    base = ["--model_name_or_path", str(run), "--test_file", str(numbered)]
    with caplog.at_level("WARNING"):
        inverted = scripts["evaluate_model"].main(base)
    assert "holds integers, read as the model's ids: 0 = REAL, 1 = FAKE" in caplog.text
    err = capsys.readouterr().err
    assert inverted["accuracy"] == pytest.approx(1 - train_results["test_accuracy"])
    assert "warning: accuracy" in err and "labels look inverted" in err and "--label_names" in err
    named = scripts["evaluate_model"].main([*base, "--label_names", "FAKE,REAL"])
    assert named["accuracy"] == train_results["test_accuracy"]
    assert named["confusion_matrix"] == read_json(run / "eval_results.json")["confusion_matrix"]
    assert "look inverted" not in capsys.readouterr().err
    with pytest.raises(SystemExit):
        scripts["evaluate_model"].main([*base, "--label_names", "FAKE,TRUE"])
    assert "must name the model's classes ['REAL', 'FAKE']" in capsys.readouterr().err


def test_evaluate_threshold_moves_decisions(scripts, trained, prepared, capsys):
    run, _ = trained
    data, _ = prepared
    args = ["--model_name_or_path", str(run), "--test_file", str(data / "test.csv")]
    everything_fake = scripts["evaluate_model"].main(args + ["--threshold", "0.0"])
    assert [row[0] for row in everything_fake["confusion_matrix"]] == [0, 0]  # nobody predicted REAL


def test_predict_texts_files_and_stdin(scripts, trained, prepared, tmp_path, capsys, monkeypatch):
    run, train_results = trained
    data, _ = prepared
    main = scripts["predict"].main
    main(["--model_name_or_path", str(run), "officials said in a statement", "shocking hoax exposed"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert line["label"] in ("REAL", "FAKE") and sum(line["scores"].values()) == pytest.approx(1.0)
        assert line["score"] == line["scores"][line["label"]]
    # A CSV in, a CSV out: the model's test accuracy again, from raw title + text.
    main(["--model_name_or_path", str(run), "--input_file", str(data / "test.csv"),
          "--output_file", str(tmp_path / "pred.csv")])
    rows = read_csv(tmp_path / "pred.csv")
    assert {"predicted_label", "score", "prob_REAL", "prob_FAKE"} <= set(rows[0])
    accuracy = sum(r["label"] == r["predicted_label"] for r in rows) / len(rows)
    assert accuracy == train_results["test_accuracy"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("first text\n\nsecond text\n"))
    main(["--model_name_or_path", str(run), "--output_file", str(tmp_path / "pred.jsonl")])
    written = [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text().splitlines()]
    # One output per input line, in order, the blank line included (as an empty text with no label).
    assert [(w["index"], w["text"]) for w in written] == [(0, "first text"), (1, ""), (2, "second text")]
    assert written[1]["label"] is None and written[1]["skipped"] == "empty text (training skips such texts)"
    assert all(w["label"] in ("REAL", "FAKE") for w in (written[0], written[2]))


def test_train_without_validation_file_holds_out_ten_percent(scripts, prepared, tmp_path, module_caches):
    data, _ = prepared
    results = scripts["train"].main(["--train_file", str(data / "train.csv"), "--output_dir", str(tmp_path),
                                     *TINY, "--max_steps", "2"])
    assert (results["train_samples"], results["eval_samples"]) == (222, 25)  # 247 rows split 90/10
    assert "test_accuracy" not in results and not (tmp_path / "eval_results.json").exists()


def test_resume_mid_epoch_matches_uninterrupted(scripts, prepared, tmp_path, module_caches):
    data, _ = prepared
    common = ["--num_train_epochs", "2", "--checkpointing_steps", "20", "--eval_steps", "6"]
    uninterrupted = scripts["train"].main(train_args(data, tmp_path / "a", *common))
    # "Crash" after step 20 (epoch 2, batch 4; the last evaluation was at step 18), then resume.
    scripts["train"].main(train_args(data, tmp_path / "b", *common, "--max_steps", "20"))
    assert (tmp_path / "b" / "step_20" / "trainer_state.json").is_file()
    resumed = scripts["train"].main(train_args(data, tmp_path / "b", *common, "--resume_from_checkpoint", "latest"))
    strip = lambda results: {k: v for k, v in results.items() if k not in TIMING_KEYS}  # noqa: E731
    assert strip(resumed) == strip(uninterrupted)
    assert read_json(tmp_path / "b" / "metrics.json") == read_json(tmp_path / "a" / "metrics.json")
    weights_a, weights_b = (load_file(tmp_path / run / "model.safetensors") for run in ("a", "b"))
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


class Crash(BaseException):
    """Stands for a kill: not an error the scripts would turn into a message."""


# ----------------------------------------------------------------------------- training length
@pytest.fixture(scope="module")
def rising(prepared, tmp_path_factory):
    """The prepared data with every validation label swapped: the better the model fits the train
    split, the higher its validation loss."""
    data, _ = prepared
    out = tmp_path_factory.mktemp("rising")
    for name in ("train", "test"):
        (out / f"{name}.csv").write_bytes((data / f"{name}.csv").read_bytes())
    rows = read_csv(data / "valid.csv")
    with open(out / "valid.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "label": {"REAL": "FAKE", "FAKE": "REAL"}[row["label"]]} for row in rows)
    return out


# Evaluate every 2 steps; stop after 3 evaluations without a lower validation loss, from step 4 on.
EARLY = ["--eval_steps", "2", "--early_stopping_patience", "3", "--min_steps", "4", "--checkpointing_steps", "2"]


@pytest.fixture(scope="module")
def stopped(scripts, rising, tmp_path_factory, module_caches):
    out = tmp_path_factory.mktemp("stopped")
    return out, scripts["train"].main(train_args(rising, out, *EARLY))


def test_early_stopping_stops_when_the_validation_loss_rises(stopped, caplog):
    out, results = stopped
    history = read_json(out / "metrics.json")
    best, losses = results["best_global_step"], history["valid_loss_list"]
    assert results["stop_reason"] == "early_stopping" and read_json(out / "all_results.json") == results
    assert results["global_step"] == max(best + 3 * 2, 4) < 16 * 100  # long before the cap of 100 epochs
    assert history["global_steps_list"] == list(range(2, results["global_step"] + 1, 2))
    assert losses[-1] > losses[0] and min(losses) == losses[best // 2 - 1] < min(losses[best // 2:])
    assert (results["eval_steps"], results["early_stopping_patience"]) == (2, 3)
    # The kept model is the best one: evaluated again at the end, it gives the best validation loss.
    assert results["eval_loss"] == pytest.approx(min(losses), rel=1e-6)


def test_training_stopped_line_says_why_and_which_step_is_kept(scripts, rising, tmp_path, module_caches, caplog):
    with caplog.at_level("INFO"):
        results = scripts["train"].main(train_args(rising, tmp_path, "--eval_steps", "2", "--early_stopping_patience",
                                                   "3", "--min_steps", "4"))
    line = next(r.getMessage() for r in caplog.records if "Training stopped" in r.getMessage())
    assert f"Training stopped at step {results['global_step']} (epoch" in line
    assert "the validation loss did not improve for 3 evaluations" in line
    assert f"the model kept is that of step {results['best_global_step']}," in line


@pytest.mark.parametrize("crash_at", ["before", "at"])
def test_an_early_stopped_run_resumes_exactly(scripts, rising, stopped, tmp_path, module_caches, monkeypatch,
                                              crash_at):
    """Killed at a checkpoint before the stopping evaluation, or at the stopping one itself, the
    resumed run stops at the same step with the same model."""
    out, uninterrupted = stopped
    import modeling.training.loop

    step = uninterrupted["global_step"] - (4 if crash_at == "before" else 0)
    save_checkpoint = modeling.training.loop.save_checkpoint

    def save_then_crash(accelerator, state, output_dir, name):
        save_checkpoint(accelerator, state, output_dir, name)
        if name == f"step_{step}":
            raise Crash

    monkeypatch.setattr(modeling.training.loop, "save_checkpoint", save_then_crash)
    with pytest.raises(Crash):
        scripts["train"].main(train_args(rising, tmp_path, *EARLY))
    monkeypatch.undo()
    resumed = scripts["train"].main(train_args(rising, tmp_path, *EARLY, "--resume_from_checkpoint", "latest"))
    strip = lambda results: {k: v for k, v in results.items() if k not in TIMING_KEYS}  # noqa: E731
    assert strip(resumed) == strip(uninterrupted)
    assert read_json(tmp_path / "metrics.json") == read_json(out / "metrics.json")
    weights_a, weights_b = (load_file(folder / "model.safetensors") for folder in (out, tmp_path))
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def test_explicit_limits_and_patience_zero_train_to_the_limit(scripts, rising, tmp_path, module_caches):
    results = scripts["train"].main(train_args(rising, tmp_path / "a", "--max_steps", "12", "--eval_steps", "2",
                                               "--early_stopping_patience", "0"))
    assert (results["global_step"], results["stop_reason"]) == (12, "max_steps")
    results = scripts["train"].main(train_args(rising, tmp_path / "b", "--num_train_epochs", "1"))
    assert (results["global_step"], results["stop_reason"]) == (16, "num_train_epochs")  # 247 rows, batches of 16


def test_resume_restores_the_lr_schedule(scripts, prepared, tmp_path, module_caches, monkeypatch):
    data, _ = prepared
    common = ["--num_train_epochs", "2", "--checkpointing_steps", "20", "--eval_steps", "6",
              "--lr_scheduler_type", "linear", "--num_warmup_steps", "5", "--weight_decay", "0.01",
              "--max_grad_norm", "0.5"]
    uninterrupted = scripts["train"].main(train_args(data, tmp_path / "a", *common))
    import modeling.training.loop

    save_checkpoint, seen = modeling.training.loop.save_checkpoint, {}

    def save_then_crash(accelerator, *args):
        save_checkpoint(accelerator, *args)
        seen["lr"] = accelerator._schedulers[0].get_last_lr()[0]
        raise Crash

    monkeypatch.setattr(modeling.training.loop, "save_checkpoint", save_then_crash)
    with pytest.raises(Crash):
        scripts["train"].main(train_args(data, tmp_path / "b", *common))
    monkeypatch.undo()
    # After 20 of the run's steps: 5 warm-up steps, then linear decay to 0 at the last step.
    total = uninterrupted["global_step"]
    assert seen["lr"] == pytest.approx(0.01 * (1 - (20 - 5) / (total - 5)))
    resumed = scripts["train"].main(train_args(data, tmp_path / "b", *common, "--resume_from_checkpoint", "latest"))
    strip = lambda results: {k: v for k, v in results.items() if k not in TIMING_KEYS}  # noqa: E731
    assert strip(resumed) == strip(uninterrupted)
    weights_a, weights_b = (load_file(tmp_path / run / "model.safetensors") for run in ("a", "b"))
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def test_resume_from_a_missing_checkpoint_is_one_line(scripts, prepared, tmp_path, capsys, module_caches):
    data, _ = prepared
    with pytest.raises(SystemExit):
        scripts["train"].main(train_args(data, tmp_path, "--resume_from_checkpoint", "latest"))
    assert "error: --resume_from_checkpoint latest: no complete checkpoint" in capsys.readouterr().err


def test_demo_run_with_tracking_and_push(scripts, tmp_path, monkeypatch, module_caches):
    """No data flags: the shipped demo CSV, split in memory; TensorBoard logs; the Hub helper called."""
    pytest.importorskip("tensorboard")
    hub = pytest.importorskip("modeling.hub.upload")
    pushed = []
    monkeypatch.setattr(hub, "check_can_push", lambda repo_id, token=None, token_flag=None: (token, repo_id))
    monkeypatch.setattr(hub, "push_model_dir", lambda model_dir, repo_id, **kw: pushed.append((model_dir, repo_id)))
    out = tmp_path / "demo"
    results = scripts["train"].main(["--output_dir", str(out), *TINY, "--num_train_epochs", "1", "--with_tracking",
                                     "--report_to", "tensorboard", "--push_to_hub", "--hub_model_id", "me/demo"])
    assert results["train_samples"] == 800 and results["test_samples"] == 100
    assert read_json(out / "eval_results.json")["test_file"] == "demo.csv (test split)"
    assert list((out / "runs").rglob("events.out.tfevents.*"))
    assert pushed == [(str(out), "me/demo")]


def test_missing_tracker_is_a_clear_error(scripts, tmp_path, capsys):
    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed")
    with pytest.raises(SystemExit):
        scripts["train"].main(["--output_dir", str(tmp_path), "--with_tracking", "--report_to", "wandb"])
    assert "error: --report_to wandb: the wandb package is not installed" in capsys.readouterr().err


# ----------------------------------------------------------------------------- DDP
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_accelerate_launch_q_shows_bad_input_as_one_line(tmp_path):
    """The README's command, `accelerate launch -q scripts/train.py`, on a missing file: the script's
    one error line and status 1; no launcher traceback, no Accelerate state dump on stdout. (Without
    -q, accelerate itself repeats the error and adds its CalledProcessError traceback.)"""
    missing = tmp_path / "missing.csv"
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", "-q", str(SCRIPTS / "train.py"),
               "--train_file", str(missing), "--output_dir", str(tmp_path / "out")]
    proc = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    # accelerate's own note on the defaults it picked (no `accelerate config` here) is kept: README.
    ours = [line for line in proc.stderr.splitlines() if line.strip() and not accelerate_note(line)]
    assert ours == [f"error: {missing}: file not found"], proc.stderr
    assert proc.stdout == ""
    assert not (tmp_path / "out").exists()


def test_two_processes_meet_bad_input_with_one_error_line(tmp_path):
    """Under 2 ranks a bad file fails both processes in the data step (no rank left waiting at a
    barrier to die in gloo): one error line, from rank 0; torch's launcher adds its summary table (and,
    under accelerate 1.2, its own traceback)."""
    bad = tmp_path / "one_class.csv"
    bad.write_text("label,text\nREAL,hello there friend\nREAL,another text here\n", encoding="utf-8")
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", "-q", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
               str(free_port()), str(SCRIPTS / "train.py"), "--train_file", str(bad), "--output_dir", str(tmp_path / "o")]
    proc = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {bad}: column 'label' holds a single class ['REAL']; a classifier needs at least 2"
                      " (check the file or the split)"], proc.stderr
    assert "Connection closed by peer" not in proc.stderr
    # No traceback from our code or a rank's process. The launcher's own frames are the launcher's:
    # accelerate 1.2's multi-GPU launcher re-raises torch's ChildFailedError (newer ones do not).
    ours = [line for line in proc.stderr.splitlines() if line.strip().startswith('File "')
            and ("/modeling/" in line or "/scripts/" in line or "/torch/distributed/distributed_c10d" in line)]
    assert ours == [], proc.stderr


def accelerate_note(line):
    """A line of `accelerate launch`'s "The following values were not passed ..." warning."""
    return (line.startswith(("The following values were not passed", "To avoid this warning"))
            or line.startswith("\t`--"))


def test_two_process_ddp_on_cpu_counts_each_example_once(scripts, prepared, tmp_path):
    """2 ranks over gloo; the validation and test sets (31 rows, batches of 4 and 3) do not divide
    evenly. Train and evaluate under 2 ranks; the same weights evaluated in 1 process give the
    same report: every example counted once, none twice."""
    data, _ = prepared
    out = tmp_path / "ddp"
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets"), "OMP_NUM_THREADS": "1"}

    def launch(script, *args):
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                   "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                   "--main_process_port", str(free_port()), str(SCRIPTS / script), *args]
        proc = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "Accelerate: 2 processes (multi_cpu, gloo), device cpu" in proc.stdout
        return proc

    proc = launch("train.py", *train_args(data, out, "--num_train_epochs", "1", "--per_device_eval_batch_size", "4",
                                          "--checkpointing_steps", "epoch"))
    assert "Num examples = 247" in proc.stdout and "accumulation) = 32" in proc.stdout  # 2 ranks x 16
    results = read_json(out / "all_results.json")
    assert results["eval_samples"] == 31 and results["test_samples"] == 31
    assert sum(map(sum, read_json(out / "eval_results.json")["confusion_matrix"])) == 31
    assert (out / "epoch_0" / "trainer_state.json").is_file()
    # The same model evaluated in one process gives the same validation numbers.
    single = scripts["evaluate_model"].main(["--model_name_or_path", str(out), "--test_file", str(data / "valid.csv")])
    assert single["num_examples"] == 31
    assert single["accuracy"] == results["eval_accuracy"]
    assert single["loss"] == pytest.approx(results["eval_loss"], abs=1e-5)
    # scripts/evaluate_model.py under 2 ranks, the test split under train.py's 2 ranks, and 1 process: one report.
    launch("evaluate_model.py", "--model_name_or_path", str(out), "--test_file", str(data / "test.csv"),
           "--per_device_eval_batch_size", "3", "--output_dir", str(tmp_path / "eval_ddp"))
    single = scripts["evaluate_model"].main(["--model_name_or_path", str(out), "--test_file", str(data / "test.csv")])
    for two_ranks in (read_json(tmp_path / "eval_ddp" / "eval_results.json"), read_json(out / "eval_results.json")):
        assert two_ranks["num_examples"] == single["num_examples"] == 31
        for key in ("accuracy", "macro_f1", "weighted_f1", "per_class", "confusion_matrix"):
            assert two_ranks[key] == single[key], key
        assert two_ranks["loss"] == pytest.approx(single["loss"], abs=1e-6)


def test_the_commands_a_run_prints_work_on_its_own_data(scripts, prepared, tmp_path, caplog, capsys, module_caches):
    """A run on other column names (and another delimiter) ends with evaluate.py and predict.py
    commands that carry them: run as printed, they score the run's own test file."""
    data, _ = prepared
    for name in ("train", "valid", "test"):
        rows = read_csv(data / f"{name}.csv")
        with open(tmp_path / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, delimiter=";")
            writer.writerow(["category", "question"])
            writer.writerows([(row["label"], row["titletext"]) for row in rows])
    files = ["--train_file", str(tmp_path / "train.csv"), "--validation_file", str(tmp_path / "valid.csv"),
             "--test_file", str(tmp_path / "test.csv")]
    out = tmp_path / "run"
    with caplog.at_level("INFO"):
        results = scripts["train"].main([*files, "--output_dir", str(out), *TINY, "--max_steps", "4",
                                         "--text_column", "question", "--label_column", "category",
                                         "--delimiter", ";", "--no_baseline"])
    logged = [r.getMessage().removeprefix("[RANK 0] ") for r in caplog.records]
    commands = [line.strip() for line in logged if line.startswith("  python scripts/")]
    evaluate_line = next(c for c in commands if c.startswith("python scripts/evaluate_model.py"))
    predict_line = next(c for c in commands if c.startswith("python scripts/predict.py"))
    assert "--text_column question --label_column category --delimiter ';'" in evaluate_line
    import shlex

    scored = scripts["evaluate_model"].main(shlex.split(evaluate_line)[2:])
    assert scored["accuracy"] == results["test_accuracy"]
    capsys.readouterr()
    predict_args = shlex.split(predict_line)[2:]
    predict_args[predict_args.index("--output_file") + 1] = str(tmp_path / "predictions.csv")
    scripts["predict"].main(predict_args)
    predicted = read_csv(tmp_path / "predictions.csv")
    assert len(predicted) == results["test_samples"]
    assert sum(r["category"] == r["label"] for r in predicted) / len(predicted) == results["test_accuracy"]
    # .jsonl output (and --include_text) carry the text classified: here the question column's.
    predict_args[predict_args.index("--output_file") + 1] = str(tmp_path / "predictions.jsonl")
    scripts["predict"].main(predict_args)
    written = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert [w["text"] for w in written] == [r["question"] for r in predicted]


def test_help_names_each_default_once(scripts, capsys):
    """--help adds "(default: X)" only where the text does not already say it, and never "(default: None)"."""
    import re

    for name in ("train", "predict"):
        with pytest.raises(SystemExit):
            scripts[name].main(["--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "(default: None)" not in text and "(default: False)" not in text
        assert not re.search(r"\(default: [^)]*\)\.? \(default:", text), name
        if name == "train":
            assert "Label column. (default: label)" in text and "(default: the file's header row)." in text


def test_demo_help_and_default_backend_agree():
    """demo.py's --backend default is auto (as predict.py and the Endpoint handler), and its help says so."""
    demo = load_script("demo")
    assert demo.parse_args(["--model_name_or_path", "x"]).backend == "auto"
    predict = load_script("predict")
    assert predict.parse_args(["--model_name_or_path", "x"]).backend == "auto"


def test_evaluate_names_the_decision_rule_of_a_multi_class_model(scripts, prepared, tmp_path, capsys, module_caches):
    """A three-class model predicts its most probable label: evaluate.py says so, not "threshold 0.5"."""
    data, _ = prepared
    rows = read_csv(data / "train.csv")
    three = write_three_class_csv(tmp_path / "three.csv", rows)
    scripts["train"].main(["--train_file", str(three), "--output_dir", str(tmp_path / "run"), *TINY, "--max_steps", "2",
                           "--no_baseline"])
    capsys.readouterr()
    scripts["evaluate_model"].main(["--model_name_or_path", str(tmp_path / "run"), "--test_file", str(three)])
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith("most probable label") and "threshold" not in first


def write_three_class_csv(path, rows):
    """``rows`` of a REAL/FAKE split relabelled into three classes (every third row OTHER)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["label", "text"])
        writer.writerows([("OTHER" if i % 3 == 0 else row["label"], row["titletext"]) for i, row in enumerate(rows)])
    return path


def test_the_progress_bar_ends_where_early_stopping_ends_the_run(scripts, rising, tmp_path, module_caches,
                                                                  monkeypatch):
    """The bar counts to the earliest step early stopping can end the run, not to the 100-epoch cap:
    it starts far below the cap, moves out with each better validation loss, and is full at the end."""
    import modeling.training.loop
    from tqdm.auto import tqdm

    bars = []

    class Recorded(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.totals = [self.total]
            bars.append(self)

        def refresh(self, *args, **kwargs):
            totals = getattr(self, "totals", None)  # tqdm refreshes inside __init__ too
            if totals and self.total != totals[-1]:
                totals.append(self.total)
            return super().refresh(*args, **kwargs)

    monkeypatch.setattr(modeling.training.loop, "tqdm", Recorded)
    results = scripts["train"].main(train_args(rising, tmp_path / "run", *EARLY))
    (bar,) = bars
    assert results["stop_reason"] == "early_stopping"
    cap = 100 * results["global_step"] / results["epoch"]
    assert bar.totals[0] == max(3 * 2, 4) < cap  # no evaluation yet: patience x eval_steps (from step 4)
    assert bar.totals == sorted(bar.totals)  # it only moves out
    assert bar.n == bar.total == results["global_step"] == results["best_global_step"] + 3 * 2


def test_accelerate_launch_and_python_train_the_same_model(tmp_path):
    """One command, one seed, two launchers: `accelerate launch -q` (which sets OMP_NUM_THREADS=1 by
    default) and plain `python` train with the same number of threads and give the same weights, also
    with oneDNN's AVX2 kernels, whose sums depend on the thread count."""
    import psutil

    if (psutil.cpu_count(logical=False) or 1) < 2:
        pytest.skip("one physical core: every launcher uses one thread")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), TQDM_DISABLE="1", ONEDNN_MAX_CPU_ISA="AVX2")
    args = ["--max_steps", "6", "--eval_steps", "6", "--no_baseline", "--max_train_samples", "200"]
    launchers = {"python": [sys.executable], "accelerate": [sys.executable, "-m", "accelerate.commands.launch", "-q"]}
    for name, launcher in launchers.items():
        proc = subprocess.run([*launcher, str(SCRIPTS / "train.py"), "--output_dir", str(tmp_path / name), *args],
                              env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    default = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"], env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
    threads = {name: read_json(tmp_path / name / "all_results.json")["train_threads"] for name in launchers}
    assert threads == {"python": int(default), "accelerate": int(default)}
    ours, theirs = (load_file(tmp_path / name / "model.safetensors") for name in launchers)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
