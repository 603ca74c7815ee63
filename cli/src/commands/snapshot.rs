//! `snapshot`: list (`-l`, the default), take (`-c`), revert to (`-a`) and
//! delete (`-d`) internal snapshots, with qemu-img's lookups and messages:
//! `-a` matches an ID first, then a name; `-d` matches a name only, as the
//! snapshot list shows it (cut to 255 bytes); `-c` cuts the name to 255 bytes.

use super::info_render::snapshot_row;
use super::{open_image, Env};
use crate::args::{Snapshot, SnapshotAction};
use crate::output::snapshot_table::{snapshot_list_block, SnapshotRow, SNAPSHOT_ID_MAX, SNAPSHOT_NAME_MAX};
use qimg_runtime::image::{Access, Image, OpenOptions};
use qimg_runtime::Error;
use std::time::{SystemTime, UNIX_EPOCH};

/// Runs `snapshot`.
pub fn run(env: &Env, a: &Snapshot) -> i32 {
    qimg_runtime::error::set_program_name(&env.prog);
    let write = a.action != SnapshotAction::List;
    let access = if write { Access::READ_WRITE } else { Access::READ };
    let opts = OpenOptions { access, ..OpenOptions::read(None, a.force_share) };
    let (img, filename) = match open_image(env, &a.filename, a.format.as_deref(), a.image_opts, &a.objects, opts) {
        Ok(v) => v,
        Err(e) => {
            env.error(&e);
            return 1;
        }
    };
    for w in img.warnings() {
        env.warn(&w);
    }
    let probed_raw = write && a.format.is_none() && img.format() == "raw";
    if probed_raw {
        raw_probe_warning(env, &filename);
    }
    let result = match &a.action {
        SnapshotAction::List => {
            list(env, img.as_ref());
            Ok(())
        }
        SnapshotAction::Create(name) => create(img.as_ref(), name.as_deref()),
        SnapshotAction::Apply(name) => {
            let r = img.snapshot_goto(name.as_deref()).map_err(|e| e.prefix(format!("Could not apply snapshot '{}'", shown(name))));
            // qemu falls back to the protocol layer, fails there, and reopens
            // the raw driver, which warns once more.
            if r.is_err() && probed_raw {
                raw_probe_warning(env, &filename);
            }
            r
        }
        SnapshotAction::Delete(name) => delete(img.as_ref(), name.as_deref()),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            env.error(&e);
            1
        }
    }
}

/// qemu-img's name for a missing name (`--apply` and the like take no value).
fn shown(name: &Option<String>) -> &str {
    name.as_deref().unwrap_or("(null)")
}

/// Prints the snapshot table; nothing when there are no snapshots or the
/// format has none.
fn list(env: &Env, img: &dyn Image) {
    let Ok(snapshots) = img.snapshot_list() else { return };
    if snapshots.is_empty() {
        return;
    }
    let rows: Vec<SnapshotRow> = snapshots.iter().map(snapshot_row).collect();
    env.out(&snapshot_list_block(&rows, 0));
}

/// `-c NAME`, dated now. Without a name qemu-img 10.0.2 crashes (SIGSEGV)
/// before touching the image; so does qimg, for the same exit status.
fn create(img: &dyn Image, name: Option<&str>) -> Result<(), Error> {
    let Some(name) = name else { crash() };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let micros = now.as_micros();
    let date = ((micros / 1_000_000) as u32, (micros % 1_000_000 * 1000) as u32);
    img.snapshot_create(cut(name.as_bytes(), SNAPSHOT_NAME_MAX), date)
        .map_err(|e| e.prefix(format!("Could not create snapshot '{name}'")))
}

/// `-d NAME`: the first snapshot whose listed name is `NAME`, deleted by
/// its listed ID and name. Without a name qemu-img 10.0.2 finds nothing in
/// an image without snapshots and crashes (SIGSEGV) in one with some.
fn delete(img: &dyn Image, name: Option<&str>) -> Result<(), Error> {
    let snapshots = img.snapshot_list().unwrap_or_default();
    let not_found = || Error::invalid(format!("Could not delete snapshot '{}': snapshot not found", name.unwrap_or("(null)")));
    let Some(name) = name else {
        if snapshots.is_empty() {
            return Err(not_found());
        }
        crash()
    };
    let listed = |b: &[u8], max| cut(c_string(b), max).to_vec();
    let found = snapshots.iter().find(|s| listed(s.name.as_bytes(), SNAPSHOT_NAME_MAX) == name.as_bytes());
    let Some(s) = found else { return Err(not_found()) };
    img.snapshot_delete(&listed(s.id.as_bytes(), SNAPSHOT_ID_MAX), &listed(s.name.as_bytes(), SNAPSHOT_NAME_MAX))
        .map_err(|e| e.prefix(format!("Could not delete snapshot '{name}'")))
}

/// qemu's raw driver warning for a probed raw image opened for writing.
fn raw_probe_warning(env: &Env, filename: &str) {
    env.err(
        format!(
            "WARNING: Image format was not specified for '{filename}' and probing guessed raw.\n         \
             Automatically detecting the format is dangerous for raw images, write operations on block 0 will be \
             restricted.\n         Specify the 'raw' format explicitly to remove the restrictions.\n"
        )
        .as_bytes(),
    );
}

/// Ends the process as qemu-img 10.0.2 does on a missing snapshot name.
fn crash() -> ! {
    // SAFETY: restoring the default action of SIGSEGV and raising it has no
    // memory-safety preconditions; the process ends there.
    unsafe {
        libc::signal(libc::SIGSEGV, libc::SIG_DFL);
        libc::raise(libc::SIGSEGV);
    }
    std::process::exit(139)
}

/// The bytes up to the first NUL (a C string's).
fn c_string(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|c| *c == 0).unwrap_or(b.len())]
}

/// The first `max` bytes (qemu's `pstrcpy` into a `max + 1` byte buffer).
fn cut(b: &[u8], max: usize) -> &[u8] {
    &b[..b.len().min(max)]
}
