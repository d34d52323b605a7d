#!/usr/bin/env python3
"""Prices ×100 with a known answer: Beauty has no prices, so the price part of the injected-noise
benchmark runs on Amazon 2018 Gift Cards (358 priced products), the one priced catalogue in
../shared. For each seed: import it into a fresh store, multiply 2% of the prices by 100 with a
SPARQL update, run `kgrec check --only outliers`, and score the price-outlier findings against
the changed products (findings on the untouched store do not count against precision).

    python3 scripts/bench-price-outliers.py KGREC_BINARY ../shared/datasets/amazon2018-raw [--seeds 10]
"""
import json
import os
import random
import subprocess
import sys
import tempfile


def kgrec(binary, store, *args):
    out = subprocess.run(
        [binary, "--store", store, "--no-default-kg", *args], capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(f"kgrec {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def flagged(binary, store):
    report = json.loads(kgrec(binary, store, "check", "--only", "outliers", "--format", "json"))
    return {f["focus"] for f in report["findings"] if f["kind"] == "price-outlier"}


def main():
    binary, raw = sys.argv[1], sys.argv[2]
    seeds = int(sys.argv[sys.argv.index("--seeds") + 1]) if "--seeds" in sys.argv else 10
    tp = fp = fn = 0
    with tempfile.TemporaryDirectory() as tmp:
        clean = os.path.join(tmp, "clean")
        files = ["--reviews", os.path.join(raw, "Gift_Cards_5.json.gz"), "--meta", os.path.join(raw, "meta_Gift_Cards.json.gz")]
        kgrec(binary, clean, "import", "amazon", *files)
        before = flagged(binary, clean)
        rows = json.loads(
            kgrec(
                binary,
                clean,
                "query",
                "PREFIX schema: <http://schema.org/> SELECT ?p ?o ?price WHERE { ?p schema:offers ?o . ?o schema:price ?price } ORDER BY ?p",
                "--format",
                "json",
            )
        )["results"]["bindings"]
        priced = [(r["p"]["value"], r["o"]["value"], float(r["price"]["value"])) for r in rows]
        for seed in range(1, seeds + 1):
            store = os.path.join(tmp, f"s{seed}")
            kgrec(binary, store, "import", "amazon", *files)
            rng = random.Random(seed)
            chosen = rng.sample(priced, max(1, round(0.02 * len(priced))))
            for _, offer, price in chosen:
                kgrec(
                    binary,
                    store,
                    "update",
                    f"PREFIX schema: <http://schema.org/> DELETE {{ GRAPH ?g {{ <{offer}> schema:price ?x }} }} "
                    f"INSERT {{ GRAPH ?g {{ <{offer}> schema:price {price * 100:.2f} }} }} "
                    f"WHERE {{ GRAPH ?g {{ <{offer}> schema:price ?x }} }}",
                )
            truth = {p for p, _, _ in chosen}
            found = flagged(binary, store) - (before - truth)
            tp += len(found & truth)
            fp += len(found - truth)
            fn += len(truth - found)
            print(f"seed {seed}: {len(truth)} changed, {len(found)} new findings, {len(found & truth)} right", file=sys.stderr)
    print(f"| price ×100 (Gift Cards, {seeds} seeds) | {tp + fn} | {tp + fp} | {tp} | {tp / max(1, tp + fp):.3f} | {tp / max(1, tp + fn):.3f} |")


if __name__ == "__main__":
    main()
