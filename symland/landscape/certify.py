r"""Certified critical points: proofs by ball arithmetic (python-flint ``arb``), not just digits.

:func:`enclose` evaluates the loss, gradient and Hessian of a plain teacher-student problem on a
*box* of parameters (one ball per entry of ``theta``) and returns enclosures valid for every
point of the box (:class:`~symland.numerics.ball.BallPrecision`).

:func:`certify` proves that a ball $X = \{\theta : \|\theta - x\|_\infty \le r\}$ contains
exactly one critical point and determines its Hessian inertia:

* **Existence and uniqueness (Krawczyk).**  With $x$ the refined point, $Y \approx H(x)^{-1}$
  (any fixed matrix; float64 here) and $H(X)$ the Hessian enclosed over the whole box,

  .. math:: K(X) = x - Y\nabla L(x) + (I - Y H(X))(X - x).

  If $K(X)$ lies in the interior of $X$, then $X$ contains exactly one zero of $\nabla L$, and
  $Y$ and every Hessian in $H(X)$ are nonsingular (Krawczyk 1969, Moore 1977, Rump 1983).
* **Inertia over the box (Sylvester + Gershgorin).**  $Q$ = approximate eigenvectors of $H(x)$
  (float64, or mpmath when float64 is not accurate enough), $E = Q^\top Q - I$ enclosed; if
  $\|E\|_\infty < 1$, $Q$ is nonsingular and $Q^\top H Q$ has the inertia of $H$ (Sylvester's
  law).  Every Gershgorin disc of the enclosed $M = Q^\top H(X) Q$ that lies strictly on one side
  of 0 proves one eigenvalue on that side (discs left of 0 and right of 0 form disjoint unions,
  so each union holds as many eigenvalues as discs).  When every disc excludes 0: nullity 0 and
  index = number of discs left of 0, for every Hessian in $H(X)$, in particular at the critical
  point.  The smallest eigenvalue of $H$ is enclosed by Gershgorin and the Rayleigh quotient
  ($\min_i \underline{M_{ii}} - R_i \le \lambda_{\min}(M) \le \min_i \overline{M_{ii}}$) and
  Ostrowski's theorem ($\lambda_i(Q^\top HQ) = \vartheta_i\lambda_i(H)$ with
  $\vartheta_i \in [1 - \|E\|, 1 + \|E\|]$).
  The Hessian enclosure is finite only where the loss is $C^2$ on the whole box: kinked kernels
  (relu, step, ...) are singular at aligned pairs and zero-norm neurons, and a box reaching one
  is refused (its enclosure is not finite), so the mean-value form behind the test is valid.
* **Loss.**  $L(x^*) \in L(x) + \nabla L(x)^\top(X - x) + \tfrac12 (X - x)^\top H(X)(X - x)$
  (Taylor with the Lagrange remainder; $x^*$ the critical point in $X$).

Refusals are certificates with ``certified = False`` and the reason (``status``): a point that
refinement moves by more than ``max_move`` is not critical (``"not critical"``); a Hessian with
(numerically) zero eigenvalues is ``"degenerate"`` with the nullity and the evidence (the
near-zero eigenvalues, the zero modes explained by known symmetries); a Krawczyk or Gershgorin
test that does not close is ``"failed"`` with the numbers.  Problems whose kernels have no
``arb`` form (quadrature activations, cross kernels of two activations without a closed form with
means; :func:`~symland.problems.enclosure.require_ball_form` names the pair) raise
:class:`~symland.errors.NoClosedFormError`; problems with biases are covered through the kernels
with means (the bivariate normal CDF by its rigorous integral).

**Reduced coordinates** (:func:`_gauge_slice`).  With a positively homogeneous activation (relu,
...), every critical point lies on an orbit of the rescaling symmetry of neurons with trained
output weights, $(w_i, a_i) \to (t w_i, t^{-p}a_i)$, and of the rescaling and shift gauges of GLU
units, so its Hessian is singular.  The tests then run on a slice with one coordinate per orbit
direction frozen: a critical point on the slice is a critical point of $L$, and the certificate
reports index, ``nullity`` = the number of orbit directions, and ``symmetry``.  Other zero modes (duplicated neurons, whose line of critical points is not an
orbit of a symmetry; rotations of unused input directions) are reported as ``"degenerate"``
with the evidence.
"""

