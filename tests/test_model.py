import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from modeling import BiLSTMConfig, BiLSTMForSequenceClassification, train_tokenizer
from modeling.inference import pad_sequences


def _model(**kwargs):
    torch.manual_seed(0)
    config = BiLSTMConfig(vocab_size=kwargs.pop("vocab_size", 50), embedding_dim=12, hidden_size=10, dropout=0.0, **kwargs)
    return BiLSTMForSequenceClassification(config).eval()


def _batch(lengths, vocab=50, extra_padding=0):
    g = torch.Generator().manual_seed(1)
    seqs = [torch.randint(2, vocab, (n,), generator=g).tolist() for n in lengths]
    ids, mask = pad_sequences(seqs)
    if extra_padding:
        ids = torch.cat([ids, torch.zeros(len(seqs), extra_padding, dtype=torch.long)], 1)
        mask = torch.cat([mask, torch.zeros(len(seqs), extra_padding, dtype=torch.long)], 1)
    return ids, mask


@pytest.mark.parametrize("pooling", ["last", "max", "mean", "last_max"])
@pytest.mark.parametrize("num_layers,bidirectional", [(1, True), (2, True), (2, False)])
def test_padding_changes_no_logit(pooling, num_layers, bidirectional):
    model = _model(pooling=pooling, num_layers=num_layers, bidirectional=bidirectional)
    lengths = [7, 3, 11, 1]
    ids, mask = _batch(lengths)
    logits = model(ids, mask).logits
    padded = model(*_batch(lengths, extra_padding=9)).logits
    assert torch.allclose(logits, padded, atol=1e-5)
    alone = torch.cat([model(*_batch([n])).logits for n in lengths])  # no padding at all
    single = torch.cat([model(ids[i : i + 1, :n], mask[i : i + 1, :n]).logits for i, n in enumerate(lengths)])
    assert torch.allclose(logits, single, atol=1e-5)
    assert alone.shape == logits.shape
    assert not torch.allclose(logits[0], logits[1])  # different texts, different logits


