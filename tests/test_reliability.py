"""Reliability and safety at the scripts' edges: bad input, killed runs, diverging losses, pickles.

Each bad input must end in one ``error: ...`` line naming the file (and row and column where there is
one), exit status 1, and leave ``--output_dir`` as it was. Library-level checks live next to their
modules and are not repeated here: tests/data/test_pipeline.py (messy CSVs: UTF-8, header-less, TSV, quotes and
newlines, million-character texts, labels), tests/test_model.py (config bounds checked before any
allocation, strict safetensors loading, tokenizer/config mismatch, no pickle fallback),
tests/hub/test_upload.py (the Endpoint handler's limits on texts per request and characters per text) and
tests/test_scripts.py (2-process DDP counts each example once and matches a 1-process evaluation).
"""

import csv
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import datasets
import pytest
import torch
from safetensors.torch import load_file

from modeling import BiLSTMConfig, BiLSTMForSequenceClassification, train_tokenizer
from modeling.training.run_folder import TRAINER_STATE_FILE, find_checkpoint
from modeling.training.state import load_plain_data

from tests.conftest import write_news_csv
from .test_scripts import TIMING_KEYS, TINY, load_script, read_json

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PY = ROOT / "scripts" / "train.py"
# 120 train rows in batches of 16: 8 steps per epoch, so checkpoints every 6 steps fall mid-epoch.
# Every checkpoint is kept (--save_total_limit 0): the tests below resume from early ones.
RESUME_FLAGS = ["--num_train_epochs", "15", "--checkpointing_steps", "6", "--eval_steps", "10", "--seed", "3",
                "--save_total_limit", "0"]


@pytest.fixture(scope="module")
def scripts():
    return {name: load_script(name) for name in ("prepare_data", "train", "evaluate_model", "predict")}


@pytest.fixture(autouse=True)
def _no_progress_bars():
    """datasets' progress bars share stderr with the error line; the checks below read only messages."""
    datasets.disable_progress_bars()
    yield
    datasets.enable_progress_bars()


def subprocess_env(tmp_path):
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
            "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets")}


def strip_timing(results):
    return {k: v for k, v in results.items() if k not in TIMING_KEYS}


