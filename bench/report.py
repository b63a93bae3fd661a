"""Summarises one run of train_speed.sh: reads the files it left in OUT_DIR and prints a table.

    python3 report.py OUT_DIR ITERATIONS

Standard library only, so it runs with the system python as well as the bench venv.
"""

import json
import os
import re
import sys


def cpu_seconds(path: str) -> float:
    """User + system CPU seconds from a `/usr/bin/time -v` report."""
    text = open(path).read()
    user = float(re.search(r"User time \(seconds\): (\S+)", text).group(1))
    system = float(re.search(r"System time \(seconds\): (\S+)", text).group(1))
    return user + system


def gnu_time(path: str) -> tuple[float, int]:
    """(wall seconds, max RSS bytes) from a `/usr/bin/time -v` report."""
    text = open(path).read()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
    seconds = 0.0
    for part in wall.split(":"):
        seconds = seconds * 60 + float(part)
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return seconds, rss_kb * 1024


def main() -> None:
    out, iterations = sys.argv[1], int(sys.argv[2])
    p = lambda name: os.path.join(out, name)  # noqa: E731

    read_wall, _ = gnu_time(p("time_encore_read.txt"))
    total_wall, encore_rss = gnu_time(p("time_encore_train.txt"))
    evaluation = json.load(open(p("encore_evaluate.json")))["results"][0]
    encore_fit = evaluation["train_seconds"]
    encore_ndcg = evaluation["metrics"]["ndcg@10"]

    implicit = json.load(open(p("implicit.json")))
    _, implicit_process_rss = gnu_time(p("time_implicit.txt"))
    implicit_total = implicit["read_s"] + implicit["train_s"]

    rows = [
        ("read + matrix build, s", read_wall, implicit["read_s"]),
        ("seconds per epoch", encore_fit / iterations, implicit["epoch_s"]),
        ("training, s", encore_fit, implicit["train_s"]),
        ("total (read + train), s", total_wall, implicit_total),
        (
            "total CPU (all threads), s",
            cpu_seconds(p("time_encore_train.txt")),
            implicit["read_cpu_s"] + implicit["train_cpu_s"],
        ),
        ("peak memory, MiB", encore_rss / 2**20, implicit["peak_rss_bytes"] / 2**20),
        ("NDCG@10 (20 % holdout)", encore_ndcg, implicit["ndcg@10"]),
    ]
    print(f"{'':28}{'encore':>12}{'implicit':>12}{'encore/implicit':>18}")
    for name, e, i in rows:
        print(f"{name:28}{e:12.4f}{i:12.4f}{e / i:18.3f}")
    print(
        f"\ndata: {implicit['users']} users, {implicit['items']} items, "
        f"{implicit['nnz']} training interactions"
    )
    print(
        "encore read = `encore train --model popularity` (read, build, write the model file); "
        "encore total = `encore train` wall clock including process start and the model-file "
        "write; implicit total = read + fit inside python (imports excluded). CPU seconds are "
        "the less load-sensitive figure on a shared machine. Implicit peak "
        f"memory is measured after fit (whole process with evaluation: "
        f"{implicit_process_rss / 2**20:.0f} MiB)."
    )


if __name__ == "__main__":
    main()
