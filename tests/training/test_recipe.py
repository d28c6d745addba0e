"""``modeling.training.train`` (the library call train.py runs), the HF example-script flags and their deprecated aliases."""

import json
import logging
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from safetensors.torch import load_file

import modeling
from modeling import BiLSTMForSequenceClassification
from modeling.data.checks import warn_if_one_batch_per_epoch, dataset_name_from_path, guess_language, unk_rate
from modeling.training.options import OPTION_ALIASES, REMOVED_IN, build_parser, default_options, parse_args
from modeling.training import TrainingInterrupted, train
from tests.conftest import FAKE_WORDS, FILLER, REAL_WORDS, make_article, write_csv

ROOT = Path(__file__).resolve().parents[2]
# Without pretrained vectors (tests/training/test_open_vocabulary.py covers the default that uses them).
TINY = dict(embedding_dim=8, hidden_size=8, dropout=0.0, learning_rate=0.01, per_device_train_batch_size=8,
            per_device_eval_batch_size=16, min_frequency=1, num_train_epochs=1, pretrained_embeddings="none")


def article_rows(n, seed=0, labels=("REAL", "FAKE")):
    rng = random.Random(seed)
    return [[labels[i % 2], make_article(rng, ("REAL", "FAKE")[i % 2], 25)] for i in range(n)]


@pytest.fixture
def news(tmp_path):
    return write_csv(tmp_path / "train.csv", ["label", "text"], article_rows(80))


def read_json(path):
    return json.loads(Path(path).read_text())


def test_train_takes_paths_and_the_options_of_train_py(news, tmp_path):
    out = tmp_path / "run"
    results = train(news, output_dir=str(out), max_steps=3, **TINY)
    assert results["global_step"] == 3 and results["train_samples"] == 72 and results["eval_samples"] == 8
    assert read_json(out / "training_args.json")["train_file"] == str(news)
    assert read_json(out / "run_status.json")["state"] == "finished"
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['num_epochs'\]"):
        train(news, output_dir=str(tmp_path / "x"), num_epochs=3)
    with pytest.raises(ValueError, match="--per_device_train_batch_size must be at least 1"):
        train(news, output_dir=str(tmp_path / "x"), per_device_train_batch_size=0)


def test_train_takes_datasets_objects_with_classlabel_labels(tmp_path):
    rows = article_rows(60, labels=(1, 0))  # ids of the ClassLabel below: REAL articles get id 1
    features = datasets.Features({"label": datasets.ClassLabel(names=["fake", "real"]), "text": datasets.Value("string")})
    ds = datasets.Dataset.from_dict({"label": [r[0] for r in rows], "text": [r[1] for r in rows]}, features=features)
    splits = ds.train_test_split(test_size=20, seed=0)
    out = tmp_path / "run"
    results = train(datasets.DatasetDict(train=splits["train"], validation=splits["test"]), output_dir=str(out),
                    **{**TINY, "num_train_epochs": 4})
    model = BiLSTMForSequenceClassification.from_pretrained(out)
    assert model.config.label_names == ["fake", "real"]  # the ClassLabel's order, not re-sorted
    assert results["train_samples"] == 40 and results["eval_samples"] == 20
    assert results["eval_accuracy"] >= 0.8  # the labels were mapped by name, not scrambled
    with pytest.raises(TypeError, match="datasets.Dataset"):
        train({"text": ["a"]}, output_dir=str(tmp_path / "y"))


def test_max_samples_logging_steps_and_save_total_limit(news, tmp_path, caplog):
    out = tmp_path / "run"
    with caplog.at_level(logging.INFO):
        results = train(news, output_dir=str(out), max_train_samples=40, max_eval_samples=5, logging_steps=2,
                        checkpointing_steps=1, save_total_limit=2, **{**TINY, "num_train_epochs": 2})
    assert results["train_samples"] == 40 and results["eval_samples"] == 5
    assert results["global_step"] == 10  # 40 examples / 8 per batch, 2 epochs
    logged = re.findall(r"Step (\d+): loss [\d.]+, learning_rate 0.01, epoch", caplog.text)
    assert logged == ["2", "4", "6", "8", "10"]
    assert sorted(p.name for p in out.glob("step_*")) == ["step_10", "step_9"]  # the newest two


