r"""Saddles as well as minima: a survey by deflated Newton's method.

Newton's method converges to critical points of every index, but from random starts it keeps
returning to the same few (and, with trained output weights, to the families where a neuron is
switched off, $a_i = 0$, whose $w_i$ is then nearly free).  Deflation (Farrell, Birkisson and Funke)
removes the roots already found: Newton's method is applied to $G(\theta) = M(\theta)\nabla L(\theta)$ with

.. math::  M(\theta) = \prod_{O \in X}\bigl(\operatorname{dist}(\theta, O)^{-p} + \sigma\bigr)\;
           \prod_{i}\bigl(|a_i|^{-p} + \sigma\bigr),

$X$ the orbits of the points found so far under the symmetry group (the distance to an orbit is the
distance to its nearest image, so that a large orbit weighs as much as one point) (:func:`orbit_images`: student
permutations, sign flips of odd units with trained outputs, teacher permutations of a
permutation-symmetric teacher), the second product (trained outputs only) deflating every point
with a switched-off neuron.  $G$ has the same roots as $\nabla L$ away from $X$ and none at $X$.
Its Newton step is the Newton step $\delta = -H^{+}\nabla L$ of the loss scaled by
$\tau = 1/(1 - \nabla\log M\cdot\delta)$ (Sherman-Morrison: $J_G = MH + \nabla L\,\nabla M^\top$),
so each iteration costs one gradient and Hessian of $L$.  Starts run one after another (each
deflates what the earlier ones found); every converged point is refined at ``dps`` digits
(:func:`~symland.landscape.critical.refine`), classified, and its orbit joins $X$.

:func:`deflated_survey` returns a :class:`~symland.landscape.survey.SurveyResult` (solver
``"deflated"``), so tables, JSON and the catalog treat it like any survey.
"""

from __future__ import annotations

import itertools
import math
import sys
import time

import numpy as np

from ..errors import DomainError
from ..numerics.arguments import check_count, check_positive
from ..problems.teacher_student import TeacherStudent
from . import critical
from .isotropy import symmetric_teacher_scale
from .batch_solve import solve_batch
from .survey import StartOutcome, _assemble, orbit_groups, random_starts

__all__ = ["orbit_images", "deflated_newton", "deflated_survey", "MAX_IMAGES", "YOUNG_TYPES"]

#: largest number of symmetry images of one point kept for deflation (beyond it: student
#: permutations and sign flips only; teacher-permuted copies are then found again and merged)
MAX_IMAGES = 200_000


def _sign_flips_allowed(problem) -> bool:
    return problem.train_output and problem.activation.name in ("erf", "erf_plain", "tanh", "sin", "linear")


def orbit_images(problem, theta, max_images: int = MAX_IMAGES) -> np.ndarray:
    """The distinct images of ``theta`` (float64) under the symmetry group, shape ``(m, P)``: plain
    teacher-student problems (permutations of the student neurons; sign flips $(w_i, a_i) \\to
    (-w_i, -a_i)$ for odd activations with trained outputs; permutations of a teacher with
    $VV^\\top = cI$ and equal outputs, acting on input space); ``theta`` alone otherwise."""
    th = np.array([float(v) for v in theta])
    if not isinstance(problem, TeacherStudent) or not problem.is_plain:
        return th[None, :]
    P = problem.unpack(th)
    W, a = np.asarray(P.W, float), np.asarray(P.a, float)
    n, k = W.shape[0], problem.k
    V = problem.teacher_weights
    c = symmetric_teacher_scale(problem)
    symmetric = c is not None
    teacher_perms = [None]
    n_student = math.factorial(n) * (2 ** n if _sign_flips_allowed(problem) else 1)
    if symmetric and n_student * math.factorial(k) <= max_images:
        teacher_perms = list(itertools.permutations(range(k)))
    rows = []
    M = W @ V.T / c if symmetric else None
    for tau in teacher_perms:
        Wt = W if tau is None else W - M @ V + M[:, list(tau)] @ V
        rows.append(np.concatenate([Wt, a[:, None]], axis=1))
    images = []
    signs = list(itertools.product((1.0, -1.0), repeat=n)) if _sign_flips_allowed(problem) else [(1.0,) * n]
    for R in rows:
        for perm in itertools.permutations(range(n)):
            Rp = R[list(perm)]
            for s in signs:
                Rs = Rp * np.asarray(s)[:, None]
                images.append(problem.pack(Rs[:, :-1], Rs[:, -1] if problem.train_output else None))
                if len(images) > max_images:
                    break
    out = np.unique(np.round(np.array(images), 12), axis=0)
    return out


