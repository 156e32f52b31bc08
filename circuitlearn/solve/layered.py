"""Exact fast path for layered (bipartite) networks: eliminate an independent set of unknowns.

In a Kendall-style layered network a hidden node is joined only to nodes of *other* layers, so
the hidden unknowns form an *independent set* of the Jacobian graph: their block is diagonal.
Gaussian elimination of that set is exact and cheap,

    S = K_RR − K_RI · diag(K_II)⁻¹ · K_IR,      x_R = S⁻¹ (b_R − K_RI diag⁻¹ b_I),
    x_I = diag⁻¹ (b_I − K_IR x_R),

leaving a small dense system S for the remaining unknowns R (the output layer of DRN-XS: 10×10).
:class:`SchurPlan` finds the set once from the fixed sparsity pattern and then solves many
samples at once with dense batched linear algebra. It is exact elimination (no approximation);
the diagonal pivots are checked and the caller falls back to sparse LU when a pivot is small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from circuitlearn.solve.arrays import get_backend

__all__ = ["MAX_REST", "PIVOT_RATIO", "SchurPlan"]

MAX_REST = 256
"""Largest number of remaining unknowns R for which the dense Schur path is used."""

PIVOT_RATIO = 1e-8
"""A diagonal pivot smaller than this times its row's |entries| sum sends the solve to sparse LU."""


@dataclass
class SchurPlan:
    """Index plan for eliminating an independent set ``eliminated`` of unknowns.

    See the module notes.
    """

    eliminated: np.ndarray
    rest: np.ndarray
    diag_pos: np.ndarray
    ir: tuple[np.ndarray, np.ndarray, np.ndarray]
    ri: tuple[np.ndarray, np.ndarray, np.ndarray]
    rr: tuple[np.ndarray, np.ndarray, np.ndarray]
    row_sum: sp.csr_matrix
    """Sums |entries| of each eliminated row (for the pivot check)."""

    @classmethod
    def from_pattern(cls, indices: np.ndarray, indptr: np.ndarray, n: int) -> SchurPlan | None:
        """Plan for a CSC pattern, or ``None`` when no useful independent set exists.

        The set is chosen greedily (fewest neighbours first) among unknowns with a structural
        diagonal entry; the plan is kept only if what remains has at most :data:`MAX_REST`
        unknowns and is smaller than the eliminated set.
        """
        cols = np.repeat(np.arange(n), np.diff(indptr))
        rows = np.asarray(indices, dtype=np.int64)
        has_diag = np.zeros(n, dtype=bool)
        has_diag[rows[rows == cols]] = True
        off = rows != cols
        neighbours: list[set[int]] = [set() for _ in range(n)]
        for r, c in zip(rows[off].tolist(), cols[off].tolist(), strict=True):
            neighbours[r].add(c)
            neighbours[c].add(r)
        chosen = np.zeros(n, dtype=bool)
        blocked = np.zeros(n, dtype=bool)
        for k in sorted(range(n), key=lambda i: len(neighbours[i])):
            if has_diag[k] and not blocked[k]:
                chosen[k] = True
                blocked[list(neighbours[k])] = True
        eliminated = np.flatnonzero(chosen)
        rest = np.flatnonzero(~chosen)
        if rest.size > MAX_REST or rest.size >= eliminated.size:
            return None
        local = np.empty(n, dtype=np.int64)
        local[eliminated] = np.arange(eliminated.size)
        local[rest] = np.arange(rest.size)
        positions = np.arange(rows.size)
        row_in, col_in = chosen[rows], chosen[cols]
        diag_pos = np.empty(eliminated.size, dtype=np.int64)
        is_diag = row_in & col_in
        diag_pos[local[rows[is_diag]]] = positions[is_diag]

        def block(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return positions[mask], local[rows[mask]], local[cols[mask]]

        return cls(
            eliminated=eliminated,
            rest=rest,
            diag_pos=diag_pos,
            ir=block(row_in & ~col_in),
            ri=block(~row_in & col_in),
            rr=block(~row_in & ~col_in),
            row_sum=sp.csr_matrix(
                (np.ones(int(row_in.sum())), (local[rows[row_in]], positions[row_in])),
                shape=(eliminated.size, rows.size),
            ),
        )

    def solve(self, data: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
        """Solve K·x = rhs for every sample (rows of ``data`` and ``rhs``); ``None`` if unsafe."""
        n_samples = rhs.shape[0]
        n_i, n_r = self.eliminated.size, self.rest.size
        d = data[:, self.diag_pos]
        row_sum = (self.row_sum @ np.abs(data).T).T
        if np.any(np.abs(d) <= PIVOT_RATIO * row_sum):
            return None
        k_ir = np.zeros((n_samples, n_i, n_r))
        k_ri = np.zeros((n_samples, n_r, n_i))
        k_rr = np.zeros((n_samples, n_r, n_r))
        for target, (pos, r, c) in ((k_ir, self.ir), (k_ri, self.ri), (k_rr, self.rr)):
            target[:, r, c] = data[:, pos]
        inv = 1.0 / d
        b_i = rhs[:, self.eliminated]
        b_r = rhs[:, self.rest]
        schur = k_rr - k_ri @ (inv[:, :, None] * k_ir)
        try:
            x_r = get_backend().solve(schur, b_r - np.einsum("srk,sk->sr", k_ri, inv * b_i))
        except np.linalg.LinAlgError:
            return None
        x_i = inv * (b_i - np.einsum("skr,sr->sk", k_ir, x_r))
        out = np.empty_like(rhs)
        out[:, self.eliminated] = x_i
        out[:, self.rest] = x_r
        return out
