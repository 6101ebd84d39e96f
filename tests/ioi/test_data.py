"""The IOI prompt generator: seeded, both orders, well-formed prompts and ABC corruptions."""

import pytest
import torch

from circuits_benchmark.ioi import DEFAULT_VOCAB, SEQ_LEN, corrupt_abc, corrupt_s2_io_flip, generate_prompts, ioi_dataset

NAME_IDS = set(DEFAULT_VOCAB.name_ids.tolist())


def _names(row, end):
    return [int(t) for t in row[: end + 1] if int(t) in NAME_IDS]


def test_generator_is_seeded():
    a, b, c = generate_prompts(50, 3), generate_prompts(50, 3), generate_prompts(50, 4)
    assert torch.equal(a.tokens, b.tokens) and a.order == b.order
    assert not torch.equal(a.tokens, c.tokens)


def test_prompts_are_well_formed_ioi():
    batch = generate_prompts(300, 0)
    assert batch.tokens.shape == (300, SEQ_LEN)
    assert set(batch.order) == {"ABBA", "BABA"}
    assert len(set(batch.template.tolist())) > 1
    assert (batch.tokens[:, 0] == DEFAULT_VOCAB.bos_id).all()
    for i in range(len(batch)):
        end = int(batch.answer_pos[i])
        assert DEFAULT_VOCAB.words[int(batch.tokens[i, end])] == "to"
        assert (batch.tokens[i, end + 1 :] == DEFAULT_VOCAB.pad_id).all()
        names = _names(batch.tokens[i], end)
        io, s = int(batch.io[i]), int(batch.s[i])
        assert io != s and sorted(names) == sorted([io, s, s])
        assert names[2] == s  # S2 comes last
        assert names[:2] == ([io, s] if batch.order[i] == "ABBA" else [s, io])


def test_abc_corruption_has_three_distinct_names_in_the_same_template():
    clean, corrupted = ioi_dataset(200, 1)
    assert corrupted.order == ["ABC"] * 200
    assert torch.equal(clean.answer_pos, corrupted.answer_pos)
    for i in range(len(clean)):
        end = int(clean.answer_pos[i])
        names = _names(corrupted.tokens[i], end)
        assert len(names) == 3 and len(set(names)) == 3
        same = clean.tokens[i] == corrupted.tokens[i]
        assert same.sum() == SEQ_LEN - 3 or same.sum() > SEQ_LEN - 3  # only name slots may differ
        assert all(int(clean.tokens[i, p]) in NAME_IDS for p in torch.nonzero(~same).flatten().tolist())
    assert torch.equal(corrupt_abc(clean, 5).tokens, corrupt_abc(clean, 5).tokens)


def test_masks_and_next_tokens():
    batch = generate_prompts(10, 2)
    assert (batch.answer_mask().sum(1) == 1).all()
    prefix = batch.prefix_mask()
    assert torch.equal(prefix.sum(1), batch.answer_pos)
    assert torch.equal(batch.next_tokens[:, :-1], batch.tokens[:, 1:])
    assert batch.texts()[0].startswith("<bos> ") and batch.texts()[0].endswith(" to")


def test_s2_io_flip_puts_the_indirect_object_at_s2_and_swaps_the_answer():
    clean = generate_prompts(100, 3)
    flipped = corrupt_s2_io_flip(clean)
    assert torch.equal(flipped.io, clean.s) and torch.equal(flipped.s, clean.io)
    assert torch.equal(clean.answer_pos, flipped.answer_pos)
    for i in range(len(clean)):
        end = int(clean.answer_pos[i])
        before, after = _names(clean.tokens[i], end), _names(flipped.tokens[i], end)
        assert after[:2] == before[:2] and after[2] == int(clean.io[i])  # only S2 changed, to the IO
        assert int((clean.tokens[i] != flipped.tokens[i]).sum()) == 1
        # the new answer is the name that now appears once
        assert after.count(int(flipped.io[i])) == 1 and after.count(int(flipped.s[i])) == 2
    assert set(flipped.order) == {"ABA", "BAA"}
    with pytest.raises(ValueError, match="not an ABBA / BABA prompt"):
        corrupt_s2_io_flip(corrupt_abc(clean, 1))  # an ABC prompt has no S2 to flip
