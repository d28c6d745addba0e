"""Cut-before-tokenize (modeling.encoding): the ids of the cut texts equal the full encode."""

import csv
import random
import unicodedata
from pathlib import Path

import pytest
from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import BPE, WordLevel, WordPiece
from tokenizers.trainers import WordLevelTrainer, WordPieceTrainer

from modeling.encoding import BERT_CUT_PUNCTUATION, WHITESPACE, cut_rule, cut_text, encode_ids
from modeling.tokenizer import PAD_TOKEN, UNK_TOKEN, train_tokenizer

FULLTEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "fake_or_real_news" / "fulltext_valid_test"
WORDS = "the senate vote hoax Trump’s café naïve ﬁne ＴＲＵＭＰ İstanbul ΟΔΟΣ 東京都 中文 ١٢٣ x".split()
# Pieces that stress the cut: every whitespace character, punctuation runs and the "<=>" that
# compose with U+0338, combining marks that follow a cut character, CJK with and without spaces,
# the special tokens' text, characters NFKC expands (ligatures, "…", "㈱", U+FDFA) and separators
# that are not whitespace to the pre-tokenizers (U+001C, ZERO WIDTH SPACE).
PIECES = (list(WHITESPACE) + list(BERT_CUT_PUNCTUATION) + WORDS
          + ["!!!", "?!", "...", "<\u0338", "=\u0338", ">\u0338", "\uff1c\u0338", "\u0301", "\u0308\u0301",
             "e\u0301", "\u00a8", "\u1100\u1161\u11a8", "\u1161", "\u11a8", "\u3002\u0301", " \u0301",
             "\u00a0\u0308", "东京都的天气很好。", "我们、你们，他们！", "「引用」", "[UNK]", "[PAD]", "[UNK", "UNK]",
             "\u2026", "\u3231", "\ufdfa", "\ufb01", "\x1c", "\u200b", "\ufeff", "\U0001f600", "\r\n", "  \t "])


def tokenizer_of(normalizer, pre_tokenizer, model="wordlevel", max_length=7):
    """A tokenizer with the given pipeline, its vocabulary fitted on :data:`WORDS` and :data:`PIECES`."""
    texts = [" ".join(WORDS) + " " + " ".join(PIECES)] * 3
    options = dict(special_tokens=[PAD_TOKEN, UNK_TOKEN], show_progress=False)
    if model == "wordlevel":
        tok, trainer = Tokenizer(WordLevel(unk_token=UNK_TOKEN)), WordLevelTrainer(min_frequency=1, **options)
    else:
        tok, trainer = Tokenizer(WordPiece(unk_token=UNK_TOKEN)), WordPieceTrainer(vocab_size=300, **options)
    if normalizer is not None:  # tokenizers 0.19 refuses None (a new Tokenizer has none)
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.train_from_iterator(texts, trainer)
    tok.enable_truncation(max_length=max_length)
    return tok


NFKC_LOWER = lambda: normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])  # noqa: E731
PIPELINES = {
    "nfkc-bert (train_tokenizer)": lambda: (normalizers.Sequence([normalizers.NFKC()]), pre_tokenizers.BertPreTokenizer()),
    "nfkc-lowercase-bert": lambda: (NFKC_LOWER(), pre_tokenizers.BertPreTokenizer()),
    "nfc-whitespace": lambda: (normalizers.NFC(), pre_tokenizers.Whitespace()),
    "nfd-whitespacesplit": lambda: (normalizers.NFD(), pre_tokenizers.WhitespaceSplit()),
    "nfkd-bert": lambda: (normalizers.NFKD(), pre_tokenizers.BertPreTokenizer()),
    "lowercase-whitespace": lambda: (normalizers.Lowercase(), pre_tokenizers.Whitespace()),
    "none-bert": lambda: (None, pre_tokenizers.BertPreTokenizer()),
}


