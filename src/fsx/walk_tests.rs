//! Tests of the tree walker.

use std::fs;
use std::os::unix::fs::symlink;
use std::process::Command;

use super::*;

const ENTER: Options = Options {
    other_fs: OtherFs::Enter,
    follow_root: true,
};

/// (path, index, parent) of every visit, paths `/`-joined.
fn visits(root: &Path, opts: Options) -> Result<Vec<(String, usize, usize)>, Stop<()>> {
    let mut out = Vec::new();
    walk(root, opts, &mut |item: &Item<'_>| -> Result<(), ()> {
        let parts: Vec<_> = item.path.iter().map(|p| p.to_string_lossy()).collect();
        out.push((parts.join("/"), item.index, item.parent));
        Ok(())
    })?;
    Ok(out)
}

#[test]
fn directories_are_listed_in_byte_order_and_depth_first_gives_path_order() {
    let d = tempfile::tempdir().unwrap();
    for dir in ["b/y", "a", "B"] {
        fs::create_dir_all(d.path().join(dir)).unwrap();
    }
    for file in ["a/2", "a/1", "b/x", "b/y/z", "c"] {
        fs::write(d.path().join(file), b"").unwrap();
    }
    symlink("b", d.path().join("l")).unwrap();
    let v = visits(d.path(), ENTER).unwrap();
    let names: Vec<&str> = v.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(
        names,
        ["", "B", "a", "b", "c", "l", "a/1", "a/2", "b/x", "b/y", "b/y/z"],
        "each listing sorted by bytes, then its subdirectories; the symlink not followed"
    );
    assert!(v.iter().enumerate().all(|(i, (_, index, _))| i == *index));
    let parents: Vec<usize> = v.iter().map(|(_, _, p)| *p).collect();
    let ordered: Vec<&str> = depth_first(&parents)
        .into_iter()
        .map(|i| v[i].0.as_str())
        .collect();
    assert_eq!(
        ordered,
        ["", "B", "a", "a/1", "a/2", "b", "b/x", "b/y", "b/y/z", "c", "l"]
    );
}

#[test]
fn a_symlinked_root_is_followed_only_when_allowed() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir(d.path().join("real")).unwrap();
    fs::write(d.path().join("real/f"), b"x").unwrap();
    let link = d.path().join("link");
    symlink("real", &link).unwrap();
    assert_eq!(visits(&link, ENTER).unwrap().len(), 2);
    let strict = Options {
        follow_root: false,
        ..ENTER
    };
    match visits(&link, strict) {
        Err(Stop::Walk(e)) => {
            assert_eq!(e.host_path(), link);
            assert!(matches!(
                e.failure,
                Failure::Io {
                    op: "open directory",
                    ..
                }
            ));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn visitor_errors_stop_the_walk_and_nodes_are_read_through_their_directory() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("f"), b"data").unwrap();
    symlink("somewhere", d.path().join("l")).unwrap();
    let mut seen = Vec::new();
    let r = walk(
        d.path(),
        ENTER,
        &mut |item: &Item<'_>| -> Result<(), String> {
            match item.file_type() {
                FileType::RegularFile => {
                    let mut s = String::new();
                    io::Read::read_to_string(
                        &mut fs::File::from(item.open(OFlags::RDONLY).unwrap()),
                        &mut s,
                    )
                    .unwrap();
                    seen.push(s);
                    Ok(())
                }
                FileType::Symlink => Err(String::from_utf8(item.read_link().unwrap()).unwrap()),
                _ => Ok(()),
            }
        },
    );
    assert_eq!(seen, ["data"]);
    assert_eq!(r.unwrap_err().into_err(|e| format!("{e:?}")), "somewhere");
}

#[test]
fn stat_all_keeps_order_in_big_directories_and_reports_missing_entries() {
    let d = tempfile::tempdir().unwrap();
    let n = PARALLEL_STAT_MIN + 77;
    let mut names: Vec<OsString> = (0..n).map(|i| format!("f{i:05}").into()).collect();
    for (i, name) in names.iter().enumerate() {
        fs::write(d.path().join(name), vec![0u8; i % 97]).unwrap();
    }
    names.insert(5, "missing".into());
    let dir = rfs::open(
        d.path(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let stats = stat_all(&dir, &names);
    assert_eq!(stats.len(), n + 1);
    assert_eq!(stats[5].as_ref().unwrap_err(), &Errno::NOENT);
    for (k, st) in stats.iter().enumerate().filter(|(k, _)| *k != 5) {
        let i = if k < 5 { k } else { k - 1 };
        assert_eq!(st.as_ref().unwrap().st_size, (i % 97) as i64, "entry {k}");
    }
}

/// Mounts a tmpfs at `dir`; false when this process may not mount (not root).
fn mount_tmpfs(dir: &Path) -> bool {
    Command::new("mount")
        .args(["-t", "tmpfs", "none"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn another_filesystem_is_entered_skipped_or_refused() {
    let d = tempfile::tempdir().unwrap();
    let mnt = d.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    if !mount_tmpfs(&mnt) {
        eprintln!("skipped: cannot mount a tmpfs");
        return;
    }
    fs::write(mnt.join("inside"), b"").unwrap();
    let with = |other_fs| {
        visits(
            d.path(),
            Options {
                other_fs,
                follow_root: true,
            },
        )
    };
    let entered = with(OtherFs::Enter).map(|v| v.len());
    let skipped = with(OtherFs::Skip).map(|v| v.len());
    let refused = with(OtherFs::Refuse);
    let umounted = Command::new("umount").arg(&mnt).status();
    assert!(umounted.is_ok_and(|s| s.success()));
    assert_eq!(entered.unwrap(), 3);
    assert_eq!(
        skipped.unwrap(),
        2,
        "the mount point is visited, not entered"
    );
    match refused {
        Err(Stop::Walk(e)) => {
            assert_eq!(e.host_path(), mnt);
            assert!(matches!(e.failure, Failure::OtherFs));
        }
        other => panic!("{other:?}"),
    }
}