from __future__ import annotations

import dataclasses
import decimal
import time

import numpy as np

from ..errors import ConvergenceError, DomainError
from ..numerics.arguments import check_positive
from ..numerics.ball import as_ball, ball_precision, flint, identity_matrix, lower_float, upper_float
from ..numerics.mpcontext import thread_mp, to_result
from ..numerics.precision import GUARD_DIGITS, Precision, check_dps
from ..problems.enclosure import enclose, require_ball_form
from ..problems.teacher_student import TeacherStudent
from .critical import predicted_zero_modes, refine
from .display import html_table, latex_table

__all__ = ["Certificate", "certify", "enclose", "symmetry_words"]

#: an approximate eigenvalue below this times max(1, ||H||) counts as zero (degenerate evidence)
NULL_REL = 1e-9
#: digits of the mpmath eigenvectors used when float64 ones do not close the Gershgorin test
_EIG_DPS = 30


@dataclasses.dataclass(frozen=True)
class Certificate:
    r"""The outcome of :func:`certify`.

    ``certified`` is True when the ball of centre ``center`` and radius ``radius`` (max-norm) is
    proven to contain exactly one critical point, with Hessian ``index`` (number of negative
    eigenvalues) and nullity 0 at every point of the ball; ``kind`` is then ``"minimum"`` (a
    strict local minimum), ``"saddle"`` or ``"maximum"``.  ``loss`` is an ``arb`` containing the
    loss at that critical point; ``lambda_min`` an ``arb`` containing the smallest Hessian
    eigenvalue there, ``min_abs_eigenvalue`` a proven lower bound on every $|\lambda|$.
    ``contraction`` is $\max_i |K(X)_i - x_i| / r$ (< 1 proves the claim).
    Otherwise ``status`` is ``"not critical"``, ``"degenerate"`` (``nullity`` the number of
    numerically zero eigenvalues) or ``"failed"``, and ``reason`` says why; ``evidence`` holds
    the numbers behind either outcome.  ``center`` is an object array of mpmath numbers at
    ``dps`` digits.
    """

    certified: bool
    status: str
    reason: str
    center: object = None
    radius: float | None = None
    loss: object = None
    index: int | None = None
    nullity: int | None = None
    kind: str | None = None
    lambda_min: object = None
    min_abs_eigenvalue: float | None = None
    contraction: float | None = None
    dps: int | None = None
    seconds: float = 0.0
    evidence: dict = dataclasses.field(default_factory=dict)
    symmetry: dict = dataclasses.field(default_factory=dict)

    def __bool__(self):
        return self.certified

    def loss_interval(self, digits: int = 30):
        """``(lower, upper)`` decimal strings bracketing the loss (outward rounded)."""
        return _interval_strings(self.loss, digits)

    def to_dict(self) -> dict:
        """JSON-ready summary: numbers as decimal strings, intervals as ``[lower, upper]``."""
        out = {"certified": self.certified, "status": self.status, "reason": self.reason,
               "radius": None if self.radius is None else repr(self.radius), "index": self.index,
               "nullity": self.nullity, "kind": self.kind, "dps": self.dps, "seconds": round(self.seconds, 3),
               "contraction": self.contraction, "min_abs_eigenvalue": self.min_abs_eigenvalue,
               "symmetry": {k: v for k, v in self.symmetry.items()}}
        out["loss"] = None if self.loss is None else list(self.loss_interval())
        out["lambda_min"] = None if self.lambda_min is None else list(_interval_strings(self.lambda_min, 20))
        out["center"] = None if self.center is None else [thread_mp.nstr(v, self.dps) for v in self.center]
        out["evidence"] = {k: (v if isinstance(v, (int, float, str, list, dict)) or v is None else str(v))
                           for k, v in self.evidence.items()}
        return out

    def __str__(self):
        if not self.certified:
            return f"not certified ({self.status}): {self.reason}"
        lo, hi = self.loss_interval(20)
        lam_lo, lam_hi = _interval_strings(self.lambda_min, 12)
        nullity = (f"nullity {self.nullity}, the orbit directions of {symmetry_words(self.symmetry)}; proven in "
                   "reduced coordinates" if self.nullity else "nullity 0")
        where = "in the slice of " if self.nullity else "in "
        return (f"certified {self.kind} (index {self.index}, {nullity}) {where}the ball of radius {self.radius:.3g} "
                f"around the centre; loss in [{lo}, {hi}]; lambda_min in [{lam_lo}, {lam_hi}]")


    def _rows(self):
        d = self.to_dict()
        rows = [("certified", str(self.certified)), ("status", self.status)]
        if self.certified:
            rows += [("kind", self.kind), ("index", str(self.index)), ("nullity", str(self.nullity)),
                     ("radius", f"{self.radius:.3g}"), ("loss", "[" + ", ".join(d["loss"]) + "]"),
                     ("lambda_min", "[" + ", ".join(d["lambda_min"]) + "]")]
        else:
            rows.append(("reason", self.reason))
        return rows

    def _repr_html_(self):
        return html_table(("", ""), self._rows(), caption="certificate")

    def _repr_latex_(self):
        return latex_table(("", ""), self._rows())