def random_text(rng, n_pieces):
    """Pieces joined by nothing, a space or a random whitespace character."""
    out = []
    for _ in range(n_pieces):
        out.append(rng.choice(PIECES))
        out.append(rng.choice(["", " ", " ", rng.choice(WHITESPACE)]))
    return "".join(out)


def assert_same_ids(tok, texts):
    expected = [e.ids for e in tok.encode_batch(texts)]
    got = encode_ids(tok, texts)
    for text, want, have in zip(texts, expected, got):
        assert have == want, f"{text!r}: {have} != {want}"


@pytest.mark.parametrize("name", PIPELINES)
@pytest.mark.parametrize("model", ["wordlevel", "wordpiece"])
def test_random_tricky_texts_give_the_full_encode(name, model):
    normalizer, pre_tokenizer = PIPELINES[name]()
    rng = random.Random(hash((name, model)) % 1000)
    for max_length in (1, 3, 7, 40):
        tok = tokenizer_of(normalizer, pre_tokenizer, model, max_length)
        assert cut_rule(tok) is not None
        texts = [random_text(rng, rng.randint(0, 120)) for _ in range(300)]
        assert_same_ids(tok, texts)
        cut = sum(cut_text(tok, t) is not t for t in texts)
        assert cut > 100  # the comparison covered cut texts, not only whole ones


@pytest.mark.parametrize("text", [
    "one two three four five six seven eight nine ten",
    "one\u00a0two\u3000three\u2028four\u2003five\u0085six\u1680seven\u202feight\u205fnine\tten",
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
    "a<\u0338b=\u0338c>\u0338d<\u0338e=\u0338f>\u0338g<\u0338h=\u0338i>\u0338j<\u0338k",
    "w.\u0301x,\u0301y!\u0301z?\u0301a;\u0301b:\u0301c-\u0301d(\u0301e)\u0301f",
    "东京都的天气很好。我们、你们，他们！「引用」『书名』【注】（括号）：是；否？好。好。好。好。",
    "日本語のテキスト\u3000空白\u3000全角\u3000スペース\u3000で\u3000区切る\u3000文\u3000です",
    "[UNK][UNK][UNK][UNK][UNK][UNK][UNK][UNK][UNK] [PAD] [PAD]",
    "a[UNK]b[PAD]c[UNK]d[PAD]e[UNK]f[PAD]g[UNK]h",
    "\ufb01ne \ufb01ne \u2026\u2026 \u3231\u3231 \ufdfa word word word",
    "x\x1cy\x1dz\x1ew\x1fv\u200bu\ufeffs t u v w x y z",
    "İSTANBUL ΟΔΟΣ ΣΑΣ İ İ İ İ İ İ İ İ İ",
    "e\u0301 e\u0301\u0301 \u00a8\u00a8 \u1100\u1161\u11a8 \u1100 \u1161 \u11a8 \u0301\u0301 done",
    "   leading and trailing   whitespace   with   runs   of   it   ",
    "one two three four five six seven",  # exactly max_length tokens
    "one two three four five six seven eight",  # one more
    "one two three four five six seven,",
])
@pytest.mark.parametrize("name", ["nfkc-bert (train_tokenizer)", "nfkc-lowercase-bert", "nfc-whitespace"])
def test_tricky_texts_give_the_full_encode(text, name):
    tok = tokenizer_of(*PIPELINES[name]())
    assert_same_ids(tok, [text, text * 3, text + " " + text, "x " + text])


