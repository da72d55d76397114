//! One nfs-ganesha per run: NFSv4 only (no rpcbind), bound to 127.0.0.1 on a free port of its
//! own, numeric owners (a guest NFS root deadlocks in the kernel's id mapper otherwise),
//! graceless with a fresh recovery directory (a reused one brings a 90 s grace period),
//! exporting one tree read-only at a pseudo path; or on a port chosen beforehand
//! ([`Ganesha::start_on_port`], a server that comes up after the client started). The guard kills the server when dropped, on
//! every exit path including panics. The recipe is the verified one of the project's notes.

use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::netns::Netns;
use super::QemuError;

/// Default pseudo path of the export (what profiles/qemu.toml mounts).
pub const PSEUDO: &str = "/export";
/// The server binary, looked up in `PATH`.
pub const GANESHA: &str = "ganesha.nfsd";
/// ganesha listens ~0.06 s after start (shared notes); 10 s covers a loaded 2-core machine.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Poll interval while waiting for the listening socket.
const LISTEN_POLL: Duration = Duration::from_millis(20);
/// Another process may take the free port between the probe and ganesha's bind: retry a few.
const START_ATTEMPTS: u32 = 3;
/// Connect timeout of one readiness probe (loopback answers at once or not at all).
const PROBE_CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
/// Characters ganesha's config syntax cannot carry inside a quoted string.
const UNQUOTABLE: &[char] = &['"', '\\', '\n', '\r', ';', '{', '}', '#'];

/// A port nothing listens on right now (the kernel's pick for an ephemeral bind).
pub fn free_port() -> Result<u16, QemuError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(QemuError::io("bind", "127.0.0.1:0"))?;
    let port = listener
        .local_addr()
        .map_err(QemuError::io("local address of", "127.0.0.1:0"))?
        .port();
    Ok(port)
}

/// A path as a quoted ganesha config string; refuses characters the format cannot carry.
fn quoted(what: &'static str, path: &Path) -> Result<String, QemuError> {
    let text = path.to_string_lossy();
    if let Some(bad) = text.chars().find(|c| UNQUOTABLE.contains(c)) {
        return Err(QemuError::UnquotablePath {
            what,
            path: path.to_path_buf(),
            bad,
        });
    }
    Ok(format!("\"{text}\""))
}

/// What one ganesha instance exports and where it keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export<'a> {
    /// The tree served read-only.
    pub path: &'a Path,
    /// The path clients mount (`/export`, or the profile's `nfs.export`).
    pub pseudo: &'a str,
}

