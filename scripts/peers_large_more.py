"""The large-universe peers that ../shared/bench/peers/large_universe.py leaves out: every other
folio baseline that skfolio or universal-portfolios also implements, timed on the same file.

Reads the market that large_universe.py writes (run it first; /tmp/folio-large-universe.csv by
default) and times, as large_universe.py does:
  - skfolio, one fit = one rebalance (median of --fits fits on consecutive windows): maximum
    Sharpe (MeanRisk MAXIMIZE_RATIO, Ledoit-Wolf, 252 days), inverse volatility (60 days, folio's
    window), equal weight;
  - universal-portfolios over the first 500 days (time per period): EG, PAMR, CRP (uniform, folio's
    equal weight), BAH (uniform buy and hold) and BCRP.
Rows print in the peers' format, so scripts/bench-vs-peers.sh joins them with folio's.
Usage: python scripts/peers_large_more.py [--csv PATH] [--fits 10]   (the peers' venv)"""
import argparse, os, time, warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
ap = argparse.ArgumentParser()
ap.add_argument("--csv", default=os.environ.get("FOLIO_LARGE_CSV", "/tmp/folio-large-universe.csv"))
ap.add_argument("--fits", type=int, default=10)
a = ap.parse_args()


def report(name, value, unit, spread=None):
    extra = f"  (min {spread[0]:.4g}, max {spread[1]:.4g})" if spread else ""
    print(f"{name:<48} {value:>14.4g} {unit}{extra}", flush=True)


df = pd.read_csv(a.csv, parse_dates=["date"]).set_index("date")
n = df.shape[1]
rets = df.pct_change().dropna()

from skfolio.moments import LedoitWolf
from skfolio.optimization import EqualWeighted, InverseVolatility, MeanRisk, ObjectiveFunction
from skfolio.prior import EmpiricalPrior


def per_fit(name, make, window):
    secs = []
    for k in range(a.fits):
        w = rets.iloc[k: k + window]
        s = time.perf_counter()
        make().fit(w)
        secs.append(time.perf_counter() - s)
    report(f"{name}, {n} assets: ms per rebalance", 1000 * float(np.median(secs)), "ms",
           (1000 * min(secs), 1000 * max(secs)))


per_fit("skfolio max Sharpe (LW)",
        lambda: MeanRisk(objective_function=ObjectiveFunction.MAXIMIZE_RATIO,
                         prior_estimator=EmpiricalPrior(covariance_estimator=LedoitWolf())), 252)
per_fit("skfolio inverse volatility (60 days)", InverseVolatility, 60)
per_fit("skfolio equal weight", EqualWeighted, 252)

from universal import algos

rel_days = min(len(df), 500)
sub = df.iloc[:rel_days] / df.iloc[0]
for name, algo in (("EG", algos.EG()), ("PAMR", algos.PAMR()), ("CRP", algos.CRP()),
                   ("BAH", algos.BAH()), ("BCRP", algos.BCRP())):
    s = time.perf_counter()
    algo.run(sub)
    el = time.perf_counter() - s
    report(f"universal-portfolios {name}, {n} assets: ms per period", 1000 * el / rel_days, "ms")
