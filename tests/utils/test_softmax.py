"""The short-row softmax equals torch's (values and gradients), and TransformerLens's attention uses it
only inside `fast_attention_softmax`."""

import pytest
import torch
import torch.nn.functional as F

from circuits_benchmark.utils.softmax import SHORT_ROWS, fast_attention_softmax, log_softmax, softmax


@pytest.mark.parametrize("ours, theirs", [(softmax, F.softmax), (log_softmax, F.log_softmax)])
@pytest.mark.parametrize("length", [1, 5, 10, SHORT_ROWS - 1])
def test_short_rows_equal_torch_values_and_gradients(ours, theirs, length):
    gen = torch.Generator().manual_seed(length)
    x = (3 * torch.randn(16, 4, length, length, generator=gen)).requires_grad_()
    causal = torch.triu(torch.ones(length, length, dtype=torch.bool), 1)
    scores = x.masked_fill(causal, float("-inf")) if ours is softmax else x
    grad = torch.randn(x.shape, generator=gen)
    mine, expected = ours(scores, dim=-1), theirs(scores, dim=-1)
    assert mine.shape == expected.shape
    finite = torch.isfinite(expected)
    assert torch.equal(torch.isfinite(mine), finite)
    assert torch.allclose(mine[finite], expected[finite], rtol=1e-6, atol=1e-6)
    (a,) = torch.autograd.grad(torch.where(finite, mine, 0.0), x, grad, retain_graph=True)
    (b,) = torch.autograd.grad(torch.where(finite, expected, 0.0), x, grad)
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_row_of_only_minus_infinity_is_nan_as_in_torch():
    x = torch.zeros(2, 6)
    x[1] = float("-inf")
    assert torch.isnan(softmax(x)[1]).all() and torch.isnan(F.softmax(x, dim=-1)[1]).all()
    assert torch.equal(softmax(x)[0], F.softmax(x, dim=-1)[0])


@pytest.mark.parametrize("x, dim, kwargs", [
    (torch.randn(4, 3, 20), -1, {}),  # long rows
    (torch.randn(4, 3, 5, dtype=torch.float64), -1, {}),  # float64
    (torch.randn(4, 5, 3), 1, {}),  # another dim
    (torch.randn(4, 3, 5), -1, {"dtype": torch.float64}),
])
def test_other_inputs_are_torchs_own(x, dim, kwargs):
    assert torch.equal(softmax(x, dim, **kwargs), F.softmax(x, dim=dim, **kwargs))
    assert torch.equal(log_softmax(x, dim, **kwargs), F.log_softmax(x, dim=dim, **kwargs))


def test_attention_uses_it_only_inside_the_context():
    from transformer_lens.components import abstract_attention

    before = abstract_attention.F
    with fast_attention_softmax():
        assert abstract_attention.F.softmax is softmax and abstract_attention.F.pad is F.pad
        with fast_attention_softmax():
            pass
        assert abstract_attention.F.softmax is softmax  # nested: still on
    assert abstract_attention.F is before
