"""Ranking a campaign's variants on a rate, with how sure the ranking is.

Each variant's rate (completions per view, clicks per impression, likes per view) gets a
Beta-Binomial posterior from a uniform Beta(1, 1) prior: Beta(1 + successes, 1 + failures).
Draws from every posterior (numpy, a fixed seed: the same figures always give the same report)
give each variant's probability of being the best, P(best), and a 95 % credible interval.

The verdict names the leader and how sure that is; it says the data is too thin to tell when a
variant has fewer than ``min_trials`` views (or impressions), and that there is no clear winner
yet when the leader's P(best) is under ``sure``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from common.errors import ConfigError

# metric -> (successes, trials, what it is called)
METRICS = {"completion": ("completions", "views", "completion rate"),
           "ctr": ("clicks", "impressions", "click-through rate"),
           "likes": ("likes", "views", "like rate")}
MIN_TRIALS = 100
SURE = 0.95
DRAWS = 20_000
SEED = 19


@dataclass(frozen=True)
class Score:
    variant: str
    successes: int
    trials: int
    rate: float          # observed successes / trials (0 without trials)
    mean: float          # posterior mean
    low: float           # 95 % credible interval
    high: float
    p_best: float


@dataclass(frozen=True)
class Ranking:
    campaign: str
    metric: str
    scores: list[Score]               # best first (by P(best), then posterior mean)
    verdict: str
    leader: str | None = None         # None when the data cannot name one
    sure: bool = False
    thin: bool = False
    warnings: list[str] = field(default_factory=list)

    def rows(self) -> list[dict]:
        """The table: one row per variant (the CLI table and the Prefect artifact)."""
        trials = METRICS[self.metric][1]
        return [{"rank": i + 1, "variant": s.variant, METRICS[self.metric][0]: s.successes,
                 trials: s.trials, "rate": round(s.rate, 4),
                 "95% interval": f"{s.low:.3f}-{s.high:.3f}", "P(best)": round(s.p_best, 3)}
                for i, s in enumerate(self.scores)]

    def markdown(self) -> str:
        rows = self.rows()
        if not rows:
            return f"# {self.campaign}: variants by {METRICS[self.metric][2]}\n\n{self.verdict}\n"
        head = list(rows[0])
        lines = [f"# {self.campaign}: variants by {METRICS[self.metric][2]}", "",
                 f"**{self.verdict}**", "", "| " + " | ".join(head) + " |",
                 "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(str(r[k]) for k in head) + " |" for r in rows]
        lines += [""] + [f"- {w}" for w in self.warnings]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return asdict(self)


def rank_variants(totals: Mapping[str, Mapping[str, int]], *, campaign: str,
                  metric: str = "completion", min_trials: int = MIN_TRIALS, sure: float = SURE,
                  draws: int = DRAWS, seed: int = SEED) -> Ranking:
    """Rank variants (variant id -> counts, storage.figures.variant_totals) on ``metric``."""
    if metric not in METRICS:
        raise ConfigError(f"metric {metric!r}: choose one of {', '.join(METRICS)}")
    success_name, trial_name, what = METRICS[metric]
    names = sorted(totals)
    if not names:
        return Ranking(campaign, metric, [], f"no figures for campaign {campaign!r} yet: import "
                       "them with `content-factory metrics import FILE`")
    successes = np.array([int(totals[n].get(success_name, 0)) for n in names])
    trials = np.array([int(totals[n].get(trial_name, 0)) for n in names])
    successes = np.minimum(successes, trials)  # a rate above 1 is not a rate
    rng = np.random.default_rng(seed)
    samples = rng.beta(1 + successes[:, None], 1 + (trials - successes)[:, None],
                       size=(len(names), draws))
    best = np.bincount(samples.argmax(axis=0), minlength=len(names)) / draws
    low, high = np.quantile(samples, [0.025, 0.975], axis=1)
    scores = [Score(n, int(successes[i]), int(trials[i]),
                    float(successes[i] / trials[i]) if trials[i] else 0.0,
                    float((1 + successes[i]) / (2 + trials[i])), float(low[i]), float(high[i]),
                    float(best[i])) for i, n in enumerate(names)]
    scores.sort(key=lambda s: (-s.p_best, -s.mean, s.variant))
    top = scores[0]
    short = [s for s in scores if s.trials < min_trials]
    warnings = [f"{s.variant} has {s.trials} {trial_name} (fewer than {min_trials})"
                for s in short]
    if len(scores) < 2:
        return Ranking(campaign, metric, scores, f"only {top.variant} has figures: nothing to "
                       "compare it with yet", thin=True, warnings=warnings)
    if short:
        verdict = (f"too thin to tell: {len(short)} variant(s) have fewer than {min_trials} "
                   f"{trial_name}; {top.variant} leads on {what} for now (P(best) "
                   f"{top.p_best:.0%}), keep collecting")
        return Ranking(campaign, metric, scores, verdict, thin=True, warnings=warnings)
    if top.p_best < sure:
        verdict = (f"no clear winner yet: {top.variant} leads on {what} with P(best) "
                   f"{top.p_best:.0%} (under {sure:.0%}); keep collecting")
        return Ranking(campaign, metric, scores, verdict, warnings=warnings)
    verdict = (f"{top.variant} is ahead on {what}: {top.rate:.1%} (95% interval "
               f"{top.low:.1%}-{top.high:.1%}), P(best) {top.p_best:.1%}")
    return Ranking(campaign, metric, scores, verdict, leader=top.variant, sure=True,
                   warnings=warnings)
