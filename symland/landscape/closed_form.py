r"""Closed forms of refined critical points: recognised from their digits, then proven.

:func:`closed_form` takes a refined :class:`~symland.landscape.point.CriticalPoint` (30+ digits) of
a landscape and

1. brings it to its orbit representative (teacher-student problems:
   :func:`~symland.landscape.symmetry.canonical_form`), whose coordinates are often algebraic;
2. recognises every coordinate (:func:`~symland.numerics.recognise.recognise`: rationals,
   algebraic numbers, integer relations over $1, \pi, 1/\pi, \sqrt2, \sqrt3, \sqrt m/\pi$ and the
   arcsines of step 4, after a factor $\sqrt m$, $m \in$ :data:`SCALES`);
3. if every coordinate was recognised and the landscape has exact expressions
   (``exact_loss_and_gradient``), substitutes them: the point is **proven** critical when every
   gradient component is proven exactly zero (:func:`~symland.numerics.exact.prove_zero`), and its
   loss is then *derived*, simplified, from the exact coordinates;
4. otherwise recognises the loss alone, over a basis built from the problem: $1, \pi, 1/\pi$ and,
   for teacher-student problems, $\arcsin(r)/\pi$ and $\sqrt{1 - r^2}/\pi$ for the recognised
   kernel arguments $r$ of the point's pairs ($r = G_{pq}/\sqrt{G_{pp}G_{qq}}$ and
   $G_{pq}/\sqrt{(1 + G_{pp})(1 + G_{qq})}$, the arguments of the relu and erf kernels); such a loss
   is *recognised, not proven*;
5. recognises the Hessian eigenvalues the same way (recognised, not proven).

Nothing is guessed: a value that resists recognition stays ``None`` and is listed in
``unrecognised``.
"""

from __future__ import annotations

import dataclasses
import itertools

import sympy

from ..errors import DomainError, NoClosedFormError
from ..numerics.exact import prove_zero
from ..numerics.mpcontext import thread_mp
from ..numerics.recognise import DEFAULT_BASIS, recognise
from ..problems.protocol import Landscape
from ..problems.teacher_student import TeacherStudent
from .symmetry import canonical_form

__all__ = ["ClosedForm", "closed_form"]

#: largest number of kernel-argument constants added to a basis
MAX_EXTRA_BASIS = 6
#: square-root factors tried in front of a coordinate (:func:`_recognise_scaled`)
SCALES = (1, 2, 3, 5, 6)


@dataclasses.dataclass
class ClosedForm:
    """What :func:`closed_form` found.  ``theta``: the orbit representative's coordinates (SymPy, or
    ``None`` where not recognised); ``proof``: ``"exact"`` (every gradient component proven zero) or
    the reason there is none; ``loss`` and ``loss_status`` (``"derived"`` from proven exact
    coordinates, ``"recognised"`` (not proven), or ``None``); ``eigenvalues`` (recognised, not
    proven; ``None`` entries where not); ``unrecognised``: names of the values left numeric."""

    theta: list
    proof: str
    loss: sympy.Expr | None
    loss_status: str | None
    eigenvalues: list | None
    unrecognised: list
    digits: int

    @property
    def proven(self) -> bool:
        return self.proof == "exact"

    def latex(self) -> str:
        parts = []
        if self.loss is not None:
            parts.append(f"L = {sympy.latex(self.loss)}")
        coords = ", ".join("?" if v is None else sympy.latex(v) for v in self.theta)
        parts.append(f"\\theta = ({coords})")
        return ",\\quad ".join(parts)

    def _repr_latex_(self):
        return f"${self.latex()}$"

    def __str__(self):
        coords = ", ".join("?" if v is None else str(v) for v in self.theta)
        loss = "not recognised" if self.loss is None else f"{self.loss}  ({self.loss_status})"
        lines = [f"loss: {loss}", f"theta (orbit representative): ({coords})",
                 f"criticality: {'proven exactly (every gradient component is exactly 0)' if self.proven else self.proof}"]
        if self.eigenvalues is not None:
            lines.append("Hessian eigenvalues (recognised, not proven): "
                         + ", ".join("?" if v is None else str(v) for v in self.eigenvalues))
        if self.unrecognised:
            lines.append(f"not recognised: {', '.join(self.unrecognised)}")
        return "\n".join(lines)


def _representative(problem, cp):
    """The orbit representative: teacher-student problems in canonical form, then (positively
    homogeneous activation of degree $p$, trained outputs) each neuron rescaled to $|w_i| = 1$,
    $a_i \to a_i|w_i|^p$ -- a point of the same orbit whose input weights are often algebraic."""
    if not isinstance(problem, TeacherStudent):
        return list(cp.theta)
    theta = list(canonical_form(problem, cp))
    p = problem.activation.homogeneity_degree if problem.is_plain else None
    if p is None or not problem.train_output:
        return theta
    n, d = problem.n, problem.d
    with thread_mp.workdps(cp.dps + 10):
        for i in range(n):
            norm = thread_mp.sqrt(thread_mp.fsum(x * x for x in theta[i * d:(i + 1) * d]))
            if norm > 0:
                theta[i * d:(i + 1) * d] = [x / norm for x in theta[i * d:(i + 1) * d]]
                theta[n * d + i] = theta[n * d + i] * norm ** p
    return theta


