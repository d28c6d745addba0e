"""A naive reference BiLSTM, written the way the torchtext-era tutorial does it (speed reference).

"LSTM Text Classification Using Pytorch" (the tutorial this project grew from) trains::

    Embedding(vocab, 300) -> LSTM(300, 128, 1 layer, batch_first, bidirectional)
    -> pack_padded_sequence (per batch, enforce_sorted=False) -> pad_packed_sequence
    -> out_forward = output[range(B), len - 1, :H]; out_reverse = output[:, 0, H:]
    -> cat -> Dropout(0.5) -> Linear(2H, 1) -> sigmoid, BCELoss, Adam(lr=1e-3)

with batch size 32 and a validation pass twice per epoch.  This file reproduces that loop with
plain PyTorch (no torchtext): a lower-cased regex tokenizer (``\\w+`` runs and single
punctuation marks), a vocabulary of train words seen at least 3 times (plus ``<pad>``/``<unk>``),
texts cut to ``max_length`` tokens, randomly shuffled batches padded per batch (no length
grouping), and the best-validation-loss weights kept in memory (the tutorial saves them to disk).
It is only a speed/accuracy reference for the training-speed ratio; binary labels only.

Timing (all in seconds, ``time.perf_counter``): ``prep_s`` tokenising + vocabulary + ids;
``train_s`` the optimisation steps only; ``eval_s`` the validation passes; ``wall_s`` the whole
training loop (train + eval).  ``samples_per_s = epochs * n_train / train_s``.

CLI::

    python bench/reference_bilstm.py --setting fakenews --epochs 10
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`: make `bench.*` and `modeling` importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import copy
import json
import os
import re
import time
from collections import Counter

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list:
    """Lower-cased words and single punctuation marks."""
    return TOKEN_RE.findall(str(text).lower())


def build_vocab(token_lists, min_count=3) -> dict:
    """``{token: id}`` with ``<pad>``=0, ``<unk>``=1, then tokens seen ``min_count``+ times."""
    counts = Counter(tok for toks in token_lists for tok in toks)
    vocab = {"<pad>": 0, "<unk>": 1}
    for tok, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if n >= min_count:
            vocab[tok] = len(vocab)
    return vocab


def numericalize(token_lists, vocab, max_length) -> list:
    """Token ids cut to ``max_length``; an empty text becomes ``[<unk>]`` (packing needs len 1+)."""
    return [[vocab.get(t, 1) for t in toks[:max_length]] or [1] for toks in token_lists]


class TutorialLSTM(nn.Module):
    """The tutorial's model, unchanged apart from the vocabulary size argument."""

    def __init__(self, vocab_size, embedding_dim=300, hidden_size=128):
        super().__init__()
        self.dimension = hidden_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(input_size=embedding_dim, hidden_size=hidden_size, num_layers=1,
                            batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(p=0.5)
        self.fc = nn.Linear(2 * hidden_size, 1)

    def forward(self, text, text_len):
        text_emb = self.embedding(text)
        packed = pack_padded_sequence(text_emb, text_len, batch_first=True, enforce_sorted=False)
        packed_output, _ = self.lstm(packed)
        output, _ = pad_packed_sequence(packed_output, batch_first=True)
        out_forward = output[range(len(output)), text_len - 1, : self.dimension]
        out_reverse = output[:, 0, self.dimension:]
        text_fea = self.drop(torch.cat((out_forward, out_reverse), 1))
        return torch.sigmoid(torch.squeeze(self.fc(text_fea), 1))


def _batch(ids, labels, idx):
    """Pad the examples ``idx`` to the longest one in the batch (as torchtext does)."""
    seqs = [ids[i] for i in idx]
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    text = torch.zeros(len(seqs), int(lengths.max()), dtype=torch.long)
    for row, s in enumerate(seqs):
        text[row, : len(s)] = torch.tensor(s, dtype=torch.long)
    return text, lengths, torch.tensor([labels[i] for i in idx], dtype=torch.float)


@torch.no_grad()
def _evaluate(model, ids, labels, batch_size, criterion):
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, len(ids), batch_size):
        text, lengths, y = _batch(ids, labels, range(start, min(start + batch_size, len(ids))))
        out = model(text, lengths)
        loss_sum += criterion(out, y).item() * len(y)
        correct += int(((out > 0.5).float() == y).sum())
    model.train()
    return loss_sum / len(ids), correct / len(ids)


