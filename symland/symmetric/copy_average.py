r"""Copy-average configurations of an under-parameterised student (n < k), solved exactly.

Setting: orthonormal teacher $v_1, \dots, v_k$ with unit output weights, student with
$n \le k$ neurons and trained output weights, $L = \tfrac12 E[(f - f^*)^2]$, $x \sim N(0, I_k)$
(``"erf"`` is erf(z/sqrt 2)).

**Definition implemented** (Şimşek, Bendjeddou, Gerstner, Brea, *Should under-parameterized
student networks copy or average teacher weights?*, NeurIPS 2023): the teacher neurons are
partitioned into $n$ non-empty groups $G_1, \dots, G_n$ and student $i$ has

.. math:: w_i = g_i \sum_{r \in G_i} v_r,\qquad a_i,

i.e. it *copies* its teacher neuron ($|G_i| = 1$) or *averages* its group ($|G_i| > 1$), with
the scalars $(g_i, a_i)$ at the optimum of the loss restricted to this family ($g_i > 0$).
Permuting teacher neurons (and students) maps configurations with the same multiset of group
sizes onto each other, so up to symmetry a configuration is an integer partition of $k$ into
$n$ parts.

**Solving.**  $\partial L/\partial a$ is linear in $a$.  For activations with
$\kappa(a, b, 0) \equiv 0$ (odd ones, e.g. erf) disjoint groups do not interact and each group
size $m$ is a 2-scalar problem $(g, a)$, solved once per $m$: $a = m\kappa/\varphi$ and the
stationary points of $g \mapsto L(g, a(g))$ are located at ``dps + 2 * GUARD_DIGITS`` digits, then
recognised as exact numbers (rational $g^2$, then $a = a(g)$ exactly) and verified by exact
substitution.
For positively homogeneous activations (relu) only $\beta_i = a_i g_i^p$ matters: the
directions are fixed to unit norm and the (coupled) linear equations for $a$ are solved
exactly.  Other activations get a coupled mpmath Newton solve (no closed form claimed).

**Checking.**  The exact full-space gradient of :class:`~symland.symmetric.ansatz.GroupAnsatz` decides
criticality (``"exact"`` when every component is proven zero, ``"50 digits"`` otherwise);
the 60-digit gradient of :class:`~symland.TeacherStudent` (an independent assembly) is
recorded as well, and :func:`~symland.landscape.critical.refine` gives the Hessian index and kind.
Configurations that are not critical (relu) are followed by Newton to the nearby critical point.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time

import numpy as np
import sympy

from ..errors import (
    ConvergenceError,
    DomainError,
    NoClosedFormError,
    ShapeError,
    SymlandError,
)
from ..kernels.registry import activation
from ..landscape.critical import newton, refine
from ..numerics.compile import lambdify_mpmath
from ..numerics.mpcontext import MPReal, thread_mp, to_result
from ..numerics.precision import GUARD_DIGITS, check_dps
from ..numerics.symbols import c_
from .ansatz import GroupAnsatz, mp_value, prove_zero, recognise_rational

__all__ = ["copy_average", "CopyAverageConfig", "CopyAverageResult", "partitions", "group_optimum",
           "decouples"]


def partitions(k: int, n: int):
    """Integer partitions of ``k`` into exactly ``n`` positive parts, parts in descending order."""
    def rec(rest, parts, largest):
        if parts == 0:
            if rest == 0:
                yield ()
            return
        for p in range(min(largest, rest - (parts - 1)), 0, -1):
            if p * parts < rest:
                break
            for tail in rec(rest - p, parts - 1, p):
                yield (p,) + tail
    return list(rec(k, n, k))


@functools.lru_cache(maxsize=None)
def decouples(act) -> bool:
    r"""True when $\kappa(a, b, 0) = 0$ identically (decided symbolically): disjoint groups decouple."""
    act = activation(act)
    if not act.has_closed_form:
        return False
    return sympy.simplify(act.kernel_expr.subs(c_, 0)) == 0


@functools.lru_cache(maxsize=None)
def group_optimum(act, m: int, dps: int = 50):
    r"""Optimal $(g, a)$ of one student averaging $m$ orthonormal unit-output teacher neurons.

    Minimises $\ell(g, a) = \tfrac12 a^2\varphi(g^2 m) - a\,m\,\kappa(g^2 m, 1, g)$ over
    $g > 0$ (the decoupled per-group problem).  Returns
    ``(g, a, exact_g, exact_a, stationary)`` with mpmath values at ``dps`` digits, exact SymPy
    values when recognised and proven (else ``None``), and the list of all stationary
    $g > 0$ found on the scan (so a caller can see whether the optimum is unique).
    """
    act = activation(act)
    g, a = sympy.symbols("g a", positive=True)
    A = GroupAnsatz(act, [[g]], [sympy.Symbol("a")], [m])
    asym = A.a[0]
    da = A.gradient["a"][0]
    a_of_g = sympy.solve(da, asym)
    if len(a_of_g) != 1:
        raise SymlandError(f"{act.name}: dL/da is not linear with one root in a ({a_of_g})")
    a_of_g = a_of_g[0]
    F = A.loss.xreplace({asym: a_of_g})
    dF = sympy.diff(F, g)
    work = dps + 2 * GUARD_DIGITS
    f_mp = lambdify_mpmath(g, dF)
    F_mp = lambdify_mpmath(g, F)
    with thread_mp.workdps(work):
        # the optimum scales like 1/m for erf: scan g sqrt(m) in [1e-3, 1e2]
        grid = [thread_mp.mpf(10) ** (thread_mp.mpf(e) / 40) / thread_mp.sqrt(m) for e in range(-120, 81)]
        vals = []
        for x in grid:
            try:
                vals.append(f_mp(x))
            except (ZeroDivisionError, ValueError):
                vals.append(None)
        roots = []
        for x0, x1, v0, v1 in zip(grid, grid[1:], vals, vals[1:]):
            if v0 is None or v1 is None:
                continue
            if v0 == 0:
                roots.append(x0)
            elif v0 * v1 < 0:
                roots.append(thread_mp.findroot(f_mp, (x0, x1), solver="anderson"))
        if not roots:
            raise ConvergenceError(f"{act.name}, m={m}: no stationary g > 0 of the reduced loss in "
                                   "[1e-3, 1e2]/sqrt(m)")
        best = min(roots, key=F_mp)
        a_val = lambdify_mpmath(g, a_of_g)(best)
        g2 = recognise_rational(best**2, dps)
    exact_g = exact_a = None
    if g2 is not None:
        # g^2 recognised as a rational; a = a(g) then follows exactly from the linear equation
        cand_g = sympy.sqrt(g2)
        av = sympy.simplify(a_of_g.xreplace({g: cand_g}))
        if _proven(dF.xreplace({g: cand_g})):
            exact_g, exact_a = cand_g, av
    # cached and shared between threads: numbers of the fixed-precision result context
    return to_result((best, a_val, exact_g, exact_a, tuple(roots)), dps)


@functools.lru_cache(maxsize=None)
def _proven(expr):
    """:func:`~symland.symmetric.ansatz.prove_zero`, cached (group sizes recur across partitions)."""
    return prove_zero(expr)


@dataclasses.dataclass
class CopyAverageConfig:
    r"""One copy-average configuration: group sizes, scalars, loss and classification.

    ``partition``: group sizes (descending); ``g``, ``a``: per-student scalars (mpmath);
    ``g_exact``, ``a_exact``: SymPy closed forms or ``None``; ``loss`` (mpmath, from the exact
    reduced loss); ``loss_full`` (``TeacherStudent.loss`` at the same digits: the independent full
    assembly); ``loss_exact`` (SymPy) or ``None``; ``critical``: ``"exact"`` /
    ``"<dps> digits"`` / ``"not critical"``; ``gradient_norm``: 60-digit
    ``TeacherStudent.gradient`` norm; ``index``, ``nullity``, ``kind``, ``min_eigenvalue`` from the
    full Hessian (``None`` when not critical); ``nearby``: for a non-critical configuration, the
    critical point Newton reaches from it (dict) or ``None``.
    """

    partition: tuple
    g: list
    a: list
    g_exact: list | None
    a_exact: list | None
    loss: MPReal
    loss_full: MPReal
    loss_exact: sympy.Expr | None
    critical: str
    gradient_norm: MPReal
    index: int | None = None
    nullity: int | None = None
    kind: str | None = None
    min_eigenvalue: MPReal | None = None
    nearby: dict | None = None
    theta: np.ndarray | None = dataclasses.field(default=None, repr=False)

    @property
    def copies(self) -> int:
        return sum(1 for m in self.partition if m == 1)

    @property
    def label(self) -> str:
        av = [m for m in self.partition if m > 1]
        parts = []
        if self.copies:
            parts.append(f"{self.copies} cop{'y' if self.copies == 1 else 'ies'}")
        if av:
            parts.append("average " + "+".join(str(m) for m in av))
        return ", ".join(parts)

    def to_dict(self, dps) -> dict:
        def s(x, d=dps):
            return None if x is None else thread_mp.nstr(x, d, strip_zeros=False)
        return {
            "partition": list(self.partition), "label": self.label,
            "g": [s(x) for x in self.g], "a": [s(x) for x in self.a],
            "g_exact": None if self.g_exact is None else [str(x) for x in self.g_exact],
            "a_exact": None if self.a_exact is None else [str(x) for x in self.a_exact],
            "loss": s(self.loss), "loss_full_assembly": s(self.loss_full),
            "loss_exact": None if self.loss_exact is None else str(self.loss_exact),
            "loss_exact_latex": None if self.loss_exact is None else sympy.latex(self.loss_exact),
            "critical": self.critical, "gradient_norm": s(self.gradient_norm, 5),
            "index": self.index, "nullity": self.nullity, "kind": self.kind,
            "min_eigenvalue": s(self.min_eigenvalue, 20), "nearby": self.nearby,
        }


@dataclasses.dataclass
class CopyAverageResult:
    """All copy-average configurations of one (activation, k, n), sorted by loss."""

    activation: str
    k: int
    n: int
    dps: int
    decoupled: bool
    configurations: list
    seconds: float = 0.0

    @property
    def optimal(self) -> CopyAverageConfig:
        return self.configurations[0]

    def table(self, digits: int = 20) -> str:
        head = (f"copy-average configurations: {self.activation}, k={self.k} orthonormal teacher (b = 1), "
                f"n={self.n} student neurons, loss = 1/2 E[(f - f*)^2]\n"
                f"(w_i = g_i * sum of its group's teacher vectors; groups "
                f"{'decouple' if self.decoupled else 'interact'}: kappa(a, b, 0) "
                f"{'= 0' if self.decoupled else '!= 0'})\n")
        rows = [f"{'groups':<14} {'loss':<{digits + 4}} {'critical':<12} {'index':>5} {'kind':<11} scalars (g, a)"]
        for c in self.configurations:
            sc = []
            for i, m in enumerate(c.partition):
                if c.g_exact is not None:
                    sc.append(f"m={m}: ({c.g_exact[i]}, {c.a_exact[i]})")
                else:
                    sc.append(f"m={m}: ({thread_mp.nstr(c.g[i], 8)}, {thread_mp.nstr(c.a[i], 8)})")
            idx = "-" if c.index is None else str(c.index)
            rows.append(f"{str(list(c.partition)):<14} {thread_mp.nstr(c.loss, digits):<{digits + 4}} "
                        f"{c.critical:<12} {idx:>5} {c.kind or '-':<11} " + "; ".join(sc))
            if c.nearby:
                rows.append(f"{'':<14}   not critical (|grad| = {thread_mp.nstr(c.gradient_norm, 3)}); Newton reaches "
                            f"a {c.nearby['kind']} (index {c.nearby['index']}) at loss {c.nearby['loss'][:digits]}, "
                            f"distance {c.nearby['distance'][:8]}")
        return head + "\n".join(rows)

    def __str__(self):
        return self.table()

    def to_dict(self) -> dict:
        return {"activation": self.activation, "k": self.k, "n": self.n, "dps": self.dps,
                "decoupled": self.decoupled, "seconds": round(self.seconds, 3),
                "convention": "loss = 1/2 E[(f - f*)^2], x ~ N(0, I_k), orthonormal teacher, b = 1",
                "configurations": [c.to_dict(self.dps) for c in self.configurations]}


def _solve_homogeneous(act, partition):
    """Exact output weights for unit-norm directions g_i = 1/sqrt(m_i) (positively homogeneous act)."""
    n = len(partition)
    asyms = sympy.symbols(f"a0:{n}")
    gs = [1 / sympy.sqrt(m) for m in partition]
    coeffs = [[gs[i] if G == i else 0 for G in range(n)] for i in range(n)]
    A = GroupAnsatz(act, coeffs, list(asyms), list(partition))
    sol = sympy.solve(A.gradient["a"], asyms, dict=True)
    if len(sol) != 1:
        raise SymlandError(f"{act.name}: the output weights of {partition} are not unique ({sol})")
    a_exact = [sympy.simplify(sol[0][s]) for s in asyms]
    return gs, a_exact


def _solve_coupled(act, partition, dps):
    """Coupled own-group equations (dL/da_i = 0, gamma_ii = 0) by mpmath Newton from the decoupled optimum."""
    n = len(partition)
    gsy = sympy.symbols(f"g0:{n}", positive=True)
    asy = sympy.symbols(f"a0:{n}")
    coeffs = [[gsy[i] if G == i else 0 for G in range(n)] for i in range(n)]
    A = GroupAnsatz(act, coeffs, list(asy), list(partition))
    eqs = list(A.gradient["a"]) + [A.gradient["w"][i][i] for i in range(n)]
    f = lambdify_mpmath(list(gsy) + list(asy), eqs)
    start = []
    for m in partition:
        g0, a0, *_ = group_optimum(act, m, dps)
        start.append((g0, a0))
    with thread_mp.workdps(dps + 2 * GUARD_DIGITS):
        x0 = [s[0] for s in start] + [s[1] for s in start]
        try:
            sol = thread_mp.findroot(lambda *x: f(*x), x0)
        except (ValueError, ZeroDivisionError) as exc:
            raise ConvergenceError(f"{act.name} {partition}: coupled copy-average equations did not converge "
                                   f"({exc})") from None
        sol = [sol[i] for i in range(2 * n)]
    return sol[:n], sol[n:]


def _configuration(act, partition, dps, classify_point, follow, progress):
    n = len(partition)
    gsy = sympy.symbols(f"g0:{n}", positive=True)
    asy = sympy.symbols(f"a0:{n}")
    coeffs = [[gsy[i] if G == i else 0 for G in range(n)] for i in range(n)]
    A = GroupAnsatz(act, coeffs, list(asy), list(partition))
    p = act.homogeneity_degree
    g_ex = a_ex = None
    if decouples(act):
        opt = [group_optimum(act, m, dps) for m in partition]
        g_num, a_num = [o[0] for o in opt], [o[1] for o in opt]
        if all(o[2] is not None for o in opt):
            g_ex, a_ex = [o[2] for o in opt], [o[3] for o in opt]
    elif p is not None and p > 0:
        g_ex, a_ex = _solve_homogeneous(act, partition)
        with thread_mp.workdps(dps + GUARD_DIGITS):
            g_num = [mp_value(x, dps + GUARD_DIGITS) for x in g_ex]
            a_num = [mp_value(x, dps + GUARD_DIGITS) for x in a_ex]
    else:
        g_num, a_num = _solve_coupled(act, partition, dps)
    if g_ex is not None:
        values = {**dict(zip(gsy, g_ex)), **dict(zip(asy, a_ex))}
        loss, loss_exact, status = A.exact_check(values, dps)
    else:
        loss_exact = None
        values, loss, _, status = A.numeric_check({**dict(zip(gsy, g_num)), **dict(zip(asy, a_num))}, dps)
    prob = A.problem()
    theta = A.theta(values, dps=dps + GUARD_DIGITS)
    with thread_mp.workdps(dps + GUARD_DIGITS):
        loss_full, grad = prob.loss_and_gradient(theta, dps=dps + GUARD_DIGITS)
        gnorm = thread_mp.sqrt(thread_mp.fsum(x * x for x in grad))
    with thread_mp.workdps(dps):
        loss_full, gnorm = +loss_full, +gnorm
        g_num = [+x for x in g_num]
        a_num = [+x for x in a_num]
    cfg = CopyAverageConfig(tuple(partition), g_num, a_num, g_ex, a_ex, loss, loss_full, loss_exact, status,
                            gnorm, theta=theta)
    if status != "not critical" and classify_point:
        cp = refine(prob, theta, dps=dps)
        cfg.index, cfg.nullity, cfg.kind = cp.index, cp.nullity, cp.kind
        cfg.min_eigenvalue = cp.eigenvalues[0] if cp.eigenvalues else None
    elif status == "not critical" and follow:
        cfg.nearby = _follow(prob, theta, dps)
    if progress:
        print(f"copy-average {act.name} k={sum(partition)} {list(partition)}: {status}, "
              f"loss {thread_mp.nstr(loss, 12)}, index {cfg.index}", file=sys.stderr)
    return cfg


def _follow(prob, theta, dps):
    """Newton (float64, then mpmath) from a non-critical configuration to the critical point it reaches."""
    th = np.array([float(x) for x in theta])
    try:
        res = newton(prob, th)
        cp = refine(prob, res.theta, dps=dps)
    except (ConvergenceError, DomainError, np.linalg.LinAlgError, ZeroDivisionError) as exc:
        return {"error": str(exc)}
    with thread_mp.workdps(dps):
        dist = thread_mp.sqrt(thread_mp.fsum((x - y) ** 2 for x, y in zip(cp.theta, theta)))
        return {"loss": thread_mp.nstr(cp.loss, dps, strip_zeros=False), "index": cp.index, "kind": cp.kind,
                "distance": thread_mp.nstr(dist, 10), "gradient_norm": thread_mp.nstr(cp.gradient_norm, 5),
                "theta": [thread_mp.nstr(x, dps, strip_zeros=False) for x in cp.theta]}


def copy_average(activation_name, k: int, n: int, dps: int = 50, classify: bool = True, follow: bool = True,
                 progress: bool = False) -> CopyAverageResult:
    r"""Every copy-average configuration of ``n`` students on ``k`` orthonormal teacher neurons.

    Definition: the k teacher neurons are partitioned into n non-empty groups, student i is
    $w_i = g_i\sum_{r\in G_i} v_r$ (copy if $|G_i| = 1$, average otherwise) with output $a_i$, and
    $(g_i > 0, a_i)$ optimal within this family.  Every teacher neuron belongs to a group (a
    configuration that ignores a teacher neuron is not critical for erf: that neuron's direction
    pulls every student, $\kappa_c(a, 1, 0) \ne 0$).  One configuration per integer partition of
    ``k`` into ``n`` parts (teacher and student permutations map the others onto it), with
    optimal scalars (exact where recognised and proven), loss at
    ``dps`` digits, full-space criticality (``"exact"`` / ``"<dps> digits"`` / ``"not critical"``),
    and with ``classify=True`` the Hessian index and kind of the critical ones
    (:func:`~symland.landscape.critical.refine`).  Non-critical configurations are followed by Newton to the
    critical point they lead to when ``follow=True``.  Sorted by loss; ``progress=True`` reports
    each configuration on stderr.
    """
    act = activation(activation_name)
    for name, v in (("k", k), ("n", n)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ShapeError(f"argument {name} must be a positive integer, got {v!r}")
    if n > k:
        raise ShapeError(f"copy-average needs n <= k (each student owns a non-empty group), got n={n}, k={k}")
    if not act.has_closed_form:
        raise NoClosedFormError(f"activation {act.name!r} has no closed-form kernel; copy_average needs one")
    dps = check_dps(dps)
    t0 = time.perf_counter()
    configs = [_configuration(act, part, dps, classify, follow, progress) for part in partitions(k, n)]
    configs.sort(key=lambda c: c.loss)
    return to_result(CopyAverageResult(act.name, int(k), int(n), dps, decouples(act), configs, time.perf_counter() - t0), dps)
