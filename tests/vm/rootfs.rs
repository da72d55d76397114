//! The guest root tree served over NFS: a static busybox with its applet links, the API mount
//! points, and a generated `/sbin/init` (busybox sh) that checks what the initramfs handed over
//! and reports one `vmcheck: CHECK <name> ok|FAIL <detail>` line per check, then
//! `vmcheck: <n> passed, <m> failed` (prefixed so CI log scanners do not take it for a test
//! runner summary), then powers the VM off.
//!
//! The checks are a table ([`CHECKS`]): the host asserts exactly these names, so a check that
//! does not run counts as a failure.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::VmError;

/// Prefix of every line the guest init prints.
pub const PREFIX: &str = "vmcheck:";
/// File the guest writes to `/`: it must land in the overlay's tmpfs upper, not the export.
pub const PROBE_NAME: &str = "vmcheck-probe";
/// File the guest tries to create in the NFS lower layer: the read-only mount must refuse it.
pub const LOWER_PROBE_NAME: &str = "vmcheck-lower-probe";
/// File of the tree holding the per-test token: proves the guest mounted this test's export.
pub const TOKEN_FILE: &str = "etc/vmcheck-token";
/// Directories the guest needs before its init runs: mount points of the moved API mounts.
const DIRS: &[&str] = &[
    "bin", "sbin", "etc", "proc", "sys", "dev", "run", "tmp", "root",
];

/// What the guest checks against; baked into the generated init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestExpect {
    /// Bond name and mode in sysfs spelling (`802.3ad`, `active-backup`, ...).
    pub bond: String,
    pub mode: String,
    /// Ports enslaved to the bond.
    pub slaves: usize,
    /// The NFS mount source, `server:/path`, as a shell `case` pattern:
    /// `10.0.2.2:/export/qt/*` accepts any published generation.
    pub nfs_source: String,
    /// Per-test random token written into the tree.
    pub token: String,
}

/// One guest check: a shell function body that prints `ok` or what is wrong.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    pub name: &'static str,
    pub body: &'static str,
}

