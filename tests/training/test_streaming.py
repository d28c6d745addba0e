"""train.py --streaming: the train file as a stream (no Arrow cache), early stopping by steps, exact
resume, the batches of each process, and one error for each option that cannot stream."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from modeling.data.files import stream_table
from modeling.data.stream_training import TrainStream, scan_train_stream
from modeling.tokenizer import train_tokenizer
from modeling.training.options import check_streaming, default_options
from tests.conftest import write_news_csv
from tests.test_scripts import ROOT, SCRIPTS, TINY, free_port, load_script


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream_data")
    return (write_news_csv(root / "train.csv", n_rows=301, seed=0, short_rows=3),
            write_news_csv(root / "valid.csv", n_rows=40, seed=1), write_news_csv(root / "test.csv", n_rows=40, seed=2))


@pytest.fixture(scope="module")
def train():
    return load_script("train").main


def stream_args(files, out, *extra):
    train_file, valid, test = files
    return ["--train_file", str(train_file), "--validation_file", str(valid), "--test_file", str(test),
            "--output_dir", str(out), "--streaming", "--no_baseline", *TINY, *extra]


def cached_row_counts(cache):
    """The row count of every table in the ``datasets`` Arrow cache."""
    import pyarrow as pa

    counts = []
    for path in cache.rglob("*.arrow"):
        with pa.memory_map(str(path)) as source:
            counts.append(pa.ipc.open_stream(source).read_all().num_rows)
    return counts


def test_a_streaming_run_trains_early_stops_and_resumes_exactly(train, files, tmp_path, monkeypatch):
    """Early stopping ends a streaming run at an evaluation; the run resumed from a checkpoint before
    it evaluates, stops and ends with exactly the uninterrupted run's history and weights. The train
    file never reaches the Arrow cache (validation and test are read as usual)."""
    cache = tmp_path / "datasets_cache"
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    options = ["--max_steps", "200", "--eval_steps", "5", "--early_stopping_patience", "2", "--min_steps", "0",
               "--learning_rate", "0.05", "--checkpointing_steps", "5", "--save_total_limit", "0"]
    full = train(stream_args(files, tmp_path / "full", *options))
    assert full["stop_reason"] == "early_stopping" and full["global_step"] < 200
    assert full["train_samples"] == 301 and full["test_samples"] == 40
    history = json.loads((tmp_path / "full" / "metrics.json").read_text())
    assert history["global_steps_list"] == list(range(5, full["global_step"] + 1, 5))
    # 301 rows / 16 per batch: 19 steps a pass, so the run went round the file more than once when it
    # stopped after step 19; the pass count is the state's epoch.
    state = json.loads((tmp_path / "full" / f"step_{full['global_step']}" / "trainer_state.json").read_text())
    assert state["state"]["epoch"] == (full["global_step"] - 1) // 19
    assert cached_row_counts(cache) and max(cached_row_counts(cache)) <= 40  # validation and test: 40 rows each
    checkpoint = tmp_path / "full" / "step_10"
    resumed = train(stream_args(files, tmp_path / "resumed", *options, "--resume_from_checkpoint", str(checkpoint)))
    for key in ("global_step", "best_global_step", "stop_reason", "eval_loss", "test_accuracy", "train_loss"):
        assert resumed[key] == full[key], key
    assert json.loads((tmp_path / "resumed" / "metrics.json").read_text())["valid_loss_list"] == history["valid_loss_list"]
    a, b = load_file(tmp_path / "full" / "model.safetensors"), load_file(tmp_path / "resumed" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_cached_and_streamed_runs_see_the_same_examples(files, tmp_path):
    """One pass of the stream gives every kept row once: over 2 processes their union is the file's
    rows, each process's batches are length-grouped, and the passes differ in order only."""
    table = stream_table(files[0])
    scan = scan_train_stream(table, min_text_chars=5, first_n_words=30)
    tokenizer = train_tokenizer(scan, 1, 30)
    assert scan.finish() == ["REAL", "FAKE"] and (scan.rows_read, scan.rows_kept) == (301, 298)  # 3 texts "abc"
    seen = []
    for rank in (0, 1):
        stream = TrainStream(table, scan.rules, tokenizer, 8, seed=3, rank=rank, world_size=2)
        batches = iter(stream)
        first_pass = []
        while stream.position["epoch"] == 0:
            first_pass.append(next(batches))
        seen += [tuple(ids[mask.bool()].tolist()) for b in first_pass[:-1]
                 for ids, mask in zip(b["input_ids"], b["attention_mask"])]
        last = first_pass[-1]  # the second pass's first batch: the same rows come round again
        assert stream.position == {"epoch": 1, "stream_state": None, "buffer": 0, "batches_done": 1}
        assert last["input_ids"].size(0) == 8
    expected = sorted(tuple(e.ids) for e in tokenizer.encode_batch(list(scan_texts(table, scan))))
    assert sorted(seen) == expected


def scan_texts(table, scan):
    from modeling.data.files import string_batch

    for batch in table.dataset().with_format("arrow").iter(batch_size=1000):
        yield from scan.rules.clean(string_batch(batch, table.columns, table.path))[0]


@pytest.mark.parametrize("options, message", [
    ({"train_file": None}, "--streaming reads --train_file"),
    ({"validation_file": None}, "--streaming needs --validation_file"),
    ({"checkpointing_steps": "epoch"}, "--checkpointing_steps epoch: a stream's epochs end"),
    ({"pretrained_embeddings": "glove-6b-50d"}, "--pretrained_embeddings picks vectors"),
    ({"model_name_or_path": "outputs/x"}, "--model_name_or_path with --streaming is not supported"),
    ({"tokenizer_train_samples": 100, "max_steps": 10}, "give --eval_steps"),
    ({"tokenizer_train_samples": 100, "num_train_epochs": 2, "max_steps": 5, "eval_steps": 5},
     "instead of --num_train_epochs"),
    ({"streaming": False, "tokenizer_train_samples": 100}, "--tokenizer_train_samples needs --streaming"),
])
def test_each_option_that_cannot_stream_is_one_error(options, message):
    args = {**default_options(), "streaming": True, "train_file": "t.csv", "validation_file": "v.csv", **options}
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        check_streaming(args.get)


def test_a_sampled_vocabulary_trains_by_steps(train, files, tmp_path):
    results = train(stream_args(files, tmp_path / "out", "--tokenizer_train_samples", "100", "--max_steps", "6",
                                "--eval_steps", "3"))
    assert results["global_step"] == 6 and results["train_samples"] == 100  # the rows the fitting pass kept
    # --max_train_samples alone reads every row training uses: the epoch's length is known
    results = train(stream_args(files, tmp_path / "first", "--max_train_samples", "64", "--num_train_epochs", "2"))
    assert results["train_samples"] == 64 and results["global_step"] == 8  # 2 epochs of 4 batches of 16


def test_two_processes_stream_their_shares(files, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(free_port()), str(SCRIPTS / "train.py"),
               *stream_args(files, out, "--max_steps", "12", "--eval_steps", "6", "--checkpointing_steps", "6")]
    proc = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "all_results.json").read_text())
    assert results["global_step"] == 12 and results["eval_samples"] == 40
    positions = json.loads((out / "step_12" / "trainer_state.json").read_text())["state"]["stream_positions"]
    # 301 rows: 151 and 150 per process, 10 batches of 16 a pass each; 12 steps are one pass and 2 batches
    assert [(p["epoch"], p["batches_done"]) for p in positions] == [(1, 2), (1, 2)]
