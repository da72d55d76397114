//! One nfs-ganesha per test: NFSv4 only (no rpcbind), bound to 127.0.0.1 on a free port of its
//! own, numeric owners (a guest NFS root deadlocks in the id mapper otherwise), graceless with a
//! fresh recovery directory (a reused one brings a 90 s grace period), exporting one tree
//! read-only at the pseudo path `/export`. The guard kills the server when dropped, also when
//! the test panics.

use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::VmError;

/// Pseudo path of the export; what the guest mounts.
pub const PSEUDO: &str = "/export";
/// ganesha listens ~0.06 s after start (shared notes); 10 s covers a loaded 2-core machine.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Poll interval while waiting for the listening socket.
const LISTEN_POLL: Duration = Duration::from_millis(20);
/// Another process may take the free port between the probe and ganesha's bind: retry a few.
const START_ATTEMPTS: u32 = 3;
/// Connect timeout of one readiness probe (loopback answers at once or not at all).
const PROBE_CONNECT_TIMEOUT: Duration = Duration::from_millis(200);

/// A port nothing listens on right now (the kernel's pick for an ephemeral bind).
pub fn free_port() -> Result<u16, VmError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(VmError::io("bind", "127.0.0.1:0"))?;
    let port = listener
        .local_addr()
        .map_err(VmError::io("local address of", "127.0.0.1:0"))?
        .port();
    Ok(port)
}

/// A path as a quoted ganesha config string; refuses characters the format cannot carry.
fn quoted(what: &'static str, path: &Path) -> Result<String, VmError> {
    let text = path.to_string_lossy();
    if let Some(bad) = text
        .chars()
        .find(|c| matches!(c, '"' | '\\' | '\n' | '\r' | ';' | '{' | '}'))
    {
        return Err(VmError::UnquotablePath {
            what,
            path: path.to_path_buf(),
            bad,
        });
    }
    Ok(format!("\"{text}\""))
}

/// The ganesha configuration (the verified recipe of the shared notes).
pub fn render_config(port: u16, export: &Path, recovery: &Path) -> Result<String, VmError> {
    let export = quoted("export", export)?;
    let recovery = quoted("recovery", recovery)?;
    Ok(format!(
        r#"NFS_CORE_PARAM {{
    Protocols = 4;
    NFS_Port = {port};
    Bind_addr = 127.0.0.1;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Enable_UDP = false;
}}
NFSv4 {{
    Graceless = true;
    RecoveryBackend = fs;
    RecoveryRoot = {recovery};
    Only_Numeric_Owners = true;
}}
EXPORT {{
    Export_Id = 1;
    Path = {export};
    Pseudo = {PSEUDO};
    Access_Type = RO;
    Squash = No_Root_Squash;
    Protocols = 4;
    Transports = TCP;
    SecType = sys;
    FSAL {{ Name = VFS; }}
}}
LOG {{ Default_Log_Level = WARN; }}
"#
    ))
}

/// A running ganesha; killed on drop.
#[derive(Debug)]
pub struct Ganesha {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Ganesha {
    /// Starts ganesha exporting `export`, with its config, logs and state under `workdir`.
    pub fn start(binary: &Path, export: &Path, workdir: &Path) -> Result<Self, VmError> {
        let mut last = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let dir = workdir.join(format!("ganesha-{attempt}"));
            match Self::start_once(binary, export, &dir)? {
                Ok(ganesha) => return Ok(ganesha),
                Err(why) => last = why,
            }
        }
        Err(VmError::GaneshaStart {
            attempts: START_ATTEMPTS,
            last,
        })
    }

    /// `Ok(Err(why))` when this attempt did not come up (retryable), `Err` on setup errors.
    fn start_once(
        binary: &Path,
        export: &Path,
        dir: &Path,
    ) -> Result<Result<Self, String>, VmError> {
        let recovery = dir.join("recovery");
        fs::create_dir_all(&recovery).map_err(VmError::io("create", &recovery))?;
        let port = free_port()?;
        let conf = dir.join("ganesha.conf");
        fs::write(&conf, render_config(port, export, &recovery)?)
            .map_err(VmError::io("write", &conf))?;
        let log = dir.join("ganesha.log");
        let stdout = dir.join("ganesha.out");
        let out = fs::File::create(&stdout).map_err(VmError::io("create", &stdout))?;
        let err = out.try_clone().map_err(VmError::io("dup", &stdout))?;
        let child = Command::new(binary)
            .arg("-F")
            .arg("-f")
            .arg(&conf)
            .arg("-L")
            .arg(&log)
            .arg("-p")
            .arg(dir.join("ganesha.pid"))
            .args(["-N", "NIV_WARN"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(VmError::io("run", binary))?;
        let mut ganesha = Ganesha { child, port, log };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = ganesha.child.try_wait() {
                return Ok(Err(format!(
                    "exited with {status} before listening on {port}: {}",
                    ganesha.log_text()
                )));
            }
            if TcpStream::connect_timeout(&addr, PROBE_CONNECT_TIMEOUT).is_ok() {
                return Ok(Ok(ganesha));
            }
            if start.elapsed() > LISTEN_TIMEOUT {
                return Ok(Err(format!(
                    "not listening on {port} after {LISTEN_TIMEOUT:?}: {}",
                    ganesha.log_text()
                )));
            }
            sleep(LISTEN_POLL);
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// ganesha's log so far (for failure messages); empty when unreadable.
    pub fn log_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = fs::File::open(&self.log) {
            // A log we cannot read adds nothing to the message it would decorate.
            let _ = f.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Ganesha {
    fn drop(&mut self) {
        // SIGKILL: the instance's state is thrown away with its directory, and a graceful
        // SIGTERM takes 1-2 s per test. Errors mean it is already gone.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_v4_only_numeric_graceless_on_the_given_port() {
        let c = render_config(20490, Path::new("/tmp/root"), Path::new("/tmp/rec")).expect("ok");
        for needle in [
            "Protocols = 4;",
            "NFS_Port = 20490;",
            "Bind_addr = 127.0.0.1;",
            "Graceless = true;",
            "RecoveryRoot = \"/tmp/rec\";",
            "Only_Numeric_Owners = true;",
            "Path = \"/tmp/root\";",
            "Pseudo = /export;",
            "Access_Type = RO;",
            "Squash = No_Root_Squash;",
            "FSAL { Name = VFS; }",
        ] {
            assert!(c.contains(needle), "{needle} missing in\n{c}");
        }
    }

    #[test]
    fn unquotable_paths_are_refused() {
        let e = render_config(1, Path::new("/tmp/a\"b"), Path::new("/tmp/rec")).expect_err("quote");
        assert_eq!(
            e.to_string(),
            "export path /tmp/a\"b cannot be written into a ganesha config (contains '\"')"
        );
        let e = render_config(1, Path::new("/tmp/root"), Path::new("/tmp/x;y")).expect_err(";");
        assert!(e.to_string().starts_with("recovery path /tmp/x;y"));
    }

    #[test]
    fn free_ports_are_bindable() {
        let port = free_port().expect("port");
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("still free");
    }
}
