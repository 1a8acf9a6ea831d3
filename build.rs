//! Rebuilds the `bitspec` binary when a file is added to or removed from the suite it
//! embeds (`include_dir` in `src/main.rs`): rustc tracks the contents of the files it
//! included, but not new ones.

fn main() {
    for dir in ["scenarios", "profiles"] {
        println!("cargo::rerun-if-changed={dir}");
    }
}
