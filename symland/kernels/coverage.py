r"""The activation coverage table, generated from the registry and the checks that exist.

:func:`coverage_rows` inspects every registered activation (parametrised
factory instances such as ``sin_2`` are shown once per family, through one
representative) and reports

* **kernel**: closed form, or which quadrature (1-D reduction / 2-D), from the record and
  :mod:`symland.kernels.fallback`;
* **Price partials**: the derivative orders available and where they are singular
  (:func:`symland.kernels.partials.singular_at_alignment`);
* **biases**: the path of the kernel with means (``symland.kernels.means``), found by
  evaluating it once (``"not supported"`` if that raises);
* **mixed**: the partners with a closed-form cross kernel (:mod:`symland.kernels.cross`);
* **checked**: the tolerances the tests actually assert (:data:`CHECKS`; each entry
  names the test file and a literal snippet of the assertion, and
  ``tests/kernels/test_coverage.py`` verifies that the snippet is in that file).

:func:`markdown_table` renders the README section; ``tests/kernels/test_coverage.py``
checks that README.md contains exactly this table, so it cannot drift.
Run ``python -m symland.kernels.coverage`` to print it.
"""

from __future__ import annotations

import dataclasses
import re
import sys

import sympy

from . import cross, fallback, means
from .partials import MAX_ORDER, singular_at_alignment
from .registry import (
    activation,
    cos_activation,
    gauss_activation,
    hermite_activation,
    known_activations,
    leaky_relu_activation,
    monomial_activation,
    sin_activation,
)

__all__ = ["CHECKS", "Check", "FAMILIES", "check_key", "kernel_path", "coverage_rows", "markdown_table", "table_names",
           "START", "END"]


@dataclasses.dataclass(frozen=True)
class Check:
    """What a test asserts: a summary, the file, and a literal snippet of its tolerance."""

    summary: str
    file: str
    snippet: str


#: tolerances asserted by the tests, per kind of activation
CHECKS = {
    "core": Check(
        "kernel and Price partials <= 4: 25 digits vs mpmath quadrature; float64 1e-13",
        "tests/kernels/test_partials.py", "def _agree(got, ref, digits=25)"),
    "library": Check(
        "kernel and Price partials <= 4: 25 digits vs mpmath quadrature; float64 1e-13",
        "tests/kernels/test_library.py", "assert abs(got - ref) <= mpmath.mpf(10) ** -25 * scale, (name, index"),
    "quadrature": Check(
        "float64 kernel and partials <= 4: 1e-10 vs higher-resolution quadrature (variances <= 10)",
        "tests/kernels/test_quadrature.py", "RTOL, VMAX, PARTIALS_CLAIMED, DIAG_RTOL = parse_statement"),
    "silu": Check(
        "float64 kernel and partials <= 4: 1e-10 vs an independent fine tensor Gauss-Legendre rule",
        "tests/kernels/test_library.py", "assert abs(got - ref) <= 1e-10 * max(1, abs(ref))"),
    "selu": Check(
        "kernel and its c-partials 26 digits (1-D reduction vs hand-typed inner expectation; with means and "
        "partials to order 2: 25 digits in tests/kernels/test_means.py); float64 1e-12; fixed point E[s^2] = 1",
        "tests/kernels/test_cross.py", "mpmath.mpf(10) ** -26 * max(1, abs(ref))"),
}

#: the activations of tests/kernels/test_activation.py + tests/kernels/test_partials.py (the core records of library.py)
_CORE = ("erf", "erf_plain", "relu", "linear", "quadratic")

#: parametrised families: name pattern, display name, representative instance
FAMILIES = (
    (r"leaky_relu_.+", "leaky_relu_<slope>", lambda: leaky_relu_activation(sympy.Rational(1, 5))),
    (r"sin_.+", "sin_<w>", lambda: sin_activation(2)),
    (r"cos_.+", "cos_<w>", lambda: cos_activation(2)),
    (r"gauss_.+", "gauss_<w>", lambda: gauss_activation(sympy.Rational(1, 2))),
    (r"monomial_\d+", "monomial_<p>", lambda: monomial_activation(5)),
    (r"hermite_\d+", "hermite_<n>", lambda: hermite_activation(5)),
)


