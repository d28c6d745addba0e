"""The BiLSTM classifier: Embedding → (bi)LSTM → pooling → Linear, with Hub save/load.

Variable-length batches are handled exactly without ``pack_padded_sequence``: the forward
LSTM runs over the right-padded batch (its outputs before each sequence's end never see
padding), and the backward LSTM runs over each sequence reversed *within its own length*,
so it starts at the last real token. Adding padding changes no logit; with length-grouped
batches, training on CPU is about 4x faster than a tutorial-style packed BiLSTM (docs/BENCHMARKS.md).
"""

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from safetensors import SafetensorError
from safetensors.torch import load_file, save_model
from torch import nn

from .config import BiLSTMConfig
from .inference import TextClassifier, probabilities
from .source import CONFIG_FILE, WEIGHTS_FILE, nearest_listing, resolve_source
from .tokenizer import TOKENIZER_FILE, load_tokenizer, save_tokenizer
from .transformers_files import TRANSFORMERS_FILES, write_transformers_files
from .utils import give_default_mode


@dataclass
class SequenceClassifierOutput:
    """Model output: ``logits`` (batch, 1) for two labels or (batch, num_labels), and ``loss``."""

    logits: torch.Tensor
    loss: Optional[torch.Tensor] = None


class BiLSTMLayer(nn.Module):
    """One layer: a left-to-right LSTM and, if bidirectional, a right-to-left one."""

    def __init__(self, input_size, hidden_size, bidirectional):
        super().__init__()
        self.fwd = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.bwd = nn.LSTM(input_size, hidden_size, batch_first=True) if bidirectional else None

    def forward(self, x, reverse_index):
        out, _ = self.fwd(x)
        if self.bwd is None:
            return out
        back, _ = self.bwd(_gather_time(x, reverse_index))
        return torch.cat([out, _gather_time(back, reverse_index)], dim=-1)


def _gather_time(x, index):
    """``out[b, t] = x[b, index[b, t]]``: whole rows of features, copied with one ``index_select``
    (about 3x faster on CPU than ``gather`` with an index expanded over the features, and its
    backward is an ``index_add_`` of rows)."""
    batch, steps = index.shape
    rows = index + torch.arange(batch, device=index.device).unsqueeze(1) * x.size(1)
    return x.reshape(batch * x.size(1), -1).index_select(0, rows.reshape(-1)).view(batch, steps, -1)


