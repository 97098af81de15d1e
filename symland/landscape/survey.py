r"""Multi-start surveys of a loss landscape: many starts, refined, classified, deduplicated.

:func:`survey` draws ``starts`` random initial points, runs a float64 solver
from each (:func:`~symland.landscape.critical.minimize`, :func:`~symland.landscape.critical.gradient_flow`
or :func:`~symland.landscape.critical.newton`), refines the end point to ``dps`` digits
with :func:`~symland.landscape.critical.refine` (mpmath Newton; it classifies the point
by its Hessian spectrum), and merges the points that one symmetry of the model
maps onto each other (:func:`~symland.landscape.symmetry.deduplicate`).

**Initialisation** (documented, reproducible): start $j$ uses its own
``numpy.random.Generator`` seeded by child $j$ of
``numpy.random.SeedSequence(seed).spawn(starts)``; it draws
$W_{il} \sim N(0, 1/d)$ (row-major, $n \times d$) and then, when the output
weights are trained, $a_i \sim N(0, 1)$.  Start $j$ therefore does not depend on
the number of starts drawn after it nor on where it runs.

**Execution**: by default (``batch=True``, teacher-student problems, solvers ``"minimize"``,
``"lbfgs"``, ``"gd"`` and ``"newton"``) the float64 stage runs for all starts at once in the calling process
(:func:`~symland.landscape.batch_solve.solve_batch`); converged end points that lie in one orbit
are refined once.  The refinements (:func:`run_start` with the float64 result; with
``batch=False`` or another solver, solver and refinement per start) are submitted to a
:class:`concurrent.futures.Executor` (:func:`run_start` is a module-level, picklable function):
by default a ``ProcessPoolExecutor`` with ``os.cpu_count()`` workers, created
and shut down inside :func:`survey`; ``workers=1`` runs serially in-process;
any user executor is used as given — e.g. ``distributed.Client(...).get_executor()``
runs the survey on a dask cluster.  Results are collected by start index, so the
outcome is the same for every executor.

Every mpmath computation runs in the calling thread's private mpmath context
(:mod:`symland.numerics.mpcontext`), so thread-based executors run every stage
concurrently and give the same digits as a serial run (CPU-bound Python threads still
share one interpreter lock: use processes for speed).

**End points at infinity.**  :func:`survey` takes an optional ``end_point`` classifier
``end_point(problem, theta, dps)``: it sees every float64 end point of a plain network with
trained output weights and ``n >= 2`` before refinement and returns ``None`` (a finite end
point: refined as usual) or an outcome object for an end point that is no finite critical
point, e.g. a neuron pair in a channel to infinity.  Such starts are listed in
``SurveyResult.channels``, grouped by ``outcome.group_key(start)`` and sorted by
``outcome.loss``; the outcome supplies its table row (``table_line(count, digits, width)``) and
``to_dict()``.  The default ``None`` detects nothing; the channel-aware survey is
:func:`symland.channels.survey.survey`.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import os
import signal
import sys
import time

import numpy as np

from ..errors import ConvergenceError, DomainError, ShapeError
from ..numerics.arguments import check_choice, check_count, check_flag, check_positive
from ..numerics.precision import as_float_array, check_dps
from ..problems.teacher_student import TeacherStudent
from . import critical
from .batch_solve import gradient_descent_newton, lbfgs_newton, solve_batch
from .nonsmooth import dead_unit_point
from .display import html_table, latex_table
from .isotropy import isotropy_type
from .point import CriticalPoint
from .saddle_free import saddle_free_newton, wasserstein_saddle_free_newton
from .symmetry import (
    _best,
    canonical_form,
    match_signatures,
    signature,
    group_points,
    symmetry_group,
)
from ..numerics.mpcontext import thread_mp

__all__ = ["survey", "solver_function", "BATCHED_SOLVERS", "PREMERGE_TOL", "orbit_groups", "point_isotropy", "SurveyResult", "SurveyPoint", "StartOutcome", "Failure", "run_start", "random_starts", "SOLVERS",
           "INITIALISATION", "START_FAILURES", "SurveyInterrupted", "MAX_STARTS"]

#: largest number of starts of one survey (random or explicit)
MAX_STARTS = 1_000_000

#: solver names accepted by :func:`survey` -> function name in :mod:`symland.landscape.critical`
SOLVERS = {"minimize": "minimize", "flow": "gradient_flow", "newton": "newton", "sfn": "saddle_free_newton",
           "wsfn": "wasserstein_saddle_free_newton", "lbfgs": "lbfgs_newton", "gd": "gradient_descent_newton"}
#: solvers whose float64 stage :func:`survey` runs for all starts at once -> method of
#: :func:`~symland.landscape.batch_solve.solve_batch`
BATCHED_SOLVERS = {"minimize": "trust", "newton": "newton", "lbfgs": "lbfgs", "gd": "gd"}
#: converged float64 end points within this relative distance of one orbit are refined once (``batch=True``)
PREMERGE_TOL = 1e-6
#: the functions behind :data:`SOLVERS`
_SOLVER_FUNCTIONS = {"minimize": critical.minimize, "flow": critical.gradient_flow, "newton": critical.newton,
                     "sfn": saddle_free_newton, "wsfn": wasserstein_saddle_free_newton, "lbfgs": lbfgs_newton,
                     "gd": gradient_descent_newton}


def point_isotropy(problem, theta) -> str:
    """The name of the stabiliser of ``theta``: in $S_n \times S_k$ for teacher-student problems
    (:func:`~symland.landscape.isotropy.isotropy_type`), ``problem.isotropy`` for other landscapes."""
    if isinstance(problem, TeacherStudent):
        return isotropy_type(problem, theta).name
    return problem.isotropy(theta)


def solver_function(name: str):
    """The float64 solver called ``name`` (a key of :data:`SOLVERS`)."""
    return _SOLVER_FUNCTIONS[check_choice(name, "solver", tuple(SOLVERS))]

INITIALISATION = ("W_il ~ N(0, 1/d), trained a_i ~ N(0, 1); start j drawn by "
                  "numpy.random.default_rng(SeedSequence(seed).spawn(starts)[j])")

#: exceptions that make a start a counted failure rather than a crash: the solver's own
#: errors, singular linear systems, and mpmath divisions by zero at singular points
#: (e.g. a zero-norm relu neuron in the mpmath path, which raises no DomainError yet)
START_FAILURES = (ConvergenceError, DomainError, np.linalg.LinAlgError, ZeroDivisionError)


class SurveyPoint(tuple):
    """One distinct point of a survey: the pair ``(point, count)`` (so ``for cp, count in
    result.points`` keeps working) with named fields ``point`` (the
    :class:`~symland.landscape.point.CriticalPoint`), ``count`` (starts that reached its orbit)
    and ``starts`` (their indices); every other attribute (``loss``, ``index``, ``kind``, ...) is
    the point's."""

    def __new__(cls, point, count, starts=()):
        self = super().__new__(cls, (point, count))
        self.starts = tuple(starts)
        return self

    def __getnewargs__(self):
        return (self[0], self[1], self.starts)

    @property
    def point(self):
        return self[0]

    @property
    def count(self):
        return self[1]

    @property
    def index(self):
        """The point's Hessian index (this name shadows ``tuple.index``, as ``count`` does ``tuple.count``)."""
        return self[0].index

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self[0], name)

    def __repr__(self):
        return f"SurveyPoint({self[0]}, count={self[1]})"


