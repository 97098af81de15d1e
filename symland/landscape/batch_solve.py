r"""Float64 solvers that run many starts of one teacher-student problem together.

Every start's iterate is a row of $\Theta \in \mathbb R^{B\times P}$; each iteration evaluates the
loss, gradients and Hessians of all active rows in one call of the batched engine
(:class:`~symland.problems.batched.BatchedTeacherStudent`) and does its linear algebra with
stacked numpy routines (``numpy.linalg.eigh`` on a stack of Hessians).  Starts stop one by one
(converged, failed, out of iterations); only the active ones are evaluated.  Loss convention
$L = \tfrac12E[(f - f^*)^2]$, "erf" is erf(z/sqrt 2).

Methods of :func:`solve_batch`:

* ``"newton"`` -- damped Newton on $\nabla L = 0$ (finds saddles too), the batched form of
  :func:`symland.landscape.critical.newton`: step $-\sum_{|\lambda_j| > 10^{-9}\max|\lambda|}
  q_j(q_j^\top g)/\lambda_j$ from $H = Q\Lambda Q^\top$, backtracking $t = 1, \tfrac12, \dots$
  ($t > 10^{-6}$) until $|\nabla L(\theta + t\,\delta)| < (1 - 10^{-4}t)|\nabla L(\theta)|$.
* ``"trust"`` -- trust-region minimisation with the exact Hessian and the exact subproblem
  $\min_{|p| \le \Delta} g^\top p + \tfrac12 p^\top Hp$, solved in the eigenbasis of $H$ (secular
  equation $|p(\lambda)| = \Delta$, $p(\lambda) = -(H + \lambda I)^{-1}g$, $\lambda \ge
  \max(0, -\lambda_{min})$, with the hard case); radius rules of scipy's ``trust-exact``
  (initial 1, at most 1000, $\rho < \tfrac14$: $\Delta/4$; $\rho > \tfrac34$ on the boundary:
  $2\Delta$; accepted when $\rho > 0.15$), the batched counterpart of
  :func:`symland.landscape.critical.minimize`.
* ``"lbfgs"`` -- limited-memory BFGS (10 pairs, two-loop recursion vectorised over starts,
  backtracking Armijo line search) until $|\nabla L| \le$ ``switch``, then ``"newton"`` to ``gtol``.
* ``"gd"`` -- plain gradient descent $\theta \leftarrow \theta - \eta\nabla L$ with one fixed step
  $\eta$ for every start (``step``; default :func:`stable_step`), the method whose basins of
  attraction the classic experiments report, until $|\nabla L| \le$ ``switch`` at a point whose
  Hessian is positive definite (a Cholesky factorisation succeeds), then ``"newton"`` to ``gtol``:
  Newton converges to the minimum the descent is approaching and skips its slow linear tail.

Bookkeeping: ``converged[b]`` is decided only by the gradient norm of a final batched evaluation
at the returned point ($|\nabla L| \le$ ``gtol``, finite); a start that cannot be evaluated, whose
line search fails or that runs out of iterations is reported with ``converged = False`` and the
reason.  :meth:`BatchSolveResult.flow_results` gives one
:class:`~symland.landscape.critical.FlowResult` per start, as the single-start solvers return.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ..errors import ConvergenceError, DomainError, ShapeError
from ..numerics.arguments import check_choice, check_count, check_positive
from ..problems.batched import BatchedTeacherStudent, check_batch
from .critical import MAX_ITER, FlowResult, check_problem

__all__ = ["solve_batch", "lbfgs_newton", "gradient_descent_newton", "stable_step", "BatchSolveResult", "METHODS",
           "HESSIAN_BUDGET", "STEP_GRID"]

#: methods of :func:`solve_batch` and their default ``max_iter``
METHODS = {"newton": 200, "trust": 2000, "lbfgs": 2000, "gd": 1_000_000}
#: the steps :func:`stable_step` tries, largest first: $\eta = 2^{-j/2}$, $j = 0, \dots, 40$
STEP_GRID = tuple(2.0 ** (-j / 2) for j in range(41))
#: gradient-descent steps over which :func:`stable_step` requires the loss of every start not to rise
_STABLE_STEPS = 300
#: a start whose gradient is small but whose Hessian is not positive definite is checked again after this many steps
_PD_RECHECK = 100
#: seconds between two progress reports of :func:`solve_batch` (when it is given ``progress``)
PROGRESS_SECONDS = 10.0
#: bytes of Hessians (and their eigenvectors) held at once; more active starts are processed in chunks
HESSIAN_BUDGET = 256 * 2**20
#: eigenvalues with $|\lambda| \le$ this times $\max|\lambda|$ are dropped from a Newton step (as in ``newton``)
_PINV_REL = 1e-9
#: smallest backtracking factor of the Newton line search (as in ``newton``)
_MIN_STEP = 1e-6
#: trust-region constants (scipy's trust-exact defaults)
_ETA, _RADIUS0, _RADIUS_MAX = 0.15, 1.0, 1000.0
#: predicted decreases below this times max(1, |L|) are rounding noise (the step is judged by |grad|)
_NOISE = 1e-13
#: L-BFGS memory and Armijo constant
_MEMORY, _ARMIJO = 10, 1e-4


@dataclasses.dataclass
class BatchSolveResult:
    """Per-start results of :func:`solve_batch` (arrays indexed by start).

    ``theta`` (B, P) final points; ``loss`` (B,); ``gradient_norm`` (B,) at ``theta`` (NaN when it
    could not be evaluated); ``converged`` (B,) bool, ``gradient_norm <= gtol``; ``iterations`` (B,)
    solver iterations (L-BFGS plus Newton for ``"lbfgs"``); ``reason`` the stopping reason per
    start; ``method``, ``gtol``; ``start_errors`` maps the starts that could not be evaluated at all
    to the :class:`~symland.errors.DomainError` message (a survey counts them as failures of its solver
    stage, as the single-start solvers raise there).
    """

    theta: np.ndarray
    loss: np.ndarray
    gradient_norm: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    reason: list
    method: str
    gtol: float
    start_errors: dict = dataclasses.field(default_factory=dict)

    def __len__(self):
        return len(self.theta)

    @property
    def failed(self) -> list:
        """Indices of the starts that did not converge."""
        return [int(j) for j in np.flatnonzero(~self.converged)]

    def flow_results(self) -> list:
        """One :class:`~symland.landscape.critical.FlowResult` per start (iterations, message = reason)."""
        return [FlowResult(self.theta[j].copy(), float(self.loss[j]), float(self.gradient_norm[j]),
                           bool(self.converged[j]), int(self.iterations[j]), self.reason[j])
                for j in range(len(self))]


class _State:
    """Iterates and bookkeeping of all starts."""

    def __init__(self, bt, Theta0, gtol, progress=None, method=""):
        self.bt, self.gtol = bt, gtol
        self.progress, self.method = progress, method
        self.last_report = time.monotonic()
        B = len(Theta0)
        self.theta = Theta0.copy()
        self.iterations = np.zeros(B, dtype=int)
        self.reason = [""] * B
        self.active = np.ones(B, dtype=bool)
        ev = bt.evaluate(self.theta, 1, on_error="mask")
        self.loss, self.grad = ev.loss, ev.gradient
        self.gnorm = np.linalg.norm(self.grad, axis=1)
        self.start_errors = dict(ev.errors)
        for j, msg in ev.errors.items():
            self.stop(j, f"cannot evaluate the start: {msg}")

    def tick(self):
        """Report the state of the batch through ``progress`` at most every :data:`PROGRESS_SECONDS`."""
        if self.progress is None or time.monotonic() - self.last_report < PROGRESS_SECONDS:
            return
        self.last_report = time.monotonic()
        running = int(self.active.sum())
        done = int(np.sum(~self.active & (self.gnorm <= self.gtol)))
        self.progress(f"float64 stage ({self.method}): {done} of {len(self.theta)} starts converged, {running} "
                      f"running, up to {int(self.iterations.max())} iterations, largest running |grad| "
                      f"{float(np.max(self.gnorm[self.active])) if running else 0.0:.2e}")

    def stop(self, j, reason):
        self.active[j] = False
        self.reason[j] = reason

    def stop_converged(self):
        done = self.active & (self.gnorm <= self.gtol)
        for j in np.flatnonzero(done):
            self.stop(j, "gradient below gtol")

    def result(self, method):
        """Final batched evaluation at the returned points; ``converged`` from it alone."""
        ev = self.bt.evaluate(self.theta, 1, on_error="mask")
        gn = np.linalg.norm(ev.gradient, axis=1)
        converged = np.isfinite(gn) & np.isfinite(ev.loss) & (gn <= self.gtol)
        reason = list(self.reason)
        for j in range(len(reason)):
            if j in ev.errors:
                reason[j] = f"{reason[j]}; cannot evaluate the end point: {ev.errors[j]}".lstrip("; ")
            elif not converged[j] and reason[j] == "gradient below gtol":
                reason[j] = f"gradient {gn[j]:.3g} above gtol at the end point"  # never claimed converged
        return BatchSolveResult(self.theta, ev.loss, gn, converged, self.iterations.copy(), reason, method,
                                self.gtol, dict(self.start_errors))


def _chunks(rows, P):
    """``rows`` split so that the Hessians and eigenvectors of one chunk fit :data:`HESSIAN_BUDGET`."""
    per = max(1, HESSIAN_BUDGET // (3 * 8 * P * P))
    return [rows[s:s + per] for s in range(0, len(rows), per)]


def _eigen(st, rows):
    """``(lam, Q, ok)`` of the Hessians of ``rows``; rows whose Hessian fails are stopped (``ok`` False)."""
    ev = st.bt.evaluate(st.theta[rows], 2, on_error="mask")
    ok = np.ones(len(rows), dtype=bool)
    for t, msg in ev.errors.items():
        ok[t] = False
        st.stop(rows[t], f"cannot evaluate the Hessian: {msg}")
    H = ev.hessian
    H[~ok] = 0.0
    lam, Q = np.linalg.eigh(H)
    return lam, Q, ok


# ---------------------------------------------------------------------------
# damped Newton
# ---------------------------------------------------------------------------
def _newton_steps(st, rows):
    """Pseudo-inverse Newton steps of ``rows`` (stacked eigendecompositions, in Hessian-budget chunks)."""
    P = st.theta.shape[1]
    steps = np.zeros((len(rows), P))
    ok = np.ones(len(rows), dtype=bool)
    start = 0
    for chunk in _chunks(rows, P):
        lam, Q, good = _eigen(st, chunk)
        g = st.grad[chunk]
        scale = np.maximum(np.max(np.abs(lam), axis=1), 1e-300)
        keep = np.abs(lam) > _PINV_REL * scale[:, None]
        coef = np.einsum("bpq,bp->bq", Q, g)
        coef = np.where(keep, coef / np.where(keep, lam, 1.0), 0.0)
        steps[start:start + len(chunk)] = -np.einsum("bpq,bq->bp", Q, coef)
        ok[start:start + len(chunk)] = good
        start += len(chunk)
    return steps, ok


def _newton(st, max_iter, count_from=None):
    """Damped Newton on the active starts until ``gtol``, ``max_iter`` iterations, or a failed line search."""
    B = len(st.theta)
    its = np.zeros(B, dtype=int)
    while True:
        st.tick()
        st.stop_converged()
        out = st.active & (its >= max_iter)
        for j in np.flatnonzero(out):
            st.stop(j, "maximum iterations reached")
        rows = np.flatnonzero(st.active)
        if not len(rows):
            return
        steps, ok = _newton_steps(st, rows)
        rows, steps = rows[ok], steps[ok]
        t = np.ones(len(rows))
        pending = np.arange(len(rows))
        while len(pending):
            r = rows[pending]
            trial = st.theta[r] + t[pending, None] * steps[pending]
            ev = st.bt.evaluate(trial, 1, on_error="mask")
            gn = np.linalg.norm(ev.gradient, axis=1)
            accept = np.isfinite(gn) & (gn < (1 - 1e-4 * t[pending]) * st.gnorm[r])
            for q in np.flatnonzero(accept):
                j = r[q]
                st.theta[j], st.loss[j], st.grad[j], st.gnorm[j] = trial[q], ev.loss[q], ev.gradient[q], gn[q]
            t[pending[~accept]] *= 0.5
            pending = pending[~accept]
            small = t[pending] <= _MIN_STEP
            for j in rows[pending[small]]:
                st.stop(j, "line search failed")
            pending = pending[~small]
        its[rows] += 1
        st.iterations[rows] += 1


# ---------------------------------------------------------------------------
# trust region with the exact subproblem
# ---------------------------------------------------------------------------
def _trust_steps(lam, Q, g, radius):
    r"""Exact solutions $p$ of $\min_{|p|\le\Delta} g^\top p + \tfrac12p^\top Hp$ for a stack of
    eigendecompositions $H = Q\Lambda Q^\top$; returns ``(p, predicted reduction, on boundary)``.

    Interior Newton step when $H \succ 0$ and $|H^{-1}g| \le \Delta$; else $\lambda \ge
    \max(0, -\lambda_{min})$ with $|p(\lambda)| = \Delta$ by Newton's method on
    $1/|p(\lambda)| - 1/\Delta$ (monotone, converges from the left); in the hard case ($g$ has no
    component along the lowest eigenvector and $|p(-\lambda_{min})| < \Delta$) the lowest
    eigenvector is added to reach the boundary."""
    R, P = g.shape
    gq = np.einsum("bpq,bp->bq", Q, g)  # components of g in the eigenbasis
    lmin = lam[:, 0]
    scale = np.maximum(np.max(np.abs(lam), axis=1), 1e-300)
    gn = np.linalg.norm(gq, axis=1)
    with np.errstate(all="ignore"):
        newton = -gq / lam
        interior = (lmin > 1e-12 * scale) & (np.linalg.norm(newton, axis=1) <= radius)
        # secular equation from lambda_lo = max(0, -lmin) (+ a hair), monotone Newton iterations
        lo = np.maximum(0.0, -lmin)
        shift = lo + np.maximum(1e-14 * scale, gn / radius * 1e-3)
        for _ in range(100):
            d = lam + shift[:, None]
            c = -gq / d
            nrm = np.linalg.norm(c, axis=1)
            dn = np.sum(c * c / d, axis=1) / np.maximum(nrm, 1e-300)  # -d|p|/d lambda
            phi = 1.0 / nrm - 1.0 / radius
            newshift = shift - phi * nrm * nrm / np.maximum(dn, 1e-300)
            newshift = np.where(np.isfinite(newshift), np.maximum(newshift, lo), shift)
            if np.all(np.abs(newshift - shift) <= 1e-15 * np.maximum(newshift, scale)):
                shift = newshift
                break
            shift = newshift
        d = lam + shift[:, None]
        coef = -gq / d
        # hard case: the boundary is not reached for any shift > -lmin
        hard = ~interior & ((np.linalg.norm(coef, axis=1) < radius * (1 - 1e-8)) | ~np.isfinite(coef).all(axis=1))
        if np.any(hard):
            h = np.flatnonzero(hard)
            dl = lam[h] - lmin[h, None]
            ch = np.where(dl > 1e-12 * scale[h, None], -gq[h] / np.where(dl > 0, dl, 1.0), 0.0)
            rest = np.maximum(radius[h] ** 2 - np.sum(ch * ch, axis=1), 0.0)
            ch[:, 0] += np.sqrt(rest)
            coef[h] = ch
        coef[interior] = newton[interior]
    pred = -(np.sum(gq * coef, axis=1) + 0.5 * np.sum(lam * coef * coef, axis=1))
    p = np.einsum("bpq,bq->bp", Q, coef)
    return p, pred, ~interior


def _trust(st, max_iter):
    """Trust-region minimisation of the active starts (module docstring)."""
    B, P = st.theta.shape
    radius = np.full(B, _RADIUS0)
    while True:
        st.tick()
        st.stop_converged()
        for j in np.flatnonzero(st.active & (st.iterations >= max_iter)):
            st.stop(j, "maximum iterations reached")
        rows = np.flatnonzero(st.active)
        if not len(rows):
            return
        for chunk in _chunks(rows, P):
            lam, Q, ok = _eigen(st, chunk)
            chunk = chunk[ok]
            if not len(chunk):
                continue
            p, pred, boundary = _trust_steps(lam[ok], Q[ok], st.grad[chunk], radius[chunk])
            bad = ~(pred > 0) | ~np.isfinite(p).all(axis=1)
            for j in chunk[bad]:
                st.stop(j, "the quadratic model predicts no decrease")
            chunk, p, pred, boundary = chunk[~bad], p[~bad], pred[~bad], boundary[~bad]
            if not len(chunk):
                continue
            trial = st.theta[chunk] + p
            ev = st.bt.evaluate(trial, 1, on_error="mask")
            gnew = np.linalg.norm(ev.gradient, axis=1)
            with np.errstate(all="ignore"):
                rho = (st.loss[chunk] - ev.loss) / pred
            rho = np.where(np.isfinite(rho) & np.isfinite(gnew), rho, -np.inf)
            # a predicted decrease below the rounding of the loss makes rho noise: there the step is
            # judged by the gradient norm, as Newton's method judges it, and the radius is kept
            noise = (pred < _NOISE * np.maximum(1.0, np.abs(st.loss[chunk]))) & np.isfinite(rho)
            judged = np.where(noise, np.where(gnew < st.gnorm[chunk], 1.0, 0.0), rho)
            radius[chunk] = np.where(noise, radius[chunk], np.where(
                rho < 0.25, 0.25 * radius[chunk],
                np.where((rho > 0.75) & boundary, np.minimum(2 * radius[chunk], _RADIUS_MAX), radius[chunk])))
            accept = judged > _ETA
            for q in np.flatnonzero(accept):
                j = chunk[q]
                st.theta[j], st.loss[j], st.grad[j], st.gnorm[j] = trial[q], ev.loss[q], ev.gradient[q], gnew[q]
            stuck = noise & ~accept
            radius[chunk[stuck]] *= 0.25
            st.iterations[chunk] += 1
            tiny = radius[chunk] < 1e-15 * (1 + np.linalg.norm(st.theta[chunk], axis=1))
            for j in chunk[tiny & (st.gnorm[chunk] > st.gtol)]:
                st.stop(j, "trust radius below the rounding of the parameters")


# ---------------------------------------------------------------------------
# L-BFGS, then Newton
# ---------------------------------------------------------------------------
def _lbfgs(st, max_iter, switch):
    r"""L-BFGS on the active starts until $|\nabla L| \le$ ``switch`` (then they stay active for Newton)."""
    B, P = st.theta.shape
    S, Y = np.zeros((B, _MEMORY, P)), np.zeros((B, _MEMORY, P))
    rho = np.zeros((B, _MEMORY))  # 0 marks an empty slot
    head = np.zeros(B, dtype=int)  # next slot to write
    handoff = np.zeros(B, dtype=bool)
    while True:
        st.tick()
        st.stop_converged()
        handoff |= st.active & (st.gnorm <= switch)
        for j in np.flatnonzero(st.active & ~handoff & (st.iterations >= max_iter)):
            st.stop(j, "maximum iterations reached")
        rows = np.flatnonzero(st.active & ~handoff)
        if not len(rows):
            return
        # two-loop recursion, newest pair first, vectorised over the rows
        q = st.grad[rows].copy()
        alpha = np.zeros((len(rows), _MEMORY))
        order = [(head[rows] - 1 - m) % _MEMORY for m in range(_MEMORY)]
        ar = np.arange(len(rows))
        for m, slot in enumerate(order):
            r = rho[rows, slot]
            a = r * np.einsum("bp,bp->b", S[rows, slot], q)
            alpha[:, m] = a
            q -= a[:, None] * Y[rows, slot]
        newest = order[0]
        rn = rho[rows, newest]
        yy = np.einsum("bp,bp->b", Y[rows, newest], Y[rows, newest])
        # H0 = (s.y / y.y) I from the newest pair; without one a first step of length <= 1
        gamma = np.where(rn > 0, 1.0 / np.where(rn > 0, rn, 1.0) / np.where(yy > 0, yy, 1.0),
                         1.0 / np.maximum(st.gnorm[rows], 1.0))
        z = gamma[:, None] * q
        for m in reversed(range(_MEMORY)):
            slot = order[m]
            r = rho[rows, slot]
            b = r * np.einsum("bp,bp->b", Y[rows, slot], z)
            z += (alpha[:, m] - b)[:, None] * S[rows, slot]
        direction = -z
        slope = np.einsum("bp,bp->b", direction, st.grad[rows])
        uphill = ~(slope < 0)
        direction[uphill] = -st.grad[rows][uphill]  # reset to steepest descent
        slope[uphill] = -st.gnorm[rows][uphill] ** 2
        rho[rows[uphill]] = 0.0
        # backtracking Armijo line search
        t = np.ones(len(rows))
        pending = ar.copy()
        while len(pending):
            r = rows[pending]
            trial = st.theta[r] + t[pending, None] * direction[pending]
            ev = st.bt.evaluate(trial, 1, on_error="mask")
            ok = np.isfinite(ev.loss) & (ev.loss <= st.loss[r] + _ARMIJO * t[pending] * slope[pending])
            for k in np.flatnonzero(ok):
                j = r[k]
                s, y = trial[k] - st.theta[j], ev.gradient[k] - st.grad[j]
                sy_ = float(s @ y)
                if sy_ > 1e-10 * np.linalg.norm(s) * np.linalg.norm(y):  # curvature: keep the pair
                    S[j, head[j]], Y[j, head[j]], rho[j, head[j]] = s, y, 1.0 / sy_
                    head[j] = (head[j] + 1) % _MEMORY
                st.theta[j], st.loss[j], st.grad[j] = trial[k], ev.loss[k], ev.gradient[k]
                st.gnorm[j] = np.linalg.norm(ev.gradient[k])
            t[pending[~ok]] *= 0.5
            pending = pending[~ok]
            small = t[pending] < 1e-12
            for j in rows[pending[small]]:
                handoff[j] = True  # no decrease along the direction: let Newton decide
            pending = pending[~small]
        st.iterations[rows] += 1


# ---------------------------------------------------------------------------
# plain gradient descent
# ---------------------------------------------------------------------------
def stable_step(problem, Theta0, steps: int = _STABLE_STEPS) -> float:
    r"""The largest step $\eta$ of :data:`STEP_GRID` under which plain gradient descent lowers the loss
    of every row of ``Theta0`` at each of its first ``steps`` steps (all rows run together).

    This is the "best stable fixed step" of a gradient-descent experiment: larger steps make some
    start's loss rise (or overflow); the check costs at most ``steps`` batched gradients per step tried.
    Raises :class:`~symland.errors.ConvergenceError` when no step of the grid is stable."""
    bt = BatchedTeacherStudent(problem)
    T0 = check_batch(Theta0, problem.num_params, "Theta0")
    ev0 = bt.evaluate(T0, 1, on_error="mask")
    rows = np.array([j for j in range(len(T0)) if j not in ev0.errors])
    if not len(rows):
        raise DomainError("argument Theta0: no row can be evaluated")
    for eta in STEP_GRID:
        T, loss, grad = T0[rows].copy(), ev0.loss[rows].copy(), ev0.gradient[rows].copy()
        for _ in range(steps):
            T = T - eta * grad
            ev = bt.evaluate(T, 1, on_error="mask")
            if ev.errors or not np.all(np.isfinite(ev.loss)) or np.any(ev.loss > loss + 1e-12 * np.maximum(1, np.abs(loss))):
                break
            loss, grad = ev.loss, ev.gradient
        else:
            return float(eta)
    raise ConvergenceError(f"no stable gradient-descent step down to {STEP_GRID[-1]:.3g}", [])


def _positive_definite(st, rows):
    """For each of ``rows``: is its Hessian positive definite (Cholesky succeeds)?"""
    ev = st.bt.evaluate(st.theta[rows], 2, on_error="mask")
    out = np.zeros(len(rows), dtype=bool)
    for t in range(len(rows)):
        if t in ev.errors:
            continue
        try:
            np.linalg.cholesky(ev.hessian[t])
            out[t] = True
        except np.linalg.LinAlgError:
            pass
    return out


def _gd(st, max_iter, step, switch):
    r"""Gradient descent with the fixed ``step`` on the active starts until $|\nabla L| \le$ ``switch`` at a
    positive definite Hessian (then they stay active for Newton)."""
    B = len(st.theta)
    handoff = np.zeros(B, dtype=bool)
    next_check = np.zeros(B, dtype=int)
    while True:
        st.tick()
        st.stop_converged()
        cand = np.flatnonzero(st.active & ~handoff & (st.gnorm <= switch) & (st.iterations >= next_check))
        if len(cand):
            pd = _positive_definite(st, cand)
            handoff[cand[pd]] = True
            next_check[cand[~pd]] = st.iterations[cand[~pd]] + _PD_RECHECK
        for j in np.flatnonzero(st.active & ~handoff & (st.iterations >= max_iter)):
            st.stop(j, "maximum iterations reached")
        rows = np.flatnonzero(st.active & ~handoff)
        if not len(rows):
            return
        trial = st.theta[rows] - step * st.grad[rows]
        ev = st.bt.evaluate(trial, 1, on_error="mask")
        bad = ~np.isfinite(ev.loss)
        bad[list(ev.errors)] = True
        for q in np.flatnonzero(bad):
            st.stop(rows[q], f"gradient descent left the domain with step {step:.4g}: "
                             + ev.errors.get(q, "the loss is not finite"))
        good = rows[~bad]
        st.theta[good], st.loss[good], st.grad[good] = trial[~bad], ev.loss[~bad], ev.gradient[~bad]
        st.gnorm[good] = np.linalg.norm(ev.gradient[~bad], axis=1)
        st.iterations[good] += 1


# ---------------------------------------------------------------------------
def solve_batch(problem, Theta0, method: str = "newton", gtol: float = 1e-10, max_iter: int | None = None,
                switch: float | None = None, newton_iter: int = 100, step: float | None = None,
                progress=None) -> BatchSolveResult:
    r"""Run a float64 solver from every row of ``Theta0`` (B, P) at once (module docstring).

    ``method``: ``"newton"`` (damped Newton, also converges to saddles), ``"trust"`` (trust-region
    minimisation, exact Hessian), ``"lbfgs"`` (L-BFGS until $|\nabla L| \le$ ``switch``, default
    $10^{-6}$, then at most ``newton_iter`` Newton iterations) or ``"gd"`` (gradient descent with the
    fixed ``step``, default :func:`stable_step` of ``Theta0``, until $|\nabla L| \le$ ``switch``,
    default $10^{-4}$, at a positive definite Hessian, then Newton).  ``max_iter`` (default per method, :data:`METHODS`)
    bounds each start's iterations.  ``gtol`` is the gradient norm a start must reach to count as
    converged.  Invalid arguments raise :class:`~symland.errors.DomainError` /
    :class:`~symland.errors.ShapeError` naming them (a non-finite start: its row); a start whose
    loss, gradient or Hessian cannot be evaluated is reported as failed with the reason, the other
    starts go on.  ``progress``: a callable given one line (starts converged and running, iterations,
    largest running gradient norm) at most every :data:`PROGRESS_SECONDS` seconds.
    """
    check_problem(problem)
    method = check_choice(method, "method", tuple(METHODS))
    gtol = check_positive(gtol, "gtol")
    switch = (1e-4 if method == "gd" else 1e-6) if switch is None else check_positive(switch, "switch")
    if step is not None:
        step = check_positive(step, "step")
    max_iter = METHODS[method] if max_iter is None else check_count(max_iter, "max_iter", minimum=0,
                                                                     maximum=MAX_ITER)
    newton_iter = check_count(newton_iter, "newton_iter", minimum=0, maximum=MAX_ITER)
    bt = BatchedTeacherStudent(problem)
    Theta0 = check_batch(Theta0, problem.num_params, "Theta0")
    if progress is not None and not callable(progress):
        raise DomainError(f"argument progress must be callable or None, got {type(progress).__name__}")
    st = _State(bt, Theta0, gtol, progress, method)
    if method == "newton":
        _newton(st, max_iter)
    elif method == "trust":
        _trust(st, max_iter)
    elif method == "lbfgs":
        _lbfgs(st, max_iter, max(switch, gtol))
        _newton(st, newton_iter)
    else:
        _gd(st, max_iter, stable_step(problem, Theta0) if step is None else step, max(switch, gtol))
        _newton(st, newton_iter)
    return st.result(method)


def _one_start(problem, theta0, method, **options) -> FlowResult:
    """One start of :func:`solve_batch` as a :class:`~symland.landscape.critical.FlowResult`; a start that
    cannot be evaluated raises its :class:`~symland.errors.DomainError`."""
    theta0 = np.asarray(theta0)
    if theta0.ndim != 1:
        raise ShapeError(f"argument theta0 must be one parameter vector of shape (num_params,), "
                         f"got shape {theta0.shape}")
    res = solve_batch(problem, theta0[None, :], method=method, **options)
    if res.start_errors:
        raise DomainError(f"argument theta0: {res.start_errors[0]}")
    return res.flow_results()[0]


def lbfgs_newton(problem, theta0, gtol: float = 1e-10, max_iter: int | None = None, switch: float = 1e-6,
                 newton_iter: int = 100) -> FlowResult:
    r"""L-BFGS until $|\nabla L| \le$ ``switch``, then damped Newton to ``gtol``, from one start.

    The one-start form of ``solve_batch(problem, theta0[None], method="lbfgs")`` (module docstring),
    with the signature of the single-start solvers of :mod:`symland.landscape.critical`.
    """
    return _one_start(problem, theta0, "lbfgs", gtol=gtol, max_iter=max_iter, switch=switch, newton_iter=newton_iter)


def gradient_descent_newton(problem, theta0, gtol: float = 1e-10, max_iter: int | None = None, switch: float = 1e-4,
                            newton_iter: int = 100, step: float | None = None) -> FlowResult:
    r"""Gradient descent with a fixed step until $|\nabla L| \le$ ``switch`` at a positive definite Hessian,
    then damped Newton to ``gtol``, from one start: ``solve_batch(problem, theta0[None], method="gd")``.
    The default ``step`` is :func:`stable_step` of this start alone (a batch shares one step)."""
    return _one_start(problem, theta0, "gd", gtol=gtol, max_iter=max_iter, switch=switch, newton_iter=newton_iter,
                      step=step)
