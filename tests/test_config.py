import json

import pytest

from modeling import BiLSTMConfig
from modeling.config import MAX_VOCAB_SIZE


def test_defaults_are_the_tutorials_binary_setup():
    config = BiLSTMConfig()
    assert config.label_names == ["REAL", "FAKE"]
    assert config.num_labels == 2 and config.bidirectional and config.num_directions == 2
    assert config.label2id == {"REAL": 0, "FAKE": 1}


def test_min_text_chars_defaults_to_the_rule_of_older_configs():
    # A config.json written before the field existed loads with the rule its model was trained with.
    assert BiLSTMConfig().min_text_chars == 5
    assert BiLSTMConfig.from_dict({"vocab_size": 100}).min_text_chars == 5
    assert BiLSTMConfig.from_dict({"vocab_size": 100, "min_text_chars": 1}).min_text_chars == 1


def test_round_trips_through_json():
    config = BiLSTMConfig(vocab_size=1234, label_names=["a", "b", "c"], pooling="max", num_layers=2)
    again = BiLSTMConfig(**json.loads(json.dumps(config.to_dict())))
    assert again == config


@pytest.mark.parametrize(
    "field,value",
    [
        ("vocab_size", 1),
        ("vocab_size", MAX_VOCAB_SIZE + 1),
        ("vocab_size", 10.5),
        ("embedding_dim", 0),
        ("hidden_size", -3),
        ("hidden_size", True),
        ("num_layers", 0),
        ("dropout", 1.0),
        ("dropout", -0.1),
        ("dropout", "0.2"),
        ("pooling", "attention"),
        ("bidirectional", "yes"),
        ("label_names", ["only"]),
        ("label_names", ["A", "A"]),
        ("label_names", ["A", ""]),
        ("max_length", 0),
        ("min_text_chars", 0),
        ("min_text_chars", "5"),
        ("pad_token_id", 99),
    ],
)
def test_invalid_values_are_refused_with_the_value_quoted(field, value):
    with pytest.raises(ValueError, match=field) as err:
        BiLSTMConfig(vocab_size=50, **{field: value}) if field != "vocab_size" else BiLSTMConfig(vocab_size=value)
    assert repr(value) in str(err.value)


def test_absurd_size_is_refused_before_allocation():
    with pytest.raises(ValueError, match="parameters"):
        BiLSTMConfig(vocab_size=4_000_000, embedding_dim=4096)


def test_num_parameters_matches_torch():
    from modeling import BiLSTMForSequenceClassification

    for kwargs in ({}, {"num_layers": 2, "pooling": "last_max"}, {"bidirectional": False, "label_names": list("abcd")}):
        config = BiLSTMConfig(vocab_size=100, embedding_dim=8, hidden_size=6, **kwargs)
        model = BiLSTMForSequenceClassification(config)
        assert config.num_parameters() == sum(p.numel() for p in model.parameters())


def test_config_module_does_not_import_torch():
    import subprocess
    import sys

    # modeling/__init__ imports the model; load config.py on its own as a file.
    code = (
        "import importlib.util, sys; spec = importlib.util.spec_from_file_location('c', 'modeling/config.py');"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); print('torch' in sys.modules)"
    )
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
