"""Raw texts to labels, for every backend: :class:`TextClassifier` tokenizes, pads length-sorted
batches, turns logits into probabilities and probabilities into labels, and applies the short-text
rule. The torch model (``modeling.model``) and the onnxruntime session (``modeling.serving``) are
both ``TextClassifier`` subclasses that give only their ``logits``, so they batch, pad and decide
identically. Imports only torch (and the short-text rule from ``modeling.config``).
"""

import contextlib

import torch

from .config import is_long_enough, short_text_reason

__all__ = ["TextClassifier", "decide", "label_results", "pad_sequences", "probabilities"]


def probabilities(logits, num_labels):
    """(batch, num_labels) probabilities: sigmoid of the single logit for two labels, else softmax."""
    logits = logits.float()
    if num_labels == 2:
        p = torch.sigmoid(logits.squeeze(-1))
        return torch.stack([1 - p, p], dim=-1)
    return logits.softmax(-1)


class TextClassifier:
    """``predict`` and ``predict_proba`` for every backend: a subclass gives ``config`` (a
    ``BiLSTMConfig``), ``tokenizer`` and :meth:`logits`, so the torch model and the onnxruntime
    session tokenize, batch, pad and decide identically."""

    config = None
    tokenizer = None

    def logits(self, input_ids, attention_mask):
        """Logits for a right-padded batch of token ids (long tensors on the CPU)."""
        raise NotImplementedError

    def inference_context(self):
        """The context ``predict_proba`` runs its batches in (the torch model's: eval mode, no autograd)."""
        return contextlib.nullcontext()

    def predict_proba(self, texts, batch_size=64):
        """(len(texts), num_labels) probabilities for raw texts, in input order."""
        if self.tokenizer is None:
            raise ValueError("this model has no tokenizer: load it with from_pretrained() or set model.tokenizer")
        encodings = self.tokenizer.encode_batch(list(texts))
        # Sort by length so each batch pads little; results go back to input order.
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        probs = torch.zeros(len(encodings), self.config.num_labels)
        with self.inference_context():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                input_ids, mask = pad_sequences([encodings[i].ids for i in chunk], self.config.pad_token_id)
                probs[chunk] = probabilities(self.logits(input_ids, mask), self.config.num_labels).cpu()
        return probs

    def predict(self, texts, batch_size=64, threshold=0.5, min_chars=None):
        """Classify raw texts.

        Returns one dict per text, in input order: ``{"label": "FAKE", "score": 0.97, "scores":
        {"REAL": 0.03, "FAKE": 0.97}}``. With two labels the second is predicted when its
        probability is above ``threshold`` (the tutorial's 0.5); with more, the most probable label.
        A text shorter than ``min_chars`` characters (stripped; default: the rule the model was
        trained with, ``config.min_text_chars``) gets no label: ``{"label": None, "score": None,
        "scores": None, "skipped": "<reason>"}``; ``min_chars=0`` classifies every text. A single
        string gives a single dict.
        """
        min_chars = self.config.min_text_chars if min_chars is None else min_chars
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        kept = [i for i, text in enumerate(texts) if is_long_enough(text, min_chars)]
        skipped = {"label": None, "score": None, "scores": None,
                   "skipped": f"{short_text_reason(min_chars)} (training skips such texts)"}
        results = [dict(skipped) for _ in texts]
        if kept:
            probs = self.predict_proba([texts[i] for i in kept], batch_size=batch_size)
            for i, result in zip(kept, label_results(probs, self.config.label_names, threshold)):
                results[i] = result
        return results[0] if single else results


def label_results(probs, label_names, threshold=0.5):
    """One ``{"label", "score", "scores"}`` dict per row of ``probs`` (see ``predict``)."""
    ids = decide(probs, threshold)
    return [{"label": label_names[i], "score": float(p[i]), "scores": dict(zip(label_names, map(float, p)))}
            for i, p in zip(ids.tolist(), probs)]


def decide(probs, threshold=0.5):
    """Predicted ids from probabilities: binary by ``p(label 1) > threshold``, else argmax."""
    if probs.size(-1) == 2:
        return (probs[:, 1] > threshold).long()
    return probs.argmax(-1)


def pad_sequences(sequences, pad_token_id=0, device=None):
    """Right-pad lists of token ids into ``(input_ids, attention_mask)`` long tensors."""
    longest = max(1, max((len(s) for s in sequences), default=1))
    input_ids = torch.full((len(sequences), longest), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for i, ids in enumerate(sequences):
        input_ids[i, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        mask[i, : len(ids)] = 1
    return input_ids.to(device), mask.to(device)
