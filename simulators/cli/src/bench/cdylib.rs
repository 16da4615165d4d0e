//! Size of the library shipped inside the mobile apps (issue 10): `libhomevisit_ffi.so` built with
//! the `mobile` profile (`cargo build --profile mobile -p homevisit-ffi`: size-first, LTO, one
//! codegen unit; symbols kept for uniffi-bindgen). The bench only reads the file: it never builds
//! it, and says so when the file is not there.

use super::{Group, Metric};
use std::path::PathBuf;

/// The file name of the Android/Linux shared library.
const LIB: &str = "libhomevisit_ffi.so";
/// Target: 4 MiB.
const TARGET_BYTES: f64 = 4.0 * 1024.0 * 1024.0;

/// The cdylib group.
pub(super) fn group() -> Group {
    Group {
        metrics: &["cdylib_mobile_bytes"],
        run,
    }
}

/// Where the library may be: `$HOMEVISIT_FFI_LIB` if set, else `mobile/` under
/// `$CARGO_TARGET_DIR` and under the workspace's own `target/`.
fn candidates() -> Vec<PathBuf> {
    if let Some(path) = std::env::var_os("HOMEVISIT_FFI_LIB") {
        return vec![PathBuf::from(path)];
    }
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    // simulators/cli → the workspace root.
    dirs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    dirs.into_iter().map(|d| d.join("mobile").join(LIB)).collect()
}

fn run() -> Result<Vec<Metric>, String> {
    let paths = candidates();
    let found = paths.iter().find_map(|p| {
        std::fs::metadata(p)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| (p, m.len()))
    });
    let metric = match found {
        Some((path, bytes)) => {
            eprintln!("cdylib_mobile_bytes: measured {}", path.display());
            Metric {
                metric: "cdylib_mobile_bytes",
                value: bytes as f64,
                unit: "bytes",
                target: Some(TARGET_BYTES),
                note: None,
            }
        }
        None => Metric {
            metric: "cdylib_mobile_bytes",
            value: f64::NAN,
            unit: "bytes",
            target: Some(TARGET_BYTES),
            note: Some(format!(
                "not built: run `cargo build --profile mobile -p homevisit-ffi` (looked for {})",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
    };
    Ok(vec![metric])
}
