//! The command-line interface of qimg, declared once, with clap's builder API.
//!
//! Every command, option, operand and help line is declared here and nowhere else.
//! The declaration is used twice (see the module documentation of `args`):
//!
//! * [`scan`](super::scan) derives each command's getopt short-option string and
//!   long-option table from it, and reports every scanned option by its clap arg id;
//! * [`help`](super::help) renders the help screens from it with clap.
//!
//! clap's own parser is never run. So the declaration has to say what getopt needs,
//! and a few clap properties carry that meaning:
//!
//! * an arg with a short or long name is an option; one whose action takes values
//!   ([`ArgAction::Set`], [`ArgAction::Append`]) requires a value (`f:` and
//!   `required_argument`), any other action is a flag;
//! * long aliases (`alias`, `visible_alias`) are further entries of the long table
//!   with the same meaning: glibc never calls an abbreviation ambiguous between them;
//! * **declaration order is long-table order.** glibc resolves an abbreviation to the
//!   first matching entry and lists ambiguous candidates in table order, so options
//!   are declared in the order of qemu-img 10.0.2's `long_options` arrays (an alias
//!   follows its arg; short-only options go anywhere). It is also the order of the
//!   help screens;
//! * a command that requires a subcommand (the top level) stops scanning at its first
//!   operand, the command name (getopt `+`), and a command with an operand that allows
//!   negative numbers (`resize`'s `-1G`) sees operands in place, in order (getopt `-`).
//!
//! Arg ids are what the command parsers match on. An option with a long name has that
//! name as id; short-only options have a descriptive id (`convert -c` is `compress`).
//!
//! One qemu-img quirk needs two args for one letter: `snapshot`'s `-a SNAPSHOT`,
//! `-c SNAPSHOT` and `-d SNAPSHOT` take a value, but qemu-img 10.0.2's long forms
//! `--apply`, `--create` and `--delete` take none. The long forms are hidden flags of
//! their own (`apply-unnamed`, ...).
//!
//! The commands are listed in [`COMMANDS`] and declared one by one, so that a run can
//! build the top level ([`top`]) and the one command it needs; [`qimg`] puts them
//! all together (the top-level help lists them).
//!
//! Help texts are qimg's own words.

use clap::{Arg, ArgAction, Command};

/// How every help screen is laid out: usage first (the program name is put in front
/// of the usage when rendering), then the description, options and notes.
const TEMPLATE: &str = "{usage-heading} {usage}\n\n{about}\n\n{all-args}{after-help}";

/// Declares a command, given its name.
pub type Declare = fn(&'static str) -> Command;

/// The commands, in the order of the command list: each name and its declaration.
pub const COMMANDS: &[(&str, Declare)] = &[
    ("amend", amend),
    ("bench", bench),
    ("bitmap", bitmap),
    ("check", check),
    ("commit", commit),
    ("compare", compare),
    ("convert", convert),
    ("create", create),
    ("dd", dd),
    ("info", info),
    ("map", map),
    ("measure", measure),
    ("rebase", rebase),
    ("resize", resize),
    ("snapshot", snapshot),
    ("spec", spec),
];

/// The whole interface: [`top`] with every command of [`COMMANDS`].
pub fn qimg() -> Command {
    top().subcommands(COMMANDS.iter().map(|&(name, declare)| declare(name)))
}

/// The top level: the global options, and a command is required. The commands are
/// declared separately so that a run builds only the one it needs.
pub fn top() -> Command {
    Command::new("qimg")
        .version(env!("CARGO_PKG_VERSION"))
        .about("create, inspect, check and convert virtual disk images")
        .long_about(
            "qimg: create, inspect, check and convert virtual disk images.\n\
             A drop-in replacement for qemu-img 10.0.2.",
        )
        .override_usage("[-h | -V | -T TRACE] COMMAND [COMMAND OPTIONS]")
        .help_template(TEMPLATE)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .disable_help_subcommand(true)
        .subcommand_required(true)
        .subcommand_value_name("COMMAND")
        .after_help(
            "'COMMAND --help' describes the options of a command.\n\
             Sizes take an optional binary suffix: b, k, M, G, T, P or E (k = 1024).\n\
             Cache modes: none, writeback, writethrough, directsync, unsafe.",
        )
        .arg(help_flag().help("show this text"))
        .arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::Version)
                .help("show the version"),
        )
        .arg(
            value("trace", "TRACE")
                .short('T')
                .long("trace")
                .help("accepted for compatibility (qimg has no trace events)"),
        )
}

