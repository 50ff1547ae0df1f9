"""The algebra of K×K matrices αI + βJ (J the all-ones matrix).

These matrices commute and close under products because J² = K·J, so every ETF
identity reduces to arithmetic on the pair (α, β) with K symbolic.  sympy cannot
expand powers of sums of ``Identity(K)`` and ``OneMatrix``; this algebra can.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class IJ:
    """The K×K matrix ``alpha*I + beta*J``."""

    alpha: sp.Expr
    beta: sp.Expr
    K: sp.Expr

    def _same_size(self, other: "IJ") -> None:
        if sp.simplify(self.K - other.K) != 0:
            raise ValueError(f"size mismatch: K={self.K} vs K={other.K}")

    def __add__(self, other: "IJ") -> "IJ":
        self._same_size(other)
        return IJ(self.alpha + other.alpha, self.beta + other.beta, self.K)

    def __sub__(self, other: "IJ") -> "IJ":
        return self + other.scale(-1)

    def __matmul__(self, other: "IJ") -> "IJ":
        # (a I + b J)(c I + e J) = ac I + (ae + bc + K b e) J, using J² = K J.
        self._same_size(other)
        a, b, c, e = self.alpha, self.beta, other.alpha, other.beta
        return IJ(a * c, a * e + b * c + self.K * b * e, self.K)

    def scale(self, s) -> "IJ":
        return IJ(s * self.alpha, s * self.beta, self.K)

    def simplify(self) -> "IJ":
        return IJ(sp.simplify(self.alpha), sp.simplify(self.beta), self.K)

    @property
    def diagonal(self) -> sp.Expr:
        return self.alpha + self.beta

    @property
    def off_diagonal(self) -> sp.Expr:
        return self.beta

    @property
    def row_sum(self) -> sp.Expr:
        """(αI + βJ)1 = (α + Kβ)1."""
        return self.alpha + self.K * self.beta

    @property
    def trace(self) -> sp.Expr:
        return self.K * (self.alpha + self.beta)

    def eigenvalues(self) -> dict[sp.Expr, sp.Expr]:
        """Eigenvalue → multiplicity: α on 1^⊥ (K−1 times), α + Kβ on 1."""
        return {self.alpha: self.K - 1, self.row_sum: sp.Integer(1)}

    def frobenius_sq(self) -> sp.Expr:
        """‖A‖_F² = tr(AᵀA) (A is symmetric)."""
        return (self @ self).trace

    def to_matrix(self) -> sp.Matrix:
        """Explicit matrix; K must be a concrete integer."""
        k = int(self.K)
        return self.alpha * sp.eye(k) + self.beta * sp.ones(k, k)


def identity(K) -> IJ:
    return IJ(sp.Integer(1), sp.Integer(0), sp.sympify(K))


def ones(K) -> IJ:
    return IJ(sp.Integer(0), sp.Integer(1), sp.sympify(K))


def centering(K) -> IJ:
    """I − J/K, the projector onto 1^⊥."""
    K = sp.sympify(K)
    return IJ(sp.Integer(1), -1 / K, K)
