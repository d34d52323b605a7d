#!/usr/bin/env python3
"""Builds a noisy copy of full Amazon Beauty (the Beauty importer's three files) with a known
answer, for `kgrec check` and `kgrec train --exclude-flagged` (BENCHMARKS.md, "Data quality").

    python3 scripts/noisy-beauty.py ../shared/datasets/amazon-beauty/derived OUT --seed 1

Writes OUT/items.tsv.gz, OUT/interactions_ordered.tsv.gz, OUT/kg_triples.tsv.gz and
OUT/truth.json:
- 3% of products re-listed under a new id with a perturbed title (word order, a typo, the size
  unit spelled another way) and the same brand and categories, half of the original's
  co-purchase lists, and 40% of its buyers moved to the copy (in place in their sequences);
- 5% extra accounts that are bots: half click 10-40 random products, half push a handful of
  one brand's products (20 campaigns), with a few popular products as cover;
- 2% of products with garbled attributes: an HTML entity escaped twice in the title (it
  survives the importer's decoding of one level), or the brand removed. Beauty has no prices,
  so a price ×100 cannot be injected here.
Only the standard library; the same seed gives the same files.
"""
import argparse
import csv
import gzip
import json
import os
import random
import re
import string
import sys

csv.field_size_limit(sys.maxsize)


def read_tsv(path):
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows[0], rows[1:]


def write_tsv(path, header, rows):
    with gzip.open(path, "wt", encoding="utf-8", newline="", compresslevel=6) as f:
        w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar=None, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow(r)


UNIT_SWAPS = [
    (r"\bFluid Ounces?\b", "fl oz"),
    (r"\bfl\.? ?oz\.?", "Fluid Ounce"),
    (r"\bOunces?\b", "oz"),
    (r"\boz\b\.?", "Ounce"),
    (r"\bOz\b\.?", "Ounce"),
    (r"\bml\b", "Milliliter"),
    (r"\bML\b", "mL"),
    (r"\bMilliliters?\b", "ml"),
]


