r"""Channels to infinity: neuron pairs that become a gated linear unit (GLU).

Setting: $x \sim N(0, I_d)$, loss $L = \tfrac12 E[(f - f^*)^2]$.
A GLU unit $(c, w, v)$ computes $g(x) = c\,s(w\cdot x) + (v\cdot x)\,s'(w\cdot x)$.

**Channel** (tangent-neuron map).  A GLU network (``n_o`` ordinary neurons and
``m`` GLU units, :class:`~symland.TeacherStudent` with ``glus=m``) maps, for
$\varepsilon > 0$, to an ordinary network with ``n_o + 2m`` neurons: the
ordinary neurons unchanged, then for each GLU unit the pair

.. math:: w_i = w + \varepsilon v,\ a_i = 1/\varepsilon, \qquad w_j = w,\ a_j = c - 1/\varepsilon,

whose output is $c\,s(w\cdot x) + \varepsilon^{-1}[s(w\cdot x + \varepsilon v\cdot x) - s(w\cdot x)]
= g(x) + \varepsilon h(x) + \varepsilon^2 q(x) + O(\varepsilon^3)$ with
$h = \tfrac12(v\cdot x)^2 s''(w\cdot x)$ and $q = \tfrac16(v\cdot x)^3 s'''(w\cdot x)$.

**Rate** (derived from that expansion, one GLU unit opened): with the residual
$r = f_{GLU} - f^*$,

.. math:: L(\varepsilon) = L_{GLU} + C_1\varepsilon + C_2\varepsilon^2 + O(\varepsilon^3),\quad
          C_1 = E[r h],\quad C_2 = \tfrac12 E[h^2] + E[r q].

At a critical point of the GLU network, $\partial_{w}L_{GLU}\cdot v = 0$ and
$\partial_v L_{GLU} = E[r\,x\,s'(w\cdot x)] = 0$ give (Stein) $C_1 = -\tfrac12|v|^2 E[r\,s'(w\cdot x)]$.
So the rate is $p = 1$ in general; for an odd activation (erf) $r$ is odd and
$s'$ even, $E[r s'] = 0$, and the rate is $p = 2$ with $C = C_2$.
:func:`channel_expansion` measures the coefficients from high-precision losses
along the channel (polynomial extrapolation); :func:`rate_constants` evaluates
the formulas above by Gauss--Hermite quadrature in input space (an independent
computation: it uses $s, s', s'', s'''$ pointwise, not the dual kernel).

**Splitting lines.**  Dropping $v$ gives an ordinary ``n_o + 1`` network; at a
critical point of it, splitting neuron $(w^*, c^*)$ into output weights
$\lambda c^*$ and $(1-\lambda)c^*$ gives a line of critical points of the
``n_o + 2`` network, direction $(+1, -1)$ on the pair's output weights.  The channel diverges
along that same direction, so the angle between the two tends to 0 whatever the line; the
comparison that can fail is between their finite parts (:func:`splitting_comparison`).

**Detection** (:func:`detect`) and **GLU-limit extraction**: see their docstrings.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from ..errors import (
    ConvergenceError,
    DomainError,
    ShapeError,
    SymlandError,
)
from ..kernels.quadrature import derivative_function
from ..landscape.critical import check_problem, newton, refine
from ..numerics.arguments import check_count, check_positive
from ..numerics.precision import as_float_array, check_dps
from ..numerics.mpcontext import MPReal, thread_mp, to_result
from ..problems.teacher_student import TeacherStudent
from .splitting import splitting_line

__all__ = [
    "ChannelThresholds", "ChannelPair", "Detection", "ChannelExpansion", "GLULimit",
    "channel_problem", "glu_problem_for", "channel_point", "channel_loss", "channel_expansion",
    "rate_constants", "splitting_comparison", "detect", "extract_glu", "glu_limit",
]


# ---------------------------------------------------------------------------
# problems and the tangent-neuron map
# ---------------------------------------------------------------------------
def _require_glu(problem):
    check_problem(problem)
    if not getattr(problem, "glus", 0):
        raise ShapeError("glu_problem must have GLU units (TeacherStudent(..., glus=m) with m >= 1)")
    if not problem.train_output:
        raise ShapeError("glu_problem must train its output weights (train_output=True): a channel needs "
                         "output weights a_i = 1/eps, a_j = c - 1/eps")


def channel_problem(glu_problem):
    """The ordinary network the channel lives in: ``n_o + 2m`` neurons, same activation and teacher."""
    _require_glu(glu_problem)
    return TeacherStudent(glu_problem.activation, glu_problem.teacher_weights, glu_problem.teacher_output,
                          n=glu_problem.n + 2 * glu_problem.glus, train_output=True)


def glu_problem_for(problem, pairs: int = 1):
    """The GLU problem whose units are the limits of ``pairs`` neuron pairs of ``problem`` (``n - 2 pairs`` ordinary)."""
    check_problem(problem)
    pairs = check_count(pairs, "pairs")
    if not problem.train_output:
        raise ShapeError("problem must train its output weights for a channel (train_output=True)")
    if problem.n < 2 * pairs:
        raise ShapeError(f"problem has n = {problem.n} neurons, fewer than the 2 * {pairs} a channel needs")
    return TeacherStudent(problem.activation, problem.teacher_weights, problem.teacher_output,
                          n=problem.n - 2 * pairs, train_output=True, glus=pairs)


def _check_eps(eps):
    if isinstance(eps, (bool, np.bool_)):
        raise DomainError(f"argument eps must be a real number, got {eps!r}")
    try:
        e = thread_mp.mpf(eps)
    except (TypeError, ValueError):
        raise DomainError(f"argument eps must be a real number, got {eps!r}") from None
    if not (thread_mp.isfinite(e) and e > 0):
        raise DomainError(f"argument eps must be positive and finite, got {eps!r}")
    return e


def channel_point(glu_problem, theta_glu, eps, dps=None):
    r"""$\theta(\varepsilon)$ of the channel network (:func:`channel_problem`) from a GLU point.

    Neurons: the ordinary ones of the GLU network, then for GLU unit $j$ the pair
    $(w_j + \varepsilon v_j, 1/\varepsilon)$, $(w_j, c_j - 1/\varepsilon)$.  float64 by default;
    an object array of mpf when ``dps`` is given (``eps`` may be a string then).
    """
    _require_glu(glu_problem)
    e = _check_eps(eps)
    mp = dps is not None
    if mp:
        dps = check_dps(dps)
    params = glu_problem.unpack(theta_glu)
    W, a, c, gw, gv = params.W, params.a, params.glu_c, params.glu_w, params.glu_v
    if mp:
        with thread_mp.workdps(dps):
            conv = np.vectorize(lambda v: thread_mp.mpf(v), otypes=[object])
            W, a, c, gw, gv = (conv(np.asarray(x, dtype=object)) if np.size(x) else np.asarray(x, dtype=object)
                               for x in (W, a, c, gw, gv))
            rows, outs = list(W), list(a)
            for j in range(glu_problem.glus):
                rows += [gw[j] + e * gv[j], gw[j]]
                outs += [1 / e, c[j] - 1 / e]
            Wn = np.array([list(r) for r in rows], dtype=object)
            return np.concatenate([Wn.ravel(), np.array(outs, dtype=object)])
    e = float(e)
    rows = [W] + [np.array([gw[j] + e * gv[j], gw[j]]) for j in range(glu_problem.glus)]
    outs = [a] + [np.array([1 / e, c[j] - 1 / e]) for j in range(glu_problem.glus)]
    return np.concatenate([np.concatenate(rows).ravel(), np.concatenate(outs)])


def _lost_digits(eps):
    """Digits the pair's cancellation costs at ``eps``: the outputs are ~1/eps, loss terms ~1/eps^2."""
    return max(0, int(math.ceil(-2 * float(thread_mp.log10(_check_eps(eps)))))) + 5


