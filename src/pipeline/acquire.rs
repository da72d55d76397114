//! Getting the kernel: a directory, the host, or a Debian package extracted once into the cache.

use std::path::Path;

use super::state::BuildState;
use super::state::HashCache;
use super::BuildError;
use crate::kernel::{self, Kernel};
use crate::profile::KernelSpec;

/// Directory of extracted kernel packages inside the cache, one per package content hash.
const KERNELS_DIR: &str = "kernels";

/// Opens the kernel and records what it read as build inputs. Returns whether the package
/// extraction came from the cache.
pub fn acquire(
    spec: &KernelSpec,
    cache: &Path,
    hc: &mut HashCache,
    state: &mut BuildState,
) -> Result<(Kernel, bool), BuildError> {
    match spec {
        KernelSpec::Dir(dir) => {
            let k = kernel::open_tree(dir)?;
            record(&k, hc, state)?;
            Ok((k, false))
        }
        KernelSpec::Host => {
            let k = kernel::open_host(Path::new("/proc"), Path::new("/"))?;
            record(&k, hc, state)?;
            Ok((k, false))
        }
        KernelSpec::Deb(deb) => {
            let hash = hc
                .hash(deb)
                .map_err(BuildError::io("cannot read kernel package", deb))?
                .ok_or_else(|| BuildError::DebNotFound(deb.clone()))?;
            state
                .add_file(hc, deb)
                .map_err(BuildError::io("cannot read kernel package", deb))?;
            let dest = cache.join(KERNELS_DIR).join(&hash);
            let cached = dest.is_dir();
            if !cached {
                std::fs::create_dir_all(cache.join(KERNELS_DIR))
                    .map_err(BuildError::io("cannot create cache directory", cache))?;
                kernel::extract_deb(deb, &dest)?;
            }
            Ok((kernel::open_tree(&dest)?, cached))
        }
    }
}

/// Records a kernel's files as inputs (an extracted package is keyed by the package hash instead).
fn record(k: &Kernel, hc: &mut HashCache, state: &mut BuildState) -> Result<(), BuildError> {
    for p in &k.inputs {
        add_input(p, hc, state)?;
    }
    Ok(())
}

/// Records a path as a file input, or as a listing input when it is a directory.
pub fn add_input(p: &Path, hc: &mut HashCache, state: &mut BuildState) -> Result<(), BuildError> {
    if p.is_dir() {
        state
            .add_listing(hc, p)
            .map_err(BuildError::io("cannot list input directory", p))
    } else {
        state
            .add_file(hc, p)
            .map_err(BuildError::io("cannot read input", p))
    }
}
