//! The `rmm-sync` command line (work in progress; see issue 5).
fn main() {
    eprintln!("rmm-sync: the CLI is not built yet");
    std::process::exit(2);
}
