"""The shared output comparison behind IIA, accuracy and circuit scores."""

import torch

from circuits_benchmark.metrics import outputs_match


def test_categorical_outputs_match_on_argmax_only():
    reference = torch.tensor([[[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]]])
    logits = torch.tensor([[[-5.0, 3.0, 2.9], [0.0, 1.0, 0.0]]])
    assert outputs_match(logits, reference, categorical=True).tolist() == [[True, False]]


def test_numerical_outputs_match_within_atol_on_the_first_output():
    reference = torch.tensor([[[1.0, 9.0], [2.0, 9.0]]])
    logits = torch.tensor([[[1.04, -9.0], [2.06, 9.0]]])
    assert outputs_match(logits, reference, categorical=False).tolist() == [[True, False]]
    assert outputs_match(logits, reference, categorical=False, atol=0.1).tolist() == [[True, True]]
