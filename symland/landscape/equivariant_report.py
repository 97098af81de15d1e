r"""When the symmetry constraint blocks the global minimum: equivariant minima seen in the full space.

:func:`equivariant_report` takes an :class:`~symland.problems.equivariant.EquivariantStudent` whose
teacher is $G$-invariant and

1. surveys the constrained landscape $L_G$ (random starts, trust-region minimisation, refined to
   ``dps`` digits, merged modulo the orbit-representative shifts) for its points of index 0
   (minima, and degenerate points whose zero modes are not all explained);
2. embeds each constrained minimum, $\theta = E\varphi$ (a critical point of the full $L$ by symmetric
   criticality; its full gradient is reported), and classifies it in the **full** space by its
   Hessian spectrum with error bounds; a nondegenerate one is certified there in ball arithmetic
   (:func:`~symland.landscape.certify.certify`: its full index proven);
3. for a constrained minimum that is a full saddle, follows gradient flow in the full space from
   $\theta + \varepsilon u$ ($u$ the Hessian eigenvector of the most negative eigenvalue, the
   *escape direction*, $\varepsilon$ = ``escape``) and refines and classifies where it ends.

A constrained minimum with positive full index is the phenomenon: the constraint blocks descent that
the unconstrained network has.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ..errors import ConvergenceError, DomainError
from ..numerics.mpcontext import thread_mp
from ..problems.equivariant import EquivariantStudent
from .certify import certify
from .critical import gradient_flow, refine
from .survey import survey

__all__ = ["EquivariantRow", "EquivariantReport", "equivariant_report"]


@dataclasses.dataclass
class EquivariantRow:
    """One constrained minimum: its loss and count, the full-space classification (index, nullity,
    kind, smallest eigenvalue), the certificate status, and where the escape ended."""

    loss: object
    count: int
    full_gradient: float
    full_index: int
    full_nullity: int
    full_kind: str
    lambda_min: str  # the smallest full-space eigenvalue with only its correct digits
    certificate: str
    escape_loss: object = None
    escape_kind: str | None = None

    @property
    def blocked(self) -> bool:
        """A constrained minimum that the full landscape can leave downhill."""
        return self.full_index > 0


@dataclasses.dataclass
class EquivariantReport:
    eq: EquivariantStudent
    rows: list
    starts: int
    failed: int
    seconds: float

    def table(self) -> str:
        lines = [f"{self.eq!r}: {self.starts} starts, {len(self.rows)} distinct constrained minima, {self.failed} failed",
                 f"{'constrained loss':<24} {'count':>5} {'full index':>10} {'nullity':>7} {'kind':<10} "
                 f"{'lambda_min':>22}  {'certificate':<34} escape (gradient flow in the full space)"]
        for r in self.rows:
            esc = "-" if r.escape_kind is None else f"ends at a {r.escape_kind}, loss {thread_mp.nstr(r.escape_loss, 12)}"
            lines.append(f"{thread_mp.nstr(r.loss, 18):<24} {r.count:>5} {r.full_index:>10} {r.full_nullity:>7} "
                         f"{r.full_kind:<10} {r.lambda_min:>22}  {r.certificate:<34} {esc}")
        n = sum(r.blocked for r in self.rows)
        lines.append(f"{n} of {len(self.rows)} constrained minima are saddles of the unconstrained network "
                     + ("(the constraint blocks descent there)" if n else "(no blocking found)"))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"problem": repr(self.eq), "starts": self.starts, "failed": self.failed,
                "rows": [{"loss": thread_mp.nstr(r.loss, 20), "count": r.count, "full_gradient": r.full_gradient,
                          "full_index": r.full_index, "full_nullity": r.full_nullity, "full_kind": r.full_kind,
                          "lambda_min": r.lambda_min, "certificate": r.certificate, "blocked": r.blocked,
                          "escape_loss": None if r.escape_loss is None else thread_mp.nstr(r.escape_loss, 20),
                          "escape_kind": r.escape_kind} for r in self.rows],
                "seconds": round(self.seconds, 3)}


def equivariant_report(eq, starts: int = 30, seed: int = 0, dps: int = 30, escape: float = 1e-3,
                       certify_points: bool = True) -> EquivariantReport:
    """The analysis of the module docstring."""
    if not isinstance(eq, EquivariantStudent):
        raise DomainError(f"argument eq must be an EquivariantStudent, got {type(eq).__name__}")
    t0 = time.perf_counter()
    res = survey(eq, starts=starts, seed=seed, dps=dps, solver="minimize", workers=1, progress=False)
    problem, rows = eq.problem, []
    for cp, count in res.points:
        if cp.index != 0:  # minima, and degenerate points of index 0 (flat directions beyond the known ones)
            continue
        theta = eq.embed(cp.theta)
        with thread_mp.workdps(dps + 5):
            gfull = float(max(abs(v) for v in problem.gradient(theta, dps=dps)))
        full = refine(problem, np.array([float(v) for v in theta]), dps=dps)
        lam = full.eigenvalue_strings(6)[0]
        status = "-"
        if certify_points:
            if full.nullity == 0:
                cert = certify(problem, full.theta, dps=dps)
                status = f"certified full index {cert.index}" if cert.certified else f"not certified: {cert.status}"
            else:
                status = f"not certified: degenerate, nullity {full.nullity}"
        row = EquivariantRow(cp.loss, count, gfull, full.index, full.nullity, full.kind, lam, status)
        if full.index:
            H = np.array(problem.hessian(full.theta_float()), dtype=float)
            w, Q = np.linalg.eigh(H)
            start = full.theta_float() + escape * Q[:, 0]
            flow = gradient_flow(problem, start, t_max=1e6)
            try:
                end = refine(problem, flow.theta, dps=dps)
                row.escape_loss, row.escape_kind = end.loss, end.kind
            except ConvergenceError:
                row.escape_loss, row.escape_kind = flow.loss, "non-critical end point"
        rows.append(row)
    return EquivariantReport(eq, rows, starts, len(res.failures), time.perf_counter() - t0)
