#!/usr/bin/env python3
"""Deterministic input generator for the qimg benchmark (standard library only).

Subcommands:

  layout  --size BYTES --seed N --out layout.json
      Plans the guest layout: the image is cut into 64 KiB granules; exactly
      1/2 of them hold random data, 1/4 written zeros, 1/4 stay unallocated.
      Each kind is split into runs of 1..16 granules (uniform), and the list of
      runs of all kinds is shuffled with a seeded PRNG, so extents are
      scattered and of mixed size (64 KiB .. 1 MiB, longer where runs of the
      same kind happen to meet).

  raw     --layout layout.json --out FILE
      Writes the raw source: data runs get bytes from a seeded PRNG
      (random.Random(seed ^ DATA_SALT).randbytes: incompressible), zero runs get
      explicit zero bytes written (so they are allocated in the file and a
      converter has to detect them), unallocated runs are left as holes.

  qemu-io --layout layout.json
      Prints the qemu-io script (one `write -z OFF LEN` per zero extent) that
      turns the zero extents of a qcow2 converted from the raw source into
      qcow2 zero clusters.

  check   --layout layout.json --map map.json --format qcow2|raw
      Checks `qemu-img map --output=json` of a source against the plan and
      prints a summary; exits 1 on mismatch.
"""

import argparse
import json
import os
import random
import sys

GRANULE = 64 * 1024
MAX_RUN = 16
DATA_SALT = 0x5EED_DA7A
GENERATOR_VERSION = 1
CHUNK = 16 << 20


def plan(size, seed):
    if size % (4 * GRANULE):
        sys.exit(f"gen_input: size {size} must be a multiple of {4 * GRANULE}")
    n = size // GRANULE
    quotas = [("data", n // 2), ("zero", n // 4), ("unalloc", n - n // 2 - n // 4)]
    rng = random.Random(seed)
    runs = []
    for kind, quota in quotas:
        left = quota
        while left > 0:
            k = min(rng.randint(1, MAX_RUN), left)
            runs.append((kind, k))
            left -= k
    rng.shuffle(runs)
    extents = []  # merged [kind, offset, length]
    off = 0
    for kind, k in runs:
        length = k * GRANULE
        if extents and extents[-1][0] == kind:
            extents[-1][2] += length
        else:
            extents.append([kind, off, length])
        off += length
    assert off == size
    totals = {kind: sum(e[2] for e in extents if e[0] == kind) for kind, _ in quotas}
    return {
        "generator_version": GENERATOR_VERSION,
        "size": size,
        "seed": seed,
        "granule": GRANULE,
        "max_run": MAX_RUN,
        "totals": totals,
        "extent_counts": {kind: sum(1 for e in extents if e[0] == kind) for kind, _ in quotas},
        "extents": extents,
    }


def write_raw(layout, out):
    size = layout["size"]
    rng = random.Random(layout["seed"] ^ DATA_SALT)
    zeros = bytes(CHUNK)
    tmp = out + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, size)
        for kind, off, length in layout["extents"]:
            if kind == "unalloc":
                continue
            done = 0
            while done < length:
                n = min(CHUNK, length - done)
                buf = rng.randbytes(n) if kind == "data" else zeros[:n]
                os.pwrite(fd, buf, off + done)
                done += n
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, out)


def qemu_io_script(layout):
    return "".join(f"write -z {off} {length}\n" for kind, off, length in layout["extents"] if kind == "zero")


def classify(entry, fmt):
    if entry.get("data"):
        return "data"
    if fmt == "qcow2":
        return "zero" if entry.get("present") else "unalloc"
    return "hole"


def check(layout, map_entries, fmt):
    """Compares the allocation reported by qemu-img map with the plan."""
    got = []
    for e in map_entries:
        kind = classify(e, fmt)
        if got and got[-1][0] == kind and got[-1][1] + got[-1][2] == e["start"]:
            got[-1][2] += e["length"]
        else:
            got.append([kind, e["start"], e["length"]])
    want = []
    for kind, off, length in layout["extents"]:
        if fmt == "raw":
            kind = "data" if kind in ("data", "zero") else "hole"
        if want and want[-1][0] == kind:
            want[-1][2] += length
        else:
            want.append([kind, off, length])
    totals = {}
    for kind, _, length in got:
        totals[kind] = totals.get(kind, 0) + length
    print(f"  {fmt} source map: " + ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in sorted(totals.items()))
          + f" in {len(got)} extents")
    if got != want:
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                print(f"  first difference at extent {i}: map says {g}, plan says {w}")
                break
        else:
            print(f"  extent count differs: map {len(got)}, plan {len(want)}")
        return False
    return True


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("layout")
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("raw")
    p.add_argument("--layout", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("qemu-io")
    p.add_argument("--layout", required=True)
    p = sub.add_parser("check")
    p.add_argument("--layout", required=True)
    p.add_argument("--map", required=True)
    p.add_argument("--format", choices=["qcow2", "raw"], required=True)
    a = ap.parse_args()

    if a.cmd == "layout":
        lay = plan(a.size, a.seed)
        with open(a.out, "w") as f:
            json.dump(lay, f)
        t, c = lay["totals"], lay["extent_counts"]
        print(f"  layout: {a.size / 2**20:.0f} MiB, seed {a.seed}: "
              + ", ".join(f"{k} {t[k] / 2**20:.0f} MiB in {c[k]} extents" for k in t))
        return 0
    with open(a.layout) as f:
        lay = json.load(f)
    if a.cmd == "raw":
        write_raw(lay, a.out)
    elif a.cmd == "qemu-io":
        sys.stdout.write(qemu_io_script(lay))
    elif a.cmd == "check":
        with open(a.map) as f:
            entries = json.load(f)
        return 0 if check(lay, entries, a.format) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
