#!/usr/bin/env python3
"""How recommendations are explained: the share led by a path through a hub, by a specific
KG path, and explained otherwise (a link the model weighted, or customers like the user).

    python3 scripts/explain-hubs.py BASE_URL [--users 2000] [--k 10]

BASE_URL is a running `kgrec serve` (http://127.0.0.1:7878). The first USERS users (IRI
order) get their top K with explanations. A hub is an entity joined to more than 5% of
the catalogue's products (the products with interactions) and to more than 50 of them,
as kgrec's explanations define it (src/serve/explain.rs); each lead path's middle entity
is counted here with SPARQL, independently of the server's own test, so a server that
still leads with hubs is caught. Prints one JSON object.
"""
import argparse
import json
import sys
import urllib.parse
import urllib.request

HUB_SHARE = 0.05
HUB_MIN_ITEMS = 50


def get(base, path):
    with urllib.request.urlopen(base + path, timeout=300) as r:
        return json.load(r)


def sparql(base, query):
    data = urllib.parse.urlencode({"query": query}).encode()
    req = urllib.request.Request(
        base + "/sparql", data=data, headers={"Accept": "application/sparql-results+json"}
    )
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)["results"]["bindings"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("base")
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--dump", help="write every recommendation and its lead path's middle here (JSON lines)")
    a = p.parse_args()
    base = a.base.rstrip("/")
    kgr = "https://w3id.org/kgrec/ns#"
    n_items = int(
        sparql(base, f"SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE {{ ?i <{kgr}item> ?p }}")[0]["n"]["value"]
    )
    limit = max(HUB_MIN_ITEMS, int(HUB_SHARE * n_items + 0.999999))
    users = [
        b["u"]["value"]
        for b in sparql(
            base,
            f"SELECT ?u WHERE {{ ?u a <{kgr}User> }} ORDER BY ?u LIMIT {a.users}",
        )
    ]
    counts = {"recommendations": 0, "hub_led": 0, "specific_path": 0, "otherwise": 0}
    bases = {}
    leads = []
    dump = open(a.dump, "w") if a.dump else None
    for u in users:
        reply = get(base, f"/v1/users/{urllib.parse.quote(u, safe='')}/recommendations?k={a.k}&explain=true")
        for item in reply["items"]:
            counts["recommendations"] += 1
            e = item.get("explanation") or {}
            kind = (e.get("basis") or {}).get("kind", "kg-path" if e.get("paths") else "none")
            bases[kind] = bases.get(kind, 0) + 1
            paths = e.get("paths") or []
            lead = paths[0] if paths else None
            middle = lead["steps"][2]["entity"]["iri"] if lead and lead["hops"] == 3 else None
            if dump:
                dump.write(json.dumps({"user": u, "item": item["item"], "paths": len(paths), "middle": middle}) + "\n")
            if not paths:
                counts["otherwise"] += 1
                continue
            leads.append(middle)
    # Each lead path's middle entity, counted once: how many catalogue products it joins.
    degree = {}
    for e in sorted({m for m in leads if m}):
        degree[e] = int(
            sparql(
                base,
                f"SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE {{ {{ <{e}> ?r ?p }} UNION {{ ?p ?r <{e}> }} "
                f"FILTER EXISTS {{ ?i <{kgr}item> ?p }} }}",
            )[0]["n"]["value"]
        )
    hubs = {e for e, d in degree.items() if d > limit}
    for m in leads:
        if m in hubs:
            counts["hub_led"] += 1
        else:
            counts["specific_path"] += 1
    n = max(counts["recommendations"], 1)
    out = {
        "users": len(users),
        "catalogue_products": n_items,
        "hub_limit": limit,
        "hubs": len(hubs),
        **counts,
        "shares": {k: round(counts[k] / n, 4) for k in ("hub_led", "specific_path", "otherwise")},
        "bases": bases,
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
