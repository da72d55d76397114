//! `elfdeps::resolve` against real host binaries (cross-checked with `ldd`),
//! binaries built here with `cc` ($ORIGIN, DT_RPATH vs DT_RUNPATH, static),
//! and broken sysroots (missing interpreter or library, wrong class, scripts).
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use netroot::elfdeps::{resolve, ElfFile};

/// Host binaries cross-checked against ldd (those installed are used).
const LDD_SAMPLES: [&str; 6] = [
    "/bin/ls",
    "/usr/bin/tar",
    "/usr/bin/python3",
    "/usr/bin/git",
    "/usr/bin/ssh",
    "/usr/bin/curl",
];
/// The interpreter of x86-64 glibc binaries, as they reference it.
const LD_SO: &str = "/lib64/ld-linux-x86-64.so.2";

fn dests(files: &[ElfFile]) -> Vec<&str> {
    files.iter().map(|f| f.dest.as_str()).collect()
}

/// Paths `ldd` reports for `binary` (resolved path, or `name => not found`).
fn ldd(binary: &Path) -> BTreeSet<String> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .expect("running ldd");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut paths = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("linux-vdso") || line.is_empty() {
            continue;
        }
        let path = match line.split_once(" => ") {
            Some((name, rest)) if rest.starts_with("not found") => format!("{name} => not found"),
            Some((_, rest)) => rest.split(" (").next().unwrap().to_owned(),
            None => line.split(" (").next().unwrap().to_owned(),
        };
        paths.insert(lexical(&path));
    }
    paths
}

/// Folds `.` and `..` the way ld.so's $ORIGIN strings print unfolded.
fn lexical(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    if path.starts_with('/') {
        format!("/{}", parts.join("/"))
    } else {
        parts.join("/")
    }
}

/// Whether a C compiler works; tests that need one say so when skipping.
fn have_cc() -> bool {
    let ok = Command::new("cc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: no working cc to build test binaries");
    }
    ok
}

/// A temporary directory to build test binaries in, when `cc` works (else `None`: skipped).
fn cc_tmp() -> Option<tempfile::TempDir> {
    have_cc().then(|| tempfile::tempdir().unwrap())
}

fn cc(args: &[&str]) {
    let out = Command::new("cc").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "cc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn static_busybox_is_alone() {
    let busybox = Path::new("/usr/bin/busybox");
    if !busybox.exists() {
        eprintln!("skipped: /usr/bin/busybox missing (apt-get install busybox-static)");
        return;
    }
    let files = resolve(&[busybox.to_path_buf()], Path::new("/")).unwrap();
    assert_eq!(
        files,
        vec![ElfFile {
            source: busybox.to_path_buf(),
            dest: "usr/bin/busybox".into()
        }]
    );
}

#[test]
fn dynamic_binaries_match_ldd() {
    let binaries: Vec<PathBuf> = LDD_SAMPLES
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect();
    assert!(!binaries.is_empty(), "none of {LDD_SAMPLES:?} installed");
    let mut expected = BTreeMap::new();
    for binary in &binaries {
        let files = resolve(std::slice::from_ref(binary), Path::new("/")).unwrap();
        let own = binary.to_str().unwrap().trim_start_matches('/');
        let mut ours: BTreeSet<String> = files.iter().map(|f| format!("/{}", f.dest)).collect();
        assert!(
            ours.remove(&format!("/{own}")),
            "{own} missing from {:?}",
            dests(&files)
        );
        let theirs = ldd(binary);
        assert_eq!(ours, theirs, "{}", binary.display());
        for f in &files {
            let referenced = Path::new("/").join(&f.dest);
            assert_eq!(
                f.source,
                fs::canonicalize(&referenced).unwrap(),
                "{}",
                f.dest
            );
        }
        expected.extend(files.into_iter().map(|f| (f.dest, f.source)));
    }
    // Resolving all at once gives the union, sorted by dest, without duplicates.
    let all = resolve(&binaries, Path::new("/")).unwrap();
    let expected: Vec<ElfFile> = expected
        .into_iter()
        .map(|(dest, source)| ElfFile { source, dest })
        .collect();
    assert_eq!(all, expected);
    let d = dests(&all);
    assert!(d.windows(2).all(|w| w[0] < w[1]), "{d:?}");

    let ls = resolve(&[PathBuf::from("/bin/ls")], Path::new("/")).unwrap();
    let d = dests(&ls);
    for want in [
        "bin/ls",
        "lib64/ld-linux-x86-64.so.2",
        "lib/x86_64-linux-gnu/libc.so.6",
    ] {
        assert!(d.contains(&want), "{want} not in {d:?}");
    }
    assert!(d.iter().any(|x| x.contains("libselinux.so")), "{d:?}");
}

