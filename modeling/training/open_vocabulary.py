"""An open vocabulary: the train split's words plus words pretrained vectors know, by default.

A model reads only the words its vocabulary holds. Built from a few hundred labelled rows, that is
about a thousand words, and most words of a new text are ``[UNK]``. With pretrained vectors the
vocabulary is the train split's words (``--min_frequency`` as without vectors) plus the
``--vector_vocab_size`` most frequent words of the vectors that the train split did not have; every
row starts from its vector (:func:`~modeling.training.vectors.apply_pretrained_embeddings`), so a
word the labelled rows never showed still lands near its neighbours. The saved model carries the
vectors in its own embedding matrix and never needs their package.

``--pretrained_embeddings auto`` (the default) uses the packaged English vectors when they are
installed and know at least :data:`MIN_TOKEN_COVERAGE` of the train split's word tokens; otherwise
the run trains as without vectors and says why.
"""

import logging
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .vectors import PACKAGED, SPECIAL_TOKENS, packaged_files, read_word_list

logger = logging.getLogger(__name__)

AUTO, NONE = "auto", "none"
DEFAULT_VECTORS = "glove-6b-50d"
# How many of the vectors' most frequent words join the vocabulary (docs/BENCHMARKS.md section 9).
DEFAULT_VECTOR_VOCAB_SIZE = 40_000
# Share of the train split's word tokens the vectors must know. Measured (bench/bench_vector_coverage.py,
# docs/BENCHMARKS.md section 9): English reviews, questions, news and claims 99.4-99.8%, English
# tweets 92.5%; German 66%, French 80%, Spanish 87%, Indonesian 45% (short written samples). Under
# 90% most text is not English, and many of the words found are other languages' words that share a
# spelling with an English one; a run that falls back trains as it would without the package.
MIN_TOKEN_COVERAGE = 0.90
# Coverage is measured on at most this many train texts: enough for a share to 0.5 points.
COVERAGE_SAMPLE = 10_000


@dataclass
class Vocabulary:
    """What a run's vocabulary is made of, for the log, ``all_results.json`` and the model card."""

    tokenizer: object
    source: Optional[str] = None  # the vectors used, or None
    coverage: Optional[float] = None  # share of the train split's word tokens they know
    rare_words: Optional[list] = None  # train words let in below --min_frequency (--vector_words)
    added_words: list = field(default_factory=list)  # vector words the train split did not have


def build_vocabulary(args, text_batches) -> Vocabulary:
    """The run's tokenizer: the train split's words, plus the vectors' words when vectors are used.

    Resolves ``args.pretrained_embeddings`` (``auto``: see the module docstring) and writes back the
    source used, or ``"none"``, so ``training_args.json`` and the model card record what ran.

    Args:
        args: the run's options (``pretrained_embeddings``, ``vector_vocab_size``, ``vector_words``,
            ``min_frequency``, ``max_length``, ``lowercase``).
        text_batches: a function returning a fresh iterable of train text batches.
    """
    from ..tokenizer import train_tokenizer
    from .vectors import train_tokenizer_with_vectors

    source, share = resolve_vectors(args.pretrained_embeddings, text_batches, args.lowercase)
    args.pretrained_embeddings = source or NONE
    if source is None:
        return Vocabulary(train_tokenizer(text_batches(), args.min_frequency, args.max_length,
                                          lowercase=args.lowercase))
    rare = None
    if args.vector_words:
        tokenizer, rare = train_tokenizer_with_vectors(text_batches, source, args.min_frequency, args.max_length,
                                                       lowercase=args.lowercase)
        logger.info(f"{len(rare):,} words seen fewer than --min_frequency {args.min_frequency} times enter the"
                    f" vocabulary because {source} has a vector for them (--vector_words)")
    else:
        tokenizer = train_tokenizer(text_batches(), args.min_frequency, args.max_length, lowercase=args.lowercase)
    train_words = tokenizer.get_vocab_size() - len(SPECIAL_TOKENS)
    added = open_vocabulary(tokenizer, source, args.vector_vocab_size)
    logger.info(f"Pretrained word vectors {source}: they know {share:.1%} of the train split's word tokens;"
                f" the vocabulary is its {train_words:,} words plus {len(added):,} words of the vectors"
                f" (--vector_vocab_size {args.vector_vocab_size:,}), each starting from its vector"
                " (--pretrained_embeddings none: train without them)")
    return Vocabulary(tokenizer, source, share, rare, added)


