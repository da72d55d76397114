//! Binaries with their ELF interpreter and shared libraries, resolved the
//! way glibc's ld.so would inside the sysroot (not by running `ldd`).
//!
//! For each binary: PT_INTERP, then DT_NEEDED breadth-first (ld.so's load
//! order), each name searched along `search`'s path; a name already
//! loaded (by DT_NEEDED name or DT_SONAME, e.g. libc's `ld-linux-x86-64.so.2`,
//! which is the interpreter) is not searched again. Candidates of another
//! class, byte order or machine than the binary are skipped, as ld.so does.
//! A binary without PT_INTERP and DT_NEEDED (static) brings only itself.
//!
//! Binaries are absolute paths inside the sysroot. A `#!` script is refused
//! with its interpreter named: the interpreter, not the script, is what needs
//! libraries, so list it (and ship the script as a plain file).
//!
//! Each [`ElfFile`] names the real file on the host (symlinks resolved inside
//! the sysroot) and the path the loader will open in the image, as
//! referenced: `lib64/ld-linux-x86-64.so.2`, not the file it links to.

mod error;
mod object;
mod root;
mod search;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub use error::ElfError;
use object::{ElfInfo, Ident, Kind};
use search::{Origin, SearchDir};

/// A file to copy into the image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ElfFile {
    /// The real file on the host, symlinks resolved.
    pub source: PathBuf,
    /// Path inside the image, no leading `/`, as referenced, e.g.
    /// `usr/bin/busybox`, `lib64/ld-linux-x86-64.so.2`.
    pub dest: String,
}

/// The ELF interpreter (`PT_INTERP`) of the binary at `path`, `None` for a static one: whether
/// it can run in a tree with no libc (the LACP partner VM's busybox). A script or a file that is
/// not ELF is an error naming it.
pub fn interpreter(path: &Path) -> Result<Option<String>, ElfError> {
    let data = fs::read(path).map_err(|source| ElfError::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    })?;
    match object::parse(path, &data)? {
        Kind::Elf(info) => Ok(info.interp),
        Kind::Script(interpreter) => Err(ElfError::Script {
            path: path.to_path_buf(),
            interpreter,
        }),
        Kind::NotElf => Err(ElfError::NotElf {
            path: path.to_path_buf(),
        }),
    }
}

/// Returns `binaries` (absolute paths inside `sysroot`, normally `/`) with
/// their ELF interpreters and shared libraries, sorted by `dest`, deduplicated.
pub fn resolve(binaries: &[PathBuf], sysroot: &Path) -> Result<Vec<ElfFile>, ElfError> {
    let mut resolver = Resolver {
        sysroot,
        conf_dirs: search::conf_dirs(sysroot)?,
        parsed: HashMap::new(),
        out: BTreeMap::new(),
    };
    for binary in binaries {
        resolver.binary(binary)?;
    }
    Ok(resolver
        .out
        .into_iter()
        .map(|(dest, source)| ElfFile { source, dest })
        .collect())
}

/// An object loaded for one binary.
#[derive(Debug)]
struct Loaded {
    dest: String,
    info: Rc<ElfInfo>,
    origin: Origin,
    /// Index of the object whose DT_NEEDED brought it in.
    loader: Option<usize>,
}

struct Resolver<'a> {
    sysroot: &'a Path,
    conf_dirs: Vec<String>,
    /// Parsed objects by host path, shared between binaries.
    parsed: HashMap<PathBuf, Rc<ElfInfo>>,
    out: BTreeMap<String, PathBuf>,
}

