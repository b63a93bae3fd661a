"""Summarises bench/pg_replicas.sh's results file: POST /recommend on PostgreSQL against SQLite,
and events ingestion with one and two replicas, with wall and CPU seconds beside each figure.

    python3 bench/pg_replicas_report.py /tmp/encore-pg-replicas/results.txt
"""

import json
import re
import statistics
import sys

WRK = re.compile(r"(\w+)=(\{[^}]*\})")
FIELD = re.compile(r"(\w+)=([0-9.]+)(?:\s|$)")


def parse(line):
    runs = {name: json.loads(text) for name, text in WRK.findall(line)}
    fields = {name: float(value) for name, value in FIELD.findall(line)}
    return runs, fields


def main(path):
    recommend = {"sqlite": [], "postgres": []}
    ingest = {}
    notes = []
    with open(path) as f:
        for line in f:
            if line.startswith("recommend "):
                label = line.split()[1]
                run = json.loads(line[line.index("{") : line.index("}") + 1])
                _, fields = parse(line)
                recommend[label].append((run, fields))
            elif line.startswith("ingest "):
                runs, fields = parse(line)
                _, label, case = line.split()[:3]
                ingest[(label, case)] = (runs, fields)
            else:
                notes.append(line.rstrip())

    print("\nPOST /recommend, wrk 2 threads x 32 connections, random known users")
    print(f"{'back end':<10} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
          f"{'wall s':>7} {'encore CPU s':>12} {'postgres CPU s':>14}")
    means = {}
    for label, runs in recommend.items():
        for run, fields in runs:
            print(f"{label:<10} {run['rps']:>9.0f} {run['lat_p50_ms']:>7.2f} "
                  f"{run['lat_p99_ms']:>7.2f} {run['errors']:>6} {fields['wall']:>7.1f} "
                  f"{fields['encore_cpu']:>12.1f} {fields['postgres_cpu']:>14.1f}")
        if runs:
            means[label] = statistics.mean(run["rps"] for run, _ in runs)
    if means.get("sqlite") and "postgres" in means:
        print(f"mean: SQLite {means['sqlite']:.0f} req/s, PostgreSQL {means['postgres']:.0f} "
              f"req/s; ratio PostgreSQL/SQLite {means['postgres'] / means['sqlite']:.3f}")

    print("\nevents ingestion, POST /v1/catalogs/{c}/events, batches of 100, 8 client connections in all")
    print(f"{'ids':<6} {'server':<22} {'requests/s':>10} {'events/s':>9} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'errors':>6} {'wall s':>6} {'encore CPU s':>12} {'postgres CPU s':>14}")
    names = {"sqlite": "SQLite, one server", "one": "PostgreSQL, 1 replica",
             "two": "PostgreSQL, 2 replicas"}
    for case in ("known", "new"):
        rates = {}
        for label in ("sqlite", "one", "two"):
            if (label, case) not in ingest:
                continue
            runs, fields = ingest[(label, case)]
            batch = fields["batch"]
            rps = sum(r["rps"] for r in runs.values())
            events = rps * batch
            errors = sum(r["errors"] for r in runs.values())
            p50 = max(r["lat_p50_ms"] for r in runs.values())
            p99 = max(r["lat_p99_ms"] for r in runs.values())
            rates[label] = events
            print(f"{case:<6} {names[label]:<22} {rps:>10.0f} {events:>9.0f} {p50:>7.1f} "
                  f"{p99:>7.1f} {errors:>6} {fields['wall']:>6.1f} {fields['encore_cpu']:>12.1f} "
                  f"{fields['postgres_cpu']:>14.1f}")
            if len(runs) > 1:
                each = ", ".join(f"{name}: {r['rps'] * batch:.0f}" for name, r in runs.items())
                print(f"{'':<6} {'(events/s per replica':<22} {each})")
        if rates.get("one") and "two" in rates:
            print(f"{case}: two replicas / one {rates['two'] / rates['one']:.2f}", end="")
            if rates.get("sqlite"):
                print(f"; one replica / SQLite {rates['one'] / rates['sqlite']:.2f}", end="")
            print()
    for note in notes:
        print(note)


if __name__ == "__main__":
    main(sys.argv[1])
