//! Tests of the whole parser. The tables were produced by running qemu-img 10.0.2
//! (`qemu-img ARGS` in an empty directory) on each argument vector:
//!
//! * `Reject(args, status, stderr, stdout)`: qemu-img stopped during option processing
//!   with exactly this output;
//! * `Pass(args)`: qemu-img got past option processing (it then failed to open the
//!   missing image, printed an option list, ...), so parsing must succeed;
//! * `Help(args)`: a help screen (qimg's own words) on stdout, status 0;
//! * `HelpText(args, stdout)`: output reproduced verbatim (`--object help`).
//!
//! To extend the table, add argument vectors to `record/cases.txt` and regenerate
//! the rows with `record/record.py record/cases.txt` (needs qemu-img 10.0.2).

use std::ffi::{OsStr, OsString};

use super::*;

fn run_as(argv0: &str, args: &[&str]) -> Result<Invocation, UsageError> {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    parse_env(OsStr::new(argv0), &args, false)
}

fn run(args: &[&str]) -> Result<Invocation, UsageError> {
    run_as("qemu-img", args)
}

/// One recorded qemu-img run.
enum Case {
    /// Rejected with (status, stderr, stdout).
    Reject(&'static [&'static str], i32, &'static str, &'static str),
    /// Past option processing.
    Pass(&'static [&'static str]),
    /// A help screen.
    Help(&'static [&'static str]),
    /// Verbatim stdout, status 0.
    HelpText(&'static [&'static str], &'static str),
}

/// `None` if qimg behaves as recorded, else a description of the difference.
fn check(case: &Case) -> Option<String> {
    let (args, got) = match case {
        Case::Reject(a, ..) | Case::Pass(a) | Case::Help(a) | Case::HelpText(a, _) => (*a, run(a)),
    };
    let fine = match (case, &got) {
        (Case::Reject(_, code, stderr, stdout), Err(e)) => {
            (e.code, e.message.as_str(), e.stdout.as_str()) == (*code, *stderr, *stdout)
        }
        (Case::Pass(_), Ok(Invocation::Command(_))) => true,
        (Case::Help(_), Ok(Invocation::Help(text))) => text.starts_with("Usage: "),
        (Case::HelpText(_, want), Ok(Invocation::Help(text))) => text == want,
        _ => false,
    };
    (!fine).then(|| match case {
        Case::Reject(_, code, stderr, stdout) => {
            format!("qemu-img {args:?}\n  want: ({code}, {stderr:?}, {stdout:?})\n  got:  {got:?}")
        }
        _ => format!("qemu-img {args:?}\n  got: {got:?}"),
    })
}

#[track_caller]
fn command(args: &[&str]) -> Command {
    match run(args) {
        Ok(Invocation::Command(c)) => c,
        other => panic!("qemu-img {args:?}: expected a command, got {other:?}"),
    }
}

use Case::{Help, HelpText, Pass, Reject};

