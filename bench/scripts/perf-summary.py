#!/usr/bin/env python3
"""Summarises the JSON files of bench/scripts/perf-matrix.sh: min/median/max
of each figure over the runs, as Markdown tables. Usage: perf-summary.py OUT"""
import glob
import json
import os
import statistics
import sys


def figure(path, name):
    return json.load(open(path))["run"]["figures"][name]["value"]


def triple(values, fmt="{:.0f}"):
    if not values:
        return "-"
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def main(out):
    for cores_dir in sorted(glob.glob(os.path.join(out, "cores*"))):
        cores = cores_dir.rsplit("cores", 1)[1]
        runs = lambda pattern: sorted(glob.glob(os.path.join(cores_dir, pattern)))
        limits = json.load(open(os.path.join(cores_dir, "limits.json")))["run"]["figures"]
        print(f"### broker --cores {cores}\n")
        for f in ["uptime-start.txt", "uptime-end.txt"]:
            p = os.path.join(cores_dir, f)
            if os.path.exists(p):
                print(f"- {f[:-4]}: `{open(p).read().strip()}`")
        print("\nLimits (sluice perf limits, same session), MB/s:\n")
        print("| write size | O_DIRECT write | TCP loopback | limit (min) |\n|---|---|---|---|")
        for size in ["64KiB", "256KiB", "1MiB"]:
            print(f"| {size} | {limits[f'direct_write_mb_per_sec_{size}']['value']:.0f} | "
                  f"{limits[f'tcp_mb_per_sec_{size}']['value']:.0f} | {limits[f'limit_mb_per_sec_{size}']['value']:.0f} |")
        print(f"\nfdatasync after a 4 KiB O_DIRECT write: p50 {limits['fdatasync_p50_ms']['value']:.3f} ms, "
              f"p99 {limits['fdatasync_p99_ms']['value']:.3f} ms, max {limits['fdatasync_max_ms']['value']:.3f} ms\n")
        print("| workload | MB/s (10^6) min / median / max | records/s min / median / max | producer latency p99 ms (median run) |\n|---|---|---|---|")
        for label, pattern in [("produce 1 KiB acks=1", "produce-1k-acks1-*.json"),
                               ("produce 1 KiB acks=all", "produce-1k-acksall-*.json"),
                               ("produce 100 B acks=1", "produce-100-acks1-*.json"),
                               ("consume 1 KiB", "consume-1k-*.json")]:
            files = runs(pattern)
            mb = [figure(p, "mb_per_sec") for p in files]
            rec = [figure(p, "records_per_sec") for p in files]
            p99 = ""
            if label.startswith("produce"):
                p99 = "{:.0f}".format(statistics.median(figure(p, "latency_p99_ms") for p in files))
            print(f"| {label} | {triple(mb)} | {triple(rec)} | {p99} |")
        print("\n| e2e (1 KiB) | rate records/s | p50 ms | p99 ms | p99.9 ms | p99.99 ms | max ms |\n|---|---|---|---|---|---|---|")
        for load in ["50", "90"]:
            files = runs(f"e2e-{load}-*.json")
            if not files:
                continue
            rate = json.load(open(files[0]))["run"]["workload"]["throughput"]
            cells = [triple([figure(p, f"e2e_{q}_ms") for p in files], "{:.2f}") for q in ["p50", "p99", "p99.9", "p99.99", "max"]]
            print(f"| {load}% | {rate:.0f} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main(sys.argv[1])
