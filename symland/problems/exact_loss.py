r"""The teacher-student loss and gradient as exact SymPy expressions (plain problems).

For exact parameters (SymPy numbers) and the exact teacher (its float entries at their binary
values), with units $u_p$ (students $w_i$, then teachers $v_r$), signed outputs
$\alpha = [a; -b]$, Gram entries $G_{pq} = u_p\cdot u_q$, $K_{pq} = \kappa(G_{pp}, G_{qq}, G_{pq})$
($p \ne q$) and $K_{pp} = \varphi(G_{pp})$ (:func:`~symland.kernels.partials.kernel_at`,
:func:`~symland.kernels.partials.phi_at`):

.. math:: L = \tfrac12\sum_{p,q}\alpha_p\alpha_q K_{pq},\qquad
          \nabla_{w_i}L = \alpha_i^2\varphi'(G_{ii})\,w_i + \sum_{q\ne i}\alpha_i\alpha_q
          \bigl(2\kappa_a(G_{ii}, G_{qq}, G_{iq})\,w_i + \kappa_c(G_{ii}, G_{qq}, G_{iq})\,u_q\bigr),
          \qquad \partial L/\partial a_i = \sum_q \alpha_q K_{iq}.

Used to *prove* a recognised critical point: every gradient component is shown to be exactly
zero (:func:`~symland.numerics.exact.prove_zero`).
"""

from __future__ import annotations

import sympy

from ..errors import NoClosedFormError, ShapeError
from ..kernels.partials import kernel_at, phi_at

__all__ = ["exact_loss_and_gradient", "exact_number"]


def exact_number(x) -> sympy.Expr:
    """A float at its exact binary value, an int or SymPy number as it is."""
    if isinstance(x, sympy.Basic):
        return x
    return sympy.Rational(float(x)) if not float(x).is_integer() else sympy.Integer(int(float(x)))


def exact_loss_and_gradient(problem, theta) -> tuple:
    """``(loss, [gradient entries])`` as exact SymPy expressions at the exact parameters ``theta``
    (module docstring); plain problems with a closed-form kernel only."""
    if not getattr(problem, "is_plain", False) or getattr(problem, "glus", 0):
        raise NoClosedFormError(f"{problem!r}: exact expressions cover plain problems (no biases, one activation, "
                                "no GLU units)")
    if len(theta) != problem.num_params:
        raise ShapeError(f"argument theta must have {problem.num_params} entries, got {len(theta)}")
    act, n, d = problem.activation, problem.n, problem.d
    th = [exact_number(v) for v in theta]
    W = [sympy.Matrix(th[i * d:(i + 1) * d]) for i in range(n)]
    a = th[n * d:] if problem.train_output else [exact_number(v) for v in problem.student_output]
    V = [sympy.Matrix([exact_number(x) for x in row]) for row in problem.teacher_weights]
    units = W + V
    alpha = list(a) + [-exact_number(b) for b in problem.teacher_output]
    P = len(units)
    G = [[(units[p].T * units[q])[0] for q in range(P)] for p in range(P)]

    def K(p, q, index=(0, 0, 0)):
        return kernel_at(act, index, G[p][p], G[q][q], G[p][q])

    loss = sum((alpha[p] ** 2 * phi_at(act, 0, G[p][p]) for p in range(P)), sympy.Integer(0)) / 2
    loss += sum((alpha[p] * alpha[q] * K(p, q) for p in range(P) for q in range(p + 1, P)), sympy.Integer(0))
    grad = []
    for i in range(n):
        g = alpha[i] ** 2 * phi_at(act, 1, G[i][i]) * W[i]
        for q in range(P):
            if q != i:
                g += alpha[i] * alpha[q] * (2 * K(i, q, (1, 0, 0)) * W[i] + K(i, q, (0, 0, 1)) * units[q])
        grad.extend(list(g))
    if problem.train_output:
        for i in range(n):
            grad.append(alpha[i] * phi_at(act, 0, G[i][i])
                        + sum((alpha[q] * K(i, q) for q in range(P) if q != i), sympy.Integer(0)))
    return loss, grad