/// Recorded with qemu-img 10.0.2.
const CASES: &[Case] = &[
    // global options and command lookup
    Reject(&["-x"], 1, "qemu-img: invalid option -- 'x'\nTry 'qemu-img --help' for more info\n", ""),
    Reject(&["--bogus"], 1, "qemu-img: unrecognized option '--bogus'\nTry 'qemu-img --help' for more info\n", ""),
    Reject(&["--bogus=1"], 1, "qemu-img: unrecognized option '--bogus=1'\nTry 'qemu-img --help' for more info\n", ""),
    Reject(&["-T"], 1, "qemu-img: option requires an argument -- 'T'\nTry 'qemu-img --help' for more info\n", ""),
    Reject(&["--trace"], 1, "qemu-img: option '--trace' requires an argument\nTry 'qemu-img --help' for more info\n", ""),
    Reject(&["--version=1"], 1, "qemu-img: option '--version' doesn't allow an argument\nTry 'qemu-img --help' for more info\n", ""),
    Reject(&["--v=x"], 1, "qemu-img: option '--version' doesn't allow an argument\nTry 'qemu-img --help' for more info\n", ""),
    Reject(&["--he=1"], 1, "qemu-img: option '--help' doesn't allow an argument\nTry 'qemu-img --help' for more info\n", ""),
    Reject(&["help"], 1, "qemu-img: Command not found: help\nTry 'qemu-img --help' for more info\n", ""),
    Reject(&[""], 1, "qemu-img: Command not found: \nTry 'qemu-img --help' for more info\n", ""),
    Reject(&["-"], 1, "qemu-img: Command not found: -\nTry 'qemu-img --help' for more info\n", ""),
    Reject(&["foo"], 1, "qemu-img: Command not found: foo\nTry 'qemu-img --help' for more info\n", ""),
    Reject(&["info"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["-T", "enable=foo,bogus=1", "info"], 1, "qemu-img: Invalid parameter 'bogus'\n", ""),
    Reject(&["-T", "foo*", "-x"], 1, "qemu-img: invalid option -- 'x'\nTry 'qemu-img --help' for more info\n", ""),
    Pass(&["-Tfoo", "--", "info", "a"]), // qemu-img: warning: trace event 'foo' does not exist
    Help(&["-h", "info"]),
    Help(&["--help"]),
    Help(&["-hx"]),
    Help(&["--h"]),
    // getopt behaviour (checked through info)
    Reject(&["info", "--bogus"], 1, "qemu-img info: unrecognized option '--bogus'\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "--bogus=1"], 1, "qemu-img info: unrecognized option '--bogus=1'\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "-z"], 1, "qemu-img info: invalid option -- 'z'\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "-Uz"], 1, "qemu-img info: invalid option -- 'z'\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "-f"], 1, "qemu-img info: option requires an argument -- 'f'\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "--format"], 1, "qemu-img info: option '--format' requires an argument\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "--output"], 1, "qemu-img info: option '--output' requires an argument\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "--out"], 1, "qemu-img info: option '--output' requires an argument\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "--output=xml"], 1, "qemu-img: --output expects 'human' or 'json' not 'xml'\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "--output=JSON"], 1, "qemu-img: --output expects 'human' or 'json' not 'JSON'\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "--output", "xml"], 1, "qemu-img: --output expects 'human' or 'json' not 'xml'\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "--output="], 1, "qemu-img: --output expects 'human' or 'json' not ''\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "--f=x"], 1, "qemu-img info: option '--f=x' is ambiguous; possibilities: '--format' '--force-share'\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "--fo"], 1, "qemu-img info: option '--fo' is ambiguous; possibilities: '--format' '--force-share'\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "--o"], 1, "qemu-img info: option '--o' is ambiguous; possibilities: '--output' '--object'\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "--ob"], 1, "qemu-img info: option '--object' requires an argument\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "--help=x"], 1, "qemu-img info: option '--help' doesn't allow an argument\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "--image-opts=1"], 1, "qemu-img info: option '--image-opts' doesn't allow an argument\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "--backing-chain=1"], 1, "qemu-img info: option '--backing-chain' doesn't allow an argument\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "a", "b"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "a", "--bogus"], 1, "qemu-img info: unrecognized option '--bogus'\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "--bogus", "--output=xml"], 1, "qemu-img info: unrecognized option '--bogus'\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "--output=xml", "--bogus"], 1, "qemu-img: --output expects 'human' or 'json' not 'xml'\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["info", "a", "-f"], 1, "qemu-img info: option requires an argument -- 'f'\nTry 'qemu-img info --help' for more info\n", ""),
    Pass(&["info", "-fraw", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["info", "-Uf", "raw", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["info", "-f", "raw", "-f", "qcow2", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["info", "a", "-f", "raw"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["info", "--", "-a"]), // qemu-img: Could not open '-a': Could not open '-a': No such file or di
    Pass(&["info", "-f", "-U", "a"]), // qemu-img: Could not open 'a': Unknown driver '-U'
    Pass(&["info", "--format", "--", "a"]), // qemu-img: Could not open 'a': Unknown driver '--'
    Pass(&["info", "--out=json", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["info", "--output", "json", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["info", "--backing-chain", "--force-share", "--format", "raw", "--image-opts", "a"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", ""),
    Reject(&["info", "--image-opts", "-f", "raw", "a"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", ""),
    Pass(&["info", "--image-opts", "a"]), // qemu-img: Could not open 'a': Cannot find device='a' nor node-name='a'
    Pass(&["info", "-b", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["info", "-1k"], 1, "qemu-img info: invalid option -- '1'\nTry 'qemu-img info --help' for more info\n", ""),
    Pass(&["info", "-"]), // qemu-img: Could not open '-': Could not open '-': No such file or dire
    Help(&["info", "-h", "--bogus"]),
    Reject(&["info", "--bogus", "-h"], 1, "qemu-img info: unrecognized option '--bogus'\nTry 'qemu-img info --help' for more info\n", ""),
    HelpText(&["info", "--object", "help"], "List of user creatable objects:\n  authz-list\n  authz-list-file\n  authz-simple\n  main-loop\n  pr-manager-helper\n  secret\n  secret_keyring\n  thread-context\n  throttle-group\n  tls-creds-anon\n  tls-creds-psk\n  tls-creds-x509\n"),
    HelpText(&["info", "--object", "help", "--bogus"], "List of user creatable objects:\n  authz-list\n  authz-list-file\n  authz-simple\n  main-loop\n  pr-manager-helper\n  secret\n  secret_keyring\n  thread-context\n  throttle-group\n  tls-creds-anon\n  tls-creds-psk\n  tls-creds-x509\n"),
    Reject(&["info", "--bogus", "--object", "help"], 1, "qemu-img info: unrecognized option '--bogus'\nTry 'qemu-img info --help' for more info\n", ""),
    HelpText(&["info", "--object", "secret,help", "a"], "secret options:\n  data=<string>\n  file=<string>\n  format=<QCryptoSecretFormat>\n  iv=<string>\n  keyid=<string>\n"),
    Pass(&["info", "--object", "secret,id=s0,data=x", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["info", "--object", "foo", "a"], 1, "qemu-img: Parameter 'qom-type' does not accept value 'foo'\n", ""),
    Reject(&["info", "--object", "secret", "a"], 1, "qemu-img: Parameter 'id' is missing\n", ""),
    Reject(&["info", "--object", "secret,id=s0", "a"], 1, "qemu-img: Either 'file' or 'data' must be provided\n", ""),
    Reject(&["info", "--object", "secret,id=0s,data=x", "a"], 1, "qemu-img: Parameter 'id' expects an identifier\nIdentifiers consist of letters, digits, '-', '.', '_', starting with a letter.\n", ""),
    Reject(&["info", "--object", "secret,id=s0,data=x,bogus=1", "a"], 1, "qemu-img: Parameter 'bogus' is unexpected\n", ""),
    Reject(&["info", "--object", "secret,id=s0,data", "a"], 1, "qemu-img: Expected '=' after parameter 'data'\n", ""),
    Reject(&["info", "--object", "secret,id=s0,data=x,format=bad", "a"], 1, "qemu-img: Parameter 'format' does not accept value 'bad'\n", ""),
    Reject(&["info", "--object", "", "a"], 1, "qemu-img: Parameter 'qom-type' is missing\n", ""),
    HelpText(&["info", "--object", "?", "a"], "List of user creatable objects:\n  authz-list\n  authz-list-file\n  authz-simple\n  main-loop\n  pr-manager-helper\n  secret\n  secret_keyring\n  thread-context\n  throttle-group\n  tls-creds-anon\n  tls-creds-psk\n  tls-creds-x509\n"),
    // check
    Reject(&["check"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img check --help' for more info\n", ""),
    Reject(&["check", "a", "b"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img check --help' for more info\n", ""),
    Reject(&["check", "-r", "bogus", "a"], 1, "qemu-img: --repair (-r) expects 'leaks' or 'all' not 'bogus'\nTry 'qemu-img check --help' for more info\n", ""),
    Reject(&["check", "-r", "leaks", "-r", "bogus", "a"], 1, "qemu-img: --repair (-r) expects 'leaks' or 'all' not 'bogus'\nTry 'qemu-img check --help' for more info\n", ""),
    Reject(&["check", "--repair=bogus", "a"], 1, "qemu-img: --repair (-r) expects 'leaks' or 'all' not 'bogus'\nTry 'qemu-img check --help' for more info\n", ""),
    Pass(&["check", "-r", "leaks", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["check", "-r", "all", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["check", "-r", "a"], 1, "qemu-img: --repair (-r) expects 'leaks' or 'all' not 'a'\nTry 'qemu-img check --help' for more info\n", ""),
    Pass(&["check", "--r", "all", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["check", "--re", "all", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["check", "-T", "bogus", "a"], 1, "qemu-img: Invalid source cache option: bogus\n", ""),
    Reject(&["check", "--cache", "bogus", "a"], 1, "qemu-img: Invalid source cache option: bogus\n", ""),
    Pass(&["check", "-T", "none", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["check", "--output=xml", "--output=json", "a"], 1, "qemu-img: --output expects 'human' or 'json' not 'xml'\nTry 'qemu-img check --help' for more info\n", ""),
    Pass(&["check", "--output=json", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["check", "--image-opts", "-f", "qcow2", "a"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", ""),
    Pass(&["check", "-q", "-U", "--output", "human", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["check", "-T", "bogus", "a", "b"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img check --help' for more info\n", ""),
    Reject(&["check", "--o", "a"], 1, "qemu-img check: option '--o' is ambiguous; possibilities: '--output' '--object'\nTry 'qemu-img check --help' for more info\n", ""),
    Reject(&["check", "--f", "a"], 1, "qemu-img check: option '--f' is ambiguous; possibilities: '--format' '--force-share'\nTry 'qemu-img check --help' for more info\n", ""),
    Reject(&["check", "-x", "a"], 1, "qemu-img check: invalid option -- 'x'\nTry 'qemu-img check --help' for more info\n", ""),
    Reject(&["check", "-r"], 1, "qemu-img check: option requires an argument -- 'r'\nTry 'qemu-img check --help' for more info\n", ""),
    // commit
    Reject(&["commit"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img commit --help' for more info\n", ""),
    Reject(&["commit", "a", "b"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img commit --help' for more info\n", ""),
    Reject(&["commit", "-t", "bogus", "a"], 1, "qemu-img: Invalid cache option: bogus\n", ""),
    Reject(&["commit", "-r", "x", "a"], 1, "qemu-img: Invalid rate limit specified: 'x'.\n", ""),
    Reject(&["commit", "-r", "-1", "a"], 1, "qemu-img: Invalid rate limit specified. Must be between 0 and 9223372036854775807.\n", ""),
    Pass(&["commit", "-r", "1.5k", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["commit", "-p", "-t", "bogus", "a"], 1, "qemu-img: Invalid cache option: bogus\n", ""),
    Reject(&["commit", "--image-opts", "-f", "raw", "a"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", ""),
    Pass(&["commit", "-b", "x", "-d", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["commit", "--base", "x", "--drop", "--progress", "--quiet", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["commit", "--rate", "x", "a"], 1, "qemu-img: Invalid rate limit specified: 'x'.\n", ""),
    Reject(&["commit", "-s", "a"], 1, "qemu-img commit: invalid option -- 's'\nTry 'qemu-img commit --help' for more info\n", ""),
    Reject(&["commit", "-b"], 1, "qemu-img commit: option requires an argument -- 'b'\nTry 'qemu-img commit --help' for more info\n", ""),
    HelpText(&["commit", "--object", "help", "a"], "List of user creatable objects:\n  authz-list\n  authz-list-file\n  authz-simple\n  main-loop\n  pr-manager-helper\n  secret\n  secret_keyring\n  thread-context\n  throttle-group\n  tls-creds-anon\n  tls-creds-psk\n  tls-creds-x509\n"),
    // compare
    Reject(&["compare"], 1, "qemu-img: Expecting two image file names\nTry 'qemu-img compare --help' for more info\n", ""),
    Reject(&["compare", "a"], 1, "qemu-img: Expecting two image file names\nTry 'qemu-img compare --help' for more info\n", ""),
    Reject(&["compare", "a", "b", "c"], 1, "qemu-img: Expecting two image file names\nTry 'qemu-img compare --help' for more info\n", ""),
    Reject(&["compare", "-T", "bogus", "a", "b"], 2, "qemu-img: Invalid source cache option: bogus\n", ""),
    Reject(&["compare", "-p", "-T", "bogus", "a", "b"], 2, "qemu-img: Invalid source cache option: bogus\n", "\n"),
    Reject(&["compare", "-p", "-q", "-T", "bogus", "a", "b"], 2, "qemu-img: Invalid source cache option: bogus\n", ""),
    Reject(&["compare", "--image-opts", "-f", "raw", "a", "b"], 2, "qemu-img: --image-opts and --format are mutually exclusive\n", ""),
    Reject(&["compare", "-p", "--image-opts", "-f", "raw", "a", "b"], 2, "qemu-img: --image-opts and --format are mutually exclusive\n", "\n"),
    Pass(&["compare", "--image-opts", "-F", "raw", "a", "b"]), // qemu-img: Could not open 'a': Cannot find device='a' nor node-name='a'
    Reject(&["compare", "--left-format", "raw", "--right-format", "raw", "--strict", "--cache", "bogus", "a", "b"], 2, "qemu-img: Invalid source cache option: bogus\n", ""),
    Pass(&["compare", "-f", "raw", "-F", "qcow2", "-s", "-U", "-p", "-q", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["compare", "--a-format", "raw", "--b-format", "raw", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["compare", "--bogus", "a", "b"], 1, "qemu-img compare: unrecognized option '--bogus'\nTry 'qemu-img compare --help' for more info\n", ""),
    Reject(&["compare", "--c", "bogus", "a", "b"], 2, "qemu-img: Invalid source cache option: bogus\n", ""),
    // convert
    Reject(&["convert"], 1, "qemu-img: Must specify image file name\n", ""),
    Reject(&["convert", "a"], 1, "qemu-img: Must specify image file name\n", ""),
    Pass(&["convert", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["convert", "a", "b", "c"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["convert", "-n", "-o", "x", "a", "b"], 1, "qemu-img: -o has no effect when skipping image creation\n", ""),
    Reject(&["convert", "--target-image-opts", "a", "b"], 1, "qemu-img: --target-image-opts requires use of -n flag\n", ""),
    Reject(&["convert", "--target-is-zero", "a", "b"], 1, "qemu-img: --target-is-zero requires use of -n flag\n", ""),
    Reject(&["convert", "--skip-broken-bitmaps", "a", "b"], 1, "qemu-img: Use of --skip-broken-bitmaps requires --bitmaps\n", ""),
    Pass(&["convert", "--skip-broken-bitmaps", "--bitmaps", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["convert", "-c", "-C", "a", "b"], 1, "qemu-img: Cannot enable copy offloading when -c is used\n", ""),
    Reject(&["convert", "-S", "4k", "-C", "a", "b"], 1, "qemu-img: Cannot enable copy offloading when -S is used\n", ""),
    Reject(&["convert", "-C", "--salvage", "a", "b"], 1, "qemu-img: Cannot use copy offloading in salvaging mode\n", ""),
    Pass(&["convert", "-C", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["convert", "-S", "0", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["convert", "-S", "1000", "a", "b"], 1, "qemu-img: Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 up to 16777216. Select 0 to disable sparse detection (fully allocates output).\n", ""),
    Pass(&["convert", "-S", "16M", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["convert", "-S", "16M1", "a", "b"], 1, "qemu-img: Invalid buffer size for sparse output specified: '16M1'.\n", ""),
    Reject(&["convert", "-S", "17M", "a", "b"], 1, "qemu-img: Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 up to 16777216. Select 0 to disable sparse detection (fully allocates output).\n", ""),
    Reject(&["convert", "-S", "-1", "a", "b"], 1, "qemu-img: Invalid buffer size for sparse output specified. Must be between 0 and 9223372036854775807.\n", ""),
    Reject(&["convert", "-S", "x", "a", "b"], 1, "qemu-img: Invalid buffer size for sparse output specified: 'x'.\n", ""),
    Pass(&["convert", "-S", "512", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["convert", "-r", "x", "a", "b"], 1, "qemu-img: Invalid rate limit specified: 'x'.\n", ""),
    Reject(&["convert", "-r", "-1", "a", "b"], 1, "qemu-img: Invalid rate limit specified. Must be between 0 and 9223372036854775807.\n", ""),
    Pass(&["convert", "-r", "1M", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["convert", "-m", "0", "a", "b"], 1, "qemu-img: Invalid number of coroutines specified. Must be between 1 and 16.\n", ""),
    Reject(&["convert", "-m", "17", "a", "b"], 1, "qemu-img: Invalid number of coroutines specified. Must be between 1 and 16.\n", ""),
    Pass(&["convert", "-m", "16", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["convert", "-m", "010", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["convert", "-m", "x", "a", "b"], 1, "qemu-img: Invalid number of coroutines specified: 'x'.\n", ""),
    Reject(&["convert", "-m", "", "a", "b"], 1, "qemu-img: Invalid number of coroutines specified: ''.\n", ""),
    Pass(&["convert", "-o", "help"]), // rc=0
    Pass(&["convert", "-o", "help", "a"]), // rc=0
    Pass(&["convert", "-o", "help", "a", "b"]), // rc=0
    Pass(&["convert", "-O", "qcow2", "-o", "help", "a", "b"]), // rc=0
    Pass(&["convert", "-O", "qcow2", "-o", "?", "a", "b", "c"]), // rc=0
    Reject(&["convert", "--target-image-opts", "-o", "help", "a", "b"], 1, "qemu-img: --target-image-opts requires use of -n flag\n", ""),
    Reject(&["convert", "--target-image-opts", "-n", "-o", "help", "a", "b"], 1, "qemu-img: -o has no effect when skipping image creation\n", ""),
    Pass(&["convert", "-O", "bogus", "-o", "help", "a", "b"]), // qemu-img: Unknown file format 'bogus'
    Reject(&["convert", "-T", "bogus", "a", "b"], 1, "qemu-img: Invalid source cache option: bogus\n", ""),
    Reject(&["convert", "--source-cache=bogus", "a", "b"], 1, "qemu-img: Invalid source cache option: bogus\n", ""),
    Pass(&["convert", "-t", "bogus", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["convert", "--output-cache=bogus", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["convert", "-l", "snapshot.foo=1", "a", "b"], 1, "qemu-img: Invalid parameter 'snapshot.foo'\nqemu-img: Failed in parsing snapshot param 'snapshot.foo=1'\n", ""),
    Pass(&["convert", "-l", "snapshot.id=1,snapshot.name=x", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["convert", "-l", "snapshot.id=1,id=5", "a", "b"], 1, "qemu-img: Parameter 'id' expects an identifier\nIdentifiers consist of letters, digits, '-', '.', '_', starting with a letter.\nqemu-img: Failed in parsing snapshot param 'snapshot.id=1,id=5'\n", ""),
    Pass(&["convert", "-l", "snapshot.id=1,id=x5", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["convert", "-l", "snapshotx", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["convert", "-l", "snap1", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["convert", "-l", "snapshot.name=x,bogus=2", "a", "b"], 1, "qemu-img: Invalid parameter 'bogus'\nqemu-img: Failed in parsing snapshot param 'snapshot.name=x,bogus=2'\n", ""),
    Reject(&["convert", "--snapshot", "snapshot.x=1", "a", "b"], 1, "qemu-img: Invalid parameter 'snapshot.x'\nqemu-img: Failed in parsing snapshot param 'snapshot.x=1'\n", ""),
    Reject(&["convert", "-o", ",", "a", "b"], 1, "qemu-img: Invalid option list: ,\n", ""),
    Reject(&["convert", "-o", "a,", "a", "b"], 1, "qemu-img: Invalid option list: a,\n", ""),
    Reject(&["convert", "--skip-broken-bitmaps", "-c", "-C", "a", "b"], 1, "qemu-img: Use of --skip-broken-bitmaps requires --bitmaps\n", ""),
    Reject(&["convert", "-c", "-C", "-S", "0", "--salvage", "--target-image-opts", "-o", "x", "--target-is-zero", "a", "b"], 1, "qemu-img: Cannot enable copy offloading when -c is used\n", ""),
    Reject(&["convert", "-C", "-S", "0", "--salvage", "--target-image-opts", "-o", "x", "--target-is-zero", "a", "b"], 1, "qemu-img: Cannot enable copy offloading when -S is used\n", ""),
    Reject(&["convert", "--salvage", "-C", "--target-image-opts", "-o", "x", "--target-is-zero", "a", "b"], 1, "qemu-img: Cannot use copy offloading in salvaging mode\n", ""),
    Reject(&["convert", "--target-image-opts", "-o", "x", "--target-is-zero", "a", "b"], 1, "qemu-img: --target-image-opts requires use of -n flag\n", ""),
    Reject(&["convert", "-n", "-o", "x", "--target-is-zero", "a", "b"], 1, "qemu-img: -o has no effect when skipping image creation\n", ""),
    Reject(&["convert", "--target-is-zero", "-o", "help", "a", "b"], 1, "qemu-img: --target-is-zero requires use of -n flag\n", ""),
    Reject(&["convert", "--target-image-opts", "-o", "help"], 1, "qemu-img: --target-image-opts requires use of -n flag\n", ""),
    Reject(&["convert", "-n", "-o", "help", "a", "b"], 1, "qemu-img: -o has no effect when skipping image creation\n", ""),
    Pass(&["convert", "-n", "--target-is-zero", "--target-image-opts", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["convert", "-m", "4", "-W", "-p", "-q", "-U", "-B", "bk", "-F", "qcow2", "-O", "qcow2", "-f", "raw", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["convert", "--source-image-opts", "-f", "raw", "a", "b"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", ""),
    Reject(&["convert", "--image-opts", "-f", "raw", "a", "b"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", ""),
    Reject(&["convert", "-p", "--image-opts", "-f", "raw", "a", "b"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", "    (0.00/100%)\r\n"),
    Reject(&["convert", "-p", "-q", "--image-opts", "-f", "raw", "a", "b"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", ""),
    Pass(&["convert", "-o", "a", "-o", "b", "-o", "help", "a", "b"]), // rc=0
    Reject(&["convert", "--o", "x", "a", "b"], 1, "qemu-img convert: option '--o' is ambiguous; possibilities: '--object' '--output-format' '--options' '--output-cache' '--oob-writes'\nTry 'qemu-img convert --help' for more info\n", ""),
    Reject(&["convert", "--ou", "x", "a", "b"], 1, "qemu-img convert: option '--ou' is ambiguous; possibilities: '--output-format' '--output-cache'\nTry 'qemu-img convert --help' for more info\n", ""),
    Reject(&["convert", "--s", "x", "a", "b"], 1, "qemu-img convert: option '--s' is ambiguous; possibilities: '--source-image-opts' '--source-format' '--source-cache' '--snapshot' '--sparse-size' '--salvage' '--skip-broken-bitmaps'\nTry 'qemu-img convert --help' for more info\n", ""),
    Reject(&["convert", "--so", "x", "a", "b"], 1, "qemu-img convert: option '--so' is ambiguous; possibilities: '--source-image-opts' '--source-format' '--source-cache'\nTry 'qemu-img convert --help' for more info\n", ""),
    Reject(&["convert", "--b", "x", "a", "b"], 1, "qemu-img convert: option '--b' is ambiguous; possibilities: '--backing' '--backing-format' '--bitmaps'\nTry 'qemu-img convert --help' for more info\n", ""),
    Reject(&["convert", "--ba", "x", "a", "b"], 1, "qemu-img convert: option '--ba' is ambiguous; possibilities: '--backing' '--backing-format'\nTry 'qemu-img convert --help' for more info\n", ""),
    Reject(&["convert", "--t", "a", "b"], 1, "qemu-img convert: option '--t' is ambiguous; possibilities: '--target-image-opts' '--target-is-zero'\nTry 'qemu-img convert --help' for more info\n", ""),
    Reject(&["convert", "--target-format", "raw", "a", "b"], 1, "qemu-img convert: unrecognized option '--target-format'\nTry 'qemu-img convert --help' for more info\n", ""),
    Reject(&["convert", "--compress", "a", "b"], 1, "qemu-img convert: unrecognized option '--compress'\nTry 'qemu-img convert --help' for more info\n", ""),
    Reject(&["convert", "--progress", "a", "b"], 1, "qemu-img convert: unrecognized option '--progress'\nTry 'qemu-img convert --help' for more info\n", ""),
    Reject(&["convert", "-b", "x", "a", "b"], 1, "qemu-img convert: invalid option -- 'b'\nTry 'qemu-img convert --help' for more info\n", ""),
    Pass(&["convert", "--backing", "x", "--backing-format", "qcow2", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["convert", "--oob-writes", "--copy-range-offloading", "-c", "a", "b"], 1, "qemu-img: Cannot enable copy offloading when -c is used\n", ""),
    Reject(&["convert", "--parallel", "0", "a", "b"], 1, "qemu-img: Invalid number of coroutines specified. Must be between 1 and 16.\n", ""),
    Reject(&["convert", "--sparse-size", "1000", "a", "b"], 1, "qemu-img: Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 up to 16777216. Select 0 to disable sparse detection (fully allocates output).\n", ""),
    Reject(&["convert", "--rate", "x", "a", "b"], 1, "qemu-img: Invalid rate limit specified: 'x'.\n", ""),
    Reject(&["convert", "--options", ",", "a", "b"], 1, "qemu-img: Invalid option list: ,\n", ""),
    Pass(&["convert", "--output-format", "qcow2", "-o", "help", "a", "b"]), // rc=0
    Pass(&["convert", "-o", "help", "-T", "bogus", "a", "b"]), // rc=0
    Reject(&["convert", "-T", "bogus", "a"], 1, "qemu-img: Must specify image file name\n", ""),
    HelpText(&["convert", "--object", "help", "a", "b"], "List of user creatable objects:\n  authz-list\n  authz-list-file\n  authz-simple\n  main-loop\n  pr-manager-helper\n  secret\n  secret_keyring\n  thread-context\n  throttle-group\n  tls-creds-anon\n  tls-creds-psk\n  tls-creds-x509\n"),
    // create
    Reject(&["create"], 1, "qemu-img: Expecting image file name\nTry 'qemu-img create --help' for more info\n", ""),
    Pass(&["create", "-o", "help"]), // rc=0
    Pass(&["create", "-o", "?"]), // rc=0
    Pass(&["create", "-f", "qcow2", "-o", "help"]), // rc=0
    Pass(&["create", "-f", "qcow2", "-o", "help", "x"]), // rc=0
    Pass(&["create", "-f", "bogus", "-o", "help", "x"]), // qemu-img: Unknown file format 'bogus'
    Pass(&["create", "-f", "dmg", "-o", "help", "x"]), // qemu-img: Format driver 'dmg' does not support image creation
    Pass(&["create", "x"]), // qemu-img: x: Image creation needs a size parameter
    Reject(&["create", "x", "1M", "extra"], 1, "qemu-img: Unexpected argument: extra\nTry 'qemu-img create --help' for more info\n", ""),
    Reject(&["create", "x", "1M", "extra", "more"], 1, "qemu-img: Unexpected argument: extra\nTry 'qemu-img create --help' for more info\n", ""),
    Reject(&["create", "x", "--", "-1"], 1, "qemu-img: Invalid image size specified. Must be between 0 and 9223372036854775807.\n", ""),
    Reject(&["create", "x", " -1"], 1, "qemu-img: Invalid image size specified. Must be between 0 and 9223372036854775807.\n", ""),
    Reject(&["create", "x", "-1"], 1, "qemu-img create: invalid option -- '1'\nTry 'qemu-img create --help' for more info\n", ""),
    Reject(&["create", "x", "-1k"], 1, "qemu-img create: invalid option -- '1'\nTry 'qemu-img create --help' for more info\n", ""),
    Reject(&["create", "x", "1.5"], 1, "qemu-img: Invalid image size specified: '1.5'.\n", ""),
    Reject(&["create", "x", "8E"], 1, "qemu-img: Invalid image size specified. Must be between 0 and 9223372036854775807.\n", ""),
    Pass(&["create", "x", "1k"]), // rc=0
    Reject(&["create", "x", "abc"], 1, "qemu-img: Invalid image size specified: 'abc'.\n", ""),
    Pass(&["create", "x", "1M", "-f", "qcow2"]), // rc=0
    Reject(&["create", "-o", ",", "x", "1M"], 1, "qemu-img: Invalid option list: ,\n", ""),
    Reject(&["create", "-o", "", "x", "1M"], 1, "qemu-img: Invalid option list: \n", ""),
    Reject(&["create", "-o", "a,", "x", "1M"], 1, "qemu-img: Invalid option list: a,\n", ""),
    Pass(&["create", "-o", "a,,", "x", "1M"]), // qemu-img: x: Invalid parameter 'a'
    Reject(&["create", "-b"], 1, "qemu-img create: option requires an argument -- 'b'\nTry 'qemu-img create --help' for more info\n", ""),
    Reject(&["create", "-f"], 1, "qemu-img create: option requires an argument -- 'f'\nTry 'qemu-img create --help' for more info\n", ""),
    Pass(&["create", "-f", "qcow2", "-b", "base", "-F", "qcow2", "-u", "-q", "x", "1M"]), // rc=0
    Pass(&["create", "-o", "backing_file=b,help", "x"]), // rc=0
    Pass(&["create", "-o", "help,,", "x"]), // rc=0
    Pass(&["create", "-o", "a=help", "x", "1M"]), // qemu-img: x: Invalid parameter 'a'
    Pass(&["create", "-o", "a,,help", "x", "1M"]), // rc=0
    Pass(&["create", "-o", "help", "-o", "bogus", "x"]), // rc=0
    Reject(&["create", "-o", "x", "-o", ",", "x", "1M"], 1, "qemu-img: Invalid option list: ,\n", ""),
    Reject(&["create", "--backing-unsafe", "--backing", "x", "--backing-format", "qcow2", "--options", ",", "x"], 1, "qemu-img: Invalid option list: ,\n", ""),
    Reject(&["create", "--b", "x"], 1, "qemu-img create: option '--b' is ambiguous; possibilities: '--backing' '--backing-format' '--backing-unsafe'\nTry 'qemu-img create --help' for more info\n", ""),
    Reject(&["create", "--backing-", "x"], 1, "qemu-img create: option '--backing-' is ambiguous; possibilities: '--backing-format' '--backing-unsafe'\nTry 'qemu-img create --help' for more info\n", ""),
    Reject(&["create", "--o", "x"], 1, "qemu-img create: option '--o' is ambiguous; possibilities: '--object' '--options'\nTry 'qemu-img create --help' for more info\n", ""),
    Reject(&["create", "-e", "x", "1M"], 1, "qemu-img create: invalid option -- 'e'\nTry 'qemu-img create --help' for more info\n", ""),
    Reject(&["create", "-6", "x", "1M"], 1, "qemu-img create: invalid option -- '6'\nTry 'qemu-img create --help' for more info\n", ""),
    Reject(&["create", "-B", "x", "x", "1M"], 1, "qemu-img create: invalid option -- 'B'\nTry 'qemu-img create --help' for more info\n", ""),
    Reject(&["create", "-q"], 1, "qemu-img: Expecting image file name\nTry 'qemu-img create --help' for more info\n", ""),
    HelpText(&["create", "--object", "help", "x"], "List of user creatable objects:\n  authz-list\n  authz-list-file\n  authz-simple\n  main-loop\n  pr-manager-helper\n  secret\n  secret_keyring\n  thread-context\n  throttle-group\n  tls-creds-anon\n  tls-creds-psk\n  tls-creds-x509\n"),
    // dd
    Reject(&["dd"], 1, "qemu-img: Must specify both input and output files\n", ""),
    Reject(&["dd", "count=1k", "if=a", "of=b"], 1, "qemu-img: Invalid count specified: '1k'.\n", ""),
    Pass(&["dd", "count=010", "if=a", "of=b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["dd", "count=0x10", "if=a", "of=b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["dd", "count=-1", "if=a", "of=b"], 1, "qemu-img: Invalid count specified. Must be between 0 and 9223372036854775807.\n", ""),
    Reject(&["dd", "skip=-1", "if=a", "of=b"], 1, "qemu-img: Invalid skip specified. Must be between 0 and 9223372036854775807.\n", ""),
    Reject(&["dd", "skip=1k"], 1, "qemu-img: Invalid skip specified: '1k'.\n", ""),
    Reject(&["dd", "bs=1k", "count=x"], 1, "qemu-img: Invalid count specified: 'x'.\n", ""),
    Reject(&["dd", "bs=0"], 1, "qemu-img: Invalid bs specified. Must be between 1 and 2147483647.\n", ""),
    Reject(&["dd", "bs=2G"], 1, "qemu-img: Invalid bs specified. Must be between 1 and 2147483647.\n", ""),
    Pass(&["dd", "bs=2147483647", "if=a", "of=b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["dd", "bs=1.5k", "if=a", "of=b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["dd", "bs="], 1, "qemu-img: Invalid bs specified: ''.\n", ""),
    Reject(&["dd", "conv=notrunc"], 1, "qemu-img: unrecognized operand conv\n", ""),
    Reject(&["dd", "foo"], 1, "qemu-img: unrecognized operand foo\n", ""),
    Reject(&["dd", "if=a"], 1, "qemu-img: Must specify both input and output files\n", ""),
    Reject(&["dd", "of=b"], 1, "qemu-img: Must specify both input and output files\n", ""),
    Pass(&["dd", "if=a", "if=b", "of=c"]), // qemu-img: Could not open 'b': Could not open 'b': No such file or dire
    Reject(&["dd", "=x"], 1, "qemu-img: unrecognized operand \n", ""),
    Reject(&["dd", "if="], 1, "qemu-img: Must specify both input and output files\n", ""),
    Pass(&["dd", "if==a", "of=b"]), // qemu-img: Could not open '=a': Could not open '=a': No such file or di
    Reject(&["dd", "count=9223372036854775808", "if=a", "of=b"], 1, "qemu-img: Invalid count specified. Must be between 0 and 9223372036854775807.\n", ""),
    Reject(&["dd", "count=99999999999999999999", "if=a", "of=b"], 1, "qemu-img: Invalid count specified. Must be between 0 and 9223372036854775807.\n", ""),
    Reject(&["dd", "Count=1"], 1, "qemu-img: unrecognized operand Count\n", ""),
    Reject(&["dd", "if=a", "of=b", "extra"], 1, "qemu-img: unrecognized operand extra\n", ""),
    Reject(&["dd", "-f", "raw", "if=a", "of=b", "--bogus"], 1, "qemu-img dd: unrecognized option '--bogus'\nTry 'qemu-img dd --help' for more info\n", ""),
    Reject(&["dd", "if=a", "--bogus", "of=b"], 1, "qemu-img dd: unrecognized option '--bogus'\nTry 'qemu-img dd --help' for more info\n", ""),
    Reject(&["dd", "-f", "raw", "--image-opts", "if=a", "of=b"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", ""),
    Pass(&["dd", "if=a", "of=b", "-O", "qcow2", "-U"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["dd", "--output-format", "qcow2", "--force-share", "--format", "raw"], 1, "qemu-img: Must specify both input and output files\n", ""),
    Reject(&["dd", "--o", "x"], 1, "qemu-img dd: option '--o' is ambiguous; possibilities: '--object' '--output-format'\nTry 'qemu-img dd --help' for more info\n", ""),
    Reject(&["dd", "--f", "x"], 1, "qemu-img dd: option '--f' is ambiguous; possibilities: '--format' '--force-share'\nTry 'qemu-img dd --help' for more info\n", ""),
    Pass(&["dd", "--", "if=a", "of=b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["dd", "count=x", "bs=0"], 1, "qemu-img: Invalid count specified: 'x'.\n", ""),
    // map
    Reject(&["map"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img map --help' for more info\n", ""),
    Reject(&["map", "a", "b"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img map --help' for more info\n", ""),
    Reject(&["map", "-s", "-1", "a"], 1, "qemu-img: Invalid start offset specified. Must be between 0 and 9223372036854775807.\n", ""),
    Reject(&["map", "-l", "-1", "a"], 1, "qemu-img: Invalid max length specified. Must be between 0 and 9223372036854775807.\n", ""),
    Reject(&["map", "-s", "x", "a"], 1, "qemu-img: Invalid start offset specified: 'x'.\n", ""),
    Reject(&["map", "-l", "1.5", "a"], 1, "qemu-img: Invalid max length specified: '1.5'.\n", ""),
    Pass(&["map", "-s", "1.5k", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["map", "--start-offset=1k", "--max-length=2k", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["map", "--image-opts", "-f", "raw", "a"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", ""),
    Reject(&["map", "--output=xml", "a"], 1, "qemu-img: --output expects 'human' or 'json' not 'xml'\nTry 'qemu-img map --help' for more info\n", ""),
    Pass(&["map", "--output=json", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["map", "--o", "a"], 1, "qemu-img map: option '--o' is ambiguous; possibilities: '--output' '--object'\nTry 'qemu-img map --help' for more info\n", ""),
    Pass(&["map", "--s", "1", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    // measure
    Reject(&["measure"], 1, "qemu-img: Either --size N or one filename must be specified.\n", ""),
    Reject(&["measure", "a", "b"], 1, "qemu-img: At most one filename argument is allowed.\n", ""),
    Reject(&["measure", "-f", "raw"], 1, "qemu-img: --image-opts, -f, and -l require a filename argument.\n", ""),
    Reject(&["measure", "--image-opts"], 1, "qemu-img: --image-opts, -f, and -l require a filename argument.\n", ""),
    Reject(&["measure", "-l", "x"], 1, "qemu-img: --image-opts, -f, and -l require a filename argument.\n", ""),
    Reject(&["measure", "-l", "snapshot.bad=1"], 1, "qemu-img: Invalid parameter 'snapshot.bad'\nqemu-img: Failed in parsing snapshot param 'snapshot.bad=1'\n", ""),
    Reject(&["measure", "--size", "1M", "a"], 1, "qemu-img: --size N cannot be used together with a filename.\n", ""),
    Reject(&["measure", "--size", "x"], 1, "qemu-img: Invalid image size specified: 'x'.\n", ""),
    Reject(&["measure", "--size", "-1"], 1, "qemu-img: Invalid image size specified. Must be between 0 and 9223372036854775807.\n", ""),
    Pass(&["measure", "--size", "1M"]), // rc=0
    Pass(&["measure", "--size", "1M", "-O", "qcow2", "-o", "help"]), // qemu-img: Invalid parameter 'help'
    Pass(&["measure", "--size", "1M", "-o", "bogus"]), // qemu-img: Invalid parameter 'bogus'
    Reject(&["measure", "--size", "1M", "--output=xml"], 1, "qemu-img: --output expects 'human' or 'json' not 'xml'\nTry 'qemu-img measure --help' for more info\n", ""),
    Reject(&["measure", "-o", ",", "--size", "1M"], 1, "qemu-img: Invalid option list: ,\n", ""),
    Reject(&["measure", "--image-opts", "-f", "raw", "a"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", ""),
    Reject(&["measure", "-s", "1M"], 1, "qemu-img measure: invalid option -- 's'\nTry 'qemu-img measure --help' for more info\n", ""),
    Reject(&["measure", "--s", "1M"], 1, "qemu-img measure: option '--s' is ambiguous; possibilities: '--snapshot' '--size'\nTry 'qemu-img measure --help' for more info\n", ""),
    Reject(&["measure", "--o", "x", "a"], 1, "qemu-img measure: option '--o' is ambiguous; possibilities: '--options' '--object' '--output'\nTry 'qemu-img measure --help' for more info\n", ""),
    Pass(&["measure", "--target-format", "qcow2", "--size", "1M"]), // rc=0
    Pass(&["measure", "-O", "qcow2", "-o", "cluster_size=64k", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["measure", "-l", "snap", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["measure", "--snapshot", "x"], 1, "qemu-img: --image-opts, -f, and -l require a filename argument.\n", ""),
    // rebase
    Reject(&["rebase"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img rebase --help' for more info\n", ""),
    Reject(&["rebase", "a"], 1, "qemu-img: Must specify backing file (-b) or use unsafe mode (-u)\nTry 'qemu-img rebase --help' for more info\n", ""),
    Reject(&["rebase", "-u"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img rebase --help' for more info\n", ""),
    Reject(&["rebase", "-b", "x"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img rebase --help' for more info\n", ""),
    Reject(&["rebase", "-b", "x", "a", "b"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img rebase --help' for more info\n", ""),
    Reject(&["rebase", "-u", "a", "b"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img rebase --help' for more info\n", ""),
    Pass(&["rebase", "-b", "", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["rebase", "-u", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["rebase", "-p", "-t", "bogus", "-b", "x", "a"], 1, "qemu-img: Invalid cache option: bogus\n", "    (0.00/100%)\r\n"),
    Reject(&["rebase", "-p", "-T", "bogus", "-b", "x", "a"], 1, "qemu-img: Invalid source cache option: bogus\n", "    (0.00/100%)\r\n"),
    Reject(&["rebase", "-p", "-q", "-T", "bogus", "-b", "x", "a"], 1, "qemu-img: Invalid source cache option: bogus\n", ""),
    Reject(&["rebase", "-t", "bogus", "-T", "bogus", "-b", "x", "a"], 1, "qemu-img: Invalid cache option: bogus\n", ""),
    Reject(&["rebase", "-T", "bogus", "-b", "x", "a"], 1, "qemu-img: Invalid source cache option: bogus\n", ""),
    Reject(&["rebase", "-p", "-f", "raw", "--image-opts", "-b", "x", "a"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", "    (0.00/100%)\r\n"),
    Reject(&["rebase", "--backing-cache", "bogus", "-b", "x", "a"], 1, "qemu-img: Invalid source cache option: bogus\n", ""),
    Reject(&["rebase", "--cache", "bogus", "-b", "x", "a"], 1, "qemu-img: Invalid cache option: bogus\n", ""),
    Pass(&["rebase", "--backing-unsafe", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["rebase", "--b", "x", "a"], 1, "qemu-img rebase: option '--b' is ambiguous; possibilities: '--backing' '--backing-format' '--backing-cache' '--backing-unsafe'\nTry 'qemu-img rebase --help' for more info\n", ""),
    Reject(&["rebase", "--backing-", "x", "a"], 1, "qemu-img rebase: option '--backing-' is ambiguous; possibilities: '--backing-format' '--backing-cache' '--backing-unsafe'\nTry 'qemu-img rebase --help' for more info\n", ""),
    Reject(&["rebase", "--c", "x", "a"], 1, "qemu-img rebase: option '--c' is ambiguous; possibilities: '--cache' '--compress'\nTry 'qemu-img rebase --help' for more info\n", ""),
    Reject(&["rebase", "--f", "x", "a"], 1, "qemu-img rebase: option '--f' is ambiguous; possibilities: '--force-share' '--format'\nTry 'qemu-img rebase --help' for more info\n", ""),
    Pass(&["rebase", "-F", "qcow2", "-c", "-U", "-p", "-q", "-u", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    // resize
    Reject(&["resize"], 1, "qemu-img: Expecting image file name and size\nTry 'qemu-img resize --help' for more info\n", ""),
    Reject(&["resize", "a"], 1, "qemu-img: Expecting image file name and size\nTry 'qemu-img resize --help' for more info\n", ""),
    Reject(&["resize", "a", "1", "2"], 1, "qemu-img: Extra argument(s) in command line\nTry 'qemu-img resize --help' for more info\n", ""),
    Reject(&["resize", "-1k"], 1, "qemu-img resize: invalid option -- '1'\nTry 'qemu-img resize --help' for more info\n", ""),
    Reject(&["resize", "a", "-x"], 1, "qemu-img resize: invalid option -- 'x'\nTry 'qemu-img resize --help' for more info\n", ""),
    Reject(&["resize", "a", "-1x"], 1, "qemu-img: Parameter 'size' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.\n", ""),
    Reject(&["resize", "a", "-q"], 1, "qemu-img: Expecting image file name and size\nTry 'qemu-img resize --help' for more info\n", ""),
    Reject(&["resize", "-q"], 1, "qemu-img: Expecting image file name and size\nTry 'qemu-img resize --help' for more info\n", ""),
    Pass(&["resize", "a", "1k", "-f", "raw"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["resize", "a", "-1k"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["resize", "a", "+1k"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["resize", "a", "--", "-1k"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["resize", "--", "a", "-1k"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["resize", "--shrink", "-1k", "a"], 1, "qemu-img resize: invalid option -- '1'\nTry 'qemu-img resize --help' for more info\n", ""),
    Reject(&["resize", "a", "1k2"], 1, "qemu-img: Parameter 'size' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.\n", ""),
    Reject(&["resize", "a", "-1.5"], 1, "qemu-img: Parameter 'size' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.\n", ""),
    Reject(&["resize", "a", "20E"], 1, "qemu-img: Value '20E' is out of range for parameter 'size'\n", ""),
    Reject(&["resize", "a", ""], 1, "qemu-img: Parameter 'size' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.\n", ""),
    Reject(&["resize", "a", "+"], 1, "qemu-img: Parameter 'size' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.\n", ""),
    Reject(&["resize", "a", "--", "-"], 1, "qemu-img: Parameter 'size' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.\n", ""),
    Reject(&["resize", "a", " -1"], 1, "qemu-img: Value ' -1' is out of range for parameter 'size'\n", ""),
    Reject(&["resize", "a", "--20E"], 1, "qemu-img resize: unrecognized option '--20E'\nTry 'qemu-img resize --help' for more info\n", ""),
    Reject(&["resize", "a", "+-1"], 1, "qemu-img: Value '-1' is out of range for parameter 'size'\n", ""),
    Reject(&["resize", "--preallocation=bogus", "a", "1M"], 1, "qemu-img: Invalid preallocation mode 'bogus'\n", ""),
    Pass(&["resize", "--preallocation=full", "a", "1M"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["resize", "--preallocation=FULL", "a", "1M"], 1, "qemu-img: Invalid preallocation mode 'FULL'\n", ""),
    Reject(&["resize", "--image-opts", "-f", "raw", "a", "1M"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", ""),
    Reject(&["resize", "a", "1M", "--image-opts", "-f", "raw"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", ""),
    Pass(&["resize", "a", "-1M", "--shrink"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["resize", "--quiet", "--shrink", "--preallocation", "bogus", "a", "1"], 1, "qemu-img: Invalid preallocation mode 'bogus'\n", ""),
    Reject(&["resize", "a", "1", "--bogus"], 1, "qemu-img resize: unrecognized option '--bogus'\nTry 'qemu-img resize --help' for more info\n", ""),
    Reject(&["resize", "a", "b", "c", "d"], 1, "qemu-img: Extra argument(s) in command line\nTry 'qemu-img resize --help' for more info\n", ""),
    Reject(&["resize", "a", "1M", "--", "x"], 1, "qemu-img: Expecting image file name and size\nTry 'qemu-img resize --help' for more info\n", ""),
    HelpText(&["resize", "--object", "help", "a", "1"], "List of user creatable objects:\n  authz-list\n  authz-list-file\n  authz-simple\n  main-loop\n  pr-manager-helper\n  secret\n  secret_keyring\n  thread-context\n  throttle-group\n  tls-creds-anon\n  tls-creds-psk\n  tls-creds-x509\n"),
    Reject(&["resize", "-f"], 1, "qemu-img resize: option requires an argument -- 'f'\nTry 'qemu-img resize --help' for more info\n", ""),
    // snapshot
    Reject(&["snapshot"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img snapshot --help' for more info\n", ""),
    Reject(&["snapshot", "a", "b"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img snapshot --help' for more info\n", ""),
    Reject(&["snapshot", "-l", "-l", "a"], 1, "qemu-img: Cannot mix '-l', '-a', '-c', '-d'\nTry 'qemu-img snapshot --help' for more info\n", ""),
    Reject(&["snapshot", "-c", "x", "-l", "a"], 1, "qemu-img: Cannot mix '-l', '-a', '-c', '-d'\nTry 'qemu-img snapshot --help' for more info\n", ""),
    Reject(&["snapshot", "-a", "x", "-d", "y", "a"], 1, "qemu-img: Cannot mix '-l', '-a', '-c', '-d'\nTry 'qemu-img snapshot --help' for more info\n", ""),
    Reject(&["snapshot", "-c", "x", "a", "b"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img snapshot --help' for more info\n", ""),
    Reject(&["snapshot", "--image-opts", "-f", "raw", "a"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", ""),
    Reject(&["snapshot", "-c"], 1, "qemu-img snapshot: option requires an argument -- 'c'\nTry 'qemu-img snapshot --help' for more info\n", ""),
    Reject(&["snapshot", "--create=x", "a"], 1, "qemu-img snapshot: option '--create' doesn't allow an argument\nTry 'qemu-img snapshot --help' for more info\n", ""),
    Pass(&["snapshot", "--apply", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["snapshot", "--delete", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["snapshot", "--list", "-c", "x", "a"], 1, "qemu-img: Cannot mix '-l', '-a', '-c', '-d'\nTry 'qemu-img snapshot --help' for more info\n", ""),
    Pass(&["snapshot", "-a", "x", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["snapshot", "-d", "x", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["snapshot", "-c", "x", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["snapshot", "-l", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["snapshot", "--f", "a"], 1, "qemu-img snapshot: option '--f' is ambiguous; possibilities: '--format' '--force-share'\nTry 'qemu-img snapshot --help' for more info\n", ""),
    Reject(&["snapshot", "-l", "-l"], 1, "qemu-img: Cannot mix '-l', '-a', '-c', '-d'\nTry 'qemu-img snapshot --help' for more info\n", ""),
    // amend
    Reject(&["amend"], 1, "qemu-img: Must specify options (-o)\nTry 'qemu-img amend --help' for more info\n", ""),
    Reject(&["amend", "a"], 1, "qemu-img: Must specify options (-o)\nTry 'qemu-img amend --help' for more info\n", ""),
    Reject(&["amend", "-o", "x"], 1, "qemu-img: Expecting one image file name\n", ""),
    Reject(&["amend", "-o", "x", "a", "b"], 1, "qemu-img: Expecting one image file name\n", ""),
    Pass(&["amend", "-f", "qcow2", "-o", "help"]), // rc=0
    Pass(&["amend", "-f", "raw", "-o", "help", "a"]), // qemu-img: Format driver 'raw' does not support option amendment
    Pass(&["amend", "-f", "bogus", "-o", "help"]), // qemu-img: Unknown file format 'bogus'
    Pass(&["amend", "-o", "help", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["amend", "-o", "help"], 1, "qemu-img: Expecting one image file name\n", ""),
    Reject(&["amend", "-t", "bogus", "-o", "x", "a"], 1, "qemu-img: Invalid cache option: bogus\n", ""),
    Reject(&["amend", "-p", "-t", "bogus", "-o", "x", "a"], 1, "qemu-img: Invalid cache option: bogus\n", "\n"),
    Reject(&["amend", "-p", "-q", "-t", "bogus", "-o", "x", "a"], 1, "qemu-img: Invalid cache option: bogus\n", ""),
    Reject(&["amend", "-p", "-o", "x", "a", "b"], 1, "qemu-img: Expecting one image file name\n", "\n"),
    Reject(&["amend", "--image-opts", "-f", "raw", "-o", "x", "a"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", ""),
    Reject(&["amend", "-p", "--image-opts", "-f", "raw", "-o", "x", "a"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", "\n"),
    Reject(&["amend", "-o", ",", "a"], 1, "qemu-img: Invalid option list: ,\n", ""),
    Pass(&["amend", "-o", "help", "-f", "qcow2", "a", "b"]), // rc=0
    Reject(&["amend", "--options", "x", "--cache", "bogus", "a"], 1, "qemu-img: Invalid cache option: bogus\n", ""),
    Pass(&["amend", "-o", "x", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["amend", "--f", "x", "a"], 1, "qemu-img amend: option '--f' is ambiguous; possibilities: '--format' '--force'\nTry 'qemu-img amend --help' for more info\n", ""),
    Reject(&["amend", "--o", "x", "a"], 1, "qemu-img amend: option '--o' is ambiguous; possibilities: '--object' '--options'\nTry 'qemu-img amend --help' for more info\n", ""),
    Pass(&["amend", "--force", "-o", "x", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    HelpText(&["amend", "--object", "help", "-o", "x", "a"], "List of user creatable objects:\n  authz-list\n  authz-list-file\n  authz-simple\n  main-loop\n  pr-manager-helper\n  secret\n  secret_keyring\n  thread-context\n  throttle-group\n  tls-creds-anon\n  tls-creds-psk\n  tls-creds-x509\n"),
    // bench
    Reject(&["bench"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img bench --help' for more info\n", ""),
    Reject(&["bench", "a", "b"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img bench --help' for more info\n", ""),
    Reject(&["bench", "-c", "0", "a"], 1, "qemu-img: Invalid request count specified. Must be between 1 and 2147483647.\n", ""),
    Reject(&["bench", "-c", "x", "a"], 1, "qemu-img: Invalid request count specified: 'x'.\n", ""),
    Reject(&["bench", "-c", "2147483648", "a"], 1, "qemu-img: Invalid request count specified. Must be between 1 and 2147483647.\n", ""),
    Pass(&["bench", "-c", "2147483647", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["bench", "-d", "0", "a"], 1, "qemu-img: Invalid queue depth specified. Must be between 1 and 2147483647.\n", ""),
    Reject(&["bench", "-o", "-1", "a"], 1, "qemu-img: Invalid offset specified. Must be between 0 and 9223372036854775807.\n", ""),
    Reject(&["bench", "-o", "x", "a"], 1, "qemu-img: Invalid offset specified: 'x'.\n", ""),
    Pass(&["bench", "-o", "1k", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["bench", "-s", "0", "a"], 1, "qemu-img: Invalid buffer size specified. Must be between 1 and 2147483647.\n", ""),
    Reject(&["bench", "-s", "2G", "a"], 1, "qemu-img: Invalid buffer size specified. Must be between 1 and 2147483647.\n", ""),
    Pass(&["bench", "-s", "1k", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["bench", "-S", "-1", "a"], 1, "qemu-img: Invalid step size specified. Must be between 0 and 2147483647.\n", ""),
    Reject(&["bench", "-S", "2G", "a"], 1, "qemu-img: Invalid step size specified. Must be between 0 and 2147483647.\n", ""),
    Pass(&["bench", "-S", "0", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["bench", "--pattern", "256", "a"], 1, "qemu-img: Invalid pattern byte specified. Must be between 0 and 255.\n", ""),
    Pass(&["bench", "--pattern", "0x41", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["bench", "--pattern", "x", "a"], 1, "qemu-img: Invalid pattern byte specified: 'x'.\n", ""),
    Reject(&["bench", "--flush-interval", "-1", "a"], 1, "qemu-img: Invalid flush interval specified. Must be between 0 and 2147483647.\n", ""),
    Reject(&["bench", "--flush-interval", "5", "a"], 1, "qemu-img: --flush-interval is only available in write tests\n", ""),
    Reject(&["bench", "-w", "--flush-interval", "5", "a"], 1, "qemu-img: Flush interval can't be smaller than depth\n", ""),
    Pass(&["bench", "-w", "--flush-interval", "64", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["bench", "-w", "--flush-interval", "5", "-d", "1", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["bench", "-t", "bogus", "a"], 1, "qemu-img: Invalid cache mode\n", ""),
    Pass(&["bench", "-t", "none", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["bench", "-i", "bogus", "a"], 1, "qemu-img: Invalid aio option: bogus\n", ""),
    Pass(&["bench", "-i", "io_uring", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["bench", "-i", "native", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["bench", "-i", "threads", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["bench", "--image-opts", "-f", "raw", "a"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", ""),
    Pass(&["bench", "-q", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["bench", "-c", "0", "-x", "a"], 1, "qemu-img: Invalid request count specified. Must be between 1 and 2147483647.\n", ""),
    Reject(&["bench", "-w", "--flush-interval", "5", "-d", "1", "a", "b"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img bench --help' for more info\n", ""),
    Reject(&["bench", "--object", "secret,id=s,data=x", "a"], 1, "qemu-img bench: unrecognized option '--object'\nTry 'qemu-img bench --help' for more info\n", ""),
    Reject(&["bench", "--c", "1", "a"], 1, "qemu-img bench: option '--c' is ambiguous; possibilities: '--cache' '--count'\nTry 'qemu-img bench --help' for more info\n", ""),
    Reject(&["bench", "--f", "x", "a"], 1, "qemu-img bench: option '--f' is ambiguous; possibilities: '--format' '--flush-interval' '--force-share'\nTry 'qemu-img bench --help' for more info\n", ""),
    Reject(&["bench", "--fo", "a"], 1, "qemu-img bench: option '--fo' is ambiguous; possibilities: '--format' '--force-share'\nTry 'qemu-img bench --help' for more info\n", ""),
    Reject(&["bench", "--n", "a"], 1, "qemu-img bench: option '--n' is ambiguous; possibilities: '--native' '--no-drain'\nTry 'qemu-img bench --help' for more info\n", ""),
    Reject(&["bench", "--aio", "bogus", "a"], 1, "qemu-img: Invalid aio option: bogus\n", ""),
    Reject(&["bench", "--buffer-size", "0", "a"], 1, "qemu-img: Invalid buffer size specified. Must be between 1 and 2147483647.\n", ""),
    Reject(&["bench", "--count", "0", "a"], 1, "qemu-img: Invalid request count specified. Must be between 1 and 2147483647.\n", ""),
    Reject(&["bench", "--depth", "0", "a"], 1, "qemu-img: Invalid queue depth specified. Must be between 1 and 2147483647.\n", ""),
    Reject(&["bench", "--offset", "x", "a"], 1, "qemu-img: Invalid offset specified: 'x'.\n", ""),
    Reject(&["bench", "--step-size", "-1", "a"], 1, "qemu-img: Invalid step size specified. Must be between 0 and 2147483647.\n", ""),
    Pass(&["bench", "--native", "--write", "--no-drain", "--flush-interval", "64", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["bench", "-t", "bogus", "-c", "0", "a"], 1, "qemu-img: Invalid cache mode\n", ""),
    // bitmap
    Reject(&["bitmap"], 1, "qemu-img: Need at least one of --add, --remove, --clear, --enable, --disable, or --merge\n", ""),
    Reject(&["bitmap", "a", "b"], 1, "qemu-img: Need at least one of --add, --remove, --clear, --enable, --disable, or --merge\n", ""),
    Reject(&["bitmap", "--add", "a"], 1, "qemu-img: Expecting filename and bitmap name\n", ""),
    Pass(&["bitmap", "--add", "-g", "0", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["bitmap", "--add", "-g", "x", "a", "b"], 1, "qemu-img: Invalid granularity specified: 'x'.\n", ""),
    Reject(&["bitmap", "--add", "-g", "-1", "a", "b"], 1, "qemu-img: Invalid granularity specified. Must be between 0 and 9223372036854775807.\n", ""),
    Pass(&["bitmap", "--add", "-g", "64k", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["bitmap", "--remove", "-g", "64k", "a", "b"], 1, "qemu-img: granularity only supported with --add\n", ""),
    Reject(&["bitmap", "--add", "-F", "raw", "a", "b"], 1, "qemu-img: -F only supported with -b\n", ""),
    Reject(&["bitmap", "--add", "-b", "x", "a", "b"], 1, "qemu-img: Merge bitmap source file only supported with --merge\n", ""),
    Reject(&["bitmap", "--add", "-b", "x", "-F", "raw", "a", "b"], 1, "qemu-img: Merge bitmap source file only supported with --merge\n", ""),
    Reject(&["bitmap", "--merge", "s", "-F", "raw", "a", "b"], 1, "qemu-img: -F only supported with -b\n", ""),
    Pass(&["bitmap", "--merge", "s", "-b", "x", "-F", "raw", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["bitmap", "--add", "--image-opts", "-f", "raw", "a", "b"], 1, "qemu-img: --image-opts and --format are mutually exclusive\n", ""),
    Reject(&["bitmap", "--add", "a", "b", "c"], 1, "qemu-img: Expecting filename and bitmap name\n", ""),
    Reject(&["bitmap", "--remove", "-g", "64k", "-F", "raw", "a"], 1, "qemu-img: granularity only supported with --add\n", ""),
    Reject(&["bitmap", "-F", "raw", "-b", "x", "a"], 1, "qemu-img: Need at least one of --add, --remove, --clear, --enable, --disable, or --merge\n", ""),
    Reject(&["bitmap", "--merge"], 1, "qemu-img bitmap: option '--merge' requires an argument\nTry 'qemu-img bitmap --help' for more info\n", ""),
    Pass(&["bitmap", "--add", "--remove", "--clear", "--enable", "--disable", "--merge", "s", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["bitmap", "--s", "x", "--add", "a", "b"], 1, "qemu-img bitmap: option '--s' is ambiguous; possibilities: '--source-file' '--source-format'\nTry 'qemu-img bitmap --help' for more info\n", ""),
    Reject(&["bitmap", "--add", "--granularity", "x", "a", "b"], 1, "qemu-img: Invalid granularity specified: 'x'.\n", ""),
    Reject(&["bitmap", "--add", "--source-file", "x", "a", "b"], 1, "qemu-img: Merge bitmap source file only supported with --merge\n", ""),
    Reject(&["bitmap", "--merge", "x", "--source-format", "raw", "a", "b"], 1, "qemu-img: -F only supported with -b\n", ""),
    Pass(&["bitmap", "--a", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["bitmap", "-q", "--add", "a", "b"], 1, "qemu-img bitmap: invalid option -- 'q'\nTry 'qemu-img bitmap --help' for more info\n", ""),
    // more scanning edge cases
    Pass(&["info", "--", "--output=json"]), // qemu-img: Could not open '--output=json': Could not open '--output=jso
    Reject(&["info", "--", "--", "x"], 1, "qemu-img: Expecting one image file name\nTry 'qemu-img info --help' for more info\n", ""),
    Reject(&["convert", "a", "b", "-O"], 1, "qemu-img convert: option requires an argument -- 'O'\nTry 'qemu-img convert --help' for more info\n", ""),
    Pass(&["info", "-Ufraw", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["info", "-Uq", "a"], 1, "qemu-img info: invalid option -- 'q'\nTry 'qemu-img info --help' for more info\n", ""),
    Pass(&["dd", "if=a", "of=b", "--", "bs=1"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["resize", "-q", "a", "--", "1k"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["resize", "a", "-5", "-q"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["resize", "a", "-5", "-x"], 1, "qemu-img resize: invalid option -- 'x'\nTry 'qemu-img resize --help' for more info\n", ""),
    Reject(&["resize", "a", "-5x"], 1, "qemu-img: Parameter 'size' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.\n", ""),
    Reject(&["resize", "a", "--", "-5", "extra"], 1, "qemu-img: Expecting image file name and size\nTry 'qemu-img resize --help' for more info\n", ""),
    Reject(&["resize", "a", "b", "--", "c"], 1, "qemu-img: Expecting image file name and size\nTry 'qemu-img resize --help' for more info\n", ""),
    Reject(&["create", "-f", "qcow2", "x", "1M", "--", "-1"], 1, "qemu-img: Unexpected argument: -1\nTry 'qemu-img create --help' for more info\n", ""),
    Pass(&["snapshot", "-l", "--", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["snapshot", "-c", "", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    HelpText(&["info", "--obj", "help"], "List of user creatable objects:\n  authz-list\n  authz-list-file\n  authz-simple\n  main-loop\n  pr-manager-helper\n  secret\n  secret_keyring\n  thread-context\n  throttle-group\n  tls-creds-anon\n  tls-creds-psk\n  tls-creds-x509\n"),
    HelpText(&["info", "--objec=secret,help", "a"], "secret options:\n  data=<string>\n  file=<string>\n  format=<QCryptoSecretFormat>\n  iv=<string>\n  keyid=<string>\n"),
    Pass(&["check", "--outp=json", "--rep=leaks", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["check", "-rleaks", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["check", "-rall", "-Tnone", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["map", "-s0x10", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Reject(&["map", "-s", "0x10k", "a"], 1, "qemu-img: Invalid start offset specified: '0x10k'.\n", ""),
    Pass(&["convert", "-S4k", "-m4", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["convert", "-Ohelp", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["convert", "-o", "help", "-O", "raw", "-O", "qcow2", "a", "b"]), // rc=0
    Pass(&["create", "-fqcow2", "-ohelp"]), // rc=0
    Pass(&["create", "-o", "help", "-f", "vmdk"]), // rc=0
    Pass(&["create", "-q", "-o", "?", "-f", "raw", "x"]), // rc=0
    Pass(&["compare", "-fraw", "-Fraw", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["bench", "-c", "1", "-d", "1", "-o", "0", "-s", "512", "-S", "512", "-w", "--pattern", "255", "--flush-interval", "1", "--no-drain", "-i", "threads", "-n", "-U", "-q", "-t", "writeback", "a"]), // qemu-img: Could not open 'a': force-share=on can only be used with rea
    Pass(&["bench", "-c1", "a", "-d2"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["bitmap", "--add", "--merge", "x", "-b", "y", "-F", "raw", "-g", "1M", "a", "b"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["rebase", "-b", "base", "-F", "qcow2", "-t", "none", "-T", "directsync", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["rebase", "-b", "base", "-t", "off", "-T", "writethrough", "-p", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["amend", "-o", "compat=0.10", "-o", "lazy_refcounts=off", "-f", "qcow2", "-t", "unsafe", "--force", "-p", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["measure", "--size", "0"]), // rc=0
    Reject(&["measure", "--size", "8E"], 1, "qemu-img: Invalid image size specified. Must be between 0 and 9223372036854775807.\n", ""),
    Pass(&["measure", "--size", "1G", "--output", "json", "-O", "qcow2", "-o", "cluster_size=2M"]), // rc=0
    Pass(&["measure", "-f", "raw", "-l", "snapshot.id=1", "-U", "--output=json", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    Pass(&["dd", "bs=64k", "count=2", "skip=1", "if=a", "of=b", "-O", "qcow2", "-f", "raw"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    // objects across options
    Reject(&["info", "--object", "secret,id=s0,data=x", "--object", "secret,id=s0,data=y", "a"], 1, "qemu-img: attempt to add duplicate property 's0' to object (type 'container')\n", ""),
    Pass(&["info", "--object", "secret,id=s0,data=x", "--object", "secret,id=s1,data=y", "a"]), // qemu-img: Could not open 'a': Could not open 'a': No such file or dire
    HelpText(&["info", "--object", "secret,id=s0,data=x", "--object", "help", "a"], "List of user creatable objects:\n  authz-list\n  authz-list-file\n  authz-simple\n  main-loop\n  pr-manager-helper\n  secret\n  secret_keyring\n  thread-context\n  throttle-group\n  tls-creds-anon\n  tls-creds-psk\n  tls-creds-x509\n"),
    Reject(&["check", "--object", "secret,id=s0,data=x", "--bogus", "a"], 1, "qemu-img check: unrecognized option '--bogus'\nTry 'qemu-img check --help' for more info\n", ""),

];

#[test]
fn matches_qemu_img() {
    let failures: Vec<String> = CASES.iter().filter_map(check).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// qemu-img names itself after `argv[0]`: verbatim in getopt errors and the `Try`
/// line, by base name before other messages (recorded with `/usr/bin/qemu-img` and a
/// symlink `./qi`).
#[test]
fn messages_follow_argv0() {
    let e = |argv0: &str, args: &[&str]| run_as(argv0, args).unwrap_err().message;
    assert_eq!(
        e("/usr/bin/qemu-img", &["info", "--bogus"]),
        "/usr/bin/qemu-img info: unrecognized option '--bogus'\nTry '/usr/bin/qemu-img info --help' for more info\n"
    );
    assert_eq!(
        e("/usr/bin/qemu-img", &["info", "-z"]),
        "/usr/bin/qemu-img info: invalid option -- 'z'\nTry '/usr/bin/qemu-img info --help' for more info\n"
    );
    assert_eq!(
        e("/usr/bin/qemu-img", &["-x"]),
        "/usr/bin/qemu-img: invalid option -- 'x'\nTry '/usr/bin/qemu-img --help' for more info\n"
    );
    assert_eq!(
        e("/usr/bin/qemu-img", &[]),
        "qemu-img: Not enough arguments\nTry '/usr/bin/qemu-img --help' for more info\n"
    );
    assert_eq!(
        e("/usr/bin/qemu-img", &["info", "--output=xml", "x"]),
        "qemu-img: --output expects 'human' or 'json' not 'xml'\nTry '/usr/bin/qemu-img info --help' for more info\n"
    );
    assert_eq!(
        e("./qi", &["info"]),
        "qi: Expecting one image file name\nTry './qi info --help' for more info\n"
    );
    assert_eq!(
        e("./qi", &["foo"]),
        "qi: Command not found: foo\nTry './qi --help' for more info\n"
    );
    assert_eq!(prog_name(OsStr::new("/a/b/qemu-img")), "qemu-img");
    assert_eq!(prog_name(OsStr::new("qimg")), "qimg");
}

/// With `POSIXLY_CORRECT` set, qemu-img stops scanning options at the first operand.
#[test]
fn posixly_correct_stops_at_first_operand() {
    let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
    let e = parse_env(
        OsStr::new("qemu-img"),
        &args(&["info", "x", "-f", "raw"]),
        true,
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "qemu-img: Expecting one image file name\nTry 'qemu-img info --help' for more info\n"
    );
    assert!(parse_env(
        OsStr::new("qemu-img"),
        &args(&["info", "-f", "raw", "x"]),
        true
    )
    .is_ok());
    // resize scans in order anyway.
    assert!(parse_env(OsStr::new("qemu-img"), &args(&["resize", "x", "-1k"]), true).is_ok());
    let e = parse_env(
        OsStr::new("qemu-img"),
        &args(&["dd", "if=a", "-f", "raw", "of=b"]),
        true,
    )
    .unwrap_err();
    assert_eq!(e.message, "qemu-img: unrecognized operand -f\n");
}

#[test]
fn version_and_help() {
    assert_eq!(run(&["-V"]), Ok(Invocation::Version));
    assert_eq!(run(&["--version", "info"]), Ok(Invocation::Version));
    assert_eq!(run(&["-Vh"]), Ok(Invocation::Version));
    assert!(matches!(run(&["-hV"]), Ok(Invocation::Help(_))));
    let v = version_text();
    assert!(v.starts_with("qemu-img version 10.0.2 (qimg "));
    assert_eq!(v.lines().count(), 2);
    for cmd in [
        "amend", "bench", "bitmap", "check", "commit", "compare", "convert", "create", "dd",
        "info", "map", "measure", "rebase", "resize", "snapshot",
    ] {
        let Ok(Invocation::Help(text)) = run(&[cmd, "--help"]) else {
            panic!("{cmd}")
        };
        assert!(
            text.starts_with(&format!("Usage: qemu-img {cmd} ")),
            "{text}"
        );
    }
}

#[test]
fn file_names_keep_their_bytes() {
    use std::os::unix::ffi::OsStringExt;
    let name = OsString::from_vec(b"img\xff.raw".to_vec());
    let args = vec![OsString::from("info"), name.clone()];
    let Ok(Invocation::Command(Command::Info(i))) = parse(&args) else {
        panic!()
    };
    assert_eq!(i.filename, name);
}

#[test]
fn info_fields() {
    let Command::Info(i) = command(&[
        "info",
        "x.qcow2",
        "--out=json",
        "-Uf",
        "qcow2",
        "--backing-chain",
    ]) else {
        panic!()
    };
    assert_eq!(i.filename, "x.qcow2");
    assert_eq!(i.format.as_deref(), Some("qcow2"));
    assert!(i.force_share && i.backing_chain && !i.image_opts);
    assert_eq!(i.output, OutputFormat::Json);
    let Command::Info(i) = command(&[
        "info",
        "--object",
        "secret,id=sec0,data=pw",
        "--image-opts",
        "driver=qcow2",
    ]) else {
        panic!()
    };
    assert!(i.image_opts);
    assert_eq!(i.objects.len(), 1);
    assert_eq!(
        (i.objects[0].id.as_str(), i.objects[0].prop("data")),
        ("sec0", Some("pw"))
    );
}

#[test]
fn check_fields() {
    let Command::Check(c) = command(&[
        "check", "-rleaks", "-T", "none", "-q", "--output", "json", "a",
    ]) else {
        panic!()
    };
    assert_eq!(c.repair, Some(RepairMode::Leaks));
    assert_eq!(c.cache, "none");
    assert!(c.quiet);
    assert_eq!(c.output, OutputFormat::Json);
    let Command::Check(c) = command(&["check", "-r", "leaks", "--repair=all", "a"]) else {
        panic!()
    };
    assert_eq!(c.repair, Some(RepairMode::All));
    assert_eq!(c.cache, "writeback");
}

#[test]
fn commit_fields() {
    let Command::Commit(c) = command(&[
        "commit",
        "-b",
        "base.qcow2",
        "-r",
        "1.5k",
        "-p",
        "-q",
        "top",
    ]) else {
        panic!()
    };
    assert_eq!(c.base.as_deref(), Some(OsStr::new("base.qcow2")));
    assert!(c.drop, "-b implies -d");
    assert_eq!(c.rate_limit, 1536);
    assert!(!c.progress, "-q turns -p off");
    let Command::Commit(c) = command(&["commit", "-p", "top"]) else {
        panic!()
    };
    assert!(c.progress && !c.drop);
}

#[test]
fn compare_fields() {
    let Command::Compare(c) = command(&[
        "compare",
        "--left-format=raw",
        "-F",
        "qcow2",
        "-s",
        "a",
        "b",
    ]) else {
        panic!()
    };
    assert_eq!(
        (c.format1.as_deref(), c.format2.as_deref()),
        (Some("raw"), Some("qcow2"))
    );
    assert_eq!(
        (c.filename1.as_os_str(), c.filename2.as_os_str()),
        (OsStr::new("a"), OsStr::new("b"))
    );
    assert!(c.strict);
}

#[test]
fn convert_fields() {
    let Command::Convert(c) = command(&[
        "convert",
        "-p",
        "-c",
        "-O",
        "qcow2",
        "-o",
        "compat=1.1",
        "-o",
        "lazy_refcounts=on",
        "-S",
        "64k",
        "-m16",
        "-W",
        "-B",
        "base",
        "-F",
        "raw",
        "-l",
        "snapshot.name=s1",
        "-r",
        "1M",
        "a",
        "b",
        "out",
    ]) else {
        panic!()
    };
    assert_eq!(c.sources, vec![OsString::from("a"), OsString::from("b")]);
    assert_eq!(c.target, "out");
    assert_eq!(c.target_format.as_deref(), Some("qcow2"));
    assert_eq!(c.options.as_deref(), Some("compat=1.1,lazy_refcounts=on"));
    assert_eq!((c.sparse_size, c.sparse_size_given), (65536, true));
    assert_eq!(c.parallel, 16);
    assert!(c.oob_writes && c.compress && c.progress);
    assert_eq!(c.backing.as_deref(), Some(OsStr::new("base")));
    assert_eq!(c.backing_format.as_deref(), Some("raw"));
    assert_eq!(
        c.snapshot,
        Some(SnapshotParam::Opts {
            id: None,
            name: Some("s1".into())
        })
    );
    assert_eq!(c.rate_limit, 1 << 20);
    assert_eq!(
        (c.source_cache.as_str(), c.target_cache.as_str()),
        ("writeback", "unsafe")
    );
    let Command::Convert(c) = command(&[
        "convert",
        "-l",
        "snap1",
        "-n",
        "--target-image-opts",
        "a",
        "driver=raw",
    ]) else {
        panic!()
    };
    assert_eq!(c.snapshot, Some(SnapshotParam::IdOrName("snap1".into())));
    assert_eq!(
        c.target_format, None,
        "no default format with --target-image-opts"
    );
    assert_eq!(
        (c.sparse_size, c.sparse_size_given, c.parallel),
        (4096, false, 8)
    );
}

#[test]
fn options_help_requests() {
    let want = |kind, format: &str, filename: Option<&str>| {
        Ok(Invocation::Command(Command::OptionsHelp(OptionsHelp {
            kind,
            format: format.into(),
            filename: filename.map(OsString::from),
        })))
    };
    assert_eq!(
        run(&["create", "-o", "help"]),
        want(OptionsHelpKind::Create, "raw", None)
    );
    assert_eq!(
        run(&["create", "-f", "qcow2", "-o", "?", "x", "1G"]),
        want(OptionsHelpKind::Create, "qcow2", Some("x"))
    );
    assert_eq!(
        run(&["convert", "-O", "qcow2", "-o", "help", "a"]),
        want(OptionsHelpKind::Create, "qcow2", None)
    );
    assert_eq!(
        run(&["convert", "-o", "help", "a", "b", "c"]),
        want(OptionsHelpKind::Create, "raw", Some("c"))
    );
    assert_eq!(
        run(&["amend", "-f", "qcow2", "-o", "help"]),
        want(OptionsHelpKind::Amend, "qcow2", None)
    );
    // Without -f, amend answers `-o help` after opening the image.
    let Command::Amend(a) = command(&["amend", "-o", "help", "img"]) else {
        panic!()
    };
    assert_eq!(a.options, "help");
}

#[test]
fn create_fields() {
    let Command::Create(c) = command(&[
        "create", "-q", "-f", "qcow2", "-b", "base", "-F", "qcow2", "-u", "x", "1.5G",
    ]) else {
        panic!()
    };
    assert_eq!(c.size, Some(1610612736));
    assert_eq!(c.format, "qcow2");
    assert_eq!(c.backing.as_deref(), Some(OsStr::new("base")));
    assert!(c.backing_unsafe && c.quiet);
    let Command::Create(c) = command(&["create", "x"]) else {
        panic!()
    };
    assert_eq!((c.size, c.format.as_str(), c.options), (None, "raw", None));
}

#[test]
fn dd_fields() {
    let Command::Dd(d) = command(&[
        "dd", "bs=64k", "count=2", "skip=0x1", "if=in", "of=out", "-O", "qcow2",
    ]) else {
        panic!()
    };
    assert_eq!((d.bs, d.count, d.skip), (65536, Some(2), 1));
    assert_eq!(
        (d.input.as_os_str(), d.output.as_os_str()),
        (OsStr::new("in"), OsStr::new("out"))
    );
    assert_eq!(d.output_format, "qcow2");
    let Command::Dd(d) = command(&["dd", "if=a", "of=b", "if=c"]) else {
        panic!()
    };
    assert_eq!(
        (d.input.as_os_str(), d.bs, d.count, d.skip),
        (OsStr::new("c"), 512, None, 0)
    );
}

#[test]
fn map_and_measure_fields() {
    let Command::Map(m) = command(&["map", "--start-offset", "1M", "-l", "0x1000", "a"]) else {
        panic!()
    };
    assert_eq!((m.start_offset, m.max_length), (1 << 20, Some(4096)));
    let Command::Measure(m) =
        command(&["measure", "--size", "64M", "-O", "qcow2", "--output=json"])
    else {
        panic!()
    };
    assert_eq!(
        (m.size, m.filename, m.target_format.as_str()),
        (Some(64 << 20), None, "qcow2")
    );
    assert_eq!(m.output, OutputFormat::Json);
    let Command::Measure(m) = command(&["measure", "-l", "snapshot.id=3", "a"]) else {
        panic!()
    };
    assert_eq!(
        m.snapshot,
        Some(SnapshotParam::Opts {
            id: Some("3".into()),
            name: None
        })
    );
    assert_eq!(m.filename.as_deref(), Some(OsStr::new("a")));
}

#[test]
fn rebase_and_resize_fields() {
    let Command::Rebase(r) = command(&["rebase", "-b", "", "-t", "none", "-T", "unsafe", "a"])
    else {
        panic!()
    };
    assert_eq!(r.backing.as_deref(), Some(OsStr::new("")));
    assert_eq!(
        (r.cache.as_str(), r.backing_cache.as_str()),
        ("none", "unsafe")
    );
    assert!(!r.unsafe_mode);
    let size = |args: &[&str]| match command(args) {
        Command::Resize(r) => r.size,
        _ => panic!(),
    };
    assert_eq!(size(&["resize", "a", "-1k"]), ResizeSize::Shrink(1024));
    assert_eq!(size(&["resize", "a", "+1.5M"]), ResizeSize::Grow(1572864));
    assert_eq!(
        size(&["resize", "--shrink", "a", "--", "-5"]),
        ResizeSize::Shrink(5)
    );
    assert_eq!(size(&["resize", "a", "8E"]), ResizeSize::Absolute(1 << 63));
    let Command::Resize(r) = command(&[
        "resize",
        "--preallocation",
        "falloc",
        "--shrink",
        "-q",
        "a",
        "1G",
    ]) else {
        panic!()
    };
    assert_eq!(r.preallocation.as_deref(), Some("falloc"));
    assert!(r.shrink && r.quiet);
}

#[test]
fn snapshot_amend_bench_bitmap_fields() {
    let action = |args: &[&str]| match command(args) {
        Command::Snapshot(s) => s.action,
        _ => panic!(),
    };
    assert_eq!(action(&["snapshot", "a"]), SnapshotAction::List);
    assert_eq!(
        action(&["snapshot", "-c", "", "a"]),
        SnapshotAction::Create(Some(String::new()))
    );
    assert_eq!(
        action(&["snapshot", "-a", "1", "a"]),
        SnapshotAction::Apply(Some("1".into()))
    );
    assert_eq!(
        action(&["snapshot", "--delete", "a"]),
        SnapshotAction::Delete(None)
    );

    let Command::Amend(a) = command(&[
        "amend",
        "-o",
        "compat=0.10",
        "-o",
        "size=1G",
        "--force",
        "-p",
        "a",
    ]) else {
        panic!()
    };
    assert_eq!(a.options, "compat=0.10,size=1G");
    assert!(a.force && a.progress);

    let Command::Bench(b) = command(&[
        "bench",
        "-c",
        "10",
        "-d",
        "2",
        "-s",
        "64k",
        "-S",
        "0",
        "-w",
        "--pattern",
        "0xff",
        "-i",
        "native",
        "a",
    ]) else {
        panic!()
    };
    assert_eq!(
        (b.count, b.depth, b.buffer_size, b.step_size, b.pattern),
        (10, 2, 65536, 0, 255)
    );
    assert!(b.write && b.native_aio && !b.io_uring && b.drain_on_flush);
    let Command::Bench(b) = command(&["bench", "a"]) else {
        panic!()
    };
    assert_eq!(
        (b.count, b.depth, b.buffer_size, b.offset, b.cache.as_str()),
        (75000, 64, 4096, 0, "writeback")
    );

    let Command::Bitmap(m) = command(&[
        "bitmap",
        "--add",
        "-g",
        "128k",
        "--disable",
        "--merge",
        "old",
        "-b",
        "src",
        "a",
        "bm",
    ]) else {
        panic!()
    };
    assert_eq!(
        m.actions,
        vec![
            BitmapAction::Add,
            BitmapAction::Disable,
            BitmapAction::Merge("old".into())
        ]
    );
    assert_eq!((m.granularity, m.bitmap.as_str()), (131072, "bm"));
    assert_eq!(m.source_file.as_deref(), Some(OsStr::new("src")));
}

/// Whatever the arguments, parsing returns instead of panicking.
#[test]
fn never_panics() {
    let words = [
        "-",
        "--",
        "-f",
        "--f",
        "--fo=",
        "-o",
        "help",
        "-o,",
        "=",
        ",",
        "-1",
        "-1k",
        "--object",
        "secret,",
        "x",
        "",
        "-S",
        "0x",
        "--output=",
        "-rleaks",
        "if=",
        "bs=",
        "-l",
        "snapshot.",
        "\u{00e9}",
        "-\u{00e9}",
        "-q:",
        "--=",
        "-b",
        "--size",
        "-T",
        "help",
        "+",
        ".5k",
        "-p",
        "-n",
        "--image-opts",
    ];
    let cmds = [
        "amend", "bench", "bitmap", "check", "commit", "compare", "convert", "create", "dd",
        "info", "map", "measure", "rebase", "resize", "snapshot", "-T", "-h",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for _ in 0..20000 {
        let mut args = vec![cmds[next(cmds.len())]];
        for _ in 0..next(6) {
            args.push(words[next(words.len())]);
        }
        let _ = run(&args);
    }
}
