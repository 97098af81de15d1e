r"""Training trajectories with a recorded parameter path: gradient flow, SGD and Adam.

Setting: student $f(x) = \sum_i a_i s(w_i\cdot x)$, teacher
$f^*(x) = \sum_r b_r s(v_r\cdot x)$, $x \sim N(0, I_d)$, loss
$L = \tfrac12 E[(f - f^*)^2]$.

* :func:`flow_trajectory` — gradient flow $\dot\theta = -\nabla L(\theta)$ on the
  population loss (stiff ODE, BDF with the exact Hessian as Jacobian), the path
  recorded at log-spaced times (channels to infinity are slow: the output
  weights grow like a power of $t$, so log-spaced records show them).
* :func:`sgd`, :func:`adam` — discrete optimisers in numpy, either on the
  population loss (exact gradient of :class:`~symland.TeacherStudent`; SGD is
  then plain gradient descent) or on a finite sample (:class:`SampleLoss`:
  $\hat L = \tfrac1{2N}\sum_\mu (f(x_\mu) - f^*(x_\mu))^2$, $x_\mu \sim N(0, I_d)$,
  teacher labels without noise), full batch or in mini-batches.

Everything random is drawn from ``numpy.random.default_rng(seed)``: first the
sample $X$ (``N x d``, row-major), then the mini-batch indices of each step
(``rng.choice(N, batch_size, replace=False)``).  Every run returns a
:class:`Trajectory` whose last row is the end point; it saves to and loads from
``.npz`` (the trajectory-file format of ``symland channel --trajectory``).
"""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np

from ..errors import DomainError, ShapeError, SymlandError
from ..kernels.quadrature import derivative_function
from ..landscape.critical import check_problem, solve_flow
from ..numerics.arguments import check_count, check_flag, check_positive, check_unit_interval
from ..problems.teacher_student import MAX_ENTRIES

__all__ = ["Trajectory", "SampleLoss", "flow_trajectory", "sgd", "adam", "load_trajectory"]


@dataclasses.dataclass
class Trajectory:
    """A recorded optimisation path.

    ``method``: ``"flow"``, ``"sgd"`` or ``"adam"``; ``times``: flow time (``flow``)
    or step number (``sgd``/``adam``), shape ``(T,)``; ``thetas``: parameters,
    shape ``(T, num_params)``, packed as the problem's ``pack``; ``losses``:
    population loss $L = \\tfrac12 E[(f-f^*)^2]$ at each record; ``objective``:
    the loss actually minimised at each record (equal to ``losses`` on the
    population, the sample loss otherwise); ``gradient_norms``: norm of the
    gradient of the objective at each record; ``settings``: the run's options
    (JSON-serialisable); ``message``: why it stopped.
    """

    method: str
    times: np.ndarray
    thetas: np.ndarray
    losses: np.ndarray
    objective: np.ndarray
    gradient_norms: np.ndarray
    settings: dict
    message: str = ""

    @property
    def theta(self) -> np.ndarray:
        """End point (last recorded parameters)."""
        return self.thetas[-1]

    def save(self, path):
        """Write an ``.npz`` file with arrays ``times, thetas, losses, objective, gradient_norms`` and JSON ``meta``."""
        meta = {"method": self.method, "settings": self.settings, "message": self.message}
        np.savez(path, times=self.times, thetas=self.thetas, losses=self.losses, objective=self.objective,
                 gradient_norms=self.gradient_norms, meta=np.array(json.dumps(meta)))