#: Young types whose fixed-point subspaces seed symmetrised starts (block sizes as functions of k)
YOUNG_TYPES = (lambda k: (k,), lambda k: (k - 1, 1), lambda k: (k - 2, 2), lambda k: (k - 2, 1, 1))


def _young_start(problem, blocks, rng):
    r"""A random point fixed by $\Delta S_\lambda$ (``blocks`` of consecutive teacher indices) for a plain
    problem with $n = k = d$, $V = \sqrt c\,Q$ orthogonal and equal outputs, drawn as ``symland
    symmetric`` draws its reduced starts: in teacher coordinates $m = WV^\top/c$ the diagonal of
    diagonal block $p$ is $d_p \sim N(0, 1)$, its other entries $o_p \sim N(0, 1/k)$, block
    $(p, q \ne p)$ is constant $c_{pq} \sim N(0, 1/k)$; trained outputs $a \sim N(0, 1)$ per block."""
    k = problem.k
    edges = np.cumsum((0,) + tuple(blocks))
    m = np.empty((k, k))
    sd = 1.0 / math.sqrt(k)
    for p in range(len(blocks)):
        for q in range(len(blocks)):
            sub = m[edges[p]:edges[p + 1], edges[q]:edges[q + 1]]
            sub[...] = rng.normal(0.0, sd)
            if p == q:
                np.fill_diagonal(sub, rng.normal())
    a = (np.repeat(rng.normal(size=len(blocks)), blocks) if problem.train_output else None)
    return problem.pack(m @ problem.teacher_weights, a)


def _symmetric_newton(problem, per_type, seed, gtol):
    """Batched Newton from ``per_type`` starts in the fixed-point subspace of every Young type of
    :data:`YOUNG_TYPES` (:func:`_young_start`, stream ``SeedSequence([seed, *blocks])`` per type):
    the pairs ``(blocks, FlowResult)`` of the converged end points, one per orbit (the end point of
    smallest gradient norm).  Empty unless the teacher is permutation symmetric with n = k = d >= 3."""
    if not per_type or not _symmetric_square(problem) or problem.k < 3:
        return []
    out = []
    for blocks in [t(problem.k) for t in YOUNG_TYPES if min(t(problem.k)) >= 1]:
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), *blocks]))
        starts = np.array([_young_start(problem, blocks, rng) for _ in range(per_type)])
        floats = solve_batch(problem, starts, method="newton", gtol=gtol).flow_results()
        conv = [j for j, r in enumerate(floats) if r.converged]
        out.extend((blocks, floats[rep]) for rep, _ in orbit_groups(problem, floats, conv))
    return out


def _symmetric_square(problem) -> bool:
    """Plain, n = k = d, teacher with orthogonal rows of one norm and equal outputs."""
    if not isinstance(problem, TeacherStudent) or not problem.is_plain or not problem.n == problem.k == problem.d:
        return False
    return symmetric_teacher_scale(problem) is not None


def _stack_orbits(orbits, size):
    """``(images, offsets)``: the orbits (a list of ``(m_j, P)`` arrays, or one array whose rows are
    separate points) stacked, with the first row of each orbit (``reduceat`` offsets)."""
    if isinstance(orbits, np.ndarray):
        orbits = [row[None, :] for row in orbits.reshape(-1, size)]
    orbits = [np.asarray(o, dtype=float).reshape(-1, size) for o in orbits if len(o)]
    if not orbits:
        return np.zeros((0, size)), np.zeros(0, dtype=int)
    offsets = np.cumsum([0] + [len(o) for o in orbits[:-1]])
    return np.concatenate(orbits), offsets


def _log_deflation_gradient(theta, images, offsets, power, shift, a_slice):
    """$\\nabla\\log M(\\theta)$ and the distance to the nearest deflated point: one factor per orbit, at
    the distance to its nearest image (the distance to the orbit)."""
    grad = np.zeros_like(theta)
    nearest = math.inf
    if len(images):
        diff = theta[None, :] - images
        r2 = np.einsum("ij,ij->i", diff, diff)
        ends = np.append(offsets[1:], len(images))
        for start, end in zip(offsets, ends):
            j = start + int(np.argmin(r2[start:end]))
            d2 = max(float(r2[j]), 1e-300)
            rp = d2 ** (-power / 2)
            grad += -power * rp / d2 / (rp + shift) * diff[j]
        nearest = float(np.sqrt(r2.min()))
    if a_slice is not None:
        a = theta[a_slice]
        ap = np.maximum(np.abs(a), 1e-300) ** (-power)
        grad[a_slice] += -power * ap / np.where(a == 0, 1e-300, a) / (ap + shift)
    return grad, nearest