/// A command: `about` is its line in the command list, `long_about` heads its own
/// help screen, `usage` is what follows `PROG NAME` on the usage line.
fn command(
    name: &'static str,
    about: &'static str,
    long_about: &'static str,
    usage: &'static str,
) -> Command {
    Command::new(name)
        .about(about)
        .long_about(long_about)
        .override_usage(usage)
        .help_template(TEMPLATE)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(help_flag().help("show this text"))
}

/// `-h`, `--help`: the first entry of every qemu-img option table.
fn help_flag() -> Arg {
    Arg::new("help")
        .short('h')
        .long("help")
        .action(ArgAction::Help)
}

/// An option without a value.
fn flag(id: &'static str) -> Arg {
    Arg::new(id).action(ArgAction::SetTrue)
}

/// An option that requires a value; the last one given counts.
fn value(id: &'static str, name: &'static str) -> Arg {
    Arg::new(id).value_name(name).action(ArgAction::Set)
}

/// An option that requires a value and may be repeated, each value counting.
fn values(id: &'static str, name: &'static str) -> Arg {
    Arg::new(id).value_name(name).action(ArgAction::Append)
}

/// An operand (no short or long name).
fn operand(id: &'static str, name: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .value_name(name)
        .action(ArgAction::Set)
        .required(true)
        .help(help)
}

/// An operand that may be left out.
fn optional(id: &'static str, name: &'static str, help: &'static str) -> Arg {
    operand(id, name, help).required(false)
}

/// `-f`, `--format FMT`.
fn format(help: &'static str) -> Arg {
    value("format", "FMT").short('f').long("format").help(help)
}

/// `--image-opts`.
fn image_opts(help: &'static str) -> Arg {
    flag("image-opts").long("image-opts").help(help)
}

/// `--object DEF`.
fn object() -> Arg {
    values("object", "DEF")
        .long("object")
        .help("define an object such as a secret ('--object help' lists the types)")
}

/// `-U`, `--force-share`.
fn force_share(help: &'static str) -> Arg {
    flag("force-share")
        .short('U')
        .long("force-share")
        .help(help)
}

/// `-q`, `--quiet`.
fn quiet(help: &'static str) -> Arg {
    flag("quiet").short('q').long("quiet").help(help)
}

/// `-p`, `--progress`.
fn progress() -> Arg {
    flag("progress")
        .short('p')
        .long("progress")
        .help("show progress")
}

/// `--output human|json`.
fn output() -> Arg {
    value("output", "FMT")
        .long("output")
        .help("output format: human (default) or json")
}

/// A cache mode option (`-t` or `-T`).
fn cache(id: &'static str, short: char, long: &'static str, help: &'static str) -> Arg {
    value(id, "MODE").short(short).long(long).help(help)
}

/// `-o`, `--options OPTIONS`.
fn options(help: &'static str) -> Arg {
    values("options", "OPTIONS")
        .short('o')
        .long("options")
        .help(help)
}

const PROBED: &str = "image format (probed when omitted)";
const IMAGE_OPTS: &str = "FILE is an option string, not a file name";
const QUIET: &str = "print nothing but errors";
const LOCKLESS: &str = "open the image without taking locks";
const FILE: &str = "the image";

fn amend(name: &'static str) -> Command {
    command(
        name,
        "change format options of an existing image",
        "Change format options of an existing image (qcow2 and luks).",
        "-o OPTIONS [-f FMT | --image-opts] [-t CACHE] [--force] [-p] [-q] [--object DEF] FILE",
    )
    .args([
        object(),
        options("options to change ('-o help' lists them)"),
        format(PROBED),
        image_opts(IMAGE_OPTS),
        cache("cache", 't', "cache", "cache mode (default writeback)"),
        flag("force")
            .long("force")
            .help("allow changes that may lose data"),
        progress(),
        quiet(QUIET),
        operand("filename", "FILE", FILE),
    ])
}

