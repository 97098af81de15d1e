"""Symbolic group ansatz: reduced loss and full-space gradient against independent computations.

References: TeacherStudent (the numeric full assembly over all d coordinates), mpmath quadrature
of the Gaussian expectation, and 60-digit central finite differences of the loss.
"""

import mpmath
import pytest
import sympy

from symland.symmetric.ansatz import GroupAnsatz, prove_zero
from symland.errors import NoClosedFormError, ShapeError, SymlandError

R = sympy.Rational


@pytest.mark.parametrize("act", ["erf", "relu", "quadratic"])
def test_loss_from_rows_matches_full_assembly(act):
    # explicit rows in the teacher basis, k = 3, n = 2, exact rational entries
    W = [[R(1, 2), R(-1, 3), R(2, 5)], [R(3, 4), R(1, 5), R(-1, 2)]]
    a = [R(7, 5), R(-2, 3)]
    A = GroupAnsatz.from_rows(act, W, a)
    prob = A.problem()
    theta = A.theta({}, dps=50)
    with mpmath.workdps(50):
        ref = prob.loss(theta, dps=50)
        val = mpmath.mpf(sympy.N(A.loss, 60))
        assert abs(val - ref) < mpmath.mpf(10) ** -45


def test_reduced_loss_against_quadrature():
    # one erf student w = g (v_1 + v_2 + v_3), output a; the function of x only depends on
    # u = (x_1 + x_2 + x_3)/sqrt(3) and on the three teacher coordinates: quadrature in 4-D is
    # too slow, so use k = 1: L = 1/2 E[(a s(g x) - s(x))^2] by 1-D mpmath quadrature
    g, a = sympy.symbols("g a")
    A = GroupAnsatz("erf", [[g]], [a], [1])
    gv, av = R(2, 3), R(5, 4)
    expr = A.loss.xreplace({g: gv, a: av})
    with mpmath.workdps(30):
        s = lambda z: mpmath.erf(z / mpmath.sqrt(2))  # noqa: E731
        dens = lambda x: mpmath.exp(-x * x / 2) / mpmath.sqrt(2 * mpmath.pi)  # noqa: E731
        ref = mpmath.quad(lambda x: 0.5 * (mpmath.mpf(5) / 4 * s(mpmath.mpf(2) / 3 * x) - s(x)) ** 2 * dens(x),
                          [-mpmath.inf, 0, mpmath.inf])
        assert abs(mpmath.mpf(sympy.N(expr, 35)) - ref) < mpmath.mpf(10) ** -25


@pytest.mark.parametrize("act", ["erf", "relu"])
def test_gradient_against_finite_differences(act):
    # groups of sizes (2, 1, 2); student 0 on groups 0 and 2, student 1 on group 1 and a bit of 0
    g = [R(1, 2), R(-1, 3), R(3, 5), R(1, 4)]
    A = GroupAnsatz(act, [[g[0], 0, g[1]], [g[3], g[2], 0]], [R(6, 5), R(-3, 4)], [2, 1, 2])
    prob = A.problem()
    theta = A.theta({}, dps=60)
    entries = dict(A.gradient_entries({}))
    h = mpmath.mpf(10) ** -22
    with mpmath.workdps(60):
        fd = []
        for j in range(len(theta)):
            tp, tm = theta.copy(), theta.copy()
            tp[j] += h
            tm[j] -= h
            fd.append((prob.loss(tp, dps=60) - prob.loss(tm, dps=60)) / (2 * h))
        # W is 2 x 5 row-major, groups laid out consecutively: columns (0,1) | 2 | (3,4)
        col_group = [0, 0, 1, 2, 2]
        for i in range(2):
            for col in range(5):
                e = entries[f"dL/dw_{i} . v(group {col_group[col]})"]
                assert abs(mpmath.mpf(sympy.N(e, 50)) - fd[i * 5 + col]) < mpmath.mpf(10) ** -35
        for i in range(2):
            assert abs(mpmath.mpf(sympy.N(entries[f"dL/da_{i}"], 50)) - fd[10 + i]) < mpmath.mpf(10) ** -35
        # and the norm identity against the numeric full gradient
        gfull = prob.gradient(theta, dps=50)
        n2 = mpmath.fsum(x * x for x in gfull)
        assert abs(mpmath.mpf(sympy.N(A.gradient_norm_squared(), 50)) - n2) < mpmath.mpf(10) ** -40


def test_symbolic_group_size_equals_concrete():
    m = sympy.Symbol("m", positive=True, integer=True)
    g, a = sympy.symbols("g a", positive=True)
    sym = GroupAnsatz("erf", [[g, 0], [0, R(1)]], [a, 1], [m, 1])
    conc = GroupAnsatz("erf", [[g, 0], [0, R(1)]], [a, 1], [4, 1])
    vals = {g: R(1, 3), a: R(5, 2)}
    d = sym.loss.xreplace({m: 4, **vals}) - conc.loss.xreplace(vals)
    assert abs(sympy.N(d, 50)) < 1e-45
    prob = conc.problem()
    with mpmath.workdps(40):
        ref = prob.loss(conc.theta(vals, dps=40), dps=40)
        assert abs(mpmath.mpf(sympy.N(sym.loss.xreplace({m: 4, **vals}), 45)) - ref) < mpmath.mpf(10) ** -35


