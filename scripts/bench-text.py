#!/usr/bin/env python3
"""sentence-transformers' side of the text-encoder benchmark (benches/text.rs runs it).

    bench-text.py TEXTS.json --threads 2 --batch 32 --rounds 3 --vectors OUT.f32

Encodes the texts (a JSON array of strings) with all-MiniLM-L6-v2 on the CPU, `rounds` times
after one warm-up pass, and prints one JSON line: the best time and sentences per second.
`--vectors` also writes the embeddings as little-endian float32, row after row, so that the
Rust side can compare them with its own.
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import text_common  # noqa: E402

text_common.ensure_venv()

import numpy as np  # noqa: E402
import torch  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("texts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--vectors")
    a = ap.parse_args()
    texts = json.loads(Path(a.texts).read_text(encoding="utf-8"))
    torch.set_num_threads(a.threads)
    model = text_common.load_model(a.threads)
    model.encode(texts[:64], batch_size=a.batch)  # warm-up
    times = []
    vectors = None
    with torch.inference_mode():
        for _ in range(a.rounds):
            start = time.perf_counter()
            vectors = model.encode(texts, batch_size=a.batch, convert_to_numpy=True)
            times.append(time.perf_counter() - start)
    if a.vectors:
        np.asarray(vectors, dtype="<f4").tofile(a.vectors)
    best = min(times)
    print(json.dumps({
        "seconds": best,
        "times": times,
        "sentences_per_s": len(texts) / best,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "sentence_transformers": __import__("sentence_transformers").__version__,
    }))


if __name__ == "__main__":
    main()