def snapshot(folder):
    """Every file under ``folder`` with its bytes (None if the folder does not exist)."""
    folder = Path(folder)
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- input files
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Good train/valid files, and one file per kind of bad input."""
    root = tmp_path_factory.mktemp("data")
    write_news_csv(root / "train.csv", n_rows=120, seed=0)
    write_news_csv(root / "valid.csv", n_rows=24, seed=1)
    good = ("id,title,text,label\n1,A title,senate budget committee report,REAL\n"
            "2,B title,shocking secret exposed hoax,FAKE\n")
    files = {
        "empty.csv": "",
        "header_only.csv": "id,title,text,label\n",
        "no_label.csv": "body,verdict\nsome words here,REAL\nmore words there,FAKE\n",
        "repeated.csv": "text,text,label\nhello world,hello again,REAL\n",
        "valid_satire.csv": good + "3,C title,officials said on monday,REAL\n4,D title,a long enough text,SATIRE\n",
        "single_class.csv": "text,label\nsenate budget vote,REAL\nminister policy report,REAL\n",
        "empty_label.csv": "text,label\nsenate budget vote, \nshocking hoax exposed,\n",
        "blank_texts.csv": 'text,label\n"",REAL\n"   ",FAKE\n"\t",REAL\n"",FAKE\n',
        "headerless.tsv": "2635.json\tfalse\tSays the group supports abortions.\n10540.json\thalf-true\tWhen?\n",
        "ragged.csv": "text,label\nhello world,REAL\nthis,row,has,too,many,FAKE\n",
        "small.csv": "text,label\n" + "".join(f"text number {i} here,{['FAKE', 'REAL'][i % 2]}\n" for i in range(6)),
    }
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    (root / "latin1.csv").write_bytes("text,label\nhello world,REAL\ncaf\xe9 au lait,FAKE\n".encode("latin-1"))
    (root / "latin1.txt").write_bytes("first text\nsecond text\ncaf\xe9 au lait\n".encode("latin-1"))
    return root


@pytest.fixture(scope="module")
def models(data, tmp_path_factory):
    """A tiny saved model (not trained: only loading matters here) and broken copies of it."""
    root = tmp_path_factory.mktemp("models")
    texts = [row.split(",")[2] for row in (data / "train.csv").read_text().splitlines()[1:]]
    tokenizer = train_tokenizer(texts, min_frequency=2)
    torch.manual_seed(0)
    model = BiLSTMForSequenceClassification(
        BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), embedding_dim=8, hidden_size=8, dropout=0.0))
    model.tokenizer = tokenizer
    model.save_pretrained(root / "good")
    mismatch = shutil.copytree(root / "good", root / "tokenizer_mismatch")
    train_tokenizer(["an unrelated vocabulary"], min_frequency=1).save(str(mismatch / "tokenizer.json"))
    absurd = shutil.copytree(root / "good", root / "absurd_config")
    config = json.loads((absurd / "config.json").read_text())
    (absurd / "config.json").write_text(json.dumps({**config, "vocab_size": 10**12}))
    pickled = shutil.copytree(root / "good", root / "pickle_only")
    (pickled / "model.safetensors").unlink()
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    return root


# ----------------------------------------------------------------------------- bad input
def case(id, script, arguments, message):
    return pytest.param(script, arguments, message, id=f"{script}-{id}")


# The script, its arguments (--output_dir or --output_file, and TINY for train.py, are added) and a
# pattern of its one error line.
BAD_INPUTS = [
    case("missing_file", "train", "--train_file {data}/nope.csv", r"nope\.csv: file not found"),
    case("empty_file", "train", "--train_file {data}/empty.csv", r"empty\.csv: the file is empty \(expected a header"),
    case("header_only", "train", "--train_file {data}/header_only.csv",
         r"header_only\.csv: the file has a header row \['id', 'title', 'text', 'label'\] but no data rows"),
    case("no_label_column", "train", "--train_file {data}/no_label.csv",
         r"no_label\.csv: no column 'label'; the file has columns \['body', 'verdict'\] \(set --label_column"),
    case("no_text_column", "train", "--train_file {data}/train.csv --text_column body",
         r"train\.csv: no text column 'body'; the file has columns \['id', 'title', 'text', 'label'\] \(set --text"),
    case("repeated_columns", "train", "--train_file {data}/repeated.csv",
         r"repeated\.csv: the header row has empty or repeated column names"),
    case("unseen_label_in_valid", "train", "--train_file {data}/train.csv --validation_file {data}/valid_satire.csv",
         r"valid_satire\.csv: row 5, column 'label': label 'SATIRE' is not one of \['REAL', 'FAKE'\] .*train split"),
    case("unseen_label_in_test", "train",
         "--train_file {data}/train.csv --validation_file {data}/valid.csv --test_file {data}/valid_satire.csv",
         r"valid_satire\.csv: row 5, column 'label': label 'SATIRE'"),
    case("single_class", "train", "--train_file {data}/single_class.csv",
         r"single_class\.csv: column 'label' holds a single class \['REAL'\]; a classifier needs at least 2"),
    case("empty_label", "train", "--train_file {data}/empty_label.csv",
         r"empty_label\.csv: column 'label' is empty in every row; check --label_column"),
    case("only_blank_texts", "train", "--train_file {data}/blank_texts.csv",
         r"blank_texts\.csv: column 'text': every row's text is empty or whitespace-only, so no row is left;"
         r" check --text_column"),
    case("invalid_utf8", "train", "--train_file {data}/latin1.csv",
         r"latin1\.csv: line 3 is not valid UTF-8 \(byte 0xe9 at column 4\); re-save the file as UTF-8"),
    case("headerless_tsv", "train", "--train_file {data}/headerless.tsv",
         r"headerless\.tsv: no column 'label'.*does the file lack a header row"),
    case("ragged_rows", "train", "--train_file {data}/ragged.csv",
         r"ragged\.csv: cannot parse the file as CSV: .*line 3"),
    case("split_too_small", "train", "--train_file {data}/small.csv",
         r"small\.csv: cannot split 6 rows \(REAL 3, FAKE 3\) into train 0.9 / valid 0.1 .*pass --validation_file"),
    case("not_a_checkpoint", "train", "--train_file {data}/train.csv --resume_from_checkpoint {data}",
         r"data\d*: not a complete checkpoint \(no trainer_state.json\)"),
    case("split_too_small", "prepare_data", "--input_file {data}/small.csv",
         r"small\.csv: cannot split 6 rows .* train 0.8 / valid 0.1 / test 0.1 .*--train_ratio/--valid_ratio"),
    case("invalid_utf8", "prepare_data", "--input_file {data}/latin1.csv", r"latin1\.csv: line 3 is not valid UTF-8"),
    case("unseen_label", "evaluate_model", "--model_name_or_path {models}/good --test_file {data}/valid_satire.csv",
         r"valid_satire\.csv: row 5, column 'label': label 'SATIRE'"),
    case("not_a_model_folder", "evaluate_model", "--model_name_or_path {data} --test_file {data}/valid.csv",
         r"data\d*: no config\.json in this folder; --model_name_or_path must be"),
    case("tokenizer_mismatch", "evaluate_model",
         "--model_name_or_path {models}/tokenizer_mismatch --test_file {data}/valid.csv",
         r"tokenizer_mismatch: tokenizer\.json has \d+ tokens but config\.json says vocab_size=\d+"),
    case("absurd_config", "evaluate_model", "--model_name_or_path {models}/absurd_config --test_file {data}/valid.csv",
         r"absurd_config: cannot load the model: vocab_size must be an integer in \[2, \d+\], got 1000000000000"),
    case("pickle_only_model", "predict", "--model_name_or_path {models}/pickle_only --input_file {data}/valid.csv",
         r"pickle_only: no model\.safetensors in this folder \(it holds: .*pytorch_model\.bin"),
    case("missing_input_file", "predict", "--model_name_or_path {models}/good --input_file {data}/nope.txt",
         r"nope\.txt: file not found"),
    case("invalid_utf8", "predict", "--model_name_or_path {models}/good --input_file {data}/latin1.txt",
         r"latin1\.txt: line 3 is not valid UTF-8 \(byte 0xe9 at column \d+\); re-save the file as UTF-8"),
    case("no_text_column", "predict", "--model_name_or_path {models}/good --input_file {data}/no_label.csv",
         r"no_label\.csv: no text column \('titletext', 'text', or 'title' and 'text'\); the file has columns"),
]
OUTPUT_FLAG = {"train": "--output_dir {out}", "prepare_data": "--output_dir {out}",
               "evaluate_model": "--output_dir {out}", "predict": "--output_file {out}/predictions.csv"}


def fail_once(main, argv, capsys):
    """Run a script's main(); return its only stderr line (an error), after checking the exit status."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize("script, arguments, message", BAD_INPUTS)
