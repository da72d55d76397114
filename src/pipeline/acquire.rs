//! The kernel stage: a directory, the host, or a Debian package extracted once into the cache.

use std::path::Path;

use super::stage::{Input, Staged};
use super::state::HashCache;
use super::BuildError;
use crate::kernel::{self, Kernel};
use crate::profile::KernelSpec;

/// Directory of extracted kernel packages inside the cache, one per package content hash.
const KERNELS_DIR: &str = "kernels";

/// Opens the kernel. A package's inputs are the package alone (its extraction is keyed by its
/// hash); a directory's or the host's are the files the kernel reader opened. `cached`: the
/// package extraction came from the cache.
pub fn acquire(
    spec: &KernelSpec,
    cache: &Path,
    hc: &mut HashCache,
) -> Result<Staged<Kernel>, BuildError> {
    let opened = match spec {
        KernelSpec::Dir(dir) => kernel::open_tree(dir)?,
        KernelSpec::Host => kernel::open_host(Path::new("/proc"), Path::new("/"))?,
        KernelSpec::Deb(deb) => return extracted(deb, cache, hc),
    };
    let inputs = opened.inputs.iter().cloned().map(Input::Path).collect();
    Ok(Staged::fresh(opened, inputs))
}

/// Extracts the package `deb` into the cache once per content hash and opens the tree.
fn extracted(deb: &Path, cache: &Path, hc: &mut HashCache) -> Result<Staged<Kernel>, BuildError> {
    let hash = hc
        .hash(deb)
        .map_err(BuildError::io("cannot read kernel package", deb))?
        .ok_or_else(|| BuildError::DebNotFound(deb.to_path_buf()))?;
    let dest = cache.join(KERNELS_DIR).join(&hash);
    let cached = dest.is_dir();
    if !cached {
        std::fs::create_dir_all(cache.join(KERNELS_DIR))
            .map_err(BuildError::io("cannot create cache directory", cache))?;
        kernel::extract_deb(deb, &dest)?;
    }
    Ok(Staged {
        out: kernel::open_tree(&dest)?,
        inputs: vec![Input::Path(deb.to_path_buf())],
        cached,
    })
}
