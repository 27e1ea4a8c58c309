//! Records the compiler version for `ringkv --version` (etcd prints its Go version there).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.split_whitespace().nth(1).map(str::to_owned));
    if let Some(version) = version {
        println!("cargo:rustc-env=RINGKV_RUSTC_VERSION={version}");
    }
}
