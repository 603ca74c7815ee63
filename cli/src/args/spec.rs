//! `qimg spec [FORMAT [ITEM]]`, a qimg command qemu-img does not have: print the
//! on-disk layout tables generated from `formats/*.spec`.
//!
//! Parsed like the qemu-img commands (getopt scanning, the same error shapes): at most
//! two operands (`Expecting at most a format and an item name`, with the `Try` line).
//! Whether FORMAT and ITEM exist is checked when the command runs.

use super::ctx::{lossy, Ctx};
use super::scan::unhandled;
use super::{Command, Invocation, UsageError};

/// Arguments of `spec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The format whose layout to print; `None` lists the formats.
    pub format: Option<String>,
    /// One item of that format (matched without regard to case); `None` prints all.
    pub item: Option<String>,
}

pub(super) fn parse(ctx: &Ctx, args: &[Vec<u8>]) -> Result<Invocation, UsageError> {
    let mut g = ctx.getopt(args);
    // `-h` is the only option, and it ends the parse.
    if let Some((opt, _)) = ctx.next_opt(&mut g)? {
        match opt {
            "help" => return Ok(ctx.help()),
            other => unhandled(other),
        }
    }
    let mut operands = g.into_operands().into_iter().map(|o| lossy(&o));
    let (format, item) = (operands.next(), operands.next());
    if operands.next().is_some() {
        return Err(ctx.error_exit("Expecting at most a format and an item name"));
    }
    Ok(Invocation::Command(Command::Spec(Spec { format, item })))
}

#[cfg(test)]
mod tests {
    use super::super::{parse_env, Command, Invocation, Spec};
    use std::ffi::{OsStr, OsString};

    fn run(args: &[&str]) -> Result<Invocation, super::super::UsageError> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse_env(OsStr::new("qemu-img"), &args, false)
    }

    fn spec(
        format: Option<&str>,
        item: Option<&str>,
    ) -> Result<Invocation, super::super::UsageError> {
        Ok(Invocation::Command(Command::Spec(Spec {
            format: format.map(String::from),
            item: item.map(String::from),
        })))
    }

    #[test]
    fn operands_and_errors() {
        assert_eq!(run(&["spec"]), spec(None, None));
        assert_eq!(run(&["spec", "qcow2"]), spec(Some("qcow2"), None));
        assert_eq!(
            run(&["spec", "qcow2", "Header"]),
            spec(Some("qcow2"), Some("Header"))
        );
        assert_eq!(run(&["spec", "--", "-x"]), spec(Some("-x"), None));
        let e = run(&["spec", "a", "b", "c"]).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (1, "qemu-img: Expecting at most a format and an item name\nTry 'qemu-img spec --help' for more info\n")
        );
        let e = run(&["spec", "qcow2", "--he"]);
        assert!(
            matches!(e, Ok(Invocation::Help(t)) if t.starts_with("Usage: qemu-img spec [FORMAT [ITEM]]\n"))
        );
        let e = run(&["spec", "-x"]).unwrap_err();
        assert_eq!(
            e.message,
            "qemu-img spec: invalid option -- 'x'\nTry 'qemu-img spec --help' for more info\n"
        );
    }
}