def test_matches_packed_pytorch_bilstm_exactly():
    """Our unpacked bidirectional pass equals nn.LSTM(bidirectional) over pack_padded_sequence."""
    model = _model(pooling="last")
    layer = model.layers[0]
    ref = nn.LSTM(12, 10, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(ref, name).copy_(getattr(layer.fwd, name))
            getattr(ref, name + "_reverse").copy_(getattr(layer.bwd, name))
    ids, mask = _batch([9, 4, 6, 2], extra_padding=3)
    lengths = mask.sum(1)
    packed = nn.utils.rnn.pack_padded_sequence(model.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
    _, (h, _) = ref(packed)
    expected = model.classifier(torch.cat([h[0], h[1]], dim=-1))
    assert torch.allclose(model(ids, mask).logits, expected, atol=1e-5)


def test_attention_mask_defaults_to_non_pad_tokens():
    model = _model()
    ids, mask = _batch([5, 2], extra_padding=2)
    assert torch.equal(model(ids).logits, model(ids, mask).logits)


def test_binary_head_and_loss():
    model = _model()
    ids, mask = _batch([5, 3, 4])
    labels = torch.tensor([1, 0, 1])
    out = model(ids, mask, labels=labels)
    assert out.logits.shape == (3, 1)
    expected = nn.functional.binary_cross_entropy(torch.sigmoid(out.logits[:, 0]), labels.float())
    assert torch.isclose(out.loss, expected, atol=1e-6)
    probs = model.probabilities(out.logits)
    assert torch.allclose(probs.sum(-1), torch.ones(3)) and torch.allclose(probs[:, 1], torch.sigmoid(out.logits[:, 0]))


def test_multiclass_head_and_loss():
    model = _model(label_names=["a", "b", "c", "d", "e", "f"])
    ids, mask = _batch([5, 3])
    out = model(ids, mask, labels=torch.tensor([4, 0]))
    assert out.logits.shape == (2, 6)
    assert torch.isclose(out.loss, nn.functional.cross_entropy(out.logits, torch.tensor([4, 0])))
    assert model(ids, mask).loss is None


def test_model_learns_a_separable_task():
    torch.manual_seed(0)
    model = BiLSTMForSequenceClassification(
        BiLSTMConfig(vocab_size=20, embedding_dim=8, hidden_size=8, dropout=0.0, embedding_dropout=0.0, pooling="last")
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    ids = torch.randint(2, 20, (64, 6))
    labels = (ids == 7).any(1).long()  # class 1 iff token 7 appears anywhere
    for _ in range(150):
        loss = model(ids, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert loss.item() < 0.1


@pytest.fixture
def saved_model(tmp_path, article_texts):
    tok = train_tokenizer(article_texts, min_frequency=2, max_length=40)
    model = _model(vocab_size=tok.get_vocab_size())
    model.tokenizer = tok
    model.save_pretrained(tmp_path / "model")
    return model, tmp_path / "model"


def test_save_load_round_trip(saved_model, article_texts):
    model, path = saved_model
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in path.iterdir()}
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp folder left
    loaded = BiLSTMForSequenceClassification.from_pretrained(path)
    assert loaded.config == model.config and not loaded.training
    for (name, p), (_, q) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(p, q), name
    assert loaded.predict(article_texts) == model.predict(article_texts)
    assert json.loads((path / "config.json").read_text())["label_names"] == ["REAL", "FAKE"]


def test_predict_output_format(saved_model):
    model, _ = saved_model
    one = model.predict("the senate vote")
    assert set(one) == {"label", "score", "scores"} and set(one["scores"]) == {"REAL", "FAKE"}
    assert one["score"] == one["scores"][one["label"]]
    assert abs(sum(one["scores"].values()) - 1) < 1e-6
    many = model.predict(["the senate vote", "", "x " * 500], batch_size=2)
    assert many[0] == one and len(many) == 3
    p_fake = one["scores"]["FAKE"]
    assert model.predict("the senate vote", threshold=p_fake - 1e-3)["label"] == "FAKE"
    assert model.predict("the senate vote", threshold=p_fake + 1e-3)["label"] == "REAL"


def test_predict_needs_a_tokenizer():
    with pytest.raises(ValueError, match="no tokenizer"):
        _model().predict(["a text to classify"])


def test_load_errors_are_clear(saved_model, tmp_path):
    _, path = saved_model
    (path / "model.safetensors").rename(path / "moved.safetensors")
    with pytest.raises(FileNotFoundError, match="no model.safetensors"):
        BiLSTMForSequenceClassification.from_pretrained(path)
    (path / "moved.safetensors").rename(path / "model.safetensors")

    weights = load_file(path / "model.safetensors")
    save_file({k: v for k, v in weights.items() if not k.startswith("classifier")}, path / "model.safetensors")
    with pytest.raises(ValueError, match="does not match config.json"):
        BiLSTMForSequenceClassification.from_pretrained(path)  # strict: a missing key is an error
    save_file(weights, path / "model.safetensors")

    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "vocab_size": config["vocab_size"] + 1}))
    with pytest.raises(ValueError, match="does not match|tokens but"):
        BiLSTMForSequenceClassification.from_pretrained(path)
    (path / "config.json").write_text(json.dumps({**config, "hidden_size": 10**9}))
    with pytest.raises(ValueError, match="hidden_size"):
        BiLSTMForSequenceClassification.from_pretrained(path)
    (path / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        BiLSTMForSequenceClassification.from_pretrained(path)
    with pytest.raises(FileNotFoundError, match="no such local folder"):
        BiLSTMForSequenceClassification.from_pretrained(tmp_path / "missing" / "model")


def test_tokenizer_vocab_must_match_config(saved_model, article_texts):
    model, path = saved_model
    other = train_tokenizer(article_texts + ["words seen once"], min_frequency=1)
    assert other.get_vocab_size() != model.config.vocab_size
    other.save(str(path / "tokenizer.json"))
    with pytest.raises(ValueError, match="tokenizer.json has .* tokens but config.json says vocab_size"):
        BiLSTMForSequenceClassification.from_pretrained(path)


def test_no_pickle_fallback(saved_model):
    """A folder with only pytorch_model.bin (a pickle) is refused, never torch.load-ed."""
    _, path = saved_model
    torch.save({}, path / "pytorch_model.bin")
    (path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="no model.safetensors"):
        BiLSTMForSequenceClassification.from_pretrained(path)


def test_word_dropout_zeroes_whole_tokens_in_training_only():
    model = _model(embedding_dropout=0.5)
    x = torch.ones(4, 50, 12)
    model.train()
    torch.manual_seed(0)
    dropped = model._word_dropout(x)
    per_token = dropped[..., 0]
    assert torch.equal(dropped, per_token.unsqueeze(-1).expand_as(dropped))  # a token is all kept or all zero
    assert set(per_token.unique().tolist()) == {0.0, 2.0}  # kept vectors scaled by 1 / (1 - p)
    assert 0.35 < (per_token == 0).float().mean().item() < 0.65
    model.eval()
    assert torch.equal(model._word_dropout(x), x)
