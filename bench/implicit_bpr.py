"""Times implicit's BPR on a TSV file (the counterpart of Encore's `bpr_speed` example).

    OPENBLAS_NUM_THREADS=1 python3 bench/implicit_bpr.py DATA.tsv EPOCHS THREADS

DATA.tsv is `user<TAB>item<TAB>weight` (only the existence of a row matters to BPR), e.g. the
synthetic set written by
`cargo run --release -p encore-core --example bpr_speed -- --write-tsv /tmp/synth4m.tsv`.
Prints wall and CPU seconds of `fit` with 64 factors (implicit adds one column for the item
bias) and implicit's default step size and regularisation.
"""

import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from implicit.bpr import BayesianPersonalizedRanking  # noqa: E402


def main() -> None:
    path, epochs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    users, items, rows, cols = {}, {}, [], []
    with open(path) as f:
        for line in f:
            u, i, _ = line.split("\t", 2)
            rows.append(users.setdefault(u, len(users)))
            cols.append(items.setdefault(i, len(items)))
    m = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(users), len(items))
    )
    model = BayesianPersonalizedRanking(
        factors=64, iterations=epochs, num_threads=threads, random_state=42
    )
    cpu0, wall0 = time.process_time(), time.time()
    model.fit(m, show_progress=False)
    wall, cpu = time.time() - wall0, time.process_time() - cpu0
    print(
        f"implicit bpr: {epochs} epochs, 64 factors (+ bias), {threads} threads: {wall:.2f} s total, "
        f"{wall / epochs:.3f} s/epoch, {m.nnz * epochs / wall / 1e6:.2f} M steps/s; {cpu:.2f} CPU s"
    )


if __name__ == "__main__":
    main()