/// A sysroot holding a copy of /bin/ls and the given host libraries.
fn ls_sysroot(with_ld_so: bool, libs: &[&str]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let copy = |from: &str, to: &str| {
        let dest = t.path().join(to);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(from, dest).unwrap();
    };
    copy("/bin/ls", "usr/bin/ls");
    if with_ld_so {
        copy(LD_SO, "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
        // Absolute symlinks, as on Debian: must be resolved inside the sysroot.
        fs::create_dir_all(t.path().join("lib64")).unwrap();
        symlink(
            "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            t.path().join("lib64/ld-linux-x86-64.so.2"),
        )
        .unwrap();
    }
    for lib in libs {
        copy(
            &format!("/lib/x86_64-linux-gnu/{lib}"),
            &format!("usr/lib/x86_64-linux-gnu/{lib}"),
        );
    }
    symlink("usr/lib", t.path().join("lib")).unwrap();
    t
}

#[test]
fn missing_interpreter_and_library_are_named() {
    let ls = [PathBuf::from("/usr/bin/ls")];
    let t = ls_sysroot(false, &[]);
    assert_eq!(
        resolve(&ls, t.path()).unwrap_err().to_string(),
        format!(
            "interpreter {LD_SO} of /usr/bin/ls not found in {}",
            t.path().display()
        )
    );
    // An interpreter of the wrong class, or not ELF at all.
    let mut decoy = fs::read("/bin/ls").unwrap();
    decoy[4] = 1;
    decoy[18..20].copy_from_slice(&3u16.to_le_bytes());
    let t = ls_sysroot(true, &[]);
    let ld = t
        .path()
        .join("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    fs::write(&ld, &decoy).unwrap();
    assert_eq!(
        resolve(&ls, t.path()).unwrap_err().to_string(),
        format!(
            "interpreter {LD_SO} of /usr/bin/ls is ELFCLASS32 little-endian 386, \
             the binary ELFCLASS64 little-endian X86_64"
        )
    );
    fs::write(&ld, b"#!/bin/false\n").unwrap();
    assert_eq!(
        resolve(&ls, t.path()).unwrap_err().to_string(),
        format!(
            "interpreter {LD_SO} of /usr/bin/ls ({}) is not an ELF file",
            ld.display()
        )
    );

    let t = ls_sysroot(true, &["libc.so.6"]);
    // A 32-bit decoy where the 64-bit library would be: skipped, and reported.
    fs::write(
        t.path().join("usr/lib/x86_64-linux-gnu/libselinux.so.1"),
        &decoy,
    )
    .unwrap();
    fs::write(
        t.path().join("usr/lib/libselinux.so.1"),
        b"INPUT(libselinux.so.1.0)\n",
    )
    .unwrap();
    assert_eq!(
        resolve(&ls, t.path()).unwrap_err().to_string(),
        "library libselinux.so.1 needed by /usr/bin/ls (for /usr/bin/ls) not found; searched \
         /lib/x86_64-linux-gnu, /usr/lib/x86_64-linux-gnu, /lib64, /usr/lib64, /lib, /usr/lib; \
         skipped /lib/x86_64-linux-gnu/libselinux.so.1 (ELFCLASS32 little-endian 386), \
         /usr/lib/x86_64-linux-gnu/libselinux.so.1 (ELFCLASS32 little-endian 386), \
         /lib/libselinux.so.1 (not ELF), /usr/lib/libselinux.so.1 (not ELF)"
    );
}

#[test]
fn sysroot_and_ld_so_conf_are_honoured() {
    let t = ls_sysroot(true, &["libc.so.6", "libpcre2-8.so.0"]);
    let root = t.path();
    fs::create_dir_all(root.join("opt/selinux")).unwrap();
    fs::copy(
        "/lib/x86_64-linux-gnu/libselinux.so.1",
        root.join("opt/selinux/libselinux.so.1"),
    )
    .unwrap();
    fs::create_dir_all(root.join("etc/ld.so.conf.d")).unwrap();
    fs::write(
        root.join("etc/ld.so.conf"),
        "include /etc/ld.so.conf.d/*.conf\n",
    )
    .unwrap();
    fs::write(root.join("etc/ld.so.conf.d/opt.conf"), "/opt/selinux\n").unwrap();
    let files = resolve(&[PathBuf::from("/usr/bin/ls")], root).unwrap();
    let pairs: Vec<(&str, PathBuf)> = files
        .iter()
        .map(|f| {
            (
                f.dest.as_str(),
                f.source.strip_prefix(root).unwrap().to_path_buf(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        vec![
            (
                "lib/x86_64-linux-gnu/libc.so.6",
                "usr/lib/x86_64-linux-gnu/libc.so.6".into()
            ),
            (
                "lib/x86_64-linux-gnu/libpcre2-8.so.0",
                "usr/lib/x86_64-linux-gnu/libpcre2-8.so.0".into()
            ),
            (
                "lib64/ld-linux-x86-64.so.2",
                "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2".into()
            ),
            (
                "opt/selinux/libselinux.so.1",
                "opt/selinux/libselinux.so.1".into()
            ),
            ("usr/bin/ls", "usr/bin/ls".into()),
        ]
    );
}

#[test]
fn non_elf_inputs_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    fs::write(root.join("notes.txt"), b"just text\n").unwrap();
    fs::write(root.join("run.sh"), b"#!/bin/sh -e\necho hi\n").unwrap();
    let one = |p: &str| resolve(&[PathBuf::from(p)], root).unwrap_err().to_string();
    assert_eq!(one("/notes.txt"), "/notes.txt is not an ELF file");
    assert_eq!(
        one("/run.sh"),
        "/run.sh is a script for /bin/sh, not an ELF binary; list /bin/sh instead"
    );
    assert_eq!(
        one("/absent"),
        format!("binary /absent not found in {}", root.display())
    );
    assert_eq!(
        one("relative/ls"),
        "binary relative/ls is not an absolute path"
    );
    fs::create_dir(root.join("dir")).unwrap();
    assert_eq!(
        one("/dir"),
        format!("binary /dir not found in {}", root.display())
    );
}

#[test]
fn binary_symlinks_resolve_inside_the_sysroot() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    let one = |p: &str| resolve(&[PathBuf::from(p)], root).map(|f| dests(&f).join(" "));
    // A loop is an error naming the binary, not a missing binary.
    symlink("b", root.join("usr/bin/a")).unwrap();
    symlink("/usr/bin/a", root.join("usr/bin/b")).unwrap();
    assert_eq!(
        one("/usr/bin/a").unwrap_err().to_string(),
        format!(
            "too many levels of symbolic links resolving /usr/bin/a in {}",
            root.display()
        )
    );
    // An absolute link and one climbing above the sysroot both land inside it: /bin/ls of the
    // host is not taken.
    symlink("/bin/ls", root.join("usr/bin/abs")).unwrap();
    symlink("../../../../../../bin/ls", root.join("usr/bin/up")).unwrap();
    for p in ["/usr/bin/abs", "/usr/bin/up"] {
        assert_eq!(
            one(p).unwrap_err().to_string(),
            format!("binary {p} not found in {}", root.display())
        );
    }
    // A static stand-in (no PT_INTERP, no DT_NEEDED) where the links point, inside the sysroot.
    let busybox = Path::new("/usr/bin/busybox");
    if !busybox.exists() {
        eprintln!("skipped the rest: /usr/bin/busybox missing (apt-get install busybox-static)");
        return;
    }
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::copy(busybox, root.join("bin/ls")).unwrap();
    for p in ["/usr/bin/abs", "/usr/bin/up"] {
        let files = resolve(&[PathBuf::from(p)], root).unwrap();
        assert_eq!(dests(&files), [&p[1..]]);
        assert_eq!(files[0].source, root.join("bin/ls"));
    }
}

#[test]
fn origin_rpath_and_runpath() {
    let Some(t) = cc_tmp() else { return };
    let app = t.path().join("app");
    let (lib, bin) = (app.join("lib"), app.join("bin"));
    fs::create_dir_all(&lib).unwrap();
    fs::create_dir_all(&bin).unwrap();
    let src = |name: &str, code: &str| {
        let p = t.path().join(name);
        fs::write(&p, code).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let bar = src("bar.c", "int bar(void) { return 2; }\n");
    let foo = src(
        "foo.c",
        "int bar(void);\nint foo(void) { return bar() + 1; }\n",
    );
    let main = src(
        "main.c",
        "int foo(void);\nint main(void) { return foo() == 3 ? 0 : 1; }\n",
    );
    let l = lib.to_str().unwrap();
    cc(&["-shared", "-fPIC", "-o", &format!("{l}/libbar.so"), &bar]);
    // libfoo has no rpath of its own: it finds libbar only through its loader's DT_RPATH.
    cc(&[
        "-shared",
        "-fPIC",
        "-o",
        &format!("{l}/libfoo.so"),
        &foo,
        "-L",
        l,
        "-lbar",
    ]);
    let link = |out: &str, dtags: &str| {
        let out = bin.join(out);
        let rpath_link = format!("-Wl,-rpath-link,{l}");
        cc(&[
            "-o",
            out.to_str().unwrap(),
            &main,
            "-L",
            l,
            "-lfoo",
            &rpath_link,
            "-Wl,-rpath,$ORIGIN/../lib",
            dtags,
        ]);
        out
    };
    let with_rpath = link("app-rpath", "-Wl,--disable-new-dtags");
    let with_runpath = link("app-runpath", "-Wl,--enable-new-dtags");

    let files = resolve(std::slice::from_ref(&with_rpath), Path::new("/")).unwrap();
    let ours: BTreeSet<String> = files.iter().map(|f| format!("/{}", f.dest)).collect();
    let mut theirs = ldd(&with_rpath);
    theirs.insert(with_rpath.to_str().unwrap().to_owned());
    assert_eq!(ours, theirs);
    assert!(Command::new(&with_rpath).status().unwrap().success());

    // DT_RUNPATH is not inherited by libfoo: ld.so cannot find libbar, nor can we.
    let err = resolve(std::slice::from_ref(&with_runpath), Path::new("/"))
        .unwrap_err()
        .to_string();
    assert!(ldd(&with_runpath).contains("libbar.so => not found"));
    let prefix = format!(
        "library libbar.so needed by {l}/libfoo.so (for {}) not found; searched /",
        with_runpath.display()
    );
    assert!(err.starts_with(&prefix), "{err}");
    assert!(err.ends_with("/lib64, /usr/lib64, /lib, /usr/lib"), "{err}");

    // Through a symlink, ld.so looks next to the real file, but the image has
    // the binary at the symlink's path: libraries go where $ORIGIN will be.
    let links = t.path().join("links");
    fs::create_dir(&links).unwrap();
    symlink("../app/bin/app-rpath", links.join("app")).unwrap();
    let files = resolve(&[links.join("app")], Path::new("/")).unwrap();
    let root_rel = t.path().to_str().unwrap().trim_start_matches('/');
    let foo_file = files
        .iter()
        .find(|f| f.dest.ends_with("libfoo.so"))
        .unwrap();
    assert_eq!(foo_file.dest, format!("{root_rel}/lib/libfoo.so"));
    assert_eq!(foo_file.source, lib.join("libfoo.so"));
    let app_file = files
        .iter()
        .find(|f| f.dest.ends_with("links/app"))
        .unwrap();
    assert_eq!(app_file.source, with_rpath);
}

#[test]
fn static_cc_binary_is_alone() {
    let Some(t) = cc_tmp() else { return };
    let c = t.path().join("s.c");
    fs::write(&c, "int main(void) { return 0; }\n").unwrap();
    let exe = t.path().join("s");
    let out = Command::new("cc")
        .args(["-static", "-o"])
        .arg(&exe)
        .arg(&c)
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!(
            "skipped: cc -static failed (no libc.a?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let files = resolve(std::slice::from_ref(&exe), Path::new("/")).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].source, exe);
}
