#!/usr/bin/env python3
"""Writes a RecBole dataset as pre-split atomic files, on the exact pairs RecBole used.

    python3 scripts/recbole-presplit.py DATASET_DIR SPLIT_DIR OUT_DIR

DATASET_DIR holds NAME.inter (and .item, .user, .kg, .link); SPLIT_DIR holds train.tsv,
valid.tsv and test.tsv, `user_id item_id` pairs with RecBole's tokens (as
../shared/datasets/ml-100k-kg/recbole-split/all-items). OUT_DIR gets NAME.train.inter,
NAME.valid.inter and NAME.test.inter (each pair's row of NAME.inter, so ratings and times
stay) and links to the other files, ready for `kgrec import recbole OUT_DIR`: kgrec's
`ratio` protocol then evaluates on this split instead of drawing its own.
"""
import os
import sys


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    data_dir, split_dir, out_dir = sys.argv[1:]
    inters = [f for f in os.listdir(data_dir) if f.endswith(".inter")]
    if len(inters) != 1:
        sys.exit(f"{data_dir}: expected one NAME.inter, found {inters}")
    name = inters[0][: -len(".inter")]
    with open(os.path.join(data_dir, inters[0]), encoding="utf-8") as f:
        header = f.readline()
        rows = {}
        for line in f:
            cols = line.rstrip("\n").split("\t")
            key = (cols[0], cols[1])
            if key in rows:
                sys.exit(f"{inters[0]}: user {key[0]} and item {key[1]} appear twice")
            rows[key] = line
    os.makedirs(out_dir, exist_ok=True)
    used = 0
    for part in ("train", "valid", "test"):
        path = os.path.join(split_dir, f"{part}.tsv")
        with open(path, encoding="utf-8") as f, open(
            os.path.join(out_dir, f"{name}.{part}.inter"), "w", encoding="utf-8"
        ) as out:
            first = f.readline().split()
            if first[:2] != ["user_id", "item_id"]:
                sys.exit(f"{path}: expected a `user_id item_id` header, found {first}")
            out.write(header)
            for n, line in enumerate(f, start=2):
                user, item = line.split()
                row = rows.get((user, item))
                if row is None:
                    sys.exit(f"{path}:{n}: user {user} and item {item} are not in {inters[0]}")
                out.write(row)
                used += 1
    for ext in ("item", "user", "kg", "link"):
        src = os.path.join(data_dir, f"{name}.{ext}")
        dst = os.path.join(out_dir, f"{name}.{ext}")
        if os.path.exists(src) and not os.path.exists(dst):
            os.symlink(os.path.abspath(src), dst)
    print(f"{name}: {used} of {len(rows)} interactions split as in {split_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