fn bench(name: &'static str) -> Command {
    command(
        name,
        "measure I/O speed on an image",
        "Time a stream of reads (or writes) against an image.",
        "[-f FMT | --image-opts] [-t CACHE] [-c COUNT] [-d DEPTH] [-o OFFSET] [-s SIZE] \
         [-S STEP] [-w [--pattern BYTE] [--flush-interval N [--no-drain]]] [-i AIO] [-n] [-U] [-q] FILE",
    )
    .args([
        format(PROBED),
        image_opts(IMAGE_OPTS),
        cache("cache", 't', "cache", "cache mode (default writeback)"),
        value("count", "COUNT").short('c').long("count").help("number of requests (default 75000)"),
        value("depth", "DEPTH").short('d').long("depth").help("requests in flight at once (default 64)"),
        value("offset", "OFFSET").short('o').long("offset").help("offset of the first request"),
        value("buffer-size", "SIZE")
            .short('s')
            .long("buffer-size")
            .help("bytes per request (default 4k)"),
        value("step-size", "STEP")
            .short('S')
            .long("step-size")
            .help("distance between requests (default: the buffer size)"),
        flag("write").short('w').long("write").help("write instead of read"),
        value("pattern", "BYTE").long("pattern").help("byte value to write (default 0)"),
        value("flush-interval", "N")
            .long("flush-interval")
            .help("flush after every N requests (write tests only)"),
        flag("native").short('n').long("native").help("use native AIO"),
        flag("no-drain").long("no-drain").help("flush without waiting for requests in flight"),
        value("aio", "AIO").short('i').long("aio").help("AIO backend: threads, native or io_uring"),
        force_share(LOCKLESS),
        flag("quiet").short('q').help("accepted; results are always printed"),
        operand("filename", "FILE", FILE),
    ])
}

fn bitmap(name: &'static str) -> Command {
    command(
        name,
        "add, remove, clear, enable, disable or merge dirty bitmaps",
        "Change the persistent dirty bitmap BITMAP of a qcow2 image. Actions run in order.",
        "(--add | --remove | --clear | --enable | --disable | --merge SOURCE)... [-g SIZE] \
         [-b SRC_FILE [-F SRC_FMT]] [-f FMT | --image-opts] [--object DEF] FILE BITMAP",
    )
    .args([
        format(PROBED),
        image_opts(IMAGE_OPTS),
        flag("add").long("add").help("create the bitmap (enabled)"),
        value("granularity", "SIZE")
            .short('g')
            .long("granularity")
            .help("granularity of an added bitmap"),
        flag("remove").long("remove").help("delete the bitmap"),
        flag("clear").long("clear").help("mark every cluster clean"),
        flag("enable").long("enable").help("start recording writes"),
        flag("disable")
            .long("disable")
            .help("stop recording writes"),
        values("merge", "SOURCE")
            .long("merge")
            .help("add the bits of bitmap SOURCE"),
        value("source-file", "FILE")
            .short('b')
            .long("source-file")
            .help("take --merge sources from this image"),
        value("source-format", "FMT")
            .short('F')
            .long("source-format")
            .help("format of that image"),
        object(),
        operand("filename", "FILE", FILE),
        operand("bitmap", "BITMAP", "the bitmap's name"),
    ])
}

fn check(name: &'static str) -> Command {
    command(
        name,
        "verify image metadata and optionally repair it",
        "Check image metadata for consistency.\n\
         Exit status: 0 clean, 1 check failed, 2 corrupt, 3 leaks only, 63 not supported.",
        "[-f FMT | --image-opts] [-T CACHE] [-r leaks|all] [-U] [-q] [--output human|json] [--object DEF] FILE",
    )
    .args([
        format(PROBED),
        image_opts(IMAGE_OPTS),
        cache("cache", 'T', "cache", "cache mode (default writeback)"),
        value("repair", "leaks|all")
            .short('r')
            .long("repair")
            .help("repair leaked clusters only, or everything"),
        force_share("open the image without taking locks (not with -r)"),
        output(),
        quiet(QUIET),
        object(),
        operand("filename", "FILE", FILE),
    ])
}

