"""The IOI prompt generator: seeded, both orders, well-formed prompts and ABC corruptions."""

import torch

from circuits_benchmark.ioi import DEFAULT_VOCAB, SEQ_LEN, corrupt_abc, generate_prompts, ioi_dataset

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