def deflated_newton(problem, theta0, images=(), power: float = 2.0, shift: float = 1.0, gtol: float = 1e-10,
                    max_iter: int = 500, deflate_dead: bool = True, max_step: float = 0.5,
                    escape: float = 20.0) -> critical.FlowResult:
    """Newton's method on the deflated gradient (module docstring) from ``theta0`` (float64).

    ``images``: the points deflated: a list of orbits (``(m_j, P)`` arrays, one factor each at the
    distance to the orbit's nearest image), or an array whose rows are single points.  The step is the deflated Newton step, shortened to at
    most ``max_step`` in length (no line search: a merit function on $M|\\nabla L|$ stalls at its own
    minima, which are not critical points); a run that leaves the ball $|\\theta| \\le$ ``escape`` $(1 + |\\theta_0|)$ stops as running off to
    infinity (erf units saturate there, where the gradient vanishes without a critical point).
    Converged when $|\\nabla L|_\\infty \\le$ ``gtol`` at a point farther than $10^{-6}$ from every
    deflated point."""
    th = np.array(theta0, dtype=float)
    images, offsets = _stack_orbits(images, th.size)
    a_slice = None
    if deflate_dead and isinstance(problem, TeacherStudent) and problem.train_output:
        start = problem.n * problem.d
        a_slice = slice(start, start + problem.n)
    gnorm, it = math.inf, 0
    bound = escape * (1.0 + float(np.linalg.norm(th)))
    for it in range(1, max_iter + 1):
        g = problem.gradient(th)
        gnorm = float(np.abs(g).max())
        dlogM, nearest = _log_deflation_gradient(th, images, offsets, power, shift, a_slice)
        if gnorm <= gtol:
            ok = nearest > 1e-6
            return critical.FlowResult(th, float(problem.loss(th)), gnorm, ok, it,
                                       "converged" if ok else "converged onto a deflated point")
        H = problem.hessian(th)
        delta = -np.linalg.lstsq(H, g, rcond=1e-12)[0]
        denom = 1.0 - float(dlogM @ delta)
        step = delta / denom if abs(denom) > 1e-12 else delta
        size = float(np.linalg.norm(step))
        if not math.isfinite(size):
            break
        if size > max_step:
            step *= max_step / size
        th = th + step
        if float(np.linalg.norm(th)) > bound:
            return critical.FlowResult(th, float(problem.loss(th)), gnorm, False, it,
                                       f"left the ball |theta| <= {bound:.3g} (running off to infinity)")
    return critical.FlowResult(th, float(problem.loss(th)), gnorm, False, it, "no convergence within max_iter")