def train_reference(train_texts, train_labels, valid_texts, valid_labels, epochs=10, batch_size=32,
                    embedding_dim=300, hidden_size=128, max_length=128, seed=1, threads=None,
                    log=None) -> dict:
    """Train the tutorial BiLSTM and return timings and validation results.

    Labels may be any two distinct values; the sorted first one maps to 0 (e.g. ``FAKE``=0,
    ``REAL``=1).  ``threads`` sets ``torch.set_num_threads`` for the call (restored after).
    Returns ``wall_s``, ``train_s``, ``eval_s``, ``prep_s``, ``samples_per_s``,
    ``wall_samples_per_s``, ``valid_accuracy`` / ``valid_loss`` (final weights),
    ``best_valid_loss`` / ``best_valid_accuracy`` (weights with the lowest validation loss,
    the tutorial's checkpoint), ``history`` and sizes.
    """
    classes = sorted(set(train_labels))
    if len(classes) != 2:
        raise ValueError(f"the reference BiLSTM is binary; got {len(classes)} classes: {classes}")
    to_id = {c: i for i, c in enumerate(classes)}
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        train_tok = [tokenize(t) for t in train_texts]
        vocab = build_vocab(train_tok)
        train_ids = numericalize(train_tok, vocab, max_length)
        valid_ids = numericalize([tokenize(t) for t in valid_texts], vocab, max_length)
        y_train = [to_id[label] for label in train_labels]
        y_valid = [to_id[label] for label in valid_labels]
        prep_s = time.perf_counter() - t0

        model = TutorialLSTM(len(vocab), embedding_dim, hidden_size)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        criterion = nn.BCELoss()
        gen = torch.Generator().manual_seed(seed)
        n_batches = (len(train_ids) + batch_size - 1) // batch_size
        eval_every = max(1, n_batches // 2)
        best = {"loss": float("inf"), "accuracy": None, "state": None}
        history, train_s, eval_s, step = [], 0.0, 0.0, 0
        model.train()
        wall0 = time.perf_counter()
        for epoch in range(epochs):
            order = torch.randperm(len(train_ids), generator=gen).tolist()
            running = 0.0
            for b in range(n_batches):
                t1 = time.perf_counter()
                idx = order[b * batch_size:(b + 1) * batch_size]
                text, lengths, y = _batch(train_ids, y_train, idx)
                loss = criterion(model(text, lengths), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                running += loss.item()
                step += 1
                train_s += time.perf_counter() - t1
                if step % eval_every == 0:
                    t2 = time.perf_counter()
                    v_loss, v_acc = _evaluate(model, valid_ids, y_valid, batch_size, criterion)
                    if v_loss < best["loss"]:
                        best = {"loss": v_loss, "accuracy": v_acc,
                                "state": copy.deepcopy(model.state_dict())}
                    eval_s += time.perf_counter() - t2
                    history.append({"epoch": epoch + 1, "step": step,
                                    "train_loss": running / (b + 1), "valid_loss": v_loss,
                                    "valid_accuracy": v_acc})
                    if log:
                        log(f"  epoch {epoch + 1}/{epochs} step {step}: train loss "
                            f"{running / (b + 1):.4f}  valid loss {v_loss:.4f}  acc {v_acc:.4f}")
        wall_s = time.perf_counter() - wall0
        v_loss, v_acc = _evaluate(model, valid_ids, y_valid, batch_size, criterion)
        seen = epochs * len(train_ids)
        return {
            "wall_s": wall_s, "train_s": train_s, "eval_s": eval_s, "prep_s": prep_s,
            "samples_per_s": seen / train_s if train_s else float("nan"),
            "wall_samples_per_s": seen / wall_s if wall_s else float("nan"),
            "valid_accuracy": v_acc, "valid_loss": v_loss,
            "best_valid_loss": best["loss"], "best_valid_accuracy": best["accuracy"],
            "epochs": epochs, "batch_size": batch_size, "n_train": len(train_ids),
            "n_valid": len(valid_ids), "vocab_size": len(vocab),
            "mean_train_tokens": sum(map(len, train_ids)) / len(train_ids),
            "n_parameters": sum(p.numel() for p in model.parameters()),
            "threads": torch.get_num_threads(), "classes": classes, "history": history,
        }
    finally:
        torch.set_num_threads(old_threads)


def main(argv=None) -> None:
    from bench.bench_data import REPO_ROOT, SETTINGS, _resolve, materialize
    from bench.peers import read_split

    ap = argparse.ArgumentParser(description="Time the tutorial-style reference BiLSTM.")
    ap.add_argument("--setting", default="fakenews", choices=[s for s in SETTINGS if s != "liar"],
                    help="binary benchmark setting")
    ap.add_argument("--epochs", type=int, default=10, help="training epochs (tutorial: 10)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 epoch (overrides --epochs)")
    ap.add_argument("--batch_size", type=int, default=32, help="batch size (tutorial: 32)")
    ap.add_argument("--max_length", type=int, default=128, help="tokens kept per text")
    ap.add_argument("--seed", type=int, default=1, help="torch seed (init, dropout, shuffling)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--data_dir", default=None, help="shared data folder (default ../shared/data)")
    ap.add_argument("--output_dir", default="bench/results",
                    help="folder for the JSON result (relative to the repo root)")
    args = ap.parse_args(argv)
    epochs = 1 if args.quick else args.epochs

    paths = materialize(args.setting, args.data_dir)
    (tr_x, tr_y), (va_x, va_y) = read_split(paths["train"]), read_split(paths["valid"])
    res = train_reference(tr_x, tr_y, va_x, va_y, epochs=epochs, batch_size=args.batch_size,
                          max_length=args.max_length, seed=args.seed, threads=args.threads,
                          log=print)
    res.update(setting=args.setting, torch=torch.__version__,
               load_avg_1m_at_end=os.getloadavg()[0], cpu_count=os.cpu_count())
    print("\n| setting | epochs | threads | wall (s) | train (s) | samples/s | valid acc (final) "
          "| valid acc (best loss) |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {args.setting} | {epochs} | {res['threads']} | {res['wall_s']:.1f} | "
          f"{res['train_s']:.1f} | {res['samples_per_s']:.1f} | {res['valid_accuracy']:.4f} | "
          f"{res['best_valid_accuracy']:.4f} |")
    out_dir = _resolve(args.output_dir, REPO_ROOT / "bench" / "results")
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"reference_bilstm_{args.setting}_e{epochs}.json"
    out.write_text(json.dumps(res, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
