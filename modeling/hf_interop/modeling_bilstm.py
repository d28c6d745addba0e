"""transformers model of the BiLSTM text classifier (remote code, ``trust_remote_code=True``).

Copied next to ``config.json`` by ``save_pretrained`` and named in its ``auto_map``. It loads the same
``model.safetensors`` as the project's own class: the submodules carry the same names
(``embedding``, ``layers.N.fwd`` / ``layers.N.bwd``, ``classifier``), so the state-dict keys match.
The forward pass is the project's (``modeling/model.py``), restated here because remote code cannot
import the project; ``tests/test_transformers_interop.py`` checks the two give the same logits for
every pooling and layer layout.

For two labels the project's model has one logit ``z`` (the log-odds of ``label_names[1]``) and
predicts with ``sigmoid(z)``. Here ``logits`` is ``[0, z]``: ``softmax([0, z]) = [1 - sigmoid(z),
sigmoid(z)]``, so ``pipeline("text-classification")`` (softmax for ``num_labels == 2``) returns both
labels with the project's probabilities. Inputs longer than ``config.max_length`` are cut to it, as
the project's tokenizer does, so a pipeline call without ``truncation=True`` gives the same answer.
"""

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration_bilstm import BiLSTMConfig


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
    batch, steps = index.shape
    rows = index + torch.arange(batch, device=index.device).unsqueeze(1) * x.size(1)
    return x.reshape(batch * x.size(1), -1).index_select(0, rows.reshape(-1)).view(batch, steps, -1)


class BiLSTMPreTrainedModel(PreTrainedModel):
    config_class = BiLSTMConfig
    base_model_prefix = "bilstm"
    main_input_name = "input_ids"

    def _init_weights(self, module):
        # PyTorch's default initialisation, as the project's model uses; only weights missing from a
        # checkpoint are initialised (all of them for a freshly built model).
        if isinstance(module, (nn.Linear, nn.LSTM)):
            module.reset_parameters()
        elif isinstance(module, nn.Embedding):
            module.reset_parameters()


class BiLSTMForSequenceClassification(BiLSTMPreTrainedModel):
    """Embedding → (bi)LSTM layers → pooling → dropout → Linear; the project's architecture."""

    def __init__(self, config):
        super().__init__(config)
        directions = 2 if config.bidirectional else 1
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.layers = nn.ModuleList(
            BiLSTMLayer(config.embedding_dim if i == 0 else directions * config.hidden_size,
                        config.hidden_size, config.bidirectional)
            for i in range(config.num_layers)
        )
        self.dropout = nn.Dropout(config.dropout)
        features = directions * config.hidden_size * (2 if config.pooling == "last_max" else 1)
        num_labels = len(config.label_names)
        self.classifier = nn.Linear(features, 1 if num_labels == 2 else num_labels)
        self.post_init()

    def get_input_embeddings(self):
        return self.embedding

    def set_input_embeddings(self, value):
        self.embedding = value

    def forward(self, input_ids=None, attention_mask=None, labels=None, return_dict=None, **kwargs):
        """``logits`` (batch, num_labels) and, with ``labels``, the project's loss (BCE on the one
        logit for two labels, cross-entropy otherwise). Other keyword arguments (``token_type_ids``,
        which some transformers versions pass) are ignored."""
        input_ids = input_ids[:, : self.config.max_length]
        if attention_mask is None:
            attention_mask = input_ids.ne(self.config.pad_token_id)
        mask = attention_mask[:, : self.config.max_length].bool()
        lengths = mask.sum(1).clamp(min=1)
        steps = torch.arange(input_ids.size(1), device=input_ids.device).unsqueeze(0)
        last = (lengths - 1).unsqueeze(1)
        reverse_index = torch.where(steps <= last, last - steps, steps)
        x = self._word_dropout(self.embedding(input_ids))
        for i, layer in enumerate(self.layers):
            x = layer(x, reverse_index)
            if i < len(self.layers) - 1:
                x = self.dropout(x)
        logits = self.classifier(self.dropout(self._pool(x, steps < lengths.unsqueeze(1), last)))
        loss = None
        if labels is not None:
            if len(self.config.label_names) == 2:
                loss = F.binary_cross_entropy_with_logits(logits.squeeze(-1).float(), labels.float())
            else:
                loss = F.cross_entropy(logits.float(), labels)
        if len(self.config.label_names) == 2:
            logits = torch.cat([torch.zeros_like(logits), logits], dim=-1)
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def _word_dropout(self, x):
        p = self.config.embedding_dropout
        if not self.training or p == 0:
            return x
        keep = torch.rand(x.shape[:2] + (1,), device=x.device) >= p
        return x * keep.to(x.dtype) / (1 - p)

    def _pool(self, x, valid, last):
        h, pooling = self.config.hidden_size, self.config.pooling
        pooled = []
        if pooling in ("last", "last_max"):
            end = x.gather(1, last.unsqueeze(-1).expand(-1, 1, x.size(-1))).squeeze(1)
            pooled.append(torch.cat([end[:, :h], x[:, 0, h:]], dim=-1) if self.config.bidirectional else end)
        if pooling in ("max", "last_max"):
            pooled.append(x.masked_fill(~valid.unsqueeze(-1), float("-inf")).amax(1))
        if pooling == "mean":
            pooled.append((x * valid.unsqueeze(-1)).sum(1) / valid.sum(1, keepdim=True).clamp(min=1))
        return torch.cat(pooled, dim=-1)
