#!/usr/bin/env python3
"""sentence-transformers' side of the text-encoder benchmark; benches/text.rs drives it.

    bench-text.py TEXTS.json --threads 2 --batch 32

Loads all-MiniLM-L6-v2 on the CPU, encodes the texts (a JSON array of strings) once to warm
up, prints "ready", then answers commands on stdin, one per line, so that the Rust side can
interleave its own timed passes with these:
- `encode`: one timed pass over all texts; prints a JSON line with the seconds;
- `vectors PATH`: writes the last pass's embeddings to PATH as little-endian float32, row
  after row;
- `info`: prints a JSON line with versions and the thread count.
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
import sentence_transformers  # noqa: E402
import torch  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("texts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    a = ap.parse_args()
    texts = json.loads(Path(a.texts).read_text(encoding="utf-8"))
    model = text_common.load_model(a.threads)
    vectors = model.encode(texts, batch_size=a.batch, convert_to_numpy=True)  # warm-up
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split(maxsplit=1)
        if not cmd:
            continue
        if cmd[0] == "encode":
            start = time.perf_counter()
            vectors = model.encode(texts, batch_size=a.batch, convert_to_numpy=True)
            print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)
        elif cmd[0] == "vectors":
            np.asarray(vectors, dtype="<f4").tofile(cmd[1].strip())
            print(json.dumps({"ok": True}), flush=True)
        elif cmd[0] == "info":
            print(json.dumps({
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "sentence_transformers": sentence_transformers.__version__,
            }), flush=True)
        else:
            print(json.dumps({"error": f"unknown command {cmd[0]}"}), flush=True)


if __name__ == "__main__":
    main()
