r"""Neural-tangent-kernel order parameters of a two-layer network under Gaussian input, in closed form.

Definitions (with $x, x'$ independent $N(0, I_d)$, student $f(x) = \sum_i a_i s(w_i\cdot x)$):

* $\Theta(x, x') = \sum_i\bigl[s(w_i\cdot x)s(w_i\cdot x') + a_i^2(x\cdot x')s'(w_i\cdot x)s'(w_i\cdot x')\bigr]
  = \varphi(x)\cdot\varphi(x')$, $\varphi = \nabla_\theta f$ (the first term is dropped when the
  output weights are fixed: they are not parameters then);
* trace $E[\Theta(x, x)]$; Frobenius norm $E[\Theta(x, x')^2]^{1/2}$;
* alignment with a function $g$: $A(g) = E[\Theta(x, x')g(x)g(x')]\,/\,(E[\Theta^2]^{1/2}E[g^2])$;
  target alignment $A(f^*)$, residual alignment $A(f - f^*)$;
* the NTK operator $(Tg)(x) = E_{x'}[\Theta(x, x')g(x')]$ has rank at most $P$; its nonzero
  eigenvalues are those of the $P\times P$ matrix $G = E[\varphi\varphi^\top]$ (as $T = \Phi\Phi^*$ and
  $G = \Phi^*\Phi$ for $\Phi c = c\cdot\varphi$).

**Closed form.**  Everything is a moment of $\varphi$: trace $= \operatorname{tr} G$,
$E[\Theta^2] = \|G\|_F^2$, $E[\Theta gg] = \|E[\varphi g]\|^2$.  $G$ is the Gauss-Newton matrix,
obtained exactly as a Hessian block: for the network of $2n$ students $(\theta, \theta')$ and no
teacher, $L_2 = \tfrac12E[(f_\theta + f_{\theta'})^2]$ and $\partial_\theta\partial_{\theta'}L_2 =
E[\nabla f_\theta\nabla f_{\theta'}^\top]$, which at $\theta' = \theta$ is $G$ (every closed-form kernel,
any precision).  $E[\varphi(f - f^*)] = \nabla L$; $E[\varphi f] = \nabla\tfrac12E[f^2]$ (the problem
without teacher), so $E[\varphi f^*] = E[\varphi f] - \nabla L$; $E[(f - f^*)^2] = 2L$ and
$E[f^{*2}] = 2\cdot$ the loss of $k$ students at $(V, 2b)$.  Plain problems (no biases, one
activation); at exactly equal neurons a kinked kernel's Gauss-Newton block is singular in this
form and raises :class:`~symland.errors.DomainError`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import ShapeError
from ..numerics.mpcontext import thread_mp
from ..numerics.precision import Precision
from ..problems.teacher_student import TeacherStudent
from .critical import check_problem

__all__ = ["NTKOrderParameters", "ntk_order_parameters", "gauss_newton_matrix"]


@dataclasses.dataclass(frozen=True)
class NTKOrderParameters:
    """The order parameters of the module docstring (floats, or mpmath numbers at ``dps``)."""

    trace: object
    frobenius: object
    target_alignment: object
    residual_alignment: object
    eigenvalues: list  # of G = E[phi phi^T], descending (the NTK operator's nonzero spectrum)
    dps: int | None = None

    def to_dict(self) -> dict:
        show = (lambda v: thread_mp.nstr(v, self.dps)) if self.dps else float
        return {"trace": show(self.trace), "frobenius": show(self.frobenius),
                "target_alignment": show(self.target_alignment),
                "residual_alignment": show(self.residual_alignment),
                "eigenvalues": [show(v) for v in self.eigenvalues], "dps": self.dps}


def _require_plain(problem):
    check_problem(problem)
    if not isinstance(problem, TeacherStudent) or not problem.is_plain:
        raise ShapeError("argument problem: the NTK order parameters cover plain teacher-student problems "
                         "(no biases, one activation, no GLU units)")


def gauss_newton_matrix(problem, theta, dps=None):
    r"""$G = E[\nabla_\theta f\,\nabla_\theta f^\top]$ (module docstring), float64 or at ``dps`` digits."""
    _require_plain(problem)
    n, d = problem.n, problem.d
    with Precision(dps):
        th = problem.check_theta(theta, Precision(dps))
    W = th[:n * d].reshape(n, d)
    doubled = TeacherStudent(problem.activation, np.eye(1, d), np.zeros(1), n=2 * n,
                             train_output=problem.train_output,
                             student_output=None if problem.train_output else np.concatenate(
                                 [problem.student_output, problem.student_output]))
    if problem.train_output:
        a = th[n * d:]
        both = np.concatenate([np.concatenate([W, W]).ravel(), np.concatenate([a, a])])
        first = list(range(n * d)) + list(range(2 * n * d, 2 * n * d + n))
        second = list(range(n * d, 2 * n * d)) + list(range(2 * n * d + n, 2 * n * d + 2 * n))
    else:
        both = np.concatenate([W, W]).ravel()
        first, second = list(range(n * d)), list(range(n * d, 2 * n * d))
    H = doubled.hessian(both, dps=dps)
    return H[np.ix_(first, second)]


def ntk_order_parameters(problem, theta, dps=None, top: int = 5) -> NTKOrderParameters:
    """Trace, Frobenius norm, target and residual alignment and the ``top`` eigenvalues of the NTK of
    ``problem``'s student at ``theta`` (module docstring), float64 (``dps=None``) or at ``dps`` digits."""
    _require_plain(problem)
    G = gauss_newton_matrix(problem, theta, dps)
    no_teacher = TeacherStudent(problem.activation, np.eye(1, problem.d), np.zeros(1), n=problem.n,
                                train_output=problem.train_output, student_output=problem.student_output)
    k = problem.k
    teacher_twice = TeacherStudent(problem.activation, problem.teacher_weights, problem.teacher_output, n=k)
    loss, grad = problem.loss_and_gradient(theta, dps=dps)
    grad_f2 = no_teacher.gradient(theta, dps=dps)
    f_star_sq = 2 * teacher_twice.loss(teacher_twice.pack(problem.teacher_weights, 2 * problem.teacher_output),
                                       dps=dps)
    prec = Precision(dps)
    with prec:
        if dps is None:
            G = np.array(G, dtype=float)
            lam = sorted(np.linalg.eigvalsh((G + G.T) / 2), reverse=True)
            frob = float(np.linalg.norm(G))
            trace = float(np.trace(G))
            res, tgt = np.asarray(grad, float), np.asarray(grad_f2, float) - np.asarray(grad, float)
            res_align = float(res @ res) / (frob * 2 * float(loss)) if loss > 0 else float("nan")
            tgt_align = float(tgt @ tgt) / (frob * float(f_star_sq))
        else:
            Gm = thread_mp.matrix(G.tolist())
            lam = sorted(thread_mp.eigsy((Gm + Gm.T) / 2, eigvals_only=True), reverse=True)
            frob = thread_mp.sqrt(thread_mp.fsum(x * x for x in np.ravel(G)))
            trace = thread_mp.fsum(G[i, i] for i in range(len(G)))
            res = [thread_mp.mpf(v) for v in grad]
            tgt = [thread_mp.mpf(u) - thread_mp.mpf(v) for u, v in zip(grad_f2, grad)]
            res_align = (thread_mp.fsum(x * x for x in res) / (frob * 2 * loss)) if loss > 0 else thread_mp.nan
            tgt_align = thread_mp.fsum(x * x for x in tgt) / (frob * f_star_sq)
        out = [trace, frob, tgt_align, res_align, list(lam[:top])]
        out = [prec.finalize(v) if not isinstance(v, list) else [prec.finalize(x) for x in v] for v in out]
    return NTKOrderParameters(*out, dps=dps)
