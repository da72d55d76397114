//! A minimal QMP client over QEMU's unix socket: capabilities negotiation, commands with
//! replies (events arriving meanwhile are kept), `set_link` / `cont`, and a background reader
//! that collects the events until QEMU closes the socket (the `SHUTDOWN` event says whether the
//! guest powered off or reset). [`Qmp::split`] keeps a command handle ([`QmpCommander`]) beside
//! that reader, so a run can still change link states while the guest runs.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, sleep, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::QemuError;

/// QEMU answers a command at once; a stalled monitor must not hang the run.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Poll interval while waiting for QEMU to create the socket.
const SOCKET_POLL: Duration = Duration::from_millis(20);

/// One QMP message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Greeting(Value),
    Return(Value),
    Error { class: String, desc: String },
    Event { name: String, data: Value },
}

/// Classifies one line of QMP output.
pub fn parse_message(line: &str) -> Result<Message, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("bad json {line:?}: {e}"))?;
    if let Some(g) = v.get("QMP") {
        return Ok(Message::Greeting(g.clone()));
    }
    if let Some(r) = v.get("return") {
        return Ok(Message::Return(r.clone()));
    }
    if let Some(e) = v.get("error") {
        let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        return Ok(Message::Error {
            class: field("class"),
            desc: field("desc"),
        });
    }
    if let Some(name) = v.get("event").and_then(Value::as_str) {
        return Ok(Message::Event {
            name: name.to_string(),
            data: v.get("data").cloned().unwrap_or(Value::Null),
        });
    }
    Err(format!("unknown qmp message {line:?}"))
}

/// A negotiated QMP connection.
#[derive(Debug)]
pub struct Qmp {
    path: PathBuf,
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    /// Events seen while waiting for replies.
    pub events: Vec<Message>,
}

impl Qmp {
    /// Connects once QEMU has created `path` (waiting up to `wait`) and negotiates capabilities.
    pub fn connect(path: &Path, wait: Duration) -> Result<Self, QemuError> {
        let start = Instant::now();
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(_) if start.elapsed() < wait => sleep(SOCKET_POLL),
                Err(_) => {
                    return Err(QemuError::QmpSocket {
                        path: path.to_path_buf(),
                        waited: wait,
                    })
                }
            }
        };
        let err = |e: std::io::Error| QemuError::Qmp {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(err)?;
        let writer = stream.try_clone().map_err(err)?;
        let mut qmp = Qmp {
            path: path.to_path_buf(),
            writer,
            reader: BufReader::new(stream),
            events: Vec::new(),
        };
        match qmp.read()? {
            Message::Greeting(_) => {}
            other => return Err(qmp.error(format!("expected the greeting, got {other:?}"))),
        }
        qmp.execute("qmp_capabilities", None)?;
        Ok(qmp)
    }

    fn error(&self, detail: String) -> QemuError {
        QemuError::Qmp {
            path: self.path.clone(),
            detail,
        }
    }

    fn read(&mut self) -> Result<Message, QemuError> {
        read_message(&mut self.reader, &self.path)
    }

    /// Runs `command` and returns its `return` value.
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, QemuError> {
        let text = request_line(command, arguments);
        self.writer
            .write_all(text.as_bytes())
            .map_err(|e| self.error(format!("write {command}: {e}")))?;
        loop {
            let msg = self.read()?;
            if let event @ Message::Event { .. } = msg {
                self.events.push(event);
                continue;
            }
            return reply_value(command, msg).map_err(|detail| detail.into_error(&self.path));
        }
    }

    /// Sets the link state of the device or netdev `name` (`nic0`..`nic3`).
    pub fn set_link(&mut self, name: &str, up: bool) -> Result<(), QemuError> {
        self.execute("set_link", Some(json!({ "name": name, "up": up })))
            .map(|_| ())
    }

    /// Starts a VM created with `-S`.
    pub fn cont(&mut self) -> Result<(), QemuError> {
        self.execute("cont", None).map(|_| ())
    }

    /// Reads events in a thread until QEMU closes the socket; returns every event seen.
    pub fn collect_events(self) -> JoinHandle<Vec<Message>> {
        self.split().1
    }

    /// Moves reading into a thread that collects the events until QEMU closes the socket (the
    /// handle returns them) and passes command replies to the returned [`QmpCommander`].
    pub fn split(self) -> (QmpCommander, JoinHandle<Vec<Message>>) {
        let Qmp {
            path,
            writer,
            mut reader,
            mut events,
        } = self;
        let (replies, receiver): (Sender<Message>, Receiver<Message>) = mpsc::channel();
        let commander = QmpCommander {
            path: path.clone(),
            writer,
            replies: receiver,
        };
        let reader = thread::spawn(move || {
            // QEMU may sit quietly for the whole boot; the socket closes when it exits.
            if reader.get_ref().set_read_timeout(None).is_err() {
                return events;
            }
            while let Ok(msg) = read_message(&mut reader, &path) {
                match msg {
                    Message::Event { .. } => events.push(msg),
                    // A reply nobody waits for (the commander was dropped) needs no delivery.
                    reply => {
                        let _ = replies.send(reply);
                    }
                }
            }
            events
        });
        (commander, reader)
    }
}