def load_trajectory(path) -> Trajectory:
    """Read a trajectory file: an ``.npz`` with ``thetas`` (T, P) and optional ``times``, ``losses``, ...

    Files not written by :meth:`Trajectory.save` need only ``thetas`` (or
    ``trajectory``); missing arrays are filled with NaN-free defaults (times =
    record index, losses/objective/gradient norms empty).
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError) as exc:
        raise SymlandError(f"trajectory file {path!r}: cannot read it ({exc})") from None
    key = "thetas" if "thetas" in data else "trajectory" if "trajectory" in data else None
    if key is None:
        raise ShapeError(f"trajectory file {path!r}: needs an array 'thetas' (T x num_params), has {sorted(data)}")
    thetas = np.asarray(data[key], dtype=float)
    if thetas.ndim != 2 or thetas.shape[0] < 1:
        raise ShapeError(f"trajectory file {path!r}: 'thetas' must be 2-dimensional (T x num_params) with T >= 1, "
                         f"got shape {thetas.shape}")
    if not np.all(np.isfinite(thetas)):
        raise DomainError(f"trajectory file {path!r}: 'thetas' has NaN or inf entries")
    meta = json.loads(str(data["meta"])) if "meta" in data else {}
    T = len(thetas)
    empty = np.zeros(0)
    return Trajectory(meta.get("method", "unknown"), np.asarray(data.get("times", np.arange(T)), float), thetas,
                      np.asarray(data.get("losses", empty), float), np.asarray(data.get("objective", empty), float),
                      np.asarray(data.get("gradient_norms", empty), float), meta.get("settings", {}),
                      meta.get("message", ""))


def _plain(problem):
    check_problem(problem)
    if getattr(problem, "glus", 0):
        raise ShapeError("problem: training runs on ordinary networks (glus = 0); a GLU unit is the end of a "
                         "channel, not a trainable neuron pair")
    return problem


def _positive(name, value, integer=False):
    """A positive integer (``integer=True``, at most :data:`MAX_STEPS`) or a positive finite number;
    :class:`~symland.errors.DomainError` (a ``ValueError``) naming ``name`` otherwise."""
    if integer:
        return check_count(value, name, maximum=MAX_STEPS)
    return check_positive(value, name)


#: largest step, record and sample count accepted by the training functions
MAX_STEPS = 100_000_000


class SampleLoss:
    r"""Empirical loss on a fixed Gaussian sample with teacher labels.

    $\hat L(\theta) = \frac1{2N}\sum_{\mu=1}^N (f(x_\mu) - y_\mu)^2$ with
    $x_\mu \sim N(0, I_d)$ drawn by ``default_rng(seed).normal(size=(N, d))`` and
    $y_\mu = \sum_r b_r s(v_r\cdot x_\mu)$.  Its expectation over the sample is
    the population loss $L$ (same factor 1/2).  Gradients:
    $\partial\hat L/\partial a_i = \frac1N\sum_\mu r_\mu s(w_i\cdot x_\mu)$,
    $\nabla_{w_i}\hat L = \frac1N\sum_\mu r_\mu a_i s'(w_i\cdot x_\mu) x_\mu$, $r = f - y$.
    """

    def __init__(self, problem, samples: int, seed: int = 0):
        self.problem = _plain(problem)
        if not problem.is_plain:
            raise ShapeError("problem: the finite-sample loss is written for plain networks (no biases, one "
                             "activation for teacher and student); use the population loss for this problem")
        _positive("samples", samples, integer=True)
        if samples * problem.d > MAX_ENTRIES:
            raise DomainError(f"argument samples: a {samples} x {problem.d} sample has more than "
                              f"MAX_ENTRIES = {MAX_ENTRIES} entries")
        check_count(seed, "seed", minimum=0)
        self.rng = np.random.default_rng(seed)
        self.X = self.rng.normal(size=(int(samples), problem.d))
        act = problem.activation
        self._s = derivative_function(act.expr, 0)
        self._ds = derivative_function(act.expr, 1)
        V, b = problem.teacher_weights, problem.teacher_output
        self.y = self._act(self.X @ V.T) @ b

    def _act(self, z, order=0):
        f = self._s if order == 0 else self._ds
        out = np.asarray(f(z), dtype=float)
        return np.broadcast_to(out, z.shape) if out.shape != z.shape else out

    def loss_and_gradient(self, theta, idx=None):
        """``(loss, gradient)`` on the whole sample, or on the rows ``idx`` (a mini-batch)."""
        p = self.problem
        params = p.unpack(theta)
        W, a = params.W, params.a
        X = self.X if idx is None else self.X[idx]
        y = self.y if idx is None else self.y[idx]
        Z = X @ W.T
        S = self._act(Z)
        r = S @ a - y
        N = len(X)
        loss = 0.5 * float(r @ r) / N
        gW = ((self._act(Z, 1) * (r[:, None] * a[None, :])).T @ X) / N
        grad = gW.ravel()
        if p.train_output:
            grad = np.concatenate([grad, S.T @ r / N])
        return loss, grad

    def loss(self, theta):
        return self.loss_and_gradient(theta)[0]


def flow_trajectory(problem, theta0, t_max: float = 1e6, records: int = 200, gtol: float = 1e-10,
                    rtol: float = 1e-9, atol: float = 1e-12, method: str = "BDF",
                    progress: bool = False) -> Trajectory:
    r"""Gradient flow $\dot\theta = -\nabla L(\theta)$ on the population loss, path recorded.

    Integrated as a stiff ODE (``scipy.integrate.solve_ivp``, ``method`` BDF or
    Radau, Jacobian $-\nabla^2 L$) from $t = 0$ to ``t_max``; it stops early when
    $|\nabla L| < $ ``gtol``.  The path is recorded at $t = 0$ and ``records - 1``
    log-spaced times in $[10^{-2}, t_{max}]$, plus the stopping time.
    """
    problem = _plain(problem)
    _positive("t_max", t_max)
    _positive("records", records, integer=True)
    if records > 1_000_000:
        raise DomainError(f"argument records must be <= 1000000, got {records}")
    progress = check_flag(progress, "progress")
    t_eval = np.concatenate([[0.0], np.logspace(-2, np.log10(t_max), max(records - 1, 1))])
    t_eval = np.unique(np.clip(t_eval, 0.0, t_max))
    state = {"calls": 0, "next": 1.0}

    def count(t):
        state["calls"] += 1
        if progress and t >= state["next"]:
            sys.stderr.write(f"flow: t = {t:.3g} / {t_max:.3g}\n")
            state["next"] = t * 10

    sol = solve_flow(problem, theta0, t_max, gtol, method=method, rtol=rtol, atol=atol, t_eval=t_eval,
                     on_rhs=count)
    times, thetas = sol.t, sol.y.T
    if sol.status == 1 and sol.t_events[0].size:  # stopped by the gradient event: record that point too
        times = np.concatenate([times, sol.t_events[0][:1]])
        thetas = np.concatenate([thetas, sol.y_events[0][:1]])
    if sol.status == -1:
        raise SymlandError(f"gradient flow failed: {sol.message}")
    losses, gnorms = [], []
    for th in thetas:
        L, g = problem.loss_and_gradient(th)
        losses.append(float(L))
        gnorms.append(float(np.linalg.norm(g)))
    losses = np.array(losses)
    settings = {"t_max": float(t_max), "records": int(records), "gtol": gtol, "rtol": rtol, "atol": atol,
                "method": method, "rhs_evaluations": state["calls"]}
    msg = "gradient below gtol" if sol.status == 1 else f"reached t_max = {t_max:g}"
    return Trajectory("flow", times, thetas, losses, losses.copy(), np.array(gnorms), settings, msg)


class _Objective:
    """Population or sample objective with an optional mini-batch schedule."""

    def __init__(self, problem, samples, batch_size, seed):
        self.problem = _plain(problem)
        self.sample = None if samples is None else SampleLoss(problem, samples, seed)
        if batch_size is not None:
            if self.sample is None:
                raise DomainError("argument batch_size needs samples (mini-batches are drawn from a finite sample)")
            _positive("batch_size", batch_size, integer=True)
            if batch_size > samples:
                raise DomainError(f"argument batch_size must be at most samples = {samples}, got {batch_size}")
        self.batch_size = batch_size

    def step_gradient(self, theta):
        if self.sample is None:
            return self.problem.gradient(theta)
        idx = None
        if self.batch_size is not None:
            idx = self.sample.rng.choice(len(self.sample.X), self.batch_size, replace=False)
        return self.sample.loss_and_gradient(theta, idx)[1]

    def full(self, theta):
        if self.sample is None:
            L, g = self.problem.loss_and_gradient(theta)
            return float(L), float(L), float(np.linalg.norm(g))
        L, g = self.sample.loss_and_gradient(theta)
        return float(self.problem.loss(theta)), L, float(np.linalg.norm(g))


def _discrete(method, problem, theta0, steps, record_every, samples, batch_size, seed, progress, update, settings):
    _positive("steps", steps, integer=True)
    _positive("record_every", record_every, integer=True)
    check_count(seed, "seed", minimum=0)
    progress = check_flag(progress, "progress")
    obj = _Objective(problem, samples, batch_size, seed)
    theta = problem.check_theta(theta0).copy()
    times, thetas, rows = [], [], []

    def rec(t):
        times.append(t)
        thetas.append(theta.copy())
        rows.append(obj.full(theta))

    rec(0)
    msg = f"completed {steps} steps"
    for t in range(1, steps + 1):
        g = obj.step_gradient(theta)
        theta = theta - update(g, t)
        if not np.all(np.isfinite(theta)):
            raise DomainError(f"{method}: parameters became non-finite at step {t}; lower the learning rate")
        if t % record_every == 0 or t == steps:
            rec(t)
            if progress and (t // record_every) % 10 == 0:
                sys.stderr.write(f"{method}: step {t}/{steps}, loss {rows[-1][0]:.6g}\n")
    rows = np.array(rows)
    settings.update(steps=int(steps), record_every=int(record_every), samples=samples, batch_size=batch_size,
                    seed=seed, objective="population" if samples is None else "sample")
    return Trajectory(method, np.array(times, float), np.array(thetas), rows[:, 0], rows[:, 1], rows[:, 2],
                      settings, msg)


def sgd(problem, theta0, lr: float = 0.05, steps: int = 10000, momentum: float = 0.0, samples=None,
        batch_size=None, seed: int = 0, record_every: int = 100, progress: bool = False) -> Trajectory:
    r"""(Stochastic) gradient descent $\theta_{t} = \theta_{t-1} - \mathrm{lr}\,m_t$, $m_t = \mu m_{t-1} + g_t$.

    $g_t$ is the exact population gradient (``samples=None``), the full-sample
    gradient of :class:`SampleLoss` (``samples=N``), or a mini-batch gradient
    (``samples=N, batch_size=B``; batch drawn without replacement each step).
    """
    _positive("lr", lr)
    momentum = check_unit_interval(momentum, "momentum")
    buf = {"m": 0.0}

    def update(g, t):
        buf["m"] = momentum * buf["m"] + g
        return lr * buf["m"]

    return _discrete("sgd", problem, theta0, steps, record_every, samples, batch_size, seed, progress, update,
                     {"lr": lr, "momentum": momentum})


def adam(problem, theta0, lr: float = 1e-2, steps: int = 10000, beta1: float = 0.9, beta2: float = 0.999,
         eps: float = 1e-8, samples=None, batch_size=None, seed: int = 0, record_every: int = 100,
         progress: bool = False) -> Trajectory:
    r"""Adam (Kingma & Ba 2015): $m_t = \beta_1 m_{t-1} + (1-\beta_1)g_t$,
    $v_t = \beta_2 v_{t-1} + (1-\beta_2)g_t^2$,
    $\theta_t = \theta_{t-1} - \mathrm{lr}\,\hat m_t/(\sqrt{\hat v_t} + \epsilon)$ with the bias
    corrections $\hat m_t = m_t/(1-\beta_1^t)$, $\hat v_t = v_t/(1-\beta_2^t)$.

    Gradients as in :func:`sgd` (population, full sample or mini-batches).
    """
    _positive("lr", lr)
    _positive("eps", eps)
    beta1, beta2 = check_unit_interval(beta1, "beta1"), check_unit_interval(beta2, "beta2")
    buf = {"m": 0.0, "v": 0.0}

    def update(g, t):
        buf["m"] = beta1 * buf["m"] + (1 - beta1) * g
        buf["v"] = beta2 * buf["v"] + (1 - beta2) * g * g
        mhat = buf["m"] / (1 - beta1 ** t)
        vhat = buf["v"] / (1 - beta2 ** t)
        return lr * mhat / (np.sqrt(vhat) + eps)

    return _discrete("adam", problem, theta0, steps, record_every, samples, batch_size, seed, progress, update,
                     {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps})
