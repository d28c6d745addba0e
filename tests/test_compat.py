"""A model saved by an earlier version of the project (commit ec690d9, ``scripts/train.py`` on the
demo data) loads and predicts as it did then: saved models outlive the code that wrote them."""

import json
import math
from pathlib import Path

import pytest

from modeling import BiLSTMForSequenceClassification
from modeling.serving import load_for_inference

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAVED = FIXTURES / "model_ec690d9"
EXPECTED = json.loads((FIXTURES / "model_ec690d9_predictions.json").read_text(encoding="utf-8"))


def assert_same_predictions(got, expected):
    assert len(got) == len(expected)
    for new, old in zip(got, expected):
        assert new["label"] == old["label"]  # labels exactly, skipped texts included
        assert new.get("skipped") == old.get("skipped")
        if old["score"] is not None:  # probabilities within float32 kernels' last bits
            assert math.isclose(new["score"], old["score"], abs_tol=1e-6)
            assert new["scores"].keys() == old["scores"].keys()
            assert all(math.isclose(new["scores"][k], v, abs_tol=1e-6) for k, v in old["scores"].items())


@pytest.mark.parametrize("load", [BiLSTMForSequenceClassification.from_pretrained,
                                  lambda path: load_for_inference(path, backend="torch")], ids=["from_pretrained",
                                                                                                 "load_for_inference"])
def test_a_model_saved_by_ec690d9_predicts_as_it_did(load):
    model = load(SAVED)
    assert model.config.label_names == ["REAL", "FAKE"]
    assert_same_predictions(model.predict(EXPECTED["texts"]), EXPECTED["predictions"])