@dataclasses.dataclass
class StartOutcome:
    """What became of one start: a refined point, or a failure with its reason."""

    point: CriticalPoint | None
    stage: str  # "done", "channel" (an end point at infinity), or the stage that failed: "solver" / "refine"
    reason: str | None
    solver_converged: bool | None
    solver_gradient_norm: float | None
    solver_iterations: int | None
    seconds: float
    channel: object = None  # the end-point classifier's outcome when stage == "channel"


@dataclasses.dataclass(frozen=True)
class Failure:
    """A start that produced no critical point: its index, the failing stage and why."""

    start: int
    stage: str
    reason: str

    def to_dict(self):
        return {"start": self.start, "stage": self.stage, "reason": self.reason}


def run_start(problem, start_theta, dps, solver, gtol, end_point=None, float_result=None) -> StartOutcome:
    """Float64 solver from ``start_theta``, then :func:`~symland.landscape.critical.refine` to ``dps`` digits.

    ``float_result`` (a :class:`~symland.landscape.critical.FlowResult`, e.g. one row of
    :func:`~symland.landscape.batch_solve.solve_batch`) replaces the float64 stage: its end point is
    refined.  An ``end_point`` classifier (see the module docstring) may claim the float64 end point
    first (stage ``"channel"``: no refinement).  The refinement is attempted even when the
    float solver stopped above ``gtol`` (Newton's method decides whether a critical point is near);
    :class:`~symland.errors.ConvergenceError`, :class:`~symland.errors.DomainError`,
    singular linear systems and divisions by zero in either stage give a failed
    outcome with the reason (exception type and message) instead of an exception.
    """
    t0 = time.perf_counter()
    if float_result is None:
        try:
            res = _SOLVER_FUNCTIONS[solver](problem, start_theta, gtol=gtol)
        except Exception as exc:  # noqa: BLE001 -- one bad start never ends a survey: it is counted with its reason
            return StartOutcome(None, "solver", f"{type(exc).__name__}: {exc}", None, None, None,
                                time.perf_counter() - t0)
    else:
        res = float_result
    info = (bool(res.converged), float(res.gradient_norm), int(res.iterations))
    channel = _classify_end_point(problem, res.theta, dps, end_point)
    if channel is not None:
        return StartOutcome(None, "channel", None, *info, time.perf_counter() - t0, channel)
    try:
        cp = critical.refine(problem, res.theta, dps)
    except Exception as exc:  # noqa: BLE001 -- counted with its reason, like a solver failure
        try:
            dead = dead_unit_point(problem, res.theta, dps)
        except Exception:  # noqa: BLE001 -- the test could not be run: the start stays a failure
            dead = None
        if dead is not None:
            return StartOutcome(dead[0], "done", None, *info, time.perf_counter() - t0)
        note = "" if res.converged else f" (the {solver} solver stopped at |grad| = {res.gradient_norm:.3g})"
        return StartOutcome(None, "refine", f"{type(exc).__name__}: {exc}{note}", *info,
                            time.perf_counter() - t0)
    return StartOutcome(cp, "done", None, *info, time.perf_counter() - t0)