def test_real_articles_give_the_full_encode_and_are_cut():
    """Every full-length fake_or_real_news article (valid/test, 80-19,000 words), for the default and
    the lower-cased tokenizer at several lengths: the same ids, and nearly every article cut."""
    if not (FULLTEXT / "valid.csv").is_file():
        pytest.skip(f"real data not found at {FULLTEXT}")
    csv.field_size_limit(1 << 30)
    with open(FULLTEXT / "valid.csv", encoding="utf-8", newline="") as f:
        articles = [row["titletext"] for row in csv.DictReader(f)]
    with open(FULLTEXT / "test.csv", encoding="utf-8", newline="") as f:
        articles += [row["titletext"] for row in csv.DictReader(f)]
    for lowercase in (False, True):
        tok = train_tokenizer([articles[:300]], min_frequency=2, lowercase=lowercase)
        for max_length in ((1, 200) if not lowercase else (57,)):
            tok.enable_truncation(max_length=max_length)
            assert_same_ids(tok, articles)
            cut = [cut_text(tok, a) for a in articles]
            assert sum(c is not a for c, a in zip(cut, articles)) > 0.5 * len(articles)
            # A cut text still holds max_length tokens (no second encode needed) and ends early.
            ids = [e.ids for e in tok.encode_batch([c for c, a in zip(cut, articles) if c is not a])]
            assert all(len(row) == max_length for row in ids)
    long = " ".join(articles)  # ~5.8 MB: read up to a few thousand characters
    assert len(long) > 5_000_000 and len(cut_text(tok, long)) < 20_000
    assert encode_ids(tok, [long[:1_000_000]]) == [tok.encode(long[:1_000_000]).ids]


def test_a_prefix_that_falls_short_is_encoded_whole():
    """A text quoting special tokens has fewer tokens than the estimate counts: the prefix falls
    short and the text is encoded again whole."""
    tok = tokenizer_of(*PIPELINES["nfkc-bert (train_tokenizer)"](), max_length=5)
    text = "[UNK]" * 4 + " tail words here and more"
    assert cut_text(tok, text) == "[UNK]" * 4  # 12 estimated tokens, 4 real ones
    assert encode_ids(tok, [text]) == [tok.encode(text).ids]
    assert len(encode_ids(tok, [text])[0]) == 5


@pytest.mark.parametrize("change", [
    lambda tok: tok.no_truncation(),
    lambda tok: tok.enable_truncation(max_length=5, direction="left"),
    lambda tok: tok.enable_padding(length=10),
    lambda tok: setattr(tok, "normalizer", normalizers.Replace(" ", "_")),
    lambda tok: setattr(tok, "normalizer", normalizers.Sequence([normalizers.NFKC(), normalizers.Strip()])),
    lambda tok: setattr(tok, "normalizer", normalizers.BertNormalizer()),
    lambda tok: setattr(tok, "pre_tokenizer", pre_tokenizers.Metaspace()),
    lambda tok: setattr(tok, "pre_tokenizer", pre_tokenizers.ByteLevel()),
    lambda tok: setattr(tok, "pre_tokenizer", pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit()])),
    lambda tok: setattr(tok, "model", BPE()),
    lambda tok: tok.add_tokens(["new york"]),
    lambda tok: tok.add_special_tokens([_added("<s>", rstrip=True)]),
])
def test_pipelines_it_cannot_reason_about_are_encoded_whole(change):
    tok = tokenizer_of(*PIPELINES["nfkc-bert (train_tokenizer)"](), max_length=5)
    assert cut_rule(tok) is not None
    change(tok)
    assert cut_rule(tok) is None
    text = "one two three four five six seven eight nine ten " * 20
    assert cut_text(tok, text) is text
    assert encode_ids(tok, [text]) == [e.ids for e in tok.encode_batch([text])]


def _added(content, **kwargs):
    from tokenizers import AddedToken

    return AddedToken(content, **kwargs)


def test_added_tokens_are_never_cut_through():
    """A cut character inside an added token ("[" and "]" of [UNK]) is not a cut place."""
    tok = tokenizer_of(*PIPELINES["nfkc-bert (train_tokenizer)"](), max_length=3)
    rule = cut_rule(tok)
    assert "[" not in rule.cut_chars and "]" not in rule.cut_chars and "." in rule.cut_chars
    tok.add_tokens(["C.I.A"])
    assert "." not in cut_rule(tok).cut_chars
    assert_same_ids(tok, ["a b c C.I.A d e", "a b C.I.A.I.A d", "C.I.A C.I.A C.I.A C.I.A"])