def test_pair_terms_grouped_by_multiplicity():
    m = sympy.Symbol("m", positive=True, integer=True)
    g, a = sympy.symbols("g a", positive=True)
    A = GroupAnsatz("erf", [[g]], [a], [m])
    terms = A.pair_terms()
    st = [t for t in terms if t.weight == -a]
    assert len(st) == 1 and st[0].multiplicity == m and {st[0].A, st[0].B} == {g**2 * m, 1} and st[0].C == g
    # explicit rows with equal entries: the three student-teacher terms merge into one of multiplicity 3
    B = GroupAnsatz.from_rows("erf", [[g, g, g]], [a])
    st = [t for t in B.pair_terms() if t.weight == -a]
    assert len(st) == 1 and st[0].multiplicity == 3


def test_erf_average_is_critical_for_every_group_size():
    # exact, with the group size m a symbol: g = 1/sqrt(m (2m - 1)), a = m
    m = sympy.Symbol("m", positive=True, integer=True)
    g, a = sympy.symbols("g a", positive=True)
    A = GroupAnsatz("erf", [[g]], [a], [m])
    good = {g: 1 / sympy.sqrt(m * (2 * m - 1)), a: m}
    assert all(prove_zero(e) for _, e in A.gradient_entries(good))
    bad = {g: 1 / sympy.sqrt(m * (2 * m - 1)), a: m + 1}
    e = dict(A.gradient_entries(bad))["dL/da_0"]
    assert not prove_zero(e)
    assert abs(sympy.N(e.subs(m, 3), 30)) > 1e-3


def test_is_critical_statuses():
    g, a = sympy.symbols("g a", positive=True)
    A = GroupAnsatz("erf", [[g, 0]], [a], [2, 1])  # one student averaging 2 of 3 teachers, ignoring the third
    status, res = A.is_critical({g: 1 / sympy.sqrt(6), a: 2})
    # the ignored teacher neuron pulls: not critical in the full space (kappa_c(a, 1, 0) != 0)
    assert status == "not critical" and res > mpmath.mpf("0.01")
    B = GroupAnsatz("erf", [[g]], [a], [3])
    assert B.is_critical({g: 1 / sympy.sqrt(15), a: 3})[0] == "exact"


def test_prove_zero():
    assert prove_zero(sympy.sqrt(2) * sympy.sqrt(3) - sympy.sqrt(6))
    x = sympy.asin(R(1, 6))
    assert prove_zero(sympy.pi * x - x * sympy.pi + sympy.sqrt(8) - 2 * sympy.sqrt(2))
    assert prove_zero(sympy.asin(sympy.sqrt(2) / sympy.sqrt(72)) - x)  # equal arguments, different forms
    assert not prove_zero(sympy.sqrt(2) - R(14142135623730951, 10**16))
    assert not prove_zero(x - R(1, 6))


def test_bad_input():
    g = sympy.Symbol("g")
    with pytest.raises(SymlandError, match="exact constants"):
        GroupAnsatz("erf", [[0.5]], [1], [1])
    with pytest.raises(ShapeError, match="coefficients"):
        GroupAnsatz("erf", [[g, 0]], [1], [1])
    with pytest.raises(ShapeError, match="output"):
        GroupAnsatz("erf", [[g]], [1, 2], [1])
    with pytest.raises(SymlandError, match="sizes"):
        GroupAnsatz("erf", [[g]], [1], [0])
    with pytest.raises(NoClosedFormError):
        GroupAnsatz("tanh", [[g]], [1], [1])
    A = GroupAnsatz("erf", [[g]], [1], [sympy.Symbol("m", positive=True, integer=True)])
    with pytest.raises(SymlandError, match="not all integers"):
        A.problem()


def test_solve_numeric_then_full_space():
    # erf, one student averaging 3 teachers: the reduced problem is transcendental -> findroot
    g, a = sympy.symbols("g a", real=True)
    A = GroupAnsatz("erf", [[g]], [a], [3])
    sols = A.solve(starts=[{g: R(3, 10), a: 3}], dps=50)
    (s,) = sols
    assert not s["exact"] and s["critical"] == "50 digits"
    assert s["gradient_norm_full"] < mpmath.mpf(10) ** -45
    # the independent full assembly agrees that the point is critical, and on the loss
    prob = A.problem()
    theta = A.theta(s["values"], dps=50)
    with mpmath.workdps(50):
        grad = prob.gradient(theta, dps=50)
        assert mpmath.sqrt(mpmath.fsum(x * x for x in grad)) < mpmath.mpf(10) ** -45
        assert abs(prob.loss(theta, dps=50) - s["loss"]) < mpmath.mpf(10) ** -45