def table_names() -> list[tuple[str, str]]:
    """(display name, registry name of the representative) for every row, registry order."""
    rows = []
    for name in known_activations():
        if any(re.fullmatch(pat, name) for pat, _, _ in FAMILIES):
            continue
        rows.append((name, name))
    for _, shown, make in FAMILIES:
        rows.append((shown, make().name))
    return rows


def check_key(act) -> str:
    """The key of :data:`CHECKS` that states how ``act``'s kernel is checked by the tests."""
    if act.has_closed_form:
        return "core" if act.name in _CORE else "library"
    if act.name in CHECKS:
        return act.name
    return "selu" if fallback.reducible(act) else "quadrature"


def kernel_path(act) -> str:
    """How ``act``'s centred kernel is evaluated, in words (the table's *kernel* column)."""
    if act.has_closed_form:
        return "closed form"
    if fallback.reducible(act):
        return "quadrature (1-D reduction, split at the kink)"
    return "quadrature (2-D, split at the kinks, by parts)" if fallback.nonsmooth(act) else "quadrature (2-D)"


def _partials(act) -> str:
    base = f"all with i+j+l <= {MAX_ORDER}"
    if act.has_closed_form and singular_at_alignment(act):
        return base + "; those singular at c^2 = ab raise DomainError there"
    if not act.has_closed_form:
        if fallback.nonsmooth(act):
            return base + " (by parts); singular at c^2 = ab from order 2 in c"
        return base + " (quadrature of classical derivatives)"
    return base


def _biases(act) -> str:
    try:
        method = means.mean_kernel_method(act)
        means.kernel_with_means(act, 1.1, 0.9, 0.3, mu1=0.2, mu2=-0.4)
    except Exception:  # noqa: BLE001 - any failure means: not supported
        return "not supported"
    return method


def _partners(act, rows) -> str:
    others = [(shown, rep) for shown, rep in rows if rep != act.name]
    closed = [shown for shown, rep in others if activation(rep).has_closed_form]
    yes = [shown for shown, rep in others if cross.has_cross_closed_form(act, rep)]
    if not yes:
        return "none"
    if set(closed) <= set(yes):
        extra = [y for y in yes if y not in closed]
        return "all closed-form" + (" + " + ", ".join(extra) if extra else "")
    if len(yes) > len(closed) / 2:
        return "all closed-form except " + ", ".join(c for c in closed if c not in yes)
    return ", ".join(yes)


def coverage_rows() -> list[dict]:
    """One dict per table row (keys: name, expr, kernel, partials, biases, mixed, checked)."""
    rows = table_names()
    out = []
    for shown, rep in rows:
        act = activation(rep)
        chk = CHECKS[check_key(act)]
        out.append({
            "name": shown,
            "expr": act.description or str(act.expr),
            "kernel": kernel_path(act),
            "partials": _partials(act),
            "biases": _biases(act),
            "mixed": _partners(act, rows),
            "checked": f"{chk.summary} (`{chk.file}`)",
        })
    return out


def markdown_table() -> str:
    """The README table (markdown), generated."""
    head = ("| activation | s(z) | kernel | Price partials | biases (`kernel_with_means`) "
            "| closed-form mixed partners | checked |")
    lines = [head, "|" + "---|" * 7]
    for r in coverage_rows():
        cells = [f"`{r['name']}`", r["expr"], r["kernel"], r["partials"], r["biases"], r["mixed"], r["checked"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


START, END = "<!-- coverage table: generated by `python -m symland.kernels.coverage --write README.md` -->", "<!-- end of coverage table -->"


def replace_in(text: str, table: str) -> str:
    """``text`` with the block between :data:`START` and :data:`END` replaced by ``table``."""
    i, j = text.index(START), text.index(END)
    return text[: i + len(START)] + "\n" + table + text[j:]


def extract_from(text: str) -> str:
    """The table block between :data:`START` and :data:`END` of ``text``."""
    i, j = text.index(START), text.index(END)
    return text[i + len(START) + 1: j]


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        with open(sys.argv[2]) as f:
            text = f.read()
        with open(sys.argv[2], "w") as f:
            f.write(replace_in(text, markdown_table()))
    else:
        print(markdown_table(), end="")
