"""Explanation coverage and validity against a running kgrec service (scripts/bench-serve.sh).

Usage: python3 serve_check.py BASE_URL WORK_DIR N_USERS [ASK_USERS]

Draws N_USERS users at random (seed 42) from the store through /sparql, asks each for 10
recommendations with explain=true, and reports the share that carry a path of at most 3 hops.
Every edge of every path of the first ASK_USERS users (200) is checked with an ASK query. Writes the
users (and user/item pairs from the answers) to WORK_DIR/users.txt and pairs.txt for wrk.
"""

import json
import random
import sys
import urllib.parse
import urllib.request

base, work, n_users = sys.argv[1], sys.argv[2], int(sys.argv[3])
ask_users = int(sys.argv[4]) if len(sys.argv) > 4 else 200


def get(path, accept="application/json"):
    req = urllib.request.Request(base + path, headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def sparql(q):
    return get("/sparql?" + urllib.parse.urlencode({"query": q}), "application/sparql-results+json")


users = [
    b["u"]["value"]
    for b in sparql(
        "SELECT ?u WHERE { ?u a <https://w3id.org/kgrec/ns#User> } ORDER BY ?u"
    )["results"]["bindings"]
]
random.seed(42)
sample = random.sample(users, min(n_users, len(users)))
quoted = [urllib.parse.quote(u, safe="") for u in sample]
recs = covered = edges = 0
pairs = []
for k, (u, q) in enumerate(zip(sample, quoted)):
    answer = get(f"/v1/users/{q}/recommendations?k=10&explain=true")
    for item in answer["items"]:
        recs += 1
        paths = item["explanation"]["paths"]
        if any(p["hops"] <= 3 for p in paths):
            covered += 1
        pairs.append((q, urllib.parse.quote(item["item"], safe="")))
        if k >= ask_users:
            continue
        for p in paths:
            steps = p["steps"]
            for a, b in zip(steps, steps[1:]):
                rel = a["relation"]
                s, o = (b, a) if rel["inverse"] else (a, b)
                ask = f"ASK {{ <{s['entity']['iri']}> <{rel['iri']}> <{o['entity']['iri']}> }}"
                if not sparql(ask)["boolean"]:
                    sys.exit(f"not in the KG: {ask}")
                edges += 1
print(
    f"explanations: {covered}/{recs} recommendations of {len(sample)} users have a path of <= 3 hops "
    f"({covered / max(recs, 1):.2%}); {edges} edges of the first {min(ask_users, len(sample))} users' paths all found by ASK"
)
with open(f"{work}/users.txt", "w") as f:
    f.write("\n".join(quoted) + "\n")
with open(f"{work}/pairs.txt", "w") as f:
    f.write("\n".join(f"{u}\t{i}" for u, i in pairs) + "\n")
