#!/usr/bin/env python3
"""How recommendations are explained: the share led by a path through a hub, by a specific
KG path, and explained otherwise (a link the model weighted, or customers like the user).

    python3 scripts/explain-hubs.py BASE_URL [--users 2000] [--k 10]

BASE_URL is a running `kgrec serve` (http://127.0.0.1:7878). The first USERS users (IRI
order) get their top K with explanations. A hub is an entity joined to more than 5% of
the catalogue's products (the products with interactions) and to more than 50 of them,
as kgrec's explanations define it (src/serve/explain.rs); the hubs are counted here with
SPARQL, independently of the server's own test, so a server that still leads with hubs
is caught. Prints one JSON object.
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
    a = p.parse_args()
    base = a.base.rstrip("/")
    kgr = "https://w3id.org/kgrec/ns#"
    n_items = int(
        sparql(base, f"SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE {{ ?i <{kgr}item> ?p }}")[0]["n"]["value"]
    )
    limit = max(HUB_MIN_ITEMS, int(HUB_SHARE * n_items + 0.999999))
    hubs = {
        b["e"]["value"]
        for b in sparql(
            base,
            f"SELECT ?e WHERE {{ {{ SELECT DISTINCT ?p WHERE {{ ?i <{kgr}item> ?p }} }} "
            f"{{ ?p ?r ?e }} UNION {{ ?e ?r ?p }} FILTER(isIRI(?e) && ?r != <{kgr}item> "
            f"&& ?r != <{kgr}interactedWith> && ?r != <http://www.w3.org/1999/02/22-rdf-syntax-ns#type>) }} "
            f"GROUP BY ?e HAVING (COUNT(DISTINCT ?p) > {limit})",
        )
    }
    users = [
        b["u"]["value"]
        for b in sparql(
            base,
            f"SELECT ?u WHERE {{ ?u a <{kgr}User> }} ORDER BY ?u LIMIT {a.users}",
        )
    ]
    counts = {"recommendations": 0, "hub_led": 0, "specific_path": 0, "otherwise": 0}
    bases = {}
    for u in users:
        reply = get(base, f"/v1/users/{urllib.parse.quote(u, safe='')}/recommendations?k={a.k}&explain=true")
        for item in reply["items"]:
            counts["recommendations"] += 1
            e = item.get("explanation") or {}
            kind = (e.get("basis") or {}).get("kind", "kg-path" if e.get("paths") else "none")
            bases[kind] = bases.get(kind, 0) + 1
            paths = e.get("paths") or []
            if not paths:
                counts["otherwise"] += 1
                continue
            lead = paths[0]
            middle = lead["steps"][2]["entity"]["iri"] if lead["hops"] == 3 else None
            if middle in hubs:
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
