r"""Attention as PCA, checked: every derived critical point refined, classified and certified.

:func:`attention_report` takes an :class:`~symland.problems.attention_pca.AttentionPCA` and
checks its derivation (the critical points $0$, $\pm r_j e_j$ with index $j - 1$,
:meth:`~symland.problems.attention_pca.AttentionPCA.critical_points`) two independent ways:

1. each derived point is refined by Newton's method (:func:`~symland.landscape.critical.refine`,
   at ``dps`` digits) and classified by its Hessian spectrum with rigorous error bounds
   (:func:`~symland.landscape.critical.classify`); the computed index must equal the derived one,
   and the refined point must not move (it is critical to the digits asked).  Nondegenerate points
   are certified (:func:`~symland.landscape.certify.certify`: a ball proven to hold exactly one
   critical point, the index proven over it).  Softmax at finite $L$ has no closed form: its points
   are checked in float64 (damped Newton, ``numpy.linalg.eigvalsh``) and not certified;
2. a survey from ``starts`` random starts (damped Newton, so saddles are reached too) must end
   only at derived points: every refined end point is matched to one (loss and orbit).

The report says which checks passed; :attr:`AttentionReport.ok` is their conjunction.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ..errors import ConvergenceError, DomainError
from ..numerics.arguments import check_count
from ..numerics.mpcontext import thread_mp
from ..numerics.precision import check_dps
from ..problems.attention_pca import AttentionPCA
from .certify import certify
from .critical import newton, refine
from .survey import survey
from .symmetry import match_signatures, signature

__all__ = ["AttentionReport", "AttentionRow", "attention_report"]


@dataclasses.dataclass
class AttentionRow:
    """One derived critical point and its checks."""

    label: str
    loss: object            # derived loss (mpf at dps, or float)
    derived_index: int
    computed_index: int | None
    nullity: int | None
    kind: str
    radius: float            # |w|
    moved: float | None      # max |refined - derived| (None: not refined)
    certificate: str         # "certified ...", "not certified: ...", or "-" (no ball form)
    isotropy: str

    @property
    def agrees(self) -> bool:
        return self.computed_index == self.derived_index


@dataclasses.dataclass
class AttentionReport:
    """Rows per derived point; the survey's matches; timings.  ``ok``: every check passed."""

    problem: AttentionPCA
    dps: int | None
    rows: list
    survey_points: int
    survey_matched: int
    survey_failed: int
    survey_starts: int
    unmatched: list
    seconds: float
    quadrature_error: float = 0.0

    @property
    def ok(self) -> bool:
        rows_ok = all(r.agrees and (r.moved is None or r.moved < 1e-10) for r in self.rows)
        return rows_ok and self.survey_matched == self.survey_points and not self.unmatched

    def table(self, digits: int = 20) -> str:
        p = self.problem
        lam = ", ".join(f"{v:.6g}" for v in p._eigen[0])
        head = [f"{p!r}: eigenvalues of Sigma {lam}; {p.loss_statement}",
                f"{'point':<6} {'loss':<{digits + 6}} {'index':>5} {'derived':>7} {'nullity':>7}  {'kind':<10} "
                f"{'|w|':>10} {'moved':>9}  {'isotropy':<10} certificate"]
        for r in self.rows:
            loss = thread_mp.nstr(r.loss, digits) if hasattr(r.loss, "_mpf_") else f"{float(r.loss):.15g}"
            moved = "-" if r.moved is None else f"{r.moved:.1e}"
            ci = "-" if r.computed_index is None else str(r.computed_index)
            nul = "-" if r.nullity is None else str(r.nullity)
            head.append(f"{r.label:<6} {loss:<{digits + 6}} {ci:>5} {r.derived_index:>7} {nul:>7}  {r.kind:<10} "
                        f"{r.radius:>10.6g} {moved:>9}  {r.isotropy:<10} {r.certificate}")
        head.append(f"survey: {self.survey_starts} starts (damped Newton), {self.survey_points} refined end points, "
                    f"{self.survey_matched} of them derived points, {self.survey_failed} failed starts"
                    + (f"; NOT derived: {self.unmatched}" if self.unmatched else ""))
        if not p.closed:
            head.append(f"softmax at L = {p.L} by quadrature: largest estimated error of a loss above "
                        f"{self.quadrature_error:.1e} (losses printed to 15 digits, correct to about that)")
        head.append(f"{'all checks passed' if self.ok else 'CHECK FAILED'} ({self.seconds:.1f} s)")
        return "\n".join(head)

    def to_dict(self) -> dict:
        def num(x):
            return thread_mp.nstr(x, self.dps or 17, strip_zeros=False) if hasattr(x, "_mpf_") else repr(float(x))

        p = self.problem
        return {"problem": repr(p), "L": p.L, "attention": p.attention, "convention": p.loss_statement,
                "eigenvalues": [repr(float(v)) for v in p._eigen[0]], "dps": self.dps,
                "points": [{"label": r.label, "loss": num(r.loss), "index": r.computed_index,
                            "derived_index": r.derived_index, "nullity": r.nullity, "kind": r.kind,
                            "radius": repr(r.radius), "moved": None if r.moved is None else repr(r.moved),
                            "isotropy": r.isotropy, "certificate": r.certificate} for r in self.rows],
                "survey": {"starts": self.survey_starts, "points": self.survey_points,
                           "matched": self.survey_matched, "failed": self.survey_failed,
                           "unmatched": self.unmatched},
                "quadrature_error": self.quadrature_error, "ok": self.ok, "seconds": round(self.seconds, 3)}


