"""symland: exact analysis of neural-network loss landscapes under Gaussian input.

Conventions (see ``DESIGN.md``): input $x \\sim N(0, I_d)$; loss
$L = \\tfrac12 E[(f - f^*)^2]$; ``"erf"`` is erf(z/sqrt 2); ``"relu"`` is max(z, 0).
"""

from .kernels.activation import Activation
from .kernels.registry import (
    activation,
    known_activations,
    register_activation,
)
from .numerics.symbols import z
from .numerics.symbols import (
    a_ as a,
    b_ as b,
    c_ as c,
    D_ as D,
)
from .numerics.precision import gram_determinant
from .errors import (
    ConvergenceError,
    DomainError,
    NoClosedFormError,
    PrecisionError,
    ShapeError,
    SymlandError,
    UnknownActivationError,
)
from .kernels.partials import (
    diagonal_expr,
    exact_partial_expr,
    expectation_expr,
    kernel_partial_expr,
)
from .kernels.evaluate import (
    diagonal,
    expectation,
    kernel,
    kernel_partial,
)
from .problems.teacher_student import TeacherStudent
from .problems.params import Params
from .landscape.critical import (
    CriticalPoint,
    classify,
    gradient_flow,
    minimize,
    newton,
    refine,
)
from .landscape.symmetry import (
    canonical_form,
    deduplicate,
    invariant_key,
    same_point,
)
from .landscape.survey import SurveyResult
from .channels.survey import ChannelOutcome, survey
from .symmetric.ansatz import GroupAnsatz, prove_zero
from .symmetric.copy_average import CopyAverageConfig, CopyAverageResult, copy_average
from .symmetric.one_neuron import (
    OneNeuronPoint,
    OneNeuronResult,
    SymmetricSurvey,
    one_neuron,
    symmetric_survey,
)
from .symmetric.fixed_point import (
    FixedPointSubspace,
    SymmetricCriticalPoint,
    SymmetricSearch,
    compare_with_survey,
    fixed_point_subspace,
    symmetric_critical_points,
)
from .problems.glu import glu_self_expectation
from .channels.splitting import SplittingLine, splitting_line
from .channels.training import (
    SampleLoss,
    Trajectory,
    adam,
    flow_trajectory,
    load_trajectory,
    sgd,
)
from .channels.channel import (
    ChannelExpansion,
    ChannelThresholds,
    Detection,
    GLULimit,
    channel_expansion,
    channel_loss,
    channel_point,
    channel_problem,
    detect,
    extract_glu,
    glu_limit,
    rate_constants,
    splitting_comparison,
)
from .kernels.normal import BivariateNormalCDF, OwensT
from .kernels.means import (
    kernel_with_means,
    mean_kernel_method,
)
from .kernels.kinks import kink_points
from .kernels.cross import (
    closed_form_pairs,
    cross_kernel,
    cross_kernel_expr,
    cross_partial,
)

from ._version import __version__

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
    "kernel",
    "kernel_partial",
    "kernel_partial_expr",
    "exact_partial_expr",
    "expectation",
    "expectation_expr",
    "diagonal",
    "diagonal_expr",
    "TeacherStudent",
    "Params",
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
    "ChannelOutcome",
    # symmetric configurations (issue 4)
    "GroupAnsatz",
    "prove_zero",
    "copy_average",
    "CopyAverageResult",
    "CopyAverageConfig",
    "one_neuron",
    "OneNeuronResult",
    "OneNeuronPoint",
    "symmetric_survey",
    "SymmetricSurvey",
    "fixed_point_subspace",
    "FixedPointSubspace",
    "symmetric_critical_points",
    "SymmetricSearch",
    "SymmetricCriticalPoint",
    "compare_with_survey",
    # GLUs and channels to infinity (issue 5)
    "glu_self_expectation",
    "splitting_line",
    "SplittingLine",
    "Trajectory",
    "SampleLoss",
    "flow_trajectory",
    "sgd",
    "adam",
    "load_trajectory",
    "channel_problem",
    "channel_point",
    "channel_loss",
    "channel_expansion",
    "ChannelExpansion",
    "rate_constants",
    "splitting_comparison",
    "detect",
    "Detection",
    "ChannelThresholds",
    "extract_glu",
    "glu_limit",
    "GLULimit",
    # biases and mixed activations (issue 6)
    "kernel_with_means",
    "mean_kernel_method",
    "kink_points",
    "OwensT",
    "BivariateNormalCDF",
    "cross_kernel",
    "cross_kernel_expr",
    "cross_partial",
    "closed_form_pairs",
    "SymlandError",
    "ShapeError",
    "DomainError",
    "PrecisionError",
    "ConvergenceError",
    "UnknownActivationError",
    "NoClosedFormError",
]
