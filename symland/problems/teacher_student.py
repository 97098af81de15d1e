r"""Teacher-student problems: configuration, parameters, and loss, gradient and Hessian.

Setting: input $x \sim N(0, I_d)$, student $f(x) = \sum_{i=1}^n a_i s(w_i\cdot x + \beta_i)$
(plus GLU units), teacher $f^*(x) = \sum_{r=1}^k b_r t(v_r\cdot x + \beta^*_r)$, loss
$L = \tfrac12 E_x[(f(x) - f^*(x))^2]$; "erf" is erf(z/sqrt 2).

One class, :class:`TeacherStudent`, for every kind; its assembly (how the loss is summed from
kernel partials) is chosen in ``__init__``:

* plain (no biases, $t = s$, no GLU units): :class:`~symland.problems.gram.GramAssembly`,
  through the Gram matrix of all units;
* biases (``bias=True`` or ``teacher_bias`` given) or a teacher activation $t \ne s$:
  :class:`~symland.problems.means_assembly.MeansAssembly`, kernels with means and cross kernels;
* GLU units (``glus = m > 0``): :class:`~symland.problems.glu_assembly.GluAssembly`, the plain
  assembly for the neurons plus the GLU pair terms.

Parameters are packed as described in :mod:`symland.problems.params` and unpacked to
:class:`~symland.problems.params.Params`.  Results are float64, or mpmath numbers at ``dps``
digits (evaluated with guard digits, :class:`~symland.numerics.precision.Precision`).
"""

from __future__ import annotations

import numpy as np

from ..errors import NoClosedFormError, ShapeError
from ..kernels.activation import Activation
from ..kernels.registry import activation
from ..numerics.arguments import check_flag
from ..numerics.precision import FLOAT64, Precision, as_float_array
from .enclosure import enclose, require_ball_form
from .exact_loss import exact_loss_and_gradient
from .glu_assembly import GluAssembly
from .gram import GramAssembly
from .means_assembly import MeansAssembly
from .params import Layout, Params
from .protocol import Landscape

__all__ = ["TeacherStudent", "MAX_ENTRIES"]

#: largest number of entries of one weight matrix (student ``n x d``, teacher ``k x d``): 80 MB of
#: float64; a larger problem is refused with :class:`~symland.errors.ShapeError` before anything is allocated
MAX_ENTRIES = 10_000_000


def _is_count(value, minimum) -> bool:
    """True for an integer (not a bool) ``>= minimum``."""
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= minimum


def _check_shape_count(value, name, minimum=1):
    """``value`` as an int: an integer (not a bool) ``>= minimum``, else :class:`ShapeError` naming it."""
    if not _is_count(value, minimum):
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ShapeError(f"{name} must be {kind}, got {value!r}")
    return int(value)


def _check_entries(rows, d, name):
    """Refuse a ``rows x d`` weight matrix above :data:`MAX_ENTRIES` entries (ShapeError naming ``name``)."""
    if rows * d > MAX_ENTRIES:
        raise ShapeError(f"{name}: a {rows} x {d} weight matrix has more than MAX_ENTRIES = {MAX_ENTRIES} entries")


