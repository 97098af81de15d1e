"""The restricted expression parser: exact SymPy objects from formulas, and no string ever
reaches Python's eval (regression: register_activation, kernel=/safe_kernel=, GroupAnsatz,
prove_zero and kink_points passed user strings to sympify, which runs them as Python)."""

import os
import time

import pytest
import sympy
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import symland
from symland.errors import ExpressionError
from symland.numerics.expression import MAX_DEPTH, MAX_LENGTH, parse_expression, to_sympy

x, y, z = sympy.symbols("x y z")
a, b, c, D = sympy.symbols("a b c D")

TABLE = [  # text -> the expression built by hand
    ("z**2/2 - 0.5*z", z**2 / 2 - z / 2),
    ("-z**2", -(z**2)),
    ("2**-1", sympy.Rational(1, 2)),
    ("2**3**2", sympy.Integer(512)),  # right associative
    ("1e-3*x + .25", x / 1000 + sympy.Rational(1, 4)),
    ("Max(z, 0)**3", sympy.Max(z, 0) ** 3),
    ("erf(z/sqrt(2))", sympy.erf(z / sympy.sqrt(2))),
    ("a*b - c**2", a * b - c**2),
    ("atan2(c, sqrt(D)) / pi", sympy.atan2(c, sympy.sqrt(D)) / sympy.pi),
    ("Heaviside(z) * abs(z) + sign(z)", sympy.Heaviside(z) * sympy.Abs(z) + sympy.sign(z)),
    ("exp(-z**2/2) * E", sympy.exp(-(z**2) / 2) * sympy.E),
    ("((x))", x),
]


@pytest.mark.parametrize("text,expected", TABLE)
def test_parse_builds_the_exact_expression(text, expected):
    got = parse_expression(text)
    assert got == expected and not got.atoms(sympy.Float)


INJECTIONS = [
    "__import__('os').system('touch {marker}')",
    "z.__class__.__mro__",
    "(lambda: open('{marker}', 'w'))()",
    "exec(\"open('{marker}', 'w')\")",
    "eval('1')",
    "z[0]",
    "z; open('{marker}', 'w')",
    "`z`",
    "z if 1 else 0",
    "__builtins__",
    "getattr(z, 'x')",
    "z @ z",
    "unknown_function(z)",
    "z(1)",
    "z^2",
]


@pytest.mark.parametrize("template", INJECTIONS)
def test_injection_strings_are_refused_without_side_effects(template, tmp_path):
    marker = tmp_path / "pwned"
    text = template.format(marker=marker)
    with pytest.raises(ExpressionError):
        parse_expression(text, "expr")
    for call in (lambda: symland.register_activation("inj_test", text, check=False),
                 lambda: symland.register_activation("inj_test", "z", kernel=text, check=False),
                 lambda: symland.kink_points(text),
                 lambda: symland.prove_zero(text)):
        with pytest.raises(ExpressionError):
            call()
    assert not marker.exists()
    assert "inj_test" not in symland.known_activations()


def test_symbols_are_restricted_when_asked():
    assert parse_expression("a*b - c", symbols=["a", "b", "c"]) == a * b - c
    with pytest.raises(ExpressionError, match=r"unknown symbol.*'q'"):
        parse_expression("a*q", "kernel", symbols=["a", "b"])
    ours = sympy.Symbol("z", real=True)
    assert parse_expression("z + 1", symbols={"z": ours}) == ours + 1


def test_limits_and_messages():
    with pytest.raises(ExpressionError, match="longer than"):
        parse_expression("z+" * MAX_LENGTH + "z")
    with pytest.raises(ExpressionError, match="nesting deeper"):
        parse_expression("(" * (MAX_DEPTH + 1) + "z" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(ExpressionError, match="position 3"):
        parse_expression("1 +")
    with pytest.raises(ExpressionError, match=r"write powers as \*\*"):
        parse_expression("z^2")
    with pytest.raises(ExpressionError, match="got object"):
        to_sympy(object())


def test_user_strings_reach_the_callers_as_parsed_expressions():
    act = symland.register_activation("parsed_square_test", "x**2/2", kernel="(a*b + 2*c**2)/4", replace=True)
    assert act.expr == symland.numerics.symbols.z**2 / 2
    assert symland.prove_zero("sin(z)**2 + cos(z)**2 - 1")
    assert symland.kink_points("Max(z, 0) + Heaviside(z - 1/2)") == (0, sympy.Rational(1, 2))


_LEAVES = st.one_of(st.just(z), st.just(x), st.integers(-9, 9).map(sympy.Integer),
                    st.tuples(st.integers(-9, 9), st.integers(1, 9)).map(lambda t: sympy.Rational(*t)),
                    st.just(sympy.pi))
_UNARY = [sympy.exp, sympy.sin, sympy.erf, sympy.Abs, sympy.sqrt, sympy.tanh, sympy.atan, sympy.Heaviside]


def _extend(children):
    return st.one_of(
        st.tuples(st.sampled_from(_UNARY), children).map(lambda t: t[0](t[1])),
        st.tuples(children, children).map(lambda t: t[0] + t[1]),
        st.tuples(children, children).map(lambda t: t[0] * t[1]),
        st.tuples(children, st.integers(-3, 3)).map(lambda t: t[0] ** t[1] if t[0] != 0 or t[1] >= 0 else t[0]),
        st.tuples(children, children).map(lambda t: sympy.Max(t[0], t[1])),
    )


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.recursive(_LEAVES, _extend, max_leaves=12))
def test_round_trip_of_printed_expressions(expr):
    # complex and infinite values are outside the language (I, zoo, nan would parse as symbols)
    assume(not expr.has(sympy.I, sympy.zoo, sympy.nan, sympy.oo, -sympy.oo))
    assert parse_expression(str(expr)) == expr


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet=st.sampled_from(list("z+-*/().,_ 0123456789eE^[]'\";:`@!abcdefghijklmnopqrstuvwxy")),
               max_size=60))
def test_random_text_gives_an_expression_or_the_documented_error_quickly(text):
    t0 = time.perf_counter()
    try:
        out = parse_expression(text)
    except ExpressionError:
        out = None
    assert out is None or isinstance(out, sympy.Basic)
    assert time.perf_counter() - t0 < 0.5
