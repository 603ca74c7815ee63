#!/usr/bin/env python3
"""Turns the raw measurements of bench/run.sh into the results table.

usage: report.py RAW_DIR RESULTS_DIR

RAW_DIR holds `env`, `ops` and one directory per operation (meta, *.time from
/usr/bin/time -v, hyperfine.json, verify.log, ...). Writes latest.md,
latest.csv and latest.json into RESULTS_DIR and prints the markdown.
Exit status: 2 if qimg failed or produced a wrong output, 1 if a target was
missed, 0 otherwise ("not implemented" is neither).
"""

import csv
import glob
import json
import statistics
import os
import re
import sys


def read_kv(path):
    out = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    out[k] = v
    return out


def read_time(path):
    """Parses GNU time -v output: user+sys seconds, peak RSS (KiB), elapsed seconds."""
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as f:
        return parse_time(f.read())


def parse_time(text):
    """Parses one GNU time -v record."""

    def num(label):
        m = re.search(re.escape(label) + r":\s*([0-9.]+)", text)
        return float(m.group(1)) if m else None

    user, sys_ = num("User time (seconds)"), num("System time (seconds)")
    rss = num("Maximum resident set size (kbytes)")
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\):\s*([0-9:.]+)", text)
    elapsed = None
    if m:
        elapsed = 0.0
        for part in m.group(1).split(":"):
            elapsed = elapsed * 60 + float(part)
    return {
        "user_s": user,
        "sys_s": sys_,
        "cpu_s": (user or 0) + (sys_ or 0) if user is not None else None,
        "peak_rss_kib": int(rss) if rss is not None else None,
        "elapsed_s": elapsed,
    }


