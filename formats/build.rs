//! Compiles `formats/*.spec` into Rust modules in OUT_DIR.

fn main() {
    let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo::rerun-if-changed={}", dir.display());
    match qimg_codegen::build(&dir, &out, "formats") {
        Ok(_) => {}
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{d}");
                println!("cargo::error={d}");
            }
            std::process::exit(1);
        }
    }
}
