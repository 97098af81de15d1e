r"""User expressions as SymPy objects, without evaluating any string as Python.

``sympy.sympify("...")`` runs the string through Python's ``eval``: a string such as
``"__import__('os').system('...')"`` executes a command.  symland accepts formulas from users
(activations, kernels, ansatz entries, kink points), so every string goes through
:func:`parse_expression`, a small recursive-descent parser that tokenises the text itself and
builds SymPy objects directly:

* grammar: ``expr := term (('+' | '-') term)*``, ``term := unary (('*' | '/') unary)*``,
  ``unary := ('+' | '-') unary | power``, ``power := atom ('**' unary)?`` (right associative,
  binding tighter than a leading minus on its left: ``-z**2`` is $-(z^2)$, as in Python), and
  ``atom := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'``; binary operators
  fold left to right, so the result equals what SymPy builds from the same Python-syntax text;
* numbers (ASCII digits: ``2``, ``0.5``, ``1e-3``, ``1.5E+2``) become **exact** ``Rational``
  values (the project keeps exact constants; ``0.1`` is $1/10$, never a binary float);
* names: the constants ``pi`` and ``E``, the functions of :data:`FUNCTIONS` (with their number
  of arguments; callers add their own, e.g. ``OwensT``), and symbols: only those the caller
  allows (``symbols=``), or, when ``symbols=None``, any identifier that does not start with an
  underscore and is not one of :data:`RESERVED` (``I``, ``oo``, ``zoo``, ``nan``: SymPy would
  read them as the imaginary unit, infinities or not-a-number, which the language excludes);
* ``^`` is refused rather than read as a power (in Python it is exclusive or; write ``**``);
  ``Piecewise`` and comparisons are not in the language (write ``Heaviside``, ``sign``,
  ``Max``, ``Min`` or ``Abs``); the value must be real and finite where it is a number
  (``1/0``, ``log(0)``, ``sqrt(-1)`` are refused);
* size limits, so that a hostile text is refused in milliseconds instead of hanging or
  exhausting the stack: at most :data:`MAX_LENGTH` characters, nesting (parentheses, calls,
  signs, powers) at most :data:`MAX_DEPTH` levels, at most :data:`MAX_ARGUMENTS` arguments per
  call, exact numbers (numerators, denominators) of at most :data:`MAX_BITS` bits and integer
  exponents of at most :data:`MAX_EXPONENT` in absolute value (``9**9**9`` would otherwise
  compute a number with 370 million digits).

Everything refused raises :class:`~symland.errors.ExpressionError` (a ``SymlandError`` and a
``ValueError``) whose message names the argument (``what``), the offending text and its
position (0-based character offset).

:func:`to_sympy` is the one entry point for user input: strings are parsed, SymPy objects and
numbers pass, anything else is refused (``sympify`` would fall back to ``eval(str(obj))``).
:func:`format_expression` prints a SymPy expression as text of this language, verified to
parse back to the same expression.
"""

from __future__ import annotations

import fractions
import numbers
import operator
import re

import sympy

from ..errors import ExpressionError
from .mpcontext import is_mpf

__all__ = [
    "FUNCTIONS",
    "CONSTANTS",
    "RESERVED",
    "MAX_LENGTH",
    "MAX_DEPTH",
    "MAX_ARGUMENTS",
    "MAX_BITS",
    "MAX_EXPONENT",
    "parse_expression",
    "to_sympy",
    "format_expression",
]

