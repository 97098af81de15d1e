r"""Surveys that recognise channels to infinity.

:func:`survey` is :func:`symland.landscape.survey.survey` with :func:`channel_end_point` as its
end-point classifier.  A float64 end point whose neuron pair sits in a channel to infinity
(:func:`~symland.channels.channel.detect`: output weights large with opposite signs and bounded
sum, input weights close) is not a flat minimum: it is reported as a *channel* with its GLU limit
($c = a_i + a_j$, $w$ the midpoint, $v = \tfrac12(a_i - a_j)(w_i - w_j)$), whose GLU critical point
is refined to ``dps`` digits (:func:`~symland.channels.channel.glu_limit`), never refined as a
finite point.  Channels are grouped by the GLU limit's loss and index.  Loss
$L = \tfrac12 E[(f - f^*)^2]$, $x \sim N(0, I_d)$.
"""

from __future__ import annotations

import dataclasses


from ..landscape import survey as landscape_survey
from ..landscape.survey import SurveyResult
from ..numerics.mpcontext import thread_mp
from .channel import detect, glu_limit

__all__ = ["ChannelOutcome", "channel_end_point", "survey"]


@dataclasses.dataclass
class ChannelOutcome:
    """A start that ended in a channel: the detection and (if it was found) the refined GLU limit.

    ``limit`` is a :class:`~symland.channels.channel.GLULimit` or ``None`` with ``reason``
    saying why the GLU critical point was not found.
    """

    detection: object
    limit: object
    reason: str | None = None

    @property
    def loss(self):
        """Loss the channel tends to: the refined GLU critical point's (mpmath), else the end point's (float)."""
        return self.limit.point.loss if self.limit is not None else self.detection_loss

    detection_loss: float = float("nan")

    def group_key(self, start):
        """Channels with equal GLU-limit loss (to the digits reached, less 3) and index are one row;
        an unrefined channel is a row of its own (``start``)."""
        if self.limit is None:
            return ("end", start)
        cp = self.limit.point
        return ("glu", thread_mp.nstr(cp.loss, max(cp.digits - 3, 5)), cp.index)

    def table_line(self, count, digits, w):
        """One survey-table row: the GLU limit's loss, index and kind, and the pair."""
        pairs = ", ".join(f"({p.i},{p.j}) a=({p.a_i:.3g},{p.a_j:.3g}) |w_i-w_j|={p.gap:.2e}"
                          for p in self.detection.pairs)
        if self.limit is None:
            return (f"  -  {'channel':<{w}} {'':>5} {'':>7}  {'channel':<10} {count:>5}   pairs {pairs}; "
                    f"end-point loss {self.detection_loss:.12g}; {self.reason}")
        cp = self.limit.point
        loss = thread_mp.nstr(cp.loss, digits, strip_zeros=False)
        return (f"  -  {loss:<{w}} {cp.index:>5} {cp.nullity:>7}  {'channel':<10} {count:>5} {cp.digits:>6}   "
                f"-> GLU {cp.kind}; "
                f"pairs {pairs}; end-point loss {self.detection_loss:.12g}")

    def to_dict(self):
        d = {"detection": self.detection.to_dict(), "reason": self.reason,
             "loss_end": repr(self.detection_loss)}
        if self.limit is not None:
            d["glu_limit"] = self.limit.to_dict()
        return d


def channel_end_point(problem, theta, dps):
    """A :class:`ChannelOutcome` when the float64 end point ``theta`` sits in a channel, else ``None``.

    The end-point classifier of :func:`survey` (plain networks with trained output weights, n >= 2).
    """
    det = detect(problem, theta)
    if det.kind != "channel":
        return None
    loss_end = float(problem.loss(det.theta))
    try:
        lim = glu_limit(problem, det, dps=dps)
    except Exception as exc:  # noqa: BLE001 -- one hard end point never ends a survey
        return ChannelOutcome(det, None, f"GLU critical point not found: {type(exc).__name__}: {exc}", loss_end)
    return ChannelOutcome(det, lim, None, loss_end)


def survey(problem, starts=20, seed=0, dps=30, executor=None, solver="minimize", progress=None,
           gtol=1e-10, workers=None, tol=None, merge="orbit", batch=True) -> SurveyResult:
    """Multi-start survey (:func:`symland.landscape.survey.survey`, same arguments) that lists end points in
    channels to infinity in ``result.channels`` with their refined GLU limits instead of refining them."""
    return landscape_survey.survey(problem, starts=starts, seed=seed, dps=dps, executor=executor, solver=solver,
                                   progress=progress, gtol=gtol, workers=workers, tol=tol, merge=merge,
                                   end_point=channel_end_point, batch=batch)
