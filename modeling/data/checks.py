"""Checks of the training data that catch a useless run before it starts, and what the data tells
the model card (example texts, a language guess, a data set name).

Each check logs a warning and lets the run go on: a tiny vocabulary or a batch larger than the
train split are legal, only rarely meant.
"""

import logging
import re
from pathlib import Path

import pyarrow.compute as pc

from ..tokenizer import UNK_TOKEN_ID

logger = logging.getLogger(__name__)

# A vocabulary this small (words besides [PAD] and [UNK]) cannot tell many texts apart.
MIN_VOCABULARY = 20
# Above this share of [UNK] among the train split's tokens, most words carry no information.
MAX_UNK_RATE = 0.25
# Words that name a split in a file name (train.csv, reviews_test.csv), not the data set.
SPLIT_FILE_WORDS = {"train", "training", "valid", "validation", "dev", "test", "eval"}
# The commonest English words: their share of a text's words is a cheap language test.
_ENGLISH_WORDS = set("the of and to a in is that for it was on with as by this be are at from".split())


def unk_rate(encoded, batch_size=10_000):
    """Share of ``[UNK]`` ids among all tokens of an encoded dataset (``input_ids`` column)."""
    unknown = total = 0
    for batch in encoded.select_columns(["input_ids"]).with_format("arrow").iter(batch_size=batch_size):
        ids = pc.list_flatten(batch.column("input_ids"))
        total += len(ids)
        unknown += pc.sum(pc.equal(ids, UNK_TOKEN_ID)).as_py() or 0
    return unknown / total if total else 0.0


# Scripts written without spaces between words: Han, Hiragana/Katakana, Thai, Lao, Khmer, Myanmar.
_UNSPACED = re.compile(r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
MAX_UNSPACED_SHARE = 0.3


def unspaced_share(texts):
    """The share of non-space characters that belong to scripts written without spaces between words."""
    letters = sum(len(text) - text.count(" ") for text in texts)
    return sum(len(_UNSPACED.findall(text)) for text in texts) / letters if letters else 0.0


def check_vocabulary(tokenizer, encoded_train, text_column, min_frequency):
    """Warn when the vocabulary is tiny or most train tokens are ``[UNK]``, and when the texts are in
    a script without spaces between words; return ``(words, unk rate)``."""
    words = tokenizer.get_vocab_size() - 2
    rate = unk_rate(encoded_train)
    hint = f"check --text_column ({text_column!r}) and --min_frequency ({min_frequency})"
    share = unspaced_share(encoded_train.select(range(min(len(encoded_train), 500)))[text_column])
    if share > MAX_UNSPACED_SHARE:
        logger.warning(f"{share:.0%} of the train texts' characters are Chinese, Japanese, Thai or another script"
                       " written without spaces between words, but the tokenizer splits words at whitespace and"
                       f" punctuation only, so whole phrases become single tokens ({words} words in the vocabulary):"
                       " split the texts into words with spaces before training (e.g. jieba for Chinese, fugashi"
                       " for Japanese, pythainlp for Thai)")
        hint = "segment the texts into space-separated words first"
    if words < MIN_VOCABULARY:
        logger.warning(f"the vocabulary has only {words} words besides [PAD] and [UNK] (words seen at least"
                       f" {min_frequency} times in the train split): the model can tell few texts apart; {hint}")
    if rate > MAX_UNK_RATE:
        logger.warning(f"{rate:.0%} of the train split's tokens are [UNK] (not in the vocabulary): the model"
                       f" sees mostly unknown words; {hint}")
    return words, rate


def warn_if_one_batch_per_epoch(batch_size, num_examples, num_processes=1):
    """Warn when one batch holds the whole train split (one step an epoch); return whether it does."""
    if batch_size * num_processes <= num_examples:
        return False
    logger.warning(f"--per_device_train_batch_size {batch_size}"
                   + (f" x {num_processes} processes" if num_processes > 1 else "")
                   + f" is larger than the train split ({num_examples} examples): each epoch is a single"
                     " optimizer step; lower the batch size or use more data")
    return True


def example_texts(ds, text_column, label_names, per_label=1, max_chars=500):
    """Up to ``per_label`` texts of each label, in label order (the card's widget examples)."""
    wanted = {i: per_label for i in range(len(label_names))}
    texts = {i: [] for i in wanted}
    for batch in ds.select_columns([text_column, "label"]).iter(batch_size=1000):
        for text, label in zip(batch[text_column], batch["label"]):
            if len(texts[label]) < wanted[label]:
                texts[label].append(shorten(text, max_chars))
        if all(len(texts[i]) >= wanted[i] for i in wanted):
            break
    return [t for i in sorted(texts) for t in texts[i]]


def shorten(text, max_chars):
    """``text`` cut to at most ``max_chars`` characters at a word boundary, with "…" when cut."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rstrip().rfind(" ")
    return (cut[:space] if space > 0 else cut).rstrip() + " …"


def guess_language(texts):
    """``"en"`` when the commonest English words make up a tenth of the words, else ``None`` (unknown)."""
    words = [w.lower() for text in texts for w in text.split()]
    if not words:
        return None
    return "en" if sum(w in _ENGLISH_WORDS for w in words) / len(words) >= 0.1 else None


def dataset_name_from_path(path):
    """A readable data set name from a file path: its folder for ``train.csv``-like names, else its stem."""
    path = Path(str(path))
    if path.stem.lower() in SPLIT_FILE_WORDS and path.parent.name not in ("", ".", ".."):
        return path.parent.name
    stem, sep, split = path.stem.rpartition("_")  # reviews_train.csv -> reviews
    return stem if sep and stem and split.lower() in SPLIT_FILE_WORDS else path.stem
