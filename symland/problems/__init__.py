r"""Layer 3, problems: loss landscapes assembled from kernel partials.

Every landscape implements the protocol of ``protocol`` (:class:`~symland.problems.protocol.Landscape`:
``check_theta`` and ``evaluate`` in every precision context, symmetry hooks); the teacher-student
problem below is one, attention as PCA (``attention_pca``) another.

The teacher-student problem $L = \tfrac12 E_x[(f(x) - f^*(x))^2]$, $x \sim N(0, I_d)$, with
loss, gradient and Hessian in float64 or at any precision: one class,
:class:`~symland.problems.teacher_student.TeacherStudent`, whose assembly is the plain Gram
assembly (``gram``), the assembly with kernels with means for biases and a teacher activation
different from the student's (``biased``), or the one with gated linear units (``glu_assembly``,
pair terms in ``glu``); parameters unpack to one type (``params.Params``); ``reduction`` solves
problems with large ``d`` in the span of the weights.

Imports only :mod:`symland.kernels` and below.
"""