def deflated_survey(problem, starts: int = 20, seed: int = 0, dps: int = 30, gtol: float = 1e-10,
                    power: float = 2.0, shift: float = 1.0, deflate_dead: bool = True, max_iter: int = 500,
                    follow_modes: int = 4, follow_step: float = 0.3, max_points: int = 40, merge: str = "function",
                    symmetric_starts: int = 150, progress: bool = False):
    """A survey for critical points of every index (module docstring).

    1. From each of ``starts`` random starts (the documented
       :func:`~symland.landscape.survey.random_starts`): L-BFGS (:func:`~symland.landscape.critical.minimize`,
       for the minima) and deflated Newton (:func:`deflated_newton`, any index), one after another;
    2. for a permutation-symmetric teacher with $n = k = d$: ``symmetric_starts`` (default 150) random
       points fixed by $\\Delta S_\\lambda$ for each Young type $S_k$, $S_{k-1}\\times S_1$,
       $S_{k-2}\\times S_2$, $S_{k-2}\\times S_1\\times S_1$ (:func:`_young_start`, drawn as
       ``symland symmetric`` draws its starts), run together by batched Newton
       (:func:`~symland.landscape.batch_solve.solve_batch`) in the full space, where the iterates stay
       in the subspace by equivariance up to rounding; each orbit of converged end points is refined
       once (0: no symmetrised starts);
    3. min-mode following: from every point found (at most ``max_points``), deflated Newton from
       $\\theta \\pm h v_m$ along the ``follow_modes`` + index lowest Hessian eigenvectors $v_m$,
       $h$ = ``follow_step`` times the root-mean-square size of $\\theta$ (at least ``follow_step``);
       index-1 saddles sit next to minima along their softest modes, higher saddles next to lower ones.

    Every point found is refined at ``dps`` digits, classified and deflated with its orbit; points with
    unexplained Hessian zero modes lie on critical manifolds, which point deflation cannot remove, so
    they are not followed, and ``merge="function"`` (default; see
    :func:`~symland.landscape.symmetry.deduplicate`) lists each manifold once.  Returns a
    :class:`~symland.landscape.survey.SurveyResult` (solver ``"deflated"``; one outcome per run, so
    ``starts`` counts runs, and a run that ends at a point already found is listed as a failure with
    that reason).  ``progress``: one line per run on stderr."""
    critical.check_problem(problem)
    check_count(max_iter, "max_iter", minimum=1, maximum=100000)
    power, shift = check_positive(power, "power"), check_positive(shift, "shift")
    if power < 1:
        raise DomainError(f"argument power must be >= 1 (a deflation of a simple root needs it), got {power}")
    symmetric_starts = check_count(symmetric_starts, "symmetric_starts", minimum=0, maximum=100000)
    thetas = random_starts(problem, starts, seed)
    t0 = time.perf_counter()
    state = {"orbits": [], "outcomes": [], "queue": []}

    def attempt(th0, how, solver, must_be_new=True):
        t1 = time.perf_counter()
        try:
            res = solver(th0)
        except Exception as exc:  # noqa: BLE001 -- one bad start never ends a survey
            state["outcomes"].append(StartOutcome(None, "solver", f"{how}: {type(exc).__name__}: {exc}", None, None,
                                                  None, time.perf_counter() - t1))
            return
        info = (bool(res.converged), float(res.gradient_norm), int(res.iterations))
        images, _ = _stack_orbits(state["orbits"], problem.num_params)
        near = (len(images) and float(np.sqrt(np.min(np.einsum("ij,ij->i", res.theta - images, res.theta - images))))
                <= 1e-6 * max(1.0, float(np.linalg.norm(res.theta))))
        if not res.converged or (near and must_be_new):
            why = res.message if not res.converged else "ended at a point already found"
            state["outcomes"].append(StartOutcome(None, "solver", f"{how}: {why} (|grad| = {res.gradient_norm:.3g})",
                                                  *info, time.perf_counter() - t1))
            return
        try:
            cp = critical.refine(problem, res.theta, dps)
        except Exception as exc:  # noqa: BLE001
            state["outcomes"].append(StartOutcome(None, "refine", f"{how}: {type(exc).__name__}: {exc}", *info,
                                                  time.perf_counter() - t1))
            return
        state["outcomes"].append(StartOutcome(cp, "done", None, *info, time.perf_counter() - t1))
        if not near:
            state["orbits"].append(orbit_images(problem, cp.theta))
            if cp.nullity is not None and cp.nullity <= (cp.predicted_nullity or 0):
                state["queue"].append(cp)  # points of critical manifolds are not followed: deflation cannot remove them

    def newton_from(th0):
        return deflated_newton(problem, th0, state["orbits"], power, shift, gtol, max_iter, deflate_dead)

    def report(what):
        if progress:
            o = state["outcomes"][-1]
            found = (f"{o.point.kind} index {o.point.index}, loss {float(o.point.loss):.12g}" if o.point is not None
                     else f"nothing new ({o.reason})")
            print(f"[deflated survey] {what}: {found}; {sum(len(o) for o in state['orbits'])} points deflated",
                  file=sys.stderr, flush=True)

    for j, th0 in enumerate(thetas):
        attempt(th0, f"start {j} (minimize)", lambda x: critical.minimize(problem, x, gtol=gtol), must_be_new=False)
        report(f"start {j + 1}/{len(thetas)} minimize")
        attempt(th0, f"start {j} (deflated Newton)", newton_from)
        report(f"start {j + 1}/{len(thetas)} deflated Newton")
    for blocks, res in _symmetric_newton(problem, symmetric_starts, seed, gtol):
        attempt(res.theta, f"symmetrised start over {blocks}", lambda _: res)
        report(f"Newton in the points fixed by {blocks}")
    followed = 0
    while state["queue"] and followed < max_points:
        cp = state["queue"].pop(0)
        followed += 1
        th = np.array([float(v) for v in cp.theta])
        lam, vecs = np.linalg.eigh(np.asarray(problem.hessian(th), dtype=float))
        h = follow_step * max(1.0, float(np.linalg.norm(th)) / math.sqrt(len(th)))
        for m in range(min(follow_modes + (cp.index or 0), len(lam))):
            for sign in (1.0, -1.0):
                attempt(th + sign * h * vecs[:, m], f"mode {m} of the point at loss {float(cp.loss):.10g}", newton_from)
                report(f"following mode {m} ({'+' if sign > 0 else '-'}) from loss {float(cp.loss):.10g}")
    return _assemble(problem, state["outcomes"], seed, dps, "deflated", gtol, None, merge, time.perf_counter() - t0)
