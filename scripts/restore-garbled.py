#!/usr/bin/env python3
"""The oracle of BENCHMARKS.md, "Leaving flagged data out": a SPARQL update that gives the products
noisy-beauty.py garbled their clean titles and brands back, copied from the clean store.

    python3 scripts/restore-garbled.py KGREC CLEAN_STORE TRUTH_JSON > restore.ru
    KGREC --store NOISY_STORE update -f restore.ru
"""
import json
import subprocess
import sys

PRODUCT = "https://w3id.org/kgrec/id/amazon/product/"
CATALOGUE = "https://w3id.org/kgrec/graph/amazon-beauty/catalogue"


def main():
    kgrec, clean, truth = sys.argv[1:4]
    with open(truth) as f:
        garbled = [g["asin"] for g in json.load(f)["garbled"]]
    values = " ".join(f"<{PRODUCT}{a}>" for a in garbled)
    query = (
        "PREFIX schema: <http://schema.org/> SELECT ?s ?p ?o WHERE { VALUES ?s { "
        + values
        + " } GRAPH ?g { ?s ?p ?o } FILTER(?p IN (schema:name, schema:brand)) }"
    )
    out = subprocess.run(
        [kgrec, "--store", clean, "query", "--format", "json", query],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = json.loads(out)["results"]["bindings"]
    deletes, inserts = set(), []
    for r in rows:
        s, p, o = r["s"]["value"], r["p"]["value"], r["o"]
        deletes.add(f"<{s}> <{p}> ?x")
        # A JSON string is a valid SPARQL string literal for these titles.
        obj = f"<{o['value']}>" if o["type"] == "uri" else json.dumps(o["value"])
        inserts.append(f"<{s}> <{p}> {obj}")
    for d in sorted(deletes):
        print(f"DELETE WHERE {{ GRAPH <{CATALOGUE}> {{ {d} }} }};")
    print(f"INSERT DATA {{ GRAPH <{CATALOGUE}> {{ " + " .\n".join(inserts) + " } }")


if __name__ == "__main__":
    main()