def test_bad_input_is_one_line_and_writes_nothing(scripts, data, models, tmp_path, capsys, script, arguments, message):
    out = tmp_path / "out"
    argv = f"{arguments} {OUTPUT_FLAG[script]}".format(data=data, models=models, out=out).split()
    if script == "train":
        argv += TINY
    line = fail_once(scripts[script].main, argv, capsys)
    assert re.search(message, line), line
    assert not out.exists(), sorted(p.name for p in out.iterdir())


def test_train_refuses_an_output_dir_holding_a_model(scripts, data, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / "model.safetensors").write_bytes(b"previous model")
    before = snapshot(out)
    line = fail_once(scripts["train"].main, ["--train_file", str(data / "train.csv"), "--output_dir", str(out)], capsys)
    assert line == (f"error: {out} already holds a model (config.json, model.safetensors): pass --overwrite_output_dir"
                    " to replace it, or choose another --output_dir")  # no checkpoint: no advice to resume
    assert snapshot(out) == before
    (out / "step_4").mkdir()
    (out / "step_4" / "trainer_state.json").write_text('{"global_step": 4}')
    line = fail_once(scripts["train"].main, ["--train_file", str(data / "train.csv"), "--output_dir", str(out)], capsys)
    assert ", --resume_from_checkpoint latest to continue its run (from step_4)," in line


def test_overwrite_output_dir_replaces_model_and_stale_checkpoints(scripts, data, tmp_path):
    out = tmp_path / "out"
    (out / "step_999").mkdir(parents=True)
    (out / "step_999" / TRAINER_STATE_FILE).write_text('{"global_step": 999}')
    (out / "config.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    scripts["train"].main(["--train_file", str(data / "train.csv"), "--validation_file", str(data / "valid.csv"),
                           "--output_dir", str(out), "--overwrite_output_dir", "--max_steps", "2", *TINY])
    assert not (out / "step_999").exists()  # `latest` can no longer pick the replaced run's checkpoint
    assert (out / "notes.txt").read_text() == "mine"  # files the run did not write stay
    assert BiLSTMForSequenceClassification.from_pretrained(out).config.hidden_size == 16


