//! DHCPv4 for the bond: framing (`frame`), the message codec (`codes`, `options`, `message`:
//! RFC 2131 header, RFC 2132 options, RFC 3396 long options and overload), the messages we send
//! and reply validation (`packet`), the client state machine (`client`), the lease and its
//! handover files (`lease`), and a scripted server for tests (`fake_server`, compiled only for
//! tests or with the `testing` feature).

pub mod client;
pub mod codes;
#[cfg(any(test, feature = "testing"))]
pub mod fake_server;
pub mod frame;
pub mod lease;
pub mod message;
pub mod options;
pub mod packet;

#[cfg(test)]
mod codec_tests;
#[cfg(test)]
mod packet_tests;