impl Resolver<'_> {
    fn binary(&mut self, binary: &Path) -> Result<(), ElfError> {
        if !binary.is_absolute() {
            return Err(ElfError::NotAbsolute {
                path: binary.to_path_buf(),
            });
        }
        let dest = root::image_path(binary).ok_or_else(|| ElfError::NotUtf8 {
            path: binary.to_path_buf(),
        })?;
        let found = root::resolve(self.sysroot, &dest)?
            .filter(|r| r.host.is_file())
            .ok_or_else(|| ElfError::MissingBinary {
                path: binary.to_path_buf(),
                sysroot: self.sysroot.to_path_buf(),
            })?;
        let info = self.load(&found.host, binary)?;
        let mut objects = vec![Loaded {
            dest: dest.clone(),
            info: Rc::clone(&info),
            origin: Origin {
                lookup: root::parent(&found.image).to_owned(),
                place: root::parent(&dest).to_owned(),
            },
            loader: None,
        }];
        self.out.insert(dest, found.host);
        let mut names: HashSet<String> = info.soname.iter().cloned().collect();
        if let Some(interp) = &info.interp {
            let object = self.interpreter(binary, interp, info.ident)?;
            names.extend(object.info.soname.iter().cloned());
            objects.push(object);
        }
        let mut queue: VecDeque<usize> = (0..objects.len()).collect();
        while let Some(index) = queue.pop_front() {
            let Some(needed) = objects.get(index).map(|o| o.info.needed.clone()) else {
                break;
            };
            for name in needed {
                if names.contains(&name) {
                    continue;
                }
                let object = self.library(binary, &name, index, &objects, info.ident)?;
                names.insert(name);
                names.extend(object.info.soname.iter().cloned());
                queue.push_back(objects.len());
                objects.push(object);
            }
        }
        Ok(())
    }

    /// Loads PT_INTERP; it must exist and match the binary's class.
    fn interpreter(
        &mut self,
        binary: &Path,
        interp: &str,
        ident: Ident,
    ) -> Result<Loaded, ElfError> {
        let bad = |problem: String| ElfError::BadInterpreter {
            interpreter: interp.to_owned(),
            binary: binary.to_path_buf(),
            problem,
        };
        let dest = root::normalize(interp);
        let Some(found) = root::resolve(self.sysroot, &dest)?.filter(|r| r.host.is_file()) else {
            return Err(bad(format!("not found in {}", self.sysroot.display())));
        };
        match Ident::read(&found.host)? {
            Some(id) if id == ident => {}
            Some(id) => {
                return Err(bad(format!(
                    "is {}, the binary {}",
                    id.describe(),
                    ident.describe()
                )))
            }
            None => {
                return Err(bad(format!(
                    "({}) is not an ELF file",
                    found.host.display()
                )))
            }
        }
        let info = self.load(&found.host, &found.host)?;
        self.out.insert(dest.clone(), found.host);
        let dir = root::parent(&dest).to_owned();
        Ok(Loaded {
            dest,
            info,
            origin: Origin {
                lookup: dir.clone(),
                place: dir,
            },
            loader: None,
        })
    }

    /// Finds DT_NEEDED `name` of `objects[index]` along the search path.
    fn library(
        &mut self,
        binary: &Path,
        name: &str,
        index: usize,
        objects: &[Loaded],
        ident: Ident,
    ) -> Result<Loaded, ElfError> {
        let requester = objects.get(index).map_or("", |o| o.dest.as_str());
        let dirs = if name.contains('/') {
            // A path in DT_NEEDED is opened as is (relative to `/`, the init's cwd).
            vec![SearchDir::same(root::parent(&root::normalize(name)))]
        } else {
            self.search_dirs(index, objects)
        };
        let file = name.rsplit('/').next().unwrap_or(name);
        let mut skipped = Vec::new();
        for dir in &dirs {
            let lookup = root::join(&dir.lookup, file);
            let Some(found) = root::resolve(self.sysroot, &lookup)?.filter(|r| r.host.is_file())
            else {
                continue;
            };
            match Ident::read(&found.host)? {
                Some(id) if id == ident => {}
                Some(id) => {
                    skipped.push(format!("/{lookup} ({})", id.describe()));
                    continue;
                }
                None => {
                    skipped.push(format!("/{lookup} (not ELF)"));
                    continue;
                }
            }
            let info = self.load(&found.host, &found.host)?;
            let dest = root::join(&dir.place, file);
            self.out.insert(dest.clone(), found.host);
            return Ok(Loaded {
                dest,
                info,
                origin: Origin {
                    lookup: dir.lookup.clone(),
                    place: dir.place.clone(),
                },
                loader: Some(index),
            });
        }
        Err(ElfError::MissingLibrary {
            library: name.to_owned(),
            needed_by: requester.to_owned(),
            binary: binary.to_path_buf(),
            searched: dirs.iter().map(|d| format!("/{}", d.lookup)).collect(),
            skipped,
        })
    }

    /// ld.so's search order for a DT_NEEDED of `objects[index]`.
    fn search_dirs(&self, index: usize, objects: &[Loaded]) -> Vec<SearchDir> {
        let mut dirs = Vec::new();
        let Some(requester) = objects.get(index) else {
            return dirs;
        };
        if requester.info.runpath.is_empty() {
            // DT_RPATH of the requester, then of its loaders up to the binary.
            let mut current = Some(index);
            while let Some(object) = current.and_then(|i| objects.get(i)) {
                if object.info.runpath.is_empty() {
                    dirs.extend(
                        object
                            .info
                            .rpath
                            .iter()
                            .filter_map(|e| search::expand(e, &object.origin)),
                    );
                }
                current = object.loader;
            }
        }
        dirs.extend(
            requester
                .info
                .runpath
                .iter()
                .filter_map(|e| search::expand(e, &requester.origin)),
        );
        dirs.extend(self.conf_dirs.iter().map(|d| SearchDir::same(d)));
        dirs.extend(search::DEFAULT_DIRS.iter().map(|d| SearchDir::same(d)));
        let mut seen = HashSet::new();
        dirs.retain(|d| seen.insert((d.lookup.clone(), d.place.clone())));
        dirs
    }

    /// Reads and parses an object (cached by host path); errors name `shown`.
    fn load(&mut self, host: &Path, shown: &Path) -> Result<Rc<ElfInfo>, ElfError> {
        if let Some(info) = self.parsed.get(host) {
            return Ok(Rc::clone(info));
        }
        let data = fs::read(host).map_err(|source| ElfError::Io {
            action: "reading",
            path: host.to_path_buf(),
            source,
        })?;
        let info = match object::parse(shown, &data)? {
            Kind::Elf(info) => Rc::new(info),
            Kind::Script(interpreter) => {
                return Err(ElfError::Script {
                    path: shown.to_path_buf(),
                    interpreter,
                })
            }
            Kind::NotElf => {
                return Err(ElfError::NotElf {
                    path: shown.to_path_buf(),
                })
            }
        };
        self.parsed.insert(host.to_path_buf(), Rc::clone(&info));
        Ok(info)
    }
}
