//! Tests of the content-hash memo.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;

/// Facts of a test user: like publish's, a map and an optional string.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Extra {
    names: Option<BTreeMap<String, String>>,
    target: Option<String>,
}

/// ctime cannot be set, so a test file becomes memoizable only by waiting out the window.
fn age() {
    std::thread::sleep(RACY_WINDOW + Duration::from_millis(100));
}

/// A stamp of `path` as it is now, with times moved an hour into the past (settled).
fn settled(path: &Path) -> Stamp {
    let hour = 3_600 * 1_000_000_000i128;
    let mut s = Stamp::of(&fs::symlink_metadata(path).unwrap());
    s.mtime_ns -= hour;
    s.ctime_ns -= hour;
    s
}

#[test]
fn touch_without_change_rehashes_but_keeps_the_hash_and_change_changes_it() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("a");
    fs::write(&f, b"one").unwrap();
    age();
    let mut m = Memo::<()>::new();
    let h1 = m.hash(&f).unwrap().unwrap();
    assert_eq!(h1, hash_bytes(b"one"));
    assert_eq!(m.hash(&f).unwrap().unwrap(), h1);
    assert_eq!(m.hashed, 1, "the second answer came from the memo");
    // Same content rewritten (new mtime and ctime): read again, same hash.
    fs::write(&f, b"one").unwrap();
    assert_eq!(m.hash(&f).unwrap().unwrap(), h1);
    assert_eq!(m.hashed, 2);
    fs::write(&f, b"two").unwrap();
    assert_eq!(m.hash(&f).unwrap().unwrap(), hash_bytes(b"two"));
    assert_eq!(m.hash(&d.path().join("missing")).unwrap(), None);
}

#[test]
fn a_racy_entry_is_not_trusted() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("a");
    fs::write(&f, b"x").unwrap();
    // Changed just now: hashed every time, never remembered.
    let mut m = Memo::<()>::new();
    assert_eq!(m.hash(&f).unwrap().unwrap(), hash_bytes(b"x"));
    assert_eq!(m.hash(&f).unwrap().unwrap(), hash_bytes(b"x"));
    assert_eq!(m.hashed, 2);
    assert!(!m.is_dirty());
    // Remembered while settled, but its mtime is within the window of the memo's saving: a
    // load does not trust it.
    let stamp = settled(&f);
    m.remember(&f, Entry::new(stamp));
    assert!(m.known(&f, &stamp).is_some());
    let file = d.path().join("memo.json");
    let saved_at = i64::try_from(stamp.mtime_ns).unwrap() + 1_000_000_000;
    fs::write(&file, m.to_bytes_at(saved_at).unwrap()).unwrap();
    assert!(Memo::<()>::load(&file).known(&f, &stamp).is_none());
    fs::write(&file, m.to_bytes().unwrap()).unwrap();
    assert!(Memo::<()>::load(&file).known(&f, &stamp).is_some());
}

#[test]
fn a_persisted_memo_round_trips_by_path_and_by_inode() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("l");
    std::os::unix::fs::symlink("target", &p).unwrap();
    let stamp = settled(&p);
    let e = Entry {
        stamp,
        blake3: Some(hash_bytes(b"c")),
        more: Extra {
            names: Some(BTreeMap::from([("user.a".into(), "00ff".into())])),
            target: Some("target".into()),
        },
    };
    let file = d.path().join("memo.json");
    let mut m = Memo::new();
    m.remember(&p, e.clone());
    assert!(m.is_dirty());
    m.save(&file).unwrap();
    assert!(!m.is_dirty());
    let back = Memo::<Extra>::load(&file);
    assert!(!back.is_dirty());
    assert_eq!(back.known(&p, &stamp), Some(&e));
    let other = Stamp { size: 9, ..stamp };
    assert_eq!(
        back.known(&p, &other),
        None,
        "a different stamp is not known"
    );
    assert_eq!(back.known(&d.path().join("x"), &stamp), None);

    let mut m = Memo::fresh_by_inode();
    m.remember_settled(Path::new(""), e.clone());
    m.save(&file).unwrap();
    let back = Memo::<Extra>::load_by_inode(&file);
    assert_eq!(back.known(Path::new("any/name"), &stamp), Some(&e));
    // A fresh memo replaces the file even when it learned nothing.
    Memo::<Extra>::fresh_by_inode().save(&file).unwrap();
    assert!(Memo::<Extra>::load_by_inode(&file)
        .known(Path::new(""), &stamp)
        .is_none());
}