#: functions a user expression may call: name -> (SymPy callable, least and most arguments)
FUNCTIONS = {
    "exp": (sympy.exp, 1, 1), "log": (sympy.log, 1, 2), "sqrt": (sympy.sqrt, 1, 1),
    "sin": (sympy.sin, 1, 1), "cos": (sympy.cos, 1, 1), "tan": (sympy.tan, 1, 1),
    "asin": (sympy.asin, 1, 1), "acos": (sympy.acos, 1, 1), "atan": (sympy.atan, 1, 1),
    "atan2": (sympy.atan2, 2, 2),
    "sinh": (sympy.sinh, 1, 1), "cosh": (sympy.cosh, 1, 1), "tanh": (sympy.tanh, 1, 1),
    "asinh": (sympy.asinh, 1, 1), "acosh": (sympy.acosh, 1, 1), "atanh": (sympy.atanh, 1, 1),
    "erf": (sympy.erf, 1, 1), "erfc": (sympy.erfc, 1, 1), "erfi": (sympy.erfi, 1, 1),
    "Abs": (sympy.Abs, 1, 1), "abs": (sympy.Abs, 1, 1), "sign": (sympy.sign, 1, 1),
    "Heaviside": (sympy.Heaviside, 1, 2),
    "Max": (sympy.Max, 1, None), "max": (sympy.Max, 1, None),
    "Min": (sympy.Min, 1, None), "min": (sympy.Min, 1, None),
}
#: named constants
CONSTANTS = {"pi": sympy.pi, "E": sympy.E}
#: names refused as symbols (SymPy's imaginary unit, infinities and not-a-number)
RESERVED = frozenset({"I", "oo", "zoo", "nan"})
#: longest accepted text, in characters
MAX_LENGTH = 10_000
#: deepest accepted nesting of parentheses, calls, signs and powers
MAX_DEPTH = 100
#: most arguments of one call (Max, Min)
MAX_ARGUMENTS = 64
#: largest numerator or denominator of an exact number, in bits (about 308 decimal digits)
MAX_BITS = 1024
#: largest absolute value of the numerator of an exponent
MAX_EXPONENT = 1024

_NON_FINITE = (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.I)
_NUMBER_CHARS = 400  # longest number literal; MAX_BITS bounds its value afterwards
_TOKEN = re.compile(r"[ \t\r\n]*(?:(?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>\*\*|[-+*/(),]))")
_SPACE = " \t\r\n"
_EXPONENT = re.compile(r"[eE][+-]?([0-9]+)$")


def _tokens(text, what):
    """``[(kind, text, position)]`` ending with ``("end", "", len)``; any other character is refused."""
    pos, out = 0, []
    end = len(text.rstrip(_SPACE))
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None:
            where = len(text) - len(text[pos:].lstrip(_SPACE))
            bad = text[where]
            hint = " (write powers as **)" if bad == "^" else ""
            raise ExpressionError(f"{what}: character {bad!r} at position {where} is not allowed{hint}")
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    out.append(("end", "", end))
    return out


def _bits(q: sympy.Rational) -> int:
    return max(abs(q.p).bit_length(), q.q.bit_length())


def _coefficient(value):
    """The exact rational number that SymPy keeps as a number, leading coefficient or constant term."""
    if value.is_Rational:
        return value
    if (value.is_Mul or value.is_Add) and value.args and value.args[0].is_Rational:
        return value.args[0]
    return None


def _signature(function):
    """``(callable, least, most)`` from a FUNCTIONS-style entry or a SymPy function class."""
    if isinstance(function, tuple):
        return function
    nargs = getattr(function, "nargs", None)
    if isinstance(nargs, sympy.FiniteSet) and all(n.is_Integer for n in nargs):
        return function, int(min(nargs)), int(max(nargs))
    return function, 1, None