/// Every guest check, in run order. Bodies may use the variables the script header sets.
pub const CHECKS: &[Check] = &[
    Check {
        name: "pid1",
        body: r#"[ "$$" = 1 ] && echo ok || echo "init runs as pid $$""#,
    },
    Check {
        name: "root_overlay",
        body: r#"set -- $ROOT
[ "$3" = overlay ] && [ -n "$LOWER" ] && [ -n "$UPPER" ] && echo ok || echo "/ is: $ROOT""#,
    },
    Check {
        name: "lower_nfs",
        body: r#"set -- $LOWER_MNT
case "$3" in nfs|nfs4) ;; *) echo "lower $LOWER is: $LOWER_MNT"; return;; esac
case "$1" in $EXPECT_SOURCE) echo ok;; *) echo "lower source $1, expected $EXPECT_SOURCE";; esac"#,
    },
    Check {
        name: "lower_readonly",
        body: r#"set -- $LOWER_MNT
case ",$4," in *,ro,*) ;; *) echo "lower mounted with $4"; return;; esac
if touch "$LOWER/$LOWER_PROBE" 2>/dev/null; then echo "created $LOWER/$LOWER_PROBE"; return; fi
echo ok"#,
    },
    Check {
        name: "upper_tmpfs",
        body: r#"t=$(fstype_of "$UPPER")
[ "$t" = tmpfs ] && echo ok || echo "upper $UPPER is on '$t'""#,
    },
    Check {
        name: "root_write_in_upper",
        body: r#"echo "$TOKEN" > "/$PROBE" || { echo "cannot write /$PROBE"; return; }
[ "$(cat "$UPPER/$PROBE" 2>&1)" = "$TOKEN" ] || { echo "$UPPER/$PROBE lacks the write"; return; }
[ -e "$LOWER/$PROBE" ] && { echo "write reached the lower $LOWER"; return; }
echo ok"#,
    },
    Check {
        name: "export_token",
        body: r#"t=$(cat "/$TOKEN_FILE" 2>&1)
[ "$t" = "$TOKEN" ] && echo ok || echo "/$TOKEN_FILE: $t""#,
    },
    Check {
        name: "api_mounts",
        body: r#"bad=
for m in /proc:proc /sys:sysfs /dev:devtmpfs /run:tmpfs; do
  [ "$(fstype_of "${m%%:*}")" = "${m#*:}" ] || bad="$bad ${m%%:*}=$(fstype_of "${m%%:*}")"
done
[ -z "$bad" ] && echo ok || echo "wrong:$bad""#,
    },
    Check {
        name: "bond_slaves",
        body: r#"s=$(cat "/sys/class/net/$BOND/bonding/slaves" 2>&1)
[ "$(echo $s | wc -w)" = "$EXPECT_SLAVES" ] && echo ok || echo "slaves: $s (expected $EXPECT_SLAVES)""#,
    },
    Check {
        name: "bond_mode",
        body: r#"m=$(cat "/sys/class/net/$BOND/bonding/mode" 2>&1)
[ "${m%% *}" = "$EXPECT_MODE" ] && echo ok || echo "mode: $m (expected $EXPECT_MODE)""#,
    },
    Check {
        name: "bond_up",
        body: r#"s=$(cat "/sys/class/net/$BOND/operstate" 2>&1)
[ "$s" = up ] && echo ok || echo "operstate: $s""#,
    },
    Check {
        name: "bond_ipv4",
        body: r#"a=$(ip -4 -o addr show dev "$BOND" 2>&1)
case "$a" in *" inet "*) echo ok;; *) echo "no IPv4 address: $a";; esac"#,
    },
    Check {
        name: "init_log_in_kmsg",
        body: r#"n=$(dmesg | grep -c 'netroot-init: OK root=')
[ "$n" = 1 ] && echo ok || echo "$n OK lines in the kernel log""#,
    },
];

fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The checker's definitions: the expected values, helpers, the mount facts (read from
/// /proc/mounts) and one `check_<name>` function per check. Side-effect free until a check runs.
pub fn definitions(expect: &GuestExpect) -> String {
    let mut s = String::new();
    let vars = [
        ("BOND", expect.bond.as_str()),
        ("EXPECT_MODE", expect.mode.as_str()),
        ("EXPECT_SLAVES", &expect.slaves.to_string()),
        ("EXPECT_SOURCE", expect.nfs_source.as_str()),
        ("TOKEN", expect.token.as_str()),
        ("TOKEN_FILE", TOKEN_FILE),
        ("PROBE", PROBE_NAME),
        ("LOWER_PROBE", LOWER_PROBE_NAME),
    ];
    for (name, value) in vars {
        s.push_str(&format!("{name}={}\n", sh_quote(value)));
    }
    s.push_str(
        r#"# The /proc/mounts entry of mount point $1 (the last one is the visible one).
mount_of() { awk -v m="$1" '$2 == m { l = $0 } END { print l }' /proc/mounts; }
# The type of the filesystem holding path $1: the longest mount point that is a prefix of it.
fstype_of() {
  awk -v p="$1" '{ m = $2; if ((m == "/" || p == m || index(p, m "/") == 1) && length(m) >= n) { n = length(m); t = $3 } } END { print t }' /proc/mounts
}
# Option $2 of the comma-separated mount options $1.
opt() { echo "$1" | tr ',' '\n' | sed -n "s/^$2=//p"; }
ROOT=$(mount_of /)
ROOT_OPTS=$(echo "$ROOT" | awk '{ print $4 }')
# The bottom layer is the NFS root; a node layer (netroot.node) sits above it.
LOWER=$(opt "$ROOT_OPTS" lowerdir)
LOWER=${LOWER##*:}
UPPER=$(opt "$ROOT_OPTS" upperdir)
LOWER_MNT=$(mount_of "$LOWER")
"#,
    );
    for check in CHECKS {
        s.push_str(&format!("check_{}() {{\n{}\n}}\n", check.name, check.body));
    }
    s
}

/// The guest's `/sbin/init`: quiet kernel console, the definitions, every check, the summary,
/// poweroff.
pub fn init_script(expect: &GuestExpect) -> String {
    let mut s = String::from(
        r#"#!/bin/sh
# /sbin/init of the netroot VM boot test, generated by tests/vm/rootfs.rs: checks the root the
# initramfs handed over, prints one result line per check and a summary, then powers off.
export PATH=/bin
# Console loglevel 1: kernel messages must not split the result lines.
echo 1 > /proc/sys/kernel/printk
"#,
    );
    s.push_str(&definitions(expect));
    let names: Vec<&str> = CHECKS.iter().map(|c| c.name).collect();
    s.push_str(&format!(
        r#"PASS=0
FAIL=0
for c in {names}; do
  r=$(check_$c 2>&1)
  if [ "$r" = ok ]; then
    echo "{PREFIX} CHECK $c ok"; PASS=$((PASS + 1))
  else
    echo "{PREFIX} CHECK $c FAIL $(echo $r)"; FAIL=$((FAIL + 1))
  fi
done
echo "{PREFIX} $PASS passed, $FAIL failed"
sync
# poweroff -f does not wait for the serial port to drain: without a pause the summary line can
# be lost (seen as a flaky "marker not seen" when the VM powers off).
sleep 1
poweroff -f
"#,
        names = names.join(" ")
    ));
    s
}

/// A generated root tree.
#[derive(Debug)]
pub struct RootTree {
    pub dir: PathBuf,
}

impl RootTree {
    /// Names of guest probe files that reached the exported tree (must be none).
    pub fn leaked_probes(&self) -> Vec<String> {
        [PROBE_NAME, LOWER_PROBE_NAME]
            .iter()
            .filter(|name| self.dir.join(name).exists())
            .map(|name| name.to_string())
            .collect()
    }
}

/// Refuses a dynamically linked busybox: the guest tree has no libc or ELF interpreter.
pub fn check_static(path: &Path) -> Result<(), VmError> {
    match netroot::elfdeps::interpreter(path) {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err(VmError::NotStatic {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(VmError::NotElf {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }),
    }
}

/// The applet names a busybox binary provides (`busybox --list`).
pub fn applets(busybox: &Path) -> Result<Vec<String>, VmError> {
    let out = super::error::output_ok(
        Command::new(busybox).arg("--list"),
        busybox,
        format!("{} --list", busybox.display()),
    )?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
        .map(str::to_string)
        .collect())
}

/// Writes the tree into the (empty) directory `dir`.
pub fn build_root(dir: &Path, busybox: &Path, expect: &GuestExpect) -> Result<RootTree, VmError> {
    check_static(busybox)?;
    for d in DIRS {
        let path = dir.join(d);
        fs::create_dir_all(&path).map_err(VmError::io("create", &path))?;
    }
    let bin = dir.join("bin/busybox");
    fs::copy(busybox, &bin).map_err(VmError::io("copy busybox to", &bin))?;
    for applet in applets(busybox)? {
        let link = dir.join("bin").join(&applet);
        symlink("busybox", &link).map_err(VmError::io("symlink", &link))?;
    }
    let token = dir.join(TOKEN_FILE);
    fs::write(&token, format!("{}\n", expect.token)).map_err(VmError::io("write", &token))?;
    let init = dir.join("sbin/init");
    fs::write(&init, init_script(expect)).map_err(VmError::io("write", &init))?;
    fs::set_permissions(&init, fs::Permissions::from_mode(0o755))
        .map_err(VmError::io("chmod", &init))?;
    Ok(RootTree {
        dir: dir.to_path_buf(),
    })
}

/// The host's busybox, for the unit tests that run generated scripts (`None`: not installed).
#[cfg(test)]
pub fn host_busybox() -> Option<PathBuf> {
    super::env::find_in_path("busybox", &std::env::var("PATH").unwrap_or_default())
}

/// Parses `script` with the host busybox's `sh -n` and asserts it is valid; prints
/// `skipped: ...` and returns false without busybox.
#[cfg(test)]
pub fn assert_sh_parses(script: &str) -> bool {
    let Some(busybox) = host_busybox() else {
        println!("skipped: busybox not found in PATH");
        return false;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("init");
    fs::write(&path, script).expect("write");
    let out = Command::new(busybox)
        .args(["sh", "-n"])
        .arg(&path)
        .output()
        .expect("run busybox sh -n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect() -> GuestExpect {
        GuestExpect {
            bond: "bond0".into(),
            mode: "802.3ad".into(),
            slaves: 4,
            nfs_source: "10.0.2.2:/export".into(),
            token: "it's-42".into(),
        }
    }

    #[test]
    fn script_defines_and_runs_every_check_with_quoted_values() {
        let s = init_script(&expect());
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.contains("TOKEN='it'\\''s-42'\n"));
        assert!(s.contains("EXPECT_MODE='802.3ad'\n"));
        for c in CHECKS {
            assert!(
                s.contains(&format!("check_{}() {{\n", c.name)),
                "{}",
                c.name
            );
        }
        let names: Vec<&str> = CHECKS.iter().map(|c| c.name).collect();
        assert!(s.contains(&format!("for c in {}; do", names.join(" "))));
        assert!(s.ends_with("poweroff -f\n"));
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "check names are unique");
    }

    /// Runs the generated script's parser (`sh -n`) with the host's busybox when there is one.
    #[test]
    fn script_parses_with_busybox_sh() {
        assert_sh_parses(&init_script(&expect()));
    }

    /// The checks' failure branches, run on the host (only the side-effect free definitions and
    /// checks that read): not PID 1, no such bond, no token file.
    #[test]
    fn checks_report_what_is_wrong_on_the_host() {
        let Some(busybox) = host_busybox() else {
            println!("skipped: busybox not found in PATH");
            return;
        };
        let mut e = expect();
        e.bond = "vmcheck-nobond".into();
        let run = |check: &str| {
            let script = format!("{}check_{check}", definitions(&e));
            let out = Command::new(&busybox)
                .args(["sh", "-c", &script])
                .output()
                .expect("run busybox sh");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        assert!(run("pid1").starts_with("init runs as pid "));
        let mode = run("bond_mode");
        assert!(
            mode.starts_with("mode: cat: can't open '/sys/class/net/vmcheck-nobond/bonding/mode'"),
            "{mode}"
        );
        assert!(mode.ends_with("(expected 802.3ad)"), "{mode}");
        assert!(run("bond_slaves").ends_with("(expected 4)"));
        assert!(run("export_token").starts_with("/etc/vmcheck-token: cat: can't open"));
    }

    #[test]
    fn a_dynamic_or_non_elf_busybox_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = dir.path().join("busybox");
        fs::write(&text, "#!/bin/sh\n").expect("write");
        let e = check_static(&text).expect_err("not ELF");
        assert!(e
            .to_string()
            .starts_with(&format!("{} is not an ELF executable: ", text.display())));
        // The test binary itself is dynamically linked.
        let me = std::env::current_exe().expect("current exe");
        let e = check_static(&me).expect_err("dynamic");
        assert_eq!(
            e.to_string(),
            format!(
                "{} is not a static executable (it has an ELF interpreter): the guest has no libc",
                me.display()
            )
        );
    }

    #[test]
    fn leaked_probes_are_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tree = RootTree {
            dir: dir.path().to_path_buf(),
        };
        assert!(tree.leaked_probes().is_empty());
        fs::write(dir.path().join(PROBE_NAME), "x").expect("write");
        assert_eq!(tree.leaked_probes(), [PROBE_NAME]);
    }
}
