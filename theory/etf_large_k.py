"""One-vs-rest distances and Riesz energies of the known K-point codes on S^{d−1} (THEORY.md §1).

For unit vectors x_1..x_K, ρ_k = dist(x_k, conv{x_j : j ≠ k}) (Jiang et al. 2023's one-vs-rest
distance; their "softmax code" maximizes min_k ρ_k) and the Riesz 1-energy is
E = Σ_{i<j} ‖x_i − x_j‖⁻¹.  Closed forms [derived here, re-proved below]:

* simplex ETF (K <= d+1): ρ = K/(K−1), E = C(K,2)·√((K−1)/(2K));
* regular K-gon (d = 2, K >= 4): ρ = 1 − cos(2π/K), E = Σ_{m=1}^{K−1} (K−m)/(2 sin(πm/K));
* cross-polytope ±e_i (K = 2d, d >= 3): ρ = 1, E = √2·d(d−1) + d/2.

Each ρ is certified at an exact witness by giving the nearest point y = Σ α_j x_j (α in the
simplex) and the projection inequalities (x − y)·(x_j − y) <= 0 for every other vertex; the
witnesses' Grams are invariant under a vertex-transitive permutation group, so one k suffices.
Optimality: for the simplex, Σ_k ‖K x_k − S‖² = K³ − K‖S‖² (S = Σ x_k) bounds min_k ρ_k by
K/(K−1) (proved, symbolic K); for the polygon and the cross-polytope it is cited.
"""
from __future__ import annotations

import sympy as sp

from theory.etf import helmert_basis
from theory.proof import Obligation, nonnegative, positive, zero


def regime(K: int, d: int) -> str:
    """Which known code applies: "simplex", "polygon", "cross" or "open" (no closed form)."""
    if K <= d + 1:
        return "simplex"
    if d == 2:
        return "polygon"
    if K == 2 * d:
        return "cross"
    return "open"


def rho_formula(K: int, d: int, reg: str | None = None) -> sp.Expr:
    reg = reg or regime(K, d)
    K = sp.Integer(K)
    return {"simplex": K / (K - 1), "polygon": 1 - sp.cos(2 * sp.pi / K), "cross": sp.Integer(1)}[reg]


def energy_formula(K: int, d: int, power=1, reg: str | None = None) -> sp.Expr:
    """Σ_{i<j} ‖x_i − x_j‖^{−power} of the known code (power 1: the Riesz 1-energy)."""
    reg = reg or regime(K, d)
    if reg == "simplex":       # every squared distance 2 + 2/(K−1) = 2K/(K−1)
        return sp.binomial(K, 2) * (sp.Rational(2 * K, K - 1)) ** (-sp.Rational(power, 2))
    if reg == "polygon":       # K − m pairs at chord 2 sin(πm/K)
        return sum((K - m) / (2 * sp.sin(sp.pi * m / K)) ** power for m in range(1, K))
    if reg == "cross":         # 2d(d−1) pairs at √2, d antipodal pairs at 2
        return 2 * d * (d - 1) * sp.sqrt(2) ** (-power) + d * sp.Integer(2) ** (-power)
    raise ValueError(f"no closed form for K={K}, d={d}")


def formulas(K: int, d: int) -> dict[str, sp.Expr] | None:
    if regime(K, d) == "open":
        return None
    return {"rho": rho_formula(K, d), "energy": energy_formula(K, d)}


