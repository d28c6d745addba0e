"""A Hugging Face-native BiLSTM text classifier (fake news or any labelled CSV)."""

from .config import BiLSTMConfig
from .model import BiLSTMForSequenceClassification, SequenceClassifierOutput
from .tokenizer import load_tokenizer, save_tokenizer, train_tokenizer

__all__ = [
    "BiLSTMConfig",
    "BiLSTMForSequenceClassification",
    "SequenceClassifierOutput",
    "load_tokenizer",
    "save_tokenizer",
    "train_tokenizer",
]
__version__ = "0.1.0"
