"""Printed tensors look like torch's: the same numbers, layout, summarisation and suffixes (``size=``,
``dtype=``, ``requires_grad=``, ``grad_fn=``). backprop's dtypes are NumPy's, so ``dtype=torch.int64``
prints as ``dtype=int64`` (a README decision): the comparison drops that prefix and nothing else."""

from __future__ import annotations

import pytest

import backprop as bp

CASES = [
    "L.tensor([1.0, 2.5, 3.0])",
    "L.tensor([1e-5, 1.0, 1e5])",
    "L.tensor([1e-10, 1.0])",
    "L.tensor([[1, 2], [3, 4]])",
    "L.tensor([True, False])",
    "L.arange(2000.0).reshape(40, 50)",
    "L.arange(10)",
    "L.tensor(3.5)",
    "L.tensor(3)",
    "L.tensor(1e-8)",
    "L.tensor([1.0, 2.0], dtype=L.float64)",
    "L.tensor([1.5, -2.25]).double()",
    "L.tensor([1.0, 2.0], dtype=L.float16)",
    "L.tensor([1, 2], dtype=L.int32)",
    "L.tensor([1, 2], dtype=L.uint8)",
    "L.tensor([1.0, 2.0], requires_grad=True)",
    "L.tensor([1.0, 2.0], requires_grad=True) * 2",
    "L.tensor([1.0, 2.0], requires_grad=True).sum()",
    "L.tensor([float('nan'), float('inf'), -float('inf'), 1.0])",
    "L.zeros(0)",
    "L.zeros(2, 0)",
    "L.tensor([], dtype=L.int64)",
    "L.zeros(0, dtype=L.bool)",
    "L.zeros(3, 0, dtype=L.int32)",
    "L.zeros(0, dtype=L.float64)",
    "L.tensor([123456789.0, 1.0])",
    "L.tensor([0.1, 0.25, 1 / 3])",
    "L.tensor([1e20])",
    "L.tensor([[0.1234567, 12345.678], [1e-3, 2.0]])",
    "L.tensor([-0.0, 0.0])",
    "L.tensor([1e-4, 1e4])",
    "L.tensor([0.0001, 0.001])",
    "L.tensor([[1.0, 2.0], [3.0, 4.0]]).T",
    "L.linspace(0, 1, 5)",
    "L.eye(3)",
    "L.tensor([100.0, 200.0])",
    "L.tensor([1.0, 2.0]).unsqueeze(0).expand(3, 2)",
    "L.tensor([[1e-8, 1.0]])",
    "L.nn.Parameter(L.ones(2))",
    "L.tensor([1.0]).device",
    "L.device('cpu')",
    "L.zeros(2, device='cpu').device",
]


def _shown(expr: str, lib: object) -> str:
    return repr(eval(expr, {"L": lib})).replace("dtype=torch.", "dtype=").replace("torch.", "L.")


@pytest.mark.parametrize("expr", CASES)
def test_repr_matches_torch(expr: str) -> None:
    torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")
    torch.manual_seed(0)
    assert _shown(expr, bp).replace("backprop.", "L.") == _shown(expr, torch)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("L.tensor([], dtype=L.int64)", "tensor([], dtype=int64)"),
        ("L.zeros(2, 0, dtype=L.bool)", "tensor([], size=(2, 0), dtype=bool)"),
        ("L.zeros(0)", "tensor([])"),
        ("L.tensor([1, 2], dtype=L.int32)", "tensor([1, 2], dtype=int32)"),
    ],
)
def test_empty_and_non_default_dtypes_are_named(expr: str, expected: str) -> None:
    """An empty tensor has no element to show its dtype by: every non-default dtype is named, as torch."""
    assert repr(eval(expr, {"L": bp})) == expected