def symmetry_words(symmetry: dict) -> str:
    """``"the rescaling of neurons [0, 1] and the gauges of GLU units [0]"`` from a certificate's ``symmetry``."""
    parts = []
    if symmetry.get("rescaling"):
        parts.append(f"the rescaling of neurons {symmetry['rescaling']}")
    if symmetry.get("glu_gauge"):
        parts.append(f"the rescaling and shift of GLU units {symmetry['glu_gauge']}")
    return " and ".join(parts)


def _interval_strings(x, digits):
    """Decimal strings ``(lower, upper)`` with ``lower <= x <= upper`` for every point of the ball,
    checked in ball arithmetic (a rounded decimal is stepped outward until it is a bound)."""
    with ball_precision(max(16, digits + 10)):
        return _decimal_bound(x, digits, down=True), _decimal_bound(x, digits, down=False)


def _decimal_bound(x, digits, down):
    end = x.lower() if down else x.upper()
    text = end.str(digits, radius=False, more=True)
    value = decimal.Decimal(text)
    step = decimal.Decimal(10) ** ((value.adjusted() if value else -digits) - digits + 1)
    with decimal.localcontext() as ctx:
        ctx.prec = digits + 20
        for _ in range(64):
            candidate = flint.arb(str(value))
            if (candidate <= x) if down else (candidate >= x):
                return str(value)
            value = value - step if down else value + step
            step *= 2
    raise AssertionError(f"no decimal bound found for {x}")  # unreachable: steps double


def _fold_min(balls):
    """Rigorous minimum of a non-empty list of balls (``arb.min``; Python's ``min`` is not rigorous)."""
    out = balls[0]
    for b in balls[1:]:
        out = out.min(b)
    return out


def _fold_max(balls):
    """Rigorous maximum of a non-empty list of balls."""
    out = balls[0]
    for b in balls[1:]:
        out = out.max(b)
    return out


def _arb_mat(M):
    """An ``arb_mat`` from a 2-D array (object array of ``arb``, floats or mpf; floats/mpf exactly)."""
    rows, cols = M.shape
    return flint.arb_mat(rows, cols, [as_ball(v) for v in np.ravel(M)])


def _refuse(status, reason, t0, **fields):
    return Certificate(False, status, reason, seconds=time.perf_counter() - t0, **fields)


def _float_theta(theta):
    return np.array([float(v) for v in np.ravel(theta)])


def _box(center_balls, free, r):
    """The box of max-norm radius ``r`` around the centre in the ``free`` coordinates (the others exact)."""
    box = np.array(center_balls, dtype=object)
    for k in free:
        box[k] = center_balls[k] + flint.arb(0, r)
    return box


