//! DHCPv4 messages (RFC 2131/2132) on top of dhcproto: the DISCOVER and REQUEST we send, and the
//! validation of what comes back. Everything received is untrusted: a reply is accepted only if it
//! is a well-formed BOOTREPLY for our xid and chaddr with the options its type requires; anything
//! else is a [`PacketError`] that the client logs (debug) and ignores.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};

use super::frame::{self, FrameError, BROADCAST_MAC};

/// UDP ports of RFC 2131 section 4.1.
pub const CLIENT_PORT: u16 = 68;
pub const SERVER_PORT: u16 = 67;
/// Lease time meaning "infinite" (RFC 2132 section 9.2).
const INFINITE_LEASE: u32 = u32::MAX;
/// Options we ask for (RFC 2132 option 55): mask, router, DNS, hostname, domain, root path.
const REQUESTED_OPTIONS: [OptionCode; 6] = [
    OptionCode::SubnetMask,
    OptionCode::Router,
    OptionCode::DomainNameServer,
    OptionCode::Hostname,
    OptionCode::DomainName,
    OptionCode::RootPath,
];
/// Offset of `hlen` in a BOOTP message (RFC 951).
const HLEN_OFFSET: usize = 2;
/// Ethernet's hardware address length.
const ETHERNET_HLEN: u8 = 6;
/// Where the options start: the fixed BOOTP fields (236 bytes) and the magic cookie (4).
const OPTIONS_OFFSET: usize = 240;
/// Options whose length dhcproto 0.15 asserts on while decoding (`debug_assert!`, and a `len - 1`
/// that overflows): `(code, min length, max length)`. Checked before decoding so malformed
/// options are rejected as errors, never a panic, in every build profile.
const ASSERTED_OPTION_LENGTHS: [(u8, u8, u8); 8] = [
    (80, 0, 0),    // rapid commit
    (81, 3, 255),  // client FQDN
    (94, 3, 3),    // client network interface
    (151, 1, 255), // bulk lease query status code
    (152, 4, 4),   // bulk lease query base time
    (153, 4, 4),   // ... start time of state
    (154, 4, 4),   // ... query start time
    (155, 4, 4),   // ... query end time
];

/// Walks the option TLVs and rejects lengths dhcproto would assert on. A truncated option area
/// is left for dhcproto to report as a decode error.
fn check_option_lengths(payload: &[u8]) -> Result<(), PacketError> {
    let mut i = OPTIONS_OFFSET;
    while let Some(&code) = payload.get(i) {
        match code {
            0 => i += 1,
            255 => break,
            _ => {
                let Some(&len) = payload.get(i + 1) else {
                    break;
                };
                let bad = ASSERTED_OPTION_LENGTHS
                    .iter()
                    .any(|(c, min, max)| *c == code && (len < *min || len > *max));
                if bad {
                    return Err(PacketError::OptionLength { code, len });
                }
                i += 2 + usize::from(len);
            }
        }
    }
    Ok(())
}

/// Largest DHCP message we accept (option 57): a full Ethernet MTU less IP and UDP headers.
const MAX_MESSAGE_SIZE: u16 = 1500 - 28;

/// Why a received frame was ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("UDP to port {0}, not the DHCP client port")]
    NotForClient(u16),
    #[error("undecodable DHCP message: {0}")]
    Decode(String),
    #[error("not a BOOTREPLY")]
    NotReply,
    #[error("xid {got:#010x} is not ours ({want:#010x})")]
    Xid { got: u32, want: u32 },
    #[error("chaddr is not our MAC")]
    Chaddr,
    #[error("hardware address length {0} is not Ethernet's 6")]
    HardwareLength(u8),
    #[error("option {code} has invalid length {len}")]
    OptionLength { code: u8, len: u8 },
    #[error("no message type option")]
    NoMessageType,
    #[error("unexpected message type {0}")]
    UnexpectedType(String),
    #[error("{kind} without {option}")]
    MissingOption {
        kind: &'static str,
        option: &'static str,
    },
    #[error("{kind} offers no address (yiaddr 0.0.0.0)")]
    NoAddress { kind: &'static str },
    #[error("subnet mask {0} is not contiguous")]
    BadMask(Ipv4Addr),
    #[error("could not encode DHCP message: {0}")]
    Encode(String),
}