def _recognise_scaled(x, digits, basis):
    r""":func:`recognise` of $x/\sqrt m$ for $m$ in :data:`SCALES` (values like
    $\sqrt3(1/2 + \sqrt2/\pi + \arcsin(1/\sqrt3)/\pi)$ need the factor out before an integer relation
    exists); the candidate spending the fewest digits."""
    found = []
    for m in SCALES:
        with thread_mp.workdps(digits + 10):
            y = x / thread_mp.sqrt(m)
        rec = recognise(y, digits=digits, basis=basis)
        if rec is not None:
            found.append((rec.spent + (0 if m == 1 else 1), sympy.sqrt(m) * rec.expr if m != 1 else rec.expr))
    return min(found, key=lambda t: t[0])[1] if found else None


def _kernel_argument_basis(problem, theta, digits):
    """$\\arcsin(r)/\\pi$, $\\sqrt{1 - r^2}/\\pi$ for the recognised kernel arguments $r$ of the pairs."""
    if not isinstance(problem, TeacherStudent) or not problem.is_plain:
        return []
    n, d = problem.n, problem.d
    with thread_mp.workdps(digits + 10):
        U = [[thread_mp.mpf(v) for v in theta[i * d:(i + 1) * d]] for i in range(n)]
        U += [[thread_mp.mpf(float(x)) for x in row] for row in problem.teacher_weights]
        extra = []
        for p, q in itertools.combinations(range(len(U)), 2):
            g = [thread_mp.fsum(x * y for x, y in zip(U[i], U[j])) for i, j in ((p, p), (q, q), (p, q))]
            if g[0] <= 0 or g[1] <= 0:
                continue
            for r in (g[2] / thread_mp.sqrt(g[0] * g[1]), g[2] / thread_mp.sqrt((1 + g[0]) * (1 + g[1]))):
                rec = recognise(r, digits=digits, basis=(), max_degree=2)
                if rec is not None and rec.expr not in (0, 1, -1):
                    for c in (sympy.asin(rec.expr) / sympy.pi, sympy.sqrt(1 - rec.expr**2) / sympy.pi):
                        if c not in extra:
                            extra.append(c)
        return extra[:MAX_EXTRA_BASIS]


def closed_form(problem, cp, digits: int | None = None, eigenvalues: bool = True) -> ClosedForm:
    """Recognise and prove a closed form of the refined point ``cp`` (module docstring).  ``digits``:
    the digits trusted (default ``cp.digits``, at least 30 are needed)."""
    if not isinstance(problem, Landscape):
        raise DomainError(f"argument problem must be a landscape, got {type(problem).__name__}")
    digits = int(cp.digits if digits is None else digits)
    if digits < 30:
        raise DomainError(f"argument cp carries {digits} correct digits; recognition needs at least 30 "
                          "(refine to more digits first)")
    rep = _representative(problem, cp)
    kernel_basis = tuple(_kernel_argument_basis(problem, rep, digits))
    coord_basis = DEFAULT_BASIS + tuple(sympy.sqrt(m) / sympy.pi for m in SCALES[1:]) + kernel_basis
    coords, unrecognised = [], []
    for k, v in enumerate(rep):
        expr = _recognise_scaled(v, digits, coord_basis)
        coords.append(expr)
        if expr is None:
            unrecognised.append(f"theta[{k}]")
    loss, status, proof = None, None, "not proven: some coordinates were not recognised"
    if not unrecognised:
        try:
            exact_loss, grad = problem.exact_loss_and_gradient(coords)
        except NoClosedFormError as exc:
            proof = f"not proven: {exc}"
        else:
            failed = [k for k, g in enumerate(grad) if not prove_zero(g)]
            if failed:
                proof = f"not proven: gradient components {failed} were not proven zero"
            else:
                proof, loss, status = "exact", sympy.simplify(exact_loss), "derived"
    if loss is None:
        basis = (1 / sympy.pi, sympy.pi) + kernel_basis
        rec = recognise(cp.loss, digits=digits, basis=basis)
        if rec is not None:
            loss, status = rec.expr, "recognised"
        else:
            unrecognised.append("loss")
    eig = None
    if eigenvalues and cp.eigenvalues is not None:
        eig = []
        for k, v in enumerate(cp.eigenvalues):
            rec = recognise(v, digits=min(digits, cp.dps) - 5, basis=DEFAULT_BASIS) if abs(v) > 0 else None
            eig.append(None if rec is None else rec.expr)
            if rec is None:
                unrecognised.append(f"eigenvalue[{k}]")
    return ClosedForm(coords, proof, loss, status, eig, unrecognised, digits)
