"""When the real PyTorch's tensors meet backprop's (a script importing both): operators and functions mixing them
raise a clear TypeError instead of recursing between the two ``__torch_function__`` protocols (a RecursionError) or
comparing identities, and ``bp.tensor``/``bp.as_tensor`` read a PyTorch tensor's values as data."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="these checks need PyTorch installed beside backprop")

MIXED = {
    "torch != bp": lambda: torch.ones(2) != bp.ones(2),
    "bp != torch": lambda: bp.ones(2) != torch.ones(2),
    "torch == bp": lambda: torch.ones(2) == bp.ones(2),
    "torch + bp": lambda: torch.ones(2) + bp.ones(2),
    "bp + torch": lambda: bp.ones(2) + torch.ones(2),
    "bp * torch": lambda: bp.ones(2) * torch.ones(2),
    "bp < torch": lambda: bp.ones(2) < torch.ones(2),
    "torch.add(torch, bp)": lambda: torch.add(torch.ones(2), bp.ones(2)),
    "torch.Tensor.ne(torch, bp)": lambda: torch.ones(2).ne(bp.ones(2)),
}


@pytest.mark.parametrize("name", sorted(MIXED))
def test_mixing_the_libraries_raises_a_type_error(name):
    with pytest.raises(TypeError) as info:
        MIXED[name]()
    text = str(info.value)
    assert "do not mix" in text or "__torch_function__" in text


def test_pytorch_tensors_convert_as_data():
    assert bp.tensor(torch.ones(2)).tolist() == [1.0, 1.0]
    assert bp.as_tensor(torch.arange(3)).dtype == bp.int64
    assert bp.tensor([torch.tensor(1.0), torch.tensor(2.5)]).tolist() == [1.0, 2.5]
    np.testing.assert_array_equal(bp.tensor(torch.eye(2, dtype=torch.float64)).numpy(), np.eye(2))
    with pytest.raises(RuntimeError, match="requires grad"):  # (PyTorch's own refusal, from its __array__)
        bp.tensor(torch.ones(2, requires_grad=True))


def test_backprop_operands_that_stay_legal():
    assert (bp.ones(2) == [1, 1]) is False  # (identity, as torch's for a list)
    assert (bp.ones(2) == None) is False  # noqa: E711 - the operator is what is tested
    assert (bp.ones(2) * np.float32(2)).tolist() == [2.0, 2.0]
