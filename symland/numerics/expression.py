r"""User expressions as SymPy objects, without evaluating any string as Python.

``sympy.sympify("...")`` runs the string through Python's ``eval``: a string such as
``"__import__('os').system('...')"`` executes a command.  symland accepts formulas from users
(activations, kernels, ansatz entries), so every string goes through :func:`parse_expression`,
a small recursive-descent parser that builds SymPy objects itself:

* grammar: ``expr := term (('+' | '-') term)*``, ``term := unary (('*' | '/') unary)*``,
  ``unary := ('+' | '-') unary | power``, ``power := atom ('**' unary)?`` (right associative,
  binding tighter than a leading minus on its left: ``-z**2`` is $-(z^2)$), and
  ``atom := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'``;
* numbers (``2``, ``0.5``, ``1e-3``, ``1.5E+2``) become **exact** ``Rational`` values (the
  project keeps exact constants; ``0.1`` is $1/10$);
* names: the constants ``pi`` and ``E``, the functions of :data:`FUNCTIONS` (plus any the caller
  adds), and symbols: only those the caller allows (``symbols=``), or, when ``symbols=None``,
  any identifier that does not start with an underscore;
* refused with :class:`~symland.errors.ExpressionError` (naming the argument, the offending
  text and its position): any other character (quotes, ``.`` after a name, ``[``, ``;``,
  backticks, ``^`` - write ``**``), unknown functions, disallowed symbols, calling a symbol,
  text longer than :data:`MAX_LENGTH` characters or nested deeper than :data:`MAX_DEPTH`.

:func:`to_sympy` is the one entry point for user input: strings are parsed, SymPy objects and
numbers pass, anything else is refused (``sympify`` would fall back to ``eval(str(obj))``).
"""

from __future__ import annotations

import fractions
import numbers
import re

import sympy

from ..errors import ExpressionError
from .mpcontext import is_mpf

__all__ = ["FUNCTIONS", "CONSTANTS", "MAX_LENGTH", "MAX_DEPTH", "parse_expression", "to_sympy"]

#: functions a user expression may call, by name
FUNCTIONS = {
    "exp": sympy.exp, "log": sympy.log, "sqrt": sympy.sqrt,
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan,
    "asin": sympy.asin, "acos": sympy.acos, "atan": sympy.atan, "atan2": sympy.atan2,
    "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh,
    "asinh": sympy.asinh, "acosh": sympy.acosh, "atanh": sympy.atanh,
    "erf": sympy.erf, "erfc": sympy.erfc, "erfi": sympy.erfi,
    "Abs": sympy.Abs, "abs": sympy.Abs, "sign": sympy.sign, "Heaviside": sympy.Heaviside,
    "Max": sympy.Max, "max": sympy.Max, "Min": sympy.Min, "min": sympy.Min,
}
#: named constants
CONSTANTS = {"pi": sympy.pi, "E": sympy.E}
#: longest accepted text, in characters
MAX_LENGTH = 10_000
#: deepest accepted nesting of parentheses, calls and unary operators
MAX_DEPTH = 100

_TOKEN = re.compile(r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op>\*\*|[-+*/(),]))")


def _tokens(text, what):
    pos, out = 0, []
    end = len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = text[pos:].lstrip()[:1]
            where = len(text) - len(text[pos:].lstrip())
            hint = " (write powers as **)" if bad == "^" else ""
            raise ExpressionError(f"{what}: character {bad!r} at position {where} is not allowed{hint}")
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    out.append(("end", "", end))
    return out


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

    # -- grammar -------------------------------------------------------------
    def parse(self):
        value = self.expr()
        if self.peek()[0] != "end":
            self.fail(self.peek(), "unexpected text")
        return value

    def expr(self):
        value = self.term()
        while self.peek()[:2] in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            rhs = self.term()
            value = value + rhs if op == "+" else value - rhs
        return value

    def term(self):
        value = self.unary()
        while self.peek()[:2] in (("op", "*"), ("op", "/")):
            op = self.take()[1]
            rhs = self.unary()
            value = value * rhs if op == "*" else value / rhs
        return value

    def unary(self):
        if self.peek()[:2] in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            self.enter()
            value = self.unary()
            self.depth -= 1
            return value if op == "+" else -value
        return self.power()

    def power(self):
        base = self.atom()
        if self.peek()[:2] == ("op", "**"):
            self.take()
            self.enter()
            exponent = self.unary()
            self.depth -= 1
            return base ** exponent
        return base

    def atom(self):
        tok = self.take()
        kind, text, _ = tok
        if kind == "number":
            return sympy.Rational(fractions.Fraction(text))
        if kind == "op" and text == "(":
            self.enter()
            value = self.expr()
            self.expect(")")
            self.depth -= 1
            return value
        if kind == "name":
            if self.peek()[:2] == ("op", "("):
                return self.call(tok)
            if text in CONSTANTS:
                return CONSTANTS[text]
            return self.symbol(tok)
        self.fail(tok, "expected a number, a name or '('")

    def call(self, tok):
        name = tok[1]
        if name not in self.functions:
            self.fail(tok, f"unknown function (allowed: {', '.join(sorted(self.functions))})")
        self.take()  # '('
        self.enter()
        args = [self.expr()]
        while self.peek()[:2] == ("op", ","):
            self.take()
            args.append(self.expr())
        self.expect(")")
        self.depth -= 1
        try:
            return self.functions[name](*args)
        except (TypeError, ValueError) as exc:
            self.fail(tok, f"bad arguments for {name} ({exc})")

    def symbol(self, tok):
        name = tok[1]
        if name in self.functions:
            self.fail(tok, f"function {name} needs arguments")
        if self.symbols is None:
            if name.startswith("_"):
                self.fail(tok, "names may not start with an underscore")
            return sympy.Symbol(name)
        if name not in self.symbols:
            allowed = ", ".join(sorted(self.symbols)) or "none"
            self.fail(tok, f"unknown symbol (allowed symbols: {allowed})")
        return self.symbols[name]


def parse_expression(text: str, what: str = "expression", symbols=None, functions=None) -> sympy.Expr:
    """The SymPy expression written in ``text`` (grammar and rules in the module docstring).

    ``symbols``: ``None`` (any identifier is a plain ``sympy.Symbol``), or a mapping from the
    allowed names to the SymPy symbols to use, or an iterable of allowed names (plain symbols).
    ``functions``: extra callables by name, added to :data:`FUNCTIONS`.  ``what`` names the
    argument in error messages.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"{what}: expected a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"{what}: longer than {MAX_LENGTH} characters ({len(text)})")
    if not text.strip():
        raise ExpressionError(f"{what}: empty expression")
    if symbols is not None and not isinstance(symbols, dict):
        symbols = {name: sympy.Symbol(name) for name in symbols}
    return _Parser(text, what, symbols, {**FUNCTIONS, **(functions or {})}).parse()


def to_sympy(value, what: str = "expression", symbols=None, functions=None):
    """User input as a SymPy object: strings through :func:`parse_expression`, SymPy objects as
    they are, Python/numpy integers, fractions and floats as SymPy numbers; anything else refused."""
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
