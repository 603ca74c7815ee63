#!/usr/bin/env bash
# qimg vs qemu-img benchmark. See bench/README.md.
#
# Environment (all optional):
#   QIMG_BENCH_SIZE     virtual size of the inputs (default 4G; K/M/G/T suffixes, binary)
#   QIMG_BENCH_DIR      scratch directory (default /tmp/qimg-bench)
#   QIMG_BENCH_RUNS     hyperfine runs per command (default 3)
#   QIMG_BENCH_WARMUP   hyperfine warmup runs per command (default 1)
#   QIMG_BENCH_FAST_RUNS  minimum runs for map and compare (default 20, after 3 warmups)
#   QIMG_BENCH_SEED     seed of the input generator (default 20250704)
#   QIMG_BENCH_OPS      comma-separated subset of operations (default: all; see list_ops)
#   QIMG_BENCH_RESULTS  where latest.{md,csv,json} go (default bench/results)
#   QIMG_BENCH_BUILD    1 (default) builds qimg with `cargo build --release`; 0 skips
#   QIMG_BENCH_CLEAN    1 removes the scratch directory (inputs too) at the end
#   QIMG_BENCH_STRICT   1 makes the exit status 1 when any target is missed
#   QIMG_BENCH_WAIT_IDLE  wait up to this many seconds for a quiet machine (default 0)
#   QIMG_BENCH_TIMEOUT  seconds after which one run is killed (default: 20x qemu-img's time + 60)
#   QIMG                qimg binary (default ${CARGO_TARGET_DIR:-<repo>/target}/release/qimg;
#                       setting it skips the build)
#   QEMU_IMG, QEMU_IO   reference tools (default qemu-img, qemu-io from PATH)
#
# Exit status: 0 the suite ran and every qimg output was correct; 1 a target was
# missed (only with QIMG_BENCH_STRICT=1); 2 a qimg output was wrong or qimg
# failed; 3 setup error (tools, disk space, build, inputs).
set -uo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH")
SIZE_SPEC=${QIMG_BENCH_SIZE:-4G}
WORK=${QIMG_BENCH_DIR:-/tmp/qimg-bench}
RUNS=${QIMG_BENCH_RUNS:-3}
WARMUP=${QIMG_BENCH_WARMUP:-1}
SEED=${QIMG_BENCH_SEED:-20250704}
OPS=${QIMG_BENCH_OPS:-all}
RESULTS=${QIMG_BENCH_RESULTS:-$BENCH/results}
QEMU_IMG=${QEMU_IMG:-qemu-img}
QEMU_IO=${QEMU_IO:-qemu-io}
AS_LIMIT=1073741824

die() { echo "bench: error: $*" >&2; exit 3; }
say() { echo "bench: $*" >&2; }

ALL_OPS=(convert_qcow2_raw convert_raw_qcow2 convert_raw_qcow2_zlib convert_raw_qcow2_zstd
         convert_qcow2_qcow2 map_human map_json compare)
list_ops() { printf '%s\n' "${ALL_OPS[@]}"; }
[[ ${1:-} == --list ]] && { list_ops; exit 0; }
[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0; }

# ---------------------------------------------------------------- size
parse_size() {
    local s=$1 n u
    [[ $s =~ ^([0-9]+)([KkMmGgTt]?)(i?[Bb])?$ ]] || die "bad size '$s' (use e.g. 512M, 4G)"
    n=${BASH_REMATCH[1]}; u=${BASH_REMATCH[2]^^}
    case $u in K) n=$((n << 10));; M) n=$((n << 20));; G) n=$((n << 30));; T) n=$((n << 40));; esac
    echo "$n"
}
SIZE=$(parse_size "$SIZE_SPEC") || exit 3
(( SIZE >= 4 << 20 && SIZE % (1 << 20) == 0 )) || die "QIMG_BENCH_SIZE must be a multiple of 1 MiB and at least 4M"