class BiLSTMForSequenceClassification(
    nn.Module,
    TextClassifier,
    PyTorchModelHubMixin,
    library_name="pytorch",
    pipeline_tag="text-classification",
    tags=["text-classification", "bilstm"],
    license="unknown",  # the training data's terms decide the weights' licence (push_to_hub.py --license)
):
    """BiLSTM text classifier. ``forward`` returns logits, and the loss when labels are given.

    Two labels: one logit, sigmoid probability of ``label_names[1]`` (FAKE), BCE loss, as the
    tutorial. More labels: one logit each, softmax, cross-entropy.
    """

    def __init__(self, config: BiLSTMConfig):
        super().__init__()
        if isinstance(config, dict):
            config = BiLSTMConfig.from_dict(config)
        self.config = config
        self.tokenizer = None
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.layers = nn.ModuleList(
            BiLSTMLayer(config.embedding_dim if i == 0 else config.num_directions * config.hidden_size,
                        config.hidden_size, config.bidirectional)
            for i in range(config.num_layers)
        )
        self.dropout = nn.Dropout(config.dropout)
        features = config.num_directions * config.hidden_size * (2 if config.pooling == "last_max" else 1)
        self.classifier = nn.Linear(features, 1 if config.num_labels == 2 else config.num_labels)

    # ------------------------------------------------------------------ forward
    def forward(self, input_ids, attention_mask=None, labels=None):
        """Classify a right-padded batch; ``attention_mask`` defaults to ``input_ids != pad``."""
        if attention_mask is None:
            attention_mask = input_ids.ne(self.config.pad_token_id)
        mask = attention_mask.bool()
        lengths = mask.sum(1).clamp(min=1)  # an empty text still reads one (pad) position
        steps = torch.arange(input_ids.size(1), device=input_ids.device).unsqueeze(0)
        last = (lengths - 1).unsqueeze(1)
        # Position t of sequence b holds token L_b - 1 - t (t < L_b): each sequence reversed in place.
        reverse_index = torch.where(steps <= last, last - steps, steps)
        x = self._word_dropout(self.embedding(input_ids))
        for i, layer in enumerate(self.layers):
            x = layer(x, reverse_index)
            if i < len(self.layers) - 1:
                x = self.dropout(x)
        logits = self.classifier(self.dropout(self._pool(x, steps < lengths.unsqueeze(1), last)))
        loss = self.loss(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(logits=logits, loss=loss)

    def _word_dropout(self, x):
        # One draw per token rather than per element: cheaper than nn.Dropout on (B, T, E)
        # (bernoulli_ was ~10% of a CPU step) and a stronger regulariser for text.
        p = self.config.embedding_dropout
        if not self.training or p == 0:
            return x
        keep = torch.rand(x.shape[:2] + (1,), device=x.device) >= p
        return x * keep.to(x.dtype) / (1 - p)

    def _pool(self, x, valid, last):
        h = self.config.hidden_size
        pooled = []
        if self.config.pooling in ("last", "last_max"):
            end = x.gather(1, last.unsqueeze(-1).expand(-1, 1, x.size(-1))).squeeze(1)
            pooled.append(torch.cat([end[:, :h], x[:, 0, h:]], dim=-1) if self.config.bidirectional else end)
        if self.config.pooling in ("max", "last_max"):
            pooled.append(x.masked_fill(~valid.unsqueeze(-1), float("-inf")).amax(1))
        if self.config.pooling == "mean":
            pooled.append((x * valid.unsqueeze(-1)).sum(1) / valid.sum(1, keepdim=True).clamp(min=1))
        return torch.cat(pooled, dim=-1)

    def loss(self, logits, labels):
        """BCE on the single logit for two labels, cross-entropy otherwise."""
        if self.config.num_labels == 2:
            return F.binary_cross_entropy_with_logits(logits.squeeze(-1).float(), labels.float())
        return F.cross_entropy(logits.float(), labels)

    def probabilities(self, logits):
        """(batch, num_labels) probabilities from ``logits``."""
        return probabilities(logits, self.config.num_labels)

    # ---------------------------------------------------------------- inference
    # predict / predict_proba are TextClassifier's, shared with the onnxruntime session.
    def logits(self, input_ids, attention_mask):
        """Logits for a right-padded batch, on the model's device."""
        device = next(self.parameters()).device
        return self(input_ids.to(device), attention_mask.to(device)).logits

    @contextlib.contextmanager
    def inference_context(self):
        """Eval mode (restored after) and no autograd, for ``predict_proba``."""
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            self.train(was_training)

    # ------------------------------------------------------------- save / load
    def save_pretrained(self, save_directory, **kwargs):
        """Write ``config.json``, ``model.safetensors`` and ``tokenizer.json`` to ``save_directory``,
        with the files transformers needs to load them (``modeling.transformers_files``).

        Everything is written to a temporary folder first and each file is moved into place
        with an atomic rename, so an interrupted save leaves the previous model loadable.
        """
        if kwargs.get("push_to_hub"):
            return super().save_pretrained(save_directory, **kwargs)
        save_directory = Path(save_directory)
        save_directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{save_directory.name}.", dir=save_directory.parent) as tmp:
            super().save_pretrained(tmp, **kwargs)
            # The mixin's generic README.md is not kept: the model card is rendered from the
            # run's own results when the folder is pushed (modeling.hub.card).
            for name in (WEIGHTS_FILE, CONFIG_FILE, TOKENIZER_FILE, *TRANSFORMERS_FILES):
                src, dst = Path(tmp) / name, save_directory / name
                if src.exists():
                    os.replace(src, dst)
        return None

    def _save_pretrained(self, save_directory):
        save_directory = Path(save_directory)
        save_model(self, str(save_directory / WEIGHTS_FILE))
        give_default_mode(save_directory / WEIGHTS_FILE)
        # config.json also carries the keys transformers reads (model_type, auto_map, id2label, ...).
        write_transformers_files(save_directory, self.config, with_tokenizer=self.tokenizer is not None)
        if self.tokenizer is not None:
            save_tokenizer(self.tokenizer, save_directory)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *, map_location="cpu", strict=True, **hub_options):
        """Load from a folder, a Hub repo id or a resolved ``modeling.source.ModelSource``
        (``revision``, ``cache_dir``, ``token``, ``local_files_only``, ``force_download`` go to the HF
        cache). Weights load from safetensors only, strictly; the tokenizer must match the config's
        vocabulary."""
        source = resolve_source(pretrained_model_name_or_path, **hub_options)  # a typo'd path fails here
        try:
            config = BiLSTMConfig.from_dict(source.read_json(CONFIG_FILE))  # validated before any allocation
            model = cls(config)
            load_weights(model, source.file(WEIGHTS_FILE), strict=strict, device=map_location)
            tokenizer = load_tokenizer(source)
        except OSError as err:  # the Hub client: no such repo or file, offline mode
            if source.is_local:
                raise
            reason = " ".join(str(err).split())
            raise FileNotFoundError(f"{source}: no such local folder ({nearest_listing(source.name)}), and no Hub"
                                    f" repo {source.name!r} could be fetched: {reason[:300]}") from None
        except ValueError as err:
            message = str(err)
            if not message.startswith(source.name):
                message = f"{source}: cannot load the model: {message}"
            raise ValueError(message) from None
        if tokenizer.get_vocab_size() != config.vocab_size:
            raise ValueError(f"{source}: {TOKENIZER_FILE} has {tokenizer.get_vocab_size()} tokens but {CONFIG_FILE}"
                             f" says vocab_size={config.vocab_size}")
        model.tokenizer = tokenizer
        model.eval()
        return model


def read_weights(path, device="cpu"):
    """The tensors of a safetensors file; a truncated, empty or otherwise unreadable file is one
    ``ValueError`` line naming it (safetensors raises its own error type, with a long traceback)."""
    try:
        return load_file(str(path), device=str(device))
    except SafetensorError as err:
        raise ValueError(f"{path}: not a readable safetensors file ({err}); is it truncated or empty? Save or"
                         " download it again") from None


def load_weights(model, path, strict=True, device="cpu"):
    """Load the safetensors file ``path`` into ``model`` (``strict``: every key, no other)."""
    state = read_weights(path, device)
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        raise ValueError(f"{path} does not match {CONFIG_FILE}: {err}") from None