#[test]
fn a_corrupt_or_old_format_memo_file_is_an_empty_memo() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("f");
    fs::write(&p, b"x").unwrap();
    let stamp = settled(&p);
    let file = d.path().join("memo.json");
    let mut m = Memo::<()>::new();
    m.remember(&p, Entry::new(stamp));
    let good = m.to_bytes().unwrap();
    let key = p.to_str().unwrap();
    let s = stamp;
    let old_build = format!(
        r#"{{"entries":{{"{key}":{{"stamp":{{"size":{},"mtime_ns":{},"ctime_ns":{},"ino":{},"dev":{}}},"blake3":"00"}}}}}}"#,
        s.size, s.mtime_ns, s.ctime_ns, s.ino, s.dev
    );
    let old_publish = format!(
        r#"{{"version":2,"entries":[["{key}",{},{},{},{},{},"00",null,null]]}}"#,
        s.size, s.mtime_ns, s.ctime_ns, s.ino, s.dev
    );
    let other_version = String::from_utf8(good.clone())
        .unwrap()
        .replace("\"version\":3", "\"version\":4");
    for bad in [
        &b"garbage"[..],
        &good[..good.len() / 2],
        b"",
        old_build.as_bytes(),
        old_publish.as_bytes(),
        other_version.as_bytes(),
    ] {
        fs::write(&file, bad).unwrap();
        let m = Memo::<()>::load(&file);
        assert!(
            m.known(&p, &stamp).is_none(),
            "{}",
            String::from_utf8_lossy(bad)
        );
        assert!(!m.is_dirty());
    }
    fs::write(&file, &good).unwrap();
    assert!(Memo::<()>::load(&file).known(&p, &stamp).is_some());
    assert!(Memo::<()>::load(&d.path().join("missing"))
        .known(&p, &stamp)
        .is_none());
}

#[test]
fn a_file_read_at_another_length_than_stamped_is_not_remembered() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("f");
    fs::write(&p, b"abc").unwrap();
    let stamp = Stamp {
        size: 2,
        ..settled(&p)
    };
    let mut m = Memo::<()>::new();
    match m.hash_nofollow(&p, &stamp) {
        Err(HashError::Changed {
            expected: 2,
            read: 3,
            blake3,
        }) => assert_eq!(blake3, hash_bytes(b"abc")),
        other => panic!("{other:?}"),
    }
    assert!(m.known(&p, &stamp).is_none());
    let right = settled(&p);
    assert_eq!(m.hash_nofollow(&p, &right).unwrap(), hash_bytes(b"abc"));
    assert_eq!(
        m.known(&p, &right).and_then(|e| e.blake3.clone()),
        Some(hash_bytes(b"abc"))
    );
}

#[test]
fn derived_facts_share_the_entry_and_symlinks_are_not_followed() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("f");
    fs::write(&p, b"x").unwrap();
    let stamp = settled(&p);
    let slot: fn(&mut Entry<Extra>) -> &mut Option<String> = |e| &mut e.more.target;
    let mut m = Memo::<Extra>::new();
    let mut calls = 0;
    for _ in 0..2 {
        let got = m.memoized(&p, &stamp, slot, || -> io::Result<_> {
            calls += 1;
            Ok(Some("derived".to_string()))
        });
        assert_eq!(got.unwrap().as_deref(), Some("derived"));
    }
    assert_eq!(calls, 1);
    m.hash_nofollow(&p, &stamp).unwrap();
    let e = m.known(&p, &stamp).unwrap();
    assert!(e.blake3.is_some() && e.more.target.is_some(), "{e:?}");
    std::os::unix::fs::symlink("f", d.path().join("l")).unwrap();
    assert!(matches!(
        hash_file(&d.path().join("l")),
        Err(HashError::Open(_))
    ));
}
