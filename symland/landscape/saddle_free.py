r"""Saddle-free Newton: Newton's step with the Hessian's eigenvalues replaced by their moduli.

Step (Euclidean form, float64, exact Hessian $H = Q\Lambda Q^\top$):

.. math:: \Delta\theta = -(H^2 + \delta I)^{-1/2}\nabla L
          = -Q\,\mathrm{diag}\bigl((\lambda_i^2 + \delta)^{-1/2}\bigr)Q^\top\nabla L .

Along positive curvature it is Newton's step; along negative curvature it points *downhill*
(the sign of $\lambda_i$ is dropped), so saddles repel the iteration where Newton's method is
attracted to them.  $\nabla L^\top\Delta\theta < 0$ whenever $\nabla L \ne 0$: every step is a
descent direction.

* **Regularisation** $\delta = \delta_0\,\|\nabla L\|^2$ (default $\delta_0 = 1$): it bounds the
  step along flat directions far from a critical point (by about $1/\sqrt{\delta_0}$ per unit of
  gradient) and vanishes at one, so the iteration becomes Newton's method near a nondegenerate
  minimum: with $\nabla L \approx \lambda x$ along an eigenvector, the next error is
  $x\,\delta/(2\lambda^2) \approx x^3\delta_0/2$, faster than quadratic.  (A regularisation
  linear in $\|\nabla L\|$ leaves the factor $\|\nabla L\|/(2\lambda^2)$, which is not small
  until $\|\nabla L\| \ll \lambda_{\min}^2$: linear convergence at realistic points.)
* **Safeguards**: the step is cut to the trust radius ``radius`` (default 1, scaled by
  $\max(1, \|\theta\|)$), and halved until the loss decreases by an Armijo fraction
  $10^{-4}\,\nabla L^\top\Delta\theta$; a step that cannot decrease the loss ends the iteration
  (``message``).

It is a solver of the :func:`~symland.landscape.critical.minimize` family: same arguments, a
:class:`~symland.landscape.critical.FlowResult`, usable by surveys (``solver="sfn"``).

**Wasserstein particle form** (:func:`wasserstein_saddle_free_newton`, ``solver="wsfn"``).  In the
mean-field parametrisation $f = \frac1n\sum_i \tilde a_i s(w_i\cdot x)$ ($\tilde a_i = n a_i$) a
network is the empirical measure $\mu = \frac1n\sum_i\delta_{(\tilde a_i, w_i)}$ of its particles,
and $L(\mu) = \tfrac12E[(f_\mu - f^*)^2]$.  With the $L^2(\mu)$ metric on particle velocities,
$\langle u, v\rangle_\mu = \frac1n\sum_i u_i\cdot v_i$, the Wasserstein gradient and Hessian at the
particles are $n$ times the Euclidean ones in particle coordinates $\vartheta = (w_i, \tilde a_i)$:
$g_W = n\nabla_\vartheta L$, $H_W = n\nabla^2_\vartheta L$ (the metric is constant).  The WSFN step
$\Delta\vartheta = -(H_W^2 + \delta I)^{-1/2}g_W$, $\delta = \delta_0\|g_W\|^2$, is therefore the
Euclidean saddle-free step in particle coordinates; it differs from :func:`saddle_free_newton` on
$(w, a)$ through the coordinates ($\tilde a = na$ rescales the output block of the Hessian by
$1/n^2$, of the mixed blocks by $1/n$).  Teacher-student problems with trained output weights only.
"""

from __future__ import annotations

import numpy as np

from ..errors import DomainError
from ..numerics.precision import FLOAT64
from ..problems.protocol import Evaluation, Landscape
from ..problems.teacher_student import TeacherStudent
from ..numerics.arguments import check_count, check_positive
from .critical import MAX_ITER, FlowResult, check_problem

__all__ = ["saddle_free_newton", "saddle_free_step", "wasserstein_saddle_free_newton", "MeanFieldParticles"]


def saddle_free_step(H, g, delta: float) -> np.ndarray:
    r"""$-(H^2 + \delta I)^{-1/2} g$ from the eigendecomposition of the symmetric ``H``."""
    lam, Q = np.linalg.eigh((H + H.T) / 2)
    return -Q @ ((Q.T @ g) / np.sqrt(lam * lam + delta))


