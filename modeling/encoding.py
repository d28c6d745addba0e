"""Text → token ids at the tokenizer's limit: only what ``max_length`` tokens can need is normalized
and pre-tokenized, and a batch goes to the Rust tokenizer in one call.

A tokenizer truncating to ``max_length`` tokens still normalizes, pre-tokenizes and looks up the
whole text (and builds the overflowing encodings): a 5 MB text cost seconds and hundreds of MB to
keep 200 tokens. :func:`encode_ids` first cuts each long text to a prefix whose encoding is provably
the same, under two conditions checked here:

1. The cut falls just before a character at which the pipeline splits the text into independent
   parts: ``tokens(prefix + rest) == tokens(prefix) + tokens(rest)``. That holds before a whitespace
   character (Unicode ``White_Space``, what the pre-tokenizers split on and drop) for every
   normalizer and pre-tokenizer accepted by :func:`cut_rule`, and, with ``BertPreTokenizer``, before
   the punctuation characters of ``BERT_CUT_PUNCTUATION``, which it isolates. Every one of those
   characters is a Unicode starter that composes with nothing before it and, under the accepted
   normalizers, stays one character of the same class whatever follows it, so the prefix normalizes
   to the same characters it has inside the whole text (tests/test_encoding.py checks this for every
   code point on either side). A cut character that occurs in an added token (``[UNK]`` holds
   ``[`` and ``]``) is not used, so no added token is cut through.
2. The prefix itself yields at least ``max_length`` tokens, which is checked on its encoding: a
   prefix that falls short (an estimate that counted too many tokens, as for a text quoting
   ``[UNK]``) is encoded again whole.

Any other pipeline (another normalizer, pre-tokenizer or model, a post-processor, padding, left
truncation, an added token with ``lstrip``/``rstrip`` or holding whitespace) is encoded whole, as
``encode_batch`` would.
"""

import json
import re
import string

from tokenizers import normalizers, pre_tokenizers
from tokenizers.models import WordLevel, WordPiece

__all__ = ["BERT_CUT_PUNCTUATION", "WHITESPACE", "CutRule", "cut_rule", "cut_text", "encode_ids"]

# Unicode White_Space: what Rust's char::is_whitespace, and so the pre-tokenizers, split on.
# (Python's str.isspace() also counts U+001C..U+001F, which the pre-tokenizers keep as text.)
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
# Punctuation BertPreTokenizer isolates and a prefix may end before: ASCII punctuation except
# "<", "=", ">" (each composes with a following U+0338 into a mathematical symbol: "<\u0338" is "≮"),
# and the quotes, dashes, ellipsis and CJK punctuation that news and CJK text break on.
BERT_CUT_PUNCTUATION = ("".join(c for c in string.punctuation if c not in "<=>")
                        + "\u2013\u2014\u2018\u2019\u201c\u201d\u2026\u3001\u3002\u300c\u300d\u300e\u300f"
                        + "\u3010\u3011\uff01\uff08\uff09\uff0c\uff1a\uff1b\uff1f")
_NORMALIZERS = (normalizers.NFC, normalizers.NFD, normalizers.NFKC, normalizers.NFKD, normalizers.Lowercase)
_WHITESPACE_PRE_TOKENIZERS = (pre_tokenizers.Whitespace, pre_tokenizers.WhitespaceSplit)
_MODELS = (WordLevel, WordPiece)


