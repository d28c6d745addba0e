"""Small models trained briefly on real data, saved as a push would upload them (for the interop tests).

``binary``: fake_or_real_news ``truncated128`` (REAL/FAKE, one logit, max pooling);
``multiclass``: LIAR's six labels (softmax, two layers, ``last_max`` pooling). The models train a
few dozen steps only: enough that their probabilities differ from text to text and both kinds of
label occur, which is what the comparisons need.
"""

import csv
from pathlib import Path

import pytest
import torch

from modeling import BiLSTMConfig, BiLSTMForSequenceClassification, train_tokenizer
from modeling.inference import pad_sequences

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FAKE_NEWS = SHARED / "fake_or_real_news"
LIAR = SHARED / "liar"
LIAR_LABELS = ["pants-fire", "false", "barely-true", "half-true", "mostly-true", "true"]


def read_fake_news(split, full_text=False):
    """(texts, labels) of a fake_or_real_news split; ``full_text`` reads the untruncated valid/test text."""
    folder = FAKE_NEWS / ("fulltext_valid_test" if full_text else "truncated128")
    path = folder / f"{split}.csv"
    if not path.is_file():
        pytest.skip(f"real data not found at {path}")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["titletext"] for r in rows], [r["label"] for r in rows]


def read_liar(split):
    path = LIAR / f"{split}.tsv"
    if not path.is_file():
        pytest.skip(f"real data not found at {path}")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r[2] for r in rows], [r[1] for r in rows]


def train_briefly(texts, labels, label_names, *, max_length, steps=40, seed=0, **config):
    """A model with a tokenizer fitted on ``texts``, trained ``steps`` Adam steps of 32 texts."""
    tokenizer = train_tokenizer(texts, min_frequency=3, max_length=max_length)
    config = BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), label_names=label_names, max_length=max_length,
                          **{"embedding_dim": 32, "hidden_size": 16, **config})
    torch.manual_seed(seed)
    model = BiLSTMForSequenceClassification(config)
    model.tokenizer = tokenizer
    encodings = tokenizer.encode_batch(texts)
    targets = torch.tensor([label_names.index(label) for label in labels])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        batch = torch.randint(len(texts), (32,), generator=generator).tolist()
        input_ids, mask = pad_sequences([encodings[i].ids for i in batch])
        loss = model(input_ids, mask, labels=targets[batch]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def binary_model():
    texts, labels = read_fake_news("train")
    return train_briefly(texts[:2000], labels[:2000], ["REAL", "FAKE"], max_length=128)


def multiclass_model():
    texts, labels = read_liar("train")
    return train_briefly(texts[:4000], labels[:4000], LIAR_LABELS, max_length=48, num_layers=2, steps=150,
                         pooling="last_max")


def eval_texts(kind, n=60):
    """``n`` held-out real texts: full-length fake_or_real_news test articles (longer than the model
    reads, so truncation is exercised) or LIAR test statements."""
    texts = read_fake_news("test", full_text=True)[0] if kind == "binary" else read_liar("test")[0]
    return texts[:n]