/// The command side of a [`Qmp::split`] connection: writes commands, takes their replies from
/// the reader thread.
#[derive(Debug)]
pub struct QmpCommander {
    path: PathBuf,
    writer: UnixStream,
    replies: Receiver<Message>,
}

impl QmpCommander {
    fn error(&self, detail: String) -> QemuError {
        QemuError::Qmp {
            path: self.path.clone(),
            detail,
        }
    }

    /// Runs `command` and returns its `return` value (waits at most `REPLY_TIMEOUT`).
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, QemuError> {
        let text = request_line(command, arguments);
        self.writer
            .write_all(text.as_bytes())
            .map_err(|e| self.error(format!("write {command}: {e}")))?;
        let msg = match self.replies.recv_timeout(REPLY_TIMEOUT) {
            Ok(msg) => msg,
            Err(RecvTimeoutError::Timeout) => {
                return Err(self.error(format!("no reply to {command} within {REPLY_TIMEOUT:?}")))
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(self.error(format!("closed by qemu before replying to {command}")))
            }
        };
        reply_value(command, msg).map_err(|detail| detail.into_error(&self.path))
    }

    /// Sets the link state of the device or netdev `name` (`nic0`..`nic3`).
    pub fn set_link(&mut self, name: &str, up: bool) -> Result<(), QemuError> {
        self.execute("set_link", Some(json!({ "name": name, "up": up })))
            .map(|_| ())
    }
}

/// Reads one message; `path` names the socket in errors.
fn read_message(reader: &mut BufReader<UnixStream>, path: &Path) -> Result<Message, QemuError> {
    let error = |detail: String| QemuError::Qmp {
        path: path.to_path_buf(),
        detail,
    };
    let mut line = String::new();
    let n = reader
        .read_line(&mut line)
        .map_err(|e| error(format!("read: {e}")))?;
    if n == 0 {
        return Err(error("closed by qemu".into()));
    }
    parse_message(line.trim_end()).map_err(error)
}

/// One command as a QMP request line.
fn request_line(command: &str, arguments: Option<Value>) -> String {
    let mut request = json!({ "execute": command });
    if let Some(args) = arguments {
        request["arguments"] = args;
    }
    format!("{request}\n")
}

/// Why a message is not the reply a command wanted.
enum BadReply {
    Failed(QemuError),
    Protocol(String),
}

impl BadReply {
    fn into_error(self, path: &Path) -> QemuError {
        match self {
            BadReply::Failed(e) => e,
            BadReply::Protocol(detail) => QemuError::Qmp {
                path: path.to_path_buf(),
                detail,
            },
        }
    }
}

/// The `return` value of a non-event message answering `command`.
fn reply_value(command: &str, msg: Message) -> Result<Value, BadReply> {
    match msg {
        Message::Return(v) => Ok(v),
        Message::Error { class, desc } => Err(BadReply::Failed(QemuError::QmpCommand {
            command: command.to_string(),
            class,
            desc,
        })),
        Message::Greeting(_) => Err(BadReply::Protocol("second greeting".into())),
        Message::Event { name, .. } => Err(BadReply::Protocol(format!(
            "event {name} where the reply to {command} was expected"
        ))),
    }
}