fn commit(name: &'static str) -> Command {
    command(
        name,
        "write an overlay's data into its backing image",
        "Write the data of overlay FILE into its backing file.",
        "[-f FMT | --image-opts] [-t CACHE] [-b BASE] [-d] [-r RATE] [-p] [-q] [--object DEF] FILE",
    )
    .args([
        format(PROBED),
        image_opts(IMAGE_OPTS),
        cache("cache", 't', "cache", "cache mode (default writeback)"),
        flag("drop")
            .short('d')
            .long("drop")
            .help("keep FILE's data instead of emptying it"),
        value("base", "BASE")
            .short('b')
            .long("base")
            .help("commit into this image of the chain (implies -d)"),
        value("rate", "RATE")
            .short('r')
            .long("rate")
            .help("limit I/O to RATE bytes per second"),
        progress(),
        quiet(QUIET),
        object(),
        operand("filename", "FILE", "the overlay"),
    ])
}

fn compare(name: &'static str) -> Command {
    command(
        name,
        "compare the guest-visible contents of two images",
        "Compare what a guest would read from two images.\n\
         Exit status: 0 equal, 1 different, 2 or more on errors.",
        "[-f FMT] [-F FMT] [--image-opts] [-s] [-T CACHE] [-U] [-p] [-q] [--object DEF] FILE1 FILE2",
    )
    .args([
        value("a-format", "FMT")
            .short('f')
            .long("a-format")
            .visible_alias("left-format")
            .help("format of FILE1 (probed when omitted)"),
        value("b-format", "FMT")
            .short('F')
            .long("b-format")
            .visible_alias("right-format")
            .help("format of FILE2 (probed when omitted)"),
        image_opts("FILE1 and FILE2 are option strings"),
        flag("strict").short('s').long("strict").help("sizes and allocation must match too"),
        cache("cache", 'T', "cache", "cache mode (default writeback)"),
        force_share("open the images without taking locks"),
        progress(),
        quiet("print nothing, report through the exit status"),
        object(),
        operand("filename1", "FILE1", "the first image"),
        operand("filename2", "FILE2", "the second image"),
    ])
}

fn convert(name: &'static str) -> Command {
    command(
        name,
        "copy images, changing format, compression or backing",
        "Copy one or more images (concatenated) into a new image.",
        "[OPTIONS] SOURCE... TARGET",
    )
    .args([
        flag("image-opts")
            .long("image-opts")
            .visible_alias("source-image-opts")
            .help("sources are option strings, not file names"),
        value("source-format", "FMT")
            .short('f')
            .long("source-format")
            .help("format of the sources (probed when omitted)"),
        cache(
            "source-cache",
            'T',
            "source-cache",
            "cache mode of the sources (default writeback)",
        ),
        value("snapshot", "SNAP")
            .short('l')
            .long("snapshot")
            .help("read the sources as of an internal snapshot"),
        object(),
        value("backing", "FILE")
            .short('B')
            .long("backing")
            .help("make TARGET an overlay of FILE"),
        value("backing-format", "FMT")
            .short('F')
            .long("backing-format")
            .help("format of that backing file"),
        flag("bitmaps")
            .long("bitmaps")
            .help("copy persistent bitmaps too"),
        value("output-format", "FMT")
            .short('O')
            .long("output-format")
            .help("format of TARGET (default raw)"),
        options("options for the new image ('-o help' lists them)"),
        cache(
            "output-cache",
            't',
            "output-cache",
            "cache mode of TARGET (default unsafe)",
        ),
        flag("target-image-opts")
            .long("target-image-opts")
            .help("TARGET is an option string (needs -n)"),
        flag("target-is-zero")
            .long("target-is-zero")
            .help("TARGET reads as zeros already (needs -n)"),
        value("sparse-size", "SIZE")
            .short('S')
            .long("sparse-size")
            .help("zero runs of at least SIZE become holes (default 4k, 0: none)"),
        flag("salvage")
            .long("salvage")
            .help("read errors become zeros"),
        flag("skip-broken-bitmaps")
            .long("skip-broken-bitmaps")
            .help("skip inconsistent bitmaps (with --bitmaps)"),
        force_share("open the sources without taking locks"),
        value("rate", "RATE")
            .short('r')
            .long("rate")
            .help("limit I/O to RATE bytes per second"),
        value("parallel", "N")
            .short('m')
            .long("parallel")
            .help("requests in flight (1 to 16, default 8)"),
        flag("oob-writes")
            .short('W')
            .long("oob-writes")
            .help("allow out-of-order writes"),
        flag("copy-range-offloading")
            .short('C')
            .long("copy-range-offloading")
            .help("let the file system copy the data"),
        quiet(QUIET),
        flag("no-create")
            .short('n')
            .help("write into an existing TARGET"),
        flag("compress").short('c').help("compress the data"),
        flag("progress").short('p').help("show progress"),
        Arg::new("sources")
            .value_name("SOURCE")
            .action(ArgAction::Append)
            .num_args(1..)
            .required(true)
            .help("the images to copy, in order"),
        operand("target", "TARGET", "the new image"),
    ])
}

