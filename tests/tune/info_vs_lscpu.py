#!/usr/bin/env python3
"""`usine info --json` must agree with lscpu on cores and cache sizes (issue 4).

lscpu gives totals ("64 KiB (2 instances)"); usine gives one instance's size and how
many cores share it. Usage: info_vs_lscpu.py PATH_TO_USINE
"""
import json
import re
import subprocess
import sys

UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def lscpu_fields():
    out = subprocess.run(["lscpu", "-J"], capture_output=True, text=True, check=True).stdout
    return {f["field"].rstrip(":"): f["data"] for f in json.loads(out)["lscpu"]}


def per_instance(text):
    """'64 KiB (2 instances)' -> 32768."""
    m = re.match(r"([\d.]+)\s*(B|KiB|MiB|GiB)(?:\s*\((\d+) instances?\))?", text)
    if not m:
        return None
    total = float(m.group(1)) * UNITS[m.group(2)]
    return int(round(total / int(m.group(3) or 1)))


def main():
    info = json.loads(subprocess.run([sys.argv[1], "info", "--json"], capture_output=True,
                                     text=True, check=True).stdout)["machine"]
    ls = lscpu_fields()
    failures = []
    cores = int(ls["Core(s) per socket"]) * int(ls["Socket(s)"])
    if info["cores"] != cores:
        failures.append(f"cores: usine {info['cores']}, lscpu {cores}")
    for level, field in (("l1d", "L1d cache"), ("l2", "L2 cache"), ("l3", "L3 cache")):
        if field not in ls:
            print(f"lscpu shows no {field}: not compared")
            continue
        want = per_instance(ls[field])
        got = info[level]["size_bytes"]
        print(f"{level}: usine {got} B, lscpu {want} B per instance")
        if want is None or got != want:
            failures.append(f"{level}: usine {got}, lscpu {ls[field]}")
    for f in failures:
        print("FAIL", f)
    print("usine info agrees with lscpu" if not failures else "usine info disagrees with lscpu")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
