r"""Symbolic ansatz: exact reduced loss and exact full-space gradient of a symmetric configuration.

Setting: input $x \sim N(0, I_d)$, loss $L = \tfrac12 E[(f - f^*)^2]$,
student $f = \sum_i a_i s(w_i\cdot x)$, teacher $f^* = \sum_r b_r s(v_r\cdot x)$ with
**orthonormal** teacher vectors $v_r$ (``"erf"`` is erf(z/sqrt 2)).

A configuration is described by *groups* of teacher neurons: group $G$ has size $m_G$
(an integer or a SymPy symbol) and output weight $b_G$, and student neuron $i$ is

.. math:: w_i = \sum_G c_{iG} \sum_{r \in G} v_r ,

i.e. it weights every teacher neuron of a group equally (one scalar $c_{iG}$ per group).
Listing explicit rows $W$ in the teacher basis is the special case of groups of size 1
(:meth:`GroupAnsatz.from_rows`).  The Gram entries are then
$G_{ij} = \sum_G m_G c_{iG} c_{jG}$, $G_{i r} = c_{iG}$ ($r\in G$), $G_{rs} = \delta_{rs}$, and
the loss is the grouped pair sum

.. math:: L = \tfrac12\sum_p \alpha_p^2\varphi(G_{pp})
            + \sum_{p<q}\alpha_p\alpha_q\,\kappa(G_{pp}, G_{qq}, G_{pq}),\qquad
          \alpha = (a, -b),\ \varphi(t) = \kappa(t, t, t),

where equal pair terms are collected with their multiplicity (a student meets the $m_G$
teacher neurons of group $G$ through one term of multiplicity $m_G$), so group sizes can stay
symbols.  The exact kernel ``act.kernel_expr`` (in its safe form with $D = ab - c^2$) and exact
constants are used throughout.

**Full-space gradient.**  $\nabla_{w_i} L = 2\sum_q S_{iq} u_q$ with
$S_{iq} = \tfrac12 a_i\alpha_q\kappa_c(G_{ii}, G_{qq}, G_{iq})$ ($q\ne i$) and
$S_{ii} = \tfrac12 a_i^2\varphi'(G_{ii}) + \sum_{q\ne i} a_i\alpha_q\kappa_a(G_{ii}, G_{qq}, G_{iq})$.
Every $u_q$ lies in the span of the teacher, and the component of $\nabla_{w_i}L$ along $v_r$
is the same for all $r$ of one group:

.. math:: \gamma_{iG} = 2S_{ii}c_{iG} + \sum_{j\ne i} a_ia_j\kappa_c(G_{ii},G_{jj},G_{ij})c_{jG}
                      - a_i b_G\kappa_c(G_{ii}, 1, c_{iG}),

so $\|\nabla_\theta L\|^2 = \sum_i (\partial L/\partial a_i)^2 + \sum_{i,G} m_G\gamma_{iG}^2$ in
any input dimension $d \ge k$.  This is the gradient of the *whole* landscape, including the
directions the ansatz holds fixed (e.g. $c_{iG} = 0$), so it decides whether a critical point of
the reduced problem is critical in the full space.  :func:`prove_zero` decides exact vanishing.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import sympy

from ..errors import NoClosedFormError, ShapeError, SymlandError
from ..kernels.partials import kernel_at, phi_at
from ..kernels.registry import activation
from ..numerics.precision import GUARD_DIGITS
from ..numerics.compile import lambdify_mpmath
from ..numerics.exact import mp_value, prove_zero, recognise_rational
from ..numerics.expression import to_sympy
from ..numerics.mpcontext import is_mpf, sympy_evalf, thread_mp, to_result
from ..problems.teacher_student import TeacherStudent

__all__ = ["GroupAnsatz", "PairTerm", "prove_zero", "kernel_at", "recognise_rational", "mp_value"]



@dataclasses.dataclass(frozen=True)
class PairTerm:
    r"""One grouped term ``weight * multiplicity * kappa(A, B, C)`` of the loss.

    ``diagonal=True`` marks a self term $\varphi(A)$ (then ``B = C = A``).
    """

    weight: sympy.Expr
    multiplicity: sympy.Expr
    A: sympy.Expr
    B: sympy.Expr
    C: sympy.Expr
    diagonal: bool = False

    def value(self, act):
        k = phi_at(act, 0, self.A) if self.diagonal else kernel_at(act, (0, 0, 0), self.A, self.B, self.C)
        return self.weight * self.multiplicity * k


def _sym(x, name, resolve=None):
    """An ansatz entry as an exact SymPy object; a string is parsed (never evaluated), its names
    resolved to symbols by ``resolve`` (see :func:`~symland.numerics.expression.parse_expression`)."""
    v = to_sympy(x, f"argument {name}", symbols=resolve)
    if v.atoms(sympy.Float):
        raise SymlandError(f"argument {name} must use exact constants (Rational, sqrt, pi), found a float in {v}")
    return v


class GroupAnsatz:
    r"""Student neurons $w_i = \sum_G c_{iG}\sum_{r\in G} v_r$ against an orthonormal teacher in groups.

    Parameters
    ----------
    activation : str or Activation
        Must have a closed-form kernel.
    coefficients : n x q nested sequence of SymPy expressions
        $c_{iG}$ (use ``0`` for a group a student ignores).
    output : length-n sequence
        Student output weights $a_i$ (symbols, or fixed numbers such as ``1``).
    sizes : length-q sequence
        Group sizes $m_G$: positive integers or SymPy symbols (declare them ``positive=True``).

    Entries may also be strings, read by the restricted parser
    :func:`~symland.numerics.expression.parse_expression` (never evaluated as Python; decimals
    become exact rationals).  A name in a string is the SymPy symbol of that name among the
    non-string entries if there is one; otherwise a new symbol, declared a positive integer
    when it first appears in a string of ``sizes`` (so ``sizes=["m"]`` and a coefficient
    ``"1/sqrt(m)"`` share one positive integer ``m``).  String keys of ``values`` and ``sizes``
    in the methods below name symbols the same way.
    teacher_output : length-q sequence, optional
        $b_G$ (default all 1).
    train_output : bool
        Whether the output weights are parameters of the full problem (default).  With
        ``False`` (fixed outputs, e.g. all 1 as in Safran & Shamir) $\partial L/\partial a$ is
        not part of the gradient, and ``output`` must be numbers.

    Raises :class:`~symland.errors.ShapeError` for inconsistent shapes and
    :class:`~symland.errors.SymlandError` for floats or non-positive sizes.
    """

    def __init__(self, activation_name, coefficients, output, sizes, teacher_output=None, train_output=True):
        self.activation = activation(activation_name)
        if not self.activation.has_closed_form:
            raise NoClosedFormError(f"activation {self.activation.name!r} has no closed-form kernel; "
                                    "the symbolic ansatz needs one")
        rows = [list(r) for r in coefficients]
        sizes = list(sizes)
        b = [1] * len(sizes) if teacher_output is None else list(teacher_output)
        self._names = _names_of([sizes, *rows, list(output), b])
        self.n = len(rows)
        if self.n < 1:
            raise ShapeError("argument coefficients must have at least one row (one student neuron)")
        self.sizes = [_sym(m, "sizes", self._resolver(positive=True, integer=True)) for m in sizes]
        self.q = len(self.sizes)
        for m in self.sizes:
            if m.is_positive is False or (m.is_number and not (m.is_integer and m > 0)):
                raise SymlandError(f"argument sizes: group sizes must be positive integers or positive symbols, "
                                   f"got {m}")
        if any(len(r) != self.q for r in rows):
            raise ShapeError(f"argument coefficients must be {self.n} x {self.q} (one column per group in sizes)")
        self.c = [[_sym(x, "coefficients", self._resolver()) for x in r] for r in rows]
        self.a = [_sym(x, "output", self._resolver()) for x in output]
        if len(self.a) != self.n:
            raise ShapeError(f"argument output must have {self.n} entries (one per student), got {len(self.a)}")
        if len(b) != self.q:
            raise ShapeError(f"argument teacher_output must have {self.q} entries (one per group)")
        self.b = [_sym(x, "teacher_output", self._resolver()) for x in b]
        self.train_output = bool(train_output)
        if not self.train_output and any(x.free_symbols for x in self.a):
            raise SymlandError("argument output must be numbers when train_output=False (fixed output weights)")

    def _resolver(self, remember=True, **assumptions):
        """``name -> symbol`` for strings: the known symbol of that name, else a new one (remembered
        for the later entries when ``remember``)."""
        def resolve(name):
            if name in self._names:
                return self._names[name]
            new = sympy.Symbol(name, **assumptions)
            return self._names.setdefault(name, new) if remember else new
        return resolve

    def _key(self, key, what):
        """A key of ``values``/``sizes``: a string names a symbol of the ansatz (or a new plain one)."""
        return to_sympy(key, what, symbols=self._resolver(remember=False))

    def _values(self, values):
        """``{symbol: exact value}`` from user ``values`` (keys and string values resolved by name)."""
        if values is None:
            return {}
        return {self._key(k, "values"): _exact_or_float(v, self._resolver(remember=False)) for k, v in dict(values).items()}

    @classmethod
    def from_rows(cls, activation_name, W, output, teacher_output=None, train_output=True):
        """Explicit student rows ``W`` (n x k, teacher basis): every teacher neuron its own group."""
        if isinstance(W, sympy.MatrixBase):
            W = W.tolist()
        rows = [list(r) for r in W]  # not sympy.Matrix(W): it would sympify (eval) string entries
        if not rows or any(len(r) != len(rows[0]) for r in rows):
            raise ShapeError("argument W must be a non-empty n x k nested sequence (rows of equal length)")
        return cls(activation_name, rows, output, [1] * len(rows[0]), teacher_output, train_output)

    # -- structure -----------------------------------------------------
    @property
    def k(self):
        """Total number of teacher neurons $\\sum_G m_G$ (an expression if sizes are symbols)."""
        return sympy.Add(*self.sizes)

    @property
    def symbols(self):
        """Free symbols of coefficients and outputs (the ansatz scalars), sorted by name."""
        s = set()
        for row in self.c:
            for x in row:
                s |= x.free_symbols
        for x in self.a:
            s |= x.free_symbols
        return sorted(s - set().union(*(m.free_symbols for m in self.sizes)), key=lambda v: v.name)

    def gram_student(self, i, j):
        return sympy.Add(*[m * self.c[i][G] * self.c[j][G] for G, m in enumerate(self.sizes)])

    def pair_terms(self):
        r"""The loss as grouped :class:`PairTerm` objects (equal terms merged, multiplicities summed)."""
        terms = {}

        def add(weight, mult, A, B, C, diagonal=False):
            if not diagonal and sympy.default_sort_key(B) < sympy.default_sort_key(A):
                A, B = B, A  # kappa(a, b, c) = kappa(b, a, c)
            key = (weight, A, B, C, diagonal)
            terms[key] = terms.get(key, 0) + mult

        Gii = [self.gram_student(i, i) for i in range(self.n)]
        for i in range(self.n):
            add(self.a[i] ** 2 / 2, 1, Gii[i], Gii[i], Gii[i], True)
            for j in range(i + 1, self.n):
                add(self.a[i] * self.a[j], 1, Gii[i], Gii[j], self.gram_student(i, j))
            for G, m in enumerate(self.sizes):
                add(-self.a[i] * self.b[G], m, Gii[i], sympy.Integer(1), self.c[i][G])
        one, zero = sympy.Integer(1), sympy.Integer(0)
        for G, m in enumerate(self.sizes):
            add(self.b[G] ** 2 / 2, m, one, one, one, True)
            add(self.b[G] ** 2, m * (m - 1) / 2, one, one, zero)
            for H in range(G + 1, self.q):
                add(self.b[G] * self.b[H], m * self.sizes[H], one, one, zero)
        return [PairTerm(w, sympy.factor(mult), A, B, C, d) for (w, A, B, C, d), mult in terms.items()
                if mult != 0 and w != 0]

    # -- loss and gradient ----------------------------------------------
    @functools.cached_property
    def loss(self) -> sympy.Expr:
        """Exact reduced loss $L$ (SymPy expression in the ansatz scalars and group sizes)."""
        return sympy.Add(*[t.value(self.activation) for t in self.pair_terms()])

    @functools.cached_property
    def gradient(self) -> dict:
        r"""Exact full-space gradient: ``{"a": [dL/da_i], "w": [[gamma_iG]]}`` (see the module docstring)."""
        act, n = self.activation, self.n
        Gii = [self.gram_student(i, i) for i in range(n)]
        one = sympy.Integer(1)
        da, gam = [], []
        for i in range(n):
            d = self.a[i] * phi_at(act, 0, Gii[i])
            S = self.a[i] ** 2 / 2 * phi_at(act, 1, Gii[i])
            cross = [0] * self.q
            for j in range(n):
                if j == i:
                    continue
                Gij = self.gram_student(i, j)
                d += self.a[j] * kernel_at(act, (0, 0, 0), Gii[i], Gii[j], Gij)
                S += self.a[i] * self.a[j] * kernel_at(act, (1, 0, 0), Gii[i], Gii[j], Gij)
                kc = kernel_at(act, (0, 0, 1), Gii[i], Gii[j], Gij)
                for G in range(self.q):
                    cross[G] += self.a[i] * self.a[j] * kc * self.c[j][G]
            for G, m in enumerate(self.sizes):
                d -= m * self.b[G] * kernel_at(act, (0, 0, 0), Gii[i], one, self.c[i][G])
                S -= m * self.a[i] * self.b[G] * kernel_at(act, (1, 0, 0), Gii[i], one, self.c[i][G])
            row = []
            for G in range(self.q):
                row.append(2 * S * self.c[i][G] + cross[G]
                           - self.a[i] * self.b[G] * kernel_at(act, (0, 0, 1), Gii[i], one, self.c[i][G]))
            da.append(d)
            gam.append(row)
        return {"a": da, "w": gam}

    def gradient_norm_squared(self, values=None) -> sympy.Expr:
        r"""$\|\nabla_\theta L\|^2 = \sum_i (\partial_{a_i}L)^2 + \sum_{i,G} m_G\gamma_{iG}^2$ (first sum if trained)."""
        g = self.gradient
        e = sympy.Add(*[x**2 for x in g["a"]]) if self.train_output else sympy.Integer(0)
        e += sympy.Add(*[self.sizes[G] * g["w"][i][G] ** 2 for i in range(self.n) for G in range(self.q)])
        return e if values is None else e.xreplace(self._values(values))

    def gradient_entries(self, values, train_output=None):
        """``[(name, expr)]`` of every distinct gradient component at ``values`` (dict symbol -> exact)."""
        v = self._values(values)
        out = []
        if self.train_output if train_output is None else train_output:
            out += [(f"dL/da_{i}", e.xreplace(v)) for i, e in enumerate(self.gradient["a"])]
        out += [(f"dL/dw_{i} . v(group {G})", self.gradient["w"][i][G].xreplace(v))
                for i in range(self.n) for G in range(self.q)]
        return out

    def is_critical(self, values, train_output=None, dps=60):
        r"""Decide full-space criticality at exact ``values``.

        Returns ``(status, residual)``: ``status`` is ``"exact"`` when every gradient
        component is proven zero (:func:`prove_zero`), ``"not critical"`` when one is
        nonzero at ``dps`` digits, and ``f"{dps} digits"`` when all vanish numerically but
        not all could be proven; ``residual`` is the gradient norm at ``dps`` digits.
        """
        train_output = self.train_output if train_output is None else train_output
        entries = self.gradient_entries(values, train_output)
        with thread_mp.workdps(dps + GUARD_DIGITS):
            nums = [mp_value(e, dps + GUARD_DIGITS) for _, e in entries]
            weights = ([1] * (self.n if train_output else 0)
                       + [self.sizes[G] for i in range(self.n) for G in range(self.q)])
            res = thread_mp.sqrt(thread_mp.fsum(mp_value(w, dps) * x * x for w, x in zip(weights, nums)))
        tiny = thread_mp.mpf(10) ** (-(dps - 5))
        if any(abs(x) > tiny for x in nums):
            return "not critical", res
        if all(prove_zero(e) for _, e in entries):
            return "exact", res
        return f"{dps} digits", res

    def exact_check(self, values, dps):
        r"""``(loss, loss_exact, status)`` at exact ``values``: status from :meth:`is_critical` at ``dps + GUARD_DIGITS``
        digits (``"exact"``, ``"not critical"``, else ``"<dps> digits"``), the simplified exact loss and its
        value at ``dps`` digits."""
        status, _ = self.is_critical(values, dps=dps + GUARD_DIGITS)
        if status not in ("exact", "not critical"):
            status = f"{dps} digits"
        loss_exact = sympy.simplify(self.loss.xreplace(self._values(values)))
        with thread_mp.workdps(dps):
            return +mp_value(loss_exact, dps + GUARD_DIGITS), loss_exact, status

    def numeric_check(self, values, dps):
        r"""``(num, loss, gradient_norm, status)`` at numeric ``values`` (dict symbol -> mpmath number).

        ``num``: the values as SymPy Floats of ``dps + GUARD_DIGITS`` digits; loss and
        $\|\nabla_\theta L\|$ (:meth:`gradient_norm_squared`) at ``dps + GUARD_DIGITS`` digits, rounded to ``dps``;
        status ``"<dps> digits"`` when the norm is below $10^{-(dps - 5)}$, else ``"not critical"``.
        """
        num = {u: sympy.Float(thread_mp.nstr(v, dps + GUARD_DIGITS), dps + GUARD_DIGITS) for u, v in values.items()}
        with thread_mp.workdps(dps + GUARD_DIGITS):
            gn = thread_mp.sqrt(mp_value(self.gradient_norm_squared(num), dps + GUARD_DIGITS))
            loss = mp_value(self.loss.xreplace(num), dps + GUARD_DIGITS)
        status = f"{dps} digits" if gn < thread_mp.mpf(10) ** (-(dps - 5)) else "not critical"
        with thread_mp.workdps(dps):
            return num, +loss, +gn, status

    # -- solving the reduced problem ---------------------------------
    def solve(self, unknowns=None, starts=None, dps=50, exact=True):
        r"""Critical points of the reduced loss in ``unknowns``, then their full-space status.

        Reduced equations $\partial L/\partial u = 0$ for each unknown $u$ (default: every
        ansatz scalar, :attr:`symbols`).  With ``exact=True`` and equations that are rational
        functions of the unknowns (no transcendental function of them), ``sympy.solve`` gives
        exact solutions; otherwise (or when it finds none) mpmath ``findroot`` runs at
        ``dps + 2 * GUARD_DIGITS`` digits from each start (dicts or sequences in the order of ``unknowns``;
        default a few deterministic ones).  Every solution is then classified by
        :meth:`is_critical` (exact values) or by the full gradient norm at ``dps`` digits
        (numeric values).  Returns a list of dicts with keys ``values`` (symbol -> exact SymPy
        number or mpmath number), ``exact`` (bool), ``loss`` (mpmath), ``critical``
        (``"exact"`` / ``"<dps> digits"`` / ``"not critical"``), ``gradient_norm`` (from the exact
        gradient expressions) and ``gradient_norm_full`` (from :class:`~symland.TeacherStudent`,
        the independent numeric assembly, at ``dps + GUARD_DIGITS`` digits; ``None`` for symbolic sizes); points
        are deduplicated at ``dps // 2`` digits.  An exact solution that leaves some unknowns free
        (a family, e.g. under a rescaling symmetry) is returned with ``family`` listing them and
        ``critical`` decided by :func:`prove_zero` on the symbolic gradient.
        """
        unknowns = list(self.symbols if unknowns is None else (self._key(u, "unknowns") for u in unknowns))
        if not unknowns:
            raise SymlandError("argument unknowns: the ansatz has no free scalars to solve for")
        eqs = [sympy.diff(self.loss, u) for u in unknowns]
        out = []
        rational = all(not any(f.has(u) for f in e.atoms(sympy.Function) for u in unknowns) for e in eqs)
        if exact and rational:
            try:
                sols = sympy.solve(eqs, unknowns, dict=True)
            except (NotImplementedError, sympy.PolynomialError):
                sols = []
            for s in sols:
                vals = {u: sympy.simplify(s.get(u, u)) for u in unknowns}
                if any(v.is_real is False for v in vals.values()):
                    continue
                free = set().union(*(v.free_symbols for v in vals.values()))
                if free:
                    # a family of solutions (e.g. a rescaling symmetry): decided exactly or not at all
                    ok = all(prove_zero(e) for _, e in self.gradient_entries(vals))
                    out.append({"values": vals, "exact": True, "loss": sympy.simplify(self.loss.xreplace(vals)),
                                "critical": "exact" if ok else "undecided (family)", "gradient_norm": None,
                                "family": sorted(free, key=lambda v: v.name)})
                    continue
                status, res = self.is_critical(vals, dps=dps)
                with thread_mp.workdps(dps):
                    out.append({"values": vals, "exact": True, "loss": +mp_value(self.loss.xreplace(vals), dps),
                                "critical": status, "gradient_norm": res})
            if out:
                for s in out:
                    s["gradient_norm_full"] = self._full_assembly_norm(s, dps)
                return out
        f = lambdify_mpmath(unknowns, eqs)
        if starts is None:
            starts = [[sympy.Rational(p, 4)] * len(unknowns) for p in (1, 2, 3, 5, -2)]
        seen = []
        for st in starts:
            if isinstance(st, dict):
                st = self._values(st)
                x0 = [st[u] for u in unknowns]
            else:  # strings parsed here, never handed to sympy.N (which would sympify them)
                x0 = [_exact_or_float(v, self._resolver(remember=False)) for v in st]
            with thread_mp.workdps(dps + 2 * GUARD_DIGITS):
                try:
                    root = thread_mp.findroot(lambda *x: f(*x), [thread_mp.mpf(str(sympy_evalf(v, dps + 2 * GUARD_DIGITS))) for v in x0])
                except (ValueError, ZeroDivisionError, TypeError):
                    continue
                root = [root] if len(unknowns) == 1 else [root[i] for i in range(len(unknowns))]
                if any(not thread_mp.isfinite(r) for r in root):
                    continue
                key = tuple(thread_mp.nstr(r, dps // 2) for r in root)
            if key in seen:
                continue
            seen.append(key)
            _, loss, gn, status = self.numeric_check(dict(zip(unknowns, root)), dps)
            with thread_mp.workdps(dps):
                out.append({"values": {u: +r for u, r in zip(unknowns, root)}, "exact": False, "loss": loss,
                            "critical": status, "gradient_norm": gn})
        for s in out:
            s["gradient_norm_full"] = self._full_assembly_norm(s, dps)
        return out

    def _full_assembly_norm(self, sol, dps):
        """|grad| from TeacherStudent (the independent numeric assembly) at dps + GUARD_DIGITS digits, if concrete."""
        if sol.get("family") or any(m.free_symbols for m in self.sizes):
            return None
        prob = self.problem()
        theta = self.theta(sol["values"], dps=dps + GUARD_DIGITS)
        with thread_mp.workdps(dps + GUARD_DIGITS):
            g = prob.gradient(theta, dps=dps + GUARD_DIGITS)
            n = thread_mp.sqrt(thread_mp.fsum(x * x for x in g))
        with thread_mp.workdps(dps):
            return +n

    # -- concrete problems ----------------------------------------------
    def concrete_sizes(self, sizes=None):
        subs = {} if sizes is None else {self._key(k, "sizes"): to_sympy(v, "sizes") for k, v in dict(sizes).items()}
        ms = [m.xreplace(subs) for m in self.sizes]
        if not all(m.is_Integer for m in ms):
            raise SymlandError(f"group sizes {ms} are not all integers; pass sizes={{symbol: value}}")
        return [int(m) for m in ms]

    def problem(self, d=None, sizes=None, train_output=None):
        """The :class:`~symland.TeacherStudent` problem (teacher = first k rows of $I_d$, groups consecutive)."""
        train_output = self.train_output if train_output is None else train_output
        ms = self.concrete_sizes(sizes)
        k = sum(ms)
        d = k if d is None else d
        if d < k:
            raise ShapeError(f"argument d must be >= k = {k}, got {d}")
        b = []
        for G, m in enumerate(ms):
            bg = self.b[G]
            if bg.free_symbols:
                raise SymlandError("teacher_output must be numbers to build a concrete problem")
            b += [float(bg)] * m
        student_output = None
        if not train_output:
            student_output = [float(x) for x in self.a]
        return TeacherStudent(self.activation, np.eye(d)[:k], np.array(b), n=self.n, train_output=train_output,
                              student_output=student_output)

    def theta(self, values, dps=50, d=None, sizes=None, train_output=None):
        """Packed parameters (mpmath object array at ``dps`` digits) of the configuration at ``values``."""
        train_output = self.train_output if train_output is None else train_output
        v = self._values(values)
        if sizes:
            v.update({self._key(s, "sizes"): sympy.Integer(x) for s, x in dict(sizes).items()})
        ms = self.concrete_sizes(sizes)
        k = sum(ms)
        d = k if d is None else d
        with thread_mp.workdps(dps + GUARD_DIGITS):
            W = np.array([[thread_mp.mpf(0)] * d for _ in range(self.n)], dtype=object)
            for i in range(self.n):
                col = 0
                for G, m in enumerate(ms):
                    cval = mp_value(self.c[i][G].xreplace(v), dps + GUARD_DIGITS)
                    for r in range(m):
                        W[i, col + r] = cval
                    col += m
            parts = list(W.ravel())
            if train_output:
                parts += [mp_value(x.xreplace(v), dps + GUARD_DIGITS) for x in self.a]
            return to_result(np.array(parts, dtype=object), dps)

    def __repr__(self):
        return f"GroupAnsatz({self.activation.name!r}, n={self.n}, sizes={self.sizes})"


def _names_of(groups) -> dict:
    """``{name: symbol}`` of the free symbols of the SymPy objects in nested ``groups`` (the first
    symbol of a name wins); strings and numbers are skipped."""
    names = {}
    for group in groups:
        for x in group:
            if isinstance(x, sympy.Basic):
                for s in sorted(x.free_symbols, key=sympy.default_sort_key):
                    names.setdefault(s.name, s)
    return names


def _exact_or_float(v, resolve=None):
    """SymPy value; an mpmath number keeps all its digits (a plain conversion would round it to 15);
    a string is parsed, its names resolved by ``resolve``."""
    if is_mpf(v):
        digits = max(20, int(v._mpf_[3] * 0.30103) + 5)  # from the mantissa's own bit count
        return sympy.Float(thread_mp.nstr(v, digits), digits)
    return to_sympy(v, "values", symbols=resolve)


