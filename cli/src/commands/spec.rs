//! `qimg spec [FORMAT [ITEM]]`: print the layout tables generated from the format
//! specs (`formats/*.spec`), a qimg command qemu-img does not have.

use super::Env;
use crate::args::Spec;

/// Lists the formats, prints one format's layout, or one item of it. Unknown names
/// are errors (status 1).
pub fn run(env: &Env, args: &Spec) -> i32 {
    let Some(name) = &args.format else {
        let list: String = qimg_formats::ALL.iter().map(|f| format!("{}\n", f.name)).collect();
        env.out(list.as_bytes());
        return 0;
    };
    let Some(format) = qimg_formats::layout(name) else {
        env.err(format!("{}: Unknown format '{name}'\n", env.prog).as_bytes());
        return 1;
    };
    let text = match &args.item {
        None => format.render(),
        Some(item) => match format.item(item) {
            Some(layout) => layout.render(format.name),
            None => {
                env.err(format!("{}: Format '{}' has no item '{item}'\n", env.prog, format.name).as_bytes());
                return 1;
            }
        },
    };
    env.out(text.as_bytes());
    0
}
