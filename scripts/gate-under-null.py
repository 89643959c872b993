#!/usr/bin/env python3
"""How often the reference gate deploys a training that has no edge (docs/learner.md, "Two
standard errors").

The gate tests the best of a training's validations against the reference on the same validation
period, by the Ledoit-Wolf test of `metrics::sharpe_difference` (Bartlett kernel, lag 4 (T/100)^(2/9),
the factor T/(T-4)),
and deploys the network when the gap passes `margin` standard errors (and 0.005). Chosen and judged
on the same period, the best of K checkpoints passes far more often than a single one. Here every
checkpoint has exactly the reference's expected return and risk: each is the reference's return
plus noise, correlated `rho` with it, with a share `shared` of that noise common to all K (a
training's checkpoints resemble each other). Pure Python, no packages.

    scripts/gate-under-null.py [--periods 252] [--checkpoints 20] [--rho 0.9] [--shared 0.5]
                               [--margin 2] [--runs 400] [--seed 1]
"""
import argparse
import math
import random


def sharpe(x):
    n = len(x)
    m = sum(x) / n
    return m / math.sqrt(sum((v - m) ** 2 for v in x) / (n - 1))


def gap_and_standard_error(a, b):
    """folio's sharpe_difference per period: the delta method on both series' first two moments."""
    n = len(a)
    mu_a, mu_b = sum(a) / n, sum(b) / n
    g_a, g_b = sum(x * x for x in a) / n, sum(y * y for y in b) / n
    v_a, v_b = g_a - mu_a**2, g_b - mu_b**2
    gap = mu_a / math.sqrt(v_a) - mu_b / math.sqrt(v_b)
    grad = (g_a / v_a**1.5, -g_b / v_b**1.5, -mu_a / (2 * v_a**1.5), mu_b / (2 * v_b**1.5))
    psi = [grad[0] * (x - mu_a) + grad[1] * (y - mu_b) + grad[2] * (x * x - g_a) + grad[3] * (y * y - g_b)
           for x, y in zip(a, b)]
    lags = min(int(4 * (n / 100) ** (2 / 9)), n - 1)
    cov = lambda j: sum(psi[t] * psi[t - j] for t in range(j, n)) / n
    long_run = cov(0) + 2 * sum((1 - j / (lags + 1)) * cov(j) for j in range(1, lags + 1))
    # The small-sample factor n / (n - 4) of Ledoit and Wolf's own code, as folio applies it.
    return gap, math.sqrt(max(long_run, 0.0) * n / (n - 4) / n)


def passes(candidate, reference, margin):
    gap, se = gap_and_standard_error(candidate, reference)
    # Per period: 0.005 a year is 0.005 / sqrt(252) a period.
    return abs(gap) >= 0.005 / math.sqrt(252) and gap > margin * se


def bounded(kind, least, most):
    """An argparse type: `kind` between `least` and `most` (None: unbounded), named on refusal."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}")
        if (least is not None and value < least) or (most is not None and value > most):
            span = f"at least {least}" if most is None else f"from {least} to {most}"
            raise argparse.ArgumentTypeError(f"{value} is out of range: it must be {span}")
        return value

    return parse


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The test needs more than four periods (its factor T/(T-4)), a correlation lies in
    # (-1, 1), and the shared part of the noise is a fraction.
    parser.add_argument("--periods", type=bounded(int, 5, None), default=252)
    parser.add_argument("--checkpoints", type=bounded(int, 1, None), default=20)
    parser.add_argument("--rho", type=bounded(float, -0.999999, 0.999999), default=0.9)
    parser.add_argument("--shared", type=bounded(float, 0.0, 1.0), default=0.5)
    parser.add_argument("--margin", type=float, default=2.0)
    parser.add_argument("--runs", type=bounded(int, 1, None), default=400)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    mean, risk, q = 0.0004, 0.01, math.sqrt(1 - args.rho**2)
    best_passed = single_passed = 0
    for _ in range(args.runs):
        market = [rng.gauss(0, 1) for _ in range(args.periods)]
        common = [rng.gauss(0, 1) for _ in range(args.periods)]
        reference = [mean + risk * z for z in market]
        checkpoints = []
        for _ in range(args.checkpoints):
            checkpoints.append([
                mean + risk * (args.rho * z + q * (math.sqrt(args.shared) * c
                                                   + math.sqrt(1 - args.shared) * rng.gauss(0, 1)))
                for z, c in zip(market, common)
            ])
        best = max(checkpoints, key=sharpe)
        best_passed += passes(best, reference, args.margin)
        single_passed += passes(checkpoints[0], reference, args.margin)
    print(f"{args.runs} trainings without an edge, {args.periods} validation periods, margin {args.margin}:")
    print(f"  the best of {args.checkpoints} checkpoints passes the gate in {best_passed / args.runs:.1%}")
    print(f"  a single checkpoint, chosen beforehand, in {single_passed / args.runs:.1%}")


if __name__ == "__main__":
    main()