def _float_row(problem, cp) -> AttentionRow:
    """Softmax at finite L (float64 only): damped Newton from the derived point, eigvalsh index."""
    res = newton(problem, np.array(cp.theta, dtype=float), gtol=1e-11)
    lam = np.linalg.eigvalsh(problem.hessian(res.theta))
    tol = 1e-7 * max(1.0, float(np.max(np.abs(lam))))
    index, nullity = int(np.sum(lam < -tol)), int(np.sum(np.abs(lam) <= tol))
    kind = "maximum" if index == len(lam) else "saddle" if index else "degenerate" if nullity else "minimum"
    moved = float(np.max(np.abs(res.theta - np.array(cp.theta, dtype=float))))
    return AttentionRow(cp.label, cp.loss, cp.index, index, nullity, kind, float(np.linalg.norm(res.theta)),
                        moved, "- (no ball form)", problem.isotropy(res.theta))


def _exact_row(problem, cp, dps, certify_points) -> AttentionRow:
    """Closed forms: refine at ``dps``, classify with error bounds, certify nondegenerate points."""
    point = refine(problem, cp.theta, dps=dps)
    with thread_mp.workdps(dps + 5):
        moved = float(max((abs(a - b) for a, b in zip(point.theta, cp.theta)), default=0))
    status = "-"
    if certify_points and point.nullity == 0:
        cert = certify(problem, point.theta, dps=dps)
        status = (f"certified {cert.kind}, index {cert.index}, radius {cert.radius:.0e}" if cert.certified
                  else f"not certified: {cert.status}")
    elif certify_points:
        status = f"not certified: degenerate, nullity {point.nullity}"
    radius = float(np.linalg.norm(np.array([float(v) for v in point.theta])))
    return AttentionRow(cp.label, cp.loss, cp.index, point.index, point.nullity, point.kind, radius, moved, status,
                        problem.isotropy(point.theta))


def attention_report(problem: AttentionPCA, dps: int = 40, certify_points: bool = True, starts: int = 40,
                     seed: int = 0, workers: int = 1) -> AttentionReport:
    """Check every derived critical point of ``problem`` and survey it from ``starts`` random starts
    (module docstring).  ``dps`` applies to closed forms (linear attention, L = infinity)."""
    if not isinstance(problem, AttentionPCA):
        raise DomainError(f"argument problem must be an AttentionPCA, got {type(problem).__name__}")
    dps = check_dps(dps)
    starts = check_count(starts, "starts", minimum=0, maximum=100_000)
    t0 = time.perf_counter()
    derived = problem.critical_points(dps=dps if problem.closed else None)
    rows = [(_exact_row(problem, cp, dps, certify_points) if problem.closed else _float_row(problem, cp))
            for cp in derived]
    matched = points = failed = 0
    unmatched = []
    if starts:
        if problem.closed:
            res = survey(problem, starts=starts, seed=seed, dps=min(dps, 30), solver="newton", workers=workers,
                         progress=False)
            failed = len(res.failures)
            found = [(cp, c) for cp, c in res.points]
        else:
            found, failed = _float_survey(problem, starts, seed)
        sigs = [signature(problem, cp) for cp in derived]
        for cp, count in found:
            points += count
            s = signature(problem, cp)
            if any(match_signatures(s, d, 1e-6) for d in sigs):
                matched += count
            else:
                unmatched.append(f"loss {float(cp.loss):.12g}, |w| = "
                                 f"{float(np.linalg.norm(np.array([float(v) for v in cp.theta]))):.6g}")
    quad = max((problem.quadrature_error(np.array(cp.theta, dtype=float)) for cp in derived), default=0.0)
    return AttentionReport(problem, dps if problem.closed else None, rows, points, matched, failed, starts,
                           unmatched, time.perf_counter() - t0, quad)


@dataclasses.dataclass
class _FloatPoint:
    theta: np.ndarray
    loss: float


def _float_survey(problem, starts, seed):
    """Damped Newton in float64 from the survey's random starts (softmax at finite L)."""
    found, failed = [], 0
    for child in np.random.SeedSequence(seed).spawn(starts):
        try:
            res = newton(problem, problem.random_start(np.random.default_rng(child)), gtol=1e-10)
        except (ConvergenceError, DomainError, np.linalg.LinAlgError):
            failed += 1
            continue
        if not res.converged:
            failed += 1
            continue
        found.append((_FloatPoint(res.theta, res.loss), 1))
    return found, failed
