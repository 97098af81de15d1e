r"""Fixed-point subspaces of diagonal Young subgroups of $S_k\times S_k$ acting on $W$ ($k \times k$).

Setting (Safran & Shamir 2018; Arjevani & Field 2021): teacher $V = I_k$ ($d = k$),
$f^*(x) = \sum_r s(x_r)$, student $f(x) = \sum_i s(w_i\cdot x)$ with output weights
fixed to 1, loss $L(W) = \tfrac12 E_{x\sim N(0, I_k)}[(f - f^*)^2]$, parameters
$\theta = \operatorname{vec}(W)$ (row-major, ``TeacherStudent.orthonormal(act, k, k,
train_output=False)``).

**Symmetry.** $S_k\times S_k$ acts by $(\pi, \rho)\cdot W = P_\pi W P_\rho^\top$:
$\pi$ permutes the student neurons (rows), $\rho$ the input coordinates (columns),
which permutes the orthonormal teacher onto itself; $L$ is invariant.  The
*diagonal* Young subgroup $\Delta(S_{m_1}\times\dots\times S_{m_r})$ — pairs $(\pi, \pi)$
with $\pi$ preserving the blocks $B_1, \dots, B_r$ of sizes $m_1 + \dots + m_r = k$ —
permutes the index pairs $(i, j)$; its fixed-point subspace is spanned by the
indicator vectors of the orbits of index pairs:

* $(i, i)$ with $i \in B_p$: one scalar ``d{p}`` (diagonal of block $p$);
* $(i, j)$, $i \ne j$ both in $B_p$ ($m_p \ge 2$): one scalar ``o{p}``;
* $(i, j)$ with $i \in B_p$, $j \in B_q$, $p \ne q$: one scalar ``c{p}{q}``.

So $\theta = P s$ with a 0/1 integer matrix $P$ whose columns have disjoint supports,
e.g. $\Delta S_k$: $W = \alpha I + \beta(J - I)$; $\Delta(S_{k-1}\times S_1)$: five scalars.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import re

import numpy as np
import sympy

from ..errors import ShapeError
from ..landscape.isotropy import transposition_blocks

__all__ = [
    "ISOTROPY_TYPES",
    "DEFAULT_ISOTROPIES",
    "FixedPointSubspace",
    "fixed_point_subspace",
    "parse_isotropy",
    "young_type",
    "check_k",
]

#: named isotropy types: block sizes of the diagonal Young subgroup as a function of k
ISOTROPY_TYPES = {
    "S_k": lambda k: (k,),
    "S_{k-1}xS_1": lambda k: (k - 1, 1),
    "S_{k-2}xS_2": lambda k: (k - 2, 2),
    "S_{k-2}xS_1xS_1": lambda k: (k - 2, 1, 1),
    "S_{k-3}xS_3": lambda k: (k - 3, 3),
    "S_{k-3}xS_2xS_1": lambda k: (k - 3, 2, 1),
}

#: isotropy types searched by default (largest group first)
DEFAULT_ISOTROPIES = ("S_k", "S_{k-1}xS_1", "S_{k-2}xS_2", "S_{k-2}xS_1xS_1")


def check_k(k):
    """``k`` as an int >= 2 (teacher = student neurons), else ShapeError."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ShapeError(f"k must be an integer >= 2 (teacher = student neurons), got {k!r}")
    return int(k)