def _classify_end_point(problem, theta, dps, end_point):
    """The classifier's outcome for a float64 end point, or ``None`` (finite end point, or no classifier).

    Classifiers see plain networks of trained neurons only (``n >= 2``, trained output weights): the
    layouts a channel to infinity lives in.  Problems with fixed output weights or one neuron (the
    symmetric layer's surveys) never reach the classifier.
    """
    if end_point is None:
        return None
    # plain networks only: biases / mixed activations have other parameter layouts (run_start is public,
    # so this holds without survey's own check)
    if not isinstance(problem, TeacherStudent) or not problem.is_plain or not problem.train_output or problem.n < 2:
        return None
    return end_point(problem, theta, dps)


def random_starts(problem, starts: int, seed: int = 0) -> np.ndarray:
    r"""``(starts, num_params)`` array of documented random starts (see the module docstring)."""
    if isinstance(starts, bool) or not isinstance(starts, (int, np.integer)) or not 1 <= starts <= MAX_STARTS:
        raise ShapeError(f"starts must be a positive integer <= MAX_STARTS = {MAX_STARTS}, got {starts!r}")
    critical.check_problem(problem)
    seed = check_count(seed, "seed", minimum=0)
    children = np.random.SeedSequence(seed).spawn(int(starts))
    out = np.empty((int(starts), problem.num_params))
    for j, child in enumerate(children):
        out[j] = problem.random_start(np.random.default_rng(child))
    return out


