//! qimg's help screens (`--help`, `COMMAND --help`). qemu-img prints help on stdout
//! and exits 0; the wording here is qimg's own.

/// `qimg --help`.
pub fn global(prog: &str) -> String {
    format!(
        "Usage: {prog} [-h | -V | -T TRACE] COMMAND [COMMAND OPTIONS]

qimg: create, inspect, check and convert virtual disk images.
A drop-in replacement for qemu-img 10.0.2.

Global options:
  -h, --help           show this text
  -V, --version        show the version
  -T, --trace TRACE    accepted for compatibility (qimg has no trace events)

Commands ({prog} COMMAND --help describes each one):
  amend      change format options of an existing image
  bench      measure I/O speed on an image
  bitmap     add, remove, clear, enable, disable or merge dirty bitmaps
  check      verify image metadata and optionally repair it
  commit     write an overlay's data into its backing image
  compare    compare the guest-visible contents of two images
  convert    copy images, changing format, compression or backing
  create     make a new image
  dd         copy a byte range of an image, dd style
  info       describe an image
  map        show where guest data lives in an image file
  measure    compute the file size a new image will need
  rebase     point an overlay at another backing file
  resize     grow or shrink an image
  snapshot   list, create, apply or delete internal snapshots

Sizes take an optional binary suffix: b, k, M, G, T, P or E (k = 1024).
Cache modes: none, writeback, writethrough, directsync, unsafe.
"
    )
}

fn page(prog: &str, cmd: &str, usage: &str, about: &str, options: &str) -> String {
    format!("Usage: {prog} {cmd} {usage}\n\n{about}\n\nOptions:\n{options}")
}

