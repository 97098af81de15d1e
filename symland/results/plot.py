r"""Figures of results (matplotlib, the ``plot`` extra): channels, spectra, surveys, training paths, planes.

Every function returns ``(figure, data)``: a ``matplotlib.figure.Figure`` built directly (never
pyplot's global figure, so no process-wide state changes and threads may plot at once) and a
:class:`PlotData` holding exactly the arrays drawn, so what a figure shows can be checked.
:func:`save` writes PNG or SVG.  matplotlib is imported when a figure is made; without it a
:class:`~symland.errors.SymlandError` says how to install it.

* :func:`plot_channel`: $L(\varepsilon) - L_{GLU}$ against $\varepsilon$ on log-log axes along a
  channel to infinity (:func:`~symland.channels.channel.channel_loss`, high precision), with the
  fitted $C\varepsilon^p$ (:func:`~symland.channels.channel.channel_expansion`);
* :func:`plot_spectrum`: a classified point's Hessian eigenvalues by rank on a symmetric-log axis
  (sign kept), error bars from the eigenvalue bounds, zero modes ($|\lambda| \le$ threshold) marked;
* :func:`plot_survey`: distinct points by loss and index, marker area by count, minima and saddles
  distinguished;
* :func:`plot_training`: population loss and gradient norm along a
  :class:`~symland.channels.training.Trajectory`, log scales;
* :func:`plot_plane`: the float64 loss on the plane through three points (affine coordinates
  $(s, t)$: $\theta = p_0 + s(p_1 - p_0) + t(p_2 - p_0)$), or, for two points, on the plane spanned
  by their difference and the Hessian eigenvector of the lowest eigenvalue at the first (unit length,
  scaled to $|p_1 - p_0|$).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..channels.channel import channel_expansion, channel_loss
from ..errors import DomainError, SymlandError
from ..numerics.mpcontext import thread_mp

__all__ = ["PlotData", "plot_channel", "plot_spectrum", "plot_survey", "plot_training", "plot_plane", "save"]


@dataclasses.dataclass
class PlotData:
    """The arrays a figure drew (``arrays``: name -> numpy array) and its title."""

    title: str
    arrays: dict


def _figure(ncols: int = 1):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # an optional extra: imported only when a figure is made
        raise SymlandError('plots need matplotlib: pip install -e ".[plot]"') from exc
    fig = Figure(figsize=(5.5 * ncols, 4.0))
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def save(fig, path) -> str:
    """Write ``fig`` to ``path`` (``.png`` or ``.svg``, by the extension); returns the path."""
    path = str(path)
    kind = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if kind not in ("png", "svg"):
        raise DomainError(f"argument path must end in .png or .svg, got {path!r}")
    fig.savefig(path, format=kind, dpi=120)
    return path


def plot_channel(glu_problem, theta_glu, eps_values=None, dps: int = 30):
    """$L(\\varepsilon) - L_{GLU}$ on log-log axes, with the fitted $C\\varepsilon^p$ (module docstring)."""
    eps_values = [10.0 ** -k for k in np.arange(0.5, 4.01, 0.25)] if eps_values is None else list(eps_values)
    if not eps_values or any(not (0 < float(e) < 1) for e in eps_values):
        raise DomainError("argument eps_values must be numbers in (0, 1)")
    ex = channel_expansion(glu_problem, theta_glu, dps=dps)
    with thread_mp.workdps(dps + 10):
        gaps = np.array([float(channel_loss(glu_problem, theta_glu, e, dps=dps) - ex.loss_glu)
                         for e in eps_values])
    eps = np.array([float(e) for e in eps_values])
    fitted = float(ex.constant) * eps ** ex.rate if ex.rate else np.full_like(eps, np.nan)
    fig, (ax,) = _figure()
    ax.loglog(eps, np.abs(gaps), "o", label="L(eps) - L_GLU (|.|)")
    if ex.rate:
        ax.loglog(eps, np.abs(fitted), "-", label=f"C eps^{ex.rate}, C = {float(ex.constant):.4g}")
    ax.set_xlabel("eps")
    ax.set_ylabel("loss above the GLU limit")
    title = "loss along a channel to infinity"
    ax.set_title(title)
    ax.legend()
    return fig, PlotData(title, {"eps": eps, "gap": gaps, "fitted": fitted})


def plot_spectrum(cp):
    """The Hessian spectrum of a classified point (module docstring)."""
    if getattr(cp, "eigenvalues", None) is None:
        raise DomainError("argument cp must be a classified CriticalPoint (refine(..., classify_point=True))")
    lam = np.array([float(v) for v in cp.eigenvalues])
    err = np.array(cp.eigenvalue_errors if cp.eigenvalue_errors else [0.0] * len(lam), dtype=float)
    thr = float(cp.threshold) if cp.threshold is not None else 0.0
    zero = np.abs(lam) <= thr
    rank = np.arange(1, len(lam) + 1)
    fig, (ax,) = _figure()
    ax.set_yscale("symlog", linthresh=max(1e-12, float(np.min(np.abs(lam[~zero]))) / 10 if (~zero).any() else 1e-12))
    ax.errorbar(rank[~zero & (lam > 0)], lam[~zero & (lam > 0)], yerr=err[~zero & (lam > 0)], fmt="o",
                label="positive")
    ax.errorbar(rank[~zero & (lam < 0)], lam[~zero & (lam < 0)], yerr=err[~zero & (lam < 0)], fmt="v",
                label="negative")
    ax.plot(rank[zero], lam[zero], "x", label=f"zero modes (|lambda| <= {thr:.1e})")
    ax.axhline(0.0, linewidth=0.5)
    ax.set_xlabel("rank")
    ax.set_ylabel("Hessian eigenvalue")
    title = f"Hessian spectrum: {cp.kind}, index {cp.index}, nullity {cp.nullity}"
    ax.set_title(title)
    ax.legend()
    return fig, PlotData(title, {"rank": rank, "eigenvalue": lam, "error": err, "zero": zero})


def plot_survey(result):
    """A survey's distinct points by loss and index (module docstring)."""
    if not getattr(result, "points", None):
        raise DomainError("argument result must be a SurveyResult with at least one point")
    loss = np.array([float(p[0].loss) for p in result.points])
    index = np.array([-1 if p[0].index is None else p[0].index for p in result.points])
    count = np.array([p[1] for p in result.points])
    kinds = [p[0].kind for p in result.points]
    fig, (ax,) = _figure()
    for kind, marker in (("minimum", "o"), ("saddle", "s"), ("degenerate", "^"), ("maximum", "v")):
        sel = np.array([k == kind for k in kinds])
        if sel.any():
            ax.scatter(loss[sel], index[sel], s=30 * count[sel], marker=marker, label=kind)
    ax.set_xlabel("loss")
    ax.set_ylabel("Hessian index")
    title = f"{result.starts} starts, {len(result.points)} distinct critical points"
    ax.set_title(title)
    ax.legend()
    return fig, PlotData(title, {"loss": loss, "index": index, "count": count})


