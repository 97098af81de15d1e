r"""Critical points: float64 solvers, mpmath Newton refinement, classification.

* :func:`minimize` — trust-region minimisation with the exact Hessian (scipy ``trust-exact``).
* :func:`gradient_flow` — $\dot\theta = -\nabla L(\theta)$ as a stiff ODE (``solve_ivp``,
  BDF/Radau with $-\nabla^2 L$ as Jacobian) until $|\nabla L| < $ ``gtol``.
* :func:`newton` — damped Newton on $\nabla L = 0$ (finds saddles too), with
  a pseudo-inverse step on near-singular Hessians.
* :func:`refine` — Newton's method on the gradient in mpmath with the analytic
  Hessian, to ``dps`` digits, returning a classified :class:`CriticalPoint`.

Refinement is *precision-adaptive*.  The gradient is always evaluated at full working precision,
as the midpoints of python-flint balls when the problem has a ball form
(:func:`~symland.problems.enclosure.midpoint_evaluation`, 3-4x faster than mpmath) and in mpmath
otherwise.  A Newton step with the float64 Hessian $H_f$ from an iterate with error
$\varepsilon$ leaves an error of about $\kappa u\,\varepsilon$ ($u = 2^{-53}$, $\kappa$ the
condition number): linear convergence gaining ~$-\log_{10}\kappa u$ digits per step at the
cost of one float solve, and $H_f$ is reused between late iterates (it changes by $O(|step|)$).
When a step gains fewer than 6 digits the iteration switches to exact Hessians at just the
digits the step needs (quadratic convergence), solved by mixed-precision iterative refinement
(float64 LU, residuals in mpmath).  On degenerate points (a near-zero Hessian eigenvalue, e.g. a
line of critical points made by duplicating a neuron) the gauge is fixed: the step is
constrained orthogonal to the numerical null space (bordered Newton system), so the iteration
converges to a point on the critical manifold
(the linear algebra of these steps: :mod:`symland.landscape.newton_step`; the result
type: :mod:`symland.landscape.point`).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import scipy.integrate
import scipy.linalg
import scipy.optimize

from ..errors import ConvergenceError, DomainError
from ..numerics.arguments import check_choice, check_count, check_flag, check_positive
from ..numerics.mpcontext import thread_mp
from ..numerics.precision import Precision, check_dps
from ..problems.enclosure import enclose, has_ball_form, midpoint_evaluation
from ..problems.reduction import reduce_dimension
from ..problems.protocol import Landscape
from ..problems.teacher_student import TeacherStudent
from .newton_step import gauge_fixed_step, mp_norm, null_basis, pseudo_inverse_step, refined_solve
from .point import CriticalPoint
from .spectrum import hessian_spectrum

__all__ = [
    "CriticalPoint",
    "FlowResult",
    "minimize",
    "gradient_flow",
    "solve_flow",
    "newton",
    "refine",
    "classify",
    "predicted_zero_modes",
    "check_problem",
    "symmetric_eigenvalues",
    "MAX_ITER",
]


@dataclasses.dataclass
class FlowResult:
    """Result of a float64 solver.

    ``theta``: final parameters; ``loss``; ``gradient_norm``; ``converged``
    (``gradient_norm <= gtol``); ``iterations`` (or ODE steps); ``message``;
    ``times`` and ``trajectory`` (gradient flow with ``trajectory=True``).
    """

    theta: np.ndarray
    loss: float
    gradient_norm: float
    converged: bool
    iterations: int
    message: str = ""
    times: np.ndarray | None = None
    trajectory: np.ndarray | None = None


# ---------------------------------------------------------------------------
# float64 solvers
# ---------------------------------------------------------------------------
#: largest accepted ``max_iter`` of the solvers (a count beyond it is a mistake, not a request)
MAX_ITER = 1_000_000


def check_problem(problem):
    """``problem`` itself when it is a landscape (:class:`~symland.problems.protocol.Landscape`,
    e.g. a :class:`~symland.problems.teacher_student.TeacherStudent`), else
    :class:`~symland.errors.DomainError` naming the argument."""
    if not isinstance(problem, Landscape):
        raise DomainError(f"argument problem must be a landscape (symland.Landscape, e.g. a TeacherStudent), "
                          f"got {type(problem).__name__}")
    return problem


def _result(problem, theta, gtol, nit, msg, **kw):
    loss, g = problem.loss_and_gradient(theta)
    gn = float(np.linalg.norm(g))
    return FlowResult(np.asarray(theta, float), float(loss), gn, gn <= gtol, nit, msg, **kw)


def minimize(problem, theta0, gtol: float = 1e-10, max_iter: int = 2000) -> FlowResult:
    """Minimise the loss from ``theta0`` with scipy ``trust-exact`` and the analytic Hessian.

    If the loss, gradient or Hessian cannot be evaluated at an iterate (e.g. the Hessian of a
    kinked activation at exactly aligned neurons, where it is singular), the solver stops there:
    the result is the last iterate, with ``converged`` decided by its gradient and the reason in
    ``message``, instead of an exception from inside scipy.
    """
    theta0 = check_problem(problem).check_theta(theta0)
    gtol = check_positive(gtol, "gtol")
    max_iter = check_count(max_iter, "max_iter", maximum=MAX_ITER)
    last = [theta0]

    def hessian(th):
        H = problem.hessian(th)
        if not np.all(np.isfinite(H)):
            raise DomainError("the float64 Hessian is not finite at this iterate")
        return H

    try:
        # overflow inside trust-exact's subproblem on huge trial steps is scipy's to handle (it
        # shrinks the region); the end point is re-checked by _result
        with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            res = scipy.optimize.minimize(
                problem.loss, theta0, jac=problem.gradient, hess=hessian, method="trust-exact",
                options={"gtol": gtol, "maxiter": max_iter}, callback=lambda xk: last.__setitem__(0, np.array(xk)),
            )
    except (DomainError, ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
        return _result(problem, last[0], gtol, -1, f"trust-exact stopped: {type(exc).__name__}: {exc}")
    return _result(problem, res.x, gtol, int(res.nit), str(res.message))


def solve_flow(problem, theta0, t_max, gtol, method="BDF", rtol=1e-10, atol=1e-12, t_eval=None, on_rhs=None):
    r"""``scipy.integrate.solve_ivp`` of $\dot\theta = -\nabla L$ with Jacobian $-\nabla^2 L$, stopping
    (terminal event) when $|\nabla L|$ falls below ``gtol / 2`` or at ``t_max``.

    Shared by :func:`gradient_flow` and the recorded flow of the channels layer; ``on_rhs(t)`` is
    called at every right-hand-side evaluation (progress output), ``t_eval`` as in ``solve_ivp``.
    """
    method = check_choice(method, "method", ("BDF", "Radau", "LSODA"))
    theta0 = check_problem(problem).check_theta(theta0)
    t_max = check_positive(t_max, "t_max")  # t_max < 0 would integrate gradient ascent
    gtol = check_positive(gtol, "gtol")
    rtol, atol = check_positive(rtol, "rtol"), check_positive(atol, "atol")

    def rhs(t, th):
        if on_rhs is not None:
            on_rhs(t)
        return -problem.gradient(th)

    def jac(t, th):
        return -problem.hessian(th)

    def small(t, th):
        # stop below gtol, not at it: the root is located on float64-noisy gradients
        return float(np.linalg.norm(problem.gradient(th))) - 0.5 * gtol

    small.terminal = True
    return scipy.integrate.solve_ivp(rhs, (0.0, float(t_max)), theta0, method=method, jac=jac,
                                     events=small, t_eval=t_eval, rtol=rtol, atol=atol)


def gradient_flow(problem, theta0, t_max: float = 1e7, gtol: float = 1e-10, method: str = "BDF",
                  trajectory: bool = False, rtol: float = 1e-10, atol: float = 1e-12) -> FlowResult:
    r"""Integrate $\dot\theta = -\nabla L$ as a stiff ODE until $|\nabla L| <$ ``gtol`` or ``t_max``.

    ``method`` is ``"BDF"`` or ``"Radau"`` (implicit, with the exact Jacobian
    $-\nabla^2 L$).  With ``trajectory=True`` the result carries ``times`` and
    ``trajectory`` (one row per accepted step).
    """
    trajectory = check_flag(trajectory, "trajectory")
    sol = solve_flow(problem, theta0, t_max, gtol, method=method, rtol=rtol, atol=atol)
    theta = sol.y[:, -1]
    extra = {"times": sol.t, "trajectory": sol.y.T} if trajectory else {}
    res = _result(problem, theta, gtol, int(sol.t.size), sol.message, **extra)
    return res


def newton(problem, theta0, gtol: float = 1e-11, max_iter: int = 200) -> FlowResult:
    r"""Damped Newton iteration on $\nabla L = 0$ in float64 (converges to saddles as well).

    Step: pseudo-inverse of the Hessian (eigenvalues below $10^{-9}\|H\|$ dropped),
    backtracking on $|\nabla L|$.
    """
    theta = check_problem(problem).check_theta(theta0).copy()
    gtol = check_positive(gtol, "gtol")
    max_iter = check_count(max_iter, "max_iter", maximum=MAX_ITER)
    g = problem.gradient(theta)
    gn = float(np.linalg.norm(g))
    for it in range(max_iter):
        if gn <= gtol:
            return _result(problem, theta, gtol, it, "gradient below gtol")
        lam, Q = np.linalg.eigh(problem.hessian(theta))
        step = pseudo_inverse_step(lam, Q, g, 1e-9)
        t = 1.0
        while t > 1e-6:
            trial = theta + t * step
            try:
                gt = problem.gradient(trial)
            except DomainError:
                gt = None
            if gt is not None and float(np.linalg.norm(gt)) < (1 - 1e-4 * t) * gn:
                break
            t *= 0.5
        else:
            return _result(problem, theta, gtol, it, "line search failed")
        theta, g = trial, gt
        gn = float(np.linalg.norm(g))
    return _result(problem, theta, gtol, max_iter, "maximum iterations reached")


# ---------------------------------------------------------------------------
# mpmath refinement
# ---------------------------------------------------------------------------
def refine(problem, theta, dps: int = 50, tol=None, max_iter: int = 40, classify_point: bool = True,
           null_rel: float = 1e-9, verbose: bool = False, reduce: bool = True) -> CriticalPoint:
    r"""Refine a critical point of ``problem`` to ``dps`` digits by Newton's method in mpmath.

    Iterates $\theta \leftarrow \theta - \nabla^2L(\theta)^{-1}\nabla L(\theta)$ with the
    analytic gradient at ``dps + 15`` digits and the analytic Hessian at the
    precision the step needs (see the module docstring), until
    $|\nabla L| \le$ ``tol`` (default $10^{-dps}$).  Near-singular Hessians get
    a gauge-fixed (bordered) step.  Raises :class:`~symland.errors.ConvergenceError`
    with the residual history if the tolerance is not reached in ``max_iter``
    iterations or the iteration diverges.

    With ``reduce=True`` and ``d > |supp V| + n`` the problem is solved exactly
    in the span of the weights (:mod:`symland.problems.reduction`) and the point lifted
    back; its full-space Hessian spectrum is the reduced one plus $2S_{WW}$ for
    each unused direction, so ``d`` does not drive the cost.
    """
    check_problem(problem)
    prec = Precision(check_dps(dps))  # an integer number of digits (dps=None would mean float64 here)
    dps = prec.dps
    # max_iter = 0 may only check a point that is already critical; a negative count would skip the test
    max_iter = check_count(max_iter, "max_iter", minimum=0, maximum=MAX_ITER)
    null_rel = check_positive(null_rel, "null_rel")
    if not null_rel < 1:
        raise DomainError(f"argument null_rel must be < 1 (a fraction of ||H||), got {null_rel}")
    if tol is not None:
        check_positive(tol, "tol")
    classify_point, verbose = check_flag(classify_point, "classify_point"), check_flag(verbose, "verbose")
    reduce = check_flag(reduce, "reduce")
    with prec:  # validated before either path (the reduced one starts from float64 values)
        theta = problem.check_theta(theta, Precision(prec.work_dps))
    # GLU problems are solved in full: the reduction maps ordinary neurons only
    red = (reduce_dimension(problem) if reduce and isinstance(problem, TeacherStudent) and not problem.glus
           else None)
    if red is not None:
        start = np.array([float(v) for v in theta])
        theta_r = red.reduce(start)
        cp = refine(red.reduced, theta_r, dps=dps, tol=tol, max_iter=max_iter, classify_point=False,
                    null_rel=null_rel, verbose=verbose, reduce=False)
        reduced_theta = cp.theta
        cp.theta = red.lift(cp.theta)
        with prec:
            gn = mp_norm(problem.gradient(cp.theta, dps=prec.work_dps))
        cp.gradient_norm = prec.finalize(gn)
        cp.reduction = (red, reduced_theta)
        if classify_point:
            classify(problem, cp)
        return cp
    work = prec.work_dps
    with prec:
        tol = thread_mp.mpf(10) ** (-dps) if tol is None else thread_mp.mpf(tol)
        th = problem.check_theta(theta, Precision(work))
        history = []
        hint = {}  # digits the ball midpoints need beyond `work` (near an aligned relu pair)
        g = _gradient(problem, th, work, hint)
        g0 = mp_norm(g)
        exact_hessian = False  # float64-Hessian steps contract by ~kappa*u; exact ones once they do not
        Hf, moved = None, 0.0
        for it in range(max_iter + 1):
            gn = mp_norm(g)
            history.append(thread_mp.nstr(gn, 8))
            if verbose:
                print(f"refine: iteration {it}, |grad| = {thread_mp.nstr(gn, 5)}")
            if gn <= tol:
                break
            if it == max_iter or not thread_mp.isfinite(gn) or (it > 3 and gn > 1e6 * max(g0, 1)):
                raise ConvergenceError(
                    f"Newton refinement did not reach |grad| <= {thread_mp.nstr(tol, 3)} in {it} iterations "
                    f"(last |grad| = {thread_mp.nstr(gn, 5)}); the start may not be near a critical point",
                    history,
                )
            if Hf is None or moved > 1e-7 * max(1.0, float(mp_norm(th))):
                # a float64 Hessian changes by O(|step|) between late iterates: reuse it while the points
                # it was taken at lie within 1e-7 (a chord step then still gains ~7 digits; it costs
                # an mpmath evaluation where float64 cannot evaluate, e.g. a relu student on its teacher)
                Hf, moved = _float_hessian(problem, th), 0.0
            null, lam = null_basis(Hf, null_rel)
            # float estimate of the step decides the Hessian precision it needs
            gf = np.array([float(v) for v in g])
            est = gauge_fixed_step(Hf, null, gf)
            step_norm = max(float(np.linalg.norm(est)), 1e-300)
            need = min(-math.log10(step_norm), work + math.log10(step_norm)) + 6
            exact = exact_hessian and need > 13
            Hmp = _hessian(problem, th, max(16, min(work, int(need) + 5))) if exact else None
            delta = refined_solve(Hf, Hmp, -g, border=null)
            th = th + delta
            moved += float(mp_norm(delta))
            g = _gradient(problem, th, work, hint)
            if not exact and mp_norm(g) > 1e-6 * gn:
                exact_hessian = True
        # error estimate of theta: the next Newton correction
        if Hf is None or moved > 1e-7 * max(1.0, float(mp_norm(th))):
            Hf = _float_hessian(problem, th)
        null, _ = null_basis(Hf, null_rel)
        nxt = float(np.linalg.norm(gauge_fixed_step(Hf, null, np.array([float(v) for v in g]))))
        scale = max(1.0, float(mp_norm(th)))
        err = max(nxt / scale, 10.0 ** (-dps))
        digits = int(min(dps, math.floor(-math.log10(err))))
        rounded = prec.finalize(th)
        # report loss and gradient at the returned (rounded) parameters
        loss, g = _loss_and_gradient(problem, rounded, work, hint)
        gn = mp_norm(g)
    cp = CriticalPoint(
        theta=rounded,
        loss=prec.finalize(loss),
        gradient_norm=prec.finalize(gn),
        dps=dps,
        digits=digits,
        iterations=len(history) - 1,
        history=history,
        frozen=int(null.shape[1]),
        null_rel=null_rel,
    )
    if classify_point:
        classify(problem, cp)
    return cp


def _loss_and_gradient(problem, th, dps, hint=None):
    """``(loss, gradient)`` at ``dps`` digits: midpoints of python-flint balls when the problem
    has a ball form (:func:`~symland.problems.enclosure.midpoint_evaluation`, 3-4x faster than
    mpmath; ``hint`` carries the extra digits between the iterates of one refinement), else mpmath."""
    ev = midpoint_evaluation(problem, th, dps, 1, hint)
    return problem.loss_and_gradient(th, dps=dps) if ev is None else (ev.loss, ev.gradient)


def _gradient(problem, th, dps, hint=None):
    return _loss_and_gradient(problem, th, dps, hint)[1]


def _hessian(problem, th, dps):
    """The Hessian at ``dps`` digits, as :func:`_loss_and_gradient` (ball Hessians are up to 18x faster)."""
    ev = midpoint_evaluation(problem, th, dps, 2)
    return problem.hessian(th, dps=dps) if ev is None else ev.hessian


def _spectrum_hessian(problem, th, dps):
    """The Hessian for :func:`~symland.landscape.spectrum.hessian_spectrum`: its python-flint ball
    enclosure where the problem has a ball form and it is finite (no conversion to mpmath, and the
    eigenvalue bounds then hold for the exact Hessian), else mpmath numbers."""
    if has_ball_form(problem):
        try:
            return enclose(problem, th, dps, 2).hessian
        except DomainError:
            pass
    return problem.hessian(th, dps=dps)


def _float_hessian(problem, th):
    """Hessian rounded to float64 at an mpmath iterate.

    Evaluated in float64 at the rounded point, unless rounding lands exactly on
    a singular configuration (e.g. a relu student rounded onto its teacher):
    then at the unrounded iterate, in ball arithmetic (midpoints) or mpmath.
    """
    try:
        return problem.hessian(np.array([float(v) for v in th]))
    except DomainError:
        return np.array(_hessian(problem, th, 30), dtype=float)




# ---------------------------------------------------------------------------
# classification
# ---------------------------------------------------------------------------
def predicted_zero_modes(problem, theta, tol: float = 1e-8) -> dict:
    r"""Zero modes of the Hessian that the model's symmetries predict at ``theta``.

    * ``rescaling``: for $s$ positively homogeneous of degree $p$ and trained
      output weights, $(w_i, a_i) \to (t w_i, t^{-p} a_i)$ — one per neuron
      with $w_i \ne 0$, $a_i \ne 0$.
    * ``rotations``: rotations of the $m = d - \operatorname{rank} V$ input
      directions orthogonal to the teacher fix the loss; their orbit through
      $W$ has dimension $\binom{m}{2} - \binom{m - r}{2}$, $r$ = rank of the
      student weights projected on that complement.
    * ``duplicates``: with trained output weights, $g$ copies of one input
      weight vector give $g - 1$ directions shifting output weight between them.
    * ``zero_neurons``: with trained output weights and $s(0) = 0$, a neuron
      with $w_i = 0$ leaves $a_i$ free.

    With GLU units $g_j = c_j s(w_j\cdot x) + (v_j\cdot x)s'(w_j\cdot x)$ (``glus > 0``) the
    same sources count them too: ``rescaling`` $(c, w, v) \to (t^{-p}c, tw, t^{1-p}v)$ per
    GLU with $w_j \ne 0$; ``glu_shift`` $(c, v) \to (c - \beta p, v + \beta w)$ (Euler:
    $(w\cdot x)s'(w\cdot x) = p\,s(w\cdot x)$) per GLU with $w_j \ne 0$; ``rotations`` act on
    $w_j, v_j$ as well; ``duplicates``: units sharing one input weight vector (trained neurons
    and GLUs, $g + h$ of them) shift output weight among themselves ($g + h - 1$ directions),
    and $h$ GLUs also shift $v$ ($(h - 1)d$ directions); ``zero_neurons`` also counts GLUs
    with $w_j = 0$ when $s(0) = 0$ ($c_j$ free).

    Other landscapes state their own: ``problem.zero_modes(theta, tol)``.
    """
    if not isinstance(problem, TeacherStudent):
        return problem.zero_modes(theta, tol)
    unpacked = problem.unpack(np.array([float(v) for v in theta]))
    W, a = unpacked.W, unpacked.a
    n_glu = getattr(problem, "glus", 0)
    if n_glu:
        gw, gv = unpacked.glu_w, unpacked.glu_v
    else:
        gw, gv = np.zeros((0, problem.d)), np.zeros((0, problem.d))
    act = problem.activation
    out = {}
    nz = np.linalg.norm(W, axis=1) > tol
    gnz = np.linalg.norm(gw, axis=1) > tol
    p = act.homogeneity_degree
    if p is not None and (problem.train_output or n_glu):
        resc = int(np.count_nonzero(nz & (np.abs(a) > tol))) if problem.train_output else 0
        out["rescaling"] = resc + int(np.count_nonzero(gnz))
        if n_glu:
            out["glu_shift"] = int(np.count_nonzero(gnz))
    V = problem.teacher_weights
    rank_v = np.linalg.matrix_rank(V, tol=1e-10)
    m = problem.d - rank_v
    if m > 1:
        if rank_v:
            Qv, _ = np.linalg.qr(V.T)
            Wp = np.concatenate([W, gw, gv]) - (np.concatenate([W, gw, gv]) @ Qv[:, :rank_v]) @ Qv[:, :rank_v].T
        else:
            Wp = np.concatenate([W, gw, gv])
        r = np.linalg.matrix_rank(Wp, tol=1e-7) if Wp.size else 0
        out["rotations"] = int(m * (m - 1) // 2 - (m - r) * (m - r - 1) // 2)
    if problem.train_output or n_glu:
        # units with a free scalar output weight: trained neurons, then GLUs
        Wu = np.concatenate([W, gw]) if problem.train_output else gw
        is_glu = np.arange(len(Wu)) >= (len(Wu) - n_glu)
        unz = np.concatenate([nz, gnz]) if problem.train_output else gnz
        used = np.zeros(len(Wu), bool)
        dup = 0
        for i in range(len(Wu)):
            if used[i] or not unz[i]:
                continue
            same = np.linalg.norm(Wu - Wu[i], axis=1) <= tol * max(1.0, np.linalg.norm(Wu[i]))
            used |= same
            dup += int(np.count_nonzero(same)) - 1
            h = int(np.count_nonzero(same & is_glu))
            dup += max(h - 1, 0) * problem.d
        if dup:
            out["duplicates"] = dup
        zero = (int(np.count_nonzero(~nz)) if problem.train_output else 0) + int(np.count_nonzero(~gnz))
        if act.vanishes_at_zero and zero:
            out["zero_neurons"] = zero
    return out


def symmetric_eigenvalues(H, methods: list):
    r"""Eigenvalues of the symmetric mpmath matrix ``H`` (ascending) to the current mpmath precision;
    appends ``(method, bound)`` to ``methods``, ``bound`` the largest rigorous error bound
    (:func:`~symland.landscape.spectrum.hessian_spectrum`)."""
    spec = hessian_spectrum(H, thread_mp.dps)
    methods.append((spec.method, max(spec.errors, default=0.0)))
    return list(spec.values)


def classify(problem, cp: CriticalPoint) -> CriticalPoint:
    """Fill in the Hessian spectrum, index, nullity and kind of a refined point (in place)."""
    check_problem(problem)
    if not isinstance(cp, CriticalPoint):
        raise DomainError(f"argument cp must be a CriticalPoint (from refine), got {type(cp).__name__}")
    if len(cp.theta) != problem.num_params:
        raise DomainError(f"argument cp: its theta has {len(cp.theta)} entries, problem has {problem.num_params}")
    prec = Precision(cp.dps)
    work = prec.work_dps
    spectrum_dps = cp.dps + 5  # eigenvalues to a few digits beyond those reported
    with prec:
        if cp.reduction is not None:
            # block-diagonal full Hessian: reduced Hessian, and 2 S_WW per unused direction
            red, theta_r = cp.reduction
            spec = hessian_spectrum(_spectrum_hessian(red.reduced, theta_r, work), spectrum_dps)
            extra = hessian_spectrum(2 * red.reduced.gram_gradient(theta_r, dps=work), spectrum_dps)
            pairs = sorted(list(zip(spec.values, spec.errors))
                           + list(zip(extra.values, extra.errors)) * red.unused, key=lambda p: p[0])
            methods = {spec.method, extra.method}
        else:
            spec = hessian_spectrum(_spectrum_hessian(problem, cp.theta, work), spectrum_dps)
            pairs = list(zip(spec.values, spec.errors))
            methods = {spec.method}
        lam = [v for v, _ in pairs]
        errors = [e for _, e in pairs]
        hnorm = max(abs(v) for v in lam) if lam else thread_mp.mpf(0)
        thr = 1000 * max(hnorm, 1) * (thread_mp.mpf(10) ** (-cp.digits) + thread_mp.mpf(10) ** (-cp.dps))
        if cp.frozen:
            thr = max(thr, 10 * thread_mp.mpf(cp.null_rel) * hnorm)
        # proven below -thr / within +-thr of 0 (each eigenvalue known to its error bound)
        index = sum(1 for v, e in pairs if v + e < -thr)
        nullity = sum(1 for v, e in pairs if abs(v) - e <= thr)
    sources = predicted_zero_modes(problem, cp.theta)
    predicted = sum(sources.values())
    if index == len(lam) and len(lam):
        kind = "maximum"
    elif index > 0:
        kind = "saddle"
    elif nullity > predicted:
        kind = "degenerate"
    else:
        kind = "minimum"
    cp.spectrum_method = "; ".join(sorted(methods))
    cp.eigenvalues = [prec.finalize(v) for v in lam]
    # the reported eigenvalues are rounded to dps digits: that rounding joins each bound
    cp.eigenvalue_errors = [e + 0.5 * 10.0 ** (1 - cp.dps) * abs(float(v)) for v, e in zip(lam, errors)]
    cp.threshold = prec.finalize(thr)
    cp.index, cp.nullity, cp.predicted_nullity, cp.zero_mode_sources, cp.kind = (
        index, nullity, predicted, sources, kind)
    return cp
