//! The `qimg` binary: argument parsing and output, nothing else. Behaviour
//! lives in `qimg-runtime`; this crate turns command lines into calls and
//! results into the bytes qemu-img 10.0.2 prints.

mod args;
mod commands;
mod output;

use std::ffi::OsString;

fn main() {
    limit_malloc_arenas();
    let argv: Vec<OsString> = std::env::args_os().collect();
    let argv0 = argv.first().cloned().unwrap_or_else(|| OsString::from("qimg"));
    let env = commands::Env::new(args::prog_name(&argv0));
    let code = run(&env, &argv0, argv.get(1..).unwrap_or(&[]));
    env.flush_out();
    std::process::exit(code);
}

fn run(env: &commands::Env, argv0: &OsString, args: &[OsString]) -> i32 {
    match args::parse_with_argv0(argv0, args) {
        Err(e) => {
            env.out(e.stdout.as_bytes());
            env.err(e.message.as_bytes());
            e.code
        }
        Ok(args::Invocation::Help(text)) => {
            env.out(text.as_bytes());
            0
        }
        Ok(args::Invocation::Version) => {
            env.out(args::version_text().as_bytes());
            0
        }
        Ok(args::Invocation::Command(cmd)) => commands::run(env, cmd),
    }
}

/// glibc gives each thread that contends for the heap an arena reserving
/// 64 MiB of address space; with a worker pool that would break the 1 GiB
/// address-space limits callers put on qemu-img. Two arenas are plenty.
fn limit_malloc_arenas() {
    // SAFETY: mallopt only changes allocator tuning; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
