//! DHCPv4 for the bond: framing (`frame`), messages and reply validation (`packet`), the client
//! state machine (`client`), the lease and its handover files (`lease`), and a scripted server
//! for tests (`fake_server`).

pub mod client;
pub mod fake_server;
pub mod frame;
pub mod lease;
pub mod packet;
