//! The kernel stage: a directory, the host, or a Debian package extracted once into the cache.

use std::path::Path;

use super::stage::{Input, Staged};
use super::state::HashCache;
use super::{BuildError, Progress};
use crate::kernel::{self, Kernel};
use crate::profile::KernelSpec;
use sha2::{Digest, Sha256};

/// Directory of extracted kernel packages inside the cache, one per package content hash.
const KERNELS_DIR: &str = "kernels";

/// Opens the kernel. A package's inputs are the package alone (its extraction is keyed by its
/// hash); a directory's or the host's are the files the kernel reader opened. `cached`: the
/// package extraction came from the cache.
pub fn acquire(
    spec: &KernelSpec,
    cache: &Path,
    hc: &mut HashCache,
    progress: &dyn Progress,
) -> Result<Staged<Kernel>, BuildError> {
    let opened = match spec {
        KernelSpec::Dir(dir) => kernel::open_tree(dir)?,
        KernelSpec::Host => kernel::open_host(Path::new("/proc"), Path::new("/"))?,
        KernelSpec::Deb { path, sha256 } => {
            return extracted(path, sha256.as_deref(), cache, hc, progress)
        }
    };
    let inputs = opened.inputs.iter().cloned().map(Input::Path).collect();
    Ok(Staged::fresh(opened, inputs))
}

/// Extracts the package `deb` into the cache once per content hash and opens the tree; with a
/// `pin`, the package's sha256 must be it.
fn extracted(
    deb: &Path,
    pin: Option<&str>,
    cache: &Path,
    hc: &mut HashCache,
    progress: &dyn Progress,
) -> Result<Staged<Kernel>, BuildError> {
    let hash = hc
        .hash(deb)
        .map_err(BuildError::io("cannot read kernel package", deb))?
        .ok_or_else(|| BuildError::DebNotFound(deb.to_path_buf()))?;
    if let Some(pin) = pin {
        let actual = sha256_of(deb, &cache.join(KERNELS_DIR).join(format!("{hash}.sha256")))?;
        if actual != pin {
            return Err(BuildError::KernelPin {
                deb: deb.to_path_buf(),
                expected: pin.to_string(),
                actual,
            });
        }
    }
    let dest = cache.join(KERNELS_DIR).join(&hash);
    let cached = dest.is_dir();
    tracing::info!(deb = %deb.display(), tree = %dest.display(), cached, "kernel package");
    if !cached {
        std::fs::create_dir_all(cache.join(KERNELS_DIR))
            .map_err(BuildError::io("cannot create cache directory", cache))?;
        let on = |done, total| progress.bytes("kernel: extracting", done, total);
        kernel::extract_deb_metered(deb, &dest, &on)?;
    }
    Ok(Staged {
        out: kernel::open_tree(&dest)?,
        inputs: vec![Input::Path(deb.to_path_buf())],
        cached,
    })
}

/// The sha256 of `deb`, remembered in `memo` (named by the package's content hash, so it is
/// computed once per content).
fn sha256_of(deb: &Path, memo: &Path) -> Result<String, BuildError> {
    if let Ok(known) = std::fs::read_to_string(memo) {
        if crate::manifest::is_sha256_hex(&known) {
            return Ok(known);
        }
    }
    let mut file =
        std::fs::File::open(deb).map_err(BuildError::io("cannot read kernel package", deb))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .map_err(BuildError::io("cannot read kernel package", deb))?;
    let hex = hex::encode(hasher.finalize());
    crate::fsx::atomic::write_atomic(memo, hex.as_bytes())
        .map_err(BuildError::io("cannot write cache", memo))?;
    Ok(hex)
}
