#!/usr/bin/env python3
"""How often a walk-forward's agent trails equal weight over shorter spans than the whole test.

A stitched out-of-sample gap can hide long stretches on the wrong side of equal weight. This
reads a walk-forward's equity.csv, cuts it into windows of K consecutive folds (sliding by one
fold), and prints the Sharpe ratio of the ensemble agent minus equal weight's in each, with how
many windows fall below -0.05, the issue-16 tolerance.

    scripts/window-gaps.py RUN/equity.csv FOLD_PERIODS [K] [PERIODS_PER_YEAR]

FOLD_PERIODS is the walk-forward's test_periods; K defaults to 5, PERIODS_PER_YEAR to 252.
Pure Python, no packages.
"""
import csv
import math
import statistics
import sys


def sharpe(returns, periods_per_year):
    return statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(periods_per_year)


def whole(text, name, least):
    """A whole number of at least `least`, or an exit that names the argument."""
    try:
        value = int(text)
    except ValueError:
        sys.exit(f"{name} must be a whole number, got {text!r}")
    if value < least:
        sys.exit(f"{name} must be at least {least}, got {value}")
    return value


def positive(text, name):
    try:
        value = float(text)
    except ValueError:
        sys.exit(f"{name} must be a number, got {text!r}")
    if not value > 0:
        sys.exit(f"{name} must be positive, got {text}")
    return value


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    path = sys.argv[1]
    fold = whole(sys.argv[2], "FOLD_PERIODS", least=2)
    k = whole(sys.argv[3], "K", least=1) if len(sys.argv) > 3 else 5
    per_year = positive(sys.argv[4], "PERIODS_PER_YEAR") if len(sys.argv) > 4 else 252.0
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        sys.exit(f"cannot read {path}: {e.strerror}")
    header, rows = (rows[0], rows[1:]) if rows else ([], [])
    missing = [c for c in ("agent (ensemble)", "equal weight") if c not in header]
    if missing:
        sys.exit(f"{path} has no column {', '.join(repr(c) for c in missing)}: give the equity.csv of a walk-forward")
    agent, equal = header.index("agent (ensemble)"), header.index("equal weight")
    dates = [r[0] for r in rows[1:]]
    growth = lambda col: [float(b[col]) / float(a[col]) - 1.0 for a, b in zip(rows, rows[1:])]
    ra, re = growth(agent), growth(equal)
    folds = len(ra) // fold
    # A fold length that does not divide the stitched test would cut windows across folds
    # without a word; the walk-forward's test_periods always divides it.
    if folds == 0 or len(ra) != folds * fold:
        sys.exit(f"{path}: {len(ra)} stitched test periods are not whole folds of {fold}: "
                 f"pass the walk-forward's test_periods (report.json's config)")
    gaps = []
    for first in range(folds - k + 1):
        span = slice(first * fold, (first + k) * fold)
        gaps.append((dates[span.start], sharpe(ra[span], per_year) - sharpe(re[span], per_year)))
    if not gaps:
        sys.exit(f"{path}: {folds} folds of {fold} periods, fewer than a window of {k}")
    for start, gap in gaps:
        print(f"{start}  {gap:+.3f}")
    values = [g for _, g in gaps]
    below = sum(g < -0.05 for g in values)
    print(
        f"{len(values)} windows of {k} folds: mean {statistics.mean(values):+.3f}, "
        f"min {min(values):+.3f}, max {max(values):+.3f}, below -0.05 in {below}"
    )


if __name__ == "__main__":
    main()
