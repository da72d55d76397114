//! Differential test of the NFS root grammar against dracut's own parser: nfs-lib.sh's
//! `nfs_to_var` (the function that gives `root=` and the DHCP root-path their meaning) runs under
//! `sh` with stubs for what it takes from dracut-lib.sh and the running system, on generated
//! `nfs:`, `nfs4:` and `nfs://` values, and `nfsroot_to_var` on the legacy forms without a prefix
//! (as parse-nfsroot.sh and `nfsroot_from_dhcp` call it). Every value netroot accepts must mean what it means to
//! dracut (protocol, server, path after `%s`, options); values netroot refuses are not compared.
//!
//! dracut comes from the dracut-network package. Without it the test is skipped with a message,
//! or fails when `NETROOT_REQUIRE_VM=1` or `NETROOT_REQUIRE_KERNEL=1` is set.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use common::Rng;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use netroot_boot::bootconfig::{parse_root_path, substitute_node};

const NFS_LIB: &str = "/usr/lib/dracut/modules.d/95nfs/nfs-lib.sh";

/// The host name the stubbed `/proc/sys/kernel/hostname` holds, which `%s` becomes.
const NODE: &str = "node7";

/// What nfs-lib.sh takes from dracut-lib.sh (`strstr`, `str_starts`, `getarg`) and net-lib.sh
/// (`get_ip`), defined as dracut defines them; `getarg` finds nothing.
const STUBS: &str = r#"
strstr() { [ "${1##*"$2"*}" != "$1" ]; }
str_starts() { [ "${1#"$2"*}" != "$1" ]; }
getarg() { return 1; }
get_ip() { echo 10.9.8.7; }
warn() { :; }
"#;

fn required() -> bool {
    ["NETROOT_REQUIRE_VM", "NETROOT_REQUIRE_KERNEL"]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| v == "1"))
}