def test_checkpoints_keep_the_newest_two_by_default_and_zero_keeps_all(news, tmp_path):
    """The default --save_total_limit is 2 (a run with --checkpointing_steps 1 once left one checkpoint
    per step); 0 keeps every one, as the HF Trainer's save_total_limit=None/0 does."""
    train(news, output_dir=str(tmp_path / "two"), checkpointing_steps=1, max_steps=5, no_baseline=True, **TINY)
    assert sorted(p.name for p in (tmp_path / "two").glob("step_*")) == ["step_4", "step_5"]
    train(news, output_dir=str(tmp_path / "all"), checkpointing_steps=1, max_steps=5, save_total_limit=0,
          no_baseline=True, **TINY)
    assert sorted(p.name for p in (tmp_path / "all").glob("step_*")) == [f"step_{n}" for n in range(1, 6)]
    with pytest.raises(ValueError, match="--save_total_limit must be at least 0, got -1"):
        train(news, output_dir=str(tmp_path / "x"), save_total_limit=-1)


def test_the_hf_trainer_flag_names_work_with_its_meaning():
    parser = build_parser()
    args = parser.parse_args(["--bf16", "--save_steps", "50", "--warmup_ratio", "0.1",
                              "--validation_split_percentage", "5", "--max_predict_samples", "7"])
    assert (args.train_precision, args.checkpointing_steps, args.warmup_ratio) == ("bf16", 50, 0.1)
    assert (args.validation_split_percentage, args.max_predict_samples, args.fp16) == (5, 7, False)
    assert parser.parse_args(["--fp16"]).fp16 and parser.parse_args([]).validation_split_percentage == 10
    with pytest.raises(ValueError, match="--fp16 and --bf16"):
        train(None, fp16=True, train_precision="bf16")
    with pytest.raises(ValueError, match=r"--warmup_ratio must be in \[0, 1\), got 1.5"):
        train(None, warmup_ratio=1.5)
    with pytest.raises(ValueError, match="--validation_split_percentage must be between 1 and 99, got 0"):
        train(None, validation_split_percentage=0)


def test_warmup_ratio_validation_split_percentage_and_max_predict_samples(news, tmp_path, caplog):
    """--warmup_ratio 0.5 of 8 steps warms up over 4 (HF: ceil(ratio x max_steps)); 20% of 80 rows held out;
    the test split cut to its first 5 rows."""
    test = write_csv(tmp_path / "test.csv", ["label", "text"], article_rows(30, seed=5))
    with caplog.at_level(logging.INFO):
        results = train(news, test_data=test, output_dir=str(tmp_path / "run"), lr_scheduler_type="constant_with_warmup",
                        warmup_ratio=0.5, max_steps=8, logging_steps=1, validation_split_percentage=20,
                        max_predict_samples=5, no_baseline=True, **TINY)
    rates = re.findall(r"Step \d+: loss [\d.]+, learning_rate ([\d.e-]+),", caplog.text)
    assert rates == ["0.005", "0.0075", "0.01", "0.01", "0.01", "0.01", "0.01", "0.01"]
    assert (results["train_samples"], results["eval_samples"], results["test_samples"]) == (64, 16, 5)


def test_fp16_runs_accelerates_fp16_mixed_precision(news, tmp_path):
    """--fp16 (a process of its own: Accelerate's precision is fixed once its state exists)."""
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "--train_file", str(news), "--output_dir",
                           str(out), "--fp16", "--max_steps", "2", "--no_baseline", "--embedding_dim", "8",
                           "--hidden_size", "8"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Mixed precision fp16 from --fp16 (training and evaluation)" in proc.stdout
    assert read_json(out / "all_results.json")["train_precision"] == "fp16"


def test_report_to_none_logs_nowhere(news, tmp_path):
    out = tmp_path / "run"
    train(news, output_dir=str(out), with_tracking=True, report_to="none", max_steps=2, **TINY)
    assert not (out / "runs").exists()