/// A DHCPOFFER worth requesting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub address: Ipv4Addr,
    pub server_id: Ipv4Addr,
}

/// What a DHCPACK grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckInfo {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub server_id: Ipv4Addr,
    /// Lease time in seconds; `None` = infinite.
    pub lease_secs: Option<u32>,
    pub hostname: Option<String>,
    pub domain: Option<String>,
    pub root_path: Option<String>,
}

/// A validated reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Offer(Offer),
    Ack(AckInfo),
    Nak {
        server_id: Option<Ipv4Addr>,
        message: Option<String>,
    },
}

/// An empty BOOTREQUEST (op 1, Ethernet, hlen 6, zero fields, magic cookie, End option).
fn blank_request_bytes() -> [u8; OPTIONS_OFFSET + 1] {
    let mut b = [0u8; OPTIONS_OFFSET + 1];
    b[0] = 1; // BOOTREQUEST
    b[1] = 1; // htype Ethernet
    b[HLEN_OFFSET] = ETHERNET_HLEN;
    b[236..240].copy_from_slice(&dhcproto::v4::MAGIC);
    b[OPTIONS_OFFSET] = 255; // End
    b
}

/// A BOOTREQUEST to fill in. Built by decoding a template, not with `Message::new_with_id`:
/// dhcproto's constructors go through `Message::default()`, which calls `rand::random()`, i.e.
/// `getrandom()` without GRND_NONBLOCK; early in boot on an entropy-starved node (a VM under TCG)
/// the kernel CRNG is not ready and that blocks PID 1 forever. We bring our own xid.
fn blank_request() -> Result<Message, PacketError> {
    Message::decode(&mut Decoder::new(&blank_request_bytes()))
        .map_err(|e| PacketError::Encode(e.to_string()))
}

fn base_message(
    xid: u32,
    mac: [u8; 6],
    secs: u16,
    kind: MessageType,
) -> Result<Message, PacketError> {
    let mut msg = blank_request()?;
    msg.set_xid(xid).set_chaddr(&mac).set_secs(secs);
    let opts = msg.opts_mut();
    opts.insert(DhcpOption::MessageType(kind));
    opts.insert(DhcpOption::ParameterRequestList(REQUESTED_OPTIONS.to_vec()));
    opts.insert(DhcpOption::MaxMessageSize(MAX_MESSAGE_SIZE));
    Ok(msg)
}

/// DHCPDISCOVER (RFC 2131 section 4.4.1).
pub fn discover(xid: u32, mac: [u8; 6], secs: u16) -> Result<Message, PacketError> {
    base_message(xid, mac, secs, MessageType::Discover)
}

/// DHCPREQUEST in SELECTING state (RFC 2131 section 4.3.2): ciaddr 0, the offered address in
/// option 50 and the chosen server in option 54, same xid as the DISCOVER.
pub fn request(xid: u32, mac: [u8; 6], secs: u16, offer: &Offer) -> Result<Message, PacketError> {
    let mut msg = base_message(xid, mac, secs, MessageType::Request)?;
    let opts = msg.opts_mut();
    opts.insert(DhcpOption::RequestedIpAddress(offer.address));
    opts.insert(DhcpOption::ServerIdentifier(offer.server_id));
    Ok(msg)
}

/// Encodes `msg` as a broadcast frame from 0.0.0.0:68 to 255.255.255.255:67.
pub fn to_frame(msg: &Message, mac: [u8; 6]) -> Result<Vec<u8>, PacketError> {
    let payload = msg
        .to_vec()
        .map_err(|e| PacketError::Encode(e.to_string()))?;
    Ok(frame::build(
        mac,
        BROADCAST_MAC,
        (Ipv4Addr::UNSPECIFIED, CLIENT_PORT),
        (Ipv4Addr::BROADCAST, SERVER_PORT),
        &payload,
    ))
}