def parse_isotropy(k, isotropy) -> tuple:
    """Block sizes of a diagonal Young subgroup from a name, a string ``"4,1,1"`` or a tuple.

    Names: the keys of :data:`ISOTROPY_TYPES` (``"S_k"``, ``"S_{k-1}xS_1"``, ...),
    also written ``"diag(S_{k-1}xS_1)"``, with ``x`` or ``*``.  Explicit sizes must be
    positive integers summing to ``k``.  Returned in the given order (block 1 first).
    """
    k = check_k(k)
    if isinstance(isotropy, str):
        if len(isotropy) > 1000:
            raise ShapeError(f"isotropy {isotropy[:40]!r}...: longer than 1000 characters")
        name = isotropy.strip().replace(" ", "").replace("*", "x").replace("×", "x")
        m = re.fullmatch(r"(?:diag|Delta|Δ)\((.*)\)", name)
        if m:
            name = m.group(1)
        if name in ISOTROPY_TYPES:
            blocks = ISOTROPY_TYPES[name](k)
        elif re.fullmatch(r"[0-9]+(,[0-9]+)*", name):
            blocks = tuple(int(v) for v in name.split(","))
        elif re.fullmatch(r"S_?\{?[0-9]+\}?(xS_?\{?[0-9]+\}?)*", name):
            blocks = tuple(int(v) for v in re.findall(r"[0-9]+", name))
        else:
            raise ShapeError(f"isotropy {isotropy!r} is not understood: use one of {', '.join(ISOTROPY_TYPES)}, "
                             "explicit block sizes like '4,1,1' or 'S_4xS_1xS_1'")
    else:
        try:
            blocks = tuple(isotropy)
            if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in blocks):
                raise TypeError  # int(1.9) would silently be 1
            blocks = tuple(int(v) for v in blocks)
        except TypeError:
            raise ShapeError(f"isotropy must be a name, a string or a sequence of block sizes, "
                             f"got {isotropy!r}") from None
    if not blocks or any(b < 1 for b in blocks):
        raise ShapeError(f"isotropy {isotropy!r} for k={k}: block sizes must be positive integers, got {blocks}")
    if sum(blocks) != k:
        raise ShapeError(f"isotropy {isotropy!r}: block sizes {blocks} must sum to k={k}")
    return blocks


def _label(blocks) -> str:
    return "x".join(f"S_{b}" for b in blocks)


@dataclasses.dataclass(frozen=True)
class FixedPointSubspace:
    r"""Fixed-point subspace $\{\theta = Ps\}$ of a diagonal Young subgroup of $S_k\times S_k$.

    ``P`` is a ``(k*k, dim)`` integer (0/1) matrix, row index $ik + j$ for $W_{ij}$;
    ``names[c]`` names scalar ``c``; ``block_of[i]`` is the block of neuron/coordinate $i$.
    """

    k: int
    blocks: tuple
    P: np.ndarray
    names: tuple
    block_of: tuple
    label: str

    @property
    def dim(self) -> int:
        """Number of free scalars."""
        return self.P.shape[1]

    @property
    def counts(self) -> np.ndarray:
        """Orbit sizes (column sums of ``P``): $P^\\top P = \\operatorname{diag}(\\text{counts})$."""
        return self.P.sum(axis=0)

    def description(self) -> str:
        """Readable description of $W(s)$, block by block."""
        k = self.k
        starts = np.cumsum((0,) + self.blocks[:-1])
        parts = [f"diag({self.label}) acting on W (k={k}) by W -> P_pi W P_pi^T, pi preserving the blocks"]
        for p, (b, s0) in enumerate(zip(self.blocks, starts), start=1):
            rng = f"{{{s0}}}" if b == 1 else f"{{{s0}..{s0 + b - 1}}}"
            parts.append(f"block {p} = neurons/coordinates {rng} (size {b})")
        entries = []
        for p, b in enumerate(self.blocks, start=1):
            entries.append(f"W[block {p}, block {p}] = d{p} I" + (f" + o{p} (J - I)" if b > 1 else ""))
            for q in range(1, len(self.blocks) + 1):
                if q != p:
                    entries.append(f"W[block {p}, block {q}] = c{p}{q} J")
        parts.append("; ".join(entries))
        parts.append(f"{self.dim} scalars: {', '.join(self.names)}")
        return "\n".join(parts)

    def lift(self, s):
        """$\\theta = Ps$ (float64 array, or object array of mpf when ``s`` holds mpf)."""
        s = np.asarray(s)
        if s.shape != (self.dim,):
            raise ShapeError(f"argument s must have shape ({self.dim},) for {self.label}, got {s.shape}")
        if s.dtype == object:
            return np.array([s[c] for c in self._column_of], dtype=object)
        return self.P @ np.asarray(s, dtype=float)

    @property
    def _column_of(self):
        return tuple(int(np.flatnonzero(row)[0]) for row in self.P)

    def project(self, theta):
        """Coordinates of the orthogonal projection of ``theta`` on the subspace: $(P^\\top P)^{-1}P^\\top\\theta$.

        For mpf input the sums are taken at the precision of the input numbers' own context.
        """
        theta = np.asarray(theta)
        if theta.shape != (self.k * self.k,):
            raise ShapeError(f"argument theta must have shape ({self.k * self.k},), got {theta.shape}")
        cnt = self.counts
        if theta.dtype == object:
            sums = [functools.reduce(operator.add, theta[self.P[:, c] == 1]) for c in range(self.dim)]
            return np.array([sm / int(cnt[c]) for c, sm in enumerate(sums)], dtype=object)
        return (self.P.T @ theta) / cnt

    def matrix(self, s):
        """$W(s)$ as a ``(k, k)`` array."""
        return self.lift(s).reshape(self.k, self.k)

    def generators(self):
        """Permutations generating the group: adjacent transpositions inside each block."""
        gens = []
        for i in range(self.k - 1):
            if self.block_of[i] == self.block_of[i + 1]:
                perm = np.arange(self.k)
                perm[[i, i + 1]] = perm[[i + 1, i]]
                gens.append(perm)
        return gens

    def symbolic_matrix(self):
        """$W(s)$ as a SymPy matrix in the scalar symbols."""
        syms = sympy.symbols(self.names, real=True)
        cols = self._column_of
        return sympy.Matrix(self.k, self.k, [syms[c] for c in cols]), syms


