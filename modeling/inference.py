"""Raw texts to labels, for every backend: tokenize, pad length-sorted batches, turn logits into
probabilities and probabilities into labels; the short-text rule. The torch model
(``modeling.model``) and the onnxruntime session (``modeling.serving``) both call these, so they batch,
pad and decide identically. Imports only torch (and the short-text rule from ``modeling.config``).
"""

import torch

from .config import is_long_enough, short_text_reason

__all__ = ["batched_probabilities", "classify_texts", "decide", "label_results", "pad_sequences", "probabilities"]


def probabilities(logits, num_labels):
    """(batch, num_labels) probabilities: sigmoid of the single logit for two labels, else softmax."""
    logits = logits.float()
    if num_labels == 2:
        p = torch.sigmoid(logits.squeeze(-1))
        return torch.stack([1 - p, p], dim=-1)
    return logits.softmax(-1)


def batched_probabilities(tokenizer, texts, batch_size, config, logits_fn):
    """Tokenize ``texts``, run ``logits_fn(input_ids, attention_mask)`` on length-sorted padded batches
    and return the (len(texts), num_labels) probabilities in input order. The torch model and the
    onnxruntime session (``modeling.serving``) share this, so they batch and pad identically."""
    encodings = tokenizer.encode_batch(list(texts))
    # Sort by length so each batch pads little; results go back to input order.
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
    probs = torch.zeros(len(encodings), config.num_labels)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        input_ids, mask = pad_sequences([encodings[i].ids for i in chunk], config.pad_token_id)
        probs[chunk] = probabilities(logits_fn(input_ids, mask), config.num_labels).cpu()
    return probs


def classify_texts(predict_proba, texts, label_names, *, batch_size=64, threshold=0.5, min_chars):
    """``predict``'s results for both backends: ``predict_proba`` on the texts of at least
    ``min_chars`` characters (the model's ``config.min_text_chars``, or 0 for every text), a
    ``skipped`` dict for the others, one per text in input order (a single string gives a single dict)."""
    single = isinstance(texts, str)
    texts = [texts] if single else list(texts)
    kept = [i for i, text in enumerate(texts) if is_long_enough(text, min_chars)]
    skipped = {"label": None, "score": None, "scores": None,
               "skipped": f"{short_text_reason(min_chars)} (training skips such texts)"}
    results = [dict(skipped) for _ in texts]
    if kept:
        probs = predict_proba([texts[i] for i in kept], batch_size=batch_size)
        for i, result in zip(kept, label_results(probs, label_names, threshold)):
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