def read_time_runs(path, skip):
    """Parses a file that /usr/bin/time -v -a appended one record per run to;
    drops the first `skip` records (hyperfine's warmup runs). A record starts
    with "Command being timed", or with the "Command exited with non-zero
    status N" / "Command terminated by signal N" line GNU time puts first."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    chunks, cur = [], None
    for line in lines:
        status_line = line.startswith("Command exited") or line.startswith("Command terminated")
        timed = line.strip().startswith("Command being timed:")
        if status_line or (timed and (cur is None or any(l.strip().startswith("Command being timed:") for l in cur))):
            cur = []
            chunks.append(cur)
        if cur is not None:
            cur.append(line)
    records = []
    for c in chunks:
        rec = parse_time("\n".join(c))
        m = re.search(r"Command (exited with non-zero status|terminated by signal) (\d+)", "\n".join(c))
        rec["failure"] = f"{'exit' if 'exited' in m.group(1) else 'signal'} {m.group(2)}" if m else None
        records.append(rec)
    return records[skip:]


def summarise_runs(runs):
    runs = [r for r in runs if r and r["cpu_s"] is not None and not r.get("failure")]
    if not runs:
        return None
    return {
        "cpu_s": sum(r["cpu_s"] for r in runs) / len(runs),
        "user_s": sum(r["user_s"] for r in runs) / len(runs),
        "sys_s": sum(r["sys_s"] for r in runs) / len(runs),
        "peak_rss_kib": max(r["peak_rss_kib"] or 0 for r in runs),
        "runs": len(runs),
        "per_run": runs,
    }


def read_hyperfine(d):
    """Merges the runs of every hyperfine*.json in `d` per command name."""
    times, user, system = {}, {}, {}
    for f in sorted(glob.glob(os.path.join(d, "hyperfine*.json"))):
        with open(f) as fh:
            data = json.load(fh)
        for r in data.get("results", []):
            name = r.get("command")
            times.setdefault(name, []).extend(r.get("times") or [r.get("mean")])
            n = len(r.get("times") or [1])
            user.setdefault(name, []).extend([r.get("user") or 0] * n)
            system.setdefault(name, []).extend([r.get("system") or 0] * n)
    out = {}
    for name, t in times.items():
        out[name] = {
            "median_s": statistics.median(t),
            "mean_s": statistics.fmean(t),
            "stddev_s": statistics.stdev(t) if len(t) > 1 else None,
            "min_s": min(t),
            "max_s": max(t),
            "runs": len(t),
            "times_s": t,
        }
    return out


def fmt_s(x, lo=None, hi=None):
    """A median, with the range of the runs in brackets."""
    if x is None:
        return "—"
    if hi is not None and hi < 1:
        s = f"{x * 1000:.1f} ms"
        if lo is not None:
            s += f" ({lo * 1000:.1f}–{hi * 1000:.1f})"
        return s
    s = f"{x:.3f} s" if x < 10 else f"{x:.2f} s"
    if lo is not None:
        s += f" ({lo:.2f}–{hi:.2f})"
    return s


def fmt_cpu(x):
    if x is None:
        return "—"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def fmt_rss(kib):
    return "—" if kib is None else f"{kib / 1024:.1f} MiB"


def fmt_bytes(b):
    if b in (None, ""):
        return "—"
    return f"{int(b) / 2**20:.1f} MiB"


def target_text(t):
    if t == "-":
        return "—"
    if t.startswith("<"):
        return f"< {t[1:]}×"
    return f"≤ {t}×"


def meets(ratio, t):
    if t == "-" or ratio is None:
        return None
    if t.startswith("<"):
        return ratio < float(t[1:])
    return ratio <= float(t)


def analyse(raw, name, env):
    d = os.path.join(raw, name)
    meta = read_kv(os.path.join(d, "meta"))
    hf = read_hyperfine(d)
    skip = int(meta.get("warmup", env.get("warmup", "0")) or 0)
    # CPU and RSS of the timed runs; the single check run is the fallback.
    qruns = read_time_runs(os.path.join(d, "qimg.runs.time"), 0)
    eruns = read_time_runs(os.path.join(d, "qemu.runs.time"), 0)
    qt = summarise_runs(qruns[skip:]) or read_time(os.path.join(d, "qimg.time"))
    et = summarise_runs(eruns[skip:]) or read_time(os.path.join(d, "qemu.time"))
    qfail = [r["failure"] for r in qruns if r.get("failure")]
    efail = [r["failure"] for r in eruns if r.get("failure")]
    qh, eh = hf.get("qimg"), hf.get("qemu-img")
    r = {
        "op": name,
        "label": meta.get("label", name),
        "kind": meta.get("kind"),
        "target": meta.get("target", "-"),
        "qimg_status": meta.get("qimg_status", "error"),
        "qemu_status": meta.get("qemu_status", "error"),
        "qimg_wall_s": qh and qh["median_s"],
        "qimg_wall_min": qh and qh["min_s"],
        "qimg_wall_max": qh and qh["max_s"],
        "qimg_wall_mean": qh and qh["mean_s"],
        "qimg_wall_sd": qh and qh["stddev_s"],
        "qemu_wall_s": eh and eh["median_s"],
        "qemu_wall_min": eh and eh["min_s"],
        "qemu_wall_max": eh and eh["max_s"],
        "qemu_wall_mean": eh and eh["mean_s"],
        "qemu_wall_sd": eh and eh["stddev_s"],
        "wall_runs": (qh or eh or {}).get("runs"),
        "qimg_cpu_s": qt and qt["cpu_s"] if meta.get("qimg_status") == "ok" else None,
        "qemu_cpu_s": et and et["cpu_s"],
        "qimg_user_s": qt and qt["user_s"] if meta.get("qimg_status") == "ok" else None,
        "qimg_sys_s": qt and qt["sys_s"] if meta.get("qimg_status") == "ok" else None,
        "qemu_user_s": et and et["user_s"],
        "qemu_sys_s": et and et["sys_s"],
        "qimg_rss_kib": qt and qt["peak_rss_kib"] if meta.get("qimg_status") == "ok" else None,
        "qemu_rss_kib": et and et["peak_rss_kib"],
        "qimg_out_bytes": meta.get("qimg_out_bytes"),
        "qemu_out_bytes": meta.get("qemu_out_bytes"),
        "verify": meta.get("verify", "n/a"),
        "prlimit": meta.get("prlimit", "n/a"),
        "hyperfine": meta.get("hyperfine", "ok"),
        "load_before": meta.get("load_before"),
        "load_after": meta.get("load_after"),
        "qimg_runs": qt and qt.get("per_run"),
        "qemu_runs": et and et.get("per_run"),
        "hyperfine_detail": hf,
    }
    for f in ("cmd.qimg", "cmd.qemu", "verify.log", "qimg.stderr"):
        p = os.path.join(d, f)
        if os.path.exists(p):
            with open(p, encoding="utf-8", errors="replace") as fh:
                r[f.replace(".", "_")] = fh.read()[:2000].strip()
    ratio = None
    if r["qimg_wall_s"] and r["qemu_wall_s"]:
        ratio = r["qimg_wall_s"] / r["qemu_wall_s"]
    r["ratio"] = ratio
    r["qimg_failed_runs"] = qfail
    r["qemu_failed_runs"] = efail
    r["timeout_s"] = meta.get("timeout_s")
    r["wall_ok"] = meets(ratio, r["target"])
    r["rss_ok"] = (r["qimg_rss_kib"] <= r["qemu_rss_kib"]) if r["qimg_rss_kib"] and r["qemu_rss_kib"] else None

    if r["qimg_status"] == "not-implemented":
        r["result"], r["severity"] = "not implemented", 0
    elif r["qimg_status"] == "timeout":
        r["result"], r["severity"] = f"FAIL (qimg hung: killed after {r['timeout_s']} s)", 2
    elif r["qimg_status"] != "ok":
        r["result"], r["severity"] = "FAIL (qimg error)", 2
    elif qfail:
        r["result"], r["severity"] = f"FAIL (qimg runs failed: {', '.join(qfail)})", 2
    elif r["verify"] == "fail":
        r["result"], r["severity"] = "FAIL (wrong output)", 2
    else:
        missed = []
        if r["wall_ok"] is False:
            missed.append("wall")
        if r["rss_ok"] is False:
            missed.append("RSS")
        if r["prlimit"] == "fail":
            missed.append("1 GiB AS")
        if r["qemu_status"] != "ok":
            missed.append("qemu-img failed")
        if r["hyperfine"] != "ok" or r["qimg_wall_s"] is None:
            missed.append("no timing")
        r["result"] = "FAIL (" + ", ".join(missed) + ")" if missed else "PASS"
        r["severity"] = 1 if missed else 0
    return r


def markdown(env, rows):
    size = int(env.get("size", 0))
    out = []
    out.append(f"# qimg vs qemu-img — {size / 2**30:g} GiB image\n")
    out.append(
        f"{env.get('date', '?')} · repo `{env.get('qimg_rev', '?')}` ({env.get('qimg_build', '?')}) · {env.get('qemu_img', 'qemu-img ?')} · "
        f"{env.get('cpus', '?')} CPUs ({env.get('cpu', '?')}), {env.get('mem', '?')} RAM, "
        f"{env.get('fs', '?')} · {env.get('runs')} timed runs per conversion after {env.get('warmup')} warmup (warm page cache) · "
        f"suite took {int(env.get('duration_s', 0)) // 60} min {int(env.get('duration_s', 0)) % 60} s · load average {env.get('load_start', '?')} at start, "
        f"{env.get('load_end', '?')} at end\n"
    )
    cpus = int(env.get("cpus", "1") or 1)
    busy = [r for r in rows if max(float(r["load_before"] or 0), float(r["load_after"] or 0)) >= cpus / 4]
    if busy:
        peak = max(max(float(r["load_before"] or 0), float(r["load_after"] or 0)) for r in busy)
        out.append(f"**Warning: other processes were running** during {len(busy)} of {len(rows)} operations "
                   f"(1-minute load average up to {peak:.1f} on {cpus} CPUs): these timings are noisy.\n")
    out.append("| operation | qimg wall | qemu-img wall | ratio | target | qimg CPU | qemu CPU | "
               "qimg peak RSS | qemu peak RSS | correct | 1 GiB AS | result |")
    out.append("|---|---:|---:|---:|:-:|---:|---:|---:|---:|:-:|:-:|---|")
    for r in rows:
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}×"
        out.append(
            f"| {r['label']} | {fmt_s(r['qimg_wall_s'], r['qimg_wall_min'], r['qimg_wall_max'])} "
            f"| {fmt_s(r['qemu_wall_s'], r['qemu_wall_min'], r['qemu_wall_max'])} "
            f"| {ratio} | {target_text(r['target'])} | {fmt_cpu(r['qimg_cpu_s'])} | {fmt_cpu(r['qemu_cpu_s'])} "
            f"| {fmt_rss(r['qimg_rss_kib'])} | {fmt_rss(r['qemu_rss_kib'])} | {r['verify']} | {r['prlimit']} "
            f"| {r['result']} |"
        )
    out.append("")
    out.append(f"Wall: median (min–max) of the timed runs: {env.get('runs')} per conversion after {env.get('warmup')} "
               f"warmup, alternating qimg and qemu-img; at least {env.get('fast_runs', '20')} after 3 warmups for map "
               f"and compare. CPU (user+sys, mean) and peak RSS (max): "
               "`/usr/bin/time -v` around each of those runs. ratio = qimg wall / qemu-img wall. correct: qimg's output "
               "`qemu-img compare`d with the source (and `qemu-img check`ed for qcow2); for map and compare, "
               "stdout and exit status identical to qemu-img's. 1 GiB AS: the qimg convert run again under "
               "`prlimit --as=1073741824` and its output compared. Every row must also keep qimg's peak RSS "
               "≤ qemu-img's.\n")
    conv = [r for r in rows if r["kind"] == "convert" and (r["qimg_out_bytes"] or r["qemu_out_bytes"])]
    if conv:
        out.append("Output files (allocated on disk):\n")
        out.append("| operation | qimg output | qemu-img output |")
        out.append("|---|---:|---:|")
        for r in conv:
            out.append(f"| {r['label']} | {fmt_bytes(r['qimg_out_bytes'])} | {fmt_bytes(r['qemu_out_bytes'])} |")
        out.append("")
    problems = [r for r in rows if r["severity"] == 2 or r["verify"] == "fail"]
    for r in problems:
        out.append(f"**{r['label']}: {r['result']}**\n")
        out.append("```")
        out.append(r.get("cmd_qimg", ""))
        if r.get("qimg_failed_runs"):
            out.append("runs that failed (from /usr/bin/time): " + ", ".join(r["qimg_failed_runs"])
                       + " — a signal 9/15 after the time limit means the run hung")
        if r.get("qimg_stderr"):
            out.append(r["qimg_stderr"])
        if r.get("verify_log"):
            out.append(r["verify_log"])
        out.append("```\n")
    out.append("Commands:\n")
    for r in rows:
        out.append(f"- {r['label']}: `{strip_paths(r.get('cmd_qimg', ''))}` vs `{strip_paths(r.get('cmd_qemu', ''))}`")
    out.append("")
    return "\n".join(out)


def strip_paths(cmd):
    """Shortens absolute paths to their base names, for the table notes."""
    return re.sub(r"(?<![\w.])/\S*/([^/\s]+)", r"\1", cmd).strip()


CSV_FIELDS = ["op", "label", "target", "qimg_status", "wall_runs", "qimg_wall_s", "qimg_wall_min", "qimg_wall_max",
              "qimg_wall_mean", "qimg_wall_sd", "qemu_wall_s", "qemu_wall_min", "qemu_wall_max", "qemu_wall_mean",
              "qemu_wall_sd",
              "ratio", "qimg_cpu_s", "qemu_cpu_s", "qimg_user_s", "qimg_sys_s", "qemu_user_s", "qemu_sys_s",
              "qimg_rss_kib", "qemu_rss_kib", "qimg_out_bytes", "qemu_out_bytes", "verify", "prlimit",
              "wall_ok", "rss_ok", "result"]


def brief(d):
    """One line per tool for the log while the suite runs."""
    hf = read_hyperfine(d)
    for name in ("qimg", "qemu-img"):
        h = hf.get(name)
        if h:
            print(f"   {name:9} median {fmt_s(h['median_s'], h['min_s'], h['max_s'])} over {h['runs']} runs")
    if hf.get("qimg") and hf.get("qemu-img"):
        print(f"   ratio {hf['qimg']['median_s'] / hf['qemu-img']['median_s']:.2f}")
    return 0


def main():
    if sys.argv[1] == "--brief":
        return brief(sys.argv[2])
    raw, results = sys.argv[1], sys.argv[2]
    env = read_kv(os.path.join(raw, "env"))
    with open(os.path.join(raw, "ops")) as f:
        ops = [l.strip() for l in f if l.strip()]
    rows = [analyse(raw, op, env) for op in ops]
    md = markdown(env, rows)
    os.makedirs(results, exist_ok=True)
    with open(os.path.join(results, "latest.md"), "w") as f:
        f.write(md)
    with open(os.path.join(results, "latest.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    layout = {}
    lp = os.path.join(raw, "layout.json")
    if os.path.exists(lp):
        with open(lp) as f:
            layout = json.load(f)
        layout.pop("extents", None)
    with open(os.path.join(results, "latest.json"), "w") as f:
        json.dump({"env": env, "input_layout": layout, "results": rows}, f, indent=1)
    print(md)
    print(f"(written to {results}/latest.md, latest.csv, latest.json)")
    return max([r["severity"] for r in rows] + [0])


if __name__ == "__main__":
    sys.exit(main())
