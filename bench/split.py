"""Per-user holdout split of an interaction file, as in ../shared/eval/PROTOCOL.md.

    python split.py all.tsv OUT_DIR [--seed 42] [--fraction 0.2] [--eval-users N]

Reads `user<TAB>item<TAB>weight` (no header), merges duplicate (user, item) rows by summing
their weights, and holds out, for every user with at least 5 distinct items, a random
`fraction` of them (rounded half up, at least 1). Writes OUT_DIR/train.tsv and OUT_DIR/test.tsv
so that every system in the benchmark trains and is tested on the same files.

With --eval-users N, test.tsv keeps the held-out rows of N users drawn at random (the training
file is unchanged): exact full-catalogue ranking of a million users costs far more than training,
and a sample of users estimates the same metric for both systems at a fraction of the time.
"""

import argparse
import os

import numpy as np
import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--fraction", type=float, default=0.2)
    ap.add_argument("--eval-users", type=int, default=0)
    args = ap.parse_args()

    df = pd.read_csv(
        args.input,
        sep="\t",
        header=None,
        names=["user", "item", "weight"],
        usecols=[0, 1, 2],
        dtype={"user": str, "item": str, "weight": np.float64},
    )
    df = df.groupby(["user", "item"], sort=False, as_index=False)["weight"].sum()

    rng = np.random.default_rng(args.seed)
    # A random key per row, then each row's rank within its user in that random order: the rows
    # ranked below the user's held-out count form a uniform random subset.
    df["key"] = rng.random(len(df))
    df["rank"] = df.groupby("user", sort=False)["key"].rank(method="first") - 1
    n = df.groupby("user", sort=False)["item"].transform("size")
    held = np.where(n >= 5, np.maximum(1, np.floor(n * args.fraction + 0.5)), 0)
    is_test = df["rank"].to_numpy() < held

    os.makedirs(args.out_dir, exist_ok=True)
    cols = ["user", "item", "weight"]
    fmt = {"float_format": "%.6g", "sep": "\t", "header": False, "index": False}
    df.loc[~is_test, cols].to_csv(os.path.join(args.out_dir, "train.tsv"), **fmt)
    test = df.loc[is_test, cols]
    if args.eval_users > 0:
        users = test["user"].unique()
        if len(users) > args.eval_users:
            chosen = rng.choice(users, size=args.eval_users, replace=False)
            test = test[test["user"].isin(chosen)]
    test.to_csv(os.path.join(args.out_dir, "test.tsv"), **fmt)
    print(f"train rows {int((~is_test).sum())}, test rows {len(test)} "
          f"({test['user'].nunique()} users)")


if __name__ == "__main__":
    main()