def saddle_free_newton(problem, theta0, gtol: float = 1e-10, max_iter: int = 500, delta0: float = 1.0,
                       radius: float = 1.0) -> FlowResult:
    """Saddle-free Newton from ``theta0`` until ``|grad L| <= gtol`` (module docstring)."""
    theta = check_problem(problem).check_theta(theta0).copy()
    gtol, delta0, radius = check_positive(gtol, "gtol"), check_positive(delta0, "delta0"), check_positive(radius,
                                                                                                         "radius")
    max_iter = check_count(max_iter, "max_iter", maximum=MAX_ITER)
    loss, g = problem.loss_and_gradient(theta)
    history = []
    for it in range(max_iter + 1):
        gn = float(np.linalg.norm(g))
        history.append(gn)
        if gn <= gtol:
            return FlowResult(theta, float(loss), gn, True, it, "gradient below gtol")
        if it == max_iter:
            break
        H = problem.hessian(theta)
        if not np.all(np.isfinite(H)):
            return FlowResult(theta, float(loss), gn, False, it, "the Hessian is not finite at this iterate")
        step = saddle_free_step(H, g, delta0 * gn * gn)
        limit = radius * max(1.0, float(np.linalg.norm(theta)))
        norm = float(np.linalg.norm(step))
        if norm > limit:
            step *= limit / norm
        slope = float(g @ step)
        t = 1.0
        while t > 1e-12:
            trial = theta + t * step
            try:
                trial_loss, trial_g = problem.loss_and_gradient(trial)
            except DomainError:
                trial_loss = np.inf
            if np.isfinite(trial_loss) and trial_loss <= loss + 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            return FlowResult(theta, float(loss), gn, False, it, "line search failed: no decrease along the step")
        theta, loss, g = trial, trial_loss, trial_g
    gn = float(np.linalg.norm(g))
    return FlowResult(theta, float(loss), gn, gn <= gtol, max_iter, "maximum iterations reached")


class MeanFieldParticles(Landscape):
    r"""A teacher-student problem with trained outputs in particle coordinates
    $\vartheta = (W, \tilde a)$, $\tilde a = n a$ (module docstring): $L(\vartheta) = L(W, \tilde a/n)$."""

    name = "mean-field particles"

    def __init__(self, problem):
        if not isinstance(problem, TeacherStudent) or not problem.train_output or problem.glus:
            raise DomainError("argument problem must be a TeacherStudent with trained output weights and no GLU "
                              "units (the particles carry their output weights)")
        self.problem, self.num_params = problem, problem.num_params
        self.loss_statement = problem.loss_statement
        nd = problem.n * problem.d
        # theta = scale * vartheta: W unchanged, a = a_tilde / n (and biases unchanged)
        self.scale = np.ones(problem.num_params)
        self.scale[nd:nd + problem.n] = 1.0 / problem.n

    def check_theta(self, theta, prec=FLOAT64):
        return self.problem.check_theta(theta, prec)

    def to_standard(self, vartheta):
        return np.asarray(vartheta) * self.scale

    def to_particles(self, theta):
        return np.asarray(theta) / self.scale

    def evaluate(self, theta, prec, order):
        ev = self.problem.evaluate(self.to_standard(self.check_theta(theta, prec)), prec, order)
        grad = None if ev.gradient is None else ev.gradient * self.scale
        hess = None if ev.hessian is None else ev.hessian * np.outer(self.scale, self.scale)
        return Evaluation(ev.loss, grad, hess)


def wasserstein_saddle_free_newton(problem, theta0, gtol: float = 1e-10, max_iter: int = 500, delta0: float = 1.0,
                                   radius: float = 1.0) -> FlowResult:
    """WSFN in particle form (module docstring) from ``theta0`` (standard parametrisation); the result
    is in the standard parametrisation, ``gtol`` applies to its gradient."""
    particles = MeanFieldParticles(check_problem(problem))
    gtol = check_positive(gtol, "gtol")
    # in particle coordinates the Wasserstein gradient and Hessian are n times the Euclidean ones, and the
    # saddle-free step is unchanged by that common factor when delta scales with |g_W|^2 = n^2 |g|^2; the
    # output block of the particle gradient is 1/n of the standard one, so gtol / n there bounds the latter
    res = saddle_free_newton(particles, particles.to_particles(problem.check_theta(theta0)),
                             gtol=gtol / problem.n, max_iter=max_iter, delta0=delta0, radius=radius)
    theta = particles.to_standard(res.theta)
    loss, g = problem.loss_and_gradient(theta)
    gn = float(np.linalg.norm(g))
    return FlowResult(theta, float(loss), gn, gn <= gtol, res.iterations, res.message)
