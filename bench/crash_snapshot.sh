#!/bin/bash
# Crash consistency of `snapshot -c`, qemu-img against qimg: each trial
# copies an image with many allocated clusters, starts `snapshot -c`, kills
# it with SIGKILL after a random delay (up to the time an uninterrupted run
# takes), and classifies what `qemu-img check` says about the result:
# corrupt (exit 2), leaks only (3), clean (0). Trials in which the command
# had already finished are counted apart.
#
# Usage: bench/crash_snapshot.sh [TRIALS] [QIMG]   (defaults: 100, target/release/qimg)
set -u
trials=${1:-100}
qimg=$(realpath "${2:-target/release/qimg}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# 1 GiB with 4 KiB clusters, every cluster allocated (preallocation=metadata):
# 262144 data clusters, 512 L2 tables and 128 refcount blocks to update,
# every COPIED flag to clear.
qemu-img create -q -f qcow2 -o preallocation=metadata,cluster_size=4k template.qcow2 1G

# Microseconds an uninterrupted run of `$@ snapshot -c new IMAGE` takes.
duration() {
    cp --sparse=always template.qcow2 t.qcow2
    sync
    local start end
    start=$(date +%s%N)
    "$@" snapshot -c new t.qcow2
    end=$(date +%s%N)
    echo $(((end - start) / 1000))
}

trial() {
    local max=$1; shift
    cp --sparse=always template.qcow2 t.qcow2
    sync
    "$@" snapshot -c new t.qcow2 &
    local pid=$!
    local delay=$((RANDOM * 32768 + RANDOM))
    sleep "$(printf '0.%06d' $((delay % max)))"
    if kill -9 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null
        qemu-img check t.qcow2 >/dev/null 2>&1
        echo $?
    else
        wait "$pid"
        echo finished
    fi
}

run() {
    local name=$1; shift
    local max
    max=$(duration "$@")
    ((max > 999999)) && max=999999
    local corrupt=0 leaks=0 clean=0 finished=0 other=0
    for ((i = 0; i < trials; i++)); do
        case $(trial "$max" "$@") in
            2) corrupt=$((corrupt + 1)) ;;
            3) leaks=$((leaks + 1)) ;;
            0) clean=$((clean + 1)) ;;
            finished) finished=$((finished + 1)) ;;
            *) other=$((other + 1)) ;;
        esac
    done
    local killed=$((trials - finished))
    printf '%-9s run %6d us; %d trials, %d killed mid-run: %d corrupt, %d leaks only, %d clean (%d check errors); %d finished first\n' \
        "$name" "$max" "$trials" "$killed" "$corrupt" "$leaks" "$clean" "$other" "$finished"
}

run qemu-img qemu-img
run qimg "$qimg"
