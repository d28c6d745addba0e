"""transformers configuration of the BiLSTM text classifier (remote code, ``trust_remote_code=True``).

This file is copied next to ``config.json`` by ``save_pretrained`` and named in its ``auto_map``, so
``AutoConfig`` / ``AutoModelForSequenceClassification`` / ``pipeline("text-classification")`` can load
a saved model. It reads the same ``config.json`` as the project's own ``BiLSTMConfig`` dataclass; the
fields mean the same (see that class). Needs only ``transformers``. Do not edit the copy in a model
repository: it is generated from ``modeling/hf_interop/configuration_bilstm.py``.
"""

from transformers import PretrainedConfig

MODEL_TYPE = "bilstm_text_classifier"


class BiLSTMConfig(PretrainedConfig):
    """Architecture of the BiLSTM classifier. ``label_names`` (class names in id order) is the source
    of ``id2label``/``label2id``: two labels give one logit (sigmoid of ``label_names[1]``).
    ``min_text_chars`` is the data's short-text rule, which the pipeline (``pipeline_bilstm.py``)
    applies; 5 is the rule of models saved before config.json recorded it."""

    model_type = MODEL_TYPE

    def __init__(self, vocab_size=30_000, embedding_dim=128, hidden_size=64, num_layers=1, bidirectional=True,
                 dropout=0.5, embedding_dropout=0.3, pooling="max", pad_token_id=0, label_names=None,
                 max_length=200, min_text_chars=5, **kwargs):
        if label_names is None:
            id2label = kwargs.get("id2label")
            label_names = [id2label[i] for i in sorted(id2label, key=int)] if id2label else ["REAL", "FAKE"]
        label_names = [str(name) for name in label_names]
        kwargs["id2label"] = dict(enumerate(label_names))
        kwargs["label2id"] = {name: i for i, name in enumerate(label_names)}
        kwargs.pop("num_labels", None)  # derived from label_names
        kwargs.setdefault("problem_type", "single_label_classification")
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.embedding_dropout = embedding_dropout
        self.pooling = pooling
        self.label_names = label_names
        self.max_length = max_length
        self.min_text_chars = min_text_chars