# ---------------------------------------------------------------- tools
need_tool() { # command, Debian package
    command -v "$1" >/dev/null 2>&1 && return 0
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        say "$1 missing: apt-get install -y $2"
        apt-get install -y -qq "$2" >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$2" >/dev/null 2>&1; }
    fi
    command -v "$1" >/dev/null 2>&1 || die "$1 not found (install the Debian package '$2')"
}
need_tool hyperfine hyperfine
need_tool /usr/bin/time time
need_tool prlimit util-linux
need_tool python3 python3
command -v "$QEMU_IMG" >/dev/null || die "qemu-img not found (QEMU_IMG=$QEMU_IMG; Debian package qemu-utils)"
command -v "$QEMU_IO" >/dev/null || die "qemu-io not found (QEMU_IO=$QEMU_IO; Debian package qemu-utils)"
QEMU_IMG=$(command -v "$QEMU_IMG"); QEMU_IO=$(command -v "$QEMU_IO")

# ---------------------------------------------------------------- qimg
BUILT=0
if [[ -z ${QIMG:-} ]]; then
    QIMG=${CARGO_TARGET_DIR:-$REPO/target}/release/qimg
    if [[ ${QIMG_BENCH_BUILD:-1} == 1 ]]; then
        say "building qimg: (cd $REPO && cargo build --release)"
        (cd "$REPO" && cargo build --release) >&2 || die "cargo build --release failed"
        BUILT=1
    fi