@dataclasses.dataclass
class SurveyResult:
    """Distinct critical points found by :func:`survey`, with how often each was reached.

    ``points``: list of :class:`SurveyPoint` (pairs ``(CriticalPoint, count)`` with named fields) sorted by loss ascending;
    ``start_indices``: for each point the starts that reached it;
    ``failures``: list of :class:`Failure`; ``starts``: number of starts;
    ``outcomes``: per-start :class:`StartOutcome` in start order;
    ``channels``: list of ``(outcome, count, start indices)`` — end points the ``end_point``
    classifier recognised (channels to infinity), grouped by ``outcome.group_key``, sorted by loss.
    """

    problem: object
    points: list
    start_indices: list
    failures: list
    starts: int
    seed: int | None
    dps: int
    solver: str
    gtol: float
    seconds: float
    merge: str = "orbit"
    outcomes: list = dataclasses.field(default_factory=list, repr=False)
    channels: list = dataclasses.field(default_factory=list)

    @property
    def converged(self) -> int:
        """Number of starts that gave a refined (finite) critical point."""
        return self.starts - len(self.failures) - sum(c for _, c, _ in self.channels)

    def table(self, digits: int | None = None) -> str:
        """Human-readable table: #, loss (``digits``, default ``min(dps, 40)``), index, nullity, kind, count."""
        digits = min(self.dps, 40) if digits is None else digits
        w = digits + 8
        head = (f"{self.problem!r}: {self.starts} starts (seed {self.seed}, solver {self.solver}, "
                f"dps {self.dps}) -> {len(self.points)} distinct critical points "
                f"{'(modulo symmetries)' if self.merge == 'orbit' else '(one per critical manifold)'}, "
                f"{len(self.failures)} failed"
                + (f", {sum(c for _, c, _ in self.channels)} in channels to infinity" if self.channels else ""))
        lines = [head, f"{self.problem.loss_statement} (only correct digits: error from the digits of the point); "
                       "index = # negative Hessian eigenvalues, nullity = # zero eigenvalues",
                 f"{'#':>3}  {'loss':<{w}} {'index':>5} {'nullity':>7}  {'kind':<10} {'count':>5} {'digits':>6}"
                 "  isotropy"]
        for r, (cp, count) in enumerate(self.points, 1):
            loss = cp.loss_string(digits)
            lines.append(f"{r:>3}  {loss:<{w}} {cp.index:>5} {cp.nullity:>7}  {cp.kind:<10} {count:>5} "
                         f"{cp.digits:>6}  {point_isotropy(self.problem, cp.theta)}")
        for ch, count, idx in self.channels:
            lines.append(ch.table_line(count, digits, w))
        for f in self.failures:
            lines.append(f"failed start {f.start} ({f.stage}): {f.reason}")
        if self.merge == "orbit":
            lines.extend(self._manifold_hints())
        return "\n".join(lines)

    def _manifold_hints(self):
        """Rows that look like points of one critical manifold (same loss, index, nullity; unexplained zero modes)."""
        runs, cur = [], []
        for r, (cp, _) in enumerate(self.points, 1):
            key = (thread_mp.nstr(cp.loss, max(cp.digits, 1) - 2), cp.index, cp.nullity)
            unexplained = cp.nullity is not None and cp.nullity > (cp.predicted_nullity or 0)
            if cur and cur[0][0] == key and unexplained:
                cur.append((key, r))
            else:
                if len(cur) > 1:
                    runs.append(cur)
                cur = [(key, r)] if unexplained else []
        if len(cur) > 1:
            runs.append(cur)
        return [f"note: rows {run[0][1]}-{run[-1][1]} share loss, index and nullity with unexplained zero modes: "
                f"probably points of one critical manifold (merge='function' / --merge function collapses them)"
                for run in runs]

    def __str__(self):
        return self.table()

    def _display_rows(self, digits=20):
        headers = ("#",) + CriticalPoint.SUMMARY_HEADERS[:-1] + ("count", "isotropy")
        rows = [[str(r)] + cp.summary_row(digits)[:-1] + [str(count), point_isotropy(self.problem, cp.theta)]
                for r, (cp, count) in enumerate(self.points, 1)]
        caption = (f"{self.problem!r}: {self.starts} starts, {len(self.points)} distinct critical points, "
                   f"{len(self.failures)} failed; {self.problem.loss_statement}")
        return headers, rows, caption

    def _repr_html_(self):
        return html_table(*self._display_rows())

    def _repr_latex_(self):
        return latex_table(*self._display_rows())

    def to_dict(self) -> dict:
        """JSON-ready summary; every loss and parameter a decimal string with all ``dps`` digits."""
        pts = []
        for r, ((cp, count), idx) in enumerate(zip(self.points, self.start_indices), 1):
            d = {"rank": r, "count": count, "starts": list(idx)}
            d.update(cp.to_dict())
            p = self.problem
            if isinstance(p, TeacherStudent):
                with thread_mp.workdps(cp.dps):
                    d["theta_canonical"] = [thread_mp.nstr(v, cp.dps, strip_zeros=False)
                                            for v in canonical_form(p, cp)]
                iso = isotropy_type(p, cp.theta)
                d["isotropy"] = iso.name
                d["isotropy_blocks"] = {"teacher": list(iso.teacher_blocks), "copies": list(iso.copies)}
            else:  # the landscape's float64 orbit representative, and the stabiliser of the point
                d["orbit_representative"] = [repr(float(v)) for v in p.canonical(cp.theta)]
                d["isotropy"] = p.isotropy(cp.theta)
            pts.append(d)
        p = self.problem
        if isinstance(p, TeacherStudent):
            about = {"activation": p.activation.name, "n": p.n, "k": p.k, "d": p.d, "train_output": p.train_output,
                     "initialisation": INITIALISATION}
        else:
            about = {"landscape": p.name, "num_params": p.num_params,
                     "initialisation": "problem.random_start(numpy.random.default_rng(SeedSequence(seed)"
                                       ".spawn(starts)[j]))"}
        return {
            "problem": repr(p),
            **about,
            "starts": self.starts,
            "seed": self.seed,
            "solver": self.solver,
            "gtol": self.gtol,
            "dps": self.dps,
            "merge": self.merge,
            "convention": p.loss_statement,
            "distinct": len(self.points),
            "converged": self.converged,
            "failed": len(self.failures),
            "failures": [f.to_dict() for f in self.failures],
            "channels": [dict(count=c, starts=list(idx), **ch.to_dict()) for ch, c, idx in self.channels],
            "points": pts,
            "seconds": round(self.seconds, 3),
        }