class TeacherStudent(Landscape):
    r"""Two-layer teacher-student regression under Gaussian input.

    Parameters
    ----------
    activation_name : str or Activation
        Student activation $s$, and the teacher's unless ``teacher_activation`` is given
        (``"erf"`` is erf(z/sqrt 2)).
    teacher_weights : array (k, d)
        Teacher input weights $V$ (rows $v_r$).
    teacher_output : array (k,), optional
        Teacher output weights $b$ (default all ones).
    n : int
        Number of student neurons.
    train_output : bool
        Train the student's output weights $a$ (default).  With ``False`` they
        are fixed to ``student_output`` (default all ones; the Safran & Shamir
        setting).
    student_output : array (n,), optional
        Fixed output weights used when ``train_output=False``.
    bias : bool
        Train student biases $\beta$ (neurons $s(w_i\cdot x + \beta_i)$).
    teacher_activation : str or Activation, optional
        Teacher activation $t$ (default: the student's).
    teacher_bias : array (k,), optional
        Teacher biases $\beta^*$ (default zeros; giving them, even zeros, selects the
        assembly with means).
    glus : int
        Number $m$ of gated linear units $g_j(x) = c_j s(w_j\cdot x) + (v_j\cdot x)s'(w_j\cdot x)$
        added to the student (default 0; ``n = 0`` is allowed when ``glus >= 1``).  Not
        together with biases or a different teacher activation.

    ``theta = [W.ravel(), a (if trained), beta (if bias), glu_c, glu_w.ravel(), glu_v.ravel() (if glus)]``.
    One problem object may be evaluated from several threads at once, in float64 and at any
    precision (each thread computes in its own mpmath context).
    """

    def __init__(self, activation_name, teacher_weights, teacher_output=None, n=None, train_output=True,
                 student_output=None, bias=False, teacher_activation=None, teacher_bias=None, glus=0):
        train_output, bias = check_flag(train_output, "train_output"), check_flag(bias, "bias")
        self.activation: Activation = activation(activation_name)
        teacher_act = self.activation if teacher_activation is None else activation(teacher_activation)
        means = bool(bias) or teacher_bias is not None or teacher_act.name != self.activation.name
        if means and glus:
            raise ShapeError("glus: GLU units are not supported together with biases or a "
                             "different teacher activation")
        V = as_float_array(teacher_weights, "teacher_weights", ndim=2)
        k, d = V.shape
        if k < 1 or d < 1:
            raise ShapeError(f"teacher_weights must have at least one row and column, got {V.shape}")
        b = np.ones(k) if teacher_output is None else as_float_array(teacher_output, "teacher_output", shape=(k,))
        if n is None:
            raise ShapeError("n (number of student neurons) is required")
        if not _is_count(glus, 0):
            raise ShapeError(f"glus must be a non-negative integer, got {glus!r}")
        if not _is_count(n, 0 if glus else 1):
            raise ShapeError(f"n must be a positive integer (or 0 when glus >= 1), got {n!r}")
        _check_entries(int(n) + int(glus), d, "n")
        self.teacher_weights, self.teacher_output = V, b
        self.n, self.k, self.d, self.glus = int(n), k, d, int(glus)
        self.train_output = bool(train_output)
        self.bias = bool(bias)
        self.teacher_activation = teacher_act
        self.teacher_bias = (np.zeros(k) if teacher_bias is None
                             else as_float_array(teacher_bias, "teacher_bias", shape=(k,)))
        if student_output is None:
            self.student_output = np.ones(self.n)
        else:
            self.student_output = as_float_array(student_output, "student_output", shape=(self.n,))
        self.layout = Layout(self.n, d, self.train_output, self.bias, self.glus)
        if means:
            self._assembly = MeansAssembly(self.activation, teacher_act, V, b, self.teacher_bias, self.layout,
                                           self.student_output)
        elif self.glus:
            self._assembly = GluAssembly(self.activation, V, b, self.layout, self.student_output)
        else:
            self._assembly = GramAssembly(self.activation, V, b, self.layout, self.student_output)

    # ------------------------------------------------------------------
    @classmethod
    def orthonormal(cls, activation_name, k, n, d=None, train_output=True, student_output=None, **options):
        r"""Orthonormal teacher: $V$ = first ``k`` rows of $I_d$ (default ``d = k``), $b = 1$.

        ``options`` go to the constructor (``glus``, ``bias``, ``teacher_activation``, ``teacher_bias``).
        """
        k = _check_shape_count(k, "k")
        d = k if d is None else _check_shape_count(d, "d")
        if d < k:
            raise ShapeError(f"orthonormal teacher needs d >= k, got d={d}, k={k}")
        _check_entries(k, d, "k")
        V = np.zeros((k, d))
        V[np.arange(k), np.arange(k)] = 1.0
        return cls(activation_name, V, np.ones(k), n=n, train_output=train_output,
                   student_output=student_output, **options)

    @property
    def num_params(self) -> int:
        """Length of the packed parameter vector."""
        return self.layout.size

    @property
    def is_plain(self) -> bool:
        """True for the plain kind: no biases (student or teacher), one activation, no GLU units."""
        return isinstance(self._assembly, GramAssembly)

    def __repr__(self):
        extra = f", glus={self.glus}" if self.glus else ""
        teacher = ""
        if isinstance(self._assembly, MeansAssembly):
            teacher = f", teacher_activation={self.teacher_activation.name!r}"
            extra = f", bias={self.bias}"
        return (f"TeacherStudent({self.activation.name!r}{teacher}, n={self.n}, k={self.k}, d={self.d}, "
                f"train_output={self.train_output}{extra})")

    # ------------------------------------------------------------------
    def pack(self, W, a=None, beta=None, glu_c=None, glu_w=None, glu_v=None):
        """Flat float64 parameter vector from student weights ``W`` (n, d) and output weights ``a`` (n,).

        ``a`` is required when the outputs are trained (else omitted, or equal to ``student_output``);
        ``beta`` (n,) when ``bias=True`` (else omitted or zero); ``glu_c`` (m,), ``glu_w`` (m, d),
        ``glu_v`` (m, d) when ``glus = m > 0`` (else omitted).  With ``n = 0``, ``W`` and ``a`` may be ``None``.
        """
        return self.layout.pack(self.student_output, W, a, beta, glu_c, glu_w, glu_v)

    def pack_params(self, params: Params):
        """Flat parameter vector of a :class:`~symland.problems.params.Params` (inverse of :meth:`unpack`)."""
        a = params.a if self.train_output else None
        return self.pack(params.W, a, params.beta, params.glu_c, params.glu_w, params.glu_v)

    def unpack(self, theta) -> Params:
        """:class:`~symland.problems.params.Params` of a flat parameter vector.

        ``a`` is the fixed ``student_output`` when the output weights are not trained; parts the
        problem does not have are ``None``.  An object array of mpmath numbers keeps every digit.
        """
        return self.layout.unpack(theta, self.student_output)

    def check_theta(self, theta, prec: Precision = FLOAT64):
        """``theta`` validated (shape ``(num_params,)``, finite, real) as an array of ``prec``:
        float64, or ``mpmath.mpf`` objects at the current working precision."""
        return self.layout.check(theta, prec)

    # ------------------------------------------------------------------
    # the landscape protocol (symland.problems.protocol); the symmetry group of a teacher-student
    # problem (permutations, sign and scale maps of neurons) is handled by symland.landscape.symmetry,
    # so the hooks canonical / isotropy / zero_modes keep their defaults here and are not used
    name = "teacher-student"
    loss_statement = "loss = 1/2 E[(f - f*)^2], x ~ N(0, I_d)"

    def evaluate(self, theta, prec: Precision, order: int):
        """Loss, gradient, Hessian up to ``order`` in the context ``prec`` (the assembly's evaluation)."""
        return self._assembly.evaluate(theta, prec, order)

    def missing_ball_form(self) -> str:
        try:
            require_ball_form(self)
        except NoClosedFormError as exc:
            return str(exc)
        return ""

    def exact_loss_and_gradient(self, theta) -> tuple:
        """Exact SymPy loss and gradient (plain problems): :func:`symland.problems.exact_loss.exact_loss_and_gradient`."""
        return exact_loss_and_gradient(self, theta)

    def random_start(self, rng):
        r"""$W_{il} \sim N(0, 1/d)$ (row-major, $n \times d$), then $a_i \sim N(0, 1)$ when the output
        weights are trained (the survey's documented initialisation)."""
        W = rng.normal(0.0, 1.0 / np.sqrt(self.d), size=(self.n, self.d))
        if self.train_output:
            return self.pack(W, rng.normal(0.0, 1.0, size=self.n))
        return self.pack(W)

    def _evaluate(self, theta, dps, order):
        return self._assembly.evaluate(theta, FLOAT64 if dps is None else Precision(dps), order)

    def loss(self, theta, dps=None):
        r"""$L(\theta) = \tfrac12 E[(f - f^*)^2]$: float, or mpmath number at ``dps`` digits."""
        return self._evaluate(theta, dps, 0).loss

    def loss_and_gradient(self, theta, dps=None):
        """``(loss, gradient)`` from one evaluation of the kernels (plain float64: the lean path
        :meth:`~symland.problems.gram.GramAssembly.fast_loss_and_gradient` when it applies)."""
        if dps is None and self.is_plain:
            fast = self._assembly.fast_loss_and_gradient(theta)
            if fast is not None:
                return fast
        ev = self._evaluate(theta, dps, 1)
        return ev.loss, ev.gradient

    def gradient(self, theta, dps=None):
        r"""$\nabla_\theta L$ (shape ``(num_params,)``; object array of mpf when ``dps`` is given)."""
        return self.loss_and_gradient(theta, dps)[1]

    def hessian(self, theta, dps=None):
        r"""$\nabla^2_\theta L$ (shape ``(num_params, num_params)``); blocks in
        :meth:`symland.problems.gram.GramAssembly.hessian_matrix` (plain problems)."""
        return self._evaluate(theta, dps, 2).hessian

    def enclose(self, theta, dps: int = 50, order: int = 2):
        """Rigorous python-flint ball enclosures of the loss, gradient and Hessian (up to ``order``)
        on a box of parameters: :func:`symland.problems.enclosure.enclose`."""
        return enclose(self, theta, dps, order)

    def gram_gradient(self, theta, dps=None):
        r"""Student block $S_{WW}$ of $\partial L/\partial G$ (symmetric convention, $\nabla_U L = 2SU$).

        At a critical point, perturbing every student by $\varepsilon_i e$ along
        a unit vector $e$ orthogonal to all weight vectors changes the loss by
        $\varepsilon^\top S_{WW}\varepsilon$ to second order, so the Hessian
        restricted to those directions is $2S_{WW}$ (used for problems reduced
        to the span of the weights).  Plain problems only.
        """
        if self.glus:
            raise ShapeError("gram_gradient is defined for problems without GLU units (glus=0)")
        if not self.is_plain:
            raise NotImplementedError("gram_gradient is defined for problems without biases and with one "
                                      "activation")
        return self._evaluate(theta, dps, 1).gram_gradient
