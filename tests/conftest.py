"""Shared fixtures: small CSVs written for the tests, tiny tokenizers and models."""

import csv
import os
import random

import pytest
import torch

# Tiny models gain nothing from two threads, and a second OpenMP thread competing with
# another process (a DDP rank, a parallel job) can slow a step a hundredfold.
torch.set_num_threads(1)

# Keep the tests offline and out of the user's caches.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REAL_WORDS = "senate budget committee report economy minister policy vote agreement official".split()
FAKE_WORDS = "shocking secret exposed hoax miracle conspiracy truth banned elite cover".split()
FILLER = "the a of and to in is that for on with as it was by this".split()


def make_article(rng, label, n_words):
    """A synthetic article whose class shows in its vocabulary."""
    own = REAL_WORDS if label == "REAL" else FAKE_WORDS
    words = [rng.choice(own) if rng.random() < 0.3 else rng.choice(FILLER) for _ in range(n_words)]
    return " ".join(words)


def write_csv(path, header, rows):
    """Write ``rows`` under ``header`` as a UTF-8 CSV and return the path."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_news_csv(path, n_rows=120, seed=0, short_rows=0):
    """Write a Kaggle-shaped CSV (id, title, text, label); ``short_rows`` get a text under 5 chars."""
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "title", "text", "label"])
        for i in range(n_rows):
            label = "REAL" if i % 2 == 0 else "FAKE"
            text = "abc" if i < short_rows else make_article(rng, label, rng.randint(20, 60))
            writer.writerow([i, make_article(rng, label, 5).title(), text, label])
    return path


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path_factory, monkeypatch):
    """Point the datasets cache at a per-session temp dir so tests never touch ~/.cache."""
    cache = tmp_path_factory.getbasetemp() / "hf_datasets_cache"
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)


@pytest.fixture
def news_csv(tmp_path):
    return write_news_csv(tmp_path / "news.csv", n_rows=120, short_rows=4)


@pytest.fixture
def article_texts():
    rng = random.Random(1)
    return [make_article(rng, "REAL" if i % 2 else "FAKE", 30) for i in range(60)]


@pytest.fixture
def fake_news_dir():
    """``../shared/data/fake_or_real_news/truncated128`` (real data); the test skips where it is absent."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "fake_or_real_news" / "truncated128"
    if not (path / "train.csv").is_file():
        pytest.skip(f"real data not found at {path}")
    return path


def real_articles(fake_news_dir, n_rows=240):
    """``n_rows`` real articles of the truncated128 train split (classes alternating) as a pandas
    frame shaped like Kaggle's fake_or_real_news.csv: an id index, then title, text, label. The
    copy here holds title + text joined, so the first 8 words stand in for the title."""
    import pandas as pd

    frame = pd.read_csv(fake_news_dir / "train.csv", keep_default_na=False)
    per_class = [frame[frame["label"] == name].head(n_rows // 2) for name in ("REAL", "FAKE")]
    rows = pd.concat(per_class).sort_index(kind="stable")
    words = rows["titletext"].str.split()
    out = pd.DataFrame({"title": words.str[:8].str.join(" "), "text": words.str[8:].str.join(" "),
                        "label": rows["label"]})
    out.index = [8476 + 7 * i for i in range(len(out))]  # ids, as the Kaggle file's index holds
    return out


@pytest.fixture
def kaggle_frame(fake_news_dir):
    return real_articles(fake_news_dir)
