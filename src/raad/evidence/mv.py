"""Multilevel and multivariate models, as metafor's ``rma.mv``, with ``vcalc`` to build the
sampling variance-covariance matrix and ``robust`` for cluster-robust inference.

The model: ``y = X b + sum_j Z_j u_j + e`` with ``e ~ N(0, V)`` (V given: the sampling
variances, or a full matrix when effects share a sample, e.g. two doses against one placebo
arm or several time points of one trial) and ``u_j ~ N(0, sigma2_j I)`` for each nested level
of ``random`` (``"~ 1 | study/esid"``: a study effect and an effect-size-within-study effect).
``sigma2`` is estimated by REML (default) or ML, maximising the (restricted) log-likelihood
over sigma2 >= 0 (L-BFGS-B on each sigma2, from scipy); b and its variance follow by
generalised least squares. QE is Cochran's Q with V alone (residual heterogeneity, k - p df)
and QM the Wald test of the coefficients. ``robust`` gives the sandwich variance with the
clusters' residuals and metafor's small-sample factor n / (n - p), tested with t(n - p).

Checked against metafor 3.8.1 on dat.konstantopoulos2011 and dat.berkey1998
(tests/fixtures/metafor/mv.R).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .errors import EvidenceInputError, strict_json
from .inputs import column, design_matrix, normalise_level

METHODS_MV = ("REML", "ML")


def vcalc(vi: Any, cluster: Any, rho: float, obs: Any = None) -> np.ndarray:
    """The sampling variance-covariance matrix of effects where those of one ``cluster`` come
    from the same participants (metafor's ``vcalc`` with ``obs``): ``V_ii = vi``,
    ``V_ij = rho sqrt(vi vj)`` for two different effects of one cluster, 0 across clusters.
    ``rho`` is an assumption: report the results for several values."""
    v = np.asarray(vi, dtype=float)
    c = np.asarray(cluster)
    if len(c) != len(v):
        raise EvidenceInputError("cluster", f"{len(c)} labels", f"{len(v)}, one per effect")
    if not -1 <= float(rho) <= 1:
        raise EvidenceInputError("rho", rho, "a correlation in [-1, 1]")
    same = c[:, None] == c[None, :]
    if obs is not None:
        o = np.asarray(obs)
        same &= o[:, None] != o[None, :]
    V = np.where(same, float(rho) * np.sqrt(np.outer(v, v)), 0.0)
    np.fill_diagonal(V, v)
    return V


@dataclass(frozen=True)
class MvResult:
    method: str
    level: float
    y: np.ndarray
    V: np.ndarray
    X: np.ndarray
    coef_names: tuple[str, ...]
    levels: tuple[str, ...]  # the random-effect levels ("district", "district/school")
    Z: tuple[np.ndarray, ...]
    nlvls: tuple[int, ...]
    sigma2: np.ndarray
    beta: np.ndarray
    vb: np.ndarray
    qe: float
    qep: float
    qm: float
    qmp: float
    ll: float

    @property
    def k(self) -> int:
        return len(self.y)

    @property
    def p(self) -> int:
        return self.X.shape[1]

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vb))

    @property
    def zval(self) -> np.ndarray:
        return self.beta / self.se

    @property
    def pval(self) -> np.ndarray:
        return 2 * stats.norm.sf(np.abs(self.zval))

    def ci(self) -> tuple[np.ndarray, np.ndarray]:
        crit = stats.norm.isf((1 - self.level / 100) / 2)
        return self.beta - crit * self.se, self.beta + crit * self.se

    def marginal_cov(self) -> np.ndarray:
        """The model's marginal variance of y: V + sum_j sigma2_j Z_j Z_j'."""
        return self.V + sum(s * Z @ Z.T for s, Z in zip(self.sigma2, self.Z, strict=True))

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.ci()
        return strict_json(
            {
                "method": self.method,
                "k": self.k,
                "coefficients": {
                    n: {"estimate": b, "se": s, "zval": z, "pval": p, "ci_lb": lo_, "ci_ub": hi_}
                    for n, b, s, z, p, lo_, hi_ in zip(
                        self.coef_names,
                        self.beta,
                        self.se,
                        self.zval,
                        self.pval,
                        lo,
                        hi,
                        strict=True,
                    )
                },
                "sigma2": dict(zip(self.levels, self.sigma2.tolist(), strict=True)),
                "nlvls": dict(zip(self.levels, self.nlvls, strict=True)),
                "qe": self.qe,
                "qe_df": self.k - self.p,
                "qep": self.qep,
                "qm": self.qm,
                "qmp": self.qmp,
                "loglik": self.ll,
            }
        )

    def __str__(self) -> str:
        lines = [f"Multivariate meta-analysis model (k = {self.k}; method: {self.method})", ""]
        for name, s, n in zip(self.levels, self.sigma2, self.nlvls, strict=True):
            lines.append(f"sigma^2 {name:<20} {s:.4f}  (levels: {n})")
        lines.append(
            f"\nTest for residual heterogeneity: QE({self.k - self.p}) = {self.qe:.4f}, "
            f"p = {self.qep:.4g}"
        )
        lo, hi = self.ci()
        lines.append(
            "\n" + f"{'':<12}{'estimate':>10}{'se':>10}{'zval':>10}{'pval':>10}"
            f"{'ci.lb':>10}{'ci.ub':>10}"
        )
        for row in zip(
            self.coef_names, self.beta, self.se, self.zval, self.pval, lo, hi, strict=True
        ):
            lines.append(f"{row[0]:<12}" + "".join(f"{x:>10.4f}" for x in row[1:]))
        return "\n".join(lines)


def _levels(random: str, frame: pd.DataFrame) -> tuple[tuple[str, ...], tuple[np.ndarray, ...]]:
    """The nested levels of ``"~ 1 | a/b/c"`` as indicator matrices (a; a:b; a:b:c)."""
    m = re.fullmatch(r"\s*~\s*1\s*\|\s*([\w.]+(?:\s*/\s*[\w.]+)*)\s*", random or "")
    if not m:
        raise EvidenceInputError(
            "random", random, "a nested random-effects formula such as '~ 1 | study/esid'"
        )
    factors = [f.strip() for f in m.group(1).split("/")]
    for f in factors:
        if f not in frame.columns:
            raise EvidenceInputError("random", f, f"a column of data: {list(frame.columns)}")
        if frame[f].isna().any():
            raise EvidenceInputError("random", f, "a level for every effect (no missing values)")
    names, Zs = [], []
    for depth in range(1, len(factors) + 1):
        key = frame[factors[:depth]].astype(str).agg("\x1f".join, axis=1)
        codes, uniques = pd.factorize(key)
        Z = np.zeros((len(frame), len(uniques)))
        Z[np.arange(len(frame)), codes] = 1.0
        names.append("/".join(factors[:depth]))
        Zs.append(Z)
    return tuple(names), tuple(Zs)


class _Blocks:
    """The marginal covariance ``V + sum_j sigma2_j Z_j Z_j'`` split into its independent
    blocks (connected components of V's and the outermost random level's pattern: the
    studies, when effects are nested in studies and V does not link studies), grouped by
    size so each size's Cholesky factors and solves run as one batched numpy call. The
    likelihood and GLS then cost O(sum of block size^3) instead of O(k^3)."""

    def __init__(self, V: np.ndarray, Zs: tuple[np.ndarray, ...], X: np.ndarray, y: np.ndarray):
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        k = len(y)
        rows, cols = np.nonzero(V)
        top = np.argmax(Zs[0], axis=1) if Zs else np.arange(k)
        order = np.argsort(top, kind="stable")
        same = top[order][1:] == top[order][:-1]
        rows = np.concatenate([rows, order[:-1][same]])
        cols = np.concatenate([cols, order[1:][same]])
        graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(k, k))
        _, label = connected_components(graph, directed=False)
        groups: dict[int, list[np.ndarray]] = {}
        for members in pd.Series(np.arange(k)).groupby(label).indices.values():
            groups.setdefault(len(members), []).append(np.sort(members))
        self.parts = []
        for _, members in sorted(groups.items()):
            idx = np.stack(members)  # (nb, size)
            Vb = V[idx[:, :, None], idx[:, None, :]]
            ZZb = [np.einsum("bik,bjk->bij", Z[idx], Z[idx]) for Z in Zs]
            self.parts.append((Vb, ZZb, X[idx], y[idx]))

    def min_eigenvalue(self) -> float:
        return min(float(np.linalg.eigvalsh(Vb).min()) for Vb, _, _, _ in self.parts)

    def gls(self, s2: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        """``(X' W X, b, r' W r, log det M)`` at ``sigma2 = s2`` with ``W = M^-1``."""
        p = self.parts[0][2].shape[2]
        A = np.zeros((p, p))
        c = np.zeros(p)
        logdet = 0.0
        solved = []
        for Vb, ZZb, Xb, yb in self.parts:
            M = Vb + sum(s * zz for s, zz in zip(s2, ZZb, strict=True))
            L = np.linalg.cholesky(M)
            LX = np.linalg.solve(L, Xb)
            Ly = np.linalg.solve(L, yb[:, :, None])[:, :, 0]
            A += np.einsum("bip,biq->pq", LX, LX)
            c += np.einsum("bip,bi->p", LX, Ly)
            logdet += 2 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
            solved.append((LX, Ly))
        b = np.linalg.solve(A, c)
        q = sum(float(np.sum((Ly - LX @ b) ** 2)) for LX, Ly in solved)
        return A, b, q, logdet


def rma_mv(
    yi: Any,
    V: Any,
    *,
    random: str,
    data: pd.DataFrame,
    mods: Any = None,
    method: str = "REML",
    intercept: bool = True,
    level: float = 95,
) -> MvResult:
    """Fit a multilevel/multivariate model (metafor's ``rma.mv`` with nested random
    intercepts). ``yi``: effects (or a column of ``data``); ``V``: their sampling variances
    (a vector, or a column) or a k x k variance-covariance matrix (see ``vcalc``);
    ``random``: ``"~ 1 | study/esid"`` (columns of ``data``); ``mods`` as in ``rma``."""
    if method not in METHODS_MV:
        raise EvidenceInputError("method", method, f"one of {', '.join(METHODS_MV)}")
    lv = normalise_level(level)
    frame = data.reset_index(drop=True)
    y = np.asarray(column(frame, "yi", yi), dtype=float)
    k = len(y)
    if isinstance(V, str):
        V = column(frame, "V", V)
    Vm = np.asarray(V, dtype=float)
    if Vm.ndim == 1:
        Vm = np.diag(Vm)
    if Vm.shape != (k, k):
        raise EvidenceInputError("V", f"shape {Vm.shape}", f"{k} variances or a {k} x {k} matrix")
    if not np.all(np.isfinite(y)) or not np.all(np.isfinite(Vm)):
        raise EvidenceInputError("yi", "missing or infinite values", "complete, finite values")
    X, names = design_matrix(mods, frame, k, intercept)
    p = X.shape[1]
    levels, Zs = _levels(random, frame)
    blocks = _Blocks(Vm, Zs, X, y)
    if not np.allclose(Vm, Vm.T) or blocks.min_eigenvalue() <= 0:
        raise EvidenceInputError(
            "V", "not symmetric positive definite", "a valid covariance matrix"
        )
    reml = method == "REML"
    logdet_xx = float(np.linalg.slogdet(X.T @ X)[1])

    def negll(s2: np.ndarray) -> float:
        try:
            A, _, q, logdet_m = blocks.gls(np.maximum(s2, 0.0))
        except np.linalg.LinAlgError:
            return 1e300
        if reml:
            return 0.5 * (
                (k - p) * math.log(2 * math.pi)
                + logdet_m
                + float(np.linalg.slogdet(A)[1])
                - logdet_xx
                + q
            )
        return 0.5 * (k * math.log(2 * math.pi) + logdet_m + q)

    start = np.full(len(Zs), max(float(np.var(y)) / (len(Zs) + 1), 1e-4))
    fit = optimize.minimize(
        negll,
        start,
        method="L-BFGS-B",
        bounds=[(0.0, None)] * len(Zs),
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000},
    )
    # polish: a second run from the optimum (L-BFGS-B stops early on flat likelihoods)
    fit = optimize.minimize(
        negll,
        fit.x,
        method="L-BFGS-B",
        bounds=[(0.0, None)] * len(Zs),
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000},
    )
    s2 = np.maximum(fit.x, 0.0)
    A, b, _, _ = blocks.gls(s2)
    vb = np.linalg.inv(A)
    # Cochran's Q with V alone (residual heterogeneity): the GLS residual quadratic form
    qe = max(0.0, blocks.gls(np.zeros(len(Zs)))[2])
    qep = float(stats.chi2.sf(qe, k - p)) if k > p else 1.0
    btt = list(range(1, p)) if (intercept and p > 1 and names[0] == "intercept") else list(range(p))
    qm = float(b[btt] @ np.linalg.solve(vb[np.ix_(btt, btt)], b[btt]))
    qmp = float(stats.chi2.sf(qm, len(btt)))
    return MvResult(
        method,
        lv,
        y,
        Vm,
        X,
        names,
        levels,
        Zs,
        tuple(Z.shape[1] for Z in Zs),
        s2,
        b,
        vb,
        qe,
        qep,
        qm,
        qmp,
        -float(fit.fun),
    )


@dataclass(frozen=True)
class RobustResult:
    """Cluster-robust inference for a fitted model (metafor's ``robust``): CR1 with t(n - p),
    or CR2 with Satterthwaite df per coefficient (``clubSandwich=True``)."""

    beta: np.ndarray
    vb: np.ndarray
    df: np.ndarray  # per coefficient
    n_clusters: int
    coef_names: tuple[str, ...]
    estimator: str  # "CR1" | "CR2"

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vb))

    @property
    def tval(self) -> np.ndarray:
        return self.beta / self.se

    @property
    def pval(self) -> np.ndarray:
        return 2 * stats.t.sf(np.abs(self.tval), self.df)

    def to_dict(self) -> dict[str, Any]:
        return strict_json(
            {
                "estimator": self.estimator,
                "clusters": self.n_clusters,
                "coefficients": {
                    n: {"estimate": b, "se": s, "tval": t, "df": d, "pval": p}
                    for n, b, s, t, d, p in zip(
                        self.coef_names,
                        self.beta,
                        self.se,
                        self.tval,
                        self.df,
                        self.pval,
                        strict=True,
                    )
                },
            }
        )


def _inv_sqrt(S: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((S + S.T) / 2)
    return vectors @ np.diag(values**-0.5) @ vectors.T


def robust(res: MvResult, cluster: Any, clubSandwich: bool = False) -> RobustResult:
    """Cluster-robust variance of the coefficients from the clusters' residuals, with W the
    model's inverse marginal variance and ``B = (X'WX)^-1``:

    - default (metafor's ``robust``, ``adjust = TRUE``): ``B (sum_c X_c' W_c e_c e_c' W_c X_c)
      B`` times n / (n - p), tested with t(n - p), n the number of clusters;
    - ``clubSandwich=True``: the bias-reduced CR2 estimator with the model's marginal
      variance as working model, ``A_c = D_c' (D_c (I-H)_c M (I-H)_c' D_c')^(-1/2) D_c`` with
      ``M_c = D_c' D_c`` (Bell & McCaffrey 2002; Pustejovsky & Tipton 2018, J Bus Econ Stat
      36:672-683), each coefficient tested with its Satterthwaite df, as the clubSandwich
      package metafor calls (checked against clubSandwich 0.5.8).
    """
    c = np.asarray(cluster)
    if len(c) != res.k:
        raise EvidenceInputError("cluster", f"{len(c)} labels", f"{res.k}, one per effect")
    M = res.marginal_cov()
    W = np.linalg.inv(M)
    X, p = res.X, res.p
    e = res.y - X @ res.beta
    B = np.linalg.inv(X.T @ W @ X)
    labels = pd.unique(c)
    n = len(labels)
    if n <= p:
        raise EvidenceInputError("cluster", f"{n} clusters", f"more than {p} clusters")
    blocks = [np.flatnonzero(c == lab) for lab in labels]
    meat = np.zeros((p, p))
    if not clubSandwich:
        XtW = X.T @ W
        for idx in blocks:
            u = XtW[:, idx] @ e[idx]
            meat += np.outer(u, u)
        vb = B @ meat @ B * n / (n - p)
        return RobustResult(res.beta, vb, np.full(p, float(n - p)), n, res.coef_names, "CR1")
    ih = np.eye(res.k) - X @ B @ X.T @ W
    adjust = []
    for idx in blocks:
        D = np.linalg.cholesky(M[np.ix_(idx, idx)]).T
        A = D.T @ _inv_sqrt(D @ ih[idx, :] @ M @ ih[idx, :].T @ D.T) @ D
        adjust.append(A)
        u = X[idx].T @ W[np.ix_(idx, idx)] @ A @ e[idx]
        meat += np.outer(u, u)
    vb = B @ meat @ B
    df = np.empty(p)
    for j in range(p):
        cj = np.zeros(p)
        cj[j] = 1.0
        G = np.array(
            [
                ih[idx, :].T @ (A.T @ W[np.ix_(idx, idx)] @ X[idx] @ B @ cj)
                for idx, A in zip(blocks, adjust, strict=True)
            ]
        )
        omega = G @ M @ G.T
        df[j] = np.trace(omega) ** 2 / np.sum(omega**2)
    return RobustResult(res.beta, vb, df, n, res.coef_names, "CR2")
