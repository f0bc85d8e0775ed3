"""The evaluation's statistics against SciPy and against cases whose answer is known."""

from __future__ import annotations

import random

import pytest
from scipy import stats as scipy_stats

from core.evaluation.stats import bootstrap_gain_ci, relative_gain, wilcoxon_signed_rank


@pytest.mark.parametrize("seed", range(6))
def test_wilcoxon_matches_scipy_exact(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(5, 18)
    diffs = [round(rng.gauss(0.3 if seed % 2 else 0.0, 1.0), 6) for _ in range(n)]
    w_plus, p = wilcoxon_signed_rank(diffs)  # type: ignore[misc]
    ref = scipy_stats.wilcoxon(diffs, alternative="two-sided", method="exact")
    # SciPy's statistic for two-sided is min(W+, W-).
    total = n * (n + 1) / 2
    assert min(w_plus, total - w_plus) == pytest.approx(ref.statistic)
    assert p == pytest.approx(ref.pvalue, rel=1e-9)


def test_wilcoxon_with_ties_and_zeros() -> None:
    # All differences positive: the smallest two-sided p for 6 non-zero pairs is 2/2^6.
    w_plus, p = wilcoxon_signed_rank([0.0, 1, 1, 2, 2, 3, 3])  # type: ignore[misc]
    assert w_plus == 21
    assert p == pytest.approx(2 / 64)
    assert wilcoxon_signed_rank([0.0, 0.0]) is None


def _users(gain: float, n: int = 12, seed: int = 0) -> list[dict[str, list[float]]]:
    rng = random.Random(seed)
    users = []
    for _ in range(n):
        base = [rng.uniform(0.1, 0.4) for _ in range(2)]
        users.append({"none": base, "better": [b * (1 + gain) for b in base], "same": base})
    return users


def test_bootstrap_interval_brackets_the_gain() -> None:
    users = _users(0.2)
    lo, hi = bootstrap_gain_ci(users, "better")  # type: ignore[misc]
    # Every user gains exactly 20 %, so every resample does too.
    assert lo == pytest.approx(20.0) and hi == pytest.approx(20.0)
    assert bootstrap_gain_ci(users, "same") == pytest.approx((0.0, 0.0))


def test_bootstrap_interval_widens_with_noise_and_is_seeded() -> None:
    rng = random.Random(1)
    users = [
        {"none": [0.2, 0.3], "noisy": [0.2 * rng.uniform(0.5, 1.7), 0.3 * rng.uniform(0.5, 1.7)]}
        for _ in range(10)
    ]
    lo, hi = bootstrap_gain_ci(users, "noisy")  # type: ignore[misc]
    total_none = sum(sum(u["none"]) for u in users)
    total_noisy = sum(sum(u["noisy"]) for u in users)
    point = relative_gain(total_noisy, total_none)
    assert point is not None and lo < point < hi
    assert hi - lo > 5.0
    assert bootstrap_gain_ci(users, "noisy") == (lo, hi)
    assert bootstrap_gain_ci(users[:1], "noisy") is None


def _run(users: dict[str, dict[str, float]], queries: int = 2) -> dict[str, object]:
    return {
        "metric": "rouge-L",
        "higher_is_better": True,
        "user_seconds_total": 10.0,
        "users": [{"user": u, "queries": queries, **scores} for u, scores in users.items()],
    }


def test_fraction_curve_pairs_the_same_users() -> None:
    from core.evaluation.fractions import fraction_curve

    names = [f"u{i}" for i in range(8)]
    full = _run({u: {"none": 0.2, "peft": 0.3, "train_items": 40} for u in names})
    quarter = _run({u: {"peft": 0.22, "train_items": 10} for u in names[:6]})  # two unfinished
    curve = fraction_curve({1.0: full, 0.25: quarter}, ["peft"])
    assert curve["users"] == 6 and curve["queries"] == 12
    by_fraction = {p["fraction"]: p for p in curve["points"]}
    assert by_fraction[1.0]["relative_gain_percent"] == pytest.approx(50.0)
    assert by_fraction[0.25]["relative_gain_percent"] == pytest.approx(10.0)
    assert by_fraction[0.25]["mean_train_items"] == 10
    test = curve["paired_test"]["peft"]
    assert test["users_better"] == 6 and test["users_worse"] == 0
    assert test["p_two_sided"] == pytest.approx(2 / 64)


def test_fractions_refuse_a_step_budget() -> None:
    from core.errors import InkwellError
    from core.evaluation.fractions import fraction_config, parse_fractions
    from core.evaluation.runner import EvalConfig

    assert parse_fractions("1.0,0.25,0.5") == (0.25, 0.5, 1.0)
    for bad in ("0.5", "0,1", "1.5,1", "a,b"):
        with pytest.raises(InkwellError, match="fractions"):
            parse_fractions(bad)
    with pytest.raises(InkwellError, match="--epochs"):
        fraction_config(EvalConfig(train_max_steps=12))
    config = fraction_config(EvalConfig(methods=("peft",)))
    assert config.methods == ("none", "peft") and config.train_epochs == 1.0


def test_newest_fraction_of_a_profile() -> None:
    from core.evaluation.runner import newest

    items = list(range(10))
    assert list(newest(items, 1.0)) == items
    assert list(newest(items, 0.25)) == [7, 8, 9]
    assert list(newest(items, 0.01)) == [9]  # 2.5 items rounded up
