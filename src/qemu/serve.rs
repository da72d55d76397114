//! `netroot qemu`'s scratch publication: the profile published with the real publish engine
//! (generations, hardlinked root tree, every loader's menus, atomic flips) into
//! `OUT/.qemu/PROFILE.served/{tftp,nfs}`, so the VM boots exactly what `netroot publish` serves.
//! Only four things differ from a publish to the masters, all in [`publish`]: the record's extra
//! kernel parameters get the serial console, `panic=-1` and `--append`; the profile's publish
//! hook is not run (it would run `exportfs` or copy to the second master); the profile's entry is
//! the default; the hash memo lives in the scratch directory. The directories persist between runs, so an unchanged profile
//! republishes as a no-op and a changed one costs what a real publish costs.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use super::QemuError;
use crate::deploy::{self, DeployError, SiteSource};
use crate::profile::Profile;
use crate::publish::{GenerationPaths, PublishReport, Targets};
use crate::site::SiteSettings;

/// Suffix of the scratch publication's directory below `OUT/.qemu/`.
pub const SERVED_SUFFIX: &str = ".served";
/// Generations kept in the scratch directories: the active one and the one before it, which
/// the next publish hardlinks unchanged files from. Older ones only cost disk space.
pub const KEEP_GENERATIONS: usize = 2;

/// A finished scratch publication.
#[derive(Debug)]
pub struct Served {
    pub targets: Targets,
    /// The generation the menus now point at.
    pub generation: GenerationPaths,
    /// The default menu entry's kernel command line (what `--loader direct` boots with).
    pub cmdline: String,
    pub report: PublishReport,
}

/// Publishes the build in `out_dir` of `profile` into `dir/tftp` and `dir/nfs`, with the build
/// record's extra kernel parameters replaced by `extra` (see [`super::guest::cmdline_extra`]), no
/// hook, this profile as the default entry, and generations beyond [`KEEP_GENERATIONS`] removed.
pub fn publish(
    profile: &Profile,
    extra: &str,
    out_dir: &Path,
    dir: &Path,
) -> Result<Served, QemuError> {
    let failed = |source: DeployError| QemuError::Publish {
        profile: profile.name.clone(),
        dir: dir.to_path_buf(),
        source: Box::new(source),
    };
    let targets = Targets {
        tftp: dir.join("tftp"),
        nfs: dir.join("nfs"),
    };
    for d in [&targets.tftp, &targets.nfs] {
        std::fs::create_dir_all(d).map_err(QemuError::io("create", d))?;
    }
    let artifacts = deploy::artifacts(out_dir, &profile.name).map_err(failed)?;
    let boot = deploy::build_record(out_dir, &profile.name)
        .map_err(failed)?
        .with_extra(extra)
        .map_err(|reason| QemuError::BadSetting {
            what: "scratch publication",
            value: extra.to_string(),
            reason,
        })?;
    let mut opts = deploy::options(profile, dir, boot);
    opts.hook = None;
    opts.keep = Some(KEEP_GENERATIONS);
    let site = SiteSource::Project(SiteSettings {
        default: Some(profile.name.clone()),
        ..SiteSettings::default()
    });
    // The engine renders the menus for the generation it settles on; keep that generation.
    let seen: RefCell<Option<(GenerationPaths, Option<String>)>> = RefCell::new(None);
    let menus = |g: &GenerationPaths| {
        let files = deploy::render(&site, &targets, g)?;
        seen.replace(Some((g.clone(), files.cmdline.clone())));
        Ok::<_, DeployError>(files)
    };
    let report = deploy::publish_artifacts(&artifacts, menus, &targets, &opts)
        .map_err(|e| failed(e.into()))?;
    let (generation, cmdline) = seen
        .into_inner()
        .filter(|(g, _)| g.generation == report.generation)
        .and_then(|(g, c)| Some((g, c?)))
        .ok_or_else(|| QemuError::BadSetting {
            what: "scratch publication",
            value: report.generation.clone(),
            reason: "the publish engine rendered no menus for the generation it activated".into(),
        })?;
    Ok(Served {
        targets,
        generation,
        cmdline,
        report,
    })
}

/// `OUT/.qemu/PROFILE.served`.
pub fn served_dir(state: &Path, profile: &str) -> PathBuf {
    state.join(format!("{profile}{SERVED_SUFFIX}"))
}
