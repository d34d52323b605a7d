#!/usr/bin/env python3
"""What leaving flagged data out wins back (BENCHMARKS.md, "Leaving flagged data out").

    python3 scripts/quality_recovery.py CLEAN_MODEL... -- NOISY_MODEL... -- EXCLUDED_MODEL...

Each MODEL is a registered model's folder (its entry.json holds the metrics) or the JSON of
`kgrec eval --models ONE --format json` (one run per seed); each group holds one model per
training seed. Prints each row's metrics per seed and their mean, and the share of what the
noise cost that excluding wins back, from the means, with a 90% interval from resampling each
row's seeds (the rows' seeds are independent runs, so nothing is paired), on the test split
and on the validation split.
"""
import json
import random
import statistics
import sys

METRICS = ("test.HR@10", "test.NDCG@10")
# The validation split's figures: what a choice between settings may be made on.
VALID = ("valid.HR@10", "valid.NDCG@10")


def entries(paths):
    out = []
    for path in paths:
        if path.endswith(".json"):
            with open(path) as f:
                (model,) = json.load(f)["models"]
            for run in model["runs"]:
                metrics = {}
                for part in ("valid", "test"):
                    (at10,) = [a for a in run[part]["at"] if a["k"] == 10]
                    metrics[f"{part}.HR@10"] = at10["hr"]
                    metrics[f"{part}.NDCG@10"] = at10["ndcg"]
                out.append((run["seed"], metrics))
        else:
            with open(f"{path}/entry.json") as f:
                e = json.load(f)
            out.append((e["seed"], {m: e["metrics"][m] for m in METRICS + VALID}))
    return sorted(out)


def interval(rows, m, draws=4000):
    """The 5th and 95th percentiles of the share over resampled seeds (None with one seed a row)."""
    values = [[v[m] for _, v in row] for row in rows]
    if any(len(v) < 2 for v in values):
        return None
    rng = random.Random(0)
    shares = []
    for _ in range(draws):
        c, n, x = (statistics.fmean(rng.choices(v, k=len(v))) for v in values)
        if c > n:
            shares.append((x - n) / (c - n))
    if len(shares) < draws // 2:
        return None
    shares.sort()
    return shares[len(shares) // 20], shares[len(shares) * 19 // 20]


def main():
    groups, current = [], []
    for arg in sys.argv[1:]:
        if arg == "--":
            groups.append(current)
            current = []
        else:
            current.append(arg)
    groups.append(current)
    if len(groups) != 3 or not all(groups):
        sys.exit(__doc__)
    rows = [entries(g) for g in groups]
    print("| data | seeds | " + " | ".join(f"{m[5:]} per seed | mean" for m in METRICS) + " |")
    print("|---|---|" + "---|---|" * len(METRICS))
    means = []
    for name, row in zip(("clean", "noisy", "noisy, --exclude-flagged"), rows):
        mean = {m: statistics.fmean(v[m] for _, v in row) for m in METRICS + VALID}
        cells = [" / ".join(f"{v[m]:.4f}" for _, v in row) + f" | {mean[m]:.4f}" for m in METRICS]
        means.append(mean)
        print(f"| {name} | {', '.join(str(s) for s, _ in row)} | " + " | ".join(cells) + " |")
    clean, noisy, excluded = means
    for m in METRICS + VALID:
        cost = clean[m] - noisy[m]
        won = excluded[m] - noisy[m]
        share = won / cost if cost > 0 else float("nan")
        spread = interval(rows, m)
        within = f", 90% interval {spread[0]:.0%} to {spread[1]:.0%}" if spread else ""
        print(f"{m}: noise costs {cost:.4f}, excluding wins back {won:.4f} = {share:.0%} of it{within}")


if __name__ == "__main__":
    main()
