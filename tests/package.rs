//! Packaging: `netroot --version` names the commit, the embedded init's hash and the target;
//! `--generate` writes the man pages and completions; and `ci/package` builds a Debian package
//! that holds them, installs a working binary without liblzma, and declares honest Depends and
//! Recommends. The package test runs a release build (minutes): it runs when
//! `NETROOT_TEST_PACKAGE=1` or `NETROOT_REQUIRE_VM=1` (ci/test) is set, and then fails rather
//! than skips when the package cannot be built.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_netroot");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn run(c: &mut Command) -> Output {
    let o = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"));
    if !o.status.success() {
        eprintln!(
            "{c:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    o
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn version_line() -> String {
    let o = run(Command::new(BIN).arg("--version"));
    assert!(o.status.success());
    text(&o).trim_end().to_string()
}

#[test]
fn version_names_the_commit_the_init_hash_and_the_target() {
    let line = version_line();
    let init = hex::encode(Sha256::digest(netroot::init_binary::INIT_BINARY));
    let commit = Command::new("git")
        .current_dir(REPO)
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    assert_eq!(
        line,
        format!(
            "netroot {} (commit {commit}, init sha256 {}, x86_64-unknown-linux-gnu)",
            env!("CARGO_PKG_VERSION"),
            &init[..12]
        )
    );
}

#[test]
fn generate_writes_pages_and_completions_and_refuses_an_unknown_kind() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(Command::new(BIN)
        .args(["--generate", "man"])
        .arg(dir.path()))
    .status
    .success());
    for page in [
        "netroot.1",
        "netroot-build.1",
        "netroot-publish.1",
        "netroot-profile.5",
    ] {
        assert!(dir.path().join(page).is_file(), "{page} not written");
    }
    let o = run(Command::new(BIN).args(["--generate", "complete-bash"]));
    assert!(o.status.success());
    assert!(text(&o).contains("complete -F _netroot"), "{}", text(&o));
    assert!(!text(&o).contains("--generate"), "hidden, yet completed");
    let o = Command::new(BIN)
        .args(["--generate", "complete-tcsh"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    // Hidden from the help too.
    let o = run(Command::new(BIN).arg("--help"));
    assert!(!text(&o).contains("generate"), "{}", text(&o));
}

fn package_test_wanted() -> bool {
    ["NETROOT_TEST_PACKAGE", "NETROOT_REQUIRE_VM"]
        .iter()
        .any(|v| std::env::var(v).as_deref() == Ok("1"))
}

/// `dpkg-deb ARGS DEB` stdout, which must succeed.
fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let o = run(Command::new("dpkg-deb").args(args).arg(deb));
    assert!(o.status.success(), "dpkg-deb {args:?} failed");
    text(&o)
}

/// A man page rendered as text: man-db when it is installed, else groff.
fn render_man(page: &Path) -> String {
    let o = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output();
    if let Some(o) = o.ok().filter(|o| o.status.success()) {
        return text(&o);
    }
    let gz = run(Command::new("gzip").arg("-dc").arg(page));
    let mut groff = Command::new("groff")
        .args(["-man", "-Tutf8"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("neither man nor groff can render a man page");
    use std::io::Write;
    groff.stdin.take().unwrap().write_all(&gz.stdout).unwrap();
    let o = groff.wait_with_output().unwrap();
    assert!(o.status.success());
    text(&o)
}

#[test]
fn ci_package_builds_an_installable_deb() {
    if !package_test_wanted() {
        eprintln!(
            "skipped: set NETROOT_TEST_PACKAGE=1 to build the Debian package (a release build)"
        );
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let o = run(Command::new(Path::new(REPO).join("ci/package"))
        .current_dir(REPO)
        .env("NETROOT_DEB_DIR", out.path())
        // cargo hands the tests build.rs's rustc-env values; the package must embed the init
        // its own build makes, as from a shell.
        .env_remove("NETROOT_INIT_BIN")
        .env_remove("NETROOT_INIT_SHA256")
        .env_remove("NETROOT_GIT_COMMIT")
        .env_remove("NETROOT_TARGET"));
    assert!(o.status.success(), "ci/package failed");
    let deb = PathBuf::from(text(&o).lines().last().unwrap_or_default());
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        deb,
        out.path().join(format!("netroot_{version}_amd64.deb")),
        "ci/package's last line names the package"
    );

    let info = dpkg_deb(&["--info"], &deb);
    let field = |name: &str| -> String {
        info.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in\n{info}"))
            .to_string()
    };
    assert_eq!(field("Package"), "netroot");
    assert_eq!(field("Version"), version);
    assert_eq!(field("Architecture"), "amd64");
    let depends = field("Depends");
    assert!(depends.contains("libc6 (>= 2."), "{depends}");
    assert!(!depends.contains("liblzma"), "{depends}");
    let recommends = field("Recommends");
    for p in [
        "grub-pc-bin",
        "grub-common",
        "ipxe",
        "pxelinux",
        "syslinux-common",
        "dnsmasq | isc-dhcp-server",
        "nfs-ganesha",
        "nfs-ganesha-vfs",
        "mmdebstrap",
    ] {
        assert!(
            recommends.contains(p),
            "{p} not in Recommends: {recommends}"
        );
    }
    for test_tool in ["qemu", "dracut", "hyperfine"] {
        assert!(!info.contains(test_tool), "{test_tool} in\n{info}");
    }

    let contents = dpkg_deb(&["--contents"], &deb);
    let listed: Vec<&str> = contents
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .collect();
    let has = |p: &str| listed.contains(&format!("./{p}").as_str());
    // Every page `--generate man` writes is installed, gzip'ed.
    let pages = tempfile::tempdir().unwrap();
    assert!(run(Command::new(BIN)
        .args(["--generate", "man"])
        .arg(pages.path()))
    .status
    .success());
    let mut names: Vec<String> = std::fs::read_dir(pages.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for name in &names {
        let section = name.rsplit('.').next().unwrap();
        let path = format!("usr/share/man/man{section}/{name}.gz");
        assert!(has(&path), "{path} not in the package:\n{contents}");
    }
    for p in [
        "usr/bin/netroot",
        "usr/share/man/man1/netroot.1.gz",
        "usr/share/man/man1/netroot-build.1.gz",
        "usr/share/man/man5/netroot-profile.5.gz",
        "usr/share/bash-completion/completions/netroot",
        "usr/share/zsh/vendor-completions/_netroot",
        "usr/share/fish/vendor_completions.d/netroot.fish",
        "usr/share/doc/netroot/copyright",
        "usr/share/doc/netroot/examples/profiles/compute.toml",
        "usr/share/doc/netroot/examples/profiles/base.toml",
        "usr/share/doc/netroot/examples/overlays/netboot-node/",
        "usr/share/doc/netroot/examples/netroot.toml",
    ] {
        assert!(has(p), "{p} not in the package:\n{contents}");
    }
    // Owned by root (--root-owner-group), whoever built it.
    assert!(
        contents.lines().all(|l| l.contains(" root/root ")),
        "{contents}"
    );

    let root = tempfile::tempdir().unwrap();
    let o = run(Command::new("dpkg").arg("-x").arg(&deb).arg(root.path()));
    assert!(o.status.success());
    let installed = root.path().join("usr/bin/netroot");
    let o = run(Command::new(&installed).arg("--version"));
    assert!(o.status.success());
    let line = text(&o);
    assert!(
        line.starts_with(&format!("netroot {version} (commit ")) && line.contains("init sha256 "),
        "{line}"
    );
    let o = run(Command::new("ldd").arg(&installed));
    assert!(o.status.success());
    assert!(!text(&o).contains("liblzma"), "{}", text(&o));

    let page = render_man(&root.path().join("usr/share/man/man5/netroot-profile.5.gz"));
    assert!(page.contains("netroot-profile"), "{page}");
    assert!(page.contains("[root.allow]"), "{page}");
    assert!(page.contains("client_network"), "{page}");
    let page = render_man(&root.path().join("usr/share/man/man1/netroot-build.1.gz"));
    assert!(page.contains("SYNOPSIS"), "{page}");
    let completion = std::fs::read_to_string(
        root.path()
            .join("usr/share/bash-completion/completions/netroot"),
    )
    .unwrap();
    assert!(completion.contains("complete -F _netroot"), "{completion}");
    // bash loads it and then completes netroot with it.
    let o = run(Command::new("bash")
        .arg("-c")
        .arg("source \"$1\" && complete -p netroot")
        .arg("bash")
        .arg(
            root.path()
                .join("usr/share/bash-completion/completions/netroot"),
        ));
    assert!(o.status.success());
    assert!(text(&o).contains("_netroot"), "{}", text(&o));
}
