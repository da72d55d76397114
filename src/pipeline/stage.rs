//! What a stage hands back to the driver: its output, the inputs it read, and whether its
//! result came from the cache. The driver ([`Recorder`]) times each stage, shows it, and records
//! its inputs in the build state: stages read, only the driver writes the record.

use std::path::PathBuf;
use std::time::Instant;

use super::state::BuildState;
use super::state::HashCache;
use super::{secs, BuildError, Progress, StageReport};

/// One thing a stage read, as the make-style check must see it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file (its content) or a directory (its listing): told apart when recorded.
    Path(PathBuf),
    /// A kernel module of which only the `.modinfo` section was read, with that section's hash.
    Modinfo(PathBuf, String),
    /// A path that was looked up and not found: it must stay absent.
    Absent(PathBuf),
    /// A directory tree with metadata and the digest the stage computed for it.
    Tree(PathBuf, Option<String>),
}

/// A stage's result.
#[derive(Debug)]
pub struct Staged<T> {
    pub out: T,
    /// What the stage read, in reading order.
    pub inputs: Vec<Input>,
    /// The stage's result came from the cache.
    pub cached: bool,
}

impl<T> Staged<T> {
    /// A result computed now from `inputs`.
    pub fn fresh(out: T, inputs: Vec<Input>) -> Self {
        Staged {
            out,
            inputs,
            cached: false,
        }
    }
}

/// Runs stages in order: shows each, times it, and records what it read.
pub struct Recorder<'a> {
    pub hc: HashCache,
    pub state: BuildState,
    pub stages: Vec<StageReport>,
    pub progress: &'a dyn Progress,
}

impl Recorder<'_> {
    /// Runs the stage `name`; its inputs go into the build state, its timing into the report.
    pub fn run<T>(
        &mut self,
        name: &'static str,
        stage: impl FnOnce(&mut HashCache) -> Result<Staged<T>, BuildError>,
    ) -> Result<T, BuildError> {
        crate::interrupt::check()?;
        self.progress.stage(name);
        tracing::debug!(stage = name, "stage started");
        let at = Instant::now();
        let staged = stage(&mut self.hc)?;
        self.record(&staged.inputs)?;
        let seconds = secs(at.elapsed());
        tracing::info!(
            stage = name,
            cached = staged.cached,
            seconds,
            inputs = staged.inputs.len(),
            "stage done"
        );
        self.stages.push(StageReport {
            name,
            seconds,
            cached: staged.cached,
        });
        Ok(staged.out)
    }

    /// Records inputs read outside any stage (the profile files).
    pub fn record(&mut self, inputs: &[Input]) -> Result<(), BuildError> {
        for input in inputs {
            let (r, context, path) = match input {
                Input::Path(p) if p.is_dir() => (
                    self.state.add_listing(&mut self.hc, p),
                    "cannot list input directory",
                    p,
                ),
                Input::Path(p) => (self.state.add_file(&mut self.hc, p), "cannot read input", p),
                Input::Modinfo(p, h) => (
                    self.state.add_modinfo(&mut self.hc, p, h),
                    "cannot record input",
                    p,
                ),
                Input::Absent(p) => (self.state.add_absent(p), "cannot record input", p),
                Input::Tree(p, digest) => (
                    self.state.add_tree(p, digest.clone()),
                    "cannot record input",
                    p,
                ),
            };
            r.map_err(BuildError::io(context, path))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::state::InputHash;
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    struct Seen(RefCell<Vec<String>>);
    impl Progress for Seen {
        fn stage(&self, name: &str) {
            self.0.borrow_mut().push(name.to_string());
        }
        fn warn(&self, _: &str) {}
    }

    #[test]
    fn the_driver_records_each_kind_of_input_and_reports_the_stage() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        std::fs::write(dir.path().join("m.ko"), b"module").unwrap();
        let seen = Seen::default();
        let mut rec = Recorder {
            hc: HashCache::load(&dir.path().join("hashes.json")),
            state: BuildState::default(),
            stages: Vec::new(),
            progress: &seen,
        };
        let out = rec
            .run("probe", |_| {
                Ok(Staged {
                    out: 7,
                    inputs: vec![
                        Input::Path(file.clone()),
                        Input::Path(dir.path().to_path_buf()),
                        Input::Absent(dir.path().join("gone")),
                        Input::Tree(dir.path().join("t"), Some("d".into())),
                        Input::Modinfo(dir.path().join("m.ko"), "h".into()),
                    ],
                    cached: true,
                })
            })
            .unwrap();
        assert_eq!(out, 7);
        assert_eq!(*seen.0.borrow(), ["probe"]);
        assert!(rec.stages[0].cached && rec.stages[0].name == "probe");
        let got = |p: &std::path::Path| rec.state.inputs[p.to_str().unwrap()].clone();
        assert!(matches!(got(&file), InputHash::File(Some(_))));
        assert!(matches!(got(dir.path()), InputHash::Listing(Some(_))));
        assert_eq!(got(&dir.path().join("gone")), InputHash::File(None));
        assert_eq!(
            got(&dir.path().join("t")),
            InputHash::Tree(Some("d".into()))
        );
        assert_eq!(
            got(&dir.path().join("m.ko")),
            InputHash::Modinfo("h".into())
        );
    }

    #[test]
    fn a_failing_stage_records_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = Recorder {
            hc: HashCache::load(&dir.path().join("hashes.json")),
            state: BuildState::default(),
            stages: Vec::new(),
            progress: &super::super::Quiet,
        };
        let r: Result<(), _> = rec.run("bad", |_| Err(BuildError::NoKernel("p".into())));
        assert!(r.is_err());
        assert!(rec.state.inputs.is_empty() && rec.stages.is_empty());
    }
}