def plot_training(trajectory):
    """Population loss and gradient norm along a training path (module docstring)."""
    t = np.asarray(trajectory.times, float)
    keep = t > 0
    fig, (ax1, ax2) = _figure(2)
    ax1.loglog(t[keep], np.asarray(trajectory.losses)[keep])
    ax1.set_xlabel("time" if trajectory.method == "flow" else "step")
    ax1.set_ylabel("population loss")
    ax2.loglog(t[keep], np.asarray(trajectory.gradient_norms)[keep])
    ax2.set_xlabel(ax1.get_xlabel())
    ax2.set_ylabel("gradient norm")
    title = f"{trajectory.method} path"
    fig.suptitle(title)
    return fig, PlotData(title, {"time": t[keep], "loss": np.asarray(trajectory.losses, float)[keep],
                                 "gradient_norm": np.asarray(trajectory.gradient_norms, float)[keep]})


def plot_plane(problem, points, span=(-0.5, 1.5), grid: int = 41):
    """The loss on the plane through two or three points (module docstring)."""
    pts = [np.array([float(v) for v in getattr(p, "theta", p)]) for p in points]
    if len(pts) not in (2, 3) or any(p.shape != (problem.num_params,) for p in pts):
        raise DomainError(f"argument points must be 2 or 3 points of {problem.num_params} parameters")
    if isinstance(grid, bool) or not isinstance(grid, int) or not 3 <= grid <= 400:
        raise DomainError(f"argument grid must be an integer in 3..400, got {grid!r}")
    p0, u = pts[0], pts[1] - pts[0]
    if len(pts) == 3:
        v = pts[2] - pts[0]
    else:
        lam, Q = np.linalg.eigh(problem.hessian(p0))
        v = Q[:, 0] * np.linalg.norm(u)
    s = np.linspace(span[0], span[1], grid)
    S, T = np.meshgrid(s, s, indexing="ij")
    Z = np.array([[problem.loss(p0 + a * u + b * v) for b in s] for a in s])
    fig, (ax,) = _figure()
    cs = ax.contourf(S, T, Z, levels=30)
    fig.colorbar(cs, ax=ax, label="loss")
    marks = [(0.0, 0.0), (1.0, 0.0)] + ([(0.0, 1.0)] if len(pts) == 3 else [])
    ax.plot([m[0] for m in marks], [m[1] for m in marks], "w*", markersize=10)
    ax.set_xlabel("s (towards point 2)")
    ax.set_ylabel("t (towards point 3)" if len(pts) == 3 else "t (lowest Hessian eigenvector at point 1)")
    title = "loss on a plane through critical points"
    ax.set_title(title)
    return fig, PlotData(title, {"s": s, "t": s, "loss": Z, "origin": p0, "u": u, "v": v})
