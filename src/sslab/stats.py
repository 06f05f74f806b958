"""Seed statistics and pre-registered decision rules for claims.

Every stochastic claim is decided from a set of independent seeds. The summary of a metric is
its mean with a two-sided 95 % Student-t confidence interval over seeds; a comparison "A beats B"
is decided on the *paired* differences (same seed, same data order, same split), whose CI removes
the between-seed variance both arms share.

Decision rule (``decide``), fixed before any run: with the CI [lo, hi] of the tested statistic
and a pre-registered margin m,

* ``held``          if lo > m        (the whole interval clears the margin),
* ``not held``      if hi < m        (the whole interval falls short of it),
* ``inconclusive``  otherwise        (the seeds cannot tell; more seeds or a longer budget may).

With one seed there is no interval, so a stochastic claim is ``inconclusive`` by construction;
its number is shown as "(1 seed)", never as "± 0".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scipy import stats as _st

Verdict = Literal["held", "not held", "inconclusive"]
VERDICTS: tuple[Verdict, ...] = ("held", "not held", "inconclusive")


@dataclass(frozen=True)
class Summary:
    """Mean of per-seed values with a 95 % CI (NaN bounds when fewer than two finite values)."""

    mean: float
    lo: float
    hi: float
    per_seed: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.per_seed)

    def record(self) -> dict[str, object]:
        """The ``numbers.arms.<arm>.<metric>`` record: mean, ci95, per_seed, n_seeds (JSON-safe)."""
        return {
            "mean": _json_float(self.mean),
            "ci95": [_json_float(self.lo), _json_float(self.hi)],
            "per_seed": [_json_float(v) for v in self.per_seed],
            "n_seeds": self.n,
        }

    def text(self, scale: float = 1.0, digits: int = 1, unit: str = "") -> str:
        """"82.3 ± 1.4 (95% CI, 3 seeds)", "82.3 (1 seed)", or "91.4 (same for all 3 seeds)" when
        every seed gave the same value (a deterministic arm) — never "± 0.0"."""
        m = _num(self.mean * scale, digits)
        if self.n < 2 or not math.isfinite(self.lo):
            return f"{m}{unit} (1 seed)" if self.n == 1 else f"{m}{unit} (no finite value)"
        if self.hi == self.lo:
            return f"{m}{unit} (same for all {self.n} seeds)"
        half = (self.hi - self.lo) / 2 * scale
        return f"{m} ± {_num(half, digits)}{unit} (95% CI, {self.n} seeds)"


def _json_float(v: float) -> float | None:
    return None if not math.isfinite(v) else float(v)


def _num(v: float, digits: int) -> str:
    return f"{v:.{digits}f}" if math.isfinite(v) else "nan"


def t_quantile(n: int, level: float = 0.95) -> float:
    """Two-sided Student-t critical value with n − 1 degrees of freedom."""
    return float(_st.t.ppf(0.5 + level / 2, n - 1))


def summarize(values: Sequence[float], level: float = 0.95) -> Summary:
    """Mean ± t-interval over seeds: mean ± t_{n−1} · s / √n (s: sample standard deviation).

    Non-finite values (a diverged seed) make the mean and the interval NaN: a failed seed is never
    silently dropped."""
    vals = tuple(float(v) for v in values)
    if not vals:
        raise ValueError("summarize needs at least one value")
    if not all(math.isfinite(v) for v in vals):
        return Summary(math.nan, math.nan, math.nan, vals)
    mean = statistics.fmean(vals)
    if len(vals) < 2:
        return Summary(mean, math.nan, math.nan, vals)
    half = t_quantile(len(vals), level) * statistics.stdev(vals) / math.sqrt(len(vals))
    return Summary(mean, mean - half, mean + half, vals)


def paired(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Summary:
    """Summary of the paired differences a_s − b_s over seeds s (same seed for both arms)."""
    if len(a) != len(b):
        raise ValueError(f"paired comparison needs one value per seed in each arm, got {len(a)} and {len(b)}")
    return summarize([x - y for x, y in zip(a, b, strict=True)], level)


def decide(ci: Summary, margin: float = 0.0) -> Verdict:
    """The pre-registered three-valued rule of the module docstring."""
    if not (math.isfinite(ci.lo) and math.isfinite(ci.hi)):
        return "inconclusive"
    if ci.lo > margin:
        return "held"
    if ci.hi < margin:
        return "not held"
    return "inconclusive"


def gate(verdict: Verdict, learned: bool) -> Verdict:
    """A deep claim is only decided when the trained encoders beat the random-init encoder
    (paired CI above 0); otherwise the runs did not learn and the claim is inconclusive."""
    return verdict if learned else "inconclusive"


def spearman_ci(x: Sequence[float], ys: Sequence[Sequence[float]], level: float = 0.95) -> Summary:
    """Trend test over all points: Spearman's ρ between x and each seed's curve y_s, summarised
    over seeds with a t-interval. A single curve gives a single ρ (1 seed)."""
    rhos = []
    for y in ys:
        rho = _st.spearmanr(x, y).statistic
        rhos.append(float(rho) if math.isfinite(rho) else 0.0)
    return summarize(rhos, level)
