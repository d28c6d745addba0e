"""Batch scoring (modeling.data.scoring behind scripts/predict.py): chunks, every format in and out, two
processes giving one process's output row for row, and a killed job that resumes."""

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import make_article
from tests.hub.test_upload import TEXTS, tiny_model
from tests.test_predict import predict, run  # noqa: F401 - fixtures
from tests.test_scripts import ROOT, SCRIPTS, free_port

PROB_COLUMNS = ("score", "prob_REAL", "prob_FAKE")


def write_input(path, n_rows, seed=0):
    """A CSV of ids, titles, texts and labels with empty, blank and short texts among long ones."""
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "title", "text", "label"])
        for i in range(n_rows):
            text = ["", "   ", "ab", "NA", make_article(rng, "REAL", rng.randint(1, 12))][i % 5 if i % 3 else 4]
            writer.writerow([1000 + i, "" if i % 4 == 0 else f"T{i}", text, "REAL" if i % 2 else "FAKE"])
    return path


def read_rows(path):
    """Output rows as lists of strings (Parquet values in the CSV's spelling)."""
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        return [list(table.column_names)] + [["" if v is None else str(v) for v in row.values()]
                                             for row in table.to_pylist()]
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def assert_same_rows(got, expected, abs_tol=1e-6):
    """Every row, in order: labels, texts and ids exactly, probabilities within ``abs_tol`` (a text
    scored in another batch runs other LSTM kernels; tests/test_predict.py)."""
    assert got[0] == expected[0] and len(got) == len(expected)
    floats = [i for i, name in enumerate(expected[0]) if name in PROB_COLUMNS]
    for g, e in zip(got[1:], expected[1:]):
        assert [v for i, v in enumerate(g) if i not in floats] == [v for i, v in enumerate(e) if i not in floats]
        for i in floats:
            assert (g[i] == e[i] == "") or float(g[i]) == pytest.approx(float(e[i]), abs=abs_tol)


def test_every_format_in_and_out_gives_the_same_predictions(predict, run, tmp_path):
    source = write_input(tmp_path / "in.csv", 40)
    reference = tiny_model().predict([f"{r['title']}. {r['text']}" for r in csv.DictReader(open(source))])
    rows = list(csv.DictReader(open(source, encoding="utf-8")))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    outputs = {}
    for suffix_in in (".csv", ".parquet", ".jsonl"):
        for suffix_out in (".csv", ".parquet", ".jsonl"):
            out = tmp_path / f"out_{suffix_in[1:]}{suffix_out}"
            summary = predict(["--model_name_or_path", str(run), "--input_file", str(tmp_path / f"in{suffix_in}"),
                               "--output_file", str(out), "--chunk_size", "7"])
            assert summary["num_texts"] == summary["num_scored"] == 40
            outputs[suffix_in, suffix_out] = out
    for suffix_in in (".csv", ".parquet", ".jsonl"):
        table = read_rows(outputs[suffix_in, ".csv"])
        assert table[0] == ["index", "id", "title", "text", "label", "titletext", "predicted_label", "score",
                            "skipped", "prob_REAL", "prob_FAKE"]
        assert_same_rows(read_rows(outputs[suffix_in, ".parquet"]), table)
        lines = [json.loads(line) for line in outputs[suffix_in, ".jsonl"].read_text(encoding="utf-8").splitlines()]
        assert [(line["index"], line["label"]) for line in lines] == [(i, r["label"]) for i, r in enumerate(reference)]
        assert [line["text"] for line in lines] == [row[5] for row in table[1:]]
    assert_same_rows(read_rows(outputs[".parquet", ".csv"]), read_rows(outputs[".csv", ".csv"]))
    assert [row[6] for row in read_rows(outputs[".csv", ".csv"])[1:]] == [r["label"] or "" for r in reference]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial file left behind


def launch_predict(tmp_path, *args, processes=2):
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", "-q", "--multi_gpu", "--num_processes",
               str(processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(free_port()), str(SCRIPTS / "predict.py"), *args]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_two_processes_write_one_process_output_row_for_row(predict, run, tmp_path):
    """2 ranks over gloo; 61 rows in chunks of 8 (the last a short one, and a chunk splits 4/4): the
    same rows in the same order as 1 process, empty and short texts unlabelled in both."""
    source = write_input(tmp_path / "in.csv", 61)
    single = tmp_path / "single.parquet"
    predict(["--model_name_or_path", str(run), "--input_file", str(source), "--output_file", str(single),
             "--chunk_size", "8"])
    proc = launch_predict(tmp_path, "--model_name_or_path", str(run), "--input_file", str(source),
                          "--output_file", str(tmp_path / "two.parquet"), "--chunk_size", "8")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "61 texts" in proc.stderr and "on 2 processes" in proc.stderr
    assert proc.stderr.count("backend: torch") == 1  # the main process speaks, once
    two, one = read_rows(tmp_path / "two.parquet"), read_rows(single)
    assert_same_rows(two, one)
    assert [row[0] for row in two[1:]] == [str(i) for i in range(61)]
    skipped = [row[8] for row in two[1:]]
    assert skipped.count("") < 61 and any(s.startswith("text shorter than 5") for s in skipped)


def wait_for(predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def test_a_killed_job_resumes_where_it_stopped(predict, run, tmp_path):
    """SIGKILL after the first chunks are recorded, junk appended to the partial file as a chunk cut
    short would leave it; a re-run refuses to start over, --resume with another threshold is refused,
    and --resume finishes the file byte for byte as an uninterrupted run writes it."""
    source = write_input(tmp_path / "in.csv", 4000)
    out = tmp_path / "out.csv"
    partial, progress = tmp_path / ".out.csv.partial", tmp_path / ".out.csv.progress.json"
    args = ["--model_name_or_path", str(run), "--input_file", str(source), "--output_file", str(out),
            "--chunk_size", "16"]
    proc = subprocess.Popen([sys.executable, str(SCRIPTS / "predict.py"), *args], cwd=ROOT, stderr=subprocess.PIPE,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})

    def some_done():
        try:
            return json.loads(progress.read_text())["rows_done"] >= 64
        except (OSError, ValueError):
            return False

    assert wait_for(some_done), proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads(progress.read_text())["rows_done"]
    assert 64 <= done < 4000 and not out.exists()
    with open(partial, "ab") as f:
        f.write(b"17,half a row")
    with pytest.raises(SystemExit):
        predict(args)  # without --resume: refused, nothing lost
    assert json.loads(progress.read_text())["rows_done"] == done
    with pytest.raises(SystemExit):
        predict([*args, "--resume", "--threshold", "0.7"])
    summary = predict([*args, "--resume"])
    assert summary["num_texts"] == 4000 and summary["num_scored"] == 4000 - done
    assert not partial.exists() and not progress.exists()
    predict(["--model_name_or_path", str(run), "--input_file", str(source), "--output_file",
             str(tmp_path / "clean.csv"), "--chunk_size", "16"])
    assert out.read_bytes() == (tmp_path / "clean.csv").read_bytes()