class _Parser:
    def __init__(self, text, what, symbols, functions):
        self.what = what
        self.tokens = _tokens(text, what)
        self.i = 0
        self.depth = 0
        self.symbols = symbols
        self.functions = functions

    # -- helpers -------------------------------------------------------------
    def peek(self):
        return self.tokens[self.i]

    def take(self):
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at(self, *ops):
        kind, text, _ = self.peek()
        return kind == "op" and text in ops

    def fail(self, tok, message):
        kind, text, pos = tok
        shown = "end of input" if kind == "end" else repr(text)
        raise ExpressionError(f"{self.what}: {message} at position {pos} ({shown})")

    def expect(self, op):
        tok = self.take()
        if tok[:2] != ("op", op):
            self.fail(tok, f"expected {op!r}")

    def enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(self.peek(), f"nesting deeper than {MAX_DEPTH} levels")

    def checked(self, tok, build, *args):
        """``build(*args)``, its exact numbers bounded, SymPy failures reported at ``tok``."""
        try:
            value = build(*args)
        except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
            self.fail(tok, f"cannot be evaluated ({type(exc).__name__}: {exc})")
        number = _coefficient(value)
        if number is not None and _bits(number) > MAX_BITS:
            self.fail(tok, f"exact number larger than {MAX_BITS} bits")
        return value

    def finite(self, tok, value):
        if value.has(*_NON_FINITE) or (value.is_number and value.is_extended_real is False):
            self.fail(tok, f"value {value} is not finite and real")
        return value

    # -- grammar -------------------------------------------------------------
    def parse(self):
        value = self.expr()
        if self.peek()[0] != "end":
            self.fail(self.peek(), "unexpected text")
        return self.finite(self.tokens[0], value)

    def expr(self):
        value = self.term()
        while self.at("+", "-"):
            tok = self.take()
            rhs = self.term()
            value = self.checked(tok, operator.add if tok[1] == "+" else operator.sub, value, rhs)
        return value

    def term(self):
        value = self.unary()
        while self.at("*", "/"):
            tok = self.take()
            rhs = self.unary()
            if tok[1] == "/" and rhs.is_zero:
                self.fail(tok, "division by zero")
            value = self.checked(tok, operator.mul if tok[1] == "*" else operator.truediv, value, rhs)
        return value

    def unary(self):
        if self.at("+", "-"):
            tok = self.take()
            self.enter()
            value = self.unary()
            self.depth -= 1
            return value if tok[1] == "+" else self.checked(tok, operator.neg, value)
        return self.power()

    def power(self):
        base = self.atom()
        if not self.at("**"):
            return base
        tok = self.take()
        self.enter()
        exponent = self.unary()
        self.depth -= 1
        if exponent.is_Rational:
            if abs(exponent.p) > MAX_EXPONENT:
                self.fail(tok, f"exponent {exponent} larger than {MAX_EXPONENT} in absolute value")
            number = _coefficient(base)
            if number is not None and abs(exponent.p) * (_bits(number) - 1) >= MAX_BITS:  # certainly too big
                self.fail(tok, f"power of an exact number larger than {MAX_BITS} bits")
            if base.is_zero and exponent.is_negative:
                self.fail(tok, "division by zero")
        return self.finite(tok, self.checked(tok, operator.pow, base, exponent))

    def atom(self):
        tok = self.take()
        kind, text, _ = tok
        if kind == "number":
            return self.number(tok)
        if kind == "op" and text == "(":
            self.enter()
            value = self.expr()
            self.expect(")")
            self.depth -= 1
            return value
        if kind == "name":
            if self.at("("):
                return self.call(tok)
            if text in CONSTANTS:
                return CONSTANTS[text]
            return self.symbol(tok)
        self.fail(tok, "expected a number, a name or '('")

    def number(self, tok):
        text = tok[1]
        exponent = _EXPONENT.search(text)
        if len(text) > _NUMBER_CHARS or (exponent and len(exponent.group(1).lstrip("0")) > 4):
            self.fail(tok, "number literal too long")
        value = sympy.Rational(fractions.Fraction(text))
        if _bits(value) > MAX_BITS:
            self.fail(tok, f"exact number larger than {MAX_BITS} bits")
        return value

    def call(self, tok):
        name = tok[1]
        if name not in self.functions:
            self.fail(tok, f"unknown function (allowed: {', '.join(sorted(self.functions))})")
        function, least, most = self.functions[name]
        self.take()  # '('
        self.enter()
        args = [self.expr()]
        while self.at(","):
            self.take()
            if len(args) >= MAX_ARGUMENTS:
                self.fail(self.peek(), f"more than {MAX_ARGUMENTS} arguments")
            args.append(self.expr())
        self.expect(")")
        self.depth -= 1
        if len(args) < least or (most is not None and len(args) > most):
            count = str(least) if least == most else f"{least} to {most}" if most else f"at least {least}"
            self.fail(tok, f"{name} takes {count} argument(s), got {len(args)}")
        return self.finite(tok, self.checked(tok, function, *args))

    def symbol(self, tok):
        name = tok[1]
        if name in self.functions:
            self.fail(tok, f"function {name} needs arguments")
        if self.symbols is None or callable(self.symbols):
            if name.startswith("_"):
                self.fail(tok, "names may not start with an underscore")
            if name in RESERVED:
                self.fail(tok, f"{name} is not allowed (the language is real and finite)")
            found = sympy.Symbol(name) if self.symbols is None else self.symbols(name)
            if found is None:
                self.fail(tok, "unknown symbol")
            return found
        if name not in self.symbols:
            allowed = ", ".join(sorted(self.symbols)) or "none"
            self.fail(tok, f"unknown symbol (allowed symbols: {allowed})")
        return self.symbols[name]