def test_messy_but_valid_input_trains(scripts, data, tmp_path, caplog):
    """A TSV with a byte-order mark, numeric labels, quotes and newlines inside fields, a
    1,000,000-character text, and empty and whitespace-only texts (skipped with a warning; "NaN" is a
    three-letter text, kept: only --min_text_chars 5 would drop it, as the tutorial's rule did)."""
    with open(data / "train.csv", newline="", encoding="utf-8") as f:
        rows = [["0" if row["label"] == "REAL" else "1", row["text"]] for row in csv.DictReader(f)][:60]
    rows += [["1", 'He said "no"\tand left,\nthen wrote: "hoax exposed"'],  # row 62 of the file
             ["0", "budget " * 142_857 + "x"],  # 1,000,000 characters
             ["1", ""], ["0", "   "], ["1", "NaN"]]  # rows 64-65: skipped; row 66: kept
    assert len(rows[61][1]) == 1_000_000
    train = tmp_path / "train.tsv"
    with open(train, "w", newline="", encoding="utf-8") as f:
        f.write("\ufeff")  # Excel's byte-order mark
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(["label", "text"])
        writer.writerows(rows)
    out = tmp_path / "out"
    with caplog.at_level("WARNING"):
        results = scripts["train"].main(["--train_file", str(train), "--output_dir", str(out), "--max_steps", "2",
                                         *TINY])
    assert results["train_samples"] + results["eval_samples"] == 63  # 65 rows, 2 without a text
    assert f"{train}: 2 of 65 rows skipped: the text in column 'text' is empty or whitespace-only" in caplog.text
    assert "(first: row 64)" in caplog.text
    model = BiLSTMForSequenceClassification.from_pretrained(out)
    assert model.config.label_names == ["0", "1"]
    summary = scripts["predict"].main(["--model_name_or_path", str(out), "--input_file", str(train),
                                       "--output_file", str(tmp_path / "predictions.jsonl")])
    # prediction keeps every row, the long and the empty ones too
    assert summary["num_texts"] == 65 and summary["num_skipped"] == 2
    assert len((tmp_path / "predictions.jsonl").read_text(encoding="utf-8").splitlines()) == 65


def test_real_cli_prints_the_error_last_without_traceback(data, tmp_path):
    """As a user runs it: logs on stdout, and the error is stderr's last and only ``error:`` line."""
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(TRAIN_PY), "--train_file", str(data / "train.csv"), "--validation_file",
                           str(data / "valid_satire.csv"), "--output_dir", str(out)],
                          env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    # Nothing was logged before the inputs were read: Accelerate's setup line comes after them.
    assert "Traceback" not in proc.stderr and "Accelerate:" not in proc.stdout
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert errors == [proc.stderr.splitlines()[-1]]
    assert errors[0].startswith(f"error: {data / 'valid_satire.csv'}: row 5, column 'label'")
    assert not out.exists()


# ----------------------------------------------------------------------------- diverging loss
@pytest.mark.parametrize("bad_value", [float("nan"), float("inf")])
def test_non_finite_loss_stops_training_and_keeps_the_best_model(scripts, data, tmp_path, capsys, monkeypatch,
                                                                 bad_value):
    """The loss turns non-finite at step 13 (after the evaluation at step 10 saved a model)."""
    calls = {"train": 0}
    real_loss = BiLSTMForSequenceClassification.loss

    def loss(self, logits, labels):
        value = real_loss(self, logits, labels)
        if logits.requires_grad:  # a training step, not an evaluation
            calls["train"] += 1
            if calls["train"] >= 13:
                return value * bad_value
        return value

    monkeypatch.setattr(BiLSTMForSequenceClassification, "loss", loss)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        scripts["train"].main(["--train_file", str(data / "train.csv"), "--validation_file", str(data / "valid.csv"),
                               "--output_dir", str(out), "--eval_steps", "10", "--num_train_epochs", "3", *TINY])
    assert exit_info.value.code == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: non-finite training loss ({bad_value}) at step 13 (epoch 2, batch 5); training stopped"
                      f" and the best model so far (step 10) stays in {out}. Lower --learning_rate (now 0.01) or check"
                      " the data"]
    assert not (out / "all_results.json").exists()
    model = BiLSTMForSequenceClassification.from_pretrained(out)  # the step-10 model, not the broken one
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert read_json(out / "metrics.json")["best_global_step"] == 10