def test_solve_exact_family():
    # linear activation: f = a g (x_1 + x_2) equals the teacher x_1 + x_2 iff a g = 1 (loss 0)
    g, a = sympy.symbols("g a", real=True)
    A = GroupAnsatz("linear", [[g]], [a], [2])
    sols = A.solve(dps=30)
    fam = [s for s in sols if s.get("family")]
    assert len(fam) == 1 and fam[0]["critical"] == "exact" and fam[0]["loss"] == 0
    assert sympy.simplify(fam[0]["values"][a] * fam[0]["values"][g] - 1) == 0
    prob = A.problem()
    assert abs(prob.loss(prob.pack([[2.0, 2.0]], [0.5]))) < 1e-15
    with pytest.raises(SymlandError, match="unknowns"):
        GroupAnsatz("erf", [[1]], [1], [1]).solve()


def test_fixed_output_weights():
    # erf, one student with fixed a = 1 on w = g (v_1 + v_2): reduced problem in g alone
    g = sympy.Symbol("g", real=True)
    A = GroupAnsatz("erf", [[g]], [1], [2], train_output=False)
    # dL/dg is algebraic in g (the derivative of the atan kernel is), so sympy solves it exactly
    (s,) = A.solve(dps=40)
    assert s["exact"] and s["critical"] == "exact" and s["values"][g] == 1
    assert s["gradient_norm_full"] < mpmath.mpf(10) ** -45
    prob = A.problem()
    assert not prob.train_output and prob.num_params == 2
    theta = A.theta(s["values"], dps=40)
    assert len(theta) == 2
    with mpmath.workdps(40):
        grad = prob.gradient(theta, dps=40)  # independent full assembly, fixed outputs
        assert max(abs(x) for x in grad) < mpmath.mpf(10) ** -35
        # with trained outputs the same point is not critical: dL/da != 0 there
        status, _ = A.is_critical(s["values"], train_output=True, dps=40)
        assert status == "not critical"
    with pytest.raises(SymlandError, match="train_output=False"):
        GroupAnsatz("erf", [[g]], [sympy.Symbol("a")], [2], train_output=False)


def test_string_entries_are_parsed_and_share_symbols_by_name(tmp_path):
    # strings are read by the restricted parser (they were passed to sympify, i.e. eval); a string
    # size is a positive integer symbol shared with the coefficients that name it
    m = sympy.Symbol("m", positive=True, integer=True)
    g, a = sympy.symbols("g a")
    by_hand = GroupAnsatz("erf", [[g]], [a], [m])
    parsed = GroupAnsatz("erf", [["g"]], ["a"], ["m"])
    assert parsed.sizes == [m] and parsed.loss == by_hand.loss
    # the erf average of test_erf_average_is_critical_for_every_group_size, written as strings
    good = {"g": "1/sqrt(m*(2*m - 1))", "a": "m"}
    assert all(prove_zero(e) for _, e in parsed.gradient_entries(good))
    assert parsed.concrete_sizes({"m": 3}) == [3]
    # a string key finds the ansatz's own symbol even when it carries assumptions
    gp, ap = sympy.symbols("g a", positive=True)
    B = GroupAnsatz("erf", [[gp]], [ap], [3])
    assert B.is_critical({"g": "1/sqrt(15)", "a": 3})[0] == "exact"
    marker = tmp_path / "pwned"
    for bad in (f"__import__('os').system('touch {marker}')", "g.__class__", "g[0]", "lambda: 1"):
        with pytest.raises(SymlandError, match="argument coefficients"):
            GroupAnsatz("erf", [[bad]], ["a"], [1])
        with pytest.raises(SymlandError, match="expr"):
            prove_zero(bad)
    assert not marker.exists()


def test_rows_unknowns_and_starts_given_as_strings_are_parsed(tmp_path):
    # sympy.Matrix(W) and sympy.N(start) would have sympified (evaluated) these strings
    marker = tmp_path / "pwned"
    hostile = f"__import__('os').system('touch {marker}')"
    with pytest.raises(SymlandError, match="argument coefficients"):
        GroupAnsatz.from_rows("erf", [[hostile]], [1])
    A = GroupAnsatz.from_rows("erf", [["g", "g", "g"]], ["a"])
    g, a = sympy.symbols("g a")
    assert A.loss == GroupAnsatz("erf", [[g]], [a], [3]).loss
    assert GroupAnsatz.from_rows("erf", sympy.Matrix([[g, g, g]]), [a]).loss == A.loss  # a Matrix still works
    with pytest.raises(SymlandError, match="unknowns"):
        A.solve(unknowns=[hostile], exact=False)
    with pytest.raises(SymlandError, match="values"):
        A.solve(unknowns=["g", "a"], starts=[[hostile, 1]], exact=False)
    with pytest.raises(ShapeError, match="rows of equal length"):
        GroupAnsatz.from_rows("erf", [["g", 0], ["g"]], [1, 1])
    assert not marker.exists()
