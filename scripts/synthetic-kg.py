#!/usr/bin/env python3
"""A synthetic shop KG in kgrec's ontology, of any size, for the scaling curves of docs/scale.md.

    python3 scripts/synthetic-kg.py --users 50000 --out /tmp/syn-50k.nq.gz

Shaped like the Amazon Beauty data: half as many products as users, a brand per 20 products, 200
categories under 20 roots, 8 also-bought and 4 also-viewed links per product (popular products
more often), and 5 to 20 purchases per user (popular products more often, Zipf-like), each an
interaction with its kind, position and time: about 95 quads per user, 7 per interaction.
Seeded: the same arguments give the same file.
"""

import argparse
import gzip
import random

KGR = "https://w3id.org/kgrec/ns#"
SCHEMA = "http://schema.org/"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
SKOS_BROADER = "http://www.w3.org/2004/02/skos/core#broader"
ID = "https://w3id.org/kgrec/id/synthetic/"
GRAPH = "https://w3id.org/kgrec/graph/synthetic/"
XSD = "http://www.w3.org/2001/XMLSchema#"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    users = args.users
    items = max(users // 2, 10)
    brands = max(items // 20, 1)
    catalogue = f"<{GRAPH}catalogue>"
    interactions = f"<{GRAPH}interactions>"
    # Zipf-like popularity: product i drawn with weight 1 / (i + 10).
    weights = [1.0 / (i + 10) for i in range(items)]
    cumulative = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)

    def popular():
        return min(rng.choices(range(items), cum_weights=cumulative, k=1)[0], items - 1)

    quads = 0
    with gzip.open(args.out, "wt", compresslevel=3) as out:

        def quad(s, p, o, g):
            nonlocal quads
            quads += 1
            out.write(f"{s} {p} {o} {g} .\n")

        product = lambda i: f"<{ID}product/P{i}>"
        for c in range(200):
            node = f"<{ID}category/C{c}>"
            quad(node, f"<{RDF_TYPE}>", f"<{KGR}Category>", catalogue)
            quad(node, f"<{SCHEMA}name>", f'"Category {c}"', catalogue)
            if c >= 20:
                quad(node, f"<{SKOS_BROADER}>", f"<{ID}category/C{c % 20}>", catalogue)
        for b in range(brands):
            node = f"<{ID}brand/B{b}>"
            quad(node, f"<{RDF_TYPE}>", f"<{SCHEMA}Brand>", catalogue)
            quad(node, f"<{SCHEMA}name>", f'"Brand {b}"', catalogue)
        for i in range(items):
            p = product(i)
            quad(p, f"<{RDF_TYPE}>", f"<{SCHEMA}Product>", catalogue)
            quad(p, f"<{SCHEMA}name>", f'"Product {i}"', catalogue)
            quad(p, f"<{SCHEMA}brand>", f"<{ID}brand/B{rng.randrange(brands)}>", catalogue)
            quad(p, f"<{SCHEMA}category>", f"<{ID}category/C{rng.randrange(20, 200)}>", catalogue)
            for link, n in (("alsoBought", 8), ("alsoViewed", 4)):
                for j in {popular() for _ in range(n)} - {i}:
                    quad(p, f"<{KGR}{link}>", product(j), catalogue)
        start = 1_400_000_000
        for u in range(users):
            user = f"<{ID}user/U{u}>"
            quad(user, f"<{RDF_TYPE}>", f"<{KGR}User>", interactions)
            t = start + rng.randrange(10_000_000)
            for position in range(rng.randint(5, 20)):
                i = popular()
                e = f"<{ID}interaction/U{u}-{position}>"
                t += rng.randrange(86_400, 30 * 86_400)
                quad(e, f"<{RDF_TYPE}>", f"<{KGR}Interaction>", interactions)
                quad(e, f"<{KGR}user>", user, interactions)
                quad(e, f"<{KGR}item>", product(i), interactions)
                quad(e, f"<{KGR}kind>", f"<{KGR}Purchase>", interactions)
                quad(e, f"<{KGR}position>", f'"{position}"^^<{XSD}integer>', interactions)
                quad(e, f"<{KGR}timestamp>", f'"{iso(t)}"^^<{XSD}dateTime>', interactions)
                quad(user, f"<{KGR}interactedWith>", product(i), interactions)
    print(f"{users} users, {items} products, {quads} quads -> {args.out}")


def iso(t):
    import datetime

    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


if __name__ == "__main__":
    main()
