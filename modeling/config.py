"""Architecture of the BiLSTM classifier: a plain dataclass, saved as ``config.json``.

Run settings (learning rate, epochs, paths) live in the scripts, not here.
"""

from dataclasses import asdict, dataclass, field, fields
from typing import List

POOLING_CHOICES = ("last", "max", "mean", "last_max")

# Upper bounds checked before anything is allocated, so a hostile or corrupted
# config.json cannot make from_pretrained allocate tens of gigabytes.
MAX_VOCAB_SIZE = 5_000_000
MAX_EMBEDDING_DIM = 4096
MAX_HIDDEN_SIZE = 4096
MAX_NUM_LAYERS = 16
MAX_PARAMETERS = 2_000_000_000
MAX_MAX_LENGTH = 100_000
MAX_MIN_TEXT_CHARS = 100_000

# The short-text rule: texts shorter than ``min_text_chars`` characters, whitespace stripped, are
# left out of training and get no label from predict. Its two defaults, each named once:
# NON_EMPTY is train.py's (any data: only empty or whitespace-only texts are left out);
# TUTORIAL_MIN_TEXT_CHARS is the tutorial's news recipe, prepare_data.py's default, and what a
# config.json without ``min_text_chars`` means (models saved before the field existed used it).
NON_EMPTY = 1
TUTORIAL_MIN_TEXT_CHARS = 5


def is_long_enough(text, min_chars):
    """The short-text rule: whether ``text`` has at least ``min_chars`` characters, whitespace stripped."""
    return len(text.strip()) >= min_chars


def short_text_reason(min_chars, plural=False):
    """The rule in words, for every message that names it: ``"empty text"`` or ``"text shorter than N
    characters"`` (``plural``: ``"empty texts"``, ``"texts shorter than N characters"``)."""
    text = "texts" if plural else "text"
    return f"empty {text}" if min_chars <= NON_EMPTY else f"{text} shorter than {min_chars} characters"


def check_min_text_chars(value, name="min_text_chars"):
    """Raise ``ValueError`` unless ``value`` is a whole number of characters in [1, MAX_MIN_TEXT_CHARS]."""
    _check_int(name, value, NON_EMPTY, MAX_MIN_TEXT_CHARS)


def check_label_names(names, name="label_names"):
    """Raise ``ValueError`` unless ``names`` lists at least 2 distinct non-empty strings."""
    if len(names) < 2 or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"{name} must list at least 2 non-empty strings, got {names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{name} must be unique, got {names!r}")


def check_batch_size(value, name="batch_size"):
    """Raise ``ValueError`` unless ``value`` is a whole number of examples, at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be at least 1, got {value!r}")


def check_threshold(value, name="threshold"):
    """Raise ``ValueError`` unless ``value`` is a probability in [0, 1] (binary models predict the second
    label above it)."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


@dataclass
class BiLSTMConfig:
    """Configuration of :class:`BiLSTMForSequenceClassification`.

    The defaults were chosen on the fake_or_real_news validation split (docs/BENCHMARKS.md):
    smaller than the tutorial's 300/128 "last state" model, max-pooled over time and with word
    dropout, they train about 2.5x faster and score higher.

    Args:
        vocab_size: number of rows of the embedding table (the tokenizer's vocabulary size).
        embedding_dim: size of each word vector.
        hidden_size: LSTM hidden size per direction.
        num_layers: stacked LSTM layers.
        bidirectional: run a second LSTM right-to-left and concatenate both.
        dropout: dropout on the LSTM outputs: between layers and before the classifier (the
            tutorial's 0.5 before its linear layer).
        embedding_dropout: word dropout: the probability that a token's whole vector is zeroed
            during training (the rest are scaled up), so the model cannot lean on a few words.
        pooling: how the sequence becomes one vector: ``"last"`` (the final state of each
            direction, as the tutorial), ``"max"`` / ``"mean"`` over time (padding excluded),
            or ``"last_max"`` (both concatenated).
        pad_token_id: id of ``[PAD]``; its embedding stays zero.
        label_names: class names in id order, e.g. ``["REAL", "FAKE"]``. Two labels give one
            logit and a sigmoid (probability of ``label_names[1]``), more give a softmax.
        max_length: inputs are truncated to this many tokens.
        min_text_chars: the data's short-text rule: texts shorter than this many characters
            (whitespace stripped) were left out of training, and predict, the Endpoint handler, the
            transformers pipeline and the demo give them no label. ``train.py`` records its
            ``--min_text_chars`` here (``NON_EMPTY``, 1, by default: only empty texts). This field's
            default, ``TUTORIAL_MIN_TEXT_CHARS`` (5), is what a ``config.json`` without the field means.
    """

    # Vocabulary and embeddings
    vocab_size: int = 30_000
    embedding_dim: int = 128
    # Recurrent encoder
    hidden_size: int = 64
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.5
    embedding_dropout: float = 0.3
    pooling: str = "max"
    # Tokens and labels
    pad_token_id: int = 0
    label_names: List[str] = field(default_factory=lambda: ["REAL", "FAKE"])
    max_length: int = 200
    # The data's short-text rule
    min_text_chars: int = TUTORIAL_MIN_TEXT_CHARS

    def __post_init__(self):
        self.label_names = list(self.label_names)
        _check_int("vocab_size", self.vocab_size, 2, MAX_VOCAB_SIZE)
        _check_int("embedding_dim", self.embedding_dim, 1, MAX_EMBEDDING_DIM)
        _check_int("hidden_size", self.hidden_size, 1, MAX_HIDDEN_SIZE)
        _check_int("num_layers", self.num_layers, 1, MAX_NUM_LAYERS)
        _check_int("max_length", self.max_length, 1, MAX_MAX_LENGTH)
        _check_int("pad_token_id", self.pad_token_id, 0, self.vocab_size - 1)
        check_min_text_chars(self.min_text_chars)
        if not isinstance(self.bidirectional, bool):
            raise ValueError(f"bidirectional must be true or false, got {self.bidirectional!r}")
        for name in ("dropout", "embedding_dropout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
        if self.pooling not in POOLING_CHOICES:
            raise ValueError(f"pooling must be one of {POOLING_CHOICES}, got {self.pooling!r}")
        check_label_names(self.label_names)
        if self.num_parameters() > MAX_PARAMETERS:
            raise ValueError(f"this config has {self.num_parameters():,} parameters, over the {MAX_PARAMETERS:,} limit")

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def label2id(self):
        return {name: i for i, name in enumerate(self.label_names)}

    def num_parameters(self) -> int:
        """Parameter count computed from the fields alone (no allocation)."""
        total = self.vocab_size * self.embedding_dim
        d, h = self.num_directions, self.hidden_size
        for layer in range(self.num_layers):
            inp = self.embedding_dim if layer == 0 else d * h
            total += d * (4 * h * (inp + h) + 8 * h)
        features = d * h * (2 if self.pooling == "last_max" else 1)
        outputs = 1 if self.num_labels == 2 else self.num_labels
        return total + features * outputs + outputs

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, values):
        """A config from a ``config.json`` dict, ignoring the keys transformers adds (``model_type``,
        ``auto_map``, ``id2label``...), which are not architecture fields."""
        return cls(**{k: v for k, v in values.items() if k in {f.name for f in fields(cls)}})


def _check_int(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
