"""Write ``data/demo.csv``: a small SYNTHETIC news-like data set that only shows the workflow.

    python scripts/make_demo_data.py                   # rewrites data/demo.csv (deterministic)
    python scripts/make_demo_data.py --rows 1000 --output_file /tmp/demo.csv

Every article is random words: a shared pool of news filler plus a few cue words that lean
towards one class ("according", "statement", "percent" for REAL; "shocking", "hoax", "exposed"
for FAKE), with some cues from the other class and 5% flipped labels, so a model learns it
quickly but not perfectly. The texts mean nothing; scores on it say nothing about real news.
Columns as in the Kaggle fake_or_real_news.csv: id, title, text, label (REAL/FAKE).
"""

import argparse
import csv
import random
from pathlib import Path

from modeling.utils import atomic_path

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "data" / "demo.csv"

FILLER = """the a of and to in on for with at by from that this it is was were has have had will would
could about after over into more new year week day people government president state city country
police school health company market election report news minister officials public law court
money workers families children women men water energy plan program policy office leaders group
local national world federal campaign vote voters party house senate members bill tax budget
""".split()
CUES = {
    "REAL": """said according statement percent spokesperson confirmed announced analysts data survey
    estimated agency quarterly researchers published committee tuesday wednesday thursday monday
    reported interview figures official review""".split(),
    "FAKE": """shocking exposed secret truth hoax cover-up elites mainstream bombshell unbelievable
    banned insiders globalist miracle wake deleted share censored rigged scandal destroy outrage
    agenda hidden""".split(),
}
CUE_RATE, CROSS_RATE, FLIP_RATE = 0.2, 0.05, 0.05


def make_sentence(rng, label, n_words):
    other = "FAKE" if label == "REAL" else "REAL"
    words = []
    for _ in range(n_words):
        r = rng.random()
        pool = CUES[label] if r < CUE_RATE else CUES[other] if r < CUE_RATE + CROSS_RATE else FILLER
        words.append(rng.choice(pool))
    return " ".join(words).capitalize() + "."


def make_rows(n_rows, seed=0):
    """``n_rows`` dicts with id, title, text, label; the same rows for the same seed."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_rows):
        label = rng.choice(["REAL", "FAKE"])
        title = make_sentence(rng, label, rng.randint(6, 10)).rstrip(".").title()
        text = " ".join(make_sentence(rng, label, rng.randint(8, 16)) for _ in range(rng.randint(2, 5)))
        if rng.random() < FLIP_RATE:
            label = "FAKE" if label == "REAL" else "REAL"
        rows.append({"id": 1000 + i, "title": title, "text": text, "label": label})
    return rows


def write_csv(rows, path):
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "title", "text", "label"])
        writer.writeheader()
        writer.writerows(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_file", type=Path, default=DEFAULT_OUTPUT, help="Where to write the CSV.")
    parser.add_argument("--rows", type=int, default=1000, help="Number of articles (default: %(default)s).")
    parser.add_argument("--seed", type=int, default=0, help="Random seed (default: %(default)s).")
    args = parser.parse_args(argv)
    write_csv(make_rows(args.rows, args.seed), args.output_file)
    print(f"wrote {args.rows} synthetic rows to {args.output_file}")


if __name__ == "__main__":
    main()
