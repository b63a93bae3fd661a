"""Times implicit 0.7.3's batched recommend() over every user of a train file.

    OPENBLAS_NUM_THREADS=1 python batch_recommend.py train.tsv out.tsv [--factors 64]
        [--iterations 15] [--threads 2] [-n 10]

Trains ALS (not timed), then asks `model.recommend(all users, user_items, N=n,
filter_already_liked_items=True)` in one call, as implicit's documentation batches it, and
writes `user<TAB>rank<TAB>item` lines. Prints one JSON object: users, seconds (wall), CPU
seconds of all threads, users per second, and the seconds to write the file.
"""

import argparse
import json
import resource
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("train")
    p.add_argument("output")
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--iterations", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("-n", type=int, default=10)
    a = p.parse_args()

    import implicit

    df = pd.read_csv(a.train, sep="\t", header=None, names=["user", "item", "weight"],
                     usecols=[0, 1, 2], dtype={"user": str, "item": str, "weight": np.float32})
    users, u = np.unique(df["user"].to_numpy(), return_inverse=True)
    items, i = np.unique(df["item"].to_numpy(), return_inverse=True)
    user_items = sp.csr_matrix((df["weight"].to_numpy(), (u, i)), shape=(len(users), len(items)))
    user_items.sum_duplicates()
    model = implicit.cpu.als.AlternatingLeastSquares(
        factors=a.factors, iterations=a.iterations, regularization=0.05,
        num_threads=a.threads, random_state=42)
    model.fit(user_items, show_progress=False)

    all_users = np.arange(len(users))
    t, c = time.perf_counter(), cpu_seconds()
    ids, _scores = model.recommend(all_users, user_items, N=a.n, filter_already_liked_items=True)
    seconds, cpu = time.perf_counter() - t, cpu_seconds() - c

    t = time.perf_counter()
    with open(a.output, "w") as out:
        for row, user in enumerate(users):
            for rank, item in enumerate(ids[row], start=1):
                out.write(f"{user}\t{rank}\t{items[item]}\n")
    write_seconds = time.perf_counter() - t
    print(json.dumps({
        "users": len(users), "seconds": seconds, "cpu_seconds": cpu,
        "users_per_second": len(users) / seconds, "write_seconds": write_seconds,
    }))


if __name__ == "__main__":
    main()