def candidate_code_points(unassigned_planes=(0,)):
    """Every code point that can take part in normalization: with a decomposition, a combining class,
    a mark or Hangul, and the code points of ``unassigned_planes`` that this Python's Unicode leaves
    unassigned (assigned in a newer one, maybe as marks)."""
    out = []
    for i in range(0x20000):
        if 0xD800 <= i <= 0xDFFF:
            continue
        ch = chr(i)
        category = unicodedata.category(ch)
        if (unicodedata.decomposition(ch) or unicodedata.combining(ch) or category[0] == "M"
                or (category == "Cn" and i >> 16 in unassigned_planes)
                or 0x1100 <= i <= 0x11FF or 0xA960 <= i <= 0xA97F or 0xAC00 <= i <= 0xD7FF):
            out.append(ch)
    return out


@pytest.mark.parametrize("normalizer", [
    normalizers.Sequence([normalizers.NFKC()]), NFKC_LOWER(), normalizers.NFC(), normalizers.NFD(),
    normalizers.NFKD()], ids=repr)
def test_cut_characters_are_normalization_boundaries(normalizer):
    """Condition 1 of the module docstring, for every cut character and every code point that can
    combine with it on either side: normalizing x + c + y gives norm(x) + norm(c) + norm(y), and
    norm(c) is whitespace or punctuation that BertPreTokenizer isolates. The default pipeline's
    NFKC is also checked against the code points unassigned here in plane 1, where new scripts go."""
    default = isinstance(normalizer, normalizers.Sequence) and len(normalizer) == 1
    points = candidate_code_points((0, 1) if default else (0,))
    assert len(points) > (60_000 if default else 18_000)
    each = {x: normalizer.normalize_str(x) for x in points + list(WHITESPACE + BERT_CUT_PUNCTUATION)}
    for cuts in (WHITESPACE, BERT_CUT_PUNCTUATION):
        joined = "".join(c + x for c in cuts for x in points) + cuts[0]
        expected = "".join(each[c] + each[x] for c in cuts for x in points) + each[cuts[0]]
        assert normalizer.normalize_str(joined) == expected
    for c in WHITESPACE:
        assert each[c] and all(ch in WHITESPACE for ch in each[c])
    bert = pre_tokenizers.BertPreTokenizer()
    for c in BERT_CUT_PUNCTUATION:
        pieces = [p for p, _ in bert.pre_tokenize_str("a" + each[c] + "b")]
        assert pieces == ["a"] + list(each[c]) + ["b"], repr(c)
    if default:  # the check can fail: "<" before U+0338 composes into "≮"
        assert normalizer.normalize_str("".join("<" + x for x in points)) != "".join("<" + each[x] for x in points)


def test_predict_on_long_texts_equals_the_full_encode():
    """predict() (every backend's TextClassifier) on long texts gives what the whole texts' ids give,
    and transformers' tokenizer of the same folder gives the same ids."""
    import torch

    from modeling import BiLSTMForSequenceClassification
    from modeling.inference import pad_sequences, probabilities

    folder = Path(__file__).resolve().parent / "fixtures" / "model_ec690d9"
    model = BiLSTMForSequenceClassification.from_pretrained(folder)
    rng = random.Random(5)
    texts = [random_text(rng, rng.randint(100, 3000)) for _ in range(12)] + ["short text", "x " * 5000]
    full = [e.ids for e in model.tokenizer.encode_batch(texts)]
    assert encode_ids(model.tokenizer, texts) == full
    assert sum(cut_text(model.tokenizer, t) is not t for t in texts) >= 10
    with torch.inference_mode():
        expected = torch.cat([probabilities(model.logits(*pad_sequences([ids], 0)), 2) for ids in full])
    got = model.predict_proba(texts, batch_size=1)
    assert torch.allclose(got, expected, atol=1e-6)
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.PreTrainedTokenizerFast.from_pretrained(folder)
    assert tokenizer(texts, truncation=True)["input_ids"] == full
