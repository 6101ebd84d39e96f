"""Case 20: tag spam keywords."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case

SPAM_KEYWORDS = frozenset({"free", "offer", "click", "now"})


@tracr_case(
    "20",
    "'spam' for each word that is free, offer, click or now, else 'not spam' (the token 'spam' itself is not a keyword).",
    vocab=vocabs.words() | {"spam", "offer", "click", "now"},
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def spam_detector() -> rasp.SOp:
    # number of keywords the word equals: the int 0 or 1
    keyword_count = rasp.Map(lambda word: sum(word == k for k in SPAM_KEYWORDS), rasp.tokens)
    return rasp.Map(lambda count: "spam" if count > 0 else "not spam", keyword_count)
