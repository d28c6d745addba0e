"""The model card fits the data it was trained on: a run on a non-news CSV gets no news wording."""

import configparser
import json
import random
from pathlib import Path

import pytest
import yaml

from modeling.hub import upload as hub
from modeling.hub.card import project_url
from modeling.training import train
from tests.hub.test_upload import tiny_model
from tests.conftest import write_csv

ROOT = Path(__file__).resolve().parents[2]
GOOD = "great excellent love perfect comfortable sturdy recommend happy fast works".split()
BAD = "broken refund terrible awful cheap returned disappointed slow useless waste".split()
FILLER = "the a this it and was my of to for with is product item".split()


def review(rng, label):
    own = GOOD if label == "positive" else BAD
    return " ".join(rng.choice(own) if rng.random() < 0.3 else rng.choice(FILLER) for _ in range(20))


@pytest.fixture(scope="module")
def reviews_run(tmp_path_factory):
    rng = random.Random(0)
    root = tmp_path_factory.mktemp("reviews")
    rows = [[("positive", "negative")[i % 2], review(rng, ("positive", "negative")[i % 2])] for i in range(150)]
    data = write_csv(root / "product_reviews.csv", ["sentiment", "review"], rows[:120])
    test = write_csv(root / "product_reviews_test.csv", ["sentiment", "review"], rows[120:])
    out = root / "run"
    train(data, test_data=test, output_dir=str(out), label_column="sentiment", text_column="review", embedding_dim=8, hidden_size=8,
          min_frequency=1, num_train_epochs=2, overwrite_output_dir=True)
    return out


def card_of(run, tmp_path, **options):
    text = (hub.build_upload_folder(run, tmp_path / "up", "bob/reviews", **options) / "README.md").read_text()
    _, meta, body = text.split("---\n", 2)
    return yaml.safe_load(meta), body


def test_a_non_news_card_takes_its_words_from_the_data(reviews_run, tmp_path):
    meta, body = card_of(reviews_run, tmp_path)
    card_data = json.loads((reviews_run / "card_data.json").read_text())
    assert card_data["dataset_name"] == "product_reviews" and card_data["language"] == "en"
    assert meta["language"] == "en" and "fake-news" not in meta["tags"]
    assert meta["model-index"][0]["results"][0]["dataset"]["name"] == "product_reviews"
    # Widget examples come from the validation split, one per label, with the model's outputs.
    assert [w["text"] for w in meta["widget"]] == card_data["widget_texts"] and len(meta["widget"]) == 2
    assert {w["output"][0]["label"] for w in meta["widget"]} <= {"negative", "positive"}
    assert "classifies English texts as `negative` or `positive`" in body
    assert "Trained on `product_reviews`" in body
    for news_word in ("news", "McIntire", "fake", "2016 US election", "Senate"):
        assert news_word not in body, news_word
    assert "| num_train_epochs | 2 |" in body
    for bookkeeping in ("overwrite_output_dir", "output_dir", "label_column", "train_file", "report_to"):
        assert f"| {bookkeeping} |" not in body, bookkeeping


def test_flags_override_what_the_data_says(reviews_run, tmp_path):
    meta, body = card_of(reviews_run, tmp_path, language="de", text_kind="Produktbewertungen",
                         widget_texts=["das ist great"], tags=("reviews",))
    assert meta["language"] == "de" and "reviews" in meta["tags"]
    assert [w["text"] for w in meta["widget"]] == ["das ist great"]
    assert "classifies German Produktbewertungen as" in body


def test_the_card_links_the_code_repository_only_when_the_metadata_names_one(reviews_run, tmp_path, monkeypatch):
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert "url" not in config["metadata"]  # no placeholder ships
    import importlib.metadata

    for url in ("https://github.com/alice/bilstm-text-classifier", None):
        metadata = {"Home-page": url} if url else {}
        monkeypatch.setattr(importlib.metadata, "metadata",
                            lambda name: type("M", (dict,), {"get_all": lambda self, key: None})(metadata))
        assert project_url() == url
        _, body = card_of(reviews_run, tmp_path / str(bool(url)))
        if url:
            assert f"[`bilstm-text-classifier`]({url})" in body and f'`pip install "git+{url}"`' in body
        else:
            assert "with the `bilstm-text-classifier` project" in body and "](None)" not in body
            # No instruction the reader cannot follow: without a link, no "install the project" step.
            assert "clone" not in body and "pip install" not in body.split("### With")[0]
        assert "from bilstm_inference import BiLSTMForSequenceClassification" in body
        assert "your-org" not in body

def test_a_multi_class_card_names_its_classes_naturally(tmp_path):
    from modeling.hub.card import label_phrase

    assert label_phrase(["REAL", "FAKE"]) == "as `REAL` or `FAKE`"
    names = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert label_phrase(names) == "into one of 6 classes: `ABBR`, `DESC`, `ENTY`, `HUM`, `LOC` and `NUM`"
    from modeling import BiLSTMConfig, BiLSTMForSequenceClassification

    tokenizer = tiny_model().tokenizer
    model = BiLSTMForSequenceClassification(BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), embedding_dim=8,
                                                         hidden_size=8, label_names=names, max_length=32))
    model.tokenizer = tokenizer
    model.save_pretrained(tmp_path / "run")
    _, body = card_of(tmp_path / "run", tmp_path)
    assert "classifies texts into one of 6 classes: `ABBR`, `DESC`, `ENTY`, `HUM`, `LOC` and `NUM`." in body


def code_block_after(body, heading):
    """The first ```python block after ``heading`` in a rendered card."""
    return body.split(heading, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


def test_the_cards_transformers_snippet_runs_without_warnings(tmp_path, capfd, caplog):
    """The card's transformers code, run as written on the uploaded folder, loads and classifies
    without transformers warning about the model type (AutoTokenizer without trust_remote_code did)."""
    pytest.importorskip("transformers")
    import transformers

    model = tiny_model()
    model.save_pretrained(tmp_path / "run")
    folder = hub.build_upload_folder(tmp_path / "run", tmp_path / "up", "bob/reviews")
    body = (folder / "README.md").read_text().split("---\n", 2)[2]
    code = code_block_after(body, "### With 🤗 transformers").replace('"bob/reviews"', repr(str(folder)))
    transformers.logging.set_verbosity_warning()
    capfd.readouterr()
    namespace = {}
    with caplog.at_level("WARNING"):
        exec(code, namespace)  # noqa: S102 - the card's own example
    printed = capfd.readouterr()
    assert "You are using a model of type" not in printed.out + printed.err
    assert not [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    ranked = namespace["classifier"]("senate budget vote", top_k=None)
    assert sorted(r["label"] for r in ranked) == ["FAKE", "REAL"]