def test_learning_rate_must_be_a_float32_number(scripts, capsys):
    for value in ("1e39", "nan", "0"):
        with pytest.raises(SystemExit):
            scripts["train"].main(["--learning_rate", value])
        assert "--learning_rate must be a positive float32 number" in capsys.readouterr().err


# ----------------------------------------------------------------------------- killed runs
def train_argv(data, out, *extra):
    return ["--train_file", str(data / "train.csv"), "--validation_file", str(data / "valid.csv"),
            "--output_dir", str(out), *TINY, *RESUME_FLAGS, *extra]


@pytest.fixture(scope="module")
def uninterrupted(scripts, data, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    results = scripts["train"].main(train_argv(data, out))
    return out, results


def assert_same_run(out, reference):
    ref_dir, ref_results = reference
    assert strip_timing(read_json(out / "all_results.json")) == strip_timing(ref_results)
    assert read_json(out / "metrics.json") == read_json(ref_dir / "metrics.json")
    ours, theirs = load_file(out / "model.safetensors"), load_file(ref_dir / "model.safetensors")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


# Run train.py as `python driver.py scripts/train.py ARGS`, each batch 20 ms slower once step_12 is
# saved: the kill below then lands a few steps later, however busy the machine (same numbers).
SLOW_AFTER_CHECKPOINT = textwrap.dedent("""
    import os, runpy, sys, time
    import modeling.data.batching

    real_collate = modeling.data.batching.collate_batch

    def collate_batch(*args, **kwargs):
        if os.path.exists(os.path.join(sys.argv[sys.argv.index("--output_dir") + 1], "step_12", "trainer_state.json")):
            time.sleep(0.02)
        return real_collate(*args, **kwargs)

    modeling.data.batching.collate_batch = collate_batch
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
""")


def test_sigkill_mid_epoch_then_resume_latest_matches_uninterrupted(scripts, data, uninterrupted, tmp_path):
    out = tmp_path / "out"
    driver = tmp_path / "driver.py"
    driver.write_text(SLOW_AFTER_CHECKPOINT)
    with open(tmp_path / "log.txt", "w") as log:
        proc = subprocess.Popen([sys.executable, str(driver), str(TRAIN_PY), *train_argv(data, out)],
                                env=subprocess_env(tmp_path), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 240
        while not (out / "step_12" / TRAINER_STATE_FILE).exists():
            assert proc.poll() is None, (tmp_path / "log.txt").read_text()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.1)  # a few more batches: the run dies mid-epoch, past its last checkpoint
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    killed_at = max(read_json(p)["global_step"] for p in out.glob(f"*/{TRAINER_STATE_FILE}"))
    assert 12 <= killed_at < 120
    scripts["train"].main(train_argv(data, out, "--resume_from_checkpoint", "latest"))
    assert_same_run(out, uninterrupted)


KILL_DURING_CHECKPOINT = textwrap.dedent("""
    import os, runpy, signal, sys
    import torch

    real_save = torch.save  # save_state writes the optimizer and RNG states with torch.save

    def save(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        if os.path.basename(os.path.dirname(str(f))) == "step_12" and str(f).endswith("optimizer.bin"):
            os.kill(os.getpid(), signal.SIGKILL)  # half-way through save_state: no RNG state, no trainer_state.json

    torch.save = save
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
""")


def test_kill_during_checkpoint_save_keeps_the_previous_one(scripts, data, uninterrupted, tmp_path):
    out = tmp_path / "out"
    driver = tmp_path / "driver.py"
    driver.write_text(KILL_DURING_CHECKPOINT)
    proc = subprocess.run([sys.executable, str(driver), str(TRAIN_PY), *train_argv(data, out)],
                          env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=240)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert (out / "step_12" / "optimizer.bin").is_file() and not (out / "step_12" / TRAINER_STATE_FILE).exists()
    assert find_checkpoint("latest", out) == out / "step_6"
    BiLSTMForSequenceClassification.from_pretrained(out)  # the model saved at step 10 still loads
    scripts["train"].main(train_argv(data, out, "--resume_from_checkpoint", "latest"))
    assert_same_run(out, uninterrupted)
    assert (out / "step_12" / TRAINER_STATE_FILE).is_file()  # written again, completely, by the resumed run


KILL_DURING_MODEL_SAVE = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import torch
    import modeling.model
    from modeling import BiLSTMForSequenceClassification

    model = BiLSTMForSequenceClassification.from_pretrained(sys.argv[1])
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)

    def torn_save(module, filename, *args, **kwargs):
        Path(filename).write_bytes(b"half a file")
        os.kill(os.getpid(), signal.SIGKILL)

    modeling.model.save_model = torn_save
    model.save_pretrained(sys.argv[1])