def _krawczyk(problem, center_balls, g, free, Y, r, dps):
    r"""$\max_i |K(X)_i - x_i|$ as an ``arb`` upper bound and the Hessian enclosure $H(X)$ (all
    coordinates), for the box of max-norm radius ``r`` in the ``free`` coordinates around
    ``center_balls`` (``g``: the gradient enclosed at the centre)."""
    HX = enclose(problem, _box(center_balls, free, r), dps, 2).hessian
    N = len(free)
    with ball_precision(dps):
        Ym, Hm = _arb_mat(Y), _arb_mat(HX[np.ix_(free, free)])
        gm = flint.arb_mat(N, 1, [g[k] for k in free])
        M = identity_matrix(N) - Ym * Hm
        K = -(Ym * gm) + M * flint.arb_mat(N, 1, [flint.arb(0, r)] * N)
        worst = _fold_max([abs(K[i, 0]).upper() for i in range(N)])
    return worst, HX


def _inertia(HX, Q, dps):
    """Gershgorin on $Q^\\top H(X) Q$: ``(index, lambda_min ball, min |lambda| lower bound)``, or the
    reason (a string) when a disc contains 0 or $Q$ is not proven nonsingular."""
    N = HX.shape[0]
    with ball_precision(dps):
        Qm, Hm = _arb_mat(Q), _arb_mat(HX)
        E = Qm.transpose() * Qm - identity_matrix(N)
        e = _fold_max([sum((abs(E[i, j]) for j in range(N)), flint.arb(0)).upper() for i in range(N)])
        if not e < 1:
            return f"the approximate eigenvectors are not proven independent (||Q^T Q - I|| <= {float(e):.3g})"
        M = Qm.transpose() * Hm * Qm
        lows, highs, negative, gaps = [], [], 0, []
        for i in range(N):
            R = sum((abs(M[i, j]) for j in range(N) if j != i), flint.arb(0)).upper()
            lo, hi = M[i, i].lower() - R, M[i, i].upper() + R
            if hi < 0:
                negative += 1
                gaps.append(-hi)
            elif lo > 0:
                gaps.append(lo)
            else:
                return (f"Gershgorin disc {i} of Q^T H(X) Q contains 0 ([{float(lo):.3g}, {float(hi):.3g}]): "
                        "the Hessian may be singular in the ball")
            lows.append(lo)
            highs.append(M[i, i].upper())
        lam_lo, lam_hi = _fold_min(lows), _fold_min(highs)
        # Ostrowski: lambda(H) = lambda(Q^T H Q) / theta, theta in [1 - e, 1 + e]
        scale_lo = [lam_lo / (1 - e), lam_lo / (1 + e)]
        scale_hi = [lam_hi / (1 - e), lam_hi / (1 + e)]
        lam_min = _fold_min(scale_lo).lower().union(_fold_max(scale_hi).upper())
        gap = _fold_min(gaps) / (1 + e)
    return negative, lam_min, lower_float(gap)


def _eigenvectors(H_float, H_mp=None, dps: int = _EIG_DPS):
    """Approximate eigenvectors of the Hessian at the centre: float64, or mpmath at ``dps`` digits."""
    if H_mp is None:
        return np.linalg.eigh(H_float)[1]
    with thread_mp.workdps(dps):
        _, Qmp = thread_mp.eigsy(thread_mp.matrix(H_mp.tolist()))
        return np.array(Qmp.tolist(), dtype=object)