/// Prefix length of a contiguous netmask.
pub fn mask_to_prefix(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

fn ipv4_option(msg: &Message, code: OptionCode) -> Option<Ipv4Addr> {
    match msg.opts().get(code)? {
        DhcpOption::SubnetMask(a) | DhcpOption::ServerIdentifier(a) => Some(*a),
        _ => None,
    }
}

fn ipv4s_option(msg: &Message, code: OptionCode) -> Vec<Ipv4Addr> {
    match msg.opts().get(code) {
        Some(DhcpOption::Router(v) | DhcpOption::DomainNameServer(v)) => v.clone(),
        _ => Vec::new(),
    }
}

fn string_option(msg: &Message, code: OptionCode) -> Option<String> {
    match msg.opts().get(code)? {
        DhcpOption::Hostname(s)
        | DhcpOption::DomainName(s)
        | DhcpOption::RootPath(s)
        | DhcpOption::Message(s) => {
            let s = s.trim_end_matches('\0');
            (!s.is_empty()).then(|| s.to_string())
        }
        _ => None,
    }
}

/// Decodes and validates a received frame as a reply to our `xid` from chaddr `mac`.
pub fn parse_reply(frame_bytes: &[u8], xid: u32, mac: [u8; 6]) -> Result<Reply, PacketError> {
    let datagram = frame::parse(frame_bytes)?;
    if datagram.dst_port != CLIENT_PORT {
        return Err(PacketError::NotForClient(datagram.dst_port));
    }
    // Checked on the raw bytes first: dhcproto 0.15's `chaddr()` panics when hlen > 16.
    if let Some(&hlen) = datagram.payload.get(HLEN_OFFSET) {
        if hlen != ETHERNET_HLEN {
            return Err(PacketError::HardwareLength(hlen));
        }
    }
    check_option_lengths(datagram.payload)?;
    let msg = Message::decode(&mut Decoder::new(datagram.payload))
        .map_err(|e| PacketError::Decode(e.to_string()))?;
    if msg.opcode() != Opcode::BootReply {
        return Err(PacketError::NotReply);
    }
    if msg.xid() != xid {
        return Err(PacketError::Xid {
            got: msg.xid(),
            want: xid,
        });
    }
    if msg.chaddr().get(..6) != Some(&mac[..]) {
        return Err(PacketError::Chaddr);
    }
    let kind = msg.opts().msg_type().ok_or(PacketError::NoMessageType)?;
    let server_id = ipv4_option(&msg, OptionCode::ServerIdentifier);
    let missing = |kind, option| PacketError::MissingOption { kind, option };
    match kind {
        MessageType::Offer => {
            let address = msg.yiaddr();
            if address.is_unspecified() {
                return Err(PacketError::NoAddress { kind: "DHCPOFFER" });
            }
            let server_id = server_id.ok_or(missing("DHCPOFFER", "server identifier"))?;
            Ok(Reply::Offer(Offer { address, server_id }))
        }
        MessageType::Ack => {
            let address = msg.yiaddr();
            if address.is_unspecified() {
                return Err(PacketError::NoAddress { kind: "DHCPACK" });
            }
            let server_id = server_id.ok_or(missing("DHCPACK", "server identifier"))?;
            let mask = ipv4_option(&msg, OptionCode::SubnetMask)
                .ok_or(missing("DHCPACK", "subnet mask"))?;
            let prefix_len = mask_to_prefix(mask).ok_or(PacketError::BadMask(mask))?;
            let lease = match msg.opts().get(OptionCode::AddressLeaseTime) {
                Some(DhcpOption::AddressLeaseTime(secs)) => *secs,
                _ => return Err(missing("DHCPACK", "lease time")),
            };
            Ok(Reply::Ack(AckInfo {
                address,
                prefix_len,
                gateway: ipv4s_option(&msg, OptionCode::Router).first().copied(),
                dns: ipv4s_option(&msg, OptionCode::DomainNameServer),
                server_id,
                lease_secs: (lease != INFINITE_LEASE).then_some(lease),
                hostname: string_option(&msg, OptionCode::Hostname),
                domain: string_option(&msg, OptionCode::DomainName),
                root_path: string_option(&msg, OptionCode::RootPath),
            }))
        }
        MessageType::Nak => Ok(Reply::Nak {
            server_id,
            message: string_option(&msg, OptionCode::Message),
        }),
        other => Err(PacketError::UnexpectedType(format!("{other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::fake_server::{FakeDhcpServer, ServerBehaviour};

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 1];
    const XID: u32 = 0x1234_5678;

    fn server() -> FakeDhcpServer {
        FakeDhcpServer::new(ServerBehaviour::Normal)
    }

    #[test]
    fn discover_and_request_carry_the_rfc2131_fields() {
        let frame = to_frame(&discover(XID, MAC, 3).expect("discover"), MAC).expect("encode");
        let d = frame::parse(&frame).expect("frame");
        assert_eq!((d.src_port, d.dst_port), (68, 67));
        assert_eq!(d.dst_ip, Ipv4Addr::BROADCAST);
        let msg = Message::decode(&mut Decoder::new(d.payload)).expect("decode");
        assert_eq!(msg.opcode(), Opcode::BootRequest);
        assert_eq!((msg.xid(), msg.secs()), (XID, 3));
        assert_eq!(&msg.chaddr()[..6], &MAC);
        assert_eq!(msg.opts().msg_type(), Some(MessageType::Discover));
        assert!(msg.opts().get(OptionCode::ParameterRequestList).is_some());

        let offer = Offer {
            address: Ipv4Addr::new(10, 0, 2, 15),
            server_id: Ipv4Addr::new(10, 0, 2, 2),
        };
        let req = request(XID, MAC, 4, &offer).expect("request");
        assert_eq!(req.htype(), dhcproto::v4::HType::Eth);
        assert_eq!(req.flags(), dhcproto::v4::Flags::default());
        assert_eq!(req.opts().msg_type(), Some(MessageType::Request));
        assert_eq!(req.ciaddr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(
            req.opts().get(OptionCode::RequestedIpAddress),
            Some(&DhcpOption::RequestedIpAddress(offer.address))
        );
        assert_eq!(
            ipv4_option(&req, OptionCode::ServerIdentifier),
            Some(offer.server_id)
        );
    }

    #[test]
    fn offers_acks_and_naks_parse() {
        let s = server();
        let offer = s.reply_frame(MessageType::Offer, XID, MAC);
        assert_eq!(
            parse_reply(&offer, XID, MAC),
            Ok(Reply::Offer(Offer {
                address: s.address,
                server_id: s.server_id
            }))
        );
        let ack = s.reply_frame(MessageType::Ack, XID, MAC);
        let Ok(Reply::Ack(info)) = parse_reply(&ack, XID, MAC) else {
            panic!("not an ack");
        };
        assert_eq!(info.address, s.address);
        assert_eq!(info.prefix_len, 24);
        assert_eq!(info.gateway, Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(info.dns, [Ipv4Addr::new(10, 0, 2, 3)]);
        assert_eq!(info.lease_secs, Some(86400));
        assert_eq!(info.root_path.as_deref(), Some("10.0.2.9:/srv/root"));
        let nak = s.reply_frame(MessageType::Nak, XID, MAC);
        assert_eq!(
            parse_reply(&nak, XID, MAC),
            Ok(Reply::Nak {
                server_id: Some(s.server_id),
                message: Some("address not available".into())
            })
        );
    }

    #[test]
    fn replies_for_others_and_malformed_replies_are_rejected() {
        let s = server();
        let ack = s.reply_frame(MessageType::Ack, XID, MAC);
        assert_eq!(
            parse_reply(&ack, XID + 1, MAC),
            Err(PacketError::Xid {
                got: XID,
                want: XID + 1
            })
        );
        assert_eq!(
            parse_reply(&ack, XID, [2, 0, 0, 0, 0, 1]),
            Err(PacketError::Chaddr)
        );
        let mut no_mask = s.clone();
        no_mask.mask = None;
        assert_eq!(
            parse_reply(&no_mask.reply_frame(MessageType::Ack, XID, MAC), XID, MAC)
                .map_err(|e| e.to_string()),
            Err("DHCPACK without subnet mask".into())
        );
        let mut odd_mask = s.clone();
        odd_mask.mask = Some(Ipv4Addr::new(255, 0, 255, 0));
        assert_eq!(
            parse_reply(&odd_mask.reply_frame(MessageType::Ack, XID, MAC), XID, MAC),
            Err(PacketError::BadMask(Ipv4Addr::new(255, 0, 255, 0)))
        );
        let mut infinite = s.clone();
        infinite.lease_secs = u32::MAX;
        let Ok(Reply::Ack(info)) =
            parse_reply(&infinite.reply_frame(MessageType::Ack, XID, MAC), XID, MAC)
        else {
            panic!("infinite lease ack");
        };
        assert_eq!(info.lease_secs, None);
        let mut no_server = s.clone();
        no_server.send_server_id = false;
        assert_eq!(
            parse_reply(
                &no_server.reply_frame(MessageType::Offer, XID, MAC),
                XID,
                MAC
            ),
            Err(PacketError::MissingOption {
                kind: "DHCPOFFER",
                option: "server identifier"
            })
        );
        // Our own broadcast DISCOVER echoed back is not for the client port.
        let own = to_frame(&discover(XID, MAC, 0).expect("discover"), MAC).expect("encode");
        assert_eq!(
            parse_reply(&own, XID, MAC),
            Err(PacketError::NotForClient(67))
        );
        // Garbage payloads in a valid UDP datagram.
        for payload in [&b""[..], &[1u8; 10][..], &[2u8; 300][..], &[1u8; 300][..]] {
            let f = frame::build(MAC, MAC, (s.server_id, 67), (s.address, 68), payload);
            let e = parse_reply(&f, XID, MAC).expect_err("garbage");
            assert!(
                matches!(
                    e,
                    PacketError::Decode(_) | PacketError::HardwareLength(_) | PacketError::NotReply
                ),
                "{e:?}"
            );
        }
    }

    #[test]
    fn netmask_prefixes() {
        let table = [
            ([255, 255, 255, 0], Some(24)),
            ([255, 255, 255, 255], Some(32)),
            ([0, 0, 0, 0], Some(0)),
            ([255, 255, 252, 0], Some(22)),
            ([255, 0, 255, 0], None),
            ([0, 0, 0, 255], None),
        ];
        for (mask, want) in table {
            assert_eq!(mask_to_prefix(Ipv4Addr::from(mask)), want, "{mask:?}");
        }
    }

    #[test]
    fn a_huge_hlen_is_rejected_before_dhcproto_sees_it() {
        let mut ack = server().reply_frame(MessageType::Ack, XID, MAC);
        ack[42 + 2] = 249;
        ack[40..42].copy_from_slice(&[0, 0]);
        assert_eq!(
            parse_reply(&ack, XID, MAC),
            Err(PacketError::HardwareLength(249))
        );
    }

    #[test]
    fn option_lengths_dhcproto_would_assert_on_are_rejected() {
        let s = server();
        let ack = s.reply_frame(MessageType::Ack, XID, MAC);
        let mut payload = ack[42..].to_vec();
        // Replace the End option with a 2-byte "client network interface" (needs 3).
        let end = payload.iter().rposition(|b| *b == 255).expect("end option");
        payload.truncate(end);
        payload.extend_from_slice(&[94, 2, 1, 2, 255]);
        let f = frame::build(MAC, MAC, (s.server_id, 67), (s.address, 68), &payload);
        assert_eq!(
            parse_reply(&f, XID, MAC),
            Err(PacketError::OptionLength { code: 94, len: 2 })
        );
        assert!(check_option_lengths(&ack[42..]).is_ok());
    }

    #[test]
    fn random_payloads_never_panic() {
        let mut rng = crate::backoff::Jitter::new(99);
        let s = server();
        let ack = s.reply_frame(MessageType::Ack, XID, MAC);
        for round in 0..2000 {
            let mut payload = ack[42..].to_vec();
            for _ in 0..(1 + round % 16) {
                let at = (rng.next_u64() as usize) % payload.len();
                payload[at] = rng.next_u64() as u8;
            }
            payload.truncate(240 + (rng.next_u64() as usize) % (payload.len() - 240));
            let f = frame::build(MAC, MAC, (s.server_id, 67), (s.address, 68), &payload);
            let _ = parse_reply(&f, XID, MAC);
        }
    }

    #[test]
    fn truncated_and_flipped_messages_never_panic() {
        let s = server();
        let ack = s.reply_frame(MessageType::Ack, XID, MAC);
        for cut in 0..ack.len() {
            let _ = parse_reply(&ack[..cut], XID, MAC);
        }
        for i in 42..ack.len() {
            let mut f = ack.clone();
            f[i] ^= 0xff;
            // Fix the UDP checksum so the DHCP decoder sees the corruption.
            f[40..42].copy_from_slice(&[0, 0]);
            let _ = parse_reply(&f, XID, MAC);
        }
    }
}
