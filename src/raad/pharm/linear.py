"""Linear compartment systems dx/dt = K x + u(t) over many virtual patients at once.

Inputs are piecewise constant (zero-order infusions) plus instantaneous boluses, so between two
input changes the exact solution in modal coordinates z = V^-1 x (K = V diag(lambda) V^-1) is

    z(t) = exp(lambda (t - b)) z(b) + (exp(lambda (t - b)) - 1) / lambda * V^-1 u

(the variation-of-constants formula; Gibaldi & Perrier, Pharmacokinetics, 2nd ed., ch. 3 and
appendix B). One batched eigendecomposition serves every time point; ``solve_ode`` integrates
the same system with scipy's ``solve_ivp`` as the cross-check.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Infusion:
    """A zero-order input of ``rate`` (amount per time unit; one value or one per patient)
    into ``state`` from ``start`` to ``end``."""

    start: float
    end: float
    state: int
    rate: float | np.ndarray


@dataclass(frozen=True)
class Bolus:
    time: float
    state: int
    amount: float | np.ndarray


def _breakpoints(inputs: Sequence[Infusion | Bolus], t_max: float) -> np.ndarray:
    pts = {0.0}
    for i in inputs:
        pts.update([i.start, i.end] if isinstance(i, Infusion) else [i.time])
    return np.array(sorted(p for p in pts if 0.0 <= p <= t_max))


def _phi(lam: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """(exp(lam dt) - 1) / lam, equal to dt where lam is zero."""
    x = lam * dt
    small = np.abs(x) < 1e-12
    safe = np.where(small, 1.0, lam)
    return np.where(small, dt, np.expm1(x) / safe)


def solve(
    K: np.ndarray,
    times: np.ndarray,
    inputs: Sequence[Infusion | Bolus],
    observe: Sequence[int] | None = None,
    *,
    by_state: bool = False,
) -> np.ndarray:
    """Amounts (patients, times, observed states) for rate matrices ``K`` (patients, n, n);
    with ``by_state``, (observed states, patients, times), each state's block contiguous.

    A bolus at a sampling time is seen by that sample. The state starts at zero at t = 0.
    """
    K = np.asarray(K, dtype=float)
    t = np.asarray(times, dtype=float)
    n_pat, n = K.shape[0], K.shape[-1]
    obs = np.arange(n) if observe is None else np.asarray(observe)
    lam, V = np.linalg.eig(K)
    if np.iscomplexobj(lam) and np.max(np.abs(lam.imag)) < 1e-12 * np.max(np.abs(lam.real)):
        lam, V = lam.real, V.real
    Vinv = np.linalg.inv(V)
    Vobs = V[:, obs, :]  # (N, m, n)
    eye = np.eye(n)
    z = np.zeros((n_pat, n), dtype=lam.dtype)
    out = np.zeros((obs.size, n_pat, t.size))
    bps = _breakpoints(inputs, float(t.max()) if t.size else 0.0)
    edges = np.append(bps, np.inf)
    for b, nxt in itertools.pairwise(edges):
        for i in inputs:
            if isinstance(i, Bolus) and i.time == b:
                z = z + Vinv[:, :, i.state] * np.broadcast_to(i.amount, (n_pat,))[:, None]
        u = np.zeros((n_pat, n))
        for i in inputs:
            if isinstance(i, Infusion) and i.start <= b < i.end:
                u = u + eye[i.state] * np.broadcast_to(i.rate, (n_pat,))[:, None]
        w = np.einsum("pij,pj->pi", Vinv, u)
        sel = np.flatnonzero((t >= b) & (t < nxt))
        if sel.size:
            # z(t) = z + expm1(lam dt) (z + w / lam): one transcendental per element
            nonzero = np.all(np.abs(lam) > 1e-300)
            target = z + w / lam if nonzero else None
            rows = max(1, int(200_000 // max(1, sel.size * n)))  # cache-sized chunks
            contiguous = sel[-1] - sel[0] + 1 == sel.size
            cols = slice(sel[0], sel[-1] + 1) if contiguous else sel
            dt = (t[sel] - b)[None, :, None]
            # preallocated chunk buffers: fresh large temporaries cost page faults
            buf = np.empty((rows, sel.size, n), dtype=lam.dtype)
            res = np.empty((rows, sel.size, obs.size), dtype=lam.dtype)
            if nonzero:  # x_obs(t) = V_obs z + sum_j V_obs[:, j] target_j expm1(lam_j dt)
                base = np.einsum("pmj,pj->pm", Vobs, z)
                coef_t = np.swapaxes(Vobs * target[:, None, :], 1, 2).copy()  # (N, n, m)
            for lo in range(0, n_pat, rows):
                sl = slice(lo, min(lo + rows, n_pat))
                k = sl.stop - lo
                e, r = buf[:k], res[:k]
                np.multiply(lam[sl, None, :], dt, out=e)
                if nonzero:
                    np.expm1(e, out=e)
                    np.matmul(e, coef_t[sl], out=r)
                    r += base[sl, None, :]
                else:
                    zt = np.exp(e) * z[sl, None, :] + _phi(lam[sl, None, :], dt) * w[sl, None, :]
                    np.matmul(zt, np.swapaxes(Vobs[sl], 1, 2), out=r)
                out[:, sl, cols] = np.moveaxis(r.real, -1, 0)
        if np.isfinite(nxt):
            step = nxt - b
            z = np.exp(lam * step) * z + _phi(lam, np.full_like(lam.real, step)) * w
    return out if by_state else np.moveaxis(out, 0, -1)


def solve_ode(
    K: np.ndarray,
    times: np.ndarray,
    inputs: Sequence[Infusion | Bolus],
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> np.ndarray:
    """One patient's amounts (times, n) by ``scipy.integrate.solve_ivp`` (LSODA), segment by
    segment between input changes — the straightforward reference."""
    from scipy.integrate import solve_ivp

    K = np.asarray(K, dtype=float)
    n = K.shape[0]
    t = np.asarray(times, dtype=float)
    out = np.zeros((t.size, n))
    x = np.zeros(n)
    edges = np.append(_breakpoints(inputs, float(t.max())), np.inf)
    for b, nxt in itertools.pairwise(edges):
        for i in inputs:
            if isinstance(i, Bolus) and i.time == b:
                x = x.copy()
                x[i.state] += float(i.amount)
        u = np.zeros(n)
        for i in inputs:
            if isinstance(i, Infusion) and i.start <= b < i.end:
                u[i.state] += float(i.rate)
        sel = (t >= b) & (t < nxt)
        end = float(min(nxt, t.max())) if np.isfinite(nxt) else float(t.max())
        if end <= b:
            out[sel] = x
            continue
        sol = solve_ivp(
            lambda _, y, u=u: K @ y + u,
            (b, end),
            x,
            method="LSODA",
            rtol=rtol,
            atol=atol,
            dense_output=True,
        )
        if sel.any():
            out[sel] = sol.sol(t[sel]).T
        x = sol.sol(end)
    return out
