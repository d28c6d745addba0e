import pytest
from tokenizers import Tokenizer

from modeling.tokenizer import PAD_TOKEN_ID, UNK_TOKEN_ID, load_tokenizer, save_tokenizer, train_tokenizer


def test_special_ids_and_min_frequency_is_inclusive():
    texts = ["apple apple apple banana banana cherry"]  # apple 3, banana 2, cherry 1
    tok = train_tokenizer(texts, min_frequency=3)
    vocab = tok.get_vocab()
    assert vocab["[PAD]"] == PAD_TOKEN_ID == 0 and vocab["[UNK]"] == UNK_TOKEN_ID == 1
    assert "apple" in vocab and "banana" not in vocab and "cherry" not in vocab
    assert tok.encode("apple banana").ids == [vocab["apple"], UNK_TOKEN_ID]
    assert "banana" in train_tokenizer(texts, min_frequency=2).get_vocab()


def test_keeps_case_normalises_unicode_and_splits_punctuation():
    tok = train_tokenizer(["Trump, trump! TRUMP. trump"] * 3, min_frequency=1)
    assert tok.encode("TRUMP,").tokens == ["TRUMP", ","]
    assert {"Trump", "trump", "TRUMP"} <= set(tok.get_vocab())
    assert tok.normalizer.normalize_str("ﬁne Ｔrump") == "fine Trump"


def test_lowercase_option():
    tok = train_tokenizer(["Trump, trump! TRUMP. trump"] * 3, min_frequency=1, lowercase=True)
    assert tok.encode("TRUMP,").tokens == ["trump", ","]
    assert "Trump" not in tok.get_vocab() and tok.normalizer.normalize_str("ﬁne Ｔrump") == "fine trump"
    path_free = Tokenizer.from_str(tok.to_str())  # the choice travels inside tokenizer.json
    assert path_free.encode("TRUMP").tokens == ["trump"]


def test_truncation_to_max_length():
    tok = train_tokenizer(["word " * 50] * 3, min_frequency=1, max_length=7)
    assert len(tok.encode("word " * 50).ids) == 7


def test_min_frequency_must_be_positive():
    with pytest.raises(ValueError, match="min_frequency"):
        train_tokenizer(["a"], min_frequency=0)


def test_accepts_batches_and_strings_alike(article_texts):
    one = train_tokenizer(article_texts, min_frequency=3)
    batched = train_tokenizer([article_texts[:25], article_texts[25:]], min_frequency=3)
    assert one.get_vocab() == batched.get_vocab()


def test_save_load_gives_identical_encodings(tmp_path, article_texts):
    tok = train_tokenizer(article_texts, min_frequency=2, max_length=12)
    save_tokenizer(tok, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokenizer.json"]
    for source in (tmp_path, tmp_path / "tokenizer.json"):
        again = load_tokenizer(source)
        assert [e.ids for e in again.encode_batch(article_texts)] == [e.ids for e in tok.encode_batch(article_texts)]
        assert all(len(e.ids) <= 12 for e in again.encode_batch(article_texts))


def test_load_errors_name_the_folder(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="no tokenizer.json.*config.json"):
        load_tokenizer(tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        load_tokenizer(tmp_path / "bad.json")


def test_loads_from_the_hub_cache_offline(tmp_path, article_texts, monkeypatch):
    """A repo id resolves through hf_hub_download with the model's options (cache_dir, revision)."""
    from huggingface_hub import constants

    tok = train_tokenizer(article_texts, min_frequency=2)
    commit = "a" * 40
    snapshot = tmp_path / "models--user--news" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    save_tokenizer(tok, snapshot)
    (tmp_path / "models--user--news" / "refs").mkdir()
    (tmp_path / "models--user--news" / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    again = load_tokenizer("user/news", cache_dir=tmp_path, revision="main")
    assert again.get_vocab() == tok.get_vocab()


def test_real_data_vocabulary(fake_news_dir):
    """The vocabulary of the real train split with min_frequency 3 (throughput: bench/)."""
    import pandas as pd

    texts = pd.read_csv(fake_news_dir / "train.csv", keep_default_na=False)["titletext"].tolist()
    batches = [texts[i : i + 1000] for i in range(0, len(texts), 1000)]
    assert train_tokenizer(batches, min_frequency=3, lowercase=True).get_vocab_size() == 13_222
    tok = train_tokenizer(batches, min_frequency=3)
    assert tok.get_vocab_size() == 15_951
    encodings = tok.encode_batch(texts[:200])
    assert sum(e.ids.count(1) for e in encodings) / sum(len(e.ids) for e in encodings) < 0.05  # few [UNK]