class _Progress:
    def __init__(self, enabled, total):
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.total = total
        self.every = 1 if self.tty else max(1, total // 20)
        self.last_len = 0

    def note(self, msg):
        """One line about a stage of the survey (when progress is shown)."""
        if self.enabled:
            sys.stderr.write(msg + "\n")
            sys.stderr.flush()

    def update(self, done, distinct, failed):
        if not self.enabled:
            return
        if not (self.tty or done % self.every == 0 or done == self.total):
            return
        msg = f"survey: {done}/{self.total} starts done, {distinct} distinct critical points, {failed} failed"
        if self.tty:
            sys.stderr.write("\r" + msg.ljust(self.last_len))
            self.last_len = len(msg)
            if done == self.total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(msg + "\n")
        sys.stderr.flush()


def _warm_up(problem, theta, dps):
    """Compile the kernels and decide the symbolic properties the workers need (cached per process)."""
    if isinstance(problem, TeacherStudent):
        symmetry_group(problem)
        problem.activation.homogeneity_degree
    try:
        problem.hessian(theta)
        problem.hessian(theta, dps=dps)
    except START_FAILURES:
        pass


def _check_starts(problem, starts, seed):
    critical.check_problem(problem)
    if isinstance(problem, TeacherStudent) and not problem.is_plain:
        # the symmetry group used to merge points (symland.landscape.symmetry) knows W and a only
        raise ShapeError("problem: survey supports TeacherStudent problems of ordinary neurons; problems "
                         "with biases, a different teacher activation or GLU units are not supported: "
                         "run symland.minimize / symland.refine per start instead")
    if isinstance(starts, (int, np.integer)) and not isinstance(starts, bool):
        return random_starts(problem, starts, seed)
    if isinstance(starts, (bool, np.bool_, float, str, bytes)) or np.ndim(starts) == 0:
        raise ShapeError(f"starts must be a positive integer or an array of shape (N, {problem.num_params}), "
                         f"got {starts!r}")
    arr = as_float_array(starts, "starts")  # refuses complex, NaN/inf and non-numeric entries
    if arr.ndim != 2 or arr.shape[1] != problem.num_params or not 1 <= arr.shape[0] <= MAX_STARTS:
        raise ShapeError(f"starts must be a positive integer or an array of shape (N, {problem.num_params}) "
                         f"with 1 <= N <= {MAX_STARTS}, got shape {arr.shape}")
    return arr


def _check_survey_options(solver, merge, gtol, workers, tol, executor, end_point, progress, batch):
    """The scalar options of :func:`survey`; each violation a :class:`~symland.errors.DomainError` naming it."""
    check_choice(solver, "solver", tuple(SOLVERS))
    check_choice(merge, "merge", ("orbit", "function"))
    check_positive(gtol, "gtol")
    if workers is not None:
        check_count(workers, "workers", maximum=4096)
    if tol is not None:
        check_positive(tol, "tol")
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise DomainError(f"argument executor must be a concurrent.futures.Executor (with submit), "
                          f"got {type(executor).__name__}")
    if end_point is not None and not callable(end_point):
        raise DomainError(f"argument end_point must be callable or None, got {type(end_point).__name__}")
    if progress is not None:
        check_flag(progress, "progress")
    check_flag(batch, "batch")


def survey(problem, starts=20, seed=0, dps=30, executor=None, solver="minimize", progress=None,
           gtol=1e-10, workers=None, tol=None, merge="orbit", end_point=None, batch=True) -> SurveyResult:
    r"""Survey the critical points of ``problem`` from many starts.

    Parameters
    ----------
    problem : TeacherStudent
    starts : int or array (N, num_params)
        Number of random starts (initialisation in the module docstring; default 20, as the
        command line's ``--starts``), or explicit starting points.
    seed : int
        Seed of ``numpy.random.SeedSequence``; one child per start.
    dps : int
        Digits of the refinement (every reported loss carries them all).
    executor : concurrent.futures.Executor, optional
        Runs :func:`run_start` per start; used as is and not shut down.
        Default: a ``ProcessPoolExecutor(max_workers=workers or os.cpu_count())``
        created and shut down here, or serial in-process execution when
        ``workers == 1``.
    solver : ``"minimize"`` | ``"lbfgs"`` | ``"gd"`` | ``"flow"`` | ``"newton"`` | ``"sfn"`` | ``"wsfn"``
        Float64 stage: trust-region minimisation, L-BFGS then Newton
        (:func:`~symland.landscape.batch_solve.lbfgs_newton`: gradients only until
        $|\nabla L| \le 10^{-6}$, so the cheapest per start at large n), plain gradient descent with
        the best stable fixed step then Newton (:func:`~symland.landscape.batch_solve.gradient_descent_newton`:
        the basins of gradient descent; these two for teacher-student problems only), stiff gradient flow, damped Newton (which
        also converges to saddles), or saddle-free Newton (:mod:`symland.landscape.saddle_free`,
        which is repelled by them), or its Wasserstein particle form (trained outputs only).
    progress : bool or None
        Report progress on stderr (``None``: iff stderr is a terminal).
    gtol : float
        Gradient tolerance of the float64 solver.
    tol : float, optional
        Tolerance of :func:`~symland.landscape.symmetry.same_point` (default from the digits reached).
    merge : ``"orbit"`` | ``"function"``
        How points are merged (:func:`~symland.landscape.symmetry.deduplicate`): modulo the
        symmetry group, or additionally when they compute the same function
        with the same index and nullity (one row per critical manifold).
    end_point : callable, optional
        ``end_point(problem, theta, dps)``: classifier of float64 end points that are no finite
        critical point (module docstring); a module-level function, so that worker processes can
        receive it.  Default ``None``: every end point is refined.
    batch : bool
        Default ``True``: for teacher-student problems and the solvers of :data:`BATCHED_SOLVERS`,
        the float64 stage runs all starts at once in this process
        (:func:`~symland.landscape.batch_solve.solve_batch`: ``"minimize"`` is the batched exact-Hessian
        trust region, ``"newton"`` the batched damped Newton, ``"lbfgs"`` batched L-BFGS then Newton,
        ``"gd"`` batched gradient descent with one step for all starts then Newton), and converged float64 end points that
        lie in one orbit (relative tolerance :data:`PREMERGE_TOL`) are refined once, the other starts
        of the orbit sharing the refined point; only the refinements go to the executor.
        ``False``: every start runs solver and refinement on its own (:func:`run_start`).

    Every argument is validated before any start runs: a wrong value raises
    :class:`~symland.errors.DomainError` (``solver``, ``merge``, ``gtol``, ``tol``, ``workers``,
    ``executor``, ``end_point``, ``progress``, ``seed``), :class:`~symland.errors.PrecisionError`
    (``dps``) or :class:`~symland.errors.ShapeError` (``problem``, ``starts``); all are
    ``ValueError`` subclasses.

    Starts whose solver or refinement fails are listed in ``result.failures``
    with the reason, never as points.  Distinct points are sorted by loss; each
    carries the number of starts that reached its orbit.
    """
    t0 = time.perf_counter()
    dps = check_dps(dps)
    _check_survey_options(solver, merge, gtol, workers, tol, executor, end_point, progress, batch)
    thetas = _check_starts(problem, starts, seed)
    if solver in ("lbfgs", "gd") and not isinstance(problem, TeacherStudent):
        raise DomainError(f"argument solver: {solver!r} runs on TeacherStudent problems only, got {problem!r}")
    N = len(thetas)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    prog = _Progress(show, N)
    outcomes: list[StartOutcome | None] = [None] * N
    # running deduplication, only for the progress line
    live_reps, n_failed, n_done = [], 0, 0

    def record(j, out):
        nonlocal n_failed, n_done
        outcomes[j] = out
        n_done += 1
        if out.point is None and out.stage != "channel":
            n_failed += 1
        elif show and out.point is not None:
            sig = signature(problem, out.point, merge=merge)
            if not any(match_signatures(r, sig, tol) for r in live_reps):
                live_reps.append(sig)
        prog.update(n_done, len(live_reps), n_failed)

    def partial():
        done = [o if o is not None else StartOutcome(None, "interrupted", "not run: the survey was interrupted",
                                                     None, None, None, 0.0) for o in outcomes]
        return _assemble(problem, done, seed if isinstance(starts, (int, np.integer)) else None,
                         dps, solver, gtol, tol, merge, time.perf_counter() - t0)

    copies = {}  # refined start -> [(start, its FlowResult)] sharing the refinement (batched float64 stage)
    if batch and solver in BATCHED_SOLVERS and isinstance(problem, TeacherStudent):
        try:
            jobs, copies = _batched_float_stage(problem, thetas, solver, gtol, prog, record)
        except KeyboardInterrupt:
            raise SurveyInterrupted(partial()) from None
    else:
        jobs = [(j, th, None) for j, th in enumerate(thetas)]

    def finish(j, out):
        record(j, out)
        for c, res in copies.get(j, ()):  # the same refined point; the start's own float64 stage
            record(c, dataclasses.replace(out, solver_converged=bool(res.converged), seconds=0.0,
                                          solver_gradient_norm=float(res.gradient_norm),
                                          solver_iterations=int(res.iterations)))

    if executor is None and (workers == 1 or len(jobs) <= 1):
        try:
            for j, th, res in jobs:
                finish(j, run_start(problem, th, dps, solver, gtol, end_point, res))
        except KeyboardInterrupt:
            raise SurveyInterrupted(partial()) from None
    else:
        own = executor is None
        if own:
            nworkers = min(workers or os.cpu_count() or 1, len(jobs))
            method = (multiprocessing.get_start_method(allow_none=True)
                      or multiprocessing.get_all_start_methods()[0])  # the first is the platform default
            if method == "fork":
                _warm_up(problem, thetas[0], dps)  # forked workers inherit the compiled kernels
            ex = concurrent.futures.ProcessPoolExecutor(max_workers=nworkers, initializer=_worker_signals)
        else:
            ex = executor
        futures = {}
        try:
            for j, th, res in jobs:
                futures[ex.submit(run_start, problem, th, dps, solver, gtol, end_point, res)] = j
            for fut in concurrent.futures.as_completed(futures):
                try:
                    out = fut.result()
                except Exception as exc:  # noqa: BLE001 -- a lost worker or an unpicklable result
                    out = StartOutcome(None, "worker", f"{type(exc).__name__}: {exc}", None, None, None, 0.0)
                finish(futures[fut], out)
        except BaseException as exc:
            for fut in futures:
                fut.cancel()
            if own:
                _stop_workers(ex)
            if isinstance(exc, KeyboardInterrupt):
                raise SurveyInterrupted(partial()) from None
            raise
        if own:
            ex.shutdown(wait=True)
    return _assemble(problem, outcomes, seed if isinstance(starts, (int, np.integer)) else None,
                     dps, solver, gtol, tol, merge, time.perf_counter() - t0)


def orbit_groups(problem, results, rows):
    """The float64 end points ``results[j]`` (:class:`~symland.landscape.critical.FlowResult`) of ``rows``
    grouped by orbit (:func:`~symland.landscape.symmetry.group_points`, relative tolerance
    :data:`PREMERGE_TOL`): pairs ``(representative, members)``, the representative the member of
    smallest gradient norm (then lowest index)."""
    groups = group_points(problem, [results[j].theta for j in rows], PREMERGE_TOL)
    out = []
    for g in groups:
        members = [rows[i] for i in g]
        out.append((min(members, key=lambda j: (results[j].gradient_norm, j)), members))
    return out


def _batched_float_stage(problem, thetas, solver, gtol, prog, record):
    """The float64 stage of every start at once; the jobs left to refine and the shared refinements.

    Runs :func:`~symland.landscape.batch_solve.solve_batch`; a start it cannot evaluate is recorded
    as a failure of the solver stage (with the message, as the single-start solvers raise it).
    Converged end points are grouped by orbit (:func:`~symland.landscape.symmetry.group_points`
    with :data:`PREMERGE_TOL`); each group is refined once, from its member of smallest gradient
    norm.  Returns ``(jobs, copies)``: ``jobs`` the triples ``(start, theta, FlowResult)`` to
    refine, ``copies`` maps a refined start to the pairs ``(start, FlowResult)`` that share its point.
    """
    method = BATCHED_SOLVERS[solver]
    t0 = time.perf_counter()
    prog.note(f"survey: float64 stage ({method}, batched) on {len(thetas)} starts ...")
    res = solve_batch(problem, thetas, method=method, gtol=gtol, progress=prog.note if prog.enabled else None)
    floats = res.flow_results()
    for j, msg in res.start_errors.items():
        record(j, StartOutcome(None, "solver", f"DomainError: {msg}", None, None, None, 0.0))
    run = [j for j in range(len(thetas)) if j not in res.start_errors]
    conv = [j for j in run if floats[j].converged]
    copies = {rep: [(j, floats[j]) for j in members if j != rep]
              for rep, members in orbit_groups(problem, floats, conv)}
    jobs = [(j, thetas[j], floats[j]) for j in run if j in copies or not floats[j].converged]
    prog.note(f"survey: float64 stage done in {time.perf_counter() - t0:.1f} s: {len(conv)} of {len(thetas)} "
              f"starts converged (|grad| <= {gtol:g}), {len(jobs)} end points to refine")
    return jobs, copies


class SurveyInterrupted(KeyboardInterrupt):
    """Raised by :func:`survey` on an interrupt (Ctrl-C, or SIGTERM turned into one by the command
    line): ``.result`` is the :class:`SurveyResult` of the starts finished so far (the others are
    listed in its failures with stage ``"interrupted"``), so no finished work is lost."""

    def __init__(self, result):
        super().__init__("survey interrupted; the starts finished so far are in .result")
        self.result = result


def _worker_signals():
    """In a worker process: SIGTERM ends it (the default, not a handler inherited from the command
    line), and Ctrl-C, which the terminal sends to every process of the group, is left to the parent,
    which terminates its workers (:func:`_stop_workers`)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_workers(ex):
    """Shut a ``ProcessPoolExecutor`` down without waiting and terminate its worker processes
    (a cancelled future does not stop a start that is already running)."""
    procs = list(getattr(ex, "_processes", {}).values())
    ex.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=5)


def _assemble(problem, outcomes, seed, dps, solver, gtol, tol, merge, seconds):
    """Deduplicate in start order (so the result does not depend on completion order)."""
    ok = [j for j, o in enumerate(outcomes) if o.point is not None]
    pts = [outcomes[j].point for j in ok]
    failures = [Failure(j, o.stage, o.reason) for j, o in enumerate(outcomes)
                if o.point is None and o.stage != "channel"]
    chans = _group_channels([(j, o.channel) for j, o in enumerate(outcomes) if o.stage == "channel"])
    groups = group_points(problem, pts, tol, merge)
    rows = []
    for g in groups:
        best = _best(pts, g)
        rows.append((pts[best], len(g), [ok[i] for i in g]))
    rows.sort(key=lambda r: (r[0].loss, r[2][0]))
    return SurveyResult(problem=problem, points=[SurveyPoint(cp, c, idx) for cp, c, idx in rows],
                        start_indices=[idx for _, _, idx in rows], failures=failures,
                        starts=len(outcomes), seed=seed, dps=dps, solver=solver, gtol=gtol,
                        seconds=seconds, merge=merge, outcomes=list(outcomes), channels=chans)


def _group_channels(items):
    """Group end-point outcomes ``(start, outcome)`` by ``outcome.group_key(start)``; sorted by loss, then start."""
    groups = {}
    for j, ch in items:
        groups.setdefault(ch.group_key(j), []).append((j, ch))
    rows = [(members[0][1], len(members), [j for j, _ in members]) for members in groups.values()]
    rows.sort(key=lambda r: (float(r[0].loss), r[2][0]))
    return rows