/// The `reason` of the first `SHUTDOWN` event (`guest-shutdown`, `guest-reset`, ...).
pub fn shutdown_reason(events: &[Message]) -> Option<String> {
    events.iter().find_map(|m| match m {
        Message::Event { name, data } if name == "SHUTDOWN" => data
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_classified() {
        assert!(matches!(
            parse_message(r#"{"QMP": {"version": {}, "capabilities": []}}"#),
            Ok(Message::Greeting(_))
        ));
        assert_eq!(
            parse_message(r#"{"return": {}}"#),
            Ok(Message::Return(json!({})))
        );
        assert_eq!(
            parse_message(
                r#"{"error": {"class": "DeviceNotFound", "desc": "Device 'nic9' not found"}}"#
            ),
            Ok(Message::Error {
                class: "DeviceNotFound".into(),
                desc: "Device 'nic9' not found".into()
            })
        );
        let shutdown = parse_message(
            r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-reset"}}"#,
        )
        .expect("event");
        assert_eq!(shutdown_reason(&[shutdown]), Some("guest-reset".into()));
        assert_eq!(shutdown_reason(&[]), None);
    }

    #[test]
    fn bad_messages_are_errors() {
        assert!(parse_message("{not json")
            .expect_err("json")
            .starts_with("bad json"));
        assert_eq!(
            parse_message(r#"{"hello": 1}"#),
            Err(r#"unknown qmp message "{\"hello\": 1}""#.into())
        );
    }

    /// A scripted QMP server: greeting, then one canned answer per request line; returns the
    /// requests it got.
    fn fake_server(
        path: &Path,
        answers: Vec<Vec<&'static str>>,
        farewell: &'static str,
    ) -> JoinHandle<Vec<String>> {
        let listener = std::os::unix::net::UnixListener::bind(path).expect("bind");
        thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut w = stream.try_clone().expect("clone");
            let mut r = BufReader::new(stream);
            writeln!(w, r#"{{"QMP": {{"version": {{}}, "capabilities": []}}}}"#).expect("greet");
            let mut requests = Vec::new();
            for answer in answers {
                let mut line = String::new();
                r.read_line(&mut line).expect("request");
                requests.push(line.trim_end().to_string());
                for part in answer {
                    writeln!(w, "{part}").expect("answer");
                }
            }
            writeln!(w, "{farewell}").expect("farewell");
            requests
        })
    }

    #[test]
    fn a_split_connection_routes_replies_to_the_commander_and_events_to_the_reader() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("qmp.sock");
        let event = r#"{"event": "NIC_RX_FILTER_CHANGED", "data": {"name": "nic2"}}"#;
        let server = fake_server(
            &path,
            vec![
                vec![r#"{"return": {}}"#],
                vec![event, r#"{"return": {}}"#],
                vec![
                    r#"{"error": {"class": "DeviceNotFound", "desc": "Device 'nic9' not found"}}"#,
                ],
            ],
            r#"{"event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-reset"}}"#,
        );
        let qmp = Qmp::connect(&path, Duration::from_secs(5)).expect("connect");
        let (mut commander, reader) = qmp.split();
        commander.set_link("nic2", false).expect("set_link nic2");
        let e = commander.set_link("nic9", true).expect_err("no nic9");
        assert_eq!(
            e.to_string(),
            "qmp command set_link failed: DeviceNotFound: Device 'nic9' not found"
        );
        let requests = server.join().expect("server");
        assert_eq!(
            requests[1..],
            [
                r#"{"arguments":{"name":"nic2","up":false},"execute":"set_link"}"#,
                r#"{"arguments":{"name":"nic9","up":true},"execute":"set_link"}"#,
            ]
        );
        let events = reader.join().expect("reader");
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(shutdown_reason(&events), Some("guest-reset".into()));
        let e = commander.set_link("nic0", true).expect_err("closed");
        assert!(e.to_string().starts_with("qmp "), "{e}");
    }

    #[test]
    fn a_missing_socket_times_out_with_its_path() {
        let e = Qmp::connect(
            Path::new("/nonexistent/qmp.sock"),
            Duration::from_millis(50),
        )
        .expect_err("no socket");
        assert_eq!(
            e.to_string(),
            "qemu did not create its qmp socket /nonexistent/qmp.sock within 50ms"
        );
    }
}
