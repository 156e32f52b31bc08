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

When a hidden unit is more than one unknown — an amplifier after each hidden node adds its output
node, its branch current and a sense source's, none of which has a diagonal entry of its own —
there is no useful independent set, but the same elimination works with small *blocks*:
:class:`BlockSchurPlan` takes the hub unknowns (those joined to many others, such as the output
layer) as R, and the connected pieces left once R is removed as blocks K_II, each a few unknowns,
solved with batched dense LU (partial pivoting within the block).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from circuitlearn.solve.arrays import get_backend

__all__ = [
    "MAX_BLOCK",
    "MAX_REST",
    "PIVOT_RATIO",
    "BlockSchurPlan",
    "Plan",
    "SchurPlan",
    "plans_for",
]

MAX_REST = 256
"""Largest number of remaining unknowns R for which the dense Schur path is used."""

PIVOT_RATIO = 1e-8
"""A diagonal pivot smaller than this times its row's |entries| sum sends the solve to sparse LU."""

MAX_BLOCK = 16
"""Largest block of :class:`BlockSchurPlan` (unknowns of one hidden unit with its amplifier)."""


def plans_for(indices: np.ndarray, indptr: np.ndarray, n: int) -> list[Plan]:
    """The elimination plans of a CSC pattern, to try in order: an independent set, small blocks.

    An independent set can be structurally fine and still meet zero pivots (a node whose diagonal
    entry is only the gmin-stepping slot), so the caller tries the next plan when one declines.
    """
    found = (
        SchurPlan.from_pattern(indices, indptr, n),
        BlockSchurPlan.from_pattern(indices, indptr, n),
    )
    return [plan for plan in found if plan is not None]


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