def parse_expression(text: str, what: str = "expression", symbols=None, functions=None) -> sympy.Expr:
    """The SymPy expression written in ``text`` (grammar, rules and limits in the module docstring).

    ``symbols``: ``None`` (any identifier is a plain ``sympy.Symbol``, see :data:`RESERVED`),
    an iterable of allowed names (plain symbols), a mapping from the allowed names to the SymPy
    symbols to use, or a callable ``name -> symbol`` that returns None to refuse a name (the
    callable is asked only for names ``symbols=None`` would accept).
    ``functions``: extra functions by name, added to :data:`FUNCTIONS`: a SymPy function class
    (its ``nargs`` gives the number of arguments) or a ``(callable, least, most)`` triple
    (``most=None``: no upper bound).  ``what`` names the argument in error messages.
    Raises :class:`~symland.errors.ExpressionError` for anything the language refuses.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"{what}: expected a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"{what}: longer than {MAX_LENGTH} characters ({len(text)})")
    if not text.strip(_SPACE):
        raise ExpressionError(f"{what}: empty expression")
    if symbols is not None and not callable(symbols) and not isinstance(symbols, dict):
        symbols = {name: sympy.Symbol(name) for name in symbols}
    table = dict(FUNCTIONS)
    table.update({name: _signature(f) for name, f in (functions or {}).items()})
    return _Parser(text, what, symbols, table).parse()


def to_sympy(value, what: str = "expression", symbols=None, functions=None):
    """User input as a SymPy object: strings through :func:`parse_expression`, SymPy objects as
    they are, Python/numpy integers and fractions as exact SymPy numbers, floats and mpmath
    numbers as SymPy Floats with all their digits; anything else is refused."""
    if isinstance(value, str):
        return parse_expression(value, what, symbols, functions)
    if isinstance(value, sympy.Basic):
        return value
    if is_mpf(value):  # all its digits: the precision of its mantissa (at least float64's)
        return sympy.Float._new(value._mpf_, max(53, int(value._mpf_[3])))
    if isinstance(value, bool):
        raise ExpressionError(f"{what}: expected an expression or a number, got a bool")
    if isinstance(value, numbers.Integral):
        return sympy.Integer(int(value))
    if isinstance(value, fractions.Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    if isinstance(value, numbers.Real):
        return sympy.Float(float(value))
    raise ExpressionError(f"{what}: expected a SymPy expression, a number or a string, got {type(value).__name__}")


def format_expression(expr, functions=None) -> str:
    """``expr`` as text that :func:`parse_expression` reads back as the same expression, its
    symbols given by name (``symbols={s.name: s}``, so assumptions survive); ``functions`` as in
    :func:`parse_expression`.  Raises :class:`~symland.errors.ExpressionError` when the
    expression is outside the language (floats, complex or infinite values, other functions,
    symbol names that are not identifiers or are shared by two different symbols)."""
    expr = to_sympy(expr, "expr")
    names = {}
    for s in expr.free_symbols:
        if names.setdefault(s.name, s) != s:
            raise ExpressionError(f"expr: two different symbols are named {s.name!r}")
    text = sympy.sstr(expr)
    try:
        back = parse_expression(text, "expr", names, functions)
    except ExpressionError as exc:
        raise ExpressionError(f"expr: {expr} is outside the expression language ({exc})") from None
    if back != expr:
        raise ExpressionError(f"expr: {expr} is outside the expression language (its text {text!r} reads "
                              f"back as {back})")
    return text
