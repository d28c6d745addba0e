"""One table from several ``bench_accuracy.py --tag`` runs: each variant's validation loss (what
choices are made on), test accuracy (for the record), coverage of the pretrained vectors and train time.

    python bench/compare_variants.py bench/results/accuracy_defaults.json bench/results/accuracy_glove_ft.json ...
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`: make `bench.*` importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
from pathlib import Path

from bench.common import fmt_mean_sd, mean_sd

HEADER = ("| setting | variant | extra train.py flags | seeds | best valid loss per seed (mean) "
          "| test acc per seed (mean ± sd) | vocab / token coverage | train s (mean) |")


def variant_rows(report) -> dict:
    """``{setting: [bilstm rows sorted by seed]}`` of one accuracy report."""
    by_setting = {}
    for row in report["rows"]:
        if row["model"] == "bilstm":
            by_setting.setdefault(row["setting"], []).append(row)
    return {s: sorted(rs, key=lambda r: r["seed"]) for s, rs in by_setting.items()}


def table_lines(reports, digits=3) -> list:
    lines = [HEADER, "|" + " --- |" * HEADER.count(" | ") + " --- |"]
    entries = []
    for report in reports:
        for setting, rows in variant_rows(report).items():
            entries.append((setting, report.get("tag") or "defaults", " ".join(report.get("train_args") or []), rows))
    order = {s: i for i, s in enumerate(("fakenews", "tutorial", "liar", "constraint"))}
    for setting, tag, flags, rows in sorted(entries, key=lambda e: order.get(e[0], 9)):
        losses = [r["valid_loss"] for r in rows]
        accs = [r["accuracy"] for r in rows]
        cov = ""
        if all("pretrained_embeddings_vocab_coverage" in r for r in rows):
            vocab = mean_sd(r["pretrained_embeddings_vocab_coverage"] for r in rows)[0]
            tokens = mean_sd(r["pretrained_embeddings_token_coverage"] for r in rows)[0]
            cov = f"{vocab:.1%} / {tokens:.1%}"
        lines.append(
            f"| {setting} | {tag} | {('`' + flags + '`') if flags else '–'} | {', '.join(str(r['seed']) for r in rows)} "
            f"| {' / '.join(f'{x:.{digits}f}' for x in losses)} (**{mean_sd(losses)[0]:.{digits}f}**) "
            f"| {' / '.join(f'{x:.4f}' for x in accs)} ({fmt_mean_sd(accs)}) | {cov} "
            f"| {mean_sd(r['train_s'] for r in rows)[0]:.1f} |")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("reports", nargs="+", type=Path, help="accuracy_<tag>.json files of bench_accuracy.py")
    args = ap.parse_args(argv)
    reports = [json.loads(p.read_text()) for p in args.reports]
    print("\n".join(table_lines(reports)))


if __name__ == "__main__":
    main()