def certify(problem, point, dps: int = 50, refine_point: bool = True, max_move: float = 1e-7,
            radius: float | None = None, tight_eigenvalues: bool = False) -> Certificate:
    r"""Prove that a ball around ``point`` contains exactly one critical point, and its inertia.

    ``point``: a packed parameter vector (float64 or mpmath numbers) of a plain teacher-student
    problem.  With ``refine_point`` (default) the centre is ``point`` refined to ``dps`` digits by
    :func:`~symland.landscape.critical.refine`; if refinement fails or moves the point by more
    than ``max_move`` $\cdot\max(1, \|point\|_\infty)$ (max-norm), the point is refused as
    ``"not critical"``.  Without refinement the centre is ``point`` rounded to ``dps`` digits.
    ``radius`` (max-norm radius of the ball) defaults to the first of
    $10^{-\lfloor dps/2\rfloor}$ and $100\,\|Y\nabla L(x)\|_\infty$ that passes the Krawczyk test.
    The certificate (:class:`Certificate`, method in the module docstring) holds the ball, the
    loss enclosure, the proven index, nullity 0 and an enclosure of the smallest eigenvalue
    (about 10 digits with float64 eigenvectors; ``tight_eigenvalues=True`` takes mpmath
    eigenvectors at ``dps`` digits instead, costlier, and encloses it to about the digits of the ball).
    Ball computations hold python-flint's precision lock (:mod:`symland.numerics.ball`).
    """
    t0 = time.perf_counter()
    dps = check_dps(dps)
    max_move = check_positive(max_move, "max_move")
    radius = None if radius is None else check_positive(radius, "radius")
    require_ball_form(problem)
    evidence = {}
    center = _centre(problem, point, dps, refine_point, max_move, evidence)
    if isinstance(center, str):
        return _refuse(evidence.pop("status"), center, t0, dps=dps, evidence=evidence)
    fields = {"center": center, "dps": dps, "evidence": evidence}
    with ball_precision(dps):
        center_balls = [as_ball(v) for v in center]  # exact: the centre is a vector of binary numbers
    frozen, symmetry = _gauge_slice(problem, center)
    free = [k for k in range(problem.num_params) if k not in set(frozen)]
    if frozen:
        evidence["reduced_coordinates"] = symmetry
    Hf_full = np.array(problem.hessian(_float_theta(center)), dtype=float)
    Hf = Hf_full[np.ix_(free, free)]
    nullity = _numerical_nullity(problem, center, Hf, evidence)
    if nullity:
        return _refuse("degenerate", f"not certified: degenerate, nullity {nullity} (|eigenvalue| <= {NULL_REL:g} "
                       "* ||H|| at the centre" + (" in the reduced coordinates" if frozen else "") +
                       "; the zero modes are not of a symmetry symland can reduce: reduced coordinates cover the "
                       "rescaling of homogeneous neurons with trained outputs)", t0, nullity=nullity, **fields)
    try:
        g = enclose(problem, center_balls, dps, 1).gradient
        proof = _unique_zero(problem, center_balls, g, free, np.linalg.inv(Hf), radius, dps, evidence)
    except DomainError as exc:
        return _refuse("failed", f"no finite enclosure of the gradient or Hessian near the centre: {exc}", t0,
                       **fields)
    if isinstance(proof, str):
        return _refuse("failed", proof, t0, **fields)
    r, contraction, HX = proof
    inertia = _proven_inertia(problem, center, Hf, HX, free, dps, tight_eigenvalues, evidence)
    if isinstance(inertia, str):
        return _refuse("failed", f"inertia not proven: {inertia}", t0, radius=r, **fields)
    index, lam_min, gap = inertia
    loss = _loss_at_critical_point(problem, center_balls, g, HX, free, r, dps)
    N = len(free)
    kind = "minimum" if index == 0 else ("maximum" if index == N and not frozen else "saddle")
    return Certificate(True, "certified", "", radius=r, loss=loss, index=index, nullity=len(frozen), kind=kind,
                       lambda_min=lam_min, min_abs_eigenvalue=gap, contraction=contraction,
                       seconds=time.perf_counter() - t0, symmetry=symmetry, **fields)