""")


def test_kill_during_model_save_keeps_the_previous_model(models, tmp_path):
    folder = shutil.copytree(models / "good", tmp_path / "model")
    before = snapshot(folder)
    driver = tmp_path / "driver.py"
    driver.write_text(KILL_DURING_MODEL_SAVE)
    proc = subprocess.run([sys.executable, str(driver), str(folder)], env=subprocess_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert snapshot(folder) == before  # the torn file went to a temporary folder, never into place
    loaded = BiLSTMForSequenceClassification.from_pretrained(folder)
    original = BiLSTMForSequenceClassification.from_pretrained(models / "good")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), original.state_dict().values()))


# ----------------------------------------------------------------------------- safe loading
class _Payload:
    """A pickle that creates a folder when unpickled with code execution allowed."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_checkpoints_hold_no_pickled_code(uninterrupted):
    out, _ = uninterrupted
    checkpoint = out / "step_12"  # after the first evaluation: it holds best weights too
    names = {p.name for p in checkpoint.iterdir()}
    assert {"model.safetensors", "best_model.safetensors", "optimizer.bin", "random_states_0.pkl",
            TRAINER_STATE_FILE} <= names
    assert not [n for n in names if n.startswith("custom_checkpoint")]  # Accelerate unpickles those unsafely
    for file in [*checkpoint.glob("*.bin"), *checkpoint.glob("*.pkl")]:
        load_plain_data(file)  # tensors, numbers, numpy arrays only


@pytest.mark.parametrize("tampered", ["optimizer.bin", "random_states_0.pkl", "custom_checkpoint_0.pkl"])
def test_resume_refuses_a_checkpoint_with_pickled_code(scripts, data, uninterrupted, tmp_path, capsys, tampered):
    out = shutil.copytree(uninterrupted[0], tmp_path / "run")
    marker = tmp_path / "code_ran"
    torch.save({"state": _Payload(marker)}, out / "step_6" / tampered)
    line = fail_once(scripts["train"].main, train_argv(data, out, "--resume_from_checkpoint", str(out / "step_6")),
                     capsys)
    assert line.startswith(f"error: {out / 'step_6' / tampered}: refused: it does not load as plain tensors")
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(out / "step_6" / tampered, weights_only=True)
    torch.load(out / "step_6" / tampered, weights_only=False)  # the payload works: the refusal is what stopped it
    assert marker.exists()


@pytest.mark.parametrize("problem", ["another_model", "older_format"])
def test_resume_refuses_an_unusable_checkpoint(scripts, data, uninterrupted, tmp_path, capsys, problem):
    out = shutil.copytree(uninterrupted[0], tmp_path / "run")
    argv = train_argv(data, out, "--resume_from_checkpoint", "latest")
    if problem == "another_model":
        argv += ["--hidden_size", "8"]
        expected = f"error: {out / 'step_120'}: cannot resume from this checkpoint ("
    else:
        marker = out / "step_120" / TRAINER_STATE_FILE
        marker.write_text(json.dumps({k: v for k, v in read_json(marker).items() if k != "state"}))
        expected = f"error: {out / 'step_120'}: trainer_state.json holds no run state"
    assert fail_once(scripts["train"].main, argv, capsys).startswith(expected)


def test_no_unsafe_deserialization_in_the_code():
    """No pickle-based loading anywhere in the package or the scripts."""
    sources = [*(ROOT / "modeling").rglob("*.py"), *(ROOT / "scripts").glob("*.py")]
    for path in sources:
        text = path.read_text()
        for match in re.finditer(r"torch\.load\(([^()]|\([^()]*\))*\)", text):
            assert "weights_only=True" in match.group(0), f"{path}: {match.group(0)}"
        for forbidden in ("import pickle", "pickle.load", "joblib", "import dill", "register_for_checkpointing(",
                          "load_custom_state(", "torch.save(model"):
            assert forbidden not in text, f"{path}: {forbidden}"
