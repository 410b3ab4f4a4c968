"""BNNSCompareTensor: elementwise relational and logical operators (BNNSRelationalOperator).

    0 Equal a == b · 1 Less a < b · 2 LessEqual a <= b · 3 Greater a > b · 4 GreaterEqual a >= b
    5 NotEqual a != b · 6 LogicalAND a && b · 7 LogicalOR a || b · 8 LogicalNOT !a (b unused)
    9 LogicalNAND !(a && b) · 10 LogicalNOR !(a || b) · 11 LogicalXOR a ^ b

Arrays are the descriptors' logical NumPy views, of one shape; the result is bool (BNNS's output
is BNNSDataTypeBoolean).

Notes
-----
* The logical operators read a nonzero value as true (C's rule), so Boolean, integer and float
  inputs all work; LogicalNOT reads only the first input (BNNS still takes two descriptors).
* The two inputs must have the same shape (no broadcasting: BNNS documents none).
* Comparisons with NaN follow IEEE 754 (NaN != NaN is true, every other comparison false).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .errors import require

EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL, NOT_EQUAL = 0, 1, 2, 3, 4, 5
LOGICAL_AND, LOGICAL_OR, LOGICAL_NOT, LOGICAL_NAND, LOGICAL_NOR, LOGICAL_XOR = 6, 7, 8, 9, 10, 11

_OPERATORS: dict[int, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    EQUAL: np.equal, LESS: np.less, LESS_EQUAL: np.less_equal, GREATER: np.greater,
    GREATER_EQUAL: np.greater_equal, NOT_EQUAL: np.not_equal,
    LOGICAL_AND: lambda a, b: (a != 0) & (b != 0), LOGICAL_OR: lambda a, b: (a != 0) | (b != 0),
    LOGICAL_NOT: lambda a, b: a == 0, LOGICAL_NAND: lambda a, b: ~((a != 0) & (b != 0)),
    LOGICAL_NOR: lambda a, b: ~((a != 0) | (b != 0)), LOGICAL_XOR: lambda a, b: (a != 0) ^ (b != 0),
}


def compare(a: np.ndarray, b: np.ndarray, op: int) -> np.ndarray:
    """bool array shaped as a: ``a op b`` elementwise."""
    require(int(op) in _OPERATORS, f"op {op} is not a BNNSRelationalOperator (0 Equal ... 11 LogicalXOR)")
    a, b = np.asarray(a), np.asarray(b)
    require(a.shape == b.shape, f"in0 has shape {a.shape} but in1 has shape {b.shape}; BNNSCompareTensor "
            "compares elementwise, without broadcasting")
    return np.asarray(_OPERATORS[int(op)](a, b), dtype=bool)