def _gauge_slice(problem, center):
    r"""Coordinates to freeze so that the symmetry orbits through the centre cross the remaining
    ones transversally, and a description: ``([], {})`` when there is no continuous symmetry.

    For an activation positively homogeneous of degree $p$ (relu, ...):

    * neurons with trained output weights: the rescaling $(w_i, a_i) \to (t w_i, t^{-p} a_i)$;
      freeze $a_i$ (for every neuron with $w_i \ne 0$, $a_i \ne 0$): the orbit direction
      $\xi_i = (w_i, -p a_i)$ has the component $-p a_i \ne 0$ along it;
    * GLU units $(c_j, w_j, v_j)$ with $w_j \ne 0$: the rescaling $(t^{-p}c, tw, t^{1-p}v)$ and the
      shift $(c - \beta p, v + \beta w)$ (Euler: $(w\cdot x)s'(w\cdot x) = p\,s(w\cdot x)$); freeze
      $w_{j,m}$ and $v_{j,m}$ at the largest $|w_{j,m}|$: the two orbit directions restricted to
      these coordinates form $\begin{pmatrix} w_{j,m} & 0 \\ (1-p)v_{j,m} & w_{j,m}\end{pmatrix}$,
      nonsingular.

    Each is a symmetry of $L$, so $\nabla L\cdot\xi = 0$ everywhere and $H\xi = 0$ at a critical
    point; with the slice's tangent space and the $\xi$ spanning everything, a critical point of
    $L$ on the slice is a critical point of $L$, and in the basis (slice, $\xi$) the Hessian is
    $\operatorname{diag}(H_{\text{slice}}, 0)$: index = index of $H_{\text{slice}}$, nullity = number
    of frozen coordinates (Sylvester).
    """
    if not isinstance(problem, TeacherStudent):  # other landscapes: no known gauge (degenerate points are refused)
        return [], {}
    p = problem.activation.homogeneity_degree
    if p is None:
        return [], {}
    params = problem.unpack(_float_theta(center))
    n, d = problem.n, problem.d
    frozen, symmetry = [], {}
    if problem.train_output:
        neurons = [i for i in range(n) if np.linalg.norm(params.W[i]) > 1e-8 and abs(params.a[i]) > 1e-8]
        frozen += [n * d + i for i in neurons]  # a_i in the packing [W.ravel(), a, ...]
        if neurons:
            symmetry["rescaling"] = neurons
    m = getattr(problem, "glus", 0)
    if m:
        base = n * d + (n if problem.train_output else 0)
        units = []
        for j in range(m):
            w = params.glu_w[j]
            if np.linalg.norm(w) <= 1e-8:
                continue
            col = int(np.argmax(np.abs(w)))
            frozen += [base + m + j * d + col, base + m + m * d + j * d + col]  # w_{j,col}, v_{j,col}
            units.append(j)
        if units:
            symmetry["glu_gauge"] = units
    if frozen:
        symmetry["frozen"] = ("a_i of the rescaled neurons; w_jm and v_jm (largest |w_jm|) of the GLU units: "
                              "the orbits of these symmetries cross the slice transversally")
    return sorted(frozen), symmetry


def _centre(problem, point, dps, refine_point, max_move, evidence):
    """The centre (object array of mpf at ``dps`` digits), or the reason it is refused (a string,
    with ``evidence["status"]`` set)."""
    start = problem.check_theta(np.array([float(v) for v in np.ravel(point)]))
    if not refine_point:
        with thread_mp.workdps(dps + GUARD_DIGITS):
            exact = problem.check_theta(point, Precision(dps))
        return to_result(exact, dps)
    try:
        cp = refine(problem, point, dps=dps, classify_point=False)
    except ConvergenceError as exc:
        evidence["status"] = "not critical"
        return f"Newton refinement did not converge: {exc}"
    except DomainError as exc:
        evidence["status"] = "failed"
        return f"refinement cannot evaluate the problem at this point: {exc}"
    move = float(np.max(np.abs(_float_theta(cp.theta) - start)))
    evidence["refinement_move"] = move
    if move > max_move * max(1.0, float(np.max(np.abs(start)))):
        evidence["status"] = "not critical"
        return (f"the point is not a critical point: refinement moved it by {move:.3g} (max-norm) to the nearest "
                f"critical point, above max_move={max_move:g} (relative)")
    return cp.theta


