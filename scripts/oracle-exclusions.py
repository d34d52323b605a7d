#!/usr/bin/env python3
"""The oracle of BENCHMARKS.md, "Leaving flagged data out": a SPARQL update that records the
injected noise's truth as findings, so that `kgrec train --exclude-flagged burst,near-duplicate`
leaves out exactly the injected bots and merges exactly the injected copies.

    python3 scripts/oracle-exclusions.py truth.json > oracle.ru
    kgrec --store S update -f oracle.ru

truth.json is what scripts/noisy-beauty.py writes beside the noisy data. The update deletes the
store's near-duplicate findings and adds one `burst` finding per bot and one `near-duplicate`
finding per copy (related to its original); the checks' run records stay, so training accepts
the kinds. Item and user IRIs are the Beauty importer's.
"""
import json
import sys

NS = "https://w3id.org/kgrec/ns#"
SH = "http://www.w3.org/ns/shacl#"
QUALITY = "https://w3id.org/kgrec/graph/quality"
ID = "https://w3id.org/kgrec/id/"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    truth = json.load(open(sys.argv[1], encoding="utf-8"))
    out = [
        f"DELETE {{ GRAPH <{QUALITY}> {{ ?i ?p ?o }} }} WHERE {{ GRAPH <{QUALITY}> "
        f"{{ ?i <{NS}issueKind> <{NS}NearDuplicate> ; ?p ?o }} }};",
        f"INSERT DATA {{ GRAPH <{QUALITY}> {{",
    ]
    for n, bot in enumerate(truth["bots"]):
        out.append(
            f"<{ID}quality/oracle/bot{n}> a <{NS}QualityIssue> ; <{NS}issueKind> <{NS}Burst> ; "
            f"<{SH}focusNode> <{ID}amazon/user/{bot['reviewer']}> ."
        )
    for n, dup in enumerate(truth["duplicates"]):
        out.append(
            f"<{ID}quality/oracle/dup{n}> a <{NS}QualityIssue> ; <{NS}issueKind> <{NS}NearDuplicate> ; "
            f"<{SH}focusNode> <{ID}amazon/product/{dup['copy']}> ; "
            f"<{NS}relatedNode> <{ID}amazon/product/{dup['original']}> ."
        )
    out.append("} }")
    print("\n".join(out))


if __name__ == "__main__":
    main()
