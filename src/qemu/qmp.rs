//! A minimal QMP client over QEMU's unix socket: capabilities negotiation, commands with
//! replies (events arriving meanwhile are kept), `set_link` / `cont`, and a background reader
//! that collects the events until QEMU closes the socket (the `SHUTDOWN` event says whether the
//! guest powered off or reset).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
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
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|e| self.error(format!("read: {e}")))?;
        if n == 0 {
            return Err(self.error("closed by qemu".into()));
        }
        parse_message(line.trim_end()).map_err(|e| self.error(e))
    }

    /// Runs `command` and returns its `return` value.
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, QemuError> {
        let mut request = json!({ "execute": command });
        if let Some(args) = arguments {
            request["arguments"] = args;
        }
        let text = format!("{request}\n");
        self.writer
            .write_all(text.as_bytes())
            .map_err(|e| self.error(format!("write {command}: {e}")))?;
        loop {
            match self.read()? {
                Message::Return(v) => return Ok(v),
                Message::Error { class, desc } => {
                    return Err(QemuError::QmpCommand {
                        command: command.to_string(),
                        class,
                        desc,
                    })
                }
                event @ Message::Event { .. } => self.events.push(event),
                Message::Greeting(_) => return Err(self.error("second greeting".into())),
            }
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
    pub fn collect_events(mut self) -> JoinHandle<Vec<Message>> {
        thread::spawn(move || {
            // QEMU may sit quietly for the whole boot; the socket closes when it exits.
            if self.reader.get_ref().set_read_timeout(None).is_err() {
                return self.events;
            }
            while let Ok(msg) = self.read() {
                if matches!(msg, Message::Event { .. }) {
                    self.events.push(msg);
                }
            }
            self.events
        })
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