def fixed_point_subspace(k, isotropy="S_k") -> FixedPointSubspace:
    """The fixed-point subspace of $\\Delta(S_{m_1}\\times\\dots\\times S_{m_r})$ (see the module docstring)."""
    k = check_k(k)
    blocks = parse_isotropy(k, isotropy)
    block_of = np.repeat(np.arange(len(blocks)), blocks)
    keys, names = {}, []
    cols = np.empty(k * k, dtype=int)
    for i in range(k):
        for j in range(k):
            p, q = int(block_of[i]), int(block_of[j])
            key = ("d", p) if i == j else (("o", p) if p == q else ("c", p, q))
            if key not in keys:
                keys[key] = len(keys)
                names.append(f"{key[0]}{p + 1}" + (f"{q + 1}" if key[0] == "c" else ""))
            cols[i * k + j] = keys[key]
    # order the scalars: per block d, o; then couplings c_pq
    order = sorted(range(len(names)), key=lambda c: (names[c][0] == "c", names[c][1:], names[c][0] != "d"))
    remap = {old: new for new, old in enumerate(order)}
    P = np.zeros((k * k, len(names)), dtype=np.int64)
    for r, c in enumerate(cols):
        P[r, remap[int(c)]] = 1
    return FixedPointSubspace(k=k, blocks=blocks, P=P, names=tuple(names[c] for c in order),
                              block_of=tuple(int(b) for b in block_of), label=_label(blocks))


def young_type(W, tol=1e-20) -> tuple:
    r"""Block sizes (descending) of the largest diagonal Young subgroup fixing ``W``.

    Neurons $i \sim j$ when the simultaneous swap of rows and columns $i, j$
    leaves $W$ unchanged (within ``tol`` relative); transpositions fixing $W$
    compose, so $\sim$ is an equivalence and its classes are the blocks.
    """
    W = np.asarray(W)
    scale = max(1.0, max(float(abs(x)) for x in W.ravel()))

    def swap_fixes(perm):
        diff = W[np.ix_(perm, perm)] - W
        return max(float(abs(x)) for x in diff.ravel()) <= tol * scale

    return transposition_blocks(W.shape[0], swap_fixes)
