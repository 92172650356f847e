"""Binomial-normal generalised linear mixed models for sparse 2x2 tables, as metafor's
``rma.glmm`` with ``measure="OR"``.

Two models (Stijnen, Hamza & Ozdemir 2010, Stat Med 29:3046-3067, doi:10.1002/sim.4040;
the names are metafor's):

- ``"UM.FS"`` (metafor's default): unconditional model with fixed study effects. The events
  of arm j of study i are binomial with ``logit(p_ij) = alpha_i + g_ij * (x_i' beta) +
  h_ij * u_i``, where ``g = 1`` in the treatment arm and ``0`` in the control arm,
  ``h = +1/2 | -1/2`` (metafor's default coding), ``u_i ~ N(0, tau^2)``. The likelihood of a
  study is integrated over ``u_i`` by adaptive Gauss-Hermite quadrature with ``nAGQ`` nodes
  (default 7, as metafor passes to lme4's ``glmer``; ``nAGQ = 1`` is the Laplace
  approximation).
- ``"CM.EL"``: conditional model, exact likelihood. Given the total events of a study, the
  treatment-arm count is Fisher's noncentral hypergeometric with log odds ratio
  ``theta_i ~ N(x_i' beta, tau^2)``; the integral over ``theta_i`` is evaluated by adaptive
  Gauss-Hermite quadrature with 32 nodes around the integrand's mode (exact to far below the
  reported digits; metafor integrates numerically with R's ``integrate``).

``method="ML"`` estimates ``tau^2`` by maximum likelihood; ``method="EE"`` fixes it at 0
(ordinary fixed-effect logistic regression for UM.FS, the conditional maximum likelihood
estimate of a common odds ratio for CM.EL). Tables with no events in either arm, or only
events, carry no information and are left out (metafor's ``drop00 = TRUE``), as are tables
with a missing count; both are listed.

The likelihood is written out and maximised with scipy (no library fits a binomial-normal
GLMM by maximum likelihood in Python: statsmodels' binomial mixed GLM is a variational Bayes
fit). Standard errors come from the Hessian of the log-likelihood over ``(beta, tau)``, as
lme4's and metafor's do.

Heterogeneity tests against the saturated model (one log odds ratio per study), each on
``k - p`` degrees of freedom: the likelihood-ratio test ``QE_LRT`` (fixed-effect model against
the saturated model), and the Wald test ``QE_Wld``, which equals the inverse-variance
residual Q of the per-study maximum likelihood log odds ratios. A table with a zero cell has
an infinite log odds ratio in the saturated model and adds nothing to ``QE_Wld`` (its limit;
metafor reports the value where glm's iterations stopped, which differs in the 7th digit).

Checked against metafor 3.8.1 / lme4 1.1 (tests/fixtures/metafor/glmm.R).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special, stats

from .errors import ConvergenceError, EvidenceInputError, strict_json
from .inputs import normalise_level
from .mh import _tables

GLMM_MODELS = ("UM.FS", "CM.EL")
GLMM_METHODS = ("ML", "EE")
_CM_NODES = 32


@dataclass(frozen=True)
class GlmmResult:
    """A fitted binomial-normal model; ``beta`` (log odds ratios: intercept, then each
    moderator) and ``se`` have length p, ``tau2`` is the variance of the log odds ratios."""

    model: str
    method: str
    measure: str
    coef_names: tuple[str, ...]
    beta: tuple[float, ...]
    se: tuple[float, ...]
    tau2: float
    level: float
    k: int
    loglik: float
    qe_lrt: float
    qe_wld: float
    qe_df: int
    nagq: int | None
    omitted: tuple[int, ...]  # positions of tables with a missing count
    dropped: tuple[int, ...]  # positions of tables without events (or only events) in both arms

    @property
    def zval(self) -> tuple[float, ...]:
        return tuple(b / s for b, s in zip(self.beta, self.se, strict=True))

    @property
    def pval(self) -> tuple[float, ...]:
        return tuple(float(2 * stats.norm.sf(abs(z))) for z in self.zval)

    @property
    def ci(self) -> tuple[tuple[float, float], ...]:
        crit = float(stats.norm.isf((1 - self.level / 100) / 2))
        return tuple((b - crit * s, b + crit * s) for b, s in zip(self.beta, self.se, strict=True))

    @property
    def qe_lrt_p(self) -> float:
        return float(stats.chi2.sf(self.qe_lrt, self.qe_df)) if self.qe_df > 0 else math.nan

    @property
    def qe_wld_p(self) -> float:
        return float(stats.chi2.sf(self.qe_wld, self.qe_df)) if self.qe_df > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        return strict_json(
            {
                "model": self.model,
                "method": self.method,
                "measure": self.measure,
                "coefficients": [
                    {
                        "name": n,
                        "estimate": b,
                        "se": s,
                        "zval": z,
                        "pval": p,
                        "ci_lb": lo,
                        "ci_ub": hi,
                    }
                    for n, b, s, z, p, (lo, hi) in zip(
                        self.coef_names,
                        self.beta,
                        self.se,
                        self.zval,
                        self.pval,
                        self.ci,
                        strict=True,
                    )
                ],
                "tau2": self.tau2,
                "level": self.level,
                "k": self.k,
                "logLik": self.loglik,
                "QE_LRT": self.qe_lrt,
                "QE_LRT_p": self.qe_lrt_p,
                "QE_Wld": self.qe_wld,
                "QE_Wld_p": self.qe_wld_p,
                "QE_df": self.qe_df,
                "nAGQ": self.nagq,
                "omitted": list(self.omitted),
                "dropped": list(self.dropped),
            }
        )

    def __str__(self) -> str:
        kind = "Random-effects" if self.method == "ML" else "Fixed-effect"
        name = {
            "UM.FS": "unconditional model, fixed study effects",
            "CM.EL": "conditional model, exact likelihood",
        }[self.model]
        lines = [
            f"{kind} binomial-normal model ({name}; measure {self.measure}; k = {self.k})",
            f"tau^2 = {self.tau2:.4f}   logLik = {self.loglik:.4f}",
            f"Tests for heterogeneity: Wald({self.qe_df}) = {self.qe_wld:.4f}, "
            f"p = {self.qe_wld_p:.4g}; LRT({self.qe_df}) = {self.qe_lrt:.4f}, "
            f"p = {self.qe_lrt_p:.4g}",
        ]
        for n, b, s, z, p, (lo, hi) in zip(
            self.coef_names, self.beta, self.se, self.zval, self.pval, self.ci, strict=True
        ):
            lines.append(
                f"{n:>10} {b:9.4f}  se {s:.4f}  z {z:8.4f}  p {p:.4g}  CI [{lo:.4f}, {hi:.4f}]"
            )
        if self.coef_names == ("intrcpt",):
            b, (lo, hi) = self.beta[0], self.ci[0]
            lines.append(f"odds ratio {math.exp(b):.4f} [{math.exp(lo):.4f}, {math.exp(hi):.4f}]")
        if self.dropped:
            lines.append(
                f"tables without events in either arm (or only events) left out: "
                f"{list(self.dropped)}"
            )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# numerical helpers


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _num_grad(f, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    g = np.empty_like(x)
    for j in range(len(x)):
        e = np.zeros_like(x)
        e[j] = h[j]
        g[j] = (f(x + e) - f(x - e)) / (2 * h[j])
    return g


def _num_hess(f, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    n = len(x)
    H = np.empty((n, n))
    f0 = f(x)
    for i in range(n):
        ei = np.zeros(n)
        ei[i] = h[i]
        H[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / h[i] ** 2
        for j in range(i):
            ej = np.zeros(n)
            ej[j] = h[j]
            H[i, j] = H[j, i] = (
                f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)
            ) / (4 * h[i] * h[j])
    return H


def _minimise(f, x0: np.ndarray, what: str) -> np.ndarray:
    """Minimise a smooth function of a few parameters by Newton's method on central-difference
    derivatives, with step halving, and a Levenberg shift where the Hessian is not positive
    definite; stops when a step moves no parameter by more than 1e-9."""
    x = np.asarray(x0, dtype=float)
    fx = f(x)
    it = 0
    for it in range(200):  # noqa: B007 - the count is reported on failure
        h = 1e-4 * np.maximum(1.0, np.abs(x))
        g = _num_grad(f, x, h)
        H = _num_hess(f, x, h)
        shift = 0.0
        for _ in range(60):
            try:
                np.linalg.cholesky(H + shift * np.eye(len(x)))
                break
            except np.linalg.LinAlgError:
                shift = max(2 * shift, 1e-6 * max(1.0, float(np.max(np.abs(np.diag(H))))))
        step = -np.linalg.solve(H + shift * np.eye(len(x)), g)
        t = 1.0
        while t > 1e-10:
            fn = f(x + t * step)
            if np.isfinite(fn) and fn <= fx + 1e-13 * abs(fx):
                break
            t /= 2
        else:
            break
        x = x + t * step
        fx = fn
        if np.max(np.abs(t * step)) < 1e-9:
            break
    else:
        raise ConvergenceError(what, it + 1, "Newton steps did not settle")
    if not np.isfinite(fx):
        raise ConvergenceError(what, it + 1, "the log-likelihood is not finite")
    return x


def _vcov(f, x: np.ndarray, p: int, random: bool) -> np.ndarray:
    """The beta block of the inverse Hessian of ``f`` (minus the log-likelihood) at ``x``;
    at tau = 0 (or for a fixed-effect fit) the Hessian over beta alone. Difference steps are
    1/100 of each parameter's standard error (from a first pass), so the curvature is read
    on the scale the parameter is estimated at."""
    use = p + 1 if random and abs(x[p]) > 1e-4 else p

    def fs(y):
        return f(np.concatenate([y, x[use:]]))

    y = x[:use]
    H = _num_hess(fs, y, 1e-4 * np.maximum(1.0, np.abs(y)))
    for _ in range(2):
        se = np.sqrt(np.abs(np.diag(np.linalg.inv(H))))
        H = _num_hess(fs, y, 1e-2 * se)
    return np.linalg.inv(H)[:p, :p]


def _lse(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.log(np.sum(np.exp(x - m), axis=axis)) + np.squeeze(m, axis=axis)


# ---------------------------------------------------------------------------------------
# UM.FS


class _Unconditional:
    """Log-likelihood of the unconditional model with fixed study intercepts ``alpha_i``,
    which are profiled out study by study (each enters one study's likelihood only)."""

    def __init__(self, a, b, c, d, X, nagq):
        self.y1, self.n1 = a, a + b
        self.y2, self.n2 = c, c + d
        self.X = X
        self.const = (
            special.gammaln(self.n1 + 1)
            - special.gammaln(a + 1)
            - special.gammaln(b + 1)
            + special.gammaln(self.n2 + 1)
            - special.gammaln(c + 1)
            - special.gammaln(d + 1)
        )
        z, w = np.polynomial.hermite.hermgauss(nagq)
        self.z, self.logw = z, np.log(w)
        # start the intercepts at the control arm's log odds (1/2 added where empty)
        self.alpha = np.log((c + 0.5) / (d + 0.5))

    def _g(self, u, alpha, xb, half):
        e1 = alpha + xb + half * u
        e2 = alpha - half * u
        y1, n1, y2, n2 = (
            v.reshape(v.shape + (1,) * (np.ndim(u) - 1))
            for v in (self.y1, self.n1, self.y2, self.n2)
        )
        return y1 * e1 - n1 * _softplus(e1) + y2 * e2 - n2 * _softplus(e2)

    def study_ll(self, alpha: np.ndarray, xb: np.ndarray, tau: float) -> np.ndarray:
        y1, n1, y2, n2 = self.y1, self.n1, self.y2, self.n2
        if tau == 0:
            return self.const + self._g(np.zeros_like(alpha), alpha, xb, 0.0)
        half = tau / 2
        u = np.zeros_like(alpha)
        for _ in range(200):
            e1 = alpha + xb + half * u
            e2 = alpha - half * u
            p1, p2 = special.expit(e1), special.expit(e2)
            grad = half * (y1 - n1 * p1) - half * (y2 - n2 * p2) - u
            hess = -(half**2) * (n1 * p1 * (1 - p1) + n2 * p2 * (1 - p2)) - 1
            step = -grad / hess
            # the log-density is strictly concave in u: halve steps that lose ground
            cur = self._g(u, alpha, xb, half) - u**2 / 2
            for _ in range(60):
                new = u + step
                bad = self._g(new, alpha, xb, half) - new**2 / 2 < cur - 1e-12 * np.abs(cur)
                if not bad.any():
                    break
                step = np.where(bad, step / 2, step)
            u = u + step
            if np.max(np.abs(step)) < 1e-11:
                break
        p1 = special.expit(alpha + xb + half * u)
        p2 = special.expit(alpha - half * u)
        info = half**2 * (n1 * p1 * (1 - p1) + n2 * p2 * (1 - p2)) + 1
        sigma = 1 / np.sqrt(info)
        nodes = u[:, None] + math.sqrt(2) * sigma[:, None] * self.z[None, :]
        vals = (
            self._g(nodes, alpha[:, None], xb[:, None], half)
            - nodes**2 / 2
            + self.z[None, :] ** 2
            + self.logw[None, :]
        )
        return (
            self.const
            + _lse(vals, axis=1)
            + np.log(math.sqrt(2) * sigma)
            - 0.5 * math.log(2 * math.pi)
        )

    def profile(self, beta: np.ndarray, tau: float) -> float:
        """The log-likelihood at (beta, tau) with each alpha_i at its maximum."""
        xb = self.X @ beta
        a = self.alpha.copy()
        h = 1e-4
        for _ in range(100):
            f0 = self.study_ll(a, xb, tau)
            fp = self.study_ll(a + h, xb, tau)
            fm = self.study_ll(a - h, xb, tau)
            g = (fp - fm) / (2 * h)
            H = (fp - 2 * f0 + fm) / h**2
            step = np.where(H < 0, -g / np.where(H < 0, H, -1.0), np.sign(g))
            step = np.clip(step, -5, 5)
            for _ in range(60):
                worse = self.study_ll(a + step, xb, tau) < f0 - 1e-13 * np.abs(f0)
                if not worse.any():
                    break
                step = np.where(worse, step / 2, step)
            a = a + step
            if np.max(np.abs(step)) < 1e-11:
                break
        self.alpha = a
        return float(np.sum(self.study_ll(a, xb, tau)))

    def information(self, beta: np.ndarray) -> np.ndarray:
        """Fisher information for beta at tau = 0 with the intercepts profiled out (each
        table adds x x' W1 W2 / (W1 + W2), W = n p (1 - p) in its arms); the profile()
        call leaves the intercepts at their maximum for this beta."""
        self.profile(beta, 0.0)
        xb = self.X @ beta
        p1, p2 = special.expit(self.alpha + xb), special.expit(self.alpha)
        w1, w2 = self.n1 * p1 * (1 - p1), self.n2 * p2 * (1 - p2)
        w = w1 * w2 / (w1 + w2)
        return (self.X.T * w) @ self.X

    def saturated(self) -> float:
        def part(y, n):
            with np.errstate(divide="ignore", invalid="ignore"):
                p = y / n
                t = np.where(y > 0, y * np.log(p), 0.0) + np.where(
                    n - y > 0, (n - y) * np.log1p(-p), 0.0
                )
            return t

        return float(np.sum(self.const + part(self.y1, self.n1) + part(self.y2, self.n2)))


# ---------------------------------------------------------------------------------------
# CM.EL


class _Conditional:
    """Log-likelihood of the conditional model: the treatment-arm count given the study's
    total events is Fisher's noncentral hypergeometric in the study's log odds ratio."""

    def __init__(self, a, b, c, d, X):
        n1, n2, m1 = a + b, c + d, a + c
        lo = np.maximum(0, m1 - n2).astype(int)
        hi = np.minimum(n1, m1).astype(int)
        width = int(np.max(hi - lo)) + 1
        s = lo[:, None] + np.arange(width)[None, :]
        valid = s <= hi[:, None]
        sv = np.where(valid, s, lo[:, None])
        lc = (
            special.gammaln(n1[:, None] + 1)
            - special.gammaln(sv + 1)
            - special.gammaln(n1[:, None] - sv + 1)
            + special.gammaln(n2[:, None] + 1)
            - special.gammaln(m1[:, None] - sv + 1)
            - special.gammaln(n2[:, None] - m1[:, None] + sv + 1)
        )
        self.s = sv.astype(float)
        self.lc = np.where(valid, lc, -np.inf)
        self.x = a
        self.lcx = lc[np.arange(len(a)), (a - lo).astype(int)]
        self.X = X
        self.at_edge = (a == lo) | (a == hi)
        z, w = np.polynomial.hermite.hermgauss(_CM_NODES)
        self.z, self.logw = z, np.log(w)

    def _moments(self, theta: np.ndarray):
        """log P(x | theta), E[X | theta], Var[X | theta]; theta of shape (k,) or (k, q)."""
        extra = np.ndim(theta) - 1
        lc = self.lc.reshape(self.lc.shape[:1] + (1,) * extra + self.lc.shape[1:])
        s = self.s.reshape(lc.shape)
        t = np.expand_dims(theta, -1)
        logits = lc + s * t
        lse = _lse(logits, axis=-1)
        wts = np.exp(logits - lse[..., None])
        mean = np.sum(wts * s, axis=-1)
        var = np.sum(wts * s * s, axis=-1) - mean**2
        x = self.x.reshape(self.x.shape + (1,) * extra)
        lcx = self.lcx.reshape(x.shape)
        return lcx + x * theta - lse, mean, np.maximum(var, 0.0)

    def study_ll(self, mu: np.ndarray, tau: float) -> np.ndarray:
        if tau == 0:
            return self._moments(mu)[0]
        tau2 = tau * tau
        t = mu.copy()
        for _ in range(200):
            _, mean, var = self._moments(t)
            grad = self.x - mean - (t - mu) / tau2
            hess = -var - 1 / tau2
            step = np.clip(-grad / hess, -2.0, 2.0)
            t = t + step
            if np.max(np.abs(step)) < 1e-10:
                break
        _, _, var = self._moments(t)
        sigma = 1 / np.sqrt(var + 1 / tau2)
        nodes = t[:, None] + math.sqrt(2) * sigma[:, None] * self.z[None, :]
        logp = self._moments(nodes)[0]
        vals = (
            logp
            - (nodes - mu[:, None]) ** 2 / (2 * tau2)
            + self.z[None, :] ** 2
            + self.logw[None, :]
        )
        return (
            _lse(vals, axis=1) + np.log(math.sqrt(2) * sigma) - 0.5 * math.log(2 * math.pi * tau2)
        )

    def profile(self, beta: np.ndarray, tau: float) -> float:
        return float(np.sum(self.study_ll(self.X @ beta, tau)))

    def information(self, beta: np.ndarray) -> np.ndarray:
        """Fisher information for beta at tau = 0: sum of x x' Var[X | theta_i]."""
        _, _, var = self._moments(self.X @ beta)
        return (self.X.T * var) @ self.X

    def per_study_mle(self):
        """Each table's conditional MLE log odds ratio and its variance (inf at the edge)."""
        theta = np.zeros(len(self.x))
        inner = ~self.at_edge
        for _ in range(200):
            _, mean, var = self._moments(theta)
            step = np.where(inner, (self.x - mean) / np.where(var > 0, var, 1.0), 0.0)
            step = np.clip(step, -2.0, 2.0)
            theta = theta + step
            if np.max(np.abs(step)) < 1e-13:
                break
        _, _, var = self._moments(theta)
        return theta, np.where(inner, 1 / np.where(var > 0, var, 1.0), np.inf)

    def saturated(self) -> float:
        theta, _ = self.per_study_mle()
        ll = self._moments(theta)[0]
        return float(np.sum(np.where(self.at_edge, 0.0, ll)))


# ---------------------------------------------------------------------------------------


def _design(mods: Any, k_all: int) -> tuple[np.ndarray, tuple[str, ...]]:
    if mods is None:
        return np.ones((k_all, 1)), ("intrcpt",)
    try:
        M = np.asarray(mods, dtype=float)
    except (TypeError, ValueError):
        raise EvidenceInputError("mods", mods, "numbers: one row per table") from None
    if M.ndim == 1:
        M = M[:, None]
    if M.ndim != 2 or M.shape[0] != k_all:
        raise EvidenceInputError("mods", f"shape {M.shape}", f"{k_all} rows (one per table)")
    names = ("intrcpt", *(f"mods{j + 1}" for j in range(M.shape[1])))
    if M.shape[1] == 1:
        names = ("intrcpt", "mods")
    return np.column_stack([np.ones(k_all), M]), names


def _wald_q(theta: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    ok = np.isfinite(v) & np.isfinite(theta)
    if ok.sum() == 0:
        return 0.0
    w = 1 / v[ok]
    Xo, y = X[ok], theta[ok]
    XtW = Xo.T * w
    b = np.linalg.lstsq(XtW @ Xo, XtW @ y, rcond=None)[0]
    r = y - Xo @ b
    return float(np.sum(w * r * r))


def rma_glmm(
    ai: Any,
    bi: Any,
    ci: Any,
    di: Any,
    *,
    measure: str = "OR",
    model: str = "UM.FS",
    method: str = "ML",
    mods: Any = None,
    nAGQ: int = 7,  # metafor's argument name
    level: float = 95,
) -> GlmmResult:
    """Fit a binomial-normal model to 2x2 tables (metafor's ``rma.glmm``).

    ``ai``/``bi``: events/non-events in the treatment arm, ``ci``/``di`` in the control arm
    (one per table; a missing count leaves the table out). ``mods``: None or one moderator
    value (or row of values) per table. ``model``: ``"UM.FS"`` or ``"CM.EL"``; ``method``:
    ``"ML"`` (random effects) or ``"EE"`` (tau^2 = 0). ``nAGQ``: quadrature nodes for UM.FS.
    Raises EvidenceInputError naming the argument; ConvergenceError if the likelihood cannot
    be maximised.
    """
    if not isinstance(measure, str) or measure.upper() != "OR":
        raise EvidenceInputError("measure", measure, "OR (the log odds ratio)")
    if model not in GLMM_MODELS:
        raise EvidenceInputError("model", model, f"one of {', '.join(GLMM_MODELS)}")
    if method not in GLMM_METHODS:
        raise EvidenceInputError("method", method, f"one of {', '.join(GLMM_METHODS)}")
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, int) or not 1 <= nAGQ <= 100:
        raise EvidenceInputError("nAGQ", nAGQ, "a whole number of quadrature nodes, 1 to 100")
    lv = normalise_level(level)
    k_all = len(np.atleast_1d(ai))
    X_all, names = _design(mods, k_all)
    a, b, c, d, omitted = _tables(ai, bi, ci, di)
    keep = np.ones(k_all, dtype=bool)
    keep[list(omitted)] = False
    X = X_all[keep]
    if not np.all(np.isfinite(X)):
        raise EvidenceInputError("mods", "a missing or infinite moderator", "finite numbers")
    for name, arr in (("ai", a), ("bi", b), ("ci", c), ("di", d)):
        if np.any(arr != np.round(arr)):
            raise EvidenceInputError(name, "a count that is not whole", "whole counts >= 0")
    no_info = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    positions = np.flatnonzero(keep)
    dropped = tuple(int(i) for i in positions[no_info])
    a, b, c, d, X = a[~no_info], b[~no_info], c[~no_info], d[~no_info], X[~no_info]
    k, p = len(a), X.shape[1]
    if k < p + (1 if method == "ML" else 0) or k == 0:
        raise EvidenceInputError(
            "ai", f"{k} informative tables", f"more tables than the {p} coefficient(s) to fit"
        )
    if np.linalg.matrix_rank(X) < p:
        raise EvidenceInputError("mods", "moderators that are collinear", "a full-rank design")

    # moderators that are not 0/1 dummies are standardised for the fit and the coefficients
    # transformed back (metafor's scaleX): the likelihood surface is then well conditioned
    T = np.eye(p)
    Xs = X.copy()
    for j in range(1, p):
        col = X[:, j]
        if np.all(np.isin(col, (0.0, 1.0))):
            continue
        m, sd = float(col.mean()), float(col.std(ddof=1))
        if sd > 0:
            Xs[:, j] = (col - m) / sd
            T[j, j] = 1 / sd
            T[0, j] = -m / sd
    if model == "UM.FS":
        lik: Any = _Unconditional(a, b, c, d, Xs, nAGQ)
    else:
        lik = _Conditional(a, b, c, d, Xs)

    def fe_obj(beta):
        return -lik.profile(np.asarray(beta, dtype=float), 0.0)

    beta_fe = _minimise(fe_obj, np.zeros(p), f"{model}/EE")
    ll_fe = -fe_obj(beta_fe)
    if method == "EE":
        beta, tau, loglik = beta_fe, 0.0, ll_fe
        V = np.linalg.inv(lik.information(beta_fe))
    else:

        def ml_obj(x):
            return -lik.profile(np.asarray(x[:p], dtype=float), float(abs(x[p])))

        x = _minimise(ml_obj, np.concatenate([beta_fe, [0.5]]), f"{model}/ML")
        beta, tau = x[:p], abs(float(x[p]))
        loglik = -ml_obj(x)
        if tau > 1e-4:
            V = _vcov(ml_obj, np.concatenate([beta, [tau]]), p, True)
        else:
            V = np.linalg.inv(lik.information(beta))
    beta, V = T @ beta, T @ V @ T.T
    if np.any(np.diag(V) <= 0) or not np.all(np.isfinite(V)):
        raise ConvergenceError(f"{model}/{method}", 0, "the Hessian is not positive definite")
    ll_sat = lik.saturated()
    if model == "UM.FS":
        zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
        with np.errstate(divide="ignore"):
            theta = np.log(a * d / (b * c))
            v = np.where(zero, np.inf, 1 / a + 1 / b + 1 / c + 1 / d)
        theta = np.where(zero, 0.0, theta)
    else:
        theta, v = lik.per_study_mle()
    return GlmmResult(
        model=model,
        method=method,
        measure="OR",
        coef_names=names,
        beta=tuple(float(x) for x in beta),
        se=tuple(float(math.sqrt(x)) for x in np.diag(V)),
        tau2=tau * tau,
        level=lv,
        k=k,
        loglik=float(loglik),
        qe_lrt=max(0.0, 2 * (ll_sat - ll_fe)),
        qe_wld=_wald_q(theta, v, X),
        qe_df=k - p,
        nagq=nAGQ if model == "UM.FS" else None,
        omitted=tuple(omitted),
        dropped=dropped,
    )