fi
[[ $QIMG == */* ]] || QIMG=$(command -v "$QIMG" || echo "$QIMG")
[[ -x $QIMG ]] || die "qimg binary not found at $QIMG (build it, or set QIMG)"
QIMG=$(cd "$(dirname "$QIMG")" && pwd)/$(basename "$QIMG")

# ---------------------------------------------------------------- scratch space
IN=$WORK/inputs/$((SIZE >> 20))M-seed$SEED
OUTDIR=$WORK/out
RES=$WORK/results
mkdir -p "$IN" "$OUTDIR" || die "cannot create $WORK"
[[ $WORK != *[[:space:]]* ]] || die "QIMG_BENCH_DIR must not contain spaces"
rm -rf "$OUTDIR"/* "$RES"
mkdir -p "$RES"
cleanup_outputs() { rm -f "$OUTDIR"/* 2>/dev/null; }
trap cleanup_outputs EXIT
trap 'cleanup_outputs; exit 130' INT TERM

STAMP="gen=1 size=$SIZE seed=$SEED qemu=$("$QEMU_IMG" --version | head -1)"
have_inputs() {
    [[ -f $IN/stamp && $(cat "$IN/stamp") == "$STAMP" && -f $IN/src.raw && -f $IN/src.qcow2 && -f $IN/layout.json ]]
}
alloc_bytes() { local b=0 f; for f in "$@"; do [[ -e $f ]] && b=$((b + $(stat -c '%b*%B' "$f"))); done; echo "$b"; }

# Disk: inputs (raw 3/4 of the size allocated, qcow2 1/2) + the largest output
# pair alive at once (qimg's output kept for checking while qemu-img writes
# its own: up to one size) + headroom = about 3x the virtual size.
NEED=$((3 * SIZE))
have_inputs && NEED=$((NEED - $(alloc_bytes "$IN/src.raw" "$IN/src.qcow2")))
AVAIL=$(( $(df -P -B1 "$WORK" | awk 'NR==2 {print $4}') ))
if (( AVAIL < NEED )); then
    die "not enough free space in $WORK: $((AVAIL >> 20)) MiB free, $((NEED >> 20)) MiB needed for QIMG_BENCH_SIZE=$SIZE_SPEC (set QIMG_BENCH_DIR elsewhere, or use a smaller QIMG_BENCH_SIZE)"
fi

# ---------------------------------------------------------------- inputs
build_inputs() {
    say "building inputs in $IN (size $SIZE_SPEC, seed $SEED)"
    rm -rf "$IN" && mkdir -p "$IN" || return 1
    python3 "$BENCH/gen_input.py" layout --size "$SIZE" --seed "$SEED" --out "$IN/layout.json" >&2 || return 1
    python3 "$BENCH/gen_input.py" raw --layout "$IN/layout.json" --out "$IN/src.raw" || return 1
    "$QEMU_IMG" convert -f raw -O qcow2 "$IN/src.raw" "$IN/src.qcow2.tmp" || return 1
    python3 "$BENCH/gen_input.py" qemu-io --layout "$IN/layout.json" > "$IN/zero.qemu-io"
    "$QEMU_IO" -f qcow2 "$IN/src.qcow2.tmp" < "$IN/zero.qemu-io" > "$IN/qemu-io.log" 2>&1 || return 1
    ! grep -qiE 'error|failed' "$IN/qemu-io.log" || { say "qemu-io reported errors, see $IN/qemu-io.log"; return 1; }
    "$QEMU_IMG" check -q -f qcow2 "$IN/src.qcow2.tmp" || return 1
    "$QEMU_IMG" map -f qcow2 --output=json "$IN/src.qcow2.tmp" > "$IN/map.qcow2.json" || return 1
    python3 "$BENCH/gen_input.py" check --layout "$IN/layout.json" --map "$IN/map.qcow2.json" --format qcow2 >&2 || return 1
    "$QEMU_IMG" map -f raw --output=json "$IN/src.raw" > "$IN/map.raw.json" || return 1
    python3 "$BENCH/gen_input.py" check --layout "$IN/layout.json" --map "$IN/map.raw.json" --format raw >&2 \
        || say "warning: the file system does not report the raw source's holes as planned"
    "$QEMU_IMG" compare -q -f qcow2 -F raw "$IN/src.qcow2.tmp" "$IN/src.raw" || return 1
    mv "$IN/src.qcow2.tmp" "$IN/src.qcow2"
    echo "$STAMP" > "$IN/stamp"
}
if have_inputs; then
    say "reusing inputs in $IN ($STAMP)"
else
    build_inputs || die "building the inputs failed"
fi
SRC_RAW=$IN/src.raw
SRC_QCOW2=$IN/src.qcow2
warm_cache() { cat "$SRC_RAW" "$SRC_QCOW2" > /dev/null; }

# ---------------------------------------------------------------- one operation
selected() { [[ $OPS == all || ,$OPS, == *,$1,* ]]; }
q() { printf '%q ' "$@"; }
kv() { printf '%s=%s\n' "$2" "$3" >> "$1"; }

# bench_op NAME LABEL TARGET KIND REF_FMT REF OUT_FMT -- QIMG_ARGS... -- QEMU_ARGS...
#   KIND convert: @OUT@ in the arguments is the output file; checked with
#                 qemu-img compare against REF (and qemu-img check for qcow2).
#   KIND stdout:  qimg's stdout and exit status must equal qemu-img's.
#   TARGET: max ratio of wall times (e.g. 0.8), "<1" for strictly faster, or "-".
bench_op() {
    local name=$1 label=$2 target=$3 kind=$4 ref_fmt=$5 ref=$6 out_fmt=$7; shift 7
    selected "$name" || return 0
    [[ $1 == -- ]] && shift
    local -a qa=() ea=()
    while [[ $1 != -- ]]; do qa+=("$1"); shift; done; shift
    ea=("$@")
    local d=$RES/$name qout=$OUTDIR/qimg.$name eout=$OUTDIR/qemu.$name
    mkdir -p "$d"
    qa=("${qa[@]//@OUT@/$qout}"); ea=("${ea[@]//@OUT@/$eout}")
    local qcmd ecmd
    qcmd="$(q "$QIMG" "${qa[@]}")"; ecmd="$(q "$QEMU_IMG" "${ea[@]}")"
    kv "$d/meta" label "$label"; kv "$d/meta" target "$target"; kv "$d/meta" kind "$kind"
    echo "$qcmd" > "$d/cmd.qimg"; echo "$ecmd" > "$d/cmd.qemu"
    say "== $label"
    say "   qimg:     $qcmd"
    say "   qemu-img: $ecmd"
    warm_cache
    rm -f "$qout" "$eout"

    # 1. qemu-img once: its status, output size and stdout, and its time,
    #    which sets the time limit of every later run (a hung qimg is killed
    #    and reported instead of stalling the suite).
    local rc estatus=ok
    /usr/bin/time -v -o "$d/qemu.time" "$QEMU_IMG" "${ea[@]}" > "$d/qemu.stdout" 2> "$d/qemu.stderr"; rc=$?
    echo "$rc" > "$d/qemu.rc"
    if [[ $kind == convert ]]; then
        (( rc == 0 )) || estatus=error
        kv "$d/meta" qemu_out_bytes "$(alloc_bytes "$eout")"
    elif (( rc != 0 && rc != 1 )); then
        estatus=error  # compare exits 1 for "different", which is not an error
    fi
    [[ $estatus == ok ]] || say "   qemu-img failed (exit $rc): $(head -c 300 "$d/qemu.stderr")"
    kv "$d/meta" qemu_status "$estatus"
    rm -f "$eout"
    local limit=${QIMG_BENCH_TIMEOUT:-}
    if [[ -z $limit ]]; then
        limit=$(awk -F': ' '/Elapsed/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print int(s * 20) + 60}' "$d/qemu.time")
        [[ -n $limit ]] || limit=3600
    fi
    kv "$d/meta" timeout_s "$limit"
    local -a tq=(timeout -k 10 "$limit")

    # 2. qimg once: its output is checked.
    local qstatus=ok
    /usr/bin/time -v -o "$d/qimg.time" "${tq[@]}" "$QIMG" "${qa[@]}" > "$d/qimg.stdout" 2> "$d/qimg.stderr"; rc=$?
    echo "$rc" > "$d/qimg.rc"
    if (( rc == 124 || rc == 137 )); then
        qstatus=timeout
        say "   qimg: killed after ${limit}s (qemu-img took $(sed -n 's/.*Elapsed.*: //p' "$d/qemu.time"))"
    elif (( rc != 0 )) && [[ ! ($kind == stdout && $rc == 1 && ! -s $d/qimg.stderr) ]]; then
        if grep -qE 'does not implement|does not support' "$d/qimg.stderr"; then qstatus=not-implemented
        else qstatus=error; fi
        say "   qimg: $qstatus (exit $rc): $(head -c 300 "$d/qimg.stderr")"
    fi
    kv "$d/meta" qimg_status "$qstatus"

    # 3. check qimg's output.
    local verify=n/a
    if [[ $qstatus == ok && $kind == convert ]]; then
        kv "$d/meta" qimg_out_bytes "$(alloc_bytes "$qout")"
        if "$QEMU_IMG" compare -f "$out_fmt" -F "$ref_fmt" "$qout" "$ref" > "$d/verify.log" 2>&1; then
            verify=pass
        else
            verify=fail
        fi
        if [[ $out_fmt == qcow2 ]] && ! "$QEMU_IMG" check -f qcow2 "$qout" >> "$d/verify.log" 2>&1; then
            verify=fail
        fi
    elif [[ $qstatus == ok && $kind == stdout ]]; then
        if cmp -s "$d/qimg.stdout" "$d/qemu.stdout" && [[ $(cat "$d/qimg.rc") == $(cat "$d/qemu.rc") ]]; then
            verify=pass
        else
            verify=fail
            { echo "exit: qimg $(cat "$d/qimg.rc"), qemu-img $(cat "$d/qemu.rc")"
              diff "$d/qemu.stdout" "$d/qimg.stdout" | head -20; } > "$d/verify.log"
        fi
    fi
    rm -f "$qout"
    kv "$d/meta" verify "$verify"
    [[ $verify == fail ]] && say "   qimg output WRONG: $(head -c 600 "$d/verify.log")"

    # 4. wall time with a warm page cache; every run (warmups too) under
    #    /usr/bin/time -v, appending to *.runs.time, for CPU time and peak RSS.
    #    Conversions: the outputs are removed and dirty pages written back
    #    (sync) before each run, outside the timing, and the runs alternate
    #    between the tools (RUNS rounds of one hyperfine run each, the order
    #    flipping every round; warmups in the first round), so that a change
    #    in machine load hits both alike. A failed round is retried once.
    #    map and compare take milliseconds: one hyperfine call, 3+ warmups,
    #    at least QIMG_BENCH_FAST_RUNS runs.
    local warm=$WARMUP fast_runs=${QIMG_BENCH_FAST_RUNS:-20}
    (( fast_runs < RUNS )) && fast_runs=$RUNS
    [[ $kind != convert ]] && (( warm < 3 )) && warm=3
    kv "$d/meta" warmup "$warm"
    local -a named=()
    [[ $qstatus == ok ]] && named+=(-n qimg "/usr/bin/time -v -a -o $d/qimg.runs.time ${tq[*]} $qcmd")
    [[ $estatus == ok ]] && named+=(-n qemu-img "/usr/bin/time -v -a -o $d/qemu.runs.time ${tq[*]} $ecmd")
    if (( ${#named[@]} > 0 )); then
        warm_cache
        kv "$d/meta" load_before "$(cut -d' ' -f1 /proc/loadavg)"
        local r ok=1 w try
        : > "$d/hyperfine.log"
        if [[ $kind == convert ]]; then
            for ((r = 1; r <= RUNS && ok; r++)); do
                w=0; (( r == 1 )) && w=$warm
                local -a order=("${named[@]}")
                (( r % 2 == 0 && ${#named[@]} == 6 )) && order=("${named[@]:3:3}" "${named[@]:0:3}")
                for try in 1 2; do
                    hyperfine --style basic --export-json "$d/hyperfine.r$r.json" --warmup "$w" --runs 1 \
                        --prepare "rm -f $qout $eout; sync" --cleanup "rm -f $qout $eout" \
                        "${order[@]}" >> "$d/hyperfine.log" 2>&1 && break
                    rm -f "$d/hyperfine.r$r.json"
                    say "   round $r failed$( ((try == 1)) && echo ', retrying'): $(grep -m1 '^Error' "$d/hyperfine.log")"
                    kv "$d/meta" failed_rounds "$r"
                    (( try == 2 )) && ok=0
                done
            done
        else
            # CPU time and peak RSS from the wrapped runs; the wall time from
            # bare runs (no shell, no /usr/bin/time or timeout process around
            # the tool: together they add about 1 ms to every run, a third
            # of a 3 ms map, which would pull every ratio towards 1). The
            # check run above already showed that neither tool hangs.
            hyperfine --style basic --export-json "$d/cpu.json" --warmup "$warm" --runs "$fast_runs" \
                --prepare sync "${named[@]}" >> "$d/hyperfine.log" 2>&1 || ok=0
            local -a bare=()
            [[ $qstatus == ok ]] && bare+=(-n qimg "$qcmd")
            [[ $estatus == ok ]] && bare+=(-n qemu-img "$ecmd")
            hyperfine -N --style basic --export-json "$d/hyperfine.r1.json" --warmup "$warm" --min-runs "$fast_runs" \
                "${bare[@]}" >> "$d/hyperfine.log" 2>&1 || ok=0
        fi
        if (( ! ok )); then
            kv "$d/meta" hyperfine "failed"
            say "   hyperfine failed: $(tail -c 300 "$d/hyperfine.log")"
        fi
        kv "$d/meta" load_after "$(cut -d' ' -f1 /proc/loadavg)"
        python3 "$BENCH/report.py" --brief "$d" >&2 || true
    fi
    rm -f "$qout" "$eout"

    # 5. the 1 GiB address-space limit, for qimg's conversions at default settings.
    local as=n/a
    if [[ $qstatus == ok && $kind == convert ]]; then
        if prlimit --as=$AS_LIMIT -- "${tq[@]}" "$QIMG" "${qa[@]}" > "$d/prlimit.log" 2>&1 \
            && "$QEMU_IMG" compare -q -f "$out_fmt" -F "$ref_fmt" "$qout" "$ref" >> "$d/prlimit.log" 2>&1; then
            as=pass
        else
            as=fail
            say "   qimg failed under prlimit --as=$AS_LIMIT: $(tail -c 300 "$d/prlimit.log")"
        fi
        rm -f "$qout"
    fi
    kv "$d/meta" prlimit "$as"
    echo "$name" >> "$RES/ops"
}

# ---------------------------------------------------------------- the suite
# Other processes skew every number: wait (up to QIMG_BENCH_WAIT_IDLE seconds,
# default 0) for the 1-minute load average to drop under 0.5, and record it.
wait_idle=${QIMG_BENCH_WAIT_IDLE:-0}
while (( wait_idle > 0 )) && awk '{exit !($1 >= 0.5)}' /proc/loadavg; do sleep 10; wait_idle=$((wait_idle - 10)); done
if awk -v n="$(nproc)" '{exit !($1 >= n / 4)}' /proc/loadavg; then
    say "warning: the machine is busy (load average $(cut -d' ' -f1-3 /proc/loadavg)): timings will be noisy"
fi
START=$(date +%s)
{
    kv "$RES/env" load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
    kv "$RES/env" date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    kv "$RES/env" size "$SIZE"
    kv "$RES/env" size_spec "$SIZE_SPEC"
    kv "$RES/env" seed "$SEED"
    kv "$RES/env" runs "$RUNS"
    kv "$RES/env" warmup "$WARMUP"
    kv "$RES/env" fast_runs "${QIMG_BENCH_FAST_RUNS:-20}"
    kv "$RES/env" qimg "$QIMG"
    kv "$RES/env" qimg_rev "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD -- runtime cli formats 2>/dev/null || echo +dirty)"
    kv "$RES/env" qimg_build "$(if [[ $BUILT == 1 ]]; then echo "built by this run"; else echo "binary $QIMG, $(date -r "$QIMG" +'built %Y-%m-%d %H:%M')"; fi)"
    kv "$RES/env" qemu_img "$("$QEMU_IMG" --version | head -1)"
    kv "$RES/env" cpus "$(nproc)"
    kv "$RES/env" cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    kv "$RES/env" mem "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    kv "$RES/env" kernel "$(uname -r)"
    kv "$RES/env" fs "$(df -PT "$WORK" | awk 'NR==2 {print $2}')"
    kv "$RES/env" hyperfine "$(hyperfine --version)"
    cp "$IN/layout.json" "$RES/layout.json"
}

bench_op convert_qcow2_raw "convert qcow2→raw" 0.8 convert qcow2 "$SRC_QCOW2" raw \
    -- convert -f qcow2 -O raw "$SRC_QCOW2" @OUT@ \
    -- convert -f qcow2 -O raw "$SRC_QCOW2" @OUT@
bench_op convert_raw_qcow2 "convert raw→qcow2" 0.8 convert raw "$SRC_RAW" qcow2 \
    -- convert -f raw -O qcow2 "$SRC_RAW" @OUT@ \
    -- convert -f raw -O qcow2 "$SRC_RAW" @OUT@
bench_op convert_raw_qcow2_zlib "convert raw→qcow2 -c (zlib)" 0.4 convert raw "$SRC_RAW" qcow2 \
    -- convert -c -f raw -O qcow2 "$SRC_RAW" @OUT@ \
    -- convert -c -f raw -O qcow2 "$SRC_RAW" @OUT@
bench_op convert_raw_qcow2_zstd "convert raw→qcow2 -c zstd (qemu-img -m 16 -W)" "<1" convert raw "$SRC_RAW" qcow2 \
    -- convert -c -o compression_type=zstd -f raw -O qcow2 "$SRC_RAW" @OUT@ \
    -- convert -m 16 -W -c -o compression_type=zstd -f raw -O qcow2 "$SRC_RAW" @OUT@
bench_op convert_qcow2_qcow2 "convert qcow2→qcow2" - convert qcow2 "$SRC_QCOW2" qcow2 \
    -- convert -f qcow2 -O qcow2 "$SRC_QCOW2" @OUT@ \
    -- convert -f qcow2 -O qcow2 "$SRC_QCOW2" @OUT@
bench_op map_human "map (human)" 0.5 stdout - - - \
    -- map -f qcow2 "$SRC_QCOW2" \
    -- map -f qcow2 "$SRC_QCOW2"
bench_op map_json "map --output=json" 0.5 stdout - - - \
    -- map -f qcow2 --output=json "$SRC_QCOW2" \
    -- map -f qcow2 --output=json "$SRC_QCOW2"
bench_op compare "compare qcow2 vs raw" 0.5 stdout - - - \
    -- compare -f qcow2 -F raw "$SRC_QCOW2" "$SRC_RAW" \
    -- compare -f qcow2 -F raw "$SRC_QCOW2" "$SRC_RAW"

kv "$RES/env" duration_s "$(( $(date +%s) - START ))"
kv "$RES/env" load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
[[ -s $RES/ops ]] || die "no operation selected (QIMG_BENCH_OPS=$OPS; choose from: ${ALL_OPS[*]})"
mkdir -p "$RESULTS"
python3 "$BENCH/report.py" "$RES" "$RESULTS"
status=$?
cleanup_outputs
if [[ ${QIMG_BENCH_CLEAN:-0} == 1 ]]; then
    say "removing $WORK"
    rm -rf "$WORK"
fi
if (( status == 2 )); then exit 2; fi
if (( status == 1 )) && [[ ${QIMG_BENCH_STRICT:-0} == 1 ]]; then exit 1; fi
exit 0