def resolve_vectors(requested, text_batches, lowercase=False):
    """``(source, coverage)`` of the vectors a run uses, or ``(None, None)``, with the reason logged.

    Args:
        requested: ``--pretrained_embeddings``: ``"auto"``, ``"none"`` or a source.
        text_batches: a function returning a fresh iterable of train text batches.
        lowercase: the run's ``--lowercase``.
    """
    if requested is None or requested == NONE:
        return None, None
    if requested != AUTO:
        return requested, token_coverage(text_batches, requested, lowercase)
    name, dist = DEFAULT_VECTORS, PACKAGED[DEFAULT_VECTORS][0]
    try:
        packaged_files(name)
    except (OSError, ValueError):
        logger.info(f"No pretrained word vectors: `pip install {dist}` lets the model start from English word"
                    f" vectors and know {DEFAULT_VECTOR_VOCAB_SIZE:,} words its train split never showed"
                    " (--pretrained_embeddings none: this message off)")
        return None, None
    share = token_coverage(text_batches, name, lowercase)
    if share < MIN_TOKEN_COVERAGE:
        logger.warning(f"Pretrained word vectors {name} know only {share:.1%} of the train split's word tokens"
                       f" (under {MIN_TOKEN_COVERAGE:.0%}: not English text?): training without them, on the train"
                       f" split's words only (--pretrained_embeddings {name}: use them anyway)")
        return None, share
    return name, share


def token_coverage(text_batches, source, lowercase=False) -> float:
    """Share of the word tokens (tokens with a letter) of the first :data:`COVERAGE_SAMPLE` train
    texts that ``source`` has a vector for, as written or lower-cased."""
    from ..tokenizer import train_tokenizer

    texts = []
    for batch in text_batches():
        texts.extend(batch)
        if len(texts) >= COVERAGE_SAMPLE:
            break
    texts = texts[:COVERAGE_SAMPLE]
    tokenizer = train_tokenizer([texts], min_frequency=1, lowercase=lowercase)
    tokenizer.no_truncation()
    vocab = tokenizer.get_vocab()
    counts = np.zeros(len(vocab), dtype=np.int64)
    for encoding in tokenizer.encode_batch(texts):
        counts += np.bincount(np.asarray(encoding.ids, dtype=np.int64), minlength=len(vocab))
    known = set(vocabulary_words(source))
    words = [(i, w) for w, i in vocab.items() if w not in SPECIAL_TOKENS and any(c.isalpha() for c in w)]
    total = sum(counts[i] for i, _ in words)
    found = sum(counts[i] for i, w in words if w in known or w.lower() in known)
    return float(found / total) if total else 0.0


def vocabulary_words(source):
    """Every word of ``source``, in its order (frequency order for GloVe and word2vec files)."""
    from .vectors import load_word_vectors

    if source in PACKAGED:
        return read_word_list(packaged_files(source)[1])
    return load_word_vectors(source).words


def open_vocabulary(tokenizer, source, max_words):
    """Add to ``tokenizer``'s vocabulary the first ``max_words`` words of ``source`` that it lacks
    (after the train words, whose ids do not change). Only words the tokenizer can produce count:
    one pre-tokenized piece (no inner punctuation) that its normalizer leaves as it is.

    Returns the words added, in id order.
    """
    from tokenizers.models import WordLevel

    from ..tokenizer import UNK_TOKEN

    vocab = dict(tokenizer.get_vocab())
    added = []
    if max_words > 0:
        normalize, split = tokenizer.normalizer, tokenizer.pre_tokenizer
        for word in vocabulary_words(source):
            if len(added) >= max_words:
                break
            if word in vocab or not word:
                continue
            if not (word.isascii() and word.isalnum() and word.islower()) and (  # those pass both checks
                    normalize.normalize_str(word) != word or [p for p, _ in split.pre_tokenize_str(word)] != [word]):
                continue
            vocab[word] = len(vocab)
            added.append(word)
    if added:
        tokenizer.model = WordLevel(vocab, unk_token=UNK_TOKEN)
    return added
