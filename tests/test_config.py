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


@pytest.mark.parametrize("value", [0, 1, 5, 100_000, 100_001])
def test_min_text_chars_is_checked_by_one_rule_for_the_config_and_the_flags(value):
    import argparse

    from modeling.data.arguments import min_text_chars_arg
    from modeling.training.options import check_options, default_options

    outcomes = []
    for check in (lambda: BiLSTMConfig(min_text_chars=value), lambda: min_text_chars_arg(str(value)),
                  lambda: check_options({**default_options(), "min_text_chars": value})):
        try:
            check()
            outcomes.append(True)
        except (ValueError, argparse.ArgumentTypeError):
            outcomes.append(False)
    assert outcomes == [1 <= value <= 100_000] * 3


@pytest.mark.parametrize("names, ok", [("REAL,FAKE", True), ("REAL", False), ("REAL,REAL", False), ("REAL,", False)])
def test_label_names_are_checked_by_one_rule_for_the_config_and_the_flag(names, ok):
    import argparse

    from modeling.data.arguments import label_names_arg

    for check in (lambda: BiLSTMConfig(label_names=names.split(",")), lambda: label_names_arg(names)):
        if ok:
            check()
        else:
            with pytest.raises((ValueError, argparse.ArgumentTypeError)):
                check()


def test_the_short_text_rule_is_imported_from_its_one_home():
    """The short-text rule has one home, modeling.config: no module imports it from anywhere else."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    names = r"(is_long_enough|short_text_reason|NON_EMPTY|TUTORIAL_MIN_TEXT_CHARS|MIN_TEXT_CHARS|short_texts)"
    pattern = re.compile(r"from\s+(\S+)\s+import\s+\(?([^)\n]*(?:\n[^)\n]*)*?)\)?\n")
    offenders = []
    for path in [*root.glob("modeling/**/*.py"), *root.glob("scripts/*.py"), *root.glob("bench/*.py")]:
        for source, imported in pattern.findall(path.read_text(encoding="utf-8")):
            if re.search(rf"\b{names}\b", imported) and not source.endswith("config"):
                offenders.append(f"{path.relative_to(root)}: from {source} import ...")
    assert offenders == []
    from modeling import config

    assert (config.NON_EMPTY, config.TUTORIAL_MIN_TEXT_CHARS, config.BiLSTMConfig().min_text_chars) == (1, 5, 5)
    assert config.short_text_reason(5) == "text shorter than 5 characters"
    assert config.short_text_reason(1, plural=True) == "empty texts"