fn create(name: &'static str) -> Command {
    command(
        name,
        "make a new image",
        "Create a new image. SIZE may be omitted when it can be taken from the backing file.",
        "[-f FMT] [-o OPTIONS] [-b BACKING [-F BACKING_FMT]] [-u] [-q] [--object DEF] FILE [SIZE]",
    )
    .args([
        value("format", "FMT")
            .short('f')
            .long("format")
            .help("format of the new image (default raw)"),
        object(),
        options("format options ('-o help' lists them)"),
        value("backing", "FILE")
            .short('b')
            .long("backing")
            .help("make the image an overlay of FILE"),
        value("backing-format", "FMT")
            .short('F')
            .long("backing-format")
            .help("format of the backing file"),
        flag("backing-unsafe")
            .short('u')
            .long("backing-unsafe")
            .help("do not open the backing file"),
        quiet("do not print the Formatting line"),
        operand("filename", "FILE", "the new image"),
        optional("size", "SIZE", "its virtual size"),
    ])
}

fn dd(name: &'static str) -> Command {
    command(
        name,
        "copy a byte range of an image, dd style",
        "Copy INPUT to a new image OUTPUT, block by block.",
        "[-f FMT | --image-opts] [-O FMT] [-U] [--object DEF] [bs=SIZE] [count=N] [skip=N] if=INPUT of=OUTPUT",
    )
    .args([
        format("format of INPUT (probed when omitted)"),
        image_opts("INPUT is an option string, not a file name"),
        object(),
        value("output-format", "FMT")
            .short('O')
            .long("output-format")
            .help("format of OUTPUT (default raw)"),
        force_share("open INPUT without taking locks"),
        operand("if", "if=INPUT", "the image to read"),
        operand("of", "of=OUTPUT", "the image to create"),
        optional("bs", "bs=SIZE", "block size (default 512)"),
        optional("count", "count=N", "stop after block N of the input"),
        optional("skip", "skip=N", "start at block N of the input"),
    ])
}

fn info(name: &'static str) -> Command {
    command(
        name,
        "describe an image",
        "Describe an image: format, sizes, backing file and format details.",
        "[-f FMT | --image-opts] [--backing-chain] [-U] [--output human|json] [--object DEF] FILE",
    )
    .args([
        format(PROBED),
        output(),
        flag("backing-chain")
            .short('b')
            .long("backing-chain")
            .help("describe every image of the backing chain"),
        object(),
        image_opts(IMAGE_OPTS),
        force_share(LOCKLESS),
        operand("filename", "FILE", FILE),
    ])
}

fn map(name: &'static str) -> Command {
    command(
        name,
        "show where guest data lives in an image file",
        "Show, range by range, where the guest data of an image is stored.",
        "[-f FMT | --image-opts] [--start-offset OFFSET] [--max-length LENGTH] [-U] \
         [--output human|json] [--object DEF] FILE",
    )
    .args([
        format(PROBED),
        output(),
        object(),
        image_opts(IMAGE_OPTS),
        force_share(LOCKLESS),
        value("start-offset", "OFFSET")
            .short('s')
            .long("start-offset")
            .help("start at this guest offset"),
        value("max-length", "LENGTH")
            .short('l')
            .long("max-length")
            .help("stop after this many bytes"),
        operand("filename", "FILE", FILE),
    ])
}

fn measure(name: &'static str) -> Command {
    command(
        name,
        "compute the file size a new image will need",
        "Compute the file size an image of format FMT needs, either empty with a given size \
         or holding FILE's data.",
        "[-O FMT] [-o OPTIONS] [--output human|json] (--size SIZE | [-f FMT | --image-opts] \
         [-l SNAP] [-U] [--object DEF] FILE)",
    )
    .args([
        format("format of FILE (probed when omitted)"),
        image_opts(IMAGE_OPTS),
        value("snapshot", "SNAP")
            .short('l')
            .long("snapshot")
            .help("measure FILE as of an internal snapshot"),
        value("target-format", "FMT")
            .short('O')
            .long("target-format")
            .help("format to measure for (default raw)"),
        options("options of that format"),
        force_share("open FILE without taking locks"),
        object(),
        output(),
        value("size", "SIZE")
            .long("size")
            .help("measure an empty image of this size"),
        optional("filename", "FILE", "the image whose data is measured"),
    ])
}

