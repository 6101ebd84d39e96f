"""A simplified indirect-object-identification (IOI) task on a small word-level vocabulary.

Prompts follow templates such as

    BOS When Mary and John went to the store , John gave a drink to     -> Mary

with two names in the first clause (the indirect object IO and the subject S, in the order
ABBA = IO first or BABA = S first) and the subject repeated (S2) in the second clause. The model
predicts the IO at the last real token. Prompts are right-padded to one length, so the causal model
needs no attention mask and `answer_pos` is the index of the last real token of each prompt.

Corrupted prompts follow the ABC distribution of Wang et al. (2022): the same template with three
distinct fresh names at the IO, S1 and S2 slots, so no name is repeated.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Optional, Sequence

import numpy as np
import torch

PAD, BOS = "<pad>", "<bos>"

NAMES: tuple[str, ...] = (
    "Mary", "John", "Alice", "Bob", "Sarah", "James", "Emma", "David", "Laura", "Paul", "Anna", "Mark",
    "Kate", "Tom", "Lisa", "Ryan", "Jane", "Adam", "Amy", "Kevin", "Rose", "Eric", "Nina", "Sam",
)
PLACES: tuple[str, ...] = ("store", "garden", "school", "office", "station", "park")
OBJECTS: tuple[str, ...] = ("drink", "ring", "book", "snack", "letter", "ball")

# [A] = first name of the first clause, [B] = second, [S] = the repeated subject.
TEMPLATES: tuple[str, ...] = (
    "When [A] and [B] went to the [PLACE] , [S] gave a [OBJECT] to",
    "Then , [A] and [B] had fun at the [PLACE] . [S] gave a [OBJECT] to",
    "After [A] and [B] went to the [PLACE] , [S] handed the [OBJECT] to",
    "While [A] and [B] were working at the [PLACE] , [S] gave a [OBJECT] to",
    "Friends [A] and [B] found a [OBJECT] at the [PLACE] . [S] gave it to",
)
ORDERS = ("ABBA", "BABA")


def _template_words() -> list[str]:
    words: list[str] = []
    for t in TEMPLATES:
        for w in t.split():
            if not w.startswith("[") and w not in words:
                words.append(w)
    return words


@dataclass(frozen=True)
class IOIVocab:
    """Word <-> id. PAD is 0 and BOS 1, then template words, places, objects and names."""

    words: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def default(cls) -> "IOIVocab":
        words = (PAD, BOS, *_template_words(), *PLACES, *OBJECTS, *NAMES)
        return cls(words, NAMES)

    @property
    def size(self) -> int:
        return len(self.words)

    @property
    def pad_id(self) -> int:
        return self.words.index(PAD)

    @property
    def bos_id(self) -> int:
        return self.words.index(BOS)

    def id(self, word: str) -> int:
        return self._index[word]

    @cached_property
    def _index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    @property
    def name_ids(self) -> torch.Tensor:
        """Ids of the names, ascending."""
        index = self._index
        return torch.tensor(sorted(index[n] for n in self.names), dtype=torch.long)

    def encode(self, words: Sequence[str]) -> list[int]:
        index = self._index
        return [index[w] for w in words]

    def decode(self, ids: Sequence[int] | torch.Tensor, strip_pad: bool = True) -> str:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return " ".join(self.words[i] for i in ids if not (strip_pad and i == self.pad_id))


DEFAULT_VOCAB = IOIVocab.default()
SEQ_LEN = 1 + max(len(t.split()) for t in TEMPLATES)
"""Length of every token tensor: BOS plus the longest template."""


@dataclass
class IOIBatch:
    """IOI prompts as tensors.

    Attributes:
        tokens: `[n, SEQ_LEN]` ids, BOS first, right-padded with PAD.
        answer_pos: `[n]` index of the last real token (where the IO is predicted).
        io, s: `[n]` token ids of the indirect object (the answer) and the subject (the wrong answer).
            For ABC prompts: io = the name in the first slot ([A]), s = the one in the second ([B]).
        template: `[n]` template index.
        order: "ABBA" / "BABA" / "ABC" per prompt.
        next_tokens: `[n, SEQ_LEN]` the token after each position (PAD after the last real token).
    """

    tokens: torch.Tensor
    answer_pos: torch.Tensor
    io: torch.Tensor
    s: torch.Tensor
    template: torch.Tensor
    order: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def __getitem__(self, idx) -> "IOIBatch":
        if isinstance(idx, int):
            idx = [idx]
        idx_t = idx if isinstance(idx, torch.Tensor) else torch.as_tensor(np.arange(len(self))[idx])
        order = [self.order[i] for i in idx_t.tolist()]
        return IOIBatch(self.tokens[idx_t], self.answer_pos[idx_t], self.io[idx_t], self.s[idx_t],
                        self.template[idx_t], order)

    def to(self, device: str | torch.device) -> "IOIBatch":
        return replace(self, tokens=self.tokens.to(device), answer_pos=self.answer_pos.to(device),
                       io=self.io.to(device), s=self.s.to(device), template=self.template.to(device))

    @property
    def next_tokens(self) -> torch.Tensor:
        nxt = torch.full_like(self.tokens, DEFAULT_VOCAB.pad_id)
        nxt[:, :-1] = self.tokens[:, 1:]
        return nxt

    def answer_mask(self) -> torch.Tensor:
        """Boolean `[n, SEQ_LEN]`, True at the answer position only."""
        mask = torch.zeros_like(self.tokens, dtype=torch.bool)
        mask[torch.arange(len(self), device=self.tokens.device), self.answer_pos] = True
        return mask

    def prefix_mask(self) -> torch.Tensor:
        """Boolean `[n, SEQ_LEN]`, True at the real positions before the answer position (next-token targets)."""
        pos = torch.arange(self.tokens.shape[1], device=self.tokens.device)
        return pos[None, :] < self.answer_pos[:, None]

    def texts(self, vocab: IOIVocab = DEFAULT_VOCAB) -> list[str]:
        return [vocab.decode(row) for row in self.tokens]


def _fill(template: str, a: str, b: str, s: str, place: str, obj: str) -> list[str]:
    subst = {"[A]": a, "[B]": b, "[S]": s, "[PLACE]": place, "[OBJECT]": obj}
    return [subst.get(w, w) for w in template.split()]


def _build(rows: list[list[str]], io: list[str], s: list[str], templates: list[int], orders: list[str],
           vocab: IOIVocab) -> IOIBatch:
    ids = [[vocab.bos_id] + vocab.encode(r) for r in rows]
    tokens = torch.full((len(ids), SEQ_LEN), vocab.pad_id, dtype=torch.long)
    for i, row in enumerate(ids):
        tokens[i, : len(row)] = torch.tensor(row)
    return IOIBatch(
        tokens=tokens,
        answer_pos=torch.tensor([len(r) - 1 for r in ids], dtype=torch.long),
        io=torch.tensor(vocab.encode(io), dtype=torch.long),
        s=torch.tensor(vocab.encode(s), dtype=torch.long),
        template=torch.tensor(templates, dtype=torch.long),
        order=orders,
    )


def generate_prompts(
    n: int, seed: int = 0, vocab: IOIVocab = DEFAULT_VOCAB, templates: Optional[Sequence[int]] = None
) -> IOIBatch:
    """`n` clean IOI prompts; template, order (ABBA/BABA), names, place and object drawn uniformly with `seed`."""
    rng = np.random.default_rng(seed)
    allowed = list(range(len(TEMPLATES))) if templates is None else list(templates)
    rows, ios, ss, temps, orders = [], [], [], [], []
    for _ in range(n):
        t = int(rng.choice(allowed))
        io, s = (str(x) for x in rng.choice(vocab.names, size=2, replace=False))
        order = ORDERS[int(rng.integers(2))]
        a, b = (io, s) if order == "ABBA" else (s, io)
        rows.append(_fill(TEMPLATES[t], a, b, s, str(rng.choice(PLACES)), str(rng.choice(OBJECTS))))
        ios.append(io), ss.append(s), temps.append(t), orders.append(order)
    return _build(rows, ios, ss, temps, orders, vocab)


def corrupt_abc(clean: IOIBatch, seed: int = 1, vocab: IOIVocab = DEFAULT_VOCAB) -> IOIBatch:
    """ABC-distribution counterparts of `clean`: same template, place and object, three distinct fresh names."""
    rng = np.random.default_rng(seed)
    name_ids = set(vocab.encode(vocab.names))
    tokens = clean.tokens.clone()
    io, s = clean.io.clone(), clean.s.clone()
    for i in range(len(clean)):
        slots = [p for p in range(int(clean.answer_pos[i]) + 1) if int(tokens[i, p]) in name_ids]
        if len(slots) != 3:
            raise ValueError(f"prompt {i} has {len(slots)} name slots, expected 3")
        new = vocab.encode([str(x) for x in rng.choice(vocab.names, size=3, replace=False)])
        for p, tok in zip(slots, new):
            tokens[i, p] = tok
        io[i], s[i] = new[0], new[1]
    return IOIBatch(tokens, clean.answer_pos.clone(), io, s, clean.template.clone(), ["ABC"] * len(clean))


def corrupt_s2_io_flip(clean: IOIBatch) -> IOIBatch:
    """MIB's IOI counterfactual (`s2_io_flip_counterfactual`): the repeated subject S2 replaced by the
    indirect object, so the other name becomes the answer (io and s swap; order becomes "ABA"/"BAA")."""
    name_ids = set(DEFAULT_VOCAB.encode(DEFAULT_VOCAB.names))
    tokens = clean.tokens.clone()
    orders = []
    for i in range(len(clean)):
        slots = [p for p in range(int(clean.answer_pos[i]) + 1) if int(tokens[i, p]) in name_ids]
        if len(slots) != 3 or int(tokens[i, slots[2]]) != int(clean.s[i]):
            raise ValueError(f"prompt {i} is not an ABBA / BABA prompt (name slots {len(slots)}, S2 not last)")
        tokens[i, slots[2]] = clean.io[i]
        orders.append("ABA" if clean.order[i] == "ABBA" else "BAA")
    return IOIBatch(tokens, clean.answer_pos.clone(), clean.s.clone(), clean.io.clone(), clean.template.clone(), orders)


def ioi_dataset(n: int, seed: int = 0, vocab: IOIVocab = DEFAULT_VOCAB) -> tuple[IOIBatch, IOIBatch]:
    """Clean prompts and their ABC-corrupted counterparts (aligned position by position)."""
    clean = generate_prompts(n, seed, vocab)
    return clean, corrupt_abc(clean, seed + 1_000_003, vocab)
