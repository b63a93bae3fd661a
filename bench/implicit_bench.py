"""Times implicit's ALS on a train file and measures NDCG@10 on a test file.

    OPENBLAS_NUM_THREADS=1 python implicit_bench.py train.tsv test.tsv [--factors 64]
        [--iterations 15] [--threads 2] [--regularization 0.05] [--alpha 1.0]

Prints one JSON object: seconds to read the file and build the CSR matrix, seconds to train
(wall clock, and CPU seconds of all threads),
the mean seconds per epoch, peak resident memory after training (bytes), and NDCG@10 / P@10 by
../shared/eval/PROTOCOL.md (full ranking of the training catalogue, the user's training items
excluded, binary relevance, averaged over every user with a test item).
"""

import argparse
import json
import resource
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp


def read(path: str) -> pd.DataFrame:
    return pd.read_csv(
        path,
        sep="\t",
        header=None,
        names=["user", "item", "weight"],
        usecols=[0, 1, 2],
        dtype={"user": str, "item": str, "weight": np.float32},
    )


def ndcg_at_10(model, user_items, users, items, test: pd.DataFrame) -> tuple[float, float]:
    user_index = pd.Index(users)
    item_index = pd.Index(items)
    test = test.assign(u=user_index.get_indexer(test["user"]), i=item_index.get_indexer(test["item"]))
    truth = test.groupby("user", sort=False).agg(u=("u", "first"), items=("i", list))
    discounts = 1.0 / np.log2(np.arange(2, 12))
    ndcg_sum = precision_sum = 0.0
    known = truth[truth["u"] >= 0]
    batch = 4096
    rows = known["u"].to_numpy()
    lists = known["items"].to_list()
    for start in range(0, len(rows), batch):
        ids = rows[start : start + batch]
        recs, _ = model.recommend(ids, user_items[ids], N=10, filter_already_liked_items=True)
        for rec, wanted in zip(recs, lists[start : start + batch]):
            wanted = set(wanted)
            hits = np.array([r in wanted for r in rec], dtype=float)
            ideal = discounts[: min(10, len(wanted))].sum()
            ndcg_sum += float((hits * discounts[: len(hits)]).sum() / ideal)
            precision_sum += float(hits.sum() / 10)
    n = len(truth)  # users unknown to training score 0, as the protocol says
    return ndcg_sum / n, precision_sum / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--regularization", type=float, default=0.05)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    from implicit.cpu.als import AlternatingLeastSquares

    t0, c0 = time.perf_counter(), time.process_time()
    df = read(args.train)
    u_codes, users = pd.factorize(df["user"])
    i_codes, items = pd.factorize(df["item"])
    user_items = sp.csr_matrix(
        (df["weight"].to_numpy(), (u_codes, i_codes)), shape=(len(users), len(items))
    )
    user_items.sum_duplicates()
    del df
    read_s, read_cpu_s = time.perf_counter() - t0, time.process_time() - c0

    model = AlternatingLeastSquares(
        factors=args.factors,
        regularization=args.regularization,
        alpha=args.alpha,
        iterations=args.iterations,
        use_cg=True,
        calculate_training_loss=False,
        num_threads=args.threads,
        random_state=args.seed,
    )
    epochs = []
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(user_items, show_progress=False, callback=lambda it, secs, loss: epochs.append(secs))
    train_s, train_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    ndcg, precision = ndcg_at_10(model, user_items, users, items, read(args.test))
    print(
        json.dumps(
            {
                "read_s": read_s,
                "train_s": train_s,
                "read_cpu_s": read_cpu_s,
                "train_cpu_s": train_cpu_s,
                "epoch_s": sum(epochs) / len(epochs),
                "peak_rss_bytes": peak,
                "ndcg@10": ndcg,
                "p@10": precision,
                "users": len(users),
                "items": len(items),
                "nnz": int(user_items.nnz),
            }
        )
    )


if __name__ == "__main__":
    main()
