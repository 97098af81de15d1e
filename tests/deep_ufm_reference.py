"""An independent reference for the deep UFM tests: the objective written sample by sample, with
no matrix products and no code shared with symland.problems.deep_ufm (a separate module so that
both test files import it by name, as they import conftest)."""

import mpmath


def naive_loss(problem, theta, ctx=None):
    """The objective sample by sample (no matrix products, no shared code with the module)."""
    ctx = ctx or mpmath.fp
    K, N, L, d = problem.K, problem.N, problem.L, problem.d
    th = [ctx.mpf(float(v)) if ctx is mpmath.fp else ctx.mpf(v) for v in theta]
    sizes = [d * K * N] + [d * d] * (L - 1) + [K * d]
    mats, pos = [], 0
    for i, s in enumerate(sizes):
        rows = (d if i < L else K)
        cols = K * N if i == 0 else d
        mats.append([[th[pos + r * cols + c] for c in range(cols)] for r in range(rows)])
        pos += s
    lam = [problem.lambda_H] + list(problem.lambda_W)
    total = 0
    for i in range(K * N):
        y = i // N
        h = [mats[0][r][i] for r in range(d)]
        for l in range(1, L + 1):
            W = mats[l]
            a = [ctx.fsum(W[r][c] * h[c] for c in range(len(h))) for r in range(len(W))]
            h = a if l == L or problem.activation == "linear" else [max(v, 0) for v in a]
        if problem.loss_kind == "mse":
            total += ctx.fsum((h[c] - (1 if c == y else 0)) ** 2 for c in range(K)) / 2
        else:
            total += -ctx.log(ctx.exp(h[y]) / ctx.fsum(ctx.exp(v) for v in h))
    reg = ctx.fsum(ctx.mpf(li.p) / li.q * ctx.fsum(x * x for row in M_ for x in row) / 2 for li, M_ in zip(lam, mats))
    return total / (K * N) + reg