def test_model_name_or_path_continues_training_a_saved_model(news, tmp_path, caplog):
    base = tmp_path / "base"
    train(news, output_dir=str(base), max_steps=2, **{**TINY, "max_length": 40})
    more = write_csv(tmp_path / "more.csv", ["label", "text"], article_rows(40, seed=5) + [["REAL", "zebra " * 10]])
    out = tmp_path / "continued"
    with caplog.at_level(logging.WARNING):
        train(more, output_dir=str(out), model_name_or_path=str(base), max_steps=4,
              **{**TINY, "hidden_size": 99})
    assert "its architecture and tokenizer are kept, so --hidden_size, --max_length, --min_frequency are ignored" \
        in caplog.text
    assert (out / "tokenizer.json").read_bytes() == (base / "tokenizer.json").read_bytes()  # "zebra" not added
    assert read_json(out / "config.json") == read_json(base / "config.json")  # hidden_size 8, max_length 40
    before, after = load_file(base / "model.safetensors"), load_file(out / "model.safetensors")
    assert before.keys() == after.keys() and any((before[k] != after[k]).any() for k in before)
    satire = write_csv(tmp_path / "satire.csv", ["label", "text"], article_rows(20, labels=("REAL", "SATIRE")))
    with pytest.raises(ValueError, match=r"label\(s\) \['SATIRE'\] that the model does not know"):
        train(satire, output_dir=str(tmp_path / "bad"), model_name_or_path=str(base), **TINY)


def test_help_shows_every_default_once():
    """Every flag's help states its default once: "(default: X)" added, or said in the text already;
    none ("(default: None)") for a flag that is unset or off unless given."""
    entries, current = {}, None
    for line in build_parser().format_help().splitlines():
        match = re.match(r"^  (--\w+)", line)
        if match:
            current = match.group(1)
            entries[current] = ""
        if current and line.strip():
            entries[current] += " " + line.strip()
        elif not line.strip():
            current = None
    defaults = default_options()
    # all listed (--bf16 and --save_steps set train_precision and checkpointing_steps)
    assert {flag[2:] for flag in entries} - {"no_bidirectional", "bf16", *OPTION_ALIASES} == set(defaults)
    for flag, entry in entries.items():
        unset = defaults.get(flag[2:]) in (None, False)
        assert "(default: " in entry or unset or flag in ("--no_bidirectional", "--max_train_steps", "--bf16"), flag
        assert entry.count("(default:") <= 1 and "(default: None)" not in entry, flag
    # The switch that turns the default off does not claim the default for itself.
    assert entries["--no_bidirectional"].split() == ["--no_bidirectional", "Left-to-right", "only."]
    assert "(default: True)" in entries["--bidirectional"]
    assert "(default: outputs/bilstm)" in entries["--output_dir"] and "(default:" not in entries["--num_train_epochs"]
    assert "(default: 10)" in entries["--early_stopping_patience"]
    assert entries["--max_train_steps"].endswith("Deprecated spelling of --max_steps, removed in 0.3.0.")
    assert "(default: 0.001)" in entries["--learning_rate"] and "(default:" not in entries["--max_train_samples"]


# ----------------------------------------------------------------------------- deprecated aliases


def test_the_release_that_removes_the_aliases_is_still_ahead():
    assert tuple(map(int, REMOVED_IN.split("."))) > tuple(map(int, modeling.__version__.split(".")))


def test_max_train_steps_warns_and_means_max_steps(news, tmp_path):
    message = r"max_train_steps is deprecated and will be removed in 0\.3\.0; use {}max_steps instead"
    with pytest.warns(DeprecationWarning, match="^--" + message.format("--")) as record:
        args = parse_args(["--max_train_steps", "3"])
    assert args.max_steps == 3 and "max_train_steps" not in vars(args)
    assert record[0].filename == __file__  # the caller's line, not the library's
    with pytest.warns(DeprecationWarning, match="^" + message.format("")) as record, \
            pytest.raises(ValueError, match="--max_steps must be at least 1, got 0"):
        train(news, output_dir=str(tmp_path / "run"), max_train_steps=0, **TINY)
    assert record[0].filename == __file__
    # Run as a script, the warning is shown (Python's default filters show it for __main__ only).
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "--max_train_steps", "0"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"})
    assert done.returncode == 2 and "--max_steps must be at least 1, got 0" in done.stderr
    assert "DeprecationWarning: --max_train_steps is deprecated and will be removed in 0.3.0" in done.stderr