def channel_loss(glu_problem, theta_glu, eps, dps: int = 30):
    r"""$L(\theta(\varepsilon))$ to ``dps`` digits, evaluated with the digits the cancellation costs.

    The pair's terms are $O(\varepsilon^{-2})$ and cancel to $O(1)$, so the loss is
    computed at ``dps + 2 log10(1/eps) + 5`` digits and rounded to ``dps``.
    """
    work = check_dps(dps) + _lost_digits(eps)
    prob = channel_problem(glu_problem)
    theta = channel_point(glu_problem, theta_glu, eps, dps=work)
    L = prob.loss(theta, dps=work)
    with thread_mp.workdps(dps):
        return +L


@dataclasses.dataclass
class ChannelExpansion:
    r"""Taylor coefficients of $L(\varepsilon)$ along a channel, measured at high precision.

    ``coefficients[k]`` estimates $L^{(k)}(0)/k!$ (``coefficients[0]`` the limit
    loss); ``loss_glu`` is the GLU network's own loss; ``rate`` $p$ is the first
    $k \ge 1$ whose coefficient exceeds ``zero_tol`` (then ``constant`` $C$ is that
    coefficient): $L(\varepsilon) - L_{GLU} = C\varepsilon^p + \ldots$.  ``eps`` and
    ``losses`` are the samples used; ``digits`` the precision asked for.
    """

    loss_glu: MPReal
    coefficients: list
    rate: int | None
    constant: MPReal | None
    eps: list
    losses: list
    digits: int
    zero_tol: MPReal

    def to_dict(self):
        s = lambda x: None if x is None else thread_mp.nstr(x, self.digits, strip_zeros=False)  # noqa: E731
        return {"loss_glu": s(self.loss_glu), "coefficients": [s(c) for c in self.coefficients],
                "rate": self.rate, "constant": s(self.constant), "eps": [s(e) for e in self.eps],
                "losses": [s(v) for v in self.losses], "zero_tol": thread_mp.nstr(self.zero_tol, 3)}