class CutRule:
    """Where a tokenizer's texts may be cut (see the module docstring): after ``max_length``
    estimated tokens, at the next character of ``cut_chars``."""

    def __init__(self, max_length, cut_chars, token_chars):
        self.max_length, self.cut_chars = max_length, cut_chars
        separators = re.escape(WHITESPACE)
        isolated = re.escape(token_chars)
        # One estimated token: a whole run of characters that are neither whitespace nor isolated (the
        # lookahead keeps a failed match from trying shorter runs), or one isolated character.
        word = f"[^{separators}{isolated}]"
        token = f"(?:{word}+(?!{word})|[{isolated}])" if token_chars else f"{word}+(?!{word})"
        self._tokens = re.compile(f"(?:[{separators}]*{token}){{{max_length}}}")
        self._cut = re.compile(f"[{re.escape(cut_chars)}]")

    def cut(self, text):
        """``text`` up to the first cut character after ``max_length`` estimated tokens, or ``text``
        itself when it has no such place."""
        # Under ~4 characters a token, a text seldom holds max_length tokens, and scanning it for the
        # place costs more than a cut would save (any text may be left whole: the ids are the same).
        if len(text) <= 4 * self.max_length:
            return text
        match = self._tokens.match(text)
        cut = match and self._cut.search(text, match.end())
        return text[: cut.start()] if cut else text


def cut_rule(tokenizer):
    """The :class:`CutRule` of a ``tokenizers.Tokenizer``, or ``None`` when its pipeline is not one this
    module can reason about (then texts are encoded whole)."""
    truncation = tokenizer.truncation
    if (not truncation or truncation.get("direction", "right") != "right" or truncation["max_length"] < 1
            or tokenizer.padding is not None or tokenizer.post_processor is not None
            or not isinstance(tokenizer.model, _MODELS) or not _normalizer_ok(tokenizer.normalizer)):
        return None
    pre_tokenizer = tokenizer.pre_tokenizer
    if isinstance(pre_tokenizer, pre_tokenizers.BertPreTokenizer):
        cut_chars, token_chars = WHITESPACE + BERT_CUT_PUNCTUATION, BERT_CUT_PUNCTUATION + "<=>"
    elif isinstance(pre_tokenizer, _WHITESPACE_PRE_TOKENIZERS):
        cut_chars, token_chars = WHITESPACE, ""
    else:
        return None
    in_added = set()
    for token in tokenizer.get_added_tokens_decoder().values():
        if token.lstrip or token.rstrip or any(c in WHITESPACE for c in token.content):
            return None
        in_added.update(token.content)
    cut_chars = "".join(c for c in cut_chars if c not in in_added)
    return CutRule(truncation["max_length"], cut_chars, token_chars)


def _normalizer_ok(normalizer):
    """Whether every step of ``normalizer`` is one whose effect on a cut the rule knows. Read from its
    serialized form, which names each step in every tokenizers release (``len()`` of a ``Sequence``
    is 0 in tokenizers 0.19, which would make an unknown step look absent)."""
    if normalizer is None:
        return True
    state = json.loads(normalizer.__getstate__())
    steps = state.get("normalizers", []) if state.get("type") == "Sequence" else [state]
    known = {cls.__name__ for cls in _NORMALIZERS}
    return bool(steps) and all(step.get("type") in known for step in steps)


def cut_text(tokenizer, text):
    """``text`` cut to a prefix encoding to the same ids as ``text`` under ``tokenizer`` (when the
    prefix reaches ``max_length`` tokens; :func:`encode_ids` checks that), or ``text`` itself."""
    rule = cut_rule(tokenizer)
    return text if rule is None else rule.cut(text)


def encode_ids(tokenizer, texts):
    """The token ids of each of ``texts``, equal to ``[e.ids for e in tokenizer.encode_batch(texts)]``,
    reading only the prefix of each text that ``max_length`` tokens need (see the module docstring).
    One ``encode_batch`` call for the batch (the ``_fast`` one, without offsets, where the installed
    ``tokenizers`` has it), a second only for cut texts whose prefix fell short."""
    texts = texts if isinstance(texts, list) else list(texts)
    encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    rule = cut_rule(tokenizer)
    if rule is None:
        return [e.ids for e in encode(texts)]
    cut = [rule.cut(text) for text in texts]
    ids = [e.ids for e in encode(cut)]
    short = [i for i, (text, part, row) in enumerate(zip(texts, cut, ids))
             if part is not text and len(row) < rule.max_length]
    if short:
        for i, encoding in zip(short, encode([texts[i] for i in short])):
            ids[i] = encoding.ids
    return ids
