"""modeling.training.evaluation: the shared evaluation function and its file format."""

import json

import evaluate
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from modeling import BiLSTMConfig, BiLSTMForSequenceClassification
from modeling.data.batching import collate_batch
from modeling.training.evaluation import evaluate_model, prefixed_summary, save_eval_results


@pytest.fixture(autouse=True)
def _metrics_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setattr(evaluate.config, "HF_METRICS_CACHE", str(tmp_path_factory.getbasetemp() / "metrics"))


def _loader(n=10, batch_size=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 9, (n,), generator=g).tolist()
    features = [{"input_ids": torch.randint(2, 50, (length,), generator=g).tolist(), "label": i % 2}
                for i, length in enumerate(lengths)]
    return DataLoader(features, batch_size=batch_size, collate_fn=collate_batch)


def test_evaluate_model_matches_a_direct_computation():
    torch.manual_seed(0)
    model = BiLSTMForSequenceClassification(BiLSTMConfig(vocab_size=50, embedding_dim=8, hidden_size=8))
    model.train()
    results = evaluate_model(model, _loader(), threshold=0.5)
    assert model.training  # the mode is restored
    model.eval()
    logits, labels = [], []
    with torch.no_grad():
        for batch in _loader():
            logits.append(model(batch["input_ids"], batch["attention_mask"]).logits.squeeze(-1))
            labels.append(batch["labels"])
    logits, labels = torch.cat(logits), torch.cat(labels)
    assert results["loss"] == pytest.approx(F.binary_cross_entropy_with_logits(logits, labels.float()).item(), abs=1e-6)
    predictions = (torch.sigmoid(logits) > 0.5).long()
    assert results["accuracy"] == pytest.approx((predictions == labels).float().mean().item())
    assert results["num_examples"] == 10 and results["threshold"] == 0.5
    assert evaluate_model(model, _loader(), threshold=0.0)["confusion_matrix"][0][0] == 0  # all predicted FAKE


def test_save_eval_results_and_summary(tmp_path):
    results = {"loss": 0.3, "threshold": 0.5, "accuracy": 0.75, "macro_f1": 0.7, "weighted_f1": 0.72,
               "confusion_matrix": [[2, 1], [0, 1]], "label_names": ["REAL", "FAKE"], "num_examples": 4}
    save_eval_results(results, tmp_path, test_file="test.csv")
    assert json.loads((tmp_path / "eval_results.json").read_text()) == {"test_file": "test.csv", **results}
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 0
    assert prefixed_summary(results, "test") == {"test_loss": 0.3, "test_accuracy": 0.75, "test_macro_f1": 0.7,
                                                 "test_weighted_f1": 0.72, "test_samples": 4}
