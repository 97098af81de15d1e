"""symland: exact analysis of neural-network loss landscapes under Gaussian input.

Conventions (see ``DESIGN.md``): input $x \\sim N(0, I_d)$; loss
$L = \\tfrac12 E[(f - f^*)^2]$; ``"erf"`` is erf(z/sqrt 2); ``"relu"`` is max(z, 0).
"""

from .activations import Activation, activation, known_activations, register_activation, z
from .backends import a_ as a, b_ as b, c_ as c, D_ as D, gram_determinant
from .errors import (
    ConvergenceError,
    DomainError,
    NoClosedFormError,
    PrecisionError,
    ShapeError,
    SymlandError,
    UnknownActivationError,
)
from .gaussian import (
    diagonal,
    diagonal_expr,
    exact_partial_expr,
    expectation,
    expectation_expr,
    kernel_partial,
    kernel_partial_expr,
)
from .problems import TeacherStudent
from .critical import CriticalPoint, classify, gradient_flow, minimize, newton, refine
from .symmetry import canonical_form, deduplicate, invariant_key, same_point
from .survey import SurveyResult, survey

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "activation",
    "known_activations",
    "register_activation",
    "z",
    "a",
    "b",
    "c",
    "D",
    "gram_determinant",
    "kernel_partial",
    "kernel_partial_expr",
    "exact_partial_expr",
    "expectation",
    "expectation_expr",
    "diagonal",
    "diagonal_expr",
    "TeacherStudent",
    "CriticalPoint",
    "minimize",
    "gradient_flow",
    "newton",
    "refine",
    "classify",
    "canonical_form",
    "invariant_key",
    "same_point",
    "deduplicate",
    "survey",
    "SurveyResult",
    "SymlandError",
    "ShapeError",
    "DomainError",
    "PrecisionError",
    "ConvergenceError",
    "UnknownActivationError",
    "NoClosedFormError",
]