/// nfs-lib.sh with its `. /lib/net-lib.sh` dropped (stubbed) and the host name file replaced.
fn dracut_lib(hostname_file: &Path) -> Option<String> {
    let Ok(text) = std::fs::read_to_string(NFS_LIB) else {
        assert!(
            !required(),
            "{NFS_LIB} is missing (install dracut-network) and NETROOT_REQUIRE_* is set"
        );
        eprintln!("skipping: {NFS_LIB} is missing (install dracut-network)");
        return None;
    };
    let lib: String = text
        .lines()
        .filter(|l| l.trim() != ". /lib/net-lib.sh")
        .map(|l| {
            l.replace(
                "/proc/sys/kernel/hostname",
                &hostname_file.display().to_string(),
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    Some(format!("{STUBS}\n{lib}\n"))
}

/// (nfs, server, path, options) as `nfs_to_var` sets them, one value per input line; a value
/// without `nfs` (the legacy `root=<server>:/<path>` and `root=/<path>`, and a DHCP root-path)
/// goes through `nfsroot_to_var "nfs:$value"`, as parse-nfsroot.sh and `nfsroot_from_dhcp` do.
fn run_dracut(lib: &str, roots: &[String]) -> Vec<[String; 4]> {
    let script = format!(
        "{lib}\nwhile IFS= read -r r; do nfs=''; server=''; path=''; options=''; case \"$r\" in nfs*) nfs_to_var \"$r\" '' ;; *) nfsroot_to_var \"nfs:$r\" ;; esac; printf '%s\\037%s\\037%s\\037%s\\036' \"$nfs\" \"$server\" \"$path\" \"$options\"; done\n"
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sh runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = roots.join("\n") + "\n";
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("sh finishes");
    writer.join().expect("writer").expect("input written");
    assert!(out.status.success(), "sh failed: {:?}", out.status);
    let text = String::from_utf8(out.stdout).expect("utf-8 output");
    text.split('\u{1e}')
        .filter(|r| !r.is_empty())
        .map(|r| {
            let f: Vec<&str> = r.split('\u{1f}').collect();
            assert_eq!(f.len(), 4, "{r:?}");
            [f[0], f[1], f[2], f[3]].map(str::to_string)
        })
        .collect()
}

/// A value built from the grammar's parts, then sometimes mutated by inserting a separator.
fn generate(rng: &mut Rng) -> String {
    let servers = [
        "",
        "10.0.2.9",
        "192.168.7.1",
        "10.0.2",
        "host.example",
        "0.0.0.0",
    ];
    let paths = [
        "/srv/x", "/srv/%s", "/a/%s/%s", "/", "/srv,ro", "srv", "", "/e/p-1.2",
    ];
    let options = [
        "",
        "ro",
        "nolock,vers=3",
        "v4.1",
        "soft,timeo=5",
        "port=2049",
        ",,rw,",
    ];
    let value = match rng.next() % 5 {
        0 | 1 => {
            let prefix = rng.pick(&["nfs:", "nfs4:"]);
            let server = rng.pick(&servers);
            let mut v = format!("{prefix}{server}");
            if !server.is_empty() || rng.next() % 2 == 0 {
                v.push(':');
            }
            v.push_str(rng.pick(&paths));
            let opts = rng.pick(&options);
            if !opts.is_empty() {
                v.push_str(rng.pick(&[":", ","]));
                v.push_str(opts);
            }
            v
        }
        2 => {
            let port = rng.pick(&["", ":2049", ":", ":0", ":x"]);
            let server = rng.pick(&servers);
            let path = rng.pick(&paths).trim_start_matches('/');
            format!("nfs://{server}{port}/{path}")
        }
        3 => {
            let opts = rng.pick(&options);
            let server = rng.pick(&servers);
            let path = rng.pick(&paths);
            format!("nfs:{opts}:{server}:{path}")
        }
        _ => {
            // Legacy forms: `<server>:/<path>[:|,<options>]` and `/<path>...`.
            let server = rng.pick(&["10.0.2.9", "192.168.7.1", ""]);
            let mut v = if server.is_empty() {
                String::new()
            } else {
                format!("{server}:")
            };
            v.push_str(rng.pick(&paths));
            let opts = rng.pick(&options);
            if !opts.is_empty() {
                v.push_str(rng.pick(&[":", ","]));
                v.push_str(opts);
            }
            v
        }
    };
    if rng.next() % 4 == 0 {
        let mut bytes = value.into_bytes();
        let at = (rng.next() % (bytes.len() as u64 + 1)) as usize;
        bytes.insert(at, rng.pick(&[":", "/", ","]).as_bytes()[0]);
        String::from_utf8(bytes).expect("ascii")
    } else {
        value
    }
}

#[test]
fn root_grammar_agrees_with_dracuts_nfs_to_var() {
    let hostname = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dracut-hostname");
    std::fs::write(&hostname, format!("{NODE}\n")).expect("hostname file");
    let Some(lib) = dracut_lib(&hostname) else {
        return;
    };
    let mut rng = Rng(0x6472_6163_7574_2121);
    let mut roots: Vec<String> = (0..3000).map(|_| generate(&mut rng)).collect();
    roots.sort();
    roots.dedup();
    let dracut = run_dracut(&lib, &roots);
    assert_eq!(dracut.len(), roots.len());
    let mut accepted = 0;
    for (root, [nfs, server, path, options]) in roots.iter().zip(dracut) {
        let Ok(spec) = parse_root_path(root) else {
            continue;
        };
        accepted += 1;
        let ours_nfs = if spec.v4_only { "nfs4" } else { "nfs" };
        assert_eq!(nfs, ours_nfs, "{root}: protocol");
        // rfc2224_nfs_to_var keeps `:<port>` on the server as well as setting port= (a dracut
        // slip that would make the mount fail); netroot takes the server without it.
        let server = match options.strip_prefix("port=") {
            Some(port) if root.starts_with("nfs://") => server
                .strip_suffix(&format!(":{port}"))
                .unwrap_or(&server)
                .to_string(),
            _ => server,
        };
        let ours_server = spec.server.map(|s| s.to_string()).unwrap_or_default();
        assert_eq!(server, ours_server, "{root}: server");
        // nfs_to_var replaces `%s`; nfsroot_to_var (the legacy and root-path values) leaves it.
        let ours_path = match spec.node {
            Some(_) if root.starts_with("nfs") => substitute_node(&spec.path, NODE),
            _ => spec.path.clone(),
        };
        assert_eq!(path, ours_path, "{root}: path");
        let dracut_options: Vec<&str> = options.split(',').filter(|o| !o.is_empty()).collect();
        assert_eq!(dracut_options, spec.options, "{root}: options");
    }
    eprintln!(
        "{accepted} of {} generated values accepted and compared",
        roots.len()
    );
    assert!(
        accepted * 4 > roots.len(),
        "only {accepted} of {} generated values were accepted",
        roots.len()
    );
}
