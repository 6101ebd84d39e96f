"""Token encoding of Tracr inputs and decoding of model outputs, in torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch

from circuits_benchmark.tracr_compat.compile import BOS, PAD


@dataclass(frozen=True)
class TracrEncoding:
    """Maps raw input tokens to ids and model outputs back to RASP values.

    Attributes:
        input_vocab: input token -> id (includes BOS and PAD).
        output_values: output id -> value for categorical programs; None for numerical ones.
        max_seq_len: longest input without BOS; encoded sequences have length max_seq_len + 1.
    """

    input_vocab: dict[Any, int]
    output_values: Optional[tuple[Any, ...]]
    max_seq_len: int

    @property
    def is_categorical(self) -> bool:
        return self.output_values is not None

    @property
    def bos_id(self) -> int:
        return self.input_vocab[BOS]

    @property
    def pad_id(self) -> int:
        return self.input_vocab[PAD]

    def encode(self, inputs: Sequence[Sequence[Any]], device: str | torch.device = "cpu") -> torch.Tensor:
        """Prefix BOS, pad to `max_seq_len + 1`: a `[batch, max_seq_len + 1]` LongTensor."""
        rows = []
        for seq in inputs:
            if len(seq) > self.max_seq_len:
                raise ValueError(f"input of length {len(seq)} exceeds max_seq_len={self.max_seq_len}: {list(seq)!r}")
            unknown = [t for t in seq if t not in self.input_vocab or t in (BOS, PAD)]
            if unknown:
                raise ValueError(f"tokens {unknown!r} are not in the vocabulary {sorted(self.input_vocab, key=repr)}")
            ids = [self.bos_id] + [self.input_vocab[t] for t in seq]
            rows.append(ids + [self.pad_id] * (self.max_seq_len + 1 - len(ids)))
        return torch.tensor(rows, dtype=torch.long, device=device)

    def attention_mask(self, tokens: torch.Tensor) -> torch.Tensor:
        """1 where a real token (or BOS) stands, 0 at padding, as Tracr masks keys."""
        return (tokens != self.pad_id).long()

    def decode(self, outputs: torch.Tensor, tokens: Optional[torch.Tensor] = None) -> list[list[Any]]:
        """RASP values at every position after BOS; padded positions are dropped when `tokens` is given.

        `outputs` is `[batch, pos, d_vocab_out]` logits (argmax for categorical programs,
        the single dimension for numerical ones).
        """
        if self.is_categorical:
            ids = outputs.argmax(dim=-1).tolist()
            values = [[self.output_values[i] for i in row[1:]] for row in ids]
        else:
            values = [row[1:] for row in outputs[..., 0].tolist()]
        if tokens is not None:
            lengths = (tokens != self.pad_id).sum(dim=-1).tolist()
            values = [row[: n - 1] for row, n in zip(values, lengths)]
        return values