fn rebase(name: &'static str) -> Command {
    command(
        name,
        "point an overlay at another backing file",
        "Change the backing file of an overlay. Without -u the data that differs between the \
         old and the new backing file is copied into FILE first; -b \"\" removes the backing file.",
        "[-f FMT | --image-opts] [-t CACHE] [-T CACHE] [-p] [-q] [-U] [-u] [-c] -b BACKING \
         [-F BACKING_FMT] [--object DEF] FILE",
    )
    .args([
        force_share("open backing files without taking locks"),
        format(PROBED),
        image_opts(IMAGE_OPTS),
        cache(
            "cache",
            't',
            "cache",
            "cache mode of FILE (default writeback)",
        ),
        flag("compress")
            .short('c')
            .long("compress")
            .help("compress the clusters that are copied"),
        value("backing", "FILE")
            .short('b')
            .long("backing")
            .help("the new backing file"),
        value("backing-format", "FMT")
            .short('F')
            .long("backing-format")
            .help("format of the new backing file"),
        cache(
            "backing-cache",
            'T',
            "backing-cache",
            "cache mode of the backing files (default writeback)",
        ),
        flag("backing-unsafe")
            .short('u')
            .long("backing-unsafe")
            .help("only rewrite the reference, copy nothing"),
        progress(),
        quiet(QUIET),
        object(),
        operand("filename", "FILE", "the overlay"),
    ])
}

fn resize(name: &'static str) -> Command {
    command(
        name,
        "grow or shrink an image",
        "Set the virtual size of an image, or grow (+) or shrink (-) it by SIZE.",
        "[-f FMT | --image-opts] [--preallocation MODE] [--shrink] [-q] [--object DEF] FILE [+|-]SIZE",
    )
    .args([
        format(PROBED),
        image_opts(IMAGE_OPTS),
        value("preallocation", "MODE")
            .long("preallocation")
            .help("off, metadata, falloc or full for the new space"),
        flag("shrink").long("shrink").help("allow making the image smaller"),
        quiet(QUIET),
        object(),
        operand("filename", "FILE", FILE),
        // Right after FILE, `-1G` is this operand, not a cluster of options.
        operand("size", "[+|-]SIZE", "the new size, or the change").allow_negative_numbers(true),
    ])
}

fn snapshot(name: &'static str) -> Command {
    command(
        name,
        "list, create, apply or delete internal snapshots",
        "List (default), apply, create or delete internal snapshots.",
        "[-f FMT | --image-opts] [-l | -a SNAP | -c SNAP | -d SNAP] [-U] [-q] [--object DEF] FILE",
    )
    .args([
        format(PROBED),
        image_opts(IMAGE_OPTS),
        flag("list")
            .short('l')
            .long("list")
            .help("list the snapshots"),
        value("apply", "SNAP")
            .short('a')
            .help("revert the image to a snapshot"),
        flag("apply-unnamed").long("apply").hide(true),
        value("create", "SNAP").short('c').help("create a snapshot"),
        flag("create-unnamed").long("create").hide(true),
        value("delete", "SNAP").short('d').help("delete a snapshot"),
        flag("delete-unnamed").long("delete").hide(true),
        force_share(LOCKLESS),
        quiet(QUIET),
        object(),
        operand("filename", "FILE", FILE),
    ])
}

fn spec(name: &'static str) -> Command {
    command(
        name,
        "print the on-disk layout of a format (qimg only)",
        "Print the on-disk layout tables qimg generates from its format specs: without FORMAT \
         the formats, with FORMAT every item of its layout, with ITEM that item only.",
        "[FORMAT [ITEM]]",
    )
    .args([
        optional("format", "FORMAT", "a format name (qcow2, vmdk, ...)"),
        optional(
            "item",
            "ITEM",
            "an item of that format (a header, table or entry; any case)",
        ),
    ])
}