/// `COMMAND --help` for `cmd`.
pub fn command(prog: &str, cmd: &str) -> String {
    let (usage, about, options) = match cmd {
        "amend" => (
            "-o OPTIONS [-f FMT | --image-opts] [-t CACHE] [--force] [-p] [-q] [--object DEF] FILE",
            "Change format options of an existing image (qcow2 and luks).",
            "  -o, --options OPTIONS   options to change (-o help lists them)
  -f, --format FMT        image format (probed when omitted)
      --image-opts        FILE is an option string, not a file name
  -t, --cache MODE        cache mode (default writeback)
      --force             allow operations that may lose data
  -p, --progress          show progress
  -q, --quiet             print nothing but errors
      --object DEF        define an object such as a secret
",
        ),
        "bench" => (
            "[-f FMT | --image-opts] [-t CACHE] [-c COUNT] [-d DEPTH] [-o OFFSET] [-s SIZE] [-S STEP] [-w [--pattern BYTE] [--flush-interval N [--no-drain]]] [-i AIO] [-n] [-U] [-q] FILE",
            "Time a stream of reads (or writes) against an image.",
            "  -f, --format FMT        image format (probed when omitted)
      --image-opts        FILE is an option string, not a file name
  -t, --cache MODE        cache mode (default writeback)
  -c, --count COUNT       number of requests (default 75000)
  -d, --depth DEPTH       requests in flight at once (default 64)
  -o, --offset OFFSET     offset of the first request
  -s, --buffer-size SIZE  bytes per request (default 4k)
  -S, --step-size STEP    distance between requests (default: the buffer size)
  -w, --write             write instead of read
      --pattern BYTE      byte value to write (default 0)
      --flush-interval N  flush after every N requests (write tests only)
      --no-drain          flush without waiting for requests in flight
  -i, --aio AIO           AIO backend: threads, native or io_uring
  -n, --native            use native AIO
  -U, --force-share       open the image without taking locks
  -q, --quiet             accepted; results are always printed
",
        ),
        "bitmap" => (
            "(--add | --remove | --clear | --enable | --disable | --merge SOURCE)... [-g SIZE] [-b SRC_FILE [-F SRC_FMT]] [-f FMT | --image-opts] [--object DEF] FILE BITMAP",
            "Change the persistent dirty bitmap BITMAP of a qcow2 image. Actions run in order.",
            "      --add               create the bitmap (enabled)
  -g, --granularity SIZE  granularity of an added bitmap
      --remove            delete the bitmap
      --clear             mark every cluster clean
      --enable            start recording writes
      --disable           stop recording writes
      --merge SOURCE      add the bits of bitmap SOURCE
  -b, --source-file FILE  take --merge sources from this image
  -F, --source-format FMT format of that image
  -f, --format FMT        image format (probed when omitted)
      --image-opts        FILE is an option string, not a file name
      --object DEF        define an object such as a secret
",
        ),
        "check" => (
            "[-f FMT | --image-opts] [-T CACHE] [-r leaks|all] [-U] [-q] [--output human|json] [--object DEF] FILE",
            "Check image metadata for consistency. Exit status: 0 clean, 1 check failed, 2 corrupt, 3 leaks only, 63 not supported.",
            "  -f, --format FMT        image format (probed when omitted)
      --image-opts        FILE is an option string, not a file name
  -T, --cache MODE        cache mode (default writeback)
  -r, --repair leaks|all  repair leaked clusters only, or everything
  -U, --force-share       open the image without taking locks (not with -r)
  -q, --quiet             print nothing but errors
      --output FMT        human (default) or json
      --object DEF        define an object such as a secret
",
        ),
        "commit" => (
            "[-f FMT | --image-opts] [-t CACHE] [-b BASE] [-d] [-r RATE] [-p] [-q] [--object DEF] FILE",
            "Write the data of overlay FILE into its backing file.",
            "  -f, --format FMT        image format (probed when omitted)
      --image-opts        FILE is an option string, not a file name
  -t, --cache MODE        cache mode (default writeback)
  -b, --base BASE         commit into this image of the chain (implies -d)
  -d, --drop              keep FILE's data instead of emptying it
  -r, --rate RATE         limit I/O to RATE bytes per second
  -p, --progress          show progress
  -q, --quiet             print nothing but errors
      --object DEF        define an object such as a secret
",
        ),
        "compare" => (
            "[-f FMT] [-F FMT] [--image-opts] [-s] [-T CACHE] [-U] [-p] [-q] [--object DEF] FILE1 FILE2",
            "Compare what a guest would read from two images. Exit status: 0 equal, 1 different, 2 or more on errors.",
            "  -f, --a-format FMT      format of FILE1 (probed when omitted)
  -F, --b-format FMT      format of FILE2 (probed when omitted)
      --image-opts        FILE1 and FILE2 are option strings
  -s, --strict            sizes and allocation must match too
  -T, --cache MODE        cache mode (default writeback)
  -U, --force-share       open the images without taking locks
  -p, --progress          show progress
  -q, --quiet             print nothing, report through the exit status
      --object DEF        define an object such as a secret
",
        ),
        "convert" => (
            "[OPTIONS] SOURCE... TARGET",
            "Copy one or more images (concatenated) into a new image.",
            "  -f, --source-format FMT format of the sources (probed when omitted)
      --image-opts        sources are option strings, not file names
  -T, --source-cache MODE cache mode of the sources (default writeback)
  -l, --snapshot SNAP     read the sources as of an internal snapshot
      --bitmaps           copy persistent bitmaps too
      --skip-broken-bitmaps  skip inconsistent bitmaps (with --bitmaps)
      --salvage           read errors become zeros
  -O, --output-format FMT format of TARGET (default raw)
      --target-image-opts TARGET is an option string (needs -n)
  -o, --options OPTIONS   options for the new image (-o help lists them)
  -t, --output-cache MODE cache mode of TARGET (default unsafe)
  -B, --backing FILE      make TARGET an overlay of FILE
  -F, --backing-format FMT  format of that backing file
  -S, --sparse-size SIZE  zero runs of at least SIZE become holes (default 4k, 0: none)
  -n, --no-create         write into an existing TARGET
      --target-is-zero    TARGET reads as zeros already (needs -n)
  -c                      compress the data
  -U, --force-share       open the sources without taking locks
  -r, --rate RATE         limit I/O to RATE bytes per second
  -m, --parallel N        requests in flight (1 to 16, default 8)
  -W, --oob-writes        allow out-of-order writes
  -C, --copy-range-offloading  let the file system copy the data
  -p                      show progress
  -q, --quiet             print nothing but errors
      --object DEF        define an object such as a secret
",
        ),
        "create" => (
            "[-f FMT] [-o OPTIONS] [-b BACKING [-F BACKING_FMT]] [-u] [-q] [--object DEF] FILE [SIZE]",
            "Create a new image. SIZE may be omitted when it can be taken from the backing file.",
            "  -f, --format FMT        format of the new image (default raw)
  -o, --options OPTIONS   format options (-o help lists them)
  -b, --backing FILE      make the image an overlay of FILE
  -F, --backing-format FMT  format of the backing file
  -u, --backing-unsafe    do not open the backing file
  -q, --quiet             do not print the Formatting line
      --object DEF        define an object such as a secret
",
        ),
        "dd" => (
            "[-f FMT | --image-opts] [-O FMT] [-U] [--object DEF] [bs=SIZE] [count=N] [skip=N] if=INPUT of=OUTPUT",
            "Copy INPUT to a new image OUTPUT, block by block.",
            "  -f, --format FMT        format of INPUT (probed when omitted)
      --image-opts        INPUT is an option string, not a file name
  -O, --output-format FMT format of OUTPUT (default raw)
  -U, --force-share       open INPUT without taking locks
      --object DEF        define an object such as a secret
  bs=SIZE                 block size (default 512)
  count=N                 stop after block N of the input
  skip=N                  start at block N of the input
",
        ),
        "info" => (
            "[-f FMT | --image-opts] [--backing-chain] [-U] [--output human|json] [--object DEF] FILE",
            "Describe an image: format, sizes, backing file and format details.",
            "  -f, --format FMT        image format (probed when omitted)
      --image-opts        FILE is an option string, not a file name
  -b, --backing-chain     describe every image of the backing chain
  -U, --force-share       open the image without taking locks
      --output FMT        human (default) or json
      --object DEF        define an object such as a secret
",
        ),
        "map" => (
            "[-f FMT | --image-opts] [--start-offset OFFSET] [--max-length LENGTH] [-U] [--output human|json] [--object DEF] FILE",
            "Show, range by range, where the guest data of an image is stored.",
            "  -f, --format FMT        image format (probed when omitted)
      --image-opts        FILE is an option string, not a file name
  -s, --start-offset OFF  start at this guest offset
  -l, --max-length LEN    stop after this many bytes
  -U, --force-share       open the image without taking locks
      --output FMT        human (default) or json
      --object DEF        define an object such as a secret
",
        ),
        "measure" => (
            "[-O FMT] [-o OPTIONS] [--output human|json] (--size SIZE | [-f FMT | --image-opts] [-l SNAP] [-U] [--object DEF] FILE)",
            "Compute the file size an image of format FMT needs, either empty with a given size or holding FILE's data.",
            "  -O, --target-format FMT format to measure for (default raw)
  -o, --options OPTIONS   options of that format
      --size SIZE         measure an empty image of this size
  -f, --format FMT        format of FILE (probed when omitted)
      --image-opts        FILE is an option string, not a file name
  -l, --snapshot SNAP     measure FILE as of an internal snapshot
  -U, --force-share       open FILE without taking locks
      --output FMT        human (default) or json
      --object DEF        define an object such as a secret
",
        ),
        "rebase" => (
            "[-f FMT | --image-opts] [-t CACHE] [-T CACHE] [-p] [-q] [-U] [-u] [-c] -b BACKING [-F BACKING_FMT] [--object DEF] FILE",
            "Change the backing file of an overlay. Without -u the data that differs between the old and the new backing file is copied into FILE first; -b \"\" removes the backing file.",
            "  -f, --format FMT        image format (probed when omitted)
      --image-opts        FILE is an option string, not a file name
  -t, --cache MODE        cache mode of FILE (default writeback)
  -T, --backing-cache MODE  cache mode of the backing files (default writeback)
  -b, --backing FILE      the new backing file
  -F, --backing-format FMT  format of the new backing file
  -u, --backing-unsafe    only rewrite the reference, copy nothing
  -c, --compress          compress the clusters that are copied
  -U, --force-share       open backing files without taking locks
  -p, --progress          show progress
  -q, --quiet             print nothing but errors
      --object DEF        define an object such as a secret
",
        ),
        "resize" => (
            "[-f FMT | --image-opts] [--preallocation MODE] [--shrink] [-q] [--object DEF] FILE [+|-]SIZE",
            "Set the virtual size of an image, or grow (+) or shrink (-) it by SIZE.",
            "  -f, --format FMT        image format (probed when omitted)
      --image-opts        FILE is an option string, not a file name
      --preallocation MODE  off, metadata, falloc or full for the new space
      --shrink            allow making the image smaller
  -q, --quiet             print nothing but errors
      --object DEF        define an object such as a secret
",
        ),
        "snapshot" => (
            "[-f FMT | --image-opts] [-l | -a SNAP | -c SNAP | -d SNAP] [-U] [-q] [--object DEF] FILE",
            "List (default), apply, create or delete internal snapshots.",
            "  -l, --list              list the snapshots
  -a SNAP                 revert the image to a snapshot
  -c SNAP                 create a snapshot
  -d SNAP                 delete a snapshot
  -f, --format FMT        image format (probed when omitted)
      --image-opts        FILE is an option string, not a file name
  -U, --force-share       open the image without taking locks
  -q, --quiet             print nothing but errors
      --object DEF        define an object such as a secret
",
        ),
        _ => ("", "", ""),
    };
    page(prog, cmd, usage, about, options)
}
