#!/usr/bin/env python3
"""Scores `kgrec check --format json` on a noisy copy against the truth that
scripts/noisy-beauty.py wrote, per kind of injected noise.

    python3 scripts/quality_eval.py truth.json noisy.json clean.json [--sweep | --threshold X]

A finding counts against precision only when it is new: findings about the same node and of
the same check on the clean data are problems the real data already had (BENCHMARKS.md lists
examples of those, checked by hand), not detections of the injected noise.
- duplicates: pairs (focus, related) of exact-/near-duplicate findings against the injected
  (original, copy) pairs; with --sweep, precision and recall at each score threshold.
- bots: accounts with a finding of a kind that flags accounts (burst, copied-sequence,
  shilling, random-activity) against the injected bots.
- garbled: (product, problem) pairs of html-entity (text) and missing-brand (shapes)
  findings against the garbled products; a copy is compared with its original on the clean
  data, since it inherits the original's problems.
"""
import json
import sys

ACCOUNT_KINDS = {"burst", "copied-sequence", "shilling", "random-activity"}
PRODUCT = "https://w3id.org/kgrec/id/amazon/product/"
USER = "https://w3id.org/kgrec/id/amazon/user/"


def load(path):
    with open(path) as f:
        return json.load(f)


def prf(found, truth):
    tp = len(found & truth)
    p = tp / len(found) if found else float("nan")
    r = tp / len(truth) if truth else float("nan")
    return tp, len(found), len(truth), p, r


def row(name, stats):
    tp, n_found, n_truth, p, r = stats
    print(f"| {name} | {n_truth} | {n_found} | {tp} | {p:.3f} | {r:.3f} |")


def dup_pairs(report, threshold):
    out = {}
    for f in report["findings"]:
        if f["kind"] in ("exact-duplicate", "near-duplicate") and f["score"] >= threshold and f.get("related"):
            out[frozenset((f["focus"], f["related"][0]))] = f["score"]
    return out


def main():
    args = [a for a in sys.argv[1:] if a.endswith(".json")]
    sweep = "--sweep" in sys.argv
    threshold = float(sys.argv[sys.argv.index("--threshold") + 1]) if "--threshold" in sys.argv else 0.0
    truth, noisy, clean = (load(p) for p in args[:3])
    print("| noise | injected | new findings | true | precision | recall |")
    print("|---|---|---|---|---|---|")
    # Duplicates.
    true_pairs = {frozenset((PRODUCT + d["original"], PRODUCT + d["copy"])) for d in truth["duplicates"]}
    clean_pairs = set(dup_pairs(clean, 0.0))
    thresholds = [round(0.5 + 0.02 * k, 2) for k in range(26)] if sweep else [threshold]
    for t in thresholds:
        found = {p for p in dup_pairs(noisy, t) if p not in clean_pairs}
        row(f"duplicates (score ≥ {t})", prf(found, true_pairs))
    # Bots.
    true_bots = {USER + b["reviewer"] for b in truth["bots"]}
    clean_flagged = {f["focus"] for f in clean["findings"] if f["kind"] in ACCOUNT_KINDS}
    flagged = {f["focus"] for f in noisy["findings"] if f["kind"] in ACCOUNT_KINDS} - clean_flagged
    row("bots", prf(flagged, true_bots))
    for kind in ("random", "shilling"):
        subset = {USER + b["reviewer"] for b in truth["bots"] if b["kind"] == kind}
        tp = len(flagged & subset)
        print(f"| bots: {kind} | {len(subset)} | | {tp} | | {tp / len(subset):.3f} |")
    # Garbled attributes: (product, problem) pairs; a copy's problems are compared with its
    # original's on the clean data (a copy inherits them).
    original_of = {PRODUCT + d["copy"]: PRODUCT + d["original"] for d in truth["duplicates"]}
    true_garbled = {
        (PRODUCT + g["asin"], "brand" if g["kind"] == "missing-brand" else "entity") for g in truth["garbled"]
    }

    def garbled(report):
        out = set()
        for f in report["findings"]:
            if f["kind"] == "html-entity" and f["focus"].startswith(PRODUCT):
                out.add((f["focus"], "entity"))
            if f["kind"] == "shape-violation" and f.get("evidence", {}).get("path") == "http://schema.org/brand":
                out.add((f["focus"], "brand"))
        return out

    before = garbled(clean)
    found = {(p, k) for (p, k) in garbled(noisy) if (original_of.get(p, p), k) not in before}
    row("garbled attributes", prf(found, true_garbled))
    for kind, short in (("html-entity", "entity"), ("missing-brand", "brand")):
        subset = {t for t in true_garbled if t[1] == short}
        tp = len(found & subset)
        print(f"| garbled: {kind} | {len(subset)} | | {tp} | | {tp / len(subset):.3f} |")


if __name__ == "__main__":
    main()
