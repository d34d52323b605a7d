#!/usr/bin/env python3
"""What leaving flagged data out wins back (BENCHMARKS.md, "Leaving flagged data out").

    python3 scripts/quality_recovery.py CLEAN_MODEL... -- NOISY_MODEL... -- EXCLUDED_MODEL...

Each MODEL is a registered model's folder (its entry.json holds the test metrics); each group
holds one model per training seed, and seeds pair up across groups. Prints each row's metrics
per seed and their mean, and the share of what the noise cost that excluding wins back, from
the means and seed by seed, on the test split and on the validation split.
"""
import json
import statistics
import sys

METRICS = ("test.HR@10", "test.NDCG@10")
# The validation split's figures: what a choice between settings may be made on.
VALID = ("valid.HR@10", "valid.NDCG@10")


def entries(folders):
    out = []
    for folder in folders:
        with open(f"{folder}/entry.json") as f:
            e = json.load(f)
        out.append((e["seed"], {m: e["metrics"][m] for m in METRICS + VALID}))
    return sorted(out)


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
        cells, mean = [], {}
        for m in METRICS:
            values = [v[m] for _, v in row]
            mean[m] = statistics.fmean(values)
            cells.append(" / ".join(f"{x:.4f}" for x in values) + f" | {mean[m]:.4f}")
        means.append(mean)
        print(f"| {name} | {', '.join(str(s) for s, _ in row)} | " + " | ".join(cells) + " |")
    clean, noisy, excluded = means
    for (name, row) in zip(("clean", "noisy", "excluded"), rows):
        for m in VALID:
            means[("clean", "noisy", "excluded").index(name)][m] = statistics.fmean(v[m] for _, v in row)
    for m in METRICS + VALID:
        cost = clean[m] - noisy[m]
        won = excluded[m] - noisy[m]
        share = won / cost if cost > 0 else float("nan")
        per_seed = []
        by_seed = [dict(r) for r in rows]
        for s in sorted(set(by_seed[0]) & set(by_seed[1]) & set(by_seed[2])):
            c, n, x = (r[s][m] for r in by_seed)
            per_seed.append(f"seed {s}: {(x - n) / (c - n):.0%}" if c > n else f"seed {s}: no cost")
        print(f"{m}: noise costs {cost:.4f}, excluding wins back {won:.4f} = {share:.0%} of it ({', '.join(per_seed)})")


if __name__ == "__main__":
    main()
