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
When K_IR and K_RI are the same for every sample — the devices stamp only diagonals (a diode
from a hidden node to a rail) and the samples differ in their inputs — the Schur complements of
all samples are one matrix product (pivots × the products K_RI[r, i]·K_IR[i, c]).

When a hidden unit is more than one unknown — an amplifier after each hidden node adds its output
node, its branch current and a sense source's, none of which has a diagonal entry of its own —
there is no useful independent set, but the same elimination works with small *blocks*:
:class:`BlockSchurPlan` takes the hub unknowns (those joined to many others, such as the output
layer) as R, and the connected pieces left once R is removed as blocks K_II, each a few unknowns,
solved with batched dense LU (partial pivoting within the block). When the samples' blocks differ
only in one diagonal entry each (the hidden node's diode), the block's other unknowns are
eliminated once for all samples and each block leaves one pivot per sample: the Schur
complements are then one matrix product again, as with an independent set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from circuitlearn.solve.arrays import get_backend

__all__ = [
    "MAX_BLOCK",
    "MAX_REST",
    "PIVOT_RATIO",
    "BlockSchurPlan",
    "DenseBlock",
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
class DenseBlock:
    """Where each entry of a dense block (or stack of blocks) comes from in the stored values.

    Gathering ``values[:, source]`` fills the block in one pass per sample; a scatter into
    zeros with (row, column) index arrays was 5–10× slower on DRN-1H (1024 × 10 blocks).
    Entries with no stored value (structural zeros) read the zero column that
    :func:`with_zero_column` appends, at index ``n_stored``.
    """

    shape: tuple[int, ...]
    source: np.ndarray
    complete: bool
    """Whether every entry has a stored value (the zero column is then not needed)."""
    n_stored: int
    """How many values are stored (``source`` holds this index for a structural zero)."""

    @classmethod
    def of(
        cls,
        positions: np.ndarray,
        where: tuple[np.ndarray, ...],
        shape: tuple[int, ...],
        n_stored: int,
    ) -> DenseBlock:
        """The block of ``shape`` whose entry ``where[k]`` is stored value ``positions[k]``."""
        source = np.full(int(np.prod(shape)), n_stored, dtype=np.int64)
        if positions.size:
            source[np.ravel_multi_index(where, shape)] = positions
        return cls(tuple(shape), source, bool(np.all(source < n_stored)), n_stored)

    def take(self, values: np.ndarray) -> np.ndarray:
        """The block for every sample (rows of ``values``): samples × ``shape``.

        ``values`` are the stored values, followed by a zero column unless the block is complete.
        """
        return values[:, self.source].reshape(values.shape[0], *self.shape)

    def gather(self, data: np.ndarray) -> np.ndarray:
        """:meth:`take` from the stored values alone (no zero column): for small blocks, where
        copying ``data`` to append the column would cost more than the gather."""
        stored = self.source < self.n_stored
        out = np.zeros((data.shape[0], self.source.size))
        out[:, stored] = data[:, self.source[stored]]
        return out.reshape(data.shape[0], *self.shape)


def with_zero_column(data: np.ndarray, blocks: Sequence[DenseBlock]) -> np.ndarray:
    """``data`` with a zero column appended when one of ``blocks`` has structural zeros."""
    if all(block.complete for block in blocks):
        return data
    values = np.empty((data.shape[0], data.shape[1] + 1))
    values[:, :-1] = data
    values[:, -1] = 0.0
    return values


@dataclass
class SchurPlan:
    """Index plan for eliminating an independent set ``eliminated`` of unknowns.

    See the module notes.
    """

    eliminated: np.ndarray
    rest: np.ndarray
    diag_pos: np.ndarray
    ir: DenseBlock
    ri: DenseBlock
    rr: DenseBlock
    coupling: np.ndarray = field(init=False, repr=False)
    """Positions of K_IR's and K_RI's stored values, sorted."""
    _pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    """The last (K_IR, K_RI, their products) of :meth:`_shared_solve`."""

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

        def block(mask: np.ndarray, shape: tuple[int, int]) -> DenseBlock:
            where = (local[rows[mask]], local[cols[mask]])
            return DenseBlock.of(positions[mask], where, shape, rows.size)

        n_i, n_r = eliminated.size, rest.size
        return cls(
            eliminated=eliminated,
            rest=rest,
            diag_pos=diag_pos,
            ir=block(row_in & ~col_in, (n_i, n_r)),
            ri=block(~row_in & col_in, (n_r, n_i)),
            rr=block(~row_in & ~col_in, (n_r, n_r)),
        )

    def __post_init__(self) -> None:
        # in memory order: one gather tests whether K_IR and K_RI vary between samples
        coupling = np.concatenate([self.ir.source, self.ri.source])
        self.coupling = np.unique(coupling[coupling < self.ir.n_stored])

    def solve(self, data: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
        """Solve K·x = rhs for every sample (rows of ``data`` and ``rhs``); ``None`` if unsafe."""
        backend = get_backend()
        d = data[:, self.diag_pos]
        if _same_for_all(data, self.coupling):
            return self._shared_solve(data, rhs, d)
        values = with_zero_column(data, (self.ir, self.ri, self.rr))
        k_ir = self.ir.take(values)
        # an eliminated row holds its pivot and K_IR's entries only (the set is independent)
        row_sum = np.abs(d) + np.abs(k_ir).sum(axis=2)
        if np.any(np.abs(d) <= PIVOT_RATIO * row_sum):
            return None
        k_ri = self.ri.take(values)
        inv = 1.0 / d
        b_i = rhs[:, self.eliminated]
        b_r = rhs[:, self.rest]
        schur = self.rr.take(values) - backend.matmul(k_ri, inv[:, :, None] * k_ir)
        try:
            x_r = backend.solve(schur, b_r - backend.matmul(k_ri, (inv * b_i)[:, :, None])[..., 0])
        except np.linalg.LinAlgError:
            return None
        x_i = inv * (b_i - backend.matmul(k_ir, x_r[:, :, None])[..., 0])
        out = np.empty_like(rhs)
        out[:, self.eliminated] = x_i
        out[:, self.rest] = x_r
        return out

    def _shared_solve(self, data: np.ndarray, rhs: np.ndarray, d: np.ndarray) -> np.ndarray | None:
        """:meth:`solve` when K_IR and K_RI are the same for every sample and only the pivots
        and K_RR vary (devices that stamp a hidden node's diagonal, nudges at the outputs).

        The Schur updates of all samples are then one matrix product, pivots × the products
        K_RI[r, i]·K_IR[i, c], instead of one small product per sample: 9.6 -> 4.6 ms per
        solve on DRN-1H (50 images, 1024 × 10 blocks), which also gathers the blocks of one
        sample instead of all.
        """
        backend = get_backend()
        first = with_zero_column(data[:1], (self.ir, self.ri))
        k_ir, k_ri = self.ir.take(first)[0], self.ri.take(first)[0]
        row_sum = np.abs(d) + np.abs(k_ir).sum(axis=1)
        if np.any(np.abs(d) <= PIVOT_RATIO * row_sum):
            return None
        inv = 1.0 / d
        b_i = rhs[:, self.eliminated]
        n_r = k_ir.shape[1]
        pairs = self._coupling_pairs(k_ir, k_ri)
        schur = self.rr.gather(data) - backend.matmul(inv, pairs).reshape(len(d), n_r, n_r)
        try:
            x_r = backend.solve(schur, rhs[:, self.rest] - backend.matmul(inv * b_i, k_ri.T))
        except np.linalg.LinAlgError:
            return None
        out = np.empty_like(rhs)
        out[:, self.eliminated] = inv * (b_i - backend.matmul(x_r, k_ir.T))
        out[:, self.rest] = x_r
        return out

    def _coupling_pairs(self, k_ir: np.ndarray, k_ri: np.ndarray) -> np.ndarray:
        """K_RI[r, i]·K_IR[i, c] for every i (n_i × n_r²), reused while K_IR and K_RI are the
        same: they change with the conductances, not with the Newton iterate or the phase
        (DRN-1H: a solve on 25 samples 0.88 -> 0.70 ms, about 16 solves a gradient)."""
        cached = self._pairs
        if (
            cached is not None
            and np.array_equal(cached[0], k_ir)
            and np.array_equal(cached[1], k_ri)
        ):
            return cached[2]
        n_i, n_r = k_ir.shape
        pairs = (k_ri.T[:, :, None] * k_ir[:, None, :]).reshape(n_i, n_r * n_r)
        self._pairs = (k_ir, k_ri, pairs)
        return pairs


def _same_for_all(data: np.ndarray, positions: np.ndarray) -> bool:
    """Whether every sample (row of ``data``) holds the first one's values at ``positions``."""
    return not _varying(data)[positions].any()


def _varying(data: np.ndarray) -> np.ndarray:
    """Which stored values differ from the first sample's in some sample (row of ``data``),
    followed by ``False`` for the zero column of :func:`with_zero_column` (a structural zero).

    Compares whole rows, then the caller picks positions: gathering the positions first (20,480
    of DRN-1H's 21,514 stored values, 50 samples) took 3.5 ms a solve, this 0.3 ms.
    """
    varies = np.zeros(data.shape[1] + 1, dtype=bool)
    varies[:-1] = np.any(data[1:] != data[:1], axis=0)
    return varies


@dataclass
class BlockSchurPlan:
    """Index plan for eliminating small blocks of unknowns around hub unknowns (module notes).

    ``groups`` holds, per block size s, the unknowns of its blocks (n_blocks × s); ``routes``
    gathers each group's K_II, [K_IR | b_I] (b_I's column left empty) and K_RI from the stored
    values.
    """

    rest: np.ndarray
    groups: list[np.ndarray]
    routes: list[dict[str, DenseBlock]]
    rr: DenseBlock

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
        n_r = rest.size
        routes = []
        for g, table in enumerate(groups):
            n_blocks, size = table.shape
            in_row, in_col = group_of[rows] == g, group_of[cols] == g
            ii = in_row & in_col
            ir = in_row & (rest_slot[cols] >= 0)
            ri = (rest_slot[rows] >= 0) & in_col
            routes.append(
                {
                    "ii": DenseBlock.of(
                        positions[ii],
                        (block_of[rows[ii]], slot_of[rows[ii]], slot_of[cols[ii]]),
                        (n_blocks, size, size),
                        rows.size,
                    ),
                    "ir": DenseBlock.of(
                        positions[ir],
                        (block_of[rows[ir]], slot_of[rows[ir]], rest_slot[cols[ir]]),
                        (n_blocks, size, n_r + 1),
                        rows.size,
                    ),
                    "ri": DenseBlock.of(
                        positions[ri],
                        (rest_slot[rows[ri]], block_of[cols[ri]], slot_of[cols[ri]]),
                        (n_r, n_blocks, size),
                        rows.size,
                    ),
                }
            )
        rr = (rest_slot[rows] >= 0) & (rest_slot[cols] >= 0)
        return cls(
            rest,
            groups,
            routes,
            DenseBlock.of(
                positions[rr], (rest_slot[rows[rr]], rest_slot[cols[rr]]), (n_r, n_r), rows.size
            ),
        )

    def solve(self, data: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
        """Solve K·x = rhs for every sample (rows of ``data`` and ``rhs``); ``None`` if singular."""
        pivots = self._varying_pivots(data)
        if pivots is not None:
            solved = self._condensed_solve(data, rhs, pivots)
            if solved is not None:
                return solved
        return self._blockwise_solve(data, rhs)

    def _varying_pivots(self, data: np.ndarray) -> list[int] | None:
        """The slot of each group whose diagonal entry is all that varies between the samples'
        blocks, or ``None`` when more varies (then K_II is factored sample by sample).

        A group where nothing varies gets the slot with the largest diagonal (a branch current,
        whose diagonal is zero, is never the pivot). One sample: ``None`` (nothing to share).
        """
        if data.shape[0] < 2:
            return None
        varies = _varying(data)
        pivots = []
        for table, route in zip(self.groups, self.routes, strict=True):
            if varies[route["ir"].source].any() or varies[route["ri"].source].any():
                return None
            size = table.shape[1]
            in_blocks = varies[route["ii"].source].reshape(-1, size, size)
            on_diagonal = in_blocks[:, np.arange(size), np.arange(size)]
            if in_blocks.sum() != on_diagonal.sum():
                return None
            slots = np.flatnonzero(on_diagonal.any(axis=0))
            if slots.size > 1:
                return None
            if slots.size == 0:
                diagonal = route["ii"].gather(data[:1])[0][:, np.arange(size), np.arange(size)]
                slots = [int(np.argmax(np.abs(diagonal).sum(axis=0)))]
            pivots.append(int(slots[0]))
        return pivots

    def _condensed_solve(
        self, data: np.ndarray, rhs: np.ndarray, pivots: list[int]
    ) -> np.ndarray | None:
        """:meth:`solve` when the blocks differ between samples only in one diagonal entry each
        (the hidden node's diode conductance; K_IR and K_RI shared); ``None`` where unsafe.

        Each block's other unknowns o are eliminated once for all samples, leaving one pivot
        σ = a_jj − A_jo·A_oo⁻¹·A_oj per block and sample: every sample's Schur complement is then
        a shared part plus pivots × products, as in :meth:`SchurPlan._shared_solve`, instead of
        one small LU per block and sample (DRN-XS with amplifiers, 100 samples × 100 blocks of
        5: 16 -> 1.2 ms a solve).
        """
        backend = get_backend()
        n_samples, n_r = rhs.shape[0], self.rest.size
        first = with_zero_column(
            data[:1], [block for route in self.routes for block in route.values()]
        )
        schur = self.rr.gather(data)
        b_r = rhs[:, self.rest].copy()
        condensed = []
        for table, route, j in zip(self.groups, self.routes, pivots, strict=True):
            n_blocks, size = table.shape
            other = np.delete(np.arange(size), j)
            k_ii = route["ii"].take(first)[0]
            k_ir = route["ir"].take(first)[0][:, :, :n_r]
            k_ri = route["ri"].take(first)[0]
            a_jo = k_ii[:, j, other]
            # A_oo⁻¹ [A_oj | K_IR,o | I], shared by the samples
            known = np.concatenate(
                [k_ii[:, other, j, None], k_ir[:, other], np.broadcast_to(
                    np.eye(size - 1), (n_blocks, size - 1, size - 1))], axis=2
            )  # fmt: skip
            try:
                known = np.linalg.solve(k_ii[:, other][:, :, other], known) if size > 1 else known
            except np.linalg.LinAlgError:
                return None
            z, t, a_oo_inv = known[..., 0], known[..., 1 : 1 + n_r], known[..., 1 + n_r :]
            # eliminating o first must not magnify the block's entries (no pivoting across o, j)
            growth = _norm_1(a_oo_inv) * _norm_1(k_ii) if size > 1 else np.zeros(1)
            if np.any(growth * PIVOT_RATIO >= 1.0):
                return None
            c = np.einsum("bo,bo->b", a_jo, z)
            q = k_ir[:, j] - np.einsum("bo,bor->br", a_jo, t)
            inner = n_blocks * (size - 1)
            k_ri_o = k_ri[:, :, other].reshape(n_r, inner)
            w = k_ri[:, :, j].T - np.einsum("rbo,bo->br", k_ri[:, :, other], z)
            diagonal = route["ii"].source.reshape(n_blocks, size, size)[:, j, j]
            stored = diagonal < data.shape[1]
            a_jj = np.zeros((n_samples, n_blocks))
            a_jj[:, stored] = data[:, diagonal[stored]]
            sigma = a_jj - c
            if np.any(np.abs(sigma) <= PIVOT_RATIO * (np.abs(a_jj) + np.abs(c))):
                return None
            inv = 1.0 / sigma
            pairs = (w[:, :, None] * q[:, None, :]).reshape(n_blocks, n_r * n_r)
            schur -= (k_ri_o @ t.reshape(inner, n_r))[None]
            schur -= backend.matmul(inv, pairs).reshape(n_samples, n_r, n_r)
            b = rhs[:, table]
            t_b = np.einsum("boi,sbi->sbo", a_oo_inv, b[:, :, other])
            q_b = b[:, :, j] - np.einsum("bo,sbo->sb", a_jo, t_b)
            b_r -= backend.matmul(t_b.reshape(n_samples, inner), k_ri_o.T)
            b_r -= backend.matmul(q_b * inv, w)
            condensed.append((table, j, other, z, t, q, t_b, q_b, inv))
        out = self._with_rest(schur, b_r, rhs)
        if out is None:
            return None
        x_r = out[:, self.rest]
        for table, j, other, z, t, q, t_b, q_b, inv in condensed:
            x_j = (q_b - backend.matmul(x_r, q.T)) * inv
            moved = backend.matmul(x_r, t.reshape(t.shape[0] * t.shape[1], n_r).T)
            moved = moved.reshape(t_b.shape)
            out[:, table[:, j]] = x_j
            out[:, table[:, other]] = t_b - moved - z[None] * x_j[:, :, None]
        if not np.all(np.isfinite(out)):
            return None
        return out

    def _with_rest(self, schur: np.ndarray, b_r: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
        """An array shaped like ``rhs`` holding x_R = S⁻¹ b_R of every sample at the rest's
        unknowns (the blocks' are the caller's to fill), or ``None`` if an S is singular."""
        try:
            x_r = get_backend().solve(schur, b_r) if self.rest.size else b_r[:, :0]
        except np.linalg.LinAlgError:
            return None
        out = np.empty_like(rhs)
        out[:, self.rest] = x_r
        return out

    def _blockwise_solve(self, data: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
        """:meth:`solve` with one LU per block and sample (partial pivoting within the block)."""
        backend = get_backend()
        n_samples, n_r = rhs.shape[0], self.rest.size
        values = with_zero_column(
            data, [self.rr, *(block for route in self.routes for block in route.values())]
        )
        schur = self.rr.take(values)
        b_r = rhs[:, self.rest].copy()
        solved = []
        for table, route in zip(self.groups, self.routes, strict=True):
            n_blocks, size = table.shape
            k_ir = route["ir"].take(values)
            k_ir[:, :, :, n_r] = rhs[:, table]
            k_ri = route["ri"].take(values)
            try:
                y = np.linalg.solve(route["ii"].take(values), k_ir)  # K_II⁻¹ [K_IR | b_I] per block
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
        out = self._with_rest(schur, b_r, rhs)
        if out is None:
            return None
        x_r = out[:, self.rest]
        for table, y in zip(self.groups, solved, strict=True):
            out[:, table] = (
                y[..., n_r] - backend.matmul(y[..., :n_r], x_r[:, None, :, None])[..., 0]
            )
        if not np.all(np.isfinite(out)):
            return None
        return out


def _norm_1(matrices: np.ndarray) -> np.ndarray:
    """The 1-norm (largest column sum of |entries|) of each matrix of a stack."""
    return np.abs(matrices).sum(axis=-2).max(axis=-1)


Plan = SchurPlan | BlockSchurPlan
"""An elimination plan: ``solve(data, rhs)`` gives the solution, or None when it declines."""