@dataclass
class BlockSchurPlan:
    """Index plan for eliminating small blocks of unknowns around hub unknowns (module notes).

    ``groups`` holds, per block size s, the unknowns of its blocks (n_blocks × s); each stored
    entry of the pattern is routed to its place in K_II, K_IR, K_RI or K_RR by ``routes``.
    """

    rest: np.ndarray
    groups: list[np.ndarray]
    routes: list[dict[str, tuple[np.ndarray, ...]]]
    rr: tuple[np.ndarray, np.ndarray, np.ndarray]

    @classmethod
    def from_pattern(cls, indices: np.ndarray, indptr: np.ndarray, n: int) -> BlockSchurPlan | None:
        """Plan for a CSC pattern, or ``None`` when the blocks or the rest would be too large.

        Hubs are the unknowns with more than max(8, √n) neighbours; the blocks are the connected
        components of the pattern's graph without them. Kept only when every block has at most
        :data:`MAX_BLOCK` unknowns and the rest at most :data:`MAX_REST`, fewer than the blocks.
        """
        from scipy.sparse.csgraph import connected_components

        if n == 0:
            return None
        cols = np.repeat(np.arange(n), np.diff(indptr))
        rows = np.asarray(indices, dtype=np.int64)
        off = rows != cols
        graph = sp.coo_matrix((np.ones(int(off.sum())), (rows[off], cols[off])), shape=(n, n))
        graph = ((graph + graph.T) > 0).tocsr()
        degree = np.diff(graph.indptr)
        hub = degree > max(8.0, np.sqrt(n))
        rest = np.flatnonzero(hub)
        inner = np.flatnonzero(~hub)
        if rest.size > MAX_REST or rest.size >= inner.size:
            return None
        sub = graph[inner][:, inner]
        _, label = connected_components(sub, directed=False)
        sizes = np.bincount(label)
        if sizes.max(initial=0) > MAX_BLOCK:
            return None
        # where each unknown sits: its block group, block and position in it, or its rest slot
        group_of = np.full(n, -1)
        block_of = np.zeros(n, dtype=np.int64)
        slot_of = np.zeros(n, dtype=np.int64)
        groups: list[np.ndarray] = []
        for g, size in enumerate(np.unique(sizes)):
            members = np.flatnonzero(sizes == size)
            table = np.empty((members.size, size), dtype=np.int64)
            rank = np.full(sizes.size, -1)
            rank[members] = np.arange(members.size)
            fill = np.zeros(members.size, dtype=np.int64)
            for k in np.flatnonzero(sizes[label] == size):  # once per unknown, at compile time
                b = rank[label[k]]
                table[b, fill[b]] = inner[k]
                fill[b] += 1
            groups.append(table)
            group_of[table.ravel()] = g
            block_of[table] = np.arange(members.size)[:, None]
            slot_of[table] = np.arange(size)[None, :]
        rest_slot = np.full(n, -1)
        rest_slot[rest] = np.arange(rest.size)
        positions = np.arange(rows.size)
        routes = []
        for g in range(len(groups)):
            in_row, in_col = group_of[rows] == g, group_of[cols] == g
            ii = in_row & in_col
            ir = in_row & (rest_slot[cols] >= 0)
            ri = (rest_slot[rows] >= 0) & in_col
            routes.append(
                {
                    "ii": (positions[ii], block_of[rows[ii]], slot_of[rows[ii]], slot_of[cols[ii]]),
                    "ir": (
                        positions[ir],
                        block_of[rows[ir]],
                        slot_of[rows[ir]],
                        rest_slot[cols[ir]],
                    ),
                    "ri": (
                        positions[ri],
                        rest_slot[rows[ri]],
                        block_of[cols[ri]],
                        slot_of[cols[ri]],
                    ),
                }
            )
        rr = (rest_slot[rows] >= 0) & (rest_slot[cols] >= 0)
        return cls(rest, groups, routes, (positions[rr], rest_slot[rows[rr]], rest_slot[cols[rr]]))

    def solve(self, data: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
        """Solve K·x = rhs for every sample (rows of ``data`` and ``rhs``); ``None`` if singular."""
        backend = get_backend()
        n_samples, n_r = rhs.shape[0], self.rest.size
        schur = np.zeros((n_samples, n_r, n_r))
        pos, r, c = self.rr
        schur[:, r, c] = data[:, pos]
        b_r = rhs[:, self.rest].copy()
        solved = []
        for table, route in zip(self.groups, self.routes, strict=True):
            n_blocks, size = table.shape
            k_ii = np.zeros((n_samples, n_blocks, size, size))
            k_ir = np.zeros((n_samples, n_blocks, size, n_r + 1))
            k_ri = np.zeros((n_samples, n_r, n_blocks, size))
            pos, b, i, j = route["ii"]
            k_ii[:, b, i, j] = data[:, pos]
            pos, b, i, q = route["ir"]
            k_ir[:, b, i, q] = data[:, pos]
            k_ir[:, :, :, n_r] = rhs[:, table]
            pos, q, b, j = route["ri"]
            k_ri[:, q, b, j] = data[:, pos]
            try:
                y = np.linalg.solve(k_ii, k_ir)  # K_II⁻¹ [K_IR | b_I], block by block
            except np.linalg.LinAlgError:
                return None
            # Σ over the blocks of K_RI·y, as one batched matrix product per sample
            update = backend.matmul(
                k_ri.reshape(n_samples, n_r, n_blocks * size),
                y.reshape(n_samples, n_blocks * size, n_r + 1),
            )
            schur -= update[:, :, :n_r]
            b_r -= update[:, :, n_r]
            solved.append(y)
        try:
            x_r = backend.solve(schur, b_r) if n_r else np.zeros((n_samples, 0))
        except np.linalg.LinAlgError:
            return None
        out = np.empty_like(rhs)
        out[:, self.rest] = x_r
        for table, y in zip(self.groups, solved, strict=True):
            out[:, table] = (
                y[..., n_r] - backend.matmul(y[..., :n_r], x_r[:, None, :, None])[..., 0]
            )
        if not np.all(np.isfinite(out)):
            return None
        return out


Plan = SchurPlan | BlockSchurPlan
"""An elimination plan: ``solve(data, rhs)`` gives the solution, or None when it declines."""
