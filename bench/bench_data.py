"""Materialise the benchmark settings as plain ``text,label`` CSV files.

Every benchmark in ``bench/`` reads the same three files per setting::

    <work_dir>/<setting>/train.csv
    <work_dir>/<setting>/valid.csv
    <work_dir>/<setting>/test.csv

with exactly two columns, ``text`` and ``label`` (the label is the dataset's
original string, e.g. ``REAL``/``FAKE``, ``pants-fire`` ... ``true``,
``real``/``fake``).  The raw data lives outside the repository (default
``../shared/data`` relative to the repo root, see its ``README.md`` and each
folder's ``PROVENANCE.md``); it is never copied into the repo, only the
derived CSVs are written under the (git-ignored) work dir ``bench/.work/``.

Settings
--------
``fakenews``    fake_or_real_news ``truncated128`` given splits (5,068/633/634),
                ``titletext`` -> ``text``.
``tutorial``    the tutorial's protocol on the same 6,335 articles: the three
                truncated128 splits concatenated, stratified
                ``train_test_split(train_size=0.10, random_state=1)``; the 10%
                part is split 80/20 (stratified, ``random_state=1``) into
                train/valid, the other 90% is test (506/127/5,702).
``liar``        LIAR, 6 classes, ``statement`` (column 3) only, given splits.
``constraint``  CONSTRAINT@AAAI-2021 COVID-19: ``Constraint_Train.csv`` /
                ``Constraint_Val.csv`` / ``english_test_with_labels.csv``,
                ``tweet`` -> ``text``.

The learning-curve settings (``sentence_benchmarks/`` of the shared data, see its PROVENANCE.md):
``mr``, ``subj``, ``trec``, ``sst2`` are the full given splits; ``<set>-250`` and ``<set>-1000``
keep a stratified sample of about that many train rows (``groupby(label).sample(frac,
random_state=1)``, as the PROVENANCE's TF-IDF numbers), with the given validation and test
splits unchanged.

CLI::

    python bench/bench_data.py [--settings fakenews liar ...] [--data_dir D] [--work_root W]
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`: make `bench.*` and `modeling` importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import csv
import os
import tempfile
from pathlib import Path

import pandas as pd

from bench.common import write_json

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
DEFAULT_WORK_ROOT = REPO_ROOT / "bench" / ".work"
SETTINGS = ("fakenews", "tutorial", "liar", "constraint")
CURVE_SETS = ("mr", "subj", "trec", "sst2")
CURVE_SIZES = (250, 1000, None)  # None: the full train split
CURVE_SETTINGS = tuple(s if n is None else f"{s}-{n}" for s in CURVE_SETS for n in CURVE_SIZES)
ALL_SETTINGS = SETTINGS + CURVE_SETTINGS
SPLITS = ("train", "valid", "test")


def _resolve(path, default: Path) -> Path:
    """Resolve ``path`` relative to the repo root (not the cwd); ``None`` -> ``default``."""
    if path is None:
        return default
    p = Path(path).expanduser()
    return p if p.is_absolute() else (REPO_ROOT / p).resolve()


def _require(*files: Path) -> None:
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            "Benchmark data not found: " + ", ".join(missing) + ". Pass --data_dir pointing at the "
            "shared data folder (the one holding fake_or_real_news/, liar/, constraint_covid19/; "
            f"default {DEFAULT_DATA_DIR})."
        )


def _clean(df: pd.DataFrame, text_col: str, label_col: str) -> pd.DataFrame:
    out = pd.DataFrame({"text": df[text_col].astype(str), "label": df[label_col].astype(str)})
    return out.reset_index(drop=True)


def _fakenews_splits(data_dir: Path) -> dict:
    base = data_dir / "fake_or_real_news" / "truncated128"
    files = {s: base / f"{s}.csv" for s in SPLITS}
    _require(*files.values())
    return {s: _clean(pd.read_csv(f), "titletext", "label") for s, f in files.items()}


def load_setting(setting: str, data_dir=None) -> dict:
    """Return ``{"train": df, "valid": df, "test": df}`` (columns ``text``, ``label``)."""
    data_dir = _resolve(data_dir, DEFAULT_DATA_DIR)
    if setting == "fakenews":
        return _fakenews_splits(data_dir)
    if setting == "tutorial":
        from sklearn.model_selection import train_test_split

        full = pd.concat(list(_fakenews_splits(data_dir).values()), ignore_index=True)
        small, test = train_test_split(
            full, train_size=0.10, random_state=1, stratify=full["label"]
        )
        train, valid = train_test_split(
            small, train_size=0.80, random_state=1, stratify=small["label"]
        )
        return {s: d.reset_index(drop=True) for s, d in zip(SPLITS, (train, valid, test))}
    if setting == "liar":
        files = {s: data_dir / "liar" / f"{s}.tsv" for s in SPLITS}
        _require(*files.values())
        out = {}
        for s, f in files.items():
            df = pd.read_csv(f, sep="\t", header=None, quoting=csv.QUOTE_NONE, dtype=str,
                             keep_default_na=False)
            out[s] = _clean(df, 2, 1)
        return out
    if setting == "constraint":
        base = data_dir / "constraint_covid19"
        files = {"train": base / "Constraint_Train.csv", "valid": base / "Constraint_Val.csv",
                 "test": base / "english_test_with_labels.csv"}
        _require(*files.values())
        return {s: _clean(pd.read_csv(f), "tweet", "label") for s, f in files.items()}
    name, _, size = setting.partition("-")
    if name in CURVE_SETS and (not size or size.isdigit()):
        base = data_dir / "sentence_benchmarks" / name
        files = {"train": base / "train.csv", "valid": base / "valid.csv", "test": base / "test.csv"}
        _require(*files.values())
        out = {s: _clean(pd.read_csv(f, dtype=str, keep_default_na=False), "text", "label")
               for s, f in files.items()}
        if size:
            train = out["train"]
            out["train"] = train.groupby("label").sample(frac=int(size) / len(train), random_state=1)
            out["train"] = out["train"].reset_index(drop=True)
        return out
    raise ValueError(f"unknown setting {setting!r}; choose from {ALL_SETTINGS}")


def materialize(setting: str, data_dir=None, work_dir=None) -> dict:
    """Write ``train.csv``/``valid.csv``/``test.csv`` for ``setting`` and return their paths.

    ``work_dir`` is the folder for this setting's files (default ``bench/.work/<setting>``);
    relative paths are resolved against the repo root.  Files are rewritten on every call
    (cheap, and it keeps them in sync with the code).
    """
    frames = load_setting(setting, data_dir)
    out_dir = _resolve(work_dir, DEFAULT_WORK_ROOT / setting)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, df in frames.items():
        path = out_dir / f"{split}.csv"
        fd, tmp = tempfile.mkstemp(prefix=f".{split}.", suffix=".tmp", dir=out_dir)
        os.close(fd)
        try:  # unique temp name + rename: concurrent benchmark runs never see a partial file
            df.to_csv(tmp, index=False)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        paths[split] = str(path)
    return paths


def quarter_validation(paths: dict, work_dir) -> dict:
    """``paths`` with the validation file sampled to a quarter of the train rows (stratified,
    ``random_state=1``): the validation split a user with that few labelled rows would have.
    Written as ``valid_quarter.csv`` beside the others."""
    train = pd.read_csv(paths["train"], dtype=str, keep_default_na=False)
    valid = pd.read_csv(paths["valid"], dtype=str, keep_default_na=False)
    frac = min(1.0, len(train) / 4 / len(valid))
    small = valid.groupby("label").sample(frac=frac, random_state=1).reset_index(drop=True)
    out = _resolve(work_dir, DEFAULT_WORK_ROOT) / "valid_quarter.csv"
    fd, tmp = tempfile.mkstemp(prefix=".valid_quarter.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    small.to_csv(tmp, index=False)
    os.replace(tmp, out)
    return {**paths, "valid": str(out)}


def summarize(paths: dict) -> dict:
    """Row counts and class balance of materialised files.

    Returns ``{split: {"rows": n, "labels": {label: count}}}``.
    """
    out = {}
    for split, path in paths.items():
        df = pd.read_csv(path, keep_default_na=False)
        out[split] = {"rows": len(df), "labels": df["label"].value_counts().to_dict()}
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=ALL_SETTINGS,
                    help="settings to materialise (default: all)")
    ap.add_argument("--data_dir", default=None,
                    help="shared data folder, relative to the repo root (default ../shared/data)")
    ap.add_argument("--work_root", "--work_dir", dest="work_root", default=None,
                    help="root for the per-setting folders (default bench/.work)")
    ap.add_argument("--output_dir", default="bench/results",
                    help="where datasets.json (counts and balance) is written")
    args = ap.parse_args(argv)

    root = _resolve(args.work_root, DEFAULT_WORK_ROOT)
    report = {}
    print("| setting | split | rows | class balance | file |")
    print("| --- | --- | --- | --- | --- |")
    for setting in args.settings:
        paths = materialize(setting, args.data_dir, root / setting)
        summ = summarize(paths)
        report[setting] = {"paths": paths, "splits": summ}
        for split in SPLITS:
            bal = ", ".join(f"{k} {v}" for k, v in sorted(summ[split]["labels"].items()))
            print(f"| {setting} | {split} | {summ[split]['rows']:,} | {bal} | {paths[split]} |")
    print(f"\nwrote {write_json(report, args.output_dir, 'datasets.json')}")


if __name__ == "__main__":
    main()
