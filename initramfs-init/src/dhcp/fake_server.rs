//! A scripted DHCP server for tests: answers the client's frames sent through
//! [`crate::sys::FakeSys`] with OFFER/ACK/NAK frames built with the crate's own encoder
//! ([`super::message`]), and can misbehave (stay silent, NAK, send junk or a wrong xid first,
//! drop requests).

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::rc::Rc;

use super::codes::{self, MessageType};
use super::frame;
use super::message::{Message, BOOTREPLY};
use super::packet::{CLIENT_PORT, SERVER_PORT};
use crate::sys::FakeSys;

/// How the fake server treats the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerBehaviour {
    Normal,
    /// Never answers.
    Silent,
    /// Offers, then NAKs every REQUEST.
    NakRequests,
    /// Before each real reply, sends the same reply with another xid.
    WrongXidFirst,
    /// Before each real reply, sends a frame that is not a valid DHCP message.
    GarbageFirst,
    /// Ignores this many REQUESTs before answering one.
    DropRequests(u32),
}

/// The fake server's lease and counters; fields public for tests to tweak.
#[derive(Debug, Clone)]
pub struct FakeDhcpServer {
    pub behaviour: ServerBehaviour,
    pub mac: [u8; 6],
    pub server_id: Ipv4Addr,
    pub send_server_id: bool,
    pub address: Ipv4Addr,
    pub mask: Option<Ipv4Addr>,
    pub router: Ipv4Addr,
    pub dns: Vec<Ipv4Addr>,
    pub lease_secs: u32,
    pub root_path: Option<String>,
    pub discovers: u32,
    pub requests: u32,
}

impl FakeDhcpServer {
    /// A server like QEMU's user network: 10.0.2.15/24 via 10.0.2.2, DNS 10.0.2.3, one day.
    pub fn new(behaviour: ServerBehaviour) -> Self {
        Self {
            behaviour,
            mac: [0x52, 0x55, 10, 0, 2, 2],
            server_id: Ipv4Addr::new(10, 0, 2, 2),
            send_server_id: true,
            address: Ipv4Addr::new(10, 0, 2, 15),
            mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
            router: Ipv4Addr::new(10, 0, 2, 2),
            dns: vec![Ipv4Addr::new(10, 0, 2, 3)],
            lease_secs: 86400,
            root_path: Some("10.0.2.9:/srv/root".into()),
            discovers: 0,
            requests: 0,
        }
    }

    /// A reply of `kind` for `xid`/`chaddr`, framed from the server to the offered address.
    pub fn reply_frame(&self, kind: MessageType, xid: u32, chaddr: [u8; 6]) -> Vec<u8> {
        let zero = Ipv4Addr::UNSPECIFIED;
        let yiaddr = if kind == MessageType::Nak {
            zero
        } else {
            self.address
        };
        let mut msg = Message::new(BOOTREPLY);
        msg.xid = xid;
        msg.yiaddr = yiaddr;
        msg.set_mac(chaddr);
        let opts = &mut msg.options;
        opts.insert_message_type(kind);
        if self.send_server_id {
            opts.insert_ipv4(codes::SERVER_IDENTIFIER, self.server_id);
        }
        if kind == MessageType::Nak {
            opts.insert_str(codes::MESSAGE, "address not available");
        } else {
            if let Some(mask) = self.mask {
                opts.insert_ipv4(codes::SUBNET_MASK, mask);
            }
            opts.insert_ipv4s(codes::ROUTER, &[self.router]);
            opts.insert_ipv4s(codes::DOMAIN_NAME_SERVER, &self.dns);
            opts.insert_u32(codes::ADDRESS_LEASE_TIME, self.lease_secs);
            if let Some(rp) = &self.root_path {
                opts.insert_str(codes::ROOT_PATH, rp);
            }
        }
        let payload = msg.encode();
        frame::build(
            self.mac,
            chaddr,
            (self.server_id, SERVER_PORT),
            (yiaddr, CLIENT_PORT),
            &payload,
        )
    }

    /// The frames the server sends in answer to one client frame.
    pub fn handle(&mut self, client_frame: &[u8]) -> Vec<Vec<u8>> {
        let Ok(d) = frame::parse(client_frame) else {
            return Vec::new();
        };
        let Ok(msg) = Message::decode(d.payload) else {
            return Vec::new();
        };
        let mut chaddr = [0u8; 6];
        if let Some(c) = msg.chaddr().get(..6) {
            chaddr.copy_from_slice(c);
        }
        let kind = match msg.message_type().ok().flatten() {
            Some(MessageType::Discover) => {
                self.discovers += 1;
                MessageType::Offer
            }
            Some(MessageType::Request) => {
                self.requests += 1;
                if let ServerBehaviour::DropRequests(n) = self.behaviour {
                    if self.requests <= n {
                        return Vec::new();
                    }
                }
                let asked = msg.options.ipv4(codes::REQUESTED_IP_ADDRESS).ok().flatten();
                if self.behaviour == ServerBehaviour::NakRequests || asked != Some(self.address) {
                    MessageType::Nak
                } else {
                    MessageType::Ack
                }
            }
            _ => return Vec::new(),
        };
        let real = self.reply_frame(kind, msg.xid, chaddr);
        match self.behaviour {
            ServerBehaviour::Silent => Vec::new(),
            ServerBehaviour::WrongXidFirst => vec![
                self.reply_frame(kind, msg.xid.wrapping_add(1), chaddr),
                real,
            ],
            ServerBehaviour::GarbageFirst => {
                let mut junk = real.clone();
                junk.truncate(junk.len() / 2);
                vec![junk, vec![0xff; 7], real]
            }
            _ => vec![real],
        }
    }

    /// Installs the server as `sys`'s DHCP responder; the returned handle shows its counters.
    pub fn install(self, sys: &mut FakeSys) -> Rc<RefCell<FakeDhcpServer>> {
        let shared = Rc::new(RefCell::new(self));
        let server = Rc::clone(&shared);
        sys.dhcp = Some(Box::new(move |f| server.borrow_mut().handle(f)));
        shared
    }
}
