r"""One student neuron (n = 1) on an orthonormal unit-output teacher: closed-form critical points.

Setting: teacher $f^* = \sum_{r=1}^k s(v_r\cdot x)$ with orthonormal $v_r$, student
$f = a\,s(w\cdot x)$ (trained $a$), $L = \tfrac12 E[(f - f^*)^2]$, $x\sim N(0, I_k)$
(``"erf"`` is erf(z/sqrt 2)).

**Symmetric subspace.**  $w = g\sum_r v_r$ (the fixed points of the permutations of the teacher
neurons).  There $G_{ww} = g^2 k$, $G_{wv_r} = g$ and

.. math:: L(g, a) = \tfrac12 a^2\varphi(g^2k) - a\,k\,\kappa(g^2k, 1, g) + \text{const}.

$\partial L/\partial a = 0$ is linear: $a(g) = k\,\kappa(g^2k, 1, g)/\varphi(g^2k)$.  By symmetric
criticality, a stationary point of $L(g, a)$ is critical in the full space (checked here
anyway with the exact full-space gradient of :class:`~symland.symmetric.ansatz.GroupAnsatz`).

**Solving.**  For an activation positively homogeneous of degree $p$ (relu, step, sign, abs,
leaky relu, powers of relu, linear, quadratic), $(g, a)\mapsto(tg, t^{-p}a)$ leaves the function
unchanged, so $g = \pm1/\sqrt k$ (unit norm) and $a$ follows exactly from the linear equation
(a one-parameter family of critical points).  Otherwise the stationary points of
$F(g) = L(g, a(g))$ are located on $g \in \pm[10^{-3}, 10^2]$ at ``dps + 2 * GUARD_DIGITS`` digits, recognised
as exact numbers (rational $g^2$; then $a = a(g)$ exactly) and accepted as closed forms only if the exact
full-space gradient is *proven* zero there; otherwise they are reported at ``dps`` digits with
no closed form.  Activations evaluated by quadrature (tanh, sigmoid, softplus) have no
closed-form kernel and are refused (:class:`~symland.errors.NoClosedFormError`).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import sympy

from ..errors import NoClosedFormError, ShapeError, SymlandError
from ..kernels.registry import activation
from ..landscape.critical import refine
from ..landscape.survey import survey
from ..numerics.compile import lambdify_mpmath
from ..numerics.mpcontext import MPReal, thread_mp, to_result
from ..numerics.precision import GUARD_DIGITS, check_dps
from ..problems.teacher_student import TeacherStudent
from .ansatz import GroupAnsatz, mp_value, recognise_rational

__all__ = ["one_neuron", "OneNeuronPoint", "OneNeuronResult", "symmetric_survey", "SymmetricSurvey",
           "refine_agreement"]


@dataclasses.dataclass
class OneNeuronPoint:
    r"""A non-trivial critical point $w = g\sum_r v_r$, output $a$ (mpmath; exact SymPy when found).

    ``critical`` is ``"exact"`` (full-space gradient proven zero) or ``"<dps> digits"``;
    ``family`` describes the symmetry orbit the point belongs to (rescaling for homogeneous
    activations, sign flip for odd ones).
    """

    g: MPReal
    a: MPReal
    g_exact: sympy.Expr | None
    a_exact: sympy.Expr | None
    loss: MPReal
    loss_exact: sympy.Expr | None
    critical: str
    family: str

    def to_dict(self, dps):
        s = lambda x: thread_mp.nstr(x, dps, strip_zeros=False)  # noqa: E731
        return {"g": s(self.g), "a": s(self.a),
                "g_exact": None if self.g_exact is None else str(self.g_exact),
                "a_exact": None if self.a_exact is None else str(self.a_exact),
                "g_latex": None if self.g_exact is None else sympy.latex(self.g_exact),
                "a_latex": None if self.a_exact is None else sympy.latex(self.a_exact),
                "loss": s(self.loss), "loss_exact": None if self.loss_exact is None else str(self.loss_exact),
                "critical": self.critical, "family": self.family}


@dataclasses.dataclass
class OneNeuronResult:
    """Critical points of one neuron in the symmetric subspace, sorted by loss; ``method`` says how found."""

    activation: str
    k: int
    dps: int
    method: str
    points: list

    @property
    def closed_form(self) -> bool:
        return bool(self.points) and all(p.g_exact is not None for p in self.points)

    def table(self, digits=20):
        rows = [f"one neuron, {self.activation}, k={self.k} orthonormal teacher (b = 1), w = g * sum_r v_r; "
                f"method: {self.method}"]
        for p in self.points:
            ex = f"g = {p.g_exact}, a = {p.a_exact}" if p.g_exact is not None else "no closed form"
            rows.append(f"  g = {thread_mp.nstr(p.g, 12)}, a = {thread_mp.nstr(p.a, 12)}, "
                        f"loss = {thread_mp.nstr(p.loss, digits)}  [{p.critical}]  {ex}  ({p.family})")
        if not self.points:
            rows.append("  no non-trivial critical point found in the scanned range")
        return "\n".join(rows)

    def to_dict(self):
        return {"activation": self.activation, "k": self.k, "dps": self.dps, "method": self.method,
                "closed_form": self.closed_form, "points": [p.to_dict(self.dps) for p in self.points]}


def _point(A, gs, asym, gval, aval, dps, family, exact):
    """Build a point: exact values are checked exactly, numeric ones at dps digits."""
    if exact:
        loss, loss_exact, status = A.exact_check({gs: gval, asym: aval}, dps)
        with thread_mp.workdps(dps):
            return OneNeuronPoint(+mp_value(gval, dps + GUARD_DIGITS), +mp_value(aval, dps + GUARD_DIGITS), gval, aval,
                                  loss, loss_exact, status, family)
    _, loss, _, status = A.numeric_check({gs: gval, asym: aval}, dps)
    with thread_mp.workdps(dps):
        return OneNeuronPoint(+gval, +aval, None, None, loss, None, status, family)


@functools.lru_cache(maxsize=None)
def one_neuron(activation_name, k: int, dps: int = 50) -> OneNeuronResult:
    r"""Non-trivial critical points ($w \ne 0$, $a \ne 0$) of one neuron in the symmetric subspace.

    See the module docstring for the method.  Points related by a symmetry are reported once
    ($g > 0$ for odd activations; unit norm for homogeneous ones); sorted by loss.
    """
    act = activation(activation_name)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ShapeError(f"argument k must be a positive integer, got {k!r}")
    if not act.has_closed_form:
        raise NoClosedFormError(f"activation {act.name!r} has no closed-form kernel (quadrature only); "
                                "the one-neuron closed forms need one")
    dps = check_dps(dps)
    gs = sympy.Symbol("g", real=True)
    asym = sympy.Symbol("a", real=True)
    A = GroupAnsatz(act, [[gs]], [asym], [k])
    a_of_g = sympy.solve(A.gradient["a"][0], asym)
    if len(a_of_g) != 1:
        raise SymlandError(f"{act.name}: dL/da = 0 does not determine a uniquely ({a_of_g})")
    a_of_g = a_of_g[0]
    p = act.homogeneity_degree
    points = []
    if p is not None:
        signs = [1] if (act.is_odd or act.is_even) else [1, -1]
        for sg in signs:
            gval = sg / sympy.sqrt(k)
            aval = sympy.simplify(a_of_g.xreplace({gs: gval}))
            if aval == 0:
                continue
            fam = (f"homogeneous of degree {p}: every (t g, t^-{p} a), t > 0, is the same function"
                   if p else "degree 0: every (t g, a), t > 0, is the same function")
            points.append(_point(A, gs, asym, gval, aval, dps, fam, True))
        method = f"exact: positively homogeneous of degree {p}, unit-norm g and the linear equation for a"
    else:
        F = A.loss.xreplace({asym: a_of_g})
        dF = sympy.diff(F, gs)
        f_mp = lambdify_mpmath(gs, dF)
        a_mp = lambdify_mpmath(gs, a_of_g)
        work = dps + 2 * GUARD_DIGITS
        with thread_mp.workdps(work):
            pos = [thread_mp.mpf(10) ** (thread_mp.mpf(e) / 40) for e in range(-120, 81)]
            signs = [1] if (act.is_odd or act.is_even) else [1, -1]
            roots = []
            slopes = []  # sign of dF/dg on each scanned half-line
            for sg in signs:
                grid = [sg * x for x in pos]
                vals = []
                for x in grid:
                    try:
                        v = f_mp(x)
                        vals.append(v if thread_mp.isfinite(v) and thread_mp.im(v) == 0 else None)
                    except (ZeroDivisionError, ValueError, OverflowError):
                        vals.append(None)
                finite = [v for v in vals if v is not None]
                if finite and all(v < 0 for v in finite):
                    slopes.append(f"dF/dg < 0 at every scanned g {'>' if sg > 0 else '<'} 0")
                elif finite and all(v > 0 for v in finite):
                    slopes.append(f"dF/dg > 0 at every scanned g {'>' if sg > 0 else '<'} 0")
                for x0, x1, v0, v1 in zip(grid, grid[1:], vals, vals[1:]):
                    if v0 is None or v1 is None:
                        continue
                    if v0 * v1 < 0:
                        try:
                            roots.append(thread_mp.findroot(f_mp, (x0, x1), solver="anderson"))
                        except (ValueError, ZeroDivisionError):
                            continue
        family = "odd: (-g, -a) is the same function" if act.is_odd else (
            "even: (-g, a) is the same function" if act.is_even else "isolated")
        for r in roots:
            with thread_mp.workdps(work):
                aval = a_mp(r)
                if abs(aval) < thread_mp.mpf(10) ** -(dps // 2):
                    continue
                g2 = recognise_rational(r * r, dps)
            if g2 is not None:
                # g^2 recognised as a rational: a follows exactly from the linear equation a(g)
                cand = sympy.sqrt(g2) * (1 if r > 0 else -1)
                av = sympy.simplify(a_of_g.xreplace({gs: cand}))
                pt = _point(A, gs, asym, cand, av, dps, family, True)
                if pt.critical == "exact":
                    points.append(pt)
                    continue
            points.append(_point(A, gs, asym, r, aval, dps, family, False))
        method = ("stationary points of L(g, a(g)) located at {} digits on g in +-[1e-3, 1e2], "
                  "closed forms recognised (rational g^2, exact a(g)) and proven by the exact gradient".format(work))
        if slopes:
            method += "; " + "; ".join(slopes) + " (F = L(g, a(g)) monotone there: no stationary point)"
    points.sort(key=lambda q: q.loss)
    return to_result(OneNeuronResult(act.name, int(k), dps, method, points), dps)


@dataclasses.dataclass
class SymmetricSurvey:
    """Multi-start survey at n = 1: how many distinct non-trivial critical points are symmetric."""

    activation: str
    k: int
    starts: int
    distinct: int
    trivial: int
    symmetric: int
    asymmetric: int
    failures: int
    rows: list

    def table(self):
        head = (f"n = 1 survey, {self.activation}, k={self.k}: {self.starts} starts, {self.distinct} distinct "
                f"critical points: {self.trivial} trivial (w = 0 or a = 0), {self.symmetric} non-trivial in the "
                f"symmetric subspace, {self.asymmetric} non-trivial outside it; {self.failures} failed starts")
        return "\n".join([head] + [f"  {r}" for r in self.rows])

    def to_dict(self):
        return dataclasses.asdict(self)


def symmetric_survey(activation_name, k: int, starts: int = 20, seed: int = 0, dps: int = 30,
                     solver=("minimize", "newton"), workers: int = 1, tol: float = 1e-12) -> SymmetricSurvey:
    r"""Survey the n = 1 landscape (:func:`symland.survey`) and test each non-trivial point for symmetry.

    A point is *trivial* when $\|w\| \le$ ``tol`` or $|a| \le$ ``tol``; it lies in the symmetric
    subspace when all coordinates of $w$ in the teacher basis are equal up to
    ``tol`` $\cdot\|w\|$ (the survey merges points modulo teacher permutations and sign flips,
    so a row stands for its orbit).  ``solver`` is one name or several (default: ``"minimize"``
    for minima and ``"newton"``, which also converges to saddles, each from the same ``starts``);
    ``distinct`` counts distinct points per solver.
    """
    # the landscape survey (no channel detection): at n = 1 no neuron pair can form a channel, and the
    # landscape survey sends only n >= 2 networks to an end-point classifier anyway
    prob = TeacherStudent.orthonormal(activation_name, k, 1)
    solvers = (solver,) if isinstance(solver, str) else tuple(solver)
    found, failures = [], 0
    for sv in solvers:
        res = survey(prob, starts=starts, seed=seed, dps=dps, solver=sv, workers=workers, progress=None)
        found += [(pt, count, sv) for pt, count in res.points]
        failures += len(res.failures)
    trivial = sym = asym = 0
    rows = []
    for pt, count, sv in found:
        th = pt.theta_float()
        w, a = th[:k], th[k]
        nw = float(np.linalg.norm(w))
        if nw <= tol or abs(a) <= tol:
            trivial += 1
            kind = "trivial"
        elif float(np.max(np.abs(np.abs(w) - np.abs(w).mean()))) <= tol * nw and (
                np.all(w > 0) or np.all(w < 0)):
            sym += 1
            kind = "symmetric"
        else:
            asym += 1
            kind = "NOT symmetric"
        rows.append(f"{kind:<14} loss {thread_mp.nstr(pt.loss, 20)} index {pt.index} {pt.kind:<10} "
                    f"{sv} starts {count}  w = {np.array2string(w, precision=6)}, a = {a:.6g}")
    return SymmetricSurvey(prob.activation.name, k, starts * len(solvers), len(found), trivial, sym, asym,
                           failures, rows)


def refine_agreement(activation_name, k: int, point: OneNeuronPoint, dps: int = 50, offset: float = 1e-3,
                     seed: int = 0):
    r"""Distance between ``point`` and the point :func:`~symland.landscape.critical.refine` reaches nearby.

    Starts from the point plus a random perturbation of size ``offset`` (float64), refines to
    ``dps`` digits in the full space and compares invariants: for a homogeneous activation of
    degree $p$ the direction $w/\|w\|$ and $\beta = a\|w\|^p$ (the rescaling orbit), otherwise
    $w$ and $a$ (after the sign flip of an odd or even activation).  Returns
    ``(difference, critical_point)``.
    """
    act = activation(activation_name)
    prob = TeacherStudent.orthonormal(act, k, 1)
    rng = np.random.default_rng(seed)
    start = np.array([float(point.g)] * k + [float(point.a)]) + offset * rng.standard_normal(k + 1)
    cp = refine(prob, start, dps=dps)
    p = act.homogeneity_degree
    with thread_mp.workdps(dps + GUARD_DIGITS):
        w, a = list(cp.theta[:k]), cp.theta[k]
        nw = thread_mp.sqrt(thread_mp.fsum(x * x for x in w))
        if p is not None:
            ref_dir = [point.g / abs(point.g) / thread_mp.sqrt(k)] * k
            diffs = [x / nw - y for x, y in zip(w, ref_dir)]
            diffs.append(a * nw**p - point.a * (abs(point.g) * thread_mp.sqrt(k)) ** p)
        else:
            flip = -1 if (w[0] * point.g < 0) else 1
            sa = -1 if (flip == -1 and act.is_odd) else 1
            diffs = [flip * x - point.g for x in w] + [sa * a - point.a]
        return max(abs(x) for x in diffs), cp
