"""The WordLevel tokenizer: trained on the train split only, saved as ``tokenizer.json``."""

from pathlib import Path

from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.trainers import WordLevelTrainer

from .source import ModelSource, resolve_source
from .utils import atomic_path

TOKENIZER_FILE = "tokenizer.json"
PAD_TOKEN, UNK_TOKEN = "[PAD]", "[UNK]"
PAD_TOKEN_ID, UNK_TOKEN_ID = 0, 1


def train_tokenizer(texts, min_frequency=3, max_length=200, max_vocab_size=None, lowercase=False):
    """Train a word-level tokenizer on ``texts`` (an iterable of strings or of lists of strings).

    Words seen at least ``min_frequency`` times (inclusive) are kept; the rest map to ``[UNK]``.
    Text is NFKC-normalised and punctuation is split from words, so "Trump," and "Trump" share
    one id; case is kept unless ``lowercase`` (on fake_or_real_news, keeping it lowered the
    validation loss, docs/BENCHMARKS.md). ``[PAD]`` is id 0 and ``[UNK]`` id 1.

    Args:
        texts: the training texts; pass batches (lists) for speed.
        min_frequency: minimum count for a word to enter the vocabulary.
        max_length: encodings are truncated to this many tokens.
        max_vocab_size: optional cap on the vocabulary (most frequent words kept).
        lowercase: lower-case the text first ("TRUMP" and "trump" then share an id).
    """
    if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 1:
        raise ValueError(f"min_frequency must be a positive integer, got {min_frequency!r}")
    tokenizer = Tokenizer(WordLevel(unk_token=UNK_TOKEN))
    steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    tokenizer.normalizer = normalizers.Sequence(steps)
    # BertPreTokenizer splits on whitespace and isolates every punctuation character;
    # Whitespace() would keep runs such as "!!" or '."' as one (mostly unknown) token.
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = WordLevelTrainer(
        vocab_size=max_vocab_size or 2**31 - 1,
        min_frequency=min_frequency,
        special_tokens=[PAD_TOKEN, UNK_TOKEN],
        show_progress=False,
    )
    tokenizer.train_from_iterator(_as_batches(texts), trainer=trainer)
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


def _as_batches(texts):
    for item in texts:
        if isinstance(item, str):
            yield [item]
        else:
            yield list(item)


def save_tokenizer(tokenizer, save_directory):
    """Write ``tokenizer.json`` into ``save_directory`` atomically."""
    with atomic_path(Path(save_directory) / TOKENIZER_FILE) as tmp:
        tokenizer.save(str(tmp))


def load_tokenizer(name_or_path, **hub_options):
    """Load ``tokenizer.json`` from a file, a folder, a Hub repo id (through the HF cache, with
    ``revision``, ``cache_dir``, ``token``, ``local_files_only``, ``force_download``, as the model's
    files) or a resolved ``modeling.source.ModelSource``."""
    if not isinstance(name_or_path, ModelSource) and Path(name_or_path).is_file():
        file = Path(name_or_path)
    else:
        # hf_hub_download rather than Tokenizer.from_pretrained, which has no cache_dir/local_files_only.
        file = resolve_source(name_or_path, **hub_options).file(TOKENIZER_FILE)
    try:
        return Tokenizer.from_file(str(file))
    except Exception as err:  # tokenizers raises a bare Exception on malformed JSON
        raise ValueError(f"{file}: not a valid tokenizer file ({err})") from None
