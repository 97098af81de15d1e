r"""Deep neural collapse against low-rank critical points, settled at high precision.

:func:`collapse_report` takes a :class:`~symland.problems.deep_ufm.DeepUFM` and answers, for that
size, the questions of the deep-UFM papers:

1. **DNC.**  The deep-neural-collapse point from its exact one-dimensional reduction
   (:meth:`~symland.problems.deep_ufm.DeepUFM.dnc`), refined by Newton's method at ``dps`` digits
   and classified by its Hessian spectrum (relu: on the smooth piece through it, since DNC sits on
   kinks; the report says so);
2. **low-rank configurations.**  For each requested rank $r$, the best critical point in the
   subspace where the representations with an orthogonal symmetry live in $r$ coordinates
   (:func:`low_rank_point`; that subspace is the fixed set of the reflections of the other
   coordinates, a symmetry, so its critical points are critical points of the whole landscape),
   refined and classified the same way;
3. **prevalence.**  ``starts`` random starts (:meth:`~symland.problems.deep_ufm.DeepUFM.random_start`)
   minimised by L-BFGS in float64; each end point is labelled ``"DNC"`` when its loss equals the DNC
   loss (relative $10^{-7}$) and every representation has collapsed (within-class spread
   $\le 10^{-4}$), else by its rank profile; distinct end points are refined and classified;
4. **singular values.**  At the best point found, the number of singular values of every layer
   above ``threshold`` times the largest (:meth:`~symland.problems.deep_ufm.DeepUFM.rank_profile`).

:attr:`CollapseReport.dnc_optimal` says whether any point found lies below DNC (by more than the
refined losses' error), the fact the papers are about.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np
import scipy.optimize

from ..errors import ConvergenceError, DomainError, NonSmoothError
from ..numerics.arguments import check_count, check_positive
from ..numerics.mpcontext import thread_mp
from ..numerics.precision import check_dps
from ..problems.deep_ufm import DeepUFM
from .critical import refine

__all__ = ["CollapsePoint", "CollapseReport", "EndPointGroup", "collapse_report", "low_rank_point",
           "minimize_lbfgs", "prevalence", "SPREAD_TOL", "LOSS_MATCH"]

#: an end point has collapsed when every representation's within-class spread is below this
SPREAD_TOL = 1e-4
#: refinements on successive pieces (a relu point whose piece's critical point leaves the region)
PIECE_ROUNDS = 6
#: an end point's loss matches another's within this relative difference (float64 end points)
LOSS_MATCH = 1e-7


@dataclasses.dataclass
class CollapsePoint:
    """One critical point of the report: ``label`` (``"DNC"``, ``"rank r"``, or ``"end point"``),
    ``loss`` (mpf at the report's digits when refined, else float), ``theta``, ``ranks`` (the rank
    profile), ``spread`` (largest within-class spread), ``count`` (starts that ended here), ``kind``
    (``"minimum"``, ``"saddle"``, ``"degenerate"``, ``"maximum"``; prefixed ``"piece "`` when classified
    on the smooth piece through a relu kink; ``"not refined: ..."`` otherwise), ``index``, ``nullity``,
    ``predicted`` (zero modes the symmetries explain), ``kinks`` and ``kink_slope``
    (:meth:`~symland.problems.deep_ufm.DeepUFM.kink_slope`: < 0 means a unit switched on descends)."""

    label: str
    loss: object
    theta: np.ndarray
    ranks: dict
    spread: float
    count: int = 0
    kind: str = "-"
    index: int | None = None
    nullity: int | None = None
    predicted: int | None = None
    kinks: int = 0
    kink_slope: float = 0.0
    gradient_norm: object = None

    def to_dict(self) -> dict:
        return {"label": self.label, "loss": str(self.loss), "count": self.count, "kind": self.kind,
                "index": self.index, "nullity": self.nullity, "predicted_zero_modes": self.predicted,
                "kinks": self.kinks, "kink_slope": repr(float(self.kink_slope)), "ranks": self.ranks,
                "within_class_spread": repr(float(self.spread)),
                "gradient_norm": None if self.gradient_norm is None else str(self.gradient_norm)}


@dataclasses.dataclass
class CollapseReport:
    """DNC, low-rank points and survey end points of one deep UFM (module docstring)."""

    problem: DeepUFM
    dps: int
    dnc: CollapsePoint
    low_rank: list
    points: list
    starts: int
    failed: int
    seconds: float
    threshold: float

    @property
    def best(self) -> CollapsePoint:
        """The lowest-loss point found (DNC, low-rank or survey)."""
        return min([self.dnc] + self.low_rank + self.points, key=lambda p: float(p.loss))

    @property
    def dnc_optimal(self) -> bool:
        """No point found lies below the DNC loss by more than $10^{-dps/2}$ (relative)."""
        gap = float(self.dnc.loss) - float(self.best.loss)
        return not gap > 10.0 ** (-self.dps / 2) * max(1.0, abs(float(self.dnc.loss)))

    @property
    def dnc_fraction(self) -> float:
        """Fraction of the converged starts that ended at DNC."""
        converged = self.starts - self.failed
        return sum(p.count for p in self.points if p.label == "DNC") / converged if converged else 0.0

    def table(self, digits: int = 12) -> str:
        rows = [("DNC (constructed)", self.dnc)] + [(p.label + " (subspace)", p) for p in self.low_rank] + \
            [(p.label, p) for p in self.points]
        # slope: min dl/dA at the kinks (kink_slope); >= 0: no unit switched on descends
        lines = [f"{'point':<22} {'loss':>{digits + 6}} {'starts':>6}  {'kind':<18} {'index':>5} {'null':>5} "
                 f"{'sym':>4} {'kinks':>5} {'slope':>7}  ranks H1,h2..,Z"]
        for name, p in rows:
            loss = thread_mp.nstr(p.loss, digits) if not isinstance(p.loss, float) else f"{p.loss:.{digits}g}"
            prof = ",".join(str(v) for k, v in p.ranks.items() if not k.startswith("W"))
            signal = f"{p.kink_slope:.0e}" if p.kinks else "-"
            lines.append(f"{name:<22} {loss:>{digits + 6}} {p.count:>6}  {p.kind[:18]:<18} {_s(p.index):>5} "
                         f"{_s(p.nullity):>5} {_s(p.predicted):>4} {p.kinks:>5} {signal:>7}  {prof}")
        return "\n".join(lines)

    def summary(self) -> str:
        best = self.best
        verdict = ("DNC is the lowest point found" if self.dnc_optimal else
                   f"DNC is NOT optimal: a point of loss {thread_mp.nstr(best.loss, 12)} lies below it "
                   f"(DNC {thread_mp.nstr(self.dnc.loss, 12)}; ranks at the best point: "
                   f"{', '.join(f'{k} {v}' for k, v in best.ranks.items())})")
        return (f"{self.problem!r}\n{self.problem.loss_statement}\n{self.table()}\n{verdict}\n"
                f"DNC fraction of the converged starts: {self.dnc_fraction:.3f} "
                f"({self.starts - self.failed} of {self.starts} converged); {self.seconds:.1f} s")

    def to_dict(self) -> dict:
        return {"problem": repr(self.problem), "loss_statement": self.problem.loss_statement, "dps": self.dps,
                "dnc": self.dnc.to_dict(), "low_rank": [p.to_dict() for p in self.low_rank],
                "points": [p.to_dict() for p in self.points], "starts": self.starts, "failed": self.failed,
                "dnc_optimal": self.dnc_optimal, "dnc_fraction": self.dnc_fraction,
                "best": self.best.to_dict(), "seconds": self.seconds, "threshold": self.threshold}


def _s(v):
    return "-" if v is None else str(v)


def minimize_lbfgs(problem: DeepUFM, theta0, gtol: float = 1e-10, max_iter: int = 30000, free=None):
    """L-BFGS in float64 from ``theta0`` (over the entries ``free`` only, a boolean mask, the others
    held at their start values); returns ``(theta, loss, |grad|_inf over the free entries)``."""
    theta0 = np.array(theta0, dtype=float)
    free = np.ones(theta0.size, dtype=bool) if free is None else np.asarray(free, dtype=bool)

    def fun(x):
        th = theta0.copy()
        th[free] = x
        f, g = problem.loss_and_gradient(th)
        return f, g[free]

    res = scipy.optimize.minimize(fun, theta0[free], jac=True, method="L-BFGS-B",
                                  options={"maxiter": max_iter, "gtol": gtol, "ftol": 0.0, "maxcor": 30})
    th = theta0.copy()
    th[free] = res.x
    return th, float(res.fun), float(np.abs(res.jac).max())


def low_rank_mask(problem: DeepUFM, rank: int) -> np.ndarray:
    """The entries free in the rank-``rank`` subspace: on every representation with an orthogonal
    symmetry, the producer's rows and the consumer's columns beyond ``rank`` are zero."""
    rank = check_count(rank, "rank", minimum=1, maximum=problem.d)
    free = [np.ones(s, dtype=bool) for s in problem.shapes]
    for l in problem._orthogonal_spaces():
        free[l - 1][rank:, :] = False
        free[l][:, rank:] = False
    return np.concatenate([f.ravel() for f in free])


def low_rank_point(problem: DeepUFM, rank: int, starts: int = 8, seed: int = 0, gtol: float = 1e-10):
    """The lowest float64 critical point found in the rank-``rank`` subspace (module docstring, item 2)
    from ``starts`` random starts projected onto it: ``(theta, loss)``."""
    free = low_rank_mask(problem, rank)
    rng = np.random.default_rng([check_count(seed, "seed", minimum=0), rank])
    best = None
    for _ in range(check_count(starts, "starts")):
        th0 = np.where(free, problem.random_start(rng), 0.0)
        th, f, g = minimize_lbfgs(problem, th0, gtol=gtol, free=free)
        if g <= 1e-6 and (best is None or f < best[1]):
            best = (th, f)
    if best is None:
        raise ConvergenceError(f"no start in the rank-{rank} subspace of {problem!r} converged (|grad| > 1e-6)")
    return best


def _refined_point(problem: DeepUFM, theta, dps: int, label: str, count: int, threshold: float,
                   exact_theta=None) -> CollapsePoint:
    """Refine ``theta`` and classify it; relu models on the smooth piece through ``theta`` (its kinks
    counted as off), which is checked to hold at the refined point: when the piece's critical point
    lies outside the piece's region, refinement restarts on the piece through that point (at most
    :data:`PIECE_ROUNDS` times, else ``"not refined: ..."``)."""
    start = theta if exact_theta is None else exact_theta
    try:
        for _ in range(PIECE_ROUNDS):  # a piece whose critical point leaves its region: re-freeze there
            target = problem.piece(start) if problem.activation == "relu" else problem
            cp = refine(target, start, dps=dps)
            th = np.array([float(v) for v in cp.theta])
            violation = target.pattern_violation(th) if target is not problem else 0.0
            if not violation > 1e-9:
                break
            start = cp.theta
    except (ConvergenceError, NonSmoothError) as exc:
        return CollapsePoint(label, problem.loss(theta), np.array(theta, dtype=float),
                             problem.rank_profile(theta, threshold), max(problem.within_class_spread(theta)), count,
                             f"not refined: {str(exc).splitlines()[0]}", kinks=len(problem.kinks(theta)),
                             kink_slope=problem.kink_slope(theta))
    kinks = problem.kinks(th)
    if violation > 1e-9:
        kind = f"not refined: the piece's critical point left its region {PIECE_ROUNDS} times ({violation:.1e})"
    else:
        kind = ("piece " if kinks else "") + str(cp.kind)
    return CollapsePoint(label, cp.loss, cp.theta, problem.rank_profile(th, threshold),
                         max(problem.within_class_spread(th)), count, kind, cp.index, cp.nullity,
                         cp.predicted_nullity, len(kinks), problem.kink_slope(th), cp.gradient_norm)


def collapse_report(problem: DeepUFM, dps: int = 30, starts: int = 20, seed: int = 0, ranks=None,
                    threshold: float = 1e-6, gtol: float = 1e-10, verbose: bool = False) -> CollapseReport:
    """The report of the module docstring.  ``ranks``: the low-rank subspaces to search (default: every
    rank below the DNC rank, $K$ for MSE and $K - 1$ for linear cross-entropy); ``threshold``: relative
    size of a counted singular value; ``verbose``: one progress line per start on stderr."""
    if not isinstance(problem, DeepUFM):
        raise DomainError(f"argument problem must be a DeepUFM, got {type(problem).__name__}")
    dps = check_dps(dps)
    starts = check_count(starts, "starts", minimum=0, maximum=100000)
    threshold = check_positive(threshold, "threshold")
    t0 = time.perf_counter()
    dnc_rank = problem.K - 1 if problem.loss_kind == "ce" else problem.K
    ranks = list(range(1, dnc_rank)) if ranks is None else [check_count(r, "ranks", maximum=problem.d) for r in ranks]
    ref = problem.dnc(dps=dps + 10)
    dnc_float = np.array([float(v) for v in ref.theta])
    dnc = _refined_point(problem, dnc_float, dps, "DNC", 0, threshold, exact_theta=ref.theta)
    low = []
    for r in ranks:
        try:
            th, _ = low_rank_point(problem, r, seed=seed)
        except ConvergenceError:
            continue
        low.append(_refined_point(problem, th, dps, f"rank {r}", 0, threshold))
    groups, failed = _survey_groups(problem, starts, seed, float(ref.loss), gtol, verbose)
    points = [_refined_point(problem, g.theta, dps, g.label, g.count, threshold) for g in groups]
    return CollapseReport(problem, dps, dnc, low, points, starts, failed, time.perf_counter() - t0, threshold)


@dataclasses.dataclass
class EndPointGroup:
    """Float64 end points of random starts with one label, loss (relative :data:`LOSS_MATCH`) and rank
    profile: ``theta`` is the member with the smallest gradient."""

    label: str
    loss: float
    ranks: dict
    theta: np.ndarray
    count: int
    gradient: float


def _survey_groups(problem, starts, seed, dnc_loss, gtol, verbose):
    """L-BFGS from ``starts`` random starts; the converged end points grouped (sorted by loss)."""
    rng = np.random.default_rng(check_count(seed, "seed", minimum=0))
    groups, failed = [], 0
    for s in range(starts):
        th, f, g = minimize_lbfgs(problem, problem.random_start(rng), gtol=gtol)
        if not g <= 1e-6:
            failed += 1
            _progress(verbose, s, starts, f"not converged (|grad| = {g:.1e})")
            continue
        prof = problem.rank_profile(th, 1e-4)
        collapsed = max(problem.within_class_spread(th)) <= SPREAD_TOL
        label = "DNC" if collapsed and abs(f - dnc_loss) <= LOSS_MATCH * max(1.0, abs(dnc_loss)) else "end point"
        for grp in groups:
            if grp.label == label and grp.ranks == prof and abs(grp.loss - f) <= LOSS_MATCH * max(1.0, abs(f)):
                grp.count += 1
                if g < grp.gradient:
                    grp.theta, grp.gradient = th, g
                break
        else:
            groups.append(EndPointGroup(label, f, prof, th, 1, g))
        _progress(verbose, s, starts, f"loss {f:.10g} {label}")
    return sorted(groups, key=lambda x: x.loss), failed


def prevalence(problem: DeepUFM, starts: int = 20, seed: int = 0, gtol: float = 1e-10, verbose: bool = False):
    """Float64 only (no refinement): ``(groups, failed)``, the end points of ``starts`` random starts
    grouped as in :func:`collapse_report` (:class:`EndPointGroup`, sorted by loss), so that
    ``sum(g.count for g in groups if g.label == "DNC")`` counts the starts that end at DNC."""
    if not isinstance(problem, DeepUFM):
        raise DomainError(f"argument problem must be a DeepUFM, got {type(problem).__name__}")
    starts = check_count(starts, "starts", minimum=0, maximum=100000)
    return _survey_groups(problem, starts, seed, float(problem.dnc().loss), gtol, verbose)


def _progress(verbose, s, total, text):
    if verbose:
        print(f"[neural-collapse] start {s + 1}/{total}: {text}", file=sys.stderr, flush=True)