def test_modeling_trainer_warns_and_is_modeling_training(monkeypatch):
    monkeypatch.delitem(sys.modules, "modeling.trainer", raising=False)  # import it afresh
    with pytest.warns(DeprecationWarning, match=r"^modeling\.trainer is deprecated and will be removed in 0\.3\.0;"
                                                r" use modeling\.training instead") as record:
        import modeling.trainer
    assert record[0].filename == __file__
    assert modeling.trainer.train is train and modeling.trainer.TrainingInterrupted is TrainingInterrupted


# ----------------------------------------------------------------------------- warnings
def test_numbers_only_text_warns_about_the_vocabulary(tmp_path, caplog):
    rng = random.Random(0)
    rows = [[("REAL", "FAKE")[i % 2], " ".join(str(rng.randint(0, 10**6)) for _ in range(8))] for i in range(60)]
    data = write_csv(tmp_path / "numbers.csv", ["label", "text"], rows)
    with caplog.at_level(logging.WARNING):
        train(data, output_dir=str(tmp_path / "run"), max_steps=1, **{**TINY, "min_frequency": 3})
    assert "the vocabulary has only 0 words besides [PAD] and [UNK]" in caplog.text  # vocabulary of 2
    assert "100% of the train split's tokens are [UNK]" in caplog.text
    assert "check --text_column ('text') and --min_frequency (3)" in caplog.text


def test_chinese_text_warns_that_the_tokenizer_splits_on_whitespace(tmp_path, caplog):
    rng = random.Random(0)
    chars = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长"
    rows = [[("REAL", "FAKE")[i % 2], "".join(rng.choice(chars) for _ in range(30)) + "。"] for i in range(60)]
    data = write_csv(tmp_path / "zh.csv", ["label", "text"], rows)
    with caplog.at_level(logging.WARNING):
        train(data, output_dir=str(tmp_path / "run"), max_steps=1, **{**TINY, "min_frequency": 2})
    assert "of the train texts' characters are Chinese, Japanese, Thai" in caplog.text
    assert "the tokenizer splits words at whitespace and punctuation only" in caplog.text
    assert "segment the texts into space-separated words first" in caplog.text


def test_a_healthy_vocabulary_does_not_warn(news, tmp_path, caplog):
    rows = article_rows(300)
    data = write_csv(tmp_path / "big.csv", ["label", "text"], rows)
    with caplog.at_level(logging.WARNING):
        train(data, output_dir=str(tmp_path / "run"), max_steps=1, **TINY)
    assert len(set(REAL_WORDS + FAKE_WORDS + FILLER)) == 36  # a small vocabulary, but a usable one
    assert not [r for r in caplog.records if r.name == "modeling.data.checks"]


def test_unk_rate_counts_unknown_tokens():
    ds = datasets.Dataset.from_dict({"input_ids": [[1, 5, 1, 7], [3], []]})
    assert unk_rate(ds) == pytest.approx(2 / 5)
    assert unk_rate(ds.select([1, 2])) == 0.0  # an indices mapping is respected


