#!/usr/bin/env python3
"""What causal policies that know the planted model earn on a planted-signal market.

`folio data synth --autocorrelation PHI` writes daily log returns r_t = PHI r_{t-1} + e_t with
independent assets. A policy that knows PHI predicts each asset's next log return as PHI times
its last one; no causal policy can predict better. This script runs a grid of such policies (all
in the best predicted asset; weights in proportion to the positive predictions; long-only
mean-variance from mild to extreme risk aversion, the rest in cash) over the file's last TEST
rows, paying COST per side on the weights traded as folio's proportional cost model does, and
prints each one's annualized Sharpe ratio beside equal weight's. The oracle probe (`folio probe`)
sees tomorrow's returns themselves; these policies see only what a causal learner could.

The best of them is a reference, not a proof: no policy here weighs its trading costs when it
chooses, so one that does (or a shape no grid holds) could earn more. Read "the best policy that
knows the model" as a floor under what is reachable. The last lines hold the same knowledge to
the anchored network's own form (weights at most exp(+-tilt) from equal weight's, `--tilt`) over
a grid of scales: what an agent with that tilt bound reaches at best among them.

    python3 scripts/planted-causal-bound.py planted.csv --phi 0.3 --cost 0.0005 --test 1000

Standard library only, so it runs on a fresh machine.
"""
import argparse
import csv
import math
import statistics


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv")
    parser.add_argument("--phi", type=float, required=True, help="the planted autocorrelation")
    parser.add_argument("--cost", type=float, default=0.0005, help="cost per side (0.0005 = 5 bp)")
    parser.add_argument("--test", type=int, default=1000, help="decisions at the end of the file")
    parser.add_argument("--periods-per-year", type=float, default=252.0)
    parser.add_argument("--tilt", type=float, default=1.0, help="the anchored network's tilt bound ([train.net] tilt)")
    args = parser.parse_args()

    with open(args.csv) as f:
        rows = list(csv.reader(f))[1:]
    prices = [[float(x) for x in row[1:]] for row in rows]
    n, assets = len(prices), len(prices[0])
    relatives = [[prices[t + 1][i] / prices[t][i] for i in range(assets)] for t in range(n - 1)]
    logs = [[math.log(x) for x in row] for row in relatives]
    variance = statistics.fmean(r * r for row in logs[: n - 1 - args.test] for r in row)

    def equal(_):
        return [0.0] + [1.0 / assets] * assets

    def best(mu):
        i = max(range(assets), key=lambda k: mu[k])
        w = [0.0] * (assets + 1)
        w[0 if mu[i] <= 0 else 1 + i] = 1.0
        return w

    def proportional(mu):
        positive = [max(m, 0.0) for m in mu]
        total = sum(positive)
        return [1.0] + [0.0] * assets if total == 0 else [0.0] + [p / total for p in positive]

    def mean_variance(aversion):
        def weights(mu):
            # Long-only, independent assets: w_i = max(mu_i + var/2, 0) / (aversion var), capped at
            # a fully invested portfolio; the simple-return mean of a log-normal is mu + var/2.
            x = [max(m + variance / 2, 0.0) / (aversion * variance) for m in mu]
            total = sum(x)
            if total > 1:
                x = [v / total for v in x]
            return [1.0 - sum(x)] + x

        return weights

    def tilted(scale):
        # The anchored network's own family: softmax(ln(1/N) + tilt * tanh(s)), fully invested,
        # with s the prediction in units of its spread across assets times `scale` (a large scale
        # saturates every asset at exp(+-tilt)). No weight can move further from equal weight,
        # whatever the network knows.
        def weights(mu):
            spread = statistics.pstdev(mu) or 1.0
            mean = statistics.fmean(mu)
            logits = [args.tilt * math.tanh(scale * (m - mean) / spread) for m in mu]
            top = max(logits)
            x = [math.exp(v - top) for v in logits]
            total = sum(x)
            return [0.0] + [v / total for v in x]

        return weights

    policies = [("equal weight", equal), ("all in the best prediction", best), ("proportional", proportional)]
    # Past a risk aversion of a few hundred, every weight is tiny: the Sharpe ratio of the
    # mean-variance direction itself, which a high aversion approaches.
    policies += [(f"mean-variance, aversion {a:g}", mean_variance(a)) for a in (1, 10, 20, 50, 100, 200, 1000)]
    policies += [(f"tilt-bounded {args.tilt:g}, scale {k:g}", tilted(k)) for k in (0.25, 0.5, 1, 2, 3, 5, 10, 100)]
    print(f"{args.csv}: {assets} assets, last {args.test} decisions, phi {args.phi}, cost {args.cost * 1e4:g} bp per side")
    for name, policy in policies:
        held = [1.0] + [0.0] * assets
        returns = []
        for t in range(n - 1 - args.test, n - 1):
            w = policy([args.phi * r for r in logs[t - 1]])
            turnover = sum(abs(a - b) for a, b in zip(w[1:], held[1:]))
            gross = w[0] + sum(a * x for a, x in zip(w[1:], relatives[t]))
            returns.append(gross * (1 - args.cost * turnover) - 1)
            held = [w[0] / gross] + [a * x / gross for a, x in zip(w[1:], relatives[t])]
        spread = statistics.pstdev(returns)
        # All in cash (no prediction above zero, as at PHI 0) earns nothing, with no risk.
        sharpe = 0.0 if spread == 0 else statistics.fmean(returns) / spread * math.sqrt(args.periods_per_year)
        print(f"  {name:32s} Sharpe {sharpe:6.2f}")


if __name__ == "__main__":
    main()
