"""Clean a raw labelled CSV and split it into train.csv, valid.csv and test.csv, as the tutorial does.

    python scripts/prepare_data.py --input_file fake_or_real_news.csv --output_dir data/news

With title and text columns it builds titletext = title + ". " + text; rows whose text is shorter
than 5 characters are dropped (the tutorial's rule; --min_text_chars 1 drops only empty texts); texts are cut to their first --first_n_words words; the split is
stratified and seeded. It reports exact-duplicate texts that fall in more than one split (test
leakage); --dedup keeps only the first copy of each text before splitting.
"""

import argparse
import logging
from pathlib import Path

import datasets

from modeling.cli import exit_on_error, setup_logging
from modeling.config import TUTORIAL_MIN_TEXT_CHARS
from modeling.data.arguments import add_file_format_arguments, add_min_text_chars_argument
from modeling.data.splits import DATA_SOURCE_FILE, SPLIT_FILES, prepare_splits, write_data_source, write_splits


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input_file", required=True,
                        help="Raw CSV/TSV, JSON lines or Parquet file, e.g. Kaggle's fake_or_real_news.csv.")
    parser.add_argument("--output_dir", required=True, help="Where train.csv, valid.csv and test.csv are written.")
    parser.add_argument("--title_column", default="title", help="Title column, if any (default: %(default)s).")
    parser.add_argument("--text_column",
                        help="Text column; default: titletext (built from title and text), else text.")
    parser.add_argument("--label_column", default="label", help="Label column (default: %(default)s).")
    add_file_format_arguments(parser)
    parser.add_argument("--first_n_words", type=int, default=200, help="Words kept per text (default: %(default)s).")
    add_min_text_chars_argument(parser, TUTORIAL_MIN_TEXT_CHARS, "Drop rows whose text (stripped) is shorter than this"
                                " (default: %(default)s, the tutorial's; 1 drops only empty texts).")
    parser.add_argument("--train_ratio", type=float, default=0.8, help="Share of rows for train (default: %(default)s).")
    parser.add_argument("--valid_ratio", type=float, default=0.1,
                        help="Share for validation (default: %(default)s); test gets the rest.")
    parser.add_argument("--seed", type=int, default=42, help="Seed of the stratified split (default: %(default)s).")
    parser.add_argument("--dedup", action="store_true",
                        help="Drop exact-duplicate texts (first copy kept) before splitting.")
    parser.add_argument("--overwrite_output_dir", action="store_true",
                        help="Replace the train/valid/test files an earlier run wrote to --output_dir.")
    args = parser.parse_args(argv)
    if args.first_n_words < 1:
        parser.error("--first_n_words must be at least 1")
    return args


def check_output_dir(output_dir, overwrite):
    """Refuse to replace the splits of an earlier run without --overwrite_output_dir."""
    found = [name for name in SPLIT_FILES.values() if (Path(output_dir) / name).exists()]
    if found and not overwrite:
        raise ValueError(f"{output_dir}: already holds {', '.join(found)} from an earlier run; pass"
                         " --overwrite_output_dir to replace them, or choose another --output_dir")


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    check_output_dir(args.output_dir, args.overwrite_output_dir)
    setup_logging()
    datasets.disable_progress_bars()  # reading a CSV takes seconds; the report below says what happened
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("modeling.data.files").setLevel(logging.INFO)  # e.g. "ignoring the first column ..."
    splits, text_column, label_names, report = prepare_splits(
        args.input_file, text_column=args.text_column, title_column=args.title_column,
        label_column=args.label_column, first_n_words=args.first_n_words, min_text_chars=args.min_text_chars,
        train_ratio=args.train_ratio, valid_ratio=args.valid_ratio, seed=args.seed, dedup=args.dedup,
        label_names=args.label_names, delimiter=args.delimiter, column_names=args.column_names,
    )
    paths = write_splits(splits, args.output_dir, text_column, label_names)
    write_data_source(args.output_dir, args.input_file, report, first_n_words=args.first_n_words, seed=args.seed,
                      dedup=args.dedup, train_ratio=args.train_ratio, valid_ratio=args.valid_ratio)
    print(f"{args.input_file}: text column {text_column!r}, labels {label_names}")
    for line in report.lines():
        print(line)
    print("wrote " + ", ".join(str(p) for p in paths.values()) + f" and {DATA_SOURCE_FILE} (where they came from)")
    return report


if __name__ == "__main__":
    main()