def perturb_title(title, rng):
    words = title.split()
    # Word order: move one word (not the first) to another place.
    if len(words) >= 4:
        i = rng.randrange(1, len(words))
        w = words.pop(i)
        j = rng.randrange(1, len(words) + 1)
        while j == i and len(words) > 2:
            j = rng.randrange(1, len(words) + 1)
        words.insert(j, w)
    # A typo: two letters swapped, one dropped or one doubled, in a word of 5+ letters.
    candidates = [k for k, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if candidates:
        k = rng.choice(candidates)
        w = words[k]
        p = rng.randrange(1, len(w) - 1)
        kind = rng.randrange(3)
        if kind == 0:
            w = w[:p] + w[p + 1] + w[p] + w[p + 2:]
        elif kind == 1:
            w = w[:p] + w[p + 1:]
        else:
            w = w[:p] + w[p] + w[p:]
        words[k] = w
    out = " ".join(words)
    # The size unit spelled another way, when the title has one.
    for pattern, repl in UNIT_SWAPS:
        changed = re.sub(pattern, repl, out, count=1)
        if changed != out:
            return changed
    return out


def garble_entity(title, rng):
    """An HTML entity escaped twice: the importer decodes one level, one is left."""
    if "&" in title:
        return title.replace("&", "&amp;amp;", 1)
    if "'" in title:
        return title.replace("'", "&amp;#39;", 1)
    spaces = [m.start() for m in re.finditer(" ", title)]
    if not spaces:
        return title + "&amp;nbsp;"
    p = rng.choice(spaces)
    return title[:p] + "&amp;nbsp;" + title[p + 1:]


def new_id(rng, prefix, taken):
    while True:
        x = prefix + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(9))
        if x not in taken:
            taken.add(x)
            return x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("source")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duplicates", type=float, default=0.03)
    ap.add_argument("--bots", type=float, default=0.05)
    ap.add_argument("--garbled", type=float, default=0.02)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    ih, items = read_tsv(os.path.join(a.source, "items.tsv.gz"))
    nh, inters = read_tsv(os.path.join(a.source, "interactions_ordered.tsv.gz"))
    kh, triples = read_tsv(os.path.join(a.source, "kg_triples.tsv.gz"))
    c_item, c_asin, c_title = ih.index("item_id"), ih.index("asin"), ih.index("title")
    n_user, n_rev, n_item, n_asin, n_pos = (nh.index(c) for c in ("user_id", "reviewerID", "item_id", "asin", "position"))
    asins = [r[c_asin] for r in items]
    taken = set(asins) | {r[n_rev] for r in inters}
    brand_of = {}
    cats_of = {}
    related = {}
    for h, rel, t in triples:
        if rel == "produced_by":
            brand_of[h] = t
        elif rel == "belongs_to":
            cats_of.setdefault(h, []).append(t)
        else:
            related.setdefault(h, []).append((rel, t))
    buyers = {}
    for k, r in enumerate(inters):
        buyers.setdefault(r[n_asin], []).append(k)
    truth = {"seed": a.seed, "duplicates": [], "bots": [], "garbled": []}

    # Duplicates.
    titled = [r for r in items if r[c_title].strip() and len(buyers.get(r[c_asin], [])) >= 2]
    n_dup = round(a.duplicates * len(items))
    originals = rng.sample(titled, n_dup)
    next_item = max(int(r[c_item]) for r in items) + 1
    chosen = set()
    for r in originals:
        o = r[c_asin]
        chosen.add(o)
        copy = new_id(rng, "X", taken)
        row = list(r)
        row[c_item] = str(next_item)
        next_item += 1
        row[c_asin] = copy
        row[c_title] = perturb_title(r[c_title], rng)
        items.append(row)
        if o in brand_of:
            triples.append([copy, "produced_by", brand_of[o]])
        for c in cats_of.get(o, []):
            triples.append([copy, "belongs_to", c])
        rels = related.get(o, [])
        for rel, t in rng.sample(rels, len(rels) // 2):
            triples.append([copy, rel, t])
        rows = buyers[o]
        moved = rng.sample(rows, max(1, round(0.4 * len(rows))))
        for k in moved:
            inters[k][n_asin] = copy
            inters[k][n_item] = row[c_item]
        truth["duplicates"].append({"original": o, "copy": copy, "title": r[c_title], "copy_title": row[c_title], "moved_buyers": len(moved)})

    # Garbled attributes, on other products.
    n_garbled = round(a.garbled * len(asins))
    pool = [r for r in items[: len(asins)] if r[c_asin] not in chosen and r[c_title].strip()]
    for r in rng.sample(pool, n_garbled):
        asin = r[c_asin]
        if asin in brand_of and rng.random() < 0.5:
            triples = [t for t in triples if not (t[0] == asin and t[1] == "produced_by")]
            truth["garbled"].append({"asin": asin, "kind": "missing-brand", "brand": brand_of.pop(asin)})
        else:
            before = r[c_title]
            r[c_title] = garble_entity(before, rng)
            truth["garbled"].append({"asin": asin, "kind": "html-entity", "title": r[c_title]})

    # Bots.
    n_users = len({r[n_rev] for r in inters})
    next_user = max(int(r[n_user]) for r in inters) + 1
    n_bots = round(a.bots * n_users)
    all_asins = [r[c_asin] for r in items]
    popularity = {}
    for r in inters:
        popularity[r[n_asin]] = popularity.get(r[n_asin], 0) + 1
    popular = sorted(popularity, key=lambda x: -popularity[x])[:500]
    by_brand = {}
    for asin in asins:
        if asin in brand_of:
            by_brand.setdefault(brand_of[asin], []).append(asin)
    brands = sorted(b for b, ps in by_brand.items() if len(ps) >= 8)
    campaigns = [(b, rng.sample(sorted(by_brand[b]), 6)) for b in rng.sample(brands, 20)]
    item_id_of = {r[c_asin]: r[c_item] for r in items}
    for k in range(n_bots):
        reviewer = new_id(rng, "A", taken)
        if k % 2 == 0:
            kind = "random"
            picks = rng.sample(all_asins, rng.randint(10, 40))
            detail = {}
        else:
            kind = "shilling"
            brand, targets = campaigns[(k // 2) % len(campaigns)]
            picks = rng.sample(targets, rng.randint(3, 6)) + rng.sample(popular, rng.randint(1, 4))
            rng.shuffle(picks)
            detail = {"brand": brand}
        for pos, asin in enumerate(picks):
            inters.append([str(next_user), reviewer, item_id_of[asin], asin, str(pos)])
        next_user += 1
        truth["bots"].append(dict(reviewer=reviewer, kind=kind, items=len(picks), **detail))

    write_tsv(os.path.join(a.out, "items.tsv.gz"), ih, items)
    write_tsv(os.path.join(a.out, "interactions_ordered.tsv.gz"), nh, inters)
    write_tsv(os.path.join(a.out, "kg_triples.tsv.gz"), kh, triples)
    with open(os.path.join(a.out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
    print(
        f"{len(truth['duplicates'])} duplicates, {len(truth['bots'])} bots, {len(truth['garbled'])} garbled products -> {a.out}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
