r"""Nodal analysis of a crossbar with wire resistance: differentiable, batched, sparse.

The array of :class:`~spicegrad.crossbar.topology.Network` is a linear resistive network once
the device conductances are fixed. Nets driven by sources are known (row inputs at V_i, column
ammeters at 0 V); the other nets' voltages u solve Kirchhoff's current law

    A·u = b,   A = Σ_edges g_e·(e_a - e_b)(e_a - e_b)ᵀ restricted to unknown nets,
               b = Σ_edges into a driven net d  g_e·V_d·e_(unknown end)

A is symmetric positive definite (every net has a resistive path to a driven net), sparse with
at most five entries per row. One sparse LU (SuperLU, fill-reducing ordering) serves every
right-hand side of a batch and, as A = Aᵀ, the backward pass:

    ∂L/∂b = A⁻ᵀ·∂L/∂u = λ,     ∂L/∂A_ij = -λ_i·u_j

so gradients flow to the inputs and to every conductance (devices and wires). The column
currents are the currents of the edges entering each ammeter net. Computations run in float64,
on the CPU. The solve is differentiable to any order (:class:`_SymmetricSolve`).

Transients (:class:`ReusedFactorSolver`): between two time steps only the device conductances
move, by a small fraction of the wire conductances, so refactorising A every step (as
ngspice does) is wasted work. The transient solves A_k·u = b_k by conjugate gradients
preconditioned with the LU of an earlier A_j (A is symmetric positive definite, so CG applies;
the preconditioner is exact at j = k and its error grows with |G_k - G_j|). When CG needs more
than ``refactor_after`` iterations, A_k is factorised anew for the following steps; when it
does not reach ``rtol`` within ``max_iter`` iterations, the step is solved directly.
(choice) ``rtol`` = 1e-12 on the residual norm: over a 1000-step 32x32 transient the states
then differ from direct solves by 2e-11, far below the state update's integration error.
Gradients: the backward pass solves Aᵀ·λ = ∂L/∂u = A·λ the same way (A = Aᵀ), with the
preconditioner the forward step used. Measured costs: see :mod:`spicegrad.crossbar.layers`.

Non-linear cells (:func:`solve_chord`): a cell whose current is I = f(v, x) (a registered kind
with a ``current`` hook, e.g. a·x·sinh(b·v)) makes the network non-linear. Each cell is then
replaced by its chord conductance g = f(v_dev, x)/v_dev at the present device voltages (at
|v_dev| <= :data:`V_SMALL` by the small-signal conductance, the v -> 0 limit, without 0/0), the
linear network is solved, and the chord is taken again at the new voltages (a fixed-point,
Picard or Kačanov, iteration) until no device voltage moves by more than :data:`V_TOL` = 1e-9 V
in one iteration; after :data:`MAX_CHORD_ITERATIONS` it stops with an error. At the fixed
point every cell carries f(v_dev, x) exactly (to the stated tolerance), so the column currents
are the non-linear network's. (choice) Chords rather than Newton: the chord network is
a resistor network (symmetric positive definite for a current that rises with v), so the
transient's :class:`ReusedFactorSolver` serves every iteration; the iteration contracts by
about the ratio of the wire to the device resistance, which is small in a usable array.
Gradients flow through the unrolled iterations (the start voltages are detached).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from scipy.sparse import csc_matrix
from scipy.sparse.linalg import splu

from ..errors import CheckFailed
from .topology import CrossbarSpec

#: SuperLU column ordering (fill-reducing on the symmetric pattern A + Aᵀ)
PERMC = "MMD_AT_PLUS_A"
#: (choice) a chord iteration has converged when no device voltage moves by more than this (V)
V_TOL = 1e-9
#: (choice) chord iterations allowed per solve before :func:`solve_chord` gives up
MAX_CHORD_ITERATIONS = 50
#: (choice) below this |v_dev| (V) the chord f(v, x)/v is replaced by its v -> 0 limit, the
#: small-signal conductance (no 0/0; the difference is of order (b·V_SMALL)² relative)
V_SMALL = 1e-12


def symmetric_csc(values: np.ndarray, rows: np.ndarray, cols: np.ndarray, n: int) -> csc_matrix:
    """A symmetric matrix from entries sorted by (row, col), built without a sort: these are
    its CSR arrays, and the CSR arrays of A read as CSC give Aᵀ = A."""
    indptr = np.searchsorted(rows, np.arange(n + 1))
    return csc_matrix((values, cols, indptr), shape=(n, n))


def solve_columns(lu, b: np.ndarray) -> np.ndarray:
    """``lu.solve(b)`` one column at a time. (choice, measured) SuperLU's solve of several
    right-hand sides at once is far slower per column than one at a time: a 4096-unknown
    32x32 wired array with 64 columns took 225 ms in one call and 21 ms column by column
    (scipy 1.x, one thread)."""
    if b.ndim < 2 or b.shape[1] == 1:
        return lu.solve(b)
    out = np.empty_like(b)
    for j in range(b.shape[1]):
        out[:, j] = lu.solve(np.ascontiguousarray(b[:, j]))
    return out


def pcg(matvec, precond, b: np.ndarray, rtol: float, max_iter: int) -> tuple[np.ndarray | None, int]:
    """Preconditioned conjugate gradients on every column of ``b`` [n, k] at once.

    Returns (x, iterations), x None when some column's residual is still above
    ``rtol``·|b| after ``max_iter`` iterations."""
    x = np.zeros_like(b)
    r = b.copy()
    bound = rtol * np.where(np.linalg.norm(b, axis=0) > 0, np.linalg.norm(b, axis=0), 1.0)
    z = precond(r)
    p, rz = z.copy(), (r * z).sum(0)
    for it in range(1, max_iter + 1):
        ap = matvec(p)
        pap = (p * ap).sum(0)
        alpha = np.divide(rz, pap, out=np.zeros_like(rz), where=pap != 0)
        x += alpha * p
        r -= alpha * ap
        if (np.linalg.norm(r, axis=0) <= bound).all():
            return x, it
        z = precond(r)
        rz_new = (r * z).sum(0)
        p = z + np.divide(rz_new, rz, out=np.zeros_like(rz), where=rz != 0) * p
        rz = rz_new
    return None, max_iter


class ReusedFactorSolver:
    """A·u = b for a sequence of slowly changing A on one pattern: CG preconditioned with the LU
    of an earlier A, refactorised when CG slows down (see the module docstring).

    Counters ``factorisations``, ``solves`` and ``iterations`` say what the sequence cost."""

    def __init__(self, system: NodalSystem, rtol: float = 1e-12, max_iter: int = 25, refactor_after: int = 4):
        self.system, self.rtol, self.max_iter, self.refactor_after = system, rtol, max_iter, refactor_after
        self.lu = None
        self.factorisations = self.solves = self.iterations = 0

    def _factor(self, a: csc_matrix):
        self.factorisations += 1
        self.lu = splu(a, permc_spec=PERMC)
        return self.lu

    def solve_with(self, a: csc_matrix, lu, b: np.ndarray) -> np.ndarray:
        """u = A⁻¹·b by CG preconditioned with ``lu``; a direct solve when CG does not converge."""
        self.solves += 1
        u, its = pcg(a.dot, partial(solve_columns, lu), b, self.rtol, self.max_iter)
        self.iterations += its
        if u is None:  # CG did not converge: solve this one directly
            self.factorisations += 1
            u = solve_columns(splu(a, permc_spec=PERMC), b)
        return u

    def forward(self, values: np.ndarray, b: np.ndarray):
        """(u, A, the LU used) for the next A of the sequence."""
        a = symmetric_csc(values, self.system.rows, self.system.cols, self.system.n_unknowns)
        if self.lu is None:
            lu = self._factor(a)
            self.solves += 1
            return solve_columns(lu, b), a, lu
        lu, before = self.lu, self.iterations
        u = self.solve_with(a, lu, b)
        if self.iterations - before > self.refactor_after:
            self._factor(a)  # for the steps that follow
        return u, a, lu

    def __call__(self, values: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
        return _SymmetricSolve.apply(values, rhs, _ReusedStep(self, values), *self.system.pattern)


class _ReusedStep:
    """The solves with one A of a :class:`ReusedFactorSolver`'s sequence: the first (the
    forward pass) picks the preconditioner and may refactorise for later steps; every later one
    (backward passes, of any order) is CG with the LU that first solve used."""

    def __init__(self, solver: ReusedFactorSolver, values: torch.Tensor):
        self.solver, self.values = solver, values.detach().cpu().numpy()
        self.a = self.lu = None

    def __call__(self, b: np.ndarray) -> np.ndarray:
        if self.a is None:
            u, self.a, self.lu = self.solver.forward(self.values, b)
            self.values = None  # A itself is kept from here on
            return u
        return self.solver.solve_with(self.a, self.lu, b)


class _SymmetricSolve(torch.autograd.Function):
    """u = A⁻¹·b for the symmetric A with entries ``values`` on the pattern (rows, cols); b is
    [n, batch]. ``solve`` maps a numpy right-hand side to A⁻¹·b for this very A (an LU, or CG
    preconditioned with one). Backward: λ = A⁻¹·∂L/∂u by the same ``solve`` (A = Aᵀ) and
    ∂L/∂A_ij = -λ_i·u_j, written with this Function and torch operations, so the backward is
    itself differentiable: twice (any number of times) differentiable, each order one more
    solve with the same factorisation.

    (choice) The entries are those of a symmetric matrix (:class:`NodalSystem` builds them
    from edge conductances); gradients are exact for perturbations that keep A symmetric."""

    @staticmethod
    def forward(ctx, values, rhs, solve, rows, cols):
        u = torch.from_numpy(solve(np.ascontiguousarray(rhs.detach().cpu().numpy()))).to(rhs)
        ctx.solve, ctx.rows, ctx.cols = solve, rows, cols
        ctx.save_for_backward(values, u)
        return u

    @staticmethod
    def backward(ctx, grad_u):
        values, u = ctx.saved_tensors
        lam = _SymmetricSolve.apply(values, grad_u, ctx.solve, ctx.rows, ctx.cols)
        grad_values = -(lam[ctx.rows] * u[ctx.cols]).sum(-1)
        return grad_values, lam, None, None, None


def sparse_solve(values: torch.Tensor, rhs: torch.Tensor, system: NodalSystem) -> torch.Tensor:
    """u = A⁻¹·b with one sparse LU of the symmetric A (entries ``values`` on ``system``'s
    pattern), differentiable any number of times in ``values`` and ``rhs`` [n, batch]."""
    lu = splu(symmetric_csc(values.detach().cpu().numpy(), system.rows, system.cols, system.n_unknowns),
              permc_spec=PERMC)
    return _SymmetricSolve.apply(values, rhs, partial(solve_columns, lu), *system.pattern)


def chord_conductance(current, small_signal: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """g = current(v)/v, and ``small_signal`` (the v -> 0 limit) where |v| <= V_SMALL."""
    small = v.abs() <= V_SMALL
    v_safe = torch.where(small, torch.ones_like(v), v)  # no 0/0, in the values or the gradients
    return torch.where(small, small_signal, current(v_safe) / v_safe)


def solve_chord(system: NodalSystem, current, small_signal: torch.Tensor, v_rows: torch.Tensor, solver=None,
                guess: torch.Tensor | None = None, where: str = "") -> tuple[dict[str, torch.Tensor], int]:
    """The array with non-linear cells (see the module docstring): ``current(v)`` -> A for device
    voltages v [R, Cp] (the cells' states bound in), ``small_signal`` [R, Cp] (S) their dI/dv at
    v = 0, ``v_rows`` [1, R] (V). Starts from ``guess`` [R, Cp] (V; default: every cell at its
    row voltage). Returns (:meth:`NodalSystem.solve`'s outputs, iterations used); raises
    :class:`~spicegrad.errors.CheckFailed` after :data:`MAX_CHORD_ITERATIONS`."""
    shape = small_signal.shape
    v_dev = (v_rows[0, :, None].expand(shape) if guess is None else guess).detach().to(torch.float64)
    change = float("inf")
    for it in range(1, MAX_CHORD_ITERATIONS + 1):
        out = system.solve(chord_conductance(current, small_signal, v_dev), v_rows, solver)
        change = float((out["v_dev"][0].detach() - v_dev.detach()).abs().max())
        v_dev = out["v_dev"][0]
        if change <= V_TOL:
            return out, it
    raise CheckFailed(f"crossbar with non-linear cells{where}: the chord iteration did not converge in "
                      f"{MAX_CHORD_ITERATIONS} iterations (last change of a device voltage {change:.3g} V, "
                      f"tolerance {V_TOL:g} V); the cells' I-V is too steep for these wire resistances: lower the "
                      "row voltages or the wire resistances")


class NodalSystem:
    """The crossbar's nodal equations on a fixed sparsity pattern, built once per spec."""

    def __init__(self, spec: CrossbarSpec):
        self.spec = spec
        net = spec.network()
        self.shape = (spec.rows, spec.physical_cols)
        fa, fb, fg = net.fixed_edges()
        self.n_fixed = fa.size
        self.a = np.concatenate([fa, net.te.ravel()])
        self.b = np.concatenate([fb, net.be.ravel()])
        self.g_fixed = torch.from_numpy(fg)
        n = net.n_nets
        self.n_nets = n
        self.row_in, self.sense = net.row_in, net.sense
        self.te, self.be = torch.from_numpy(net.te.ravel()), torch.from_numpy(net.be.ravel())
        driven = np.zeros(n, dtype=bool)
        driven[net.row_in] = True
        driven[net.sense] = True
        self.unknown_nets = np.nonzero(~driven)[0]
        index = np.full(n, -1, dtype=np.int64)
        index[self.unknown_nets] = np.arange(self.unknown_nets.size)
        row_of = np.full(n, -1, dtype=np.int64)
        row_of[net.row_in] = np.arange(spec.rows)
        self._build_matrix(index)
        self._build_rhs(index, row_of)
        self._build_sense()

    @property
    def n_unknowns(self) -> int:
        return self.unknown_nets.size

    def _build_matrix(self, index: np.ndarray) -> None:
        ua, ub = index[self.a], index[self.b]
        edge = np.arange(self.a.size)
        rows, cols, edges, signs = [], [], [], []
        for r, c, s in ((ua, ua, 1.0), (ub, ub, 1.0), (ua, ub, -1.0), (ub, ua, -1.0)):
            keep = (r >= 0) & (c >= 0)
            rows.append(r[keep])
            cols.append(c[keep])
            edges.append(edge[keep])
            signs.append(np.full(keep.sum(), s))
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        n = max(self.n_unknowns, 1)
        pattern, inverse = np.unique(rows * n + cols, return_inverse=True)
        self.rows, self.cols = pattern // n, pattern % n
        #: (rows, cols) as index tensors, for the gradients of the solve
        self.pattern = (torch.from_numpy(self.rows), torch.from_numpy(self.cols))
        self.entry_slot = torch.from_numpy(inverse.ravel())
        self.entry_edge = torch.from_numpy(np.concatenate(edges))
        self.entry_sign = torch.from_numpy(np.concatenate(signs))

    def _build_rhs(self, index: np.ndarray, row_of: np.ndarray) -> None:
        unknown, source, edges = [], [], []
        for u_end, d_end in ((self.a, self.b), (self.b, self.a)):
            keep = (index[u_end] >= 0) & (row_of[d_end] >= 0)
            unknown.append(index[u_end][keep])
            source.append(row_of[d_end][keep])
            edges.append(np.nonzero(keep)[0])
        self.rhs_unknown = torch.from_numpy(np.concatenate(unknown))
        self.rhs_row = torch.from_numpy(np.concatenate(source))
        self.rhs_edge = torch.from_numpy(np.concatenate(edges))

    def _build_sense(self) -> None:
        col_of = np.full(self.n_nets, -1, dtype=np.int64)
        col_of[self.sense] = np.arange(self.sense.size)
        cols, edges, signs = [], [], []
        for end, sign in ((self.b, 1.0), (self.a, -1.0)):  # edge current flows a -> b
            keep = col_of[end] >= 0
            cols.append(col_of[end][keep])
            edges.append(np.nonzero(keep)[0])
            signs.append(np.full(keep.sum(), sign))
        self.sense_col = torch.from_numpy(np.concatenate(cols))
        self.sense_edge = torch.from_numpy(np.concatenate(edges))
        self.sense_sign = torch.from_numpy(np.concatenate(signs))

    def solve(self, g: torch.Tensor, v_rows: torch.Tensor, solver=None) -> dict[str, torch.Tensor]:
        """Device conductances ``g`` [R, Cp] (S) and row voltages ``v_rows`` [B, R] (V) ->
        ``i`` [B, Cp] currents into the column ammeters (A), ``v_dev`` [B, R, Cp] device
        voltages te - be (V), ``v_nets`` [B, n_nets] every net's voltage.

        ``solver``: a callable (values, rhs) -> u such as a :class:`ReusedFactorSolver`
        (default: one sparse LU). Runs on the CPU in float64 (SuperLU): inputs of another dtype
        or device are copied there (differentiably) and the results stay there."""
        dtype = torch.float64
        g_all = torch.cat([self.g_fixed.to(dtype), g.reshape(-1).to("cpu", dtype)])
        v_rows = v_rows.to("cpu", dtype)
        batch = v_rows.shape[0]
        v_nets = torch.zeros(batch, self.n_nets, dtype=dtype)
        v_nets = v_nets.index_copy(1, torch.from_numpy(self.row_in), v_rows)
        if self.n_unknowns:
            values = torch.zeros(self.rows.size, dtype=dtype).index_add(
                0, self.entry_slot, self.entry_sign * g_all[self.entry_edge])
            rhs = torch.zeros(self.n_unknowns, batch, dtype=dtype).index_add(
                0, self.rhs_unknown, g_all[self.rhs_edge, None] * v_rows.T[self.rhs_row])
            u = sparse_solve(values, rhs, self) if solver is None else solver(values, rhs)
            v_nets = v_nets.index_copy(1, torch.from_numpy(self.unknown_nets), u.T)
        a, b = torch.from_numpy(self.a), torch.from_numpy(self.b)
        i_edge = g_all * (v_nets[:, a] - v_nets[:, b])
        i_cols = torch.zeros(batch, self.sense.size, dtype=dtype).index_add(
            1, self.sense_col, i_edge[:, self.sense_edge] * self.sense_sign)
        v_dev = (v_nets[:, self.te] - v_nets[:, self.be]).reshape(batch, *self.shape)
        return {"i": i_cols, "v_dev": v_dev, "v_nets": v_nets}