def witness(K: int, d: int) -> sp.Matrix:
    """Exact unit columns: Helmert simplex, polygon (cos, sin)(2πj/K), or ±e_i (pairs adjacent)."""
    reg = regime(K, d)
    if reg == "simplex":
        P = helmert_basis(K) * sp.sqrt(sp.Rational(K, K - 1))
        return P.col_join(sp.zeros(d - (K - 1), K))
    if reg == "polygon":
        return sp.Matrix(2, K, lambda i, j: sp.cos(2 * sp.pi * j / K) if i == 0 else sp.sin(2 * sp.pi * j / K))
    if reg == "cross":
        return sp.Matrix(d, K, lambda r, c: (1 if c % 2 == 0 else -1) if c // 2 == r else 0)
    raise ValueError(f"no closed form for K={K}, d={d}")


def _nearest_weights(K: int, d: int) -> list:
    """Weights α (over j = 1..K−1) of the nearest point of conv{x_j : j ≠ 0} to x_0."""
    reg = regime(K, d)
    if reg == "simplex":                      # the centroid −x_0/(K−1)
        return [sp.Rational(1, K - 1)] * (K - 1)
    if reg == "polygon":                      # the midpoint of the two neighbours: cos(2π/K)·x_0
        return [sp.Rational(1, 2)] + [0] * (K - 3) + [sp.Rational(1, 2)]
    return [0, sp.Rational(1, 2), sp.Rational(1, 2)] + [0] * (K - 4)   # cross: midpoint of ±e_2 = 0


def _symmetry(K: int, d: int) -> sp.Matrix:
    """A permutation of the vertices, transitive on them, that fixes the witness's Gram."""
    reg = regime(K, d)
    if reg == "cross":   # cyclic shift of the axes by one pair (i -> i + 2), plus the sign swap within pairs
        return sp.Matrix(K, K, lambda i, j: 1 if j == (i + 2) % K else 0)
    return sp.Matrix(K, K, lambda i, j: 1 if j == (i + 1) % K else 0)


def prove(f: dict[str, sp.Expr], K: int, d: int) -> list[Obligation]:
    reg = regime(K, d)
    X = witness(K, d)
    if reg == "polygon":     # ⟨x_i, x_j⟩ = cos(2π(i − j)/K) (proved below for symbolic angles)
        G = sp.Matrix(K, K, lambda i, j: sp.cos(2 * sp.pi * (i - j) / K))
    else:
        G = X.T * X
    rho, E = f["rho"], f["energy"]
    x0, S = X[:, 0], X[:, 1:]
    alpha = sp.Matrix(_nearest_weights(K, d))
    y = S * alpha
    r = x0 - y
    out = [
        zero("unit columns", sum(sp.Abs(G[i, i] - 1) for i in range(K))),
        zero(f"the witness lies in R^d, d = {d} (so its rank is <= d)", X.rows - d),
        zero("α sums to 1", sum(alpha) - 1),
        nonnegative("α >= 0", sp.Min(*alpha)),
        zero("‖x_0 − y‖² = ρ²", sp.simplify((r.T * r)[0] - rho**2)),
        nonnegative("ρ >= 0", rho),
    ]
    proj = [sp.simplify((r.T * (S[:, j] - y))[0]) for j in range(K - 1)]
    out.append(nonnegative("projection: (x_0 − y)·(x_j − y) <= 0 for every other vertex", -sp.Max(*proj)))
    if reg != "cross":
        P = _symmetry(K, d)
        out.append(zero("the Gram is invariant under a vertex-transitive shift (all ρ_k equal)",
                        sum(sp.Abs(sp.simplify(v)) for v in (P * G * P.T - G))))
    else:
        # the signed cyclic shift of coordinates e_i -> e_{i+1} maps ±e_i to ±e_{i+1}; with the flip
        # e_1 -> −e_1 it also swaps the two vertices of a pair, so the group is transitive
        P, Q = _symmetry(K, d), sp.eye(K)
        Q[0, 0], Q[0, 1], Q[1, 0], Q[1, 1] = 0, 1, 1, 0
        out.append(zero("the Gram is invariant under the axis shift and the swap x_0 ↔ x_1 (transitive)",
                        sum(sp.Abs(v) for v in (P * G * P.T - G)) + sum(sp.Abs(v) for v in (Q * G * Q.T - G))))
    # energy: pairwise distances of the witness
    if reg == "polygon":
        th_, ph_ = sp.Symbol("theta", real=True), sp.Symbol("phi", real=True)
        out += [
            zero("chord: 2 − 2cos θ = 4 sin²(θ/2)", sp.simplify(2 - 2 * sp.cos(th_) - 4 * sp.sin(th_ / 2) ** 2)),
            zero("Gram: cos a cos b + sin a sin b = cos(a − b)",
                 sp.simplify(sp.cos(th_) * sp.cos(ph_) + sp.sin(th_) * sp.sin(ph_) - sp.cos(th_ - ph_))),
            positive("sin(πm/K) > 0 for 0 < m < K", sp.Min(*[sp.sin(sp.pi * m / K) for m in range(1, K)])),
            zero("K − m pairs at separation m: Σ_{i<j} = Σ_m (K − m)",
                 sum(K - m for m in range(1, K)) - sp.binomial(K, 2)),
            zero("energy = Σ_m (K − m)/(2 sin(πm/K))",
                 E - sum((K - m) / (2 * sp.sin(sp.pi * m / K)) for m in range(1, K))),
        ]
    else:
        D = [2 - 2 * G[i, j] for i in range(K) for j in range(i + 1, K)]
        out.append(zero("energy = Σ_{i<j} (2 − 2G_ij)^{−1/2} of the witness",
                        sp.nsimplify(sum(sp.sqrt(v) ** -1 for v in D) - E)))
    if reg == "simplex":
        k, T = sp.Symbol("K", positive=True), sp.Symbol("T", nonnegative=True)
        out += [
            zero("Σ_k ‖K x_k − S‖² = K³ − K‖S‖² for unit x_k (T = ‖S‖²)",
                 sp.expand(k * (k**2 - 2 * k * T / k + T) - (k**3 - k * T))),
            nonnegative("optimality: min_k ρ_k <= ‖x_k − c_k‖ (c_k the others' centroid), whose mean square "
                        "is <= K³/((K−1)²K): ρ <= K/(K−1)", sp.Integer(K) / (K - 1) - rho),
        ]
    return out
