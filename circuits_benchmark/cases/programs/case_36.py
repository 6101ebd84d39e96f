"""Case 36: sentiment label of each emoji."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases.registry import tracr_case
from circuits_benchmark.cases.vocabs import DEFAULT_MAX_SEQ_LEN

EMOJI_SENTIMENTS = {"😊": "positive", "😢": "negative", "📘": "neutral"}


@tracr_case(
    "36",
    "Each emoji labelled 'positive' (😊), 'negative' (😢) or 'neutral' (📘).",
    vocab=set(EMOJI_SENTIMENTS),
    max_seq_len=DEFAULT_MAX_SEQ_LEN,
)
def emoji_sentiment() -> rasp.SOp:
    # any symbol outside the table would count as neutral
    return rasp.Map(lambda emoji: EMOJI_SENTIMENTS.get(emoji, "neutral"), rasp.tokens)
