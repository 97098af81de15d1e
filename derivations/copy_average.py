r"""Copy-average critical points and one-neuron closed forms, derived and checked.

Run:  python derivations/copy_average.py [--small]     (exit code 0 = every check passed)

Setting: orthonormal teacher $v_1..v_k$, unit output weights, student with $n$ neurons and
trained outputs, $L = \tfrac12 E[(f - f^*)^2]$, $x \sim N(0, I_k)$, ``"erf"`` = erf(z/sqrt 2).
Copy-average configuration (Şimşek, Bendjeddou, Gerstner, Brea, NeurIPS 2023): a partition of
the teacher neurons into groups $G_1..G_n$, student $i$ has $w_i = g_i\sum_{r\in G_i} v_r$, $a_i$.

1. erf, one group of symbolic size $m$: reduced loss $\ell(g, a; m)$; its optimum, found
   numerically for several $m$ and recognised, is $g = 1/\sqrt{m(2m-1)}$, $a = m$; proven for
   every $m$ by simplifying the exact full-space gradient to 0 with $m$ a symbol.
2. erf theorem, criticality, for *every* $k, n$: since $\kappa(a, b, 0) = 0$ and
   $\kappa_a(a, b, 0) = 0$ for erf, a gradient component of student $i$ involves at most one
   other student $j$ (the one owning the teacher direction), so a configuration of two students
   with symbolic group sizes $m_1, m_2$ covers all of them: its exact gradient is proven 0.
   Then, per concrete partition for k <= 12 (k <= 4 with --small), the exact gradient of the
   whole configuration is proven 0 again, and the 60-digit gradient of TeacherStudent (the
   independent full assembly) is below 1e-50.
3. erf theorem, optimality: $L = \sum_i \ell^*(m_i)$ with $\ell^*(1) = 0$.  If
   $\ell^*(p) + \ell^*(q) > \ell^*(p+q-1)$ for all $p, q \ge 2$ (checked at 50 digits for
   $p + q \le K$), merging two averaging groups into one average and one copy lowers the loss
   at fixed $n$, so (n-1 copies, 1 average of k-n+1) is optimal for every k <= K.  The ranking
   is also enumerated for k <= 20 (k <= 8 with --small).
4. relu: groups interact ($\kappa(a, b, 0) = \sqrt{ab}/2\pi$); the gradient of student $i$
   along a teacher vector of student $j$'s group is $a_i(a_jg_j - 1)/4$, so a copy-average
   configuration is critical only if every $\beta_j = a_jg_j = 1$; at the optimal (exact) outputs
   it is not.  With $\beta = 1$ imposed, $(\partial L/\partial a_i)/g_i$ is a nonzero constant, so
   no positive scalars make a relu copy-average configuration with n >= 2 critical (checked for
   every partition into 2 groups).  Newton from it reaches a nearby critical point (reported).
   n = 1 (one group) is critical.
5. One neuron: closed-form non-trivial critical points for every closed-form activation, checked
   by refine from a perturbed start, and a multi-start survey showing that the non-trivial ones
   found lie in the symmetric subspace.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import mpmath
import sympy as sp

from symland.kernels.registry import activation, known_activations
from symland.numerics.mpcontext import thread_mp
from symland.kernels.partials import exact_partial_expr
from symland.numerics.symbols import c_
from symland.symmetric.ansatz import GroupAnsatz, prove_zero
from symland.symmetric.copy_average import copy_average, group_optimum, partitions
from symland.symmetric.one_neuron import one_neuron, refine_agreement, symmetric_survey

FAILURES: list[str] = []
SMALL = False


def check(ok: bool, what: str) -> None:
    """Record one assertion (not `assert`: the checks must also run under python -O)."""
    print(("PASS  " if ok else "FAIL  ") + what)
    sys.stdout.flush()
    if not ok:
        FAILURES.append(what)


def erf_single_group():
    print("\n== 1. erf: one student averaging a group of m teacher neurons ==")
    m = sp.Symbol("m", positive=True, integer=True)
    g, a = sp.symbols("g a", positive=True)
    A = GroupAnsatz("erf", [[g]], [a], [m])
    print("reduced loss  l(g, a; m) = " + sp.latex(A.loss))
    for mm in ((1, 2, 3) if SMALL else (1, 2, 3, 4, 5, 7)):
        gv, av, gex, aex, roots = group_optimum("erf", mm, 50)
        print(f"  m = {mm}: optimum g = {mpmath.nstr(gv, 25)}, a = {mpmath.nstr(av, 25)} -> recognised "
              f"g = {gex}, a = {aex}; stationary g > 0 on the scan: {len(roots)}")
        check(gex == 1 / sp.sqrt(mm * (2 * mm - 1)) and aex == mm and len(roots) == 1,
              f"m = {mm}: unique optimum g = 1/sqrt(m(2m-1)), a = m")
    vals = {g: 1 / sp.sqrt(m * (2 * m - 1)), a: m}
    ok = all(prove_zero(e) for _, e in A.gradient_entries(vals))
    check(ok, "g = 1/sqrt(m(2m-1)), a = m: exact full-space gradient = 0 for symbolic m (every group size)")
    loss = sp.simplify(A.loss.xreplace(vals))
    print("loss of the group at the optimum  l*(m) = " + sp.latex(loss))
    alt = m / 6 - m**2 / sp.pi * sp.asin(1 / (2 * m))
    with mpmath.workdps(50), thread_mp.workdps(50):
        worst = max(abs(sp.N((loss - alt).subs(m, mm), 50)) for mm in range(1, 30))
    check(worst < 1e-45, "l*(m) = m/6 - (m^2/pi) asin(1/(2m)) (atan form = asin form, m = 1..29, 50 digits)")
    return loss, m


def erf_pair_theorem():
    print("\n== 2a. erf: two students with symbolic group sizes m1, m2 (covers every partition) ==")
    m1, m2 = sp.symbols("m1 m2", positive=True, integer=True)
    g1, g2, a1, a2 = sp.symbols("g1 g2 a1 a2", positive=True)
    A = GroupAnsatz("erf", [[g1, 0], [0, g2]], [a1, a2], [m1, m2])
    vals = {g1: 1 / sp.sqrt(m1 * (2 * m1 - 1)), a1: m1, g2: 1 / sp.sqrt(m2 * (2 * m2 - 1)), a2: m2}
    proven = []
    for name, e in A.gradient_entries(vals):
        proven.append(prove_zero(e))
        print(f"  {name}: proven zero = {proven[-1]}")
    check(all(proven),
          "two averaging/copying students, sizes m1, m2 symbolic: every full-space gradient component = 0")
    # the structural facts the reduction to pairs uses
    act = activation("erf")
    check(sp.simplify(act.kernel_expr.subs(c_, 0)) == 0 and sp.simplify(exact_partial_expr(act, (1, 0, 0)).subs(c_, 0)) == 0,
          "erf: kappa(a, b, 0) = 0 and kappa_a(a, b, 0) = 0 (so components involve pairs only)")


def erf_partitions(kmax, classify_upto):
    print(f"\n== 2b. erf: every copy-average configuration for k <= {kmax}, exact full gradient ==")
    for k in range(2, kmax + 1):
        t0 = time.perf_counter()
        allok, count = True, 0
        for n in range(1, k + 1):
            res = copy_average("erf", k, n, dps=50, classify=k <= classify_upto)
            count += len(res.configurations)
            ok = all(c.critical == "exact" and c.gradient_norm < mpmath.mpf(10) ** -50 for c in res.configurations)
            allok &= ok
            opt = res.optimal.partition
            allok &= opt == (k - n + 1,) + (1,) * (n - 1)
            if k <= classify_upto and n >= 2:
                print(res.table(digits=25))
        check(allok, f"k = {k}: all {count} configurations critical (exact) with 60-digit |grad| < 1e-50, "
                     f"optimum (k-n+1, 1, ..., 1) for every n ({time.perf_counter() - t0:.1f} s)")


def erf_optimality(loss, m, K, kmax):
    print(f"\n== 3. erf: optimality of n-1 copies + 1 average (exchange inequality up to K = {K}) ==")
    f = sp.lambdify(m, loss, modules="mpmath")
    with mpmath.workdps(50), thread_mp.workdps(50):
        ell = {mm: f(mpmath.mpf(mm)) for mm in range(1, K + 1)}
        gap = min(ell[p] + ell[q] - ell[p + q - 1] for p in range(2, K) for q in range(2, K - p + 2))
        check(gap > mpmath.mpf(10) ** -30,
              f"l*(p) + l*(q) - l*(p+q-1) >= {mpmath.nstr(gap, 8)} > 0 for all p, q >= 2, p + q <= {K + 1}")
        rows = []
        for k in range(2, kmax + 1):
            for n in range(1, k + 1):
                ranked = sorted(partitions(k, n), key=lambda P: sum(ell[x] for x in P))
                ok = ranked[0] == (k - n + 1,) + (1,) * (n - 1)
                if len(ranked) > 1:
                    second = sum(ell[x] for x in ranked[1]) - sum(ell[x] for x in ranked[0])
                    rows.append((k, n, len(ranked), second))
                if not ok:
                    check(False, f"k = {k}, n = {n}: optimum is {ranked[0]}")
        worst = min(rows, key=lambda r: r[3])
        check(True, f"enumeration k <= {kmax}: optimum (k-n+1, 1, ..., 1) for every n; smallest gap to the "
                    f"runner-up {mpmath.nstr(worst[3], 6)} at k = {worst[0]}, n = {worst[1]}")


def erf_large_k(ks):
    print(f"\n== 2c. erf, larger k at 50 digits (TeacherStudent gradient): k in {list(ks)}, n = 2, 3 ==")
    for k in ks:
        for n in (2, 3):
            res = copy_average("erf", k, n, dps=50, classify=False)
            worst = max(c.gradient_norm for c in res.configurations)
            check(worst < mpmath.mpf(10) ** -50 and res.optimal.partition == (k - n + 1,) + (1,) * (n - 1),
                  f"k = {k}, n = {n}: {len(res.configurations)} configurations, max 60-digit |grad| = "
                  f"{mpmath.nstr(worst, 3)}, optimum {res.optimal.partition}, status "
                  f"{sorted(set(c.critical for c in res.configurations))}")


def relu_part(ks):
    print("\n== 4. relu: copy-average configurations are not critical for n >= 2 ==")
    for k in ks:
        res = copy_average("relu", k, 2, dps=40, follow=True)
        print(res.table(digits=20))
        for c in res.configurations:
            beta = [x * y for x, y in zip(c.a, c.g)]
            print(f"  {list(c.partition)}: beta = a g = {[mpmath.nstr(b, 12) for b in beta]}; exact a = "
                  f"{[sp.latex(x) for x in c.a_exact]}")
            check(c.critical == "not critical" and c.gradient_norm > mpmath.mpf("1e-3"),
                  f"relu k = {k} {list(c.partition)}: not critical (60-digit |grad| = {mpmath.nstr(c.gradient_norm, 6)})")
            ok_follow = c.nearby is not None and "error" not in c.nearby
            check(ok_follow, f"relu k = {k} {list(c.partition)}: Newton reaches a critical point "
                             f"({c.nearby.get('kind') if c.nearby else None}, index "
                             f"{c.nearby.get('index') if c.nearby else None}, loss "
                             f"{c.nearby.get('loss', '')[:22] if c.nearby else ''})")
        one = copy_average("relu", k, 1, dps=40)
        check(one.configurations[0].critical == "exact", f"relu k = {k}, n = 1 (one group): exactly critical")
        relu_no_scalars(k)


def relu_no_scalars(k):
    """relu, every partition of k into n = 2 groups: no positive scalars make the configuration critical."""
    for part in partitions(k, 2):
        g = sp.symbols("g0:2", positive=True)
        a = sp.symbols("a0:2", real=True)
        A = GroupAnsatz("relu", [[g[0], 0], [0, g[1]]], list(a), list(part))
        ent = dict(A.gradient_entries({}))
        cross_ok = all(prove_zero(ent[f"dL/dw_{i} . v(group {j})"] - a[i] * (a[j] * g[j] - 1) / 4)
                       for i, j in ((0, 1), (1, 0)))
        check(cross_ok, f"relu {list(part)}: cross-group gradient = a_i (a_j g_j - 1)/4 exactly (symbolic g, a)")
        # so beta_j = a_j g_j = 1 is necessary; the output equations then fail
        beta1 = {a[0]: 1 / g[0], a[1]: 1 / g[1]}
        da = [sp.simplify(ent[f"dL/da_{i}"].xreplace(beta1) / g[i]) for i in range(2)]
        free = set().union(*(e.free_symbols for e in da))
        with mpmath.workdps(30), thread_mp.workdps(30):
            vals = [abs(sp.N(e, 30)) for e in da] if not free else None
        print(f"  {list(part)} with beta = 1: (dL/da_i)/g_i = {[sp.latex(e) for e in da]}")
        check(not free and max(vals) > 1e-3,
              f"relu {list(part)}: at beta = 1 the output equations are violated "
              f"(|dL/da_i|/g_i up to {mpmath.nstr(max(vals), 6) if vals else '?'}, independent of the scale): "
              "no positive scalars make it critical")


def one_neuron_part(k, names, survey_starts, survey_ks):
    print(f"\n== 5. one neuron, k = {k}: closed-form non-trivial critical points ==")
    unsolved = []
    for name in names:
        res = one_neuron(name, k, dps=40)
        if not res.points:
            unsolved.append(name)
            print(f"{name}: no non-trivial critical point in the symmetric subspace on g in +-[1e-3, 1e2]")
            continue
        for p in res.points:
            print(f"{name}: g = {sp.latex(p.g_exact)}, a = {sp.latex(p.a_exact)}, loss = {mpmath.nstr(p.loss, 20)} "
                  f"[{p.critical}]")
        best = res.points[0]
        diff, cp = refine_agreement(name, k, best, dps=40)
        exact = all(p.critical == "exact" for p in res.points)
        if diff < mpmath.mpf(10) ** -30:
            check(exact, f"{name}: every point exact; refine from a perturbed start agrees to {mpmath.nstr(diff, 3)} "
                         f"({cp.kind}, index {cp.index})")
        else:
            # a critical manifold through the point: refine lands elsewhere on it, at the same loss
            # (quadratic: f* = |x|^2 is rotation invariant, every direction with a|w|^2 = (k+2)/3 is critical)
            check(exact and cp.kind == "degenerate" and abs(cp.loss - best.loss) < mpmath.mpf(10) ** -30,
                  f"{name}: every point exact; refine lands {mpmath.nstr(diff, 3)} away on a degenerate critical "
                  f"manifold at the same loss (|dL| = {mpmath.nstr(abs(cp.loss - best.loss), 3)}, nullity "
                  f"{cp.nullity})")
    if unsolved:
        print(f"no closed form (no critical point found): {unsolved}")
    check(set(unsolved) <= {"gelu"}, "only gelu lacks a symmetric one-neuron critical point (F decreasing in g)")
    quad = [n for n in known_activations() if not activation(n).has_closed_form]
    print(f"not attempted (quadrature kernels, no closed form): {quad}")
    for name in ("erf", "relu"):
        for kk in survey_ks:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                s = symmetric_survey(name, kk, starts=survey_starts, dps=30)
            print(s.table())
            check(s.asymmetric == 0 and s.symmetric >= 1,
                  f"{name} k = {kk}: {s.symmetric} non-trivial survey point(s), all in the symmetric subspace")


def _timed(fn, *args, **kw):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    print(f"[{fn.__name__}: {time.perf_counter() - t0:.1f} s wall, {time.process_time() - c0:.1f} s cpu]",
          file=sys.stderr)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", action="store_true", help="reduced sizes (the test suite runs this)")
    args = p.parse_args(argv)
    global SMALL
    SMALL = args.small
    t0 = time.perf_counter()
    loss, m = _timed(erf_single_group)
    _timed(erf_pair_theorem)
    if args.small:
        _timed(erf_partitions, kmax=4, classify_upto=3)
        _timed(erf_optimality, loss, m, K=30, kmax=8)
        _timed(relu_part, [3])
        # the n = 1 survey runs in tests/symmetric/test_one_neuron.py and in the full run
        _timed(one_neuron_part, 3, ["erf", "relu"], survey_starts=3, survey_ks=[])
    else:
        _timed(erf_partitions, kmax=12, classify_upto=5)
        _timed(erf_optimality, loss, m, K=200, kmax=20)
        _timed(erf_large_k, range(13, 21))
        _timed(relu_part, [3, 4, 5])
        names = [n for n in known_activations() if activation(n).has_closed_form]
        _timed(one_neuron_part, 3, names, survey_starts=20, survey_ks=[3, 4])
    print(f"\n{len(FAILURES)} failure(s); {time.perf_counter() - t0:.0f} s")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
