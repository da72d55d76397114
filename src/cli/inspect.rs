//! `netroot inspect`: verify and list an initramfs image, print one of its files, unpack it into
//! a directory, or diff two images.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::output;
use crate::image::{self, diff, inspect, unpack, Image};
use netroot_boot::bootconfig::BOOT_CONFIG_PATH;

/// `inspect --diff`'s exit status when the images differ (diff(1)'s convention: 0 the same,
/// 1 different).
const EXIT_DIFFERENT: u8 = 1;

/// Arguments of `netroot inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Image to verify and list (the old image with --diff).
    pub image: PathBuf,
    /// Second image to compare with (the new image); requires --diff.
    #[arg(value_name = "B", requires = "diff")]
    pub other: Option<PathBuf>,
    /// Compare IMAGE with B: added, removed and changed files (a changed boot config key by
    /// key), and kernel modules; exits 1 when they differ, 0 when the same (like diff).
    /// Both `inspect --diff A B` and `inspect A --diff B` work.
    #[arg(long, requires = "other")]
    pub diff: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Only print the segment lines and the summary, not every entry.
    #[arg(long, conflicts_with = "diff")]
    pub segments: bool,
    /// Print the content of the regular file PATH of the image (as the kernel unpacks it: the
    /// last entry of that name) to stdout, after verifying the image.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["diff", "segments", "json"])]
    pub cat: Option<String>,
    /// Extract every entry of the verified image (all segments in order, a later entry of a
    /// name replacing the earlier, as the kernel unpacks it) into DIR, which must not exist or
    /// be empty; modes and, as root, owners as in the archive; devices only as root. A hostile
    /// entry (absolute, .., NUL, through a symlink the archive made) is refused, naming it, and
    /// leaves no DIR. --json prints the counts.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["diff", "segments", "cat"])]
    pub unpack: Option<PathBuf>,
}

/// Reads and verifies one image, keeping the content of `keep` (the boot config, for a
/// key-by-key diff; the file `--cat` prints).
fn load(path: &Path, keep: &str) -> anyhow::Result<Image> {
    let want = image::path::normalize(keep);
    load_keeping(path, &|p: &str| image::path::normalize(p) == want)
}

/// Reads and verifies one image, keeping the content of the files `keep` accepts.
fn load_keeping(path: &Path, keep: &dyn Fn(&str) -> bool) -> anyhow::Result<Image> {
    let data = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    image::read_image_keeping(&data, keep)
        .with_context(|| format!("{} is not a valid initramfs", path.display()))
}

/// Runs the subcommand; corruption in either image is an error (non-zero exit).
pub fn run(args: &InspectArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &args.unpack {
        let a = load_keeping(&args.image, &|_| true)?;
        let report = unpack::unpack(&a, dir).with_context(|| {
            format!(
                "cannot unpack {} into {}",
                args.image.display(),
                dir.display()
            )
        })?;
        output::emit(out, args.json, &report)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(path) = &args.cat {
        let a = load(&args.image, path)?;
        let data = a
            .file(path)
            .with_context(|| format!("cannot print a file of {}", args.image.display()))?;
        out.write_all(data).context("cannot write output")?;
        return Ok(ExitCode::SUCCESS);
    }
    let a = load(&args.image, BOOT_CONFIG_PATH)?;
    let a_name = args.image.display().to_string();
    let mut status = ExitCode::SUCCESS;
    let text = match (&args.other, args.diff) {
        (Some(other), true) => {
            let b = load(other, BOOT_CONFIG_PATH)?;
            let b_name = other.display().to_string();
            let d = diff::diff(&a, &b);
            if !d.is_empty() {
                status = ExitCode::from(EXIT_DIFFERENT);
            }
            if args.json {
                serde_json::to_string_pretty(&diff::diff_json(&d, &a_name, &b_name))? + "\n"
            } else {
                diff::render_diff(&d, &a_name, &b_name)
            }
        }
        _ if args.json => {
            serde_json::to_string_pretty(&inspect::listing_json(&a_name, &a, args.segments))? + "\n"
        }
        _ => inspect::listing(&a, args.segments),
    };
    out.write_all(text.as_bytes())
        .context("cannot write output")?;
    Ok(status)
}
