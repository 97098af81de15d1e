r"""symland: exact analysis of neural-network loss landscapes under Gaussian input.

Conventions: input $x \sim N(0, I_d)$; student $f(x) = \sum_i a_i s(w_i\cdot x)$, teacher
$f^*(x) = \sum_r b_r s(v_r\cdot x)$; loss $L = \tfrac12 E_x[(f - f^*)^2]$ (the factor 1/2 of
Saad & Solla); ``"erf"`` is $\operatorname{erf}(z/\sqrt2)$, plain erf is ``"erf_plain"``,
``"relu"`` is $\max(z, 0)$; $\kappa(a, b, c) = E[s(u)s(v)]$ for a centred Gaussian pair with
variances $a, b$ and covariance $c$.

The public API, grouped by layer (each name lives in one module of its layer's subpackage:
``symland.numerics`` < ``symland.kernels`` < ``symland.problems`` < ``symland.landscape`` <
``symland.symmetric`` | ``symland.channels``).  The SymPy symbols of the kernel expressions
are in :mod:`symland.numerics.symbols`.
"""

from ._version import __version__

# --- errors -------------------------------------------------------------------------------------
from .errors import (
    ConvergenceError,
    DomainError,
    ExpressionError,
    NoClosedFormError,
    NonSmoothError,
    PrecisionError,
    ShapeError,
    SymlandError,
    UnknownActivationError,
)

# --- numerics: the precision context ------------------------------------------------------------
from .numerics.expression import format_expression, parse_expression
from .numerics.exact import prove_zero
from .numerics.recognise import Recognition, recognise
from .numerics.precision import Precision, gram_determinant

# --- kernels: activations and Gaussian expectations ---------------------------------------------
from .kernels.activation import Activation
from .kernels.registry import (
    activation,
    cos_activation,
    gauss_activation,
    hermite_activation,
    known_activations,
    leaky_relu_activation,
    monomial_activation,
    register_activation,
    relu_power_activation,
    sin_activation,
)
from .kernels.cross import closed_form_pairs, cross_kernel, cross_kernel_expr, cross_partial
from .kernels.evaluate import diagonal, expectation, kernel, kernel_partial
from .kernels.kinks import kink_points
from .kernels.means import kernel_with_means, mean_kernel_method
from .kernels.normal import BivariateNormalCDF, OwensT
from .kernels.partials import diagonal_expr, exact_partial_expr, expectation_expr, kernel_partial_expr

# --- problems: loss landscapes --------------------------------------------------------------------
from .problems.glu import glu_self_expectation
from .problems.params import Params
from .problems.teacher_student import TeacherStudent
from .problems.protocol import Evaluation, Landscape
from .problems.attention_pca import AttentionCriticalPoint, AttentionPCA
from .problems.equivariant import EquivariantStudent, cyclic_group
from .problems.deep_ufm import DNCPoint, DeepUFM
from .problems.batched import BatchedEvaluation, BatchedTeacherStudent, batched_evaluate

# --- landscape: critical points -----------------------------------------------------------------
from .landscape.certify import Certificate, certify, enclose
from .landscape.critical import classify, gradient_flow, minimize, newton, refine
from .landscape.saddle_free import saddle_free_newton, wasserstein_saddle_free_newton
from .landscape.ntk import NTKOrderParameters, ntk_order_parameters
from .landscape.neural_collapse import CollapsePoint, CollapseReport, collapse_report, low_rank_point
from .landscape.deflation import deflated_survey
from .landscape.batch_solve import BatchSolveResult, lbfgs_newton, solve_batch
from .landscape.point import CriticalPoint
from .landscape.closed_form import ClosedForm, closed_form
from .landscape.survey import SurveyPoint, SurveyResult
from .landscape.symmetry import canonical_form, deduplicate, invariant_key, same_point

# --- symmetric configurations -------------------------------------------------------------------
from .symmetric.ansatz import GroupAnsatz
from .symmetric.copy_average import CopyAverageConfig, CopyAverageResult, copy_average
from .symmetric.one_neuron import OneNeuronPoint, OneNeuronResult, SymmetricSurvey, one_neuron, symmetric_survey
from .symmetric.subspace import FixedPointSubspace, fixed_point_subspace
from .symmetric.fixed_point import (
    SymmetricCriticalPoint,
    SymmetricSearch,
    compare_with_survey,
    symmetric_critical_points,
)

# --- results: what people keep (catalog) and show (figures: symland.plot.plot_spectrum, ...) -----
from .results import plot
from .results.catalog import Catalog

# --- channels to infinity and training paths ----------------------------------------------------
from .channels.splitting import SplittingLine, splitting_line
from .channels.training import SampleLoss, Trajectory, adam, flow_trajectory, load_trajectory, sgd
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
from .channels.survey import ChannelOutcome, survey

__all__ = [
    # errors
    "SymlandError",
    "ShapeError",
    "DomainError",
    "PrecisionError",
    "ConvergenceError",
    "UnknownActivationError",
    "NoClosedFormError",
    "NonSmoothError",
    "ExpressionError",
    # numerics
    "Precision",
    "gram_determinant",
    "parse_expression",
    "format_expression",
    # kernels
    "Activation",
    "activation",
    "known_activations",
    "register_activation",
    "leaky_relu_activation",
    "relu_power_activation",
    "sin_activation",
    "cos_activation",
    "gauss_activation",
    "monomial_activation",
    "hermite_activation",
    "kernel",
    "kernel_partial",
    "kernel_partial_expr",
    "exact_partial_expr",
    "expectation",
    "expectation_expr",
    "diagonal",
    "diagonal_expr",
    "cross_kernel",
    "cross_kernel_expr",
    "cross_partial",
    "closed_form_pairs",
    "kernel_with_means",
    "mean_kernel_method",
    "OwensT",
    "BivariateNormalCDF",
    "kink_points",
    # problems
    "TeacherStudent",
    "Landscape",
    "Evaluation",
    "AttentionPCA",
    "AttentionCriticalPoint",
    "EquivariantStudent",
    "cyclic_group",
    "DeepUFM",
    "DNCPoint",
    "BatchedTeacherStudent",
    "BatchedEvaluation",
    "batched_evaluate",
    "Params",
    "glu_self_expectation",
    # landscape
    "CriticalPoint",
    "minimize",
    "gradient_flow",
    "newton",
    "saddle_free_newton",
    "Catalog",
    "plot",
    "wasserstein_saddle_free_newton",
    "ntk_order_parameters",
    "NTKOrderParameters",
    "collapse_report",
    "CollapseReport",
    "CollapsePoint",
    "low_rank_point",
    "deflated_survey",
    "solve_batch",
    "BatchSolveResult",
    "lbfgs_newton",
    "refine",
    "classify",
    "certify",
    "Certificate",
    "enclose",
    "canonical_form",
    "invariant_key",
    "same_point",
    "deduplicate",
    "survey",
    "SurveyResult",
    "SurveyPoint",
    "ChannelOutcome",
    # symmetric configurations
    "GroupAnsatz",
    "prove_zero",
    "recognise",
    "Recognition",
    "closed_form",
    "ClosedForm",
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
    # channels to infinity and training paths
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
]