def test_batch_larger_than_the_train_split_warns(news, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        results = train(news, output_dir=str(tmp_path / "run"), **{**TINY, "per_device_train_batch_size": 100})
    assert results["global_step"] == 1
    assert ("--per_device_train_batch_size 100 is larger than the train split (72 examples): each epoch is a"
            " single optimizer step") in caplog.text
    assert not warn_if_one_batch_per_epoch(36, 72, num_processes=2) and warn_if_one_batch_per_epoch(37, 72, num_processes=2)


def test_card_data_helpers():
    assert dataset_name_from_path("../shared/data/fake_or_real_news/train.csv") == "fake_or_real_news"
    assert dataset_name_from_path("reviews.csv") == dataset_name_from_path("data/reviews_train.csv") == "reviews"
    assert dataset_name_from_path("product_reviews.csv") == "product_reviews"
    assert guess_language(["The cat sat on the mat and it was happy."]) == "en"
    assert guess_language(["Der Hund und die Katze"]) is None


GOOD, BAD = ["good", "fun", "cool", "nice", "best", "warm"], ["bad", "dull", "poor", "sad", "mess", "ugly"]


def phrase_rows(n, seed):
    """Phrase-level sentiment rows: half single words (under 5 characters), half short phrases."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label, words = ("positive", GOOD) if i % 2 else ("negative", BAD)
        word = rng.choice(words)
        rows.append([label, word if i % 4 < 2 else f"a {word} film , {rng.choice(FILLER)} {word}"])
    return rows


def test_a_short_text_file_keeps_its_short_rows_and_every_test_row_is_scored(tmp_path, caplog):
    """train.py drops only empty texts by default, records its rule in config.json, and a
    labelled row that cannot be scored is counted in the results and the log, never silently."""
    files = {name: write_csv(tmp_path / f"{name}.csv", ["label", "text"], phrase_rows(n, seed))
             for name, n, seed in (("train", 64, 0), ("valid", 16, 1), ("test", 16, 2))}
    with open(files["test"], "a", encoding="utf-8") as f:
        f.write("positive,\n")  # a labelled row with an empty text: no model can score it
    out = tmp_path / "run"
    with caplog.at_level(logging.WARNING):
        results = train(files["train"], files["valid"], files["test"], output_dir=str(out), no_baseline=True, **TINY)
    assert results["train_samples"] == 64 and results["eval_samples"] == 16 and results["eval_unscored_samples"] == 0
    assert results["test_samples"] == 16 and results["test_unscored_samples"] == 1
    assert read_json(out / "config.json")["min_text_chars"] == 1
    assert read_json(out / "eval_results.json")["num_unscored"] == 1
    assert read_json(out / "all_results.json")["test_unscored_samples"] == 1
    assert ("test.csv: 1 of 17 labelled rows are not scored: they are empty texts (min_text_chars 1), which the model"
            " gives no label; the scores cover the other 16") in caplog.text
    model = BiLSTMForSequenceClassification.from_pretrained(out)
    assert all(p["label"] for p in model.predict(["bad", "fun"])) and model.predict("  ")["label"] is None

    # The tutorial's rule, asked for: the single words leave every split, and the results say so.
    out5 = tmp_path / "run5"
    results = train(files["train"], files["valid"], files["test"], output_dir=str(out5), no_baseline=True,
                    min_text_chars=5, **TINY)
    assert results["train_samples"] == 32 and results["eval_samples"] == 8 and results["eval_unscored_samples"] == 8
    assert results["test_samples"] == 8 and results["test_unscored_samples"] == 9
    assert read_json(out5 / "config.json")["min_text_chars"] == 5
    assert BiLSTMForSequenceClassification.from_pretrained(out5).predict("fun")["label"] is None


def test_a_run_leaves_out_rows_without_a_label_and_says_how_many(tmp_path, caplog):
    """A user's export with a few empty labels trains on the labelled rows and scores the labelled
    test rows; a warning per file counts the rows left out."""
    rows = article_rows(80)
    train_rows = rows[:60] + [["", "an article nobody labelled"], [" ", "another one"]]
    test_rows = rows[60:] + [["", "a test article nobody labelled"]]
    train_path = write_csv(tmp_path / "train.csv", ["label", "text"], train_rows)
    test_path = write_csv(tmp_path / "test.csv", ["label", "text"], test_rows)
    with caplog.at_level(logging.WARNING):
        results = train(train_path, test_data=test_path, output_dir=str(tmp_path / "run"), max_steps=2,
                        no_baseline=True, **TINY)
    assert results["train_samples"] + results["eval_samples"] == 60 and results["test_samples"] == 20
    assert f"{train_path}: 2 of 62 rows left out: no label in column 'label' (first: row 62)" in caplog.text
    assert f"{test_path}: 1 of 21 rows left out: no label in column 'label' (first: row 22)" in caplog.text