/// The ganesha configuration (the verified recipe of the shared notes).
pub fn render_config(
    listen: SocketAddrV4,
    export: &Export<'_>,
    recovery: &Path,
) -> Result<String, QemuError> {
    let (bind, port) = (listen.ip(), listen.port());
    if !export.pseudo.starts_with('/') || export.pseudo == "/" {
        return Err(QemuError::BadSetting {
            what: "nfs export path",
            value: export.pseudo.to_string(),
            reason: "ganesha needs an absolute pseudo path below /".into(),
        });
    }
    let path = quoted("export", export.path)?;
    let pseudo = quoted("pseudo", Path::new(export.pseudo))?;
    let recovery = quoted("recovery", recovery)?;
    Ok(format!(
        r#"NFS_CORE_PARAM {{
    Protocols = 4;
    NFS_Port = {port};
    Bind_addr = {bind};
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
    Path = {path};
    Pseudo = {pseudo};
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
    pub fn start(binary: &Path, export: &Export<'_>, workdir: &Path) -> Result<Self, QemuError> {
        let mut last = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let dir = workdir.join(format!("ganesha-{attempt}"));
            let listen = SocketAddrV4::new(Ipv4Addr::LOCALHOST, free_port()?);
            match Self::start_once(binary, export, &dir, listen, None)? {
                Ok(ganesha) => return Ok(ganesha),
                Err(why) => last = why,
            }
        }
        Err(QemuError::GaneshaStart {
            attempts: START_ATTEMPTS,
            last,
        })
    }

    /// Starts ganesha on `port` (a port the caller reserved, e.g. one a client already tries):
    /// one attempt, since another port would not be the one the client knows. A port something
    /// else listens on is refused first: the readiness probe would take that listener for ganesha.
    pub fn start_on_port(
        binary: &Path,
        export: &Export<'_>,
        workdir: &Path,
        port: u16,
    ) -> Result<Self, QemuError> {
        if let Err(e) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            return Err(QemuError::BadSetting {
                what: "ganesha port",
                value: port.to_string(),
                reason: format!("127.0.0.1:{port} is not free: {e}"),
            });
        }
        let dir = workdir.join(format!("ganesha-port-{port}"));
        Self::start_once(
            binary,
            export,
            &dir,
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
            None,
        )?
        .map_err(|last| QemuError::GaneshaStart { attempts: 1, last })
    }

    /// Starts ganesha inside `netns`, listening on `listen` (an address of the namespace): the
    /// server of a network-namespace bed, which the node reaches at the profile's own address.
    pub fn start_in(
        binary: &Path,
        export: &Export<'_>,
        workdir: &Path,
        netns: &Netns,
        listen: SocketAddrV4,
    ) -> Result<Self, QemuError> {
        let dir = workdir.join(format!("ganesha-{}", netns.name()));
        Self::start_once(binary, export, &dir, listen, Some(netns))?
            .map_err(|last| QemuError::GaneshaStart { attempts: 1, last })
    }

    /// `Ok(Err(why))` when this attempt did not come up (retryable), `Err` on setup errors.
    /// With `netns`, the server runs and is probed inside it.
    fn start_once(
        binary: &Path,
        export: &Export<'_>,
        dir: &Path,
        listen: SocketAddrV4,
        netns: Option<&Netns>,
    ) -> Result<Result<Self, String>, QemuError> {
        match netns {
            Some(ns) => ns.run_in(|| Self::spawn_and_probe(binary, export, dir, listen))?,
            None => Self::spawn_and_probe(binary, export, dir, listen),
        }
    }

    fn spawn_and_probe(
        binary: &Path,
        export: &Export<'_>,
        dir: &Path,
        listen: SocketAddrV4,
    ) -> Result<Result<Self, String>, QemuError> {
        let port = listen.port();
        let recovery = dir.join("recovery");
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(QemuError::io("remove", dir))?;
        }
        fs::create_dir_all(&recovery).map_err(QemuError::io("create", &recovery))?;
        let conf = dir.join("ganesha.conf");
        crate::fsx::atomic::write_atomic(
            &conf,
            render_config(listen, export, &recovery)?.as_bytes(),
        )
        .map_err(QemuError::io("write", &conf))?;
        let log = dir.join("ganesha.log");
        let stdout = dir.join("ganesha.out");
        let out = super::runner::log_file(&stdout)?;
        let err = out.try_clone().map_err(QemuError::io("dup", &stdout))?;
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
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => QemuError::ToolMissing {
                    program: binary.display().to_string(),
                    hint: "install nfs-ganesha and nfs-ganesha-vfs",
                },
                _ => QemuError::io("run", binary)(e),
            })?;
        tracing::info!(pid = child.id(), port, config = %conf.display(), log = %log.display(), "nfs-ganesha started");
        let mut ganesha = Ganesha { child, port, log };
        let addr = SocketAddr::from(listen);
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

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// ganesha's log file.
    pub fn log_path(&self) -> &Path {
        &self.log
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
        // SIGTERM takes 1-2 s. Errors mean it is already gone.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
    }

    fn export(path: &str) -> Export<'_> {
        Export {
            path: Path::new(path),
            pseudo: PSEUDO,
        }
    }

    #[test]
    fn config_is_v4_only_numeric_graceless_on_the_given_port() {
        let c =
            render_config(local(20490), &export("/tmp/root"), Path::new("/tmp/rec")).expect("ok");
        for needle in [
            "Protocols = 4;",
            "NFS_Port = 20490;",
            "Bind_addr = 127.0.0.1;",
            "Graceless = true;",
            "RecoveryRoot = \"/tmp/rec\";",
            "Only_Numeric_Owners = true;",
            "Path = \"/tmp/root\";",
            "Pseudo = \"/export\";",
            "Access_Type = RO;",
            "Squash = No_Root_Squash;",
            "FSAL { Name = VFS; }",
        ] {
            assert!(c.contains(needle), "{needle} missing in\n{c}");
        }
        let deep = Export {
            path: Path::new("/r"),
            pseudo: "/srv/netroot/compute",
        };
        let c = render_config(local(1), &deep, Path::new("/rec")).expect("deep pseudo");
        assert!(c.contains("Pseudo = \"/srv/netroot/compute\";"), "{c}");
    }

    #[test]
    fn unquotable_paths_and_bad_pseudo_paths_are_refused() {
        let e = render_config(local(1), &export("/tmp/a\"b"), Path::new("/tmp/rec"))
            .expect_err("quote");
        assert_eq!(
            e.to_string(),
            "export path /tmp/a\"b cannot be written into a ganesha config (contains '\"')"
        );
        let e =
            render_config(local(1), &export("/tmp/root"), Path::new("/tmp/x;y")).expect_err(";");
        assert!(e.to_string().starts_with("recovery path /tmp/x;y"), "{e}");
        for pseudo in ["/", "export", ""] {
            let bad = Export {
                path: Path::new("/r"),
                pseudo,
            };
            let e = render_config(local(1), &bad, Path::new("/rec")).expect_err(pseudo);
            assert_eq!(
                e.to_string(),
                format!("invalid nfs export path {pseudo:?}: ganesha needs an absolute pseudo path below /")
            );
        }
    }

    #[test]
    fn free_ports_are_bindable() {
        let port = free_port().expect("port");
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("still free");
    }

    #[test]
    fn start_on_port_refuses_a_port_in_use_and_serves_a_free_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let busy = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = busy.local_addr().expect("addr").port();
        let e = Ganesha::start_on_port(Path::new(GANESHA), &export("/tmp"), dir.path(), port)
            .expect_err("port in use");
        assert!(
            e.to_string().starts_with(&format!(
                "invalid ganesha port \"{port}\": 127.0.0.1:{port} is not free: "
            )),
            "{e}"
        );
        drop(busy);
        let path = std::env::var("PATH").unwrap_or_default();
        let found = path
            .split(':')
            .map(|d| Path::new(d).join(GANESHA))
            .find(|p| p.is_file());
        let Some(binary) = found.filter(|_| rustix::process::geteuid().is_root()) else {
            println!("skipped: {GANESHA} not found or not root");
            return;
        };
        let g = Ganesha::start_on_port(&binary, &export("/tmp"), dir.path(), port)
            .expect("ganesha on the chosen port");
        assert_eq!(g.port(), port);
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("listening");
    }

    #[test]
    fn a_missing_server_binary_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = Ganesha::start(
            Path::new("/nonexistent/ganesha.nfsd"),
            &export("/tmp"),
            dir.path(),
        )
        .expect_err("no binary");
        assert_eq!(
            e.to_string(),
            "/nonexistent/ganesha.nfsd not found (install nfs-ganesha and nfs-ganesha-vfs)"
        );
    }
}
