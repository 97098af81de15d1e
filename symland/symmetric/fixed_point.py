r"""Critical points in fixed-point subspaces of isotropy groups (relu, $k = n$, orthonormal teacher).

Setting (Safran & Shamir 2018; Arjevani & Field 2021): teacher $V = I_k$ ($d = k$),
$f^*(x) = \sum_r s(x_r)$, student $f(x) = \sum_i s(w_i\cdot x)$ with output weights
fixed to 1, loss $L(W) = \tfrac12 E_{x\sim N(0, I_k)}[(f - f^*)^2]$, parameters
$\theta = \operatorname{vec}(W)$ (row-major, ``TeacherStudent.orthonormal(act, k, k,
train_output=False)``).

**Subspaces** (:mod:`symland.symmetric.subspace`): the fixed-point subspace $\{\theta = Ps\}$ of a
diagonal Young subgroup $\Delta(S_{m_1}\times\dots\times S_{m_r})$ of $S_k\times S_k$ (acting by
$W \mapsto P_\pi W P_\pi^\top$), $P$ a 0/1 matrix with one column per orbit of index pairs.

**Symmetric criticality.** The action is orthogonal and $L$ invariant, so
$\nabla L(gW) = g\nabla L(W)$; at $\theta = Ps$ the gradient is itself fixed by the
group, i.e. lies in $\operatorname{range} P$, and $P^\top\nabla L(Ps) = 0$ (the gradient of
the reduced loss $s\mapsto L(Ps)$) implies $\nabla L(Ps) = 0$.  Critical points of the
reduced problem are critical points of the full landscape; this is checked, not
assumed: every returned point is refined with :func:`symland.landscape.critical.refine` in
the full space and its full gradient norm at ``dps + 15`` digits is reported.

**Search** (:func:`symmetric_critical_points`): multi-start damped Newton on the
reduced gradient $P^\top\nabla L$ with the reduced Hessian $P^\top\nabla^2L\,P$ in
float64, then Newton (chord) iterations in mpmath on the reduced gradient, then
full-space :func:`~symland.landscape.critical.refine`.  Points are merged modulo
$S_k\times S_k$ (:func:`symland.landscape.symmetry.same_point`), also across isotropy types.
No completeness is claimed: a multi-start search finds the critical points
whose Newton basins the starts hit.

**Classification**: the full Hessian at ``hessian_dps`` digits, its inertia and smallest
eigenvalues certified as in :func:`symland.symmetric.inertia.classify_hessian`.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time

import numpy as np

from ..errors import (
    ConvergenceError,
    DomainError,
    NoClosedFormError,
    ShapeError,
)
from ..kernels.registry import activation as _activation
from ..landscape.critical import refine
from ..landscape.newton_step import mp_norm, pseudo_inverse_step
from ..landscape.survey import survey
from ..landscape.symmetry import group_points, same_point
from ..numerics.precision import Precision, check_dps
from ..problems.teacher_student import TeacherStudent
from .inertia import classify_hessian
from .subspace import (
    DEFAULT_ISOTROPIES,
    ISOTROPY_TYPES,
    FixedPointSubspace,
    check_k,
    fixed_point_subspace,
    young_type,
)
from ..numerics.mpcontext import MPReal, thread_mp, to_result

__all__ = [
    "SymmetricCriticalPoint",
    "SymmetricSearch",
    "symmetric_critical_points",
    "reduced_newton",
    "compare_with_survey",
]


# ---------------------------------------------------------------------------
# reduced Newton iterations
# ---------------------------------------------------------------------------
def _reduced(problem, sub, s):
    theta = sub.lift(s)
    g = problem.gradient(theta)
    return theta, sub.P.T @ g


def _reduced_hessian(problem, sub, s):
    r"""$P^\top\nabla^2L(Ps)P$ in float64 by central differences of the reduced gradient.

    Step $h = 10^{-5}\max(1, |s_c|)$ (error $O(h^2)$, about 1e-10 relative).  Used
    instead of the analytic Hessian because near aligned relu pairs the float64
    Hessian is recomputed in mpmath (seconds at k = 20), and the reduced
    Newton iteration only needs a few correct digits of its Jacobian.
    """
    m = sub.dim
    H = np.empty((m, m))
    for c in range(m):
        h = 1e-5 * max(1.0, abs(float(s[c])))
        e = np.zeros(m)
        e[c] = h
        H[:, c] = (_reduced(problem, sub, s + e)[1] - _reduced(problem, sub, s - e)[1]) / (2 * h)
    return (H + H.T) / 2


def reduced_newton(problem, sub, s0, gtol=1e-11, max_iter=100):
    r"""Damped Newton on $g_s = P^\top\nabla L(Ps)$ with $H_s = P^\top\nabla^2L(Ps)P$ (float64, $H_s$ by
    central differences of $g_s$, see :func:`_reduced_hessian`).

    Finds saddles as well as minima of the reduced loss.  Pseudo-inverse step
    (eigenvalues of $H_s$ below $10^{-10}\|H_s\|$ dropped), backtracking on $|g_s|$.
    Returns ``(s, |g_s|, converged)``; raises :class:`~symland.errors.DomainError`
    when an iterate reaches a configuration where the kernel is undefined.
    """
    s = np.array(s0, dtype=float)
    _, g = _reduced(problem, sub, s)
    gn = float(np.linalg.norm(g))
    for _ in range(max_iter):
        if gn <= gtol:
            return s, gn, True
        lam, Q = np.linalg.eigh(_reduced_hessian(problem, sub, s))
        step = pseudo_inverse_step(lam, Q, g, 1e-10)
        t = 1.0
        while t > 1e-6:
            trial = s + t * step
            try:
                _, gt = _reduced(problem, sub, trial)
            except DomainError:
                gt = None
            if gt is not None and np.all(np.isfinite(gt)) and float(np.linalg.norm(gt)) < (1 - 1e-4 * t) * gn:
                break
            t *= 0.5
        else:
            return s, gn, False
        s, g = trial, gt
        gn = float(np.linalg.norm(g))
    return s, gn, gn <= gtol


def _mp_reduced_newton(problem, sub, s, dps, max_iter=16):
    r"""Chord-Newton on the reduced gradient in mpmath at ``dps + 15`` digits.

    The reduced Hessian is the float64 one at the start (relative error ~1e-10),
    so each step shrinks the error by about that factor.  Returns the mpf
    scalars with $|P^\top\nabla L| \le 10^{-(dps+5)}$ or raises ConvergenceError.
    """
    prec = Precision(dps)
    work = prec.work_dps
    lam, Q = np.linalg.eigh(_reduced_hessian(problem, sub, np.array(s, dtype=float)))
    hist = []
    with prec:
        tol = thread_mp.mpf(10) ** (-(dps + 5))
        sm = np.array([thread_mp.mpf(float(v)) for v in s], dtype=object)
        for _ in range(max_iter + 1):
            g = problem.gradient(sub.lift(sm), dps=work)
            gs = np.array([thread_mp.fsum(g[sub.P[:, c] == 1]) for c in range(sub.dim)], dtype=object)
            gn = mp_norm(gs)
            hist.append(thread_mp.nstr(gn, 5))
            if gn <= tol:
                return sm, gn
            if len(hist) > 3 and gn > thread_mp.mpf(hist[-3]):
                break
            gf = np.array([float(v) for v in gs])
            # float step, then one mp residual correction would need mp H; the chord step suffices
            scale = max(float(max(abs(v) for v in gs)), 1e-300)
            step = pseudo_inverse_step(lam, Q, gf / scale, 1e-10)
            sm = sm + np.array([thread_mp.mpf(float(v)) * scale for v in step], dtype=object)
    raise ConvergenceError(f"reduced mpmath Newton in {sub.label} did not reach |P^T grad| <= 1e-{dps + 5}",
                           hist)


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------
@dataclasses.dataclass
class SymmetricCriticalPoint:
    r"""A critical point found in a fixed-point subspace, refined in the full space and classified.

    ``isotropy``: label of the first (largest) searched subspace that found it;
    ``found_in``: every searched subspace label that found it (merged modulo
    $S_k\times S_k$); ``young``: block sizes of the largest diagonal Young subgroup
    fixing the representative ``W``; ``scalars``: ``{name: mpf}`` in ``subspace``;
    ``theta``: full-space parameters (mpf, ``dps`` digits); ``loss``;
    ``gradient_norm``: full-space $|\nabla L|$ at ``theta`` (mpmath, ``dps + 15`` digits);
    ``reduced_gradient_norm``; ``index``, ``nullity``, ``kind``; ``eigenvalues``
    (smallest, see :func:`classify_hessian`); ``index_method``; ``starts``: number
    of starts that converged to it; ``function_class``: points with equal class compute the same
    network function with equal index and nullity (``symland.landscape.symmetry`` ``merge="function"``), e.g.
    two points of one critical manifold of identical neurons.
    """

    k: int
    isotropy: str
    subspace: FixedPointSubspace
    scalars: dict
    theta: np.ndarray
    loss: MPReal
    gradient_norm: MPReal
    reduced_gradient_norm: MPReal
    dps: int
    digits: int
    found_in: list
    young: tuple
    starts: int = 1
    index: int | None = None
    nullity: int | None = None
    kind: str | None = None
    eigenvalues: list | None = None
    index_method: str | None = None
    weyl_bound: float | None = None
    function_class: int | None = None

    @property
    def W(self):
        """Student weights (k, k), mpf entries."""
        return self.theta.reshape(self.k, self.k)

    def smallest_eigenvalue(self):
        return None if not self.eigenvalues else self.eigenvalues[0]["value"]

    def to_dict(self) -> dict:
        """JSON-ready: every number a decimal string with all digits computed."""
        def s(x, d=None):
            return thread_mp.nstr(x, d or self.dps, strip_zeros=False)

        return {
            "k": self.k,
            "isotropy": self.isotropy,
            "found_in": list(self.found_in),
            "young_type": list(self.young),
            "subspace": self.subspace.label,
            "scalars": {n: s(v) for n, v in self.scalars.items()},
            "loss": s(self.loss),
            "gradient_norm": thread_mp.nstr(self.gradient_norm, 5),
            "reduced_gradient_norm": thread_mp.nstr(self.reduced_gradient_norm, 5),
            "dps": self.dps,
            "digits": self.digits,
            "index": self.index,
            "nullity": self.nullity,
            "kind": self.kind,
            "index_method": self.index_method,
            "smallest_eigenvalues": None if self.eigenvalues is None else [
                {"value": s(e["value"], 30), "multiplicity": e["multiplicity"],
                 "bound": thread_mp.nstr(e["bound"], 3), "estimate": thread_mp.nstr(e["estimate"], 3)}
                for e in self.eigenvalues],
            "starts": self.starts,
            "function_class": self.function_class,
            "W": [[s(v) for v in row] for row in self.W],
        }


@dataclasses.dataclass
class SymmetricSearch:
    """Result of :func:`symmetric_critical_points`: distinct points sorted by loss, and bookkeeping."""

    problem: TeacherStudent
    k: int
    activation: str
    dps: int
    subspaces: list
    points: list
    starts: dict  # label -> number of starts
    converged: dict  # label -> starts whose reduced Newton converged and refined
    failures: dict  # label -> list of reasons
    seconds: float

    def by_isotropy(self, label):
        return [p for p in self.points if p.isotropy == label]

    def table(self, digits=25) -> str:
        lines = [f"{self.activation} teacher-student, k = n = {self.k}, V = I, output weights 1; "
                 f"loss = 1/2 E[(f - f*)^2]",
                 f"{'isotropy':<16} {'loss':<{digits + 8}} {'index':>5} {'null':>4}  {'lambda_min':<14} "
                 f"{'kind':<18} {'fn':>3}  {'found in'}"]
        for p in self.points:
            lm = thread_mp.nstr(p.smallest_eigenvalue(), 8) if p.eigenvalues else "-"
            lines.append(f"{p.isotropy:<16} {thread_mp.nstr(p.loss, digits):<{digits + 8}} {p.index!s:>5} "
                         f"{p.nullity!s:>4}  {lm:<14} {p.kind!s:<18} {p.function_class!s:>3}  {', '.join(p.found_in)}")
        lines.append("(fn: rows with equal fn compute the same network function with equal index and nullity, "
                     "e.g. points of one manifold of identical neurons; lambda_min: smallest Hessian eigenvalue)")
        return "\n".join(lines)

    def to_dict(self):
        return {"k": self.k, "activation": self.activation, "dps": self.dps,
                "convention": "loss = 1/2 E[(f - f*)^2], x ~ N(0, I_k), V = I_k, output weights 1",
                "subspaces": [{"label": s.label, "blocks": list(s.blocks), "dim": s.dim,
                               "scalars": list(s.names), "description": s.description()} for s in self.subspaces],
                "starts": self.starts, "converged": self.converged,
                "failures": {k: len(v) for k, v in self.failures.items()},
                "seconds": round(self.seconds, 3),
                "points": [p.to_dict() for p in self.points]}


def _kind(loss, index, nullity, dps):
    if index is None:
        return None
    if nullity:
        return "degenerate" if index == 0 else "saddle"
    if index > 0:
        return "saddle"
    return "global minimum" if abs(loss) < thread_mp.mpf(10) ** (-(dps - 5)) else "spurious minimum"


def _problem(act, k):
    act = _activation(act)
    if not act.has_closed_form:
        raise NoClosedFormError(f"activation {act.name!r} has no closed-form kernel; symmetric_critical_points "
                                "refines to 50 digits in k^2 parameters and needs a closed-form kernel "
                                "(e.g. relu, erf)")
    return TeacherStudent.orthonormal(act, k, k, train_output=False)


def _default_starts(sub, starts, rng):
    """Random reduced starts: scalars ~ N(0, 1) / sqrt(k) off the diagonal blocks, N(0, 1) on ``d``."""
    out = []
    for _ in range(starts):
        s = np.empty(sub.dim)
        for c, name in enumerate(sub.names):
            s[c] = rng.normal() if name[0] == "d" else rng.normal() / math.sqrt(sub.k)
        out.append(s)
    return out


def _embed_start(sub, W):
    """Project a (k, k) matrix of a previous k onto the subspace coordinates (continuation starts)."""
    W = np.asarray(W, dtype=float)
    if W.shape == (sub.k, sub.k):
        return sub.project(W.ravel())
    return None


def symmetric_critical_points(activation="relu", k=6, isotropy=None, dps=50, starts=40, seed=0,
                              extra_starts=None, classify=True, n_eig=4, hessian_dps=30,
                              classify_method="auto", progress=None, problem=None) -> SymmetricSearch:
    r"""Critical points of the $k = n$ orthonormal-teacher problem with diagonal Young isotropy.

    ``isotropy``: one isotropy (a name of :data:`ISOTROPY_TYPES`, a string like ``"4,1,1"`` or a
    tuple of block sizes, see :func:`parse_isotropy`) or a list of them; subspaces with the
    same multiset of block sizes are searched once.
    For each isotropy (default :data:`DEFAULT_ISOTROPIES`, largest group first):
    ``starts`` random reduced starts (``numpy.random.SeedSequence([seed, *blocks])``, one stream per
    subspace, so a subspace's starts do not depend on the others requested; scalars $d_p \sim N(0,1)$,
    others $N(0, 1/k)$) plus ``extra_starts`` (dict label -> list of scalar
    vectors, or a list of scalar vectors / (k, k) matrices projected on each
    subspace) run through :func:`reduced_newton` (float64); converged ones are
    polished by mpmath Newton on the reduced gradient, lifted, refined in the
    full space by :func:`symland.landscape.critical.refine` to ``dps`` digits, and merged
    modulo $S_k\times S_k$.  With ``classify`` the full Hessian at
    ``hessian_dps`` digits gives index, nullity and the ``n_eig`` smallest
    eigenvalue clusters (:func:`classify_hessian`).  Progress on stderr
    (default: when stderr is a terminal).
    """
    t0 = time.perf_counter()
    k = check_k(k)
    dps = check_dps(dps)
    hessian_dps = check_dps(hessian_dps)
    if isinstance(starts, bool) or not isinstance(starts, (int, np.integer)) or starts < 0:
        raise ShapeError(f"starts must be a non-negative integer, got {starts!r}")
    prob = problem if problem is not None else _problem(activation, k)
    act_name = prob.activation.name
    if isotropy is None:
        isotropies = [iso for iso in DEFAULT_ISOTROPIES if min(ISOTROPY_TYPES[iso](k)) >= 1]
    elif isinstance(isotropy, (str, tuple)) and not (isinstance(isotropy, tuple) and isotropy and
                                                      not isinstance(isotropy[0], (int, np.integer))):
        isotropies = [isotropy]
    else:
        isotropies = list(isotropy)
    subs, seen = [], set()
    for iso in isotropies:
        sub = fixed_point_subspace(k, iso)
        key = tuple(sorted(sub.blocks))
        if key not in seen:  # e.g. S_{k-1}xS_1 and S_{k-2}xS_2 coincide at k = 3
            seen.add(key)
            subs.append(sub)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    points: list[SymmetricCriticalPoint] = []
    n_starts, n_conv, failures = {}, {}, {}
    for sub in subs:
        # each subspace draws from its own stream, SeedSequence([seed, *blocks]): its starts do not
        # depend on which other subspaces are requested, nor on their order
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), *sorted(int(b) for b in sub.blocks)]))
        cand = _default_starts(sub, starts, rng)
        extra = extra_starts.get(sub.label, []) if isinstance(extra_starts, dict) else (extra_starts or [])
        for e in extra:
            e = np.asarray(e, dtype=float)
            if e.shape == (sub.dim,):
                cand.append(e)
            else:
                pe = _embed_start(sub, e)
                if pe is not None:
                    cand.append(pe)
        n_starts[sub.label] = len(cand)
        n_conv[sub.label] = 0
        failures[sub.label] = []
        found_here = []  # (s float, point) for quick duplicate detection within the subspace
        for j, s0 in enumerate(cand):
            try:
                s, gn, ok = reduced_newton(prob, sub, s0)
            except (DomainError, np.linalg.LinAlgError, ZeroDivisionError) as exc:
                failures[sub.label].append(f"start {j}: {type(exc).__name__}: {exc}")
                continue
            if not ok:
                failures[sub.label].append(f"start {j}: float Newton stopped at |P^T grad| = {gn:.3g}")
                continue
            dup = next((p for sf, p in found_here if np.max(np.abs(sf - s)) < 1e-7 * max(1, np.max(np.abs(s)))),
                       None)
            if dup is not None:
                dup.starts += 1
                n_conv[sub.label] += 1
                continue
            try:
                point = _polish(prob, sub, s, dps)
            except (ConvergenceError, DomainError, np.linalg.LinAlgError, ZeroDivisionError) as exc:
                failures[sub.label].append(f"start {j}: {type(exc).__name__}: {exc}")
                continue
            n_conv[sub.label] += 1
            match = None
            for q in points:
                if abs(q.loss - point.loss) <= thread_mp.mpf(10) ** (-(dps // 2)) * max(1, abs(q.loss)) and \
                        same_point(prob, q.theta, point.theta, tol=10.0 ** (-(dps // 3))):
                    match = q
                    break
            if match is not None:
                match.starts += 1
                if sub.label not in match.found_in:
                    match.found_in.append(sub.label)
                found_here.append((s, match))
                continue
            points.append(point)
            found_here.append((s, point))
            if show:
                print(f"symmetric k={k} {sub.label}: start {j + 1}/{len(cand)}: new point, loss "
                      f"{thread_mp.nstr(point.loss, 12)} ({len(points)} distinct)", file=sys.stderr, flush=True)
        if show:
            print(f"symmetric k={k} {sub.label}: {n_conv[sub.label]}/{len(cand)} starts converged, "
                  f"{len(failures[sub.label])} failed", file=sys.stderr, flush=True)
    if classify:
        for i, p in enumerate(points):
            if show:
                print(f"symmetric k={k}: classifying point {i + 1}/{len(points)} (Hessian {k * k}x{k * k} at "
                      f"{hessian_dps} digits)", file=sys.stderr, flush=True)
            _classify_point(prob, p, n_eig, hessian_dps, classify_method)
    points.sort(key=lambda p: p.loss)
    if classify and points:
        # points on one critical manifold (e.g. identical neurons sharing their weight in different ratios)
        # compute the same function without being related by S_k x S_k: label them with one class
        for cls, members in enumerate(group_points(prob, points, merge="function"), start=1):
            for i in members:
                points[i].function_class = cls
    search = SymmetricSearch(problem=prob, k=k, activation=act_name, dps=dps, subspaces=subs, points=points,
                             starts=n_starts, converged=n_conv, failures=failures, seconds=time.perf_counter() - t0)
    return to_result(search, dps)


def _polish(prob, sub, s, dps):
    """mpmath reduced Newton, lift, full-space refine and full-gradient check."""
    sm, rg = _mp_reduced_newton(prob, sub, s, dps)
    theta = sub.lift(sm)
    cp = refine(prob, theta, dps=dps, classify_point=False)
    prec = Precision(dps)
    with prec:
        gn = mp_norm(prob.gradient(cp.theta, dps=prec.work_dps))
    if gn > thread_mp.mpf(10) ** (5 - dps):
        raise ConvergenceError(f"full-space gradient {thread_mp.nstr(gn, 3)} at the lifted point of {sub.label} is "
                               f"above 1e-{dps - 5}", cp.history)
    with prec:
        scalars = {n: prec.finalize(v) for n, v in zip(sub.names, sub.project(cp.theta))}
    with thread_mp.workdps(dps):
        young = young_type(cp.theta.reshape(sub.k, sub.k), tol=10.0 ** (-(dps // 2)))
    return SymmetricCriticalPoint(
        k=sub.k, isotropy=sub.label, subspace=sub, scalars=scalars, theta=cp.theta, loss=cp.loss,
        gradient_norm=prec.finalize(gn), reduced_gradient_norm=prec.finalize(rg), dps=dps, digits=cp.digits,
        found_in=[sub.label], young=young)


def _classify_point(prob, p, n_eig, hessian_dps, method):
    H = prob.hessian(p.theta, dps=hessian_dps)
    res = classify_hessian(H, n_eig=n_eig, hessian_dps=hessian_dps, method=method)
    p.index, p.nullity = res["index"], res["nullity"]
    p.eigenvalues = res["eigenvalues"]
    p.index_method = res["method"]
    p.weyl_bound = res["weyl_bound"]
    p.kind = _kind(p.loss, p.index, p.nullity, p.dps)
    return res


# ---------------------------------------------------------------------------
# comparison with a multi-start survey
# ---------------------------------------------------------------------------
def compare_with_survey(search: SymmetricSearch, starts=20, seed=0, dps=30, workers=1, progress=None):
    r"""Random starts (:func:`symland.landscape.survey.survey`, fixed outputs) matched to the symmetric points.

    Returns ``{"matched": [(symmetric point, survey count)], "unmatched": [(CriticalPoint, count)],
    "failures": int, "starts": int, "survey": SurveyResult}``; a survey point matches a
    symmetric point when :func:`symland.landscape.symmetry.same_point` holds (modulo $S_k\times S_k$).
    """
    # the landscape survey (no channel detection): output weights are fixed here, so no end point
    # could be classified as a channel anyway
    prob = search.problem
    res = survey(prob, starts=starts, seed=seed, dps=dps, workers=workers, progress=progress)
    counts = {id(p): 0 for p in search.points}
    unmatched = []
    for cp, count in res.points:
        hit = None
        for p in search.points:
            if abs(float(p.loss - cp.loss)) <= 1e-10 * max(1.0, abs(float(p.loss))) and \
                    same_point(prob, cp.theta, p.theta, tol=10.0 ** (-min(12, cp.digits // 2))):
                hit = p
                break
        if hit is None:
            unmatched.append((cp, count))
        else:
            counts[id(hit)] += count
    return {"matched": [(p, counts[id(p)]) for p in search.points], "unmatched": unmatched,
            "failures": len(res.failures), "starts": res.starts, "survey": res}