def channel_expansion(glu_problem, theta_glu, dps: int = 30, eps0="1e-3", points: int = 7) -> ChannelExpansion:
    r"""Measure $L(\varepsilon) = \sum_k C_k\varepsilon^k$ along the channel by polynomial interpolation.

    Losses at $\varepsilon_j = \varepsilon_0 2^{-j}$, $j < $ ``points``, are interpolated by a
    polynomial of degree ``points - 1`` (exact Vandermonde solve in mpmath); its
    coefficients approximate $C_k$ with truncation error $O(\varepsilon_0^{points - k})$.
    Working precision covers both the pair's cancellation and the Vandermonde
    conditioning ($\sim \varepsilon_0^{-k}$), so $C_0, C_1, C_2$ come out to about ``dps``
    digits.  A coefficient counts as zero below ``zero_tol`` $= 10^{-dps/2}$.
    """
    dps = check_dps(dps)
    points = check_count(points, "points", minimum=3, maximum=40)
    _require_glu(glu_problem)
    e0 = _check_eps(eps0)
    if not e0 < 1:
        raise DomainError(f"argument eps0 must be < 1 (the expansion is in small eps), got {eps0!r}")
    emin = e0 / 2 ** (points - 1)
    work = dps + (points + 1) * int(math.ceil(-float(thread_mp.log10(emin)))) + 10
    prob = channel_problem(glu_problem)
    with thread_mp.workdps(work):
        eps = [e0 / 2 ** j for j in range(points)]
        losses = [prob.loss(channel_point(glu_problem, theta_glu, e, dps=work), dps=work) for e in eps]
        A = thread_mp.matrix([[e ** k for k in range(points)] for e in eps])
        coef = list(thread_mp.lu_solve(A, thread_mp.matrix(losses)))
        theta = np.array([thread_mp.mpf(x) for x in np.asarray(theta_glu, dtype=object)], dtype=object)
        L_glu = glu_problem.loss(theta, dps=work)
    with thread_mp.workdps(dps):
        tol = thread_mp.mpf(10) ** (-(dps // 2))
        coef = [+c for c in coef]
        rate = next((k for k in range(1, points) if abs(coef[k]) > tol), None)
        expansion = ChannelExpansion(+L_glu, coef, rate, None if rate is None else coef[rate], [+e for e in eps],
                                     [+v for v in losses], dps, tol)
    return to_result(expansion, dps)


# ---------------------------------------------------------------------------
# the rate constants by input-space quadrature (independent of the kernels)
# ---------------------------------------------------------------------------
@dataclasses.dataclass
class _Mono:
    """coef * s^(order)(u.x) * prod_k (lin_k . x)."""

    coef: float
    order: int
    u: np.ndarray
    lin: tuple


def _pair_moment(means, cov, idx):
    """E[prod_{k in idx} y_k] for y ~ N(means, cov) (means: arrays over quadrature nodes)."""
    if not idx:
        return 1.0
    first, rest = idx[0], idx[1:]
    # E[y_f prod rest] = mu_f E[prod rest] + sum_l cov[f, l] E[prod rest without l]
    out = means[first] * _pair_moment(means, cov, rest)
    for t, l in enumerate(rest):
        out = out + cov[first][l] * _pair_moment(means, cov, rest[:t] + rest[t + 1:])
    return out


def _expect(act_fns, m1: _Mono, m2: _Mono, nodes: int = 80) -> float:
    r"""$E[m_1(x)\,m_2(x)]$, $x\sim N(0, I)$: Gauss--Hermite in $(u_1\cdot x, u_2\cdot x)$, polynomial part exactly.

    Given $z = (u_1\cdot x, u_2\cdot x)$ the linear factors are Gaussian with
    mean $B z$ and covariance $\Lambda - B\Sigma_z B^\top$; their product's
    conditional expectation is evaluated by Isserlis' theorem with means.
    """
    U = np.array([m1.u, m2.u], dtype=float)
    S = U @ U.T
    xi, wt = hermegauss(nodes)
    wt = wt / math.sqrt(2 * math.pi)
    # 1-D when the two directions are parallel: u2 = lam u1
    lam = S[0, 1] / S[0, 0] if S[0, 0] > 0 else 0.0
    if S[0, 0] > 0 and S[1, 1] - lam * S[0, 1] <= 1e-13 * S[1, 1]:
        Ub = U[:1]
        Z = (math.sqrt(S[0, 0]) * xi)[None, :]
        z1, z2, w = Z[0], lam * Z[0], wt
    else:
        Ub = U
        Lc = np.linalg.cholesky(S)
        X1, X2 = np.meshgrid(xi, xi, indexing="ij")
        Zs = Lc @ np.array([X1.ravel(), X2.ravel()])
        z1, z2, w = Zs[0], Zs[1], np.outer(wt, wt).ravel()
        Z = Zs
    lins = list(m1.lin) + list(m2.lin)
    if lins:
        Lm = np.array(lins, dtype=float)
        Sz = Ub @ Ub.T
        B = np.linalg.solve(Sz, Ub @ Lm.T).T  # (nlin, dim z)
        means = B @ Z
        cov = Lm @ Lm.T - B @ Sz @ B.T
        poly = _pair_moment(list(means), cov, tuple(range(len(lins))))
    else:
        poly = 1.0
    f = act_fns[m1.order](z1) * act_fns[m2.order](z2)
    return float(m1.coef * m2.coef * np.sum(w * f * poly))


def rate_constants(glu_problem, theta_glu, unit: int = 0, nodes: int = 80) -> dict:
    r"""$L_{GLU}$, $C_1 = E[rh]$, $C_2 = \tfrac12E[h^2] + E[rq]$ (module docstring) by quadrature.

    Float64 Gauss--Hermite with ``nodes`` points per dimension on the
    bivariate Gaussian of each pair of directions; the activation derivatives
    are evaluated pointwise (SymPy -> numpy), so this does not share code with
    the kernel assembly.  Also returns $E[r\,s'(w\cdot x)]$, for the identity
    $C_1 = -\tfrac12|v|^2E[r s']$ at critical points.  Smooth activations only.
    """
    _require_glu(glu_problem)
    unit = check_count(unit, "unit", minimum=0, maximum=glu_problem.glus - 1)
    nodes = check_count(nodes, "nodes", minimum=2, maximum=1000)
    act = glu_problem.activation
    fns = {}
    for k in range(4):
        f = derivative_function(act.expr, k)
        fns[k] = (lambda f: lambda x: np.broadcast_to(np.asarray(f(x), dtype=float), np.shape(x)))(f)
    params = glu_problem.unpack(glu_problem.check_theta(theta_glu))
    W, a, c, gw, gv = params.W, params.a, params.glu_c, params.glu_w, params.glu_v
    r = [_Mono(float(a[i]), 0, W[i], ()) for i in range(glu_problem.n)]
    for j in range(glu_problem.glus):
        r += [_Mono(float(c[j]), 0, gw[j], ()), _Mono(1.0, 1, gw[j], (gv[j],))]
    r += [_Mono(-float(b), 0, V, ()) for V, b in zip(glu_problem.teacher_weights, glu_problem.teacher_output)
          if np.any(V != 0) or not act.vanishes_at_zero]
    w, v = gw[unit], gv[unit]
    h = _Mono(0.5, 2, w, (v, v))
    q = _Mono(1.0 / 6.0, 3, w, (v, v, v))
    sp = _Mono(1.0, 1, w, ())
    E = lambda m1, m2: _expect(fns, m1, m2, nodes)  # noqa: E731
    loss = 0.5 * sum(E(t1, t2) for t1 in r for t2 in r)
    C1 = sum(E(t, h) for t in r)
    C2 = 0.5 * E(h, h) + sum(E(t, q) for t in r)
    rs = sum(E(t, sp) for t in r)
    return {"loss_glu": loss, "C1": C1, "C2": C2, "E_r_sprime": rs, "v_norm2": float(v @ v)}


# ---------------------------------------------------------------------------
# splitting lines
# ---------------------------------------------------------------------------
def _finite_part(W, a_ordinary, pair_rows, pair_sum):
    """The coordinates of a channel or line point that stay finite: every input weight, the
    ordinary output weights and the pair's summed output weight."""
    return np.concatenate([np.ravel(W), np.ravel(pair_rows), np.ravel(a_ordinary), [pair_sum]])


def splitting_comparison(glu_problem, theta_glu, eps_values=("1e-1", "1e-2", "1e-3"), split_theta=None,
                         unit: int = 0, dps: int = 30) -> dict:
    r"""Does the channel run along the splitting line of the ``v``-dropped network?

    The line: a critical point of the ordinary ``n_o + 1`` network whose last neuron
    $(w^*, c^*)$ is split into $(w^*, \lambda c^*)$, $(w^*, (1-\lambda)c^*)$ (``split_theta``;
    default: Newton from the GLU point with $v$ dropped, refined to ``dps`` digits; if that fails
    the result says ``"line": None``).  Both the line and the channel diverge only along the pair's
    output weights, in the same direction $(+1, -1)$, so the angle between them tends to 0 for
    *any* line and proves nothing; what can differ is the **finite part** (every input weight, the
    ordinary output weights and the pair's summed output weight $a_i + a_j$): on the line it is
    $(W^*, w^*, w^*, a^*, c^*)$ for every $\lambda$, on the channel
    $(W, w + \varepsilon v, w, a, c)$.  Returned per $\varepsilon$: ``finite_distance`` =
    $\|F(\theta(\varepsilon)) - F(\text{line})\| / \max(1, \|F(\text{line})\|)$; and
    ``finite_distance_limit``, its value at $\varepsilon = 0$: the channel runs along the line
    (``runs_along_line``) exactly when this limit is 0 (below $10^{-8}$ here), i.e. when the GLU
    point with $v$ dropped *is* the split critical point.  Only one GLU unit (``glus == 1``).
    """
    _require_glu(glu_problem)
    if glu_problem.glus != 1:
        raise ShapeError("splitting_comparison supports one GLU unit (glus == 1)")
    check_count(unit, "unit", minimum=0, maximum=0)
    dps = check_dps(dps)
    if isinstance(eps_values, (str, bytes)) or not hasattr(eps_values, "__iter__"):
        raise DomainError(f"argument eps_values must be a sequence of positive numbers, got {eps_values!r}")
    eps_values = list(eps_values)
    if not eps_values:
        raise DomainError("argument eps_values must not be empty")
    for e in eps_values:
        _check_eps(e)
    params = glu_problem.unpack(glu_problem.check_theta(theta_glu))
    W, a, c, gw, gv = params.W, params.a, params.glu_c, params.glu_w, params.glu_v
    no = glu_problem.n
    small = TeacherStudent(glu_problem.activation, glu_problem.teacher_weights, glu_problem.teacher_output,
                           n=no + 1, train_output=True)
    info = {}
    if split_theta is None:
        start = small.pack(np.vstack([W, gw]), np.concatenate([a, c]))
        try:
            res = newton(small, start)
            cp = refine(small, res.theta, dps=dps)
            split_theta = cp.theta
            info = {"split_loss": thread_mp.nstr(cp.loss, dps), "split_kind": cp.kind, "split_index": cp.index}
        except (ConvergenceError, DomainError, np.linalg.LinAlgError) as exc:
            return {"line": None, "reason": f"no critical point of the {no + 1}-neuron network near the GLU "
                                            f"point with v dropped ({type(exc).__name__}: {exc})"}
    line = splitting_line(small, split_theta, no, dps=dps)
    if line.a == 0:
        return {"line": None, "reason": "the split neuron has output weight c* = 0: the splitting line "
                                        "degenerates to a point"}
    star = small.unpack(np.array([float(x) for x in line.base_theta]))
    w_star, c_star = star.W[-1], float(star.a[-1])
    F_line = _finite_part(star.W[:-1], star.a[:-1], [w_star, w_star], c_star)
    scale = max(1.0, float(np.linalg.norm(F_line)))

    def finite_distance(ef):
        F = _finite_part(W, a, [gw[0] + ef * gv[0], gw[0]], float(c[0]))
        return float(np.linalg.norm(F - F_line)) / scale

    rows = [{"eps": e, "finite_distance": finite_distance(float(_check_eps(e)))} for e in eps_values]
    limit = finite_distance(0.0)
    out = {"line": {"w": w_star.tolist(), "c": c_star, "inertia_at_lam_half": list(line.inertia(0.5))},
           "rows": rows, "finite_distance_limit": limit, "runs_along_line": limit <= 1e-8}
    out.update(info)
    return out


# ---------------------------------------------------------------------------
# detection and the GLU limit
# ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ChannelThresholds:
    r"""Explicit thresholds of :func:`detect` (all dimensionless).

    A pair $(i, j)$ is *in a channel* at a point when
    (1) the output weights have opposite signs, $a_ia_j < 0$;
    (2) they are large compared with their sum:
        $\min(|a_i|, |a_j|) \ge$ ``big`` $\cdot\max(1, |a_i + a_j|)$;
    (3) the input weights are close:
        $|w_i - w_j| \le$ ``close`` $\cdot\tfrac12(|w_i| + |w_j|)$;
    and, when a trajectory is given, over its last ``window`` fraction of
    records (4) $|a_i|$ and $|a_j|$ grew by at least the factor ``growth``, and
    (5) $|w_i - w_j|$ did not grow.  Defaults: big = 5, close = 0.25, growth = 1.01,
    window = 0.5.

    A different drift to infinity is reported separately (kind ``"linear"``):
    a neuron with $|a_i| \ge$ ``big`` and $|w_i| \le$ ``close`` (and, with a
    trajectory, $|a_i|$ grown by ``growth`` and $|w_i|$ not grown) tends to the
    linear unit $a_i s'(0)\,(w_i\cdot x)$ when $s(0) = 0$ — a limit of one neuron,
    not a GLU pair.
    """

    big: float = 5.0
    close: float = 0.25
    growth: float = 1.01
    window: float = 0.5

    def __post_init__(self):
        """Each threshold finite and > 0; ``growth >= 1`` (a factor of growth); ``window <= 1`` (a fraction)."""
        for name in ("big", "close", "growth", "window"):
            check_positive(getattr(self, name), name)
        if not self.growth >= 1:
            raise DomainError(f"argument growth must be >= 1 (a growth factor), got {self.growth}")
        if not self.window <= 1:
            raise DomainError(f"argument window must be <= 1 (a fraction of the trajectory), got {self.window}")


@dataclasses.dataclass
class ChannelPair:
    """One detected pair: indices, gap ``|w_i - w_j|``, output weights, and its GLU limit (c, w, v)."""

    i: int
    j: int
    gap: float
    a_i: float
    a_j: float
    c: float
    w: np.ndarray
    v: np.ndarray
    trend: dict | None = None

    def to_dict(self):
        return {"i": self.i, "j": self.j, "gap": repr(self.gap), "a_i": repr(self.a_i), "a_j": repr(self.a_j),
                "c": repr(self.c), "w": [repr(float(x)) for x in self.w], "v": [repr(float(x)) for x in self.v],
                "trend": self.trend}


@dataclasses.dataclass
class Detection:
    """Result of :func:`detect`: ``kind`` is ``"channel"``, ``"linear"`` or ``"finite"``; ``pairs`` the channel pairs;
    ``linear_units`` the neurons drifting to the linear-unit limit (only when there is no channel pair)."""

    kind: str
    pairs: list
    theta: np.ndarray
    thresholds: ChannelThresholds
    candidates: list  # pairs meeting the end-point tests but not the trajectory tests, with the reason
    linear_units: list = dataclasses.field(default_factory=list)  # neurons drifting to a linear unit

    def to_dict(self):
        return {"kind": self.kind, "pairs": [p.to_dict() for p in self.pairs],
                "thresholds": dataclasses.asdict(self.thresholds), "rejected": self.candidates,
                "linear_units": self.linear_units}


def _pair_glu(W, a, i, j):
    r"""GLU limit of pair $(i, j)$: $c = a_i + a_j$, $w = (w_i + w_j)/2$, $v = \tfrac12(a_i - a_j)(w_i - w_j)$.

    Expanding both neurons about the midpoint $w$ with $\delta = (w_i - w_j)/2$:
    $a_is(w\cdot x + \delta\cdot x) + a_js(w\cdot x - \delta\cdot x) = c\,s + (a_i - a_j)(\delta\cdot x)s'
    + \tfrac12 c(\delta\cdot x)^2 s'' + O(|a||\delta|^3)$, so the GLU error is
    $O(|\delta|^2)$ (the base-point choice $w = w_j$ would leave $O(|\delta|)$).
    """
    c = a[i] + a[j]
    w = (W[i] + W[j]) / 2
    v = (a[i] - a[j]) * (W[i] - W[j]) / 2
    return float(c), w, v


def _pair_sign(problem, W, i, j):
    r"""Relative sign of neuron j in pair (i, j): for an odd activation $a s(w\cdot x) = (-a) s(-w\cdot x)$, so the
    neuron $(w_j, a_j)$ may enter the pair as $(-w_j, -a_j)$; the representative nearer to $w_i$ is used."""
    act = getattr(problem, "activation", None)
    if act is not None and act.is_odd and np.linalg.norm(W[i] + W[j]) < np.linalg.norm(W[i] - W[j]):
        return -1.0
    return 1.0


def _pair_tests(W, a, i, j, th, sign=1.0):
    ai, aj = a[i], sign * a[j]
    if ai * aj >= 0:
        return False
    if min(abs(ai), abs(aj)) < th.big * max(1.0, abs(ai + aj)):
        return False
    gap = np.linalg.norm(W[i] - sign * W[j])
    return gap <= th.close * 0.5 * (np.linalg.norm(W[i]) + np.linalg.norm(W[j]))


def detect(problem, theta=None, trajectory=None, thresholds: ChannelThresholds | None = None) -> Detection:
    r"""Decide whether an end point (or a trajectory's end) sits in a channel or at a finite point.

    ``theta``: the end point (default: the trajectory's last record);
    ``trajectory``: a :class:`~symland.channels.training.Trajectory` (or an array of
    parameter rows) for the trend tests.  Pairs are tested with
    :class:`ChannelThresholds`; pairs are chosen greedily by largest
    $\min(|a_i|, |a_j|)$ so no neuron is in two pairs.  Each channel pair carries
    its GLU limit (:func:`extract_glu`).  For an odd activation a neuron may
    enter a pair with flipped sign, $(w_j, a_j) \to (-w_j, -a_j)$ (the same
    function); the returned ``theta`` then holds the flipped neurons (same loss).
    """
    check_problem(problem)
    if thresholds is not None and not isinstance(thresholds, ChannelThresholds):
        raise DomainError(f"argument thresholds must be a ChannelThresholds, got {type(thresholds).__name__}")
    th = thresholds or ChannelThresholds()
    if getattr(problem, "glus", 0):
        raise ShapeError("problem: detection runs on ordinary networks (glus = 0)")
    if not problem.is_plain:
        raise ShapeError("problem: detection is written for plain networks (no biases, one activation for "
                         "teacher and student): a neuron pair's GLU limit ignores biases")
    if not problem.train_output:
        raise ShapeError("problem: channels need trained output weights (train_output=True)")
    path = None
    if trajectory is not None:
        path = as_float_array(getattr(trajectory, "thetas", trajectory), "trajectory")
        if path.ndim != 2 or path.shape[1] != problem.num_params:
            raise ShapeError(f"trajectory must have rows of length {problem.num_params}, got shape {path.shape}")
        if theta is None:
            theta = path[-1]
    if theta is None:
        raise ShapeError("give theta or trajectory")
    theta = problem.check_theta(theta)
    params = problem.unpack(theta)
    W, a = params.W, params.a
    n = problem.n
    W, a = W.copy(), a.copy()
    signs = {(i, j): _pair_sign(problem, W, i, j) for i in range(n) for j in range(i + 1, n)}
    cands = [(min(abs(a[i]), abs(a[j])), i, j) for i in range(n) for j in range(i + 1, n)
             if _pair_tests(W, a, i, j, th, signs[i, j])]
    cands.sort(reverse=True)
    used, pairs, rejected, flipped = set(), [], [], False
    for _, i, j in cands:
        if i in used or j in used:
            continue
        s = signs[i, j]
        trend = None
        if path is not None and len(path) >= 2:
            start = path[min(len(path) - 2, int((1 - th.window) * (len(path) - 1)))]
            params = problem.unpack(start)
            W0, a0 = params.W.copy(), params.a.copy()
            W0[j] *= s
            a0[j] *= s
            g0, g1 = np.linalg.norm(W0[i] - W0[j]), np.linalg.norm(W[i] - s * W[j])
            grow = min(abs(a[i]) / max(abs(a0[i]), 1e-300), abs(a[j]) / max(abs(a0[j]), 1e-300))
            trend = {"output_growth": float(grow), "gap_ratio": float(g1 / g0) if g0 > 0 else None}
            if grow < th.growth or g1 > g0:
                rejected.append({"i": i, "j": j, "reason": f"no channel trend over the last {th.window:g} of the "
                                                           f"trajectory (|a| growth {grow:.4g}, gap "
                                                           f"{g0:.3g} -> {g1:.3g})"})
                continue
        if s < 0:  # neuron j enters the pair as (-w_j, -a_j): the same function
            W[j] *= -1
            a[j] *= -1
            flipped = True
        c, w, v = _pair_glu(W, a, i, j)
        pairs.append(ChannelPair(i, j, float(np.linalg.norm(W[i] - W[j])), float(a[i]), float(a[j]), c, w, v,
                                 trend))
        used |= {i, j}
    if flipped:
        theta = problem.pack(W, a)
    linear = [] if pairs else _linear_units(problem, W, a, path, th)
    kind = "channel" if pairs else "linear" if linear else "finite"
    return Detection(kind, pairs, theta, th, rejected, linear)


def _linear_units(problem, W, a, path, th):
    """Neurons drifting to the linear-unit limit (|a_i| large, |w_i| small; see ChannelThresholds)."""
    out = []
    norms = np.linalg.norm(W, axis=1)
    for i in range(problem.n):
        if abs(a[i]) < th.big or norms[i] > th.close:
            continue
        rec = {"i": i, "a_i": repr(float(a[i])), "w_norm": repr(float(norms[i])),
               "a_times_w": [repr(float(x)) for x in a[i] * W[i]]}
        if path is not None and len(path) >= 2:
            params = problem.unpack(path[min(len(path) - 2, int((1 - th.window) * (len(path) - 1)))])
            W0, a0 = params.W, params.a
            grow = abs(a[i]) / max(abs(a0[i]), 1e-300)
            if grow < th.growth or norms[i] > np.linalg.norm(W0[i]):
                continue
            rec["output_growth"] = float(grow)
        out.append(rec)
    return out


def extract_glu(problem, detection: Detection):
    """``(glu_problem, theta_glu)``: the detected pairs replaced by their GLU limits (other neurons in order)."""
    check_problem(problem)
    if not isinstance(detection, Detection):
        raise DomainError(f"argument detection must be a Detection (from detect), got {type(detection).__name__}")
    if detection.kind != "channel":
        raise SymlandError("extract_glu needs a detection of kind 'channel'")
    params = problem.unpack(detection.theta)
    W, a = params.W, params.a
    inpair = {k for p in detection.pairs for k in (p.i, p.j)}
    keep = [k for k in range(problem.n) if k not in inpair]
    gp = glu_problem_for(problem, len(detection.pairs))
    theta = gp.pack(W[keep], a[keep], glu_c=np.array([p.c for p in detection.pairs]),
                    glu_w=np.array([p.w for p in detection.pairs]), glu_v=np.array([p.v for p in detection.pairs]))
    return gp, theta


@dataclasses.dataclass
class GLULimit:
    """A channel end point compared with the GLU critical point it approaches.

    ``loss_end``: loss of the ordinary network at the end point (float64);
    ``point``: the refined GLU :class:`~symland.landscape.point.CriticalPoint`;
    ``loss_gap``: ``loss_end - point.loss`` (positive in a channel: the loss is
    still decreasing towards the GLU loss); ``distance``: parameter distance
    between the extracted GLU point and the refined one.
    """

    glu_problem: object
    theta_extracted: np.ndarray
    point: object
    loss_end: float
    loss_extracted: float
    loss_gap: float
    distance: float

    def to_dict(self):
        d = {"glu_problem": repr(self.glu_problem), "loss_end": repr(self.loss_end),
             "loss_extracted": repr(self.loss_extracted), "loss_gap": repr(self.loss_gap),
             "distance": repr(self.distance), "theta_extracted": [repr(float(x)) for x in self.theta_extracted]}
        d["glu_point"] = self.point.to_dict()
        return d


def glu_limit(problem, detection: Detection, dps: int = 30) -> GLULimit:
    """Extract the GLU limit of a channel end point, refine its GLU critical point, and compare.

    The extracted GLU point is polished in float64 (damped Newton, which also
    reaches saddles) and refined by :func:`~symland.landscape.critical.refine` to ``dps``
    digits.  Raises :class:`~symland.errors.ConvergenceError` if no GLU critical
    point is found near the extracted one.
    """
    dps = check_dps(dps)
    gp, theta = extract_glu(problem, detection)
    res = newton(gp, theta)
    cp = refine(gp, res.theta, dps=dps)
    L_end = float(problem.loss(detection.theta))
    return GLULimit(gp, theta, cp, L_end, float(gp.loss(theta)), L_end - float(cp.loss),
                    float(np.linalg.norm(cp.theta_float() - theta)))