def _numerical_nullity(problem, center, Hf, evidence) -> int:
    r"""Number of float64 Hessian eigenvalues with $|\lambda| \le$ ``NULL_REL`` $\max(1, \|H\|)$ at the
    centre (evidence of a degenerate point; the symmetries that explain zero modes go to ``evidence``)."""
    lam = np.linalg.eigvalsh(Hf)
    hnorm = max(1.0, float(np.max(np.abs(lam))))
    near_zero = [float(v) for v in lam if abs(v) <= NULL_REL * hnorm]
    evidence["eigenvalues_float64_smallest_abs"] = sorted((float(v) for v in lam), key=abs)[:4]
    if near_zero:
        evidence["near_zero_eigenvalues"] = near_zero
        evidence["zero_modes_explained_by_symmetry"] = predicted_zero_modes(problem, _float_theta(center))
    return len(near_zero)


def _unique_zero(problem, center_balls, g, free, Y, radius, dps, evidence):
    """Krawczyk over the candidate radii (in the ``free`` coordinates): ``(r, contraction, H(X))`` for
    the first that passes, or the reason none did."""
    gf = [g[k] for k in free]
    with ball_precision(dps):
        yg = _fold_max([abs(sum((as_ball(Y[i, j]) * gf[j] for j in range(len(gf))), flint.arb(0))).upper()
                        for i in range(len(gf))])
    evidence["newton_step_bound"] = upper_float(yg)
    scale = max(1.0, max(abs(float(v.mid())) for v in center_balls))
    if radius is not None:
        candidates = [radius]
    else:  # an automatic radius above 1e-2 (relative) means the centre is far from critical
        candidates = [r for r in sorted({10.0 ** -(dps // 2), 100 * upper_float(yg)}, reverse=True) if r < 1e-2 * scale]
    ratios = []
    for r in candidates:
        worst, HX = _krawczyk(problem, center_balls, g, free, Y, r, dps)
        ratios.append(float(worst / r))
        evidence[f"krawczyk_{r:.3g}"] = ratios[-1]
        if worst < r:
            return r, ratios[-1], HX
    return (f"Krawczyk test failed for radii {[f'{r:.3g}' for r in candidates]} (max |K - x| / r = "
            f"{[f'{q:.3g}' for q in ratios]}; |Y grad L| <= {upper_float(yg):.3g}): K(X) is not inside X, the point may "
            "not be near a nondegenerate critical point")


def _proven_inertia(problem, center, Hf, HX, free, dps, tight, evidence):
    """``(index, lambda_min ball, min |lambda| bound)`` from :func:`_inertia` on the ``free`` block,
    with float64 eigenvectors, or mpmath ones when float64 does not close the test (or ``tight``);
    the reason as a string otherwise."""
    HXf = HX[np.ix_(free, free)]
    if not tight:
        evidence["eigenvectors"] = "float64"
        out = _inertia(HXf, _eigenvectors(Hf), dps)
        if not isinstance(out, str):
            return out
        evidence["gershgorin_float64"] = out
    eig_dps = dps if tight else _EIG_DPS
    evidence["eigenvectors"] = f"mpmath, {eig_dps} digits"
    H_mp = problem.hessian(center, dps=eig_dps)[np.ix_(free, free)]
    return _inertia(HXf, _eigenvectors(Hf, H_mp, eig_dps), dps)


def _loss_at_critical_point(problem, center_balls, g, HX, free, r, dps):
    r"""$L(x) + g^\top\delta + \tfrac12\delta^\top H(X)\delta$ with $\delta \in [-r, r]$ in the ``free``
    coordinates (0 in the others): contains the loss at every point of the box, in particular at
    the critical point."""
    L = enclose(problem, center_balls, dps, 0).loss
    with ball_precision(dps):
        delta = flint.arb(0, r)
        first = sum((g[k] * delta for k in free), flint.arb(0))
        bound = sum((abs(HX[i, j]).upper() for i in free for j in free), flint.arb(0)) * flint.arb(r) ** 2 / 2
        second = flint.arb(0, 1) * bound
        return L + first + second
