//! DHCPv4 messages (RFC 2131/2132) on top of the in-house codec ([`super::message`]): the
//! DISCOVER and REQUEST we send, and the validation of what comes back. Everything received is
//! untrusted: a reply is accepted only if it is a well-formed BOOTREPLY for our xid and chaddr
//! with the options its type requires; anything else is a [`PacketError`] that the client logs
//! (debug) and ignores.

use std::net::Ipv4Addr;

use super::codes::{self, MessageType};
use super::frame::{self, FrameError, BROADCAST_MAC};
use super::message::{
    CodecError, Message, BOOTREPLY, BOOTREQUEST, ETHERNET_HLEN, HLEN_OFFSET, HTYPE_ETHERNET,
    MAGIC_COOKIE, OPTIONS_OFFSET,
};

/// UDP ports of RFC 2131 section 4.1.
pub const CLIENT_PORT: u16 = 68;
pub const SERVER_PORT: u16 = 67;
/// Lease time meaning "infinite" (RFC 2132 section 9.2).
const INFINITE_LEASE: u32 = u32::MAX;
/// Options we ask for (RFC 2132 option 55): mask, router, DNS, hostname, domain, root path.
const REQUESTED_OPTIONS: [u8; 6] = [
    codes::SUBNET_MASK,
    codes::ROUTER,
    codes::DOMAIN_NAME_SERVER,
    codes::HOSTNAME,
    codes::DOMAIN_NAME,
    codes::ROOT_PATH,
];
/// Largest DHCP message we accept (option 57): a full Ethernet MTU less IP and UDP headers.
const MAX_MESSAGE_BYTES: u16 = 1500 - 28;

/// Why a received frame was ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("UDP to port {0}, not the DHCP client port")]
    NotForClient(u16),
    #[error("undecodable DHCP message: {0}")]
    Decode(#[from] CodecError),
    #[error("not a BOOTREPLY")]
    NotReply,
    #[error("xid {got:#010x} is not ours ({want:#010x})")]
    Xid { got: u32, want: u32 },
    #[error("chaddr is not our MAC")]
    Chaddr,
    #[error("hardware address length {0} is not Ethernet's 6")]
    HardwareLength(u8),
    #[error("no message type option")]
    NoMessageType,
    #[error("unexpected message type {0:?}")]
    UnexpectedType(MessageType),
    #[error("{kind} without {option}")]
    MissingOption {
        kind: &'static str,
        option: &'static str,
    },
    #[error("{kind} offers no address (yiaddr 0.0.0.0)")]
    NoAddress { kind: &'static str },
    #[error("subnet mask {0} is not contiguous")]
    BadMask(Ipv4Addr),
    #[error("the request template does not decode: {0}")]
    Template(CodecError),
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
    b[0] = BOOTREQUEST;
    b[1] = HTYPE_ETHERNET;
    b[HLEN_OFFSET] = ETHERNET_HLEN;
    b[OPTIONS_OFFSET - MAGIC_COOKIE.len()..OPTIONS_OFFSET].copy_from_slice(&MAGIC_COOKIE);
    b[OPTIONS_OFFSET] = codes::END;
    b
}

/// A BOOTREQUEST to fill in, decoded from a raw template: every field starts from known bytes
/// and nothing here draws randomness. (dhcproto's constructors, used before, called
/// `rand::random()`, i.e. a blocking `getrandom()`, which hangs PID 1 forever early in boot on
/// an entropy-starved node such as a VM under TCG.) We bring our own xid.
fn blank_request() -> Result<Message, PacketError> {
    Message::decode(&blank_request_bytes()).map_err(PacketError::Template)
}

fn base_message(
    xid: u32,
    mac: [u8; 6],
    secs: u16,
    kind: MessageType,
) -> Result<Message, PacketError> {
    let mut msg = blank_request()?;
    msg.xid = xid;
    msg.secs = secs;
    msg.set_mac(mac);
    let opts = &mut msg.options;
    opts.insert_message_type(kind);
    opts.insert(codes::PARAMETER_REQUEST_LIST, REQUESTED_OPTIONS.to_vec());
    opts.insert_u16(codes::MAX_MESSAGE_SIZE, MAX_MESSAGE_BYTES);
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
    let opts = &mut msg.options;
    opts.insert_ipv4(codes::REQUESTED_IP_ADDRESS, offer.address);
    opts.insert_ipv4(codes::SERVER_IDENTIFIER, offer.server_id);
    Ok(msg)
}

/// Encodes `msg` as a broadcast frame from 0.0.0.0:68 to 255.255.255.255:67.
pub fn to_frame(msg: &Message, mac: [u8; 6]) -> Result<Vec<u8>, PacketError> {
    Ok(frame::build(
        mac,
        BROADCAST_MAC,
        (Ipv4Addr::UNSPECIFIED, CLIENT_PORT),
        (Ipv4Addr::BROADCAST, SERVER_PORT),
        &msg.encode(),
    ))
}

/// Prefix length of a contiguous netmask.
pub fn mask_to_prefix(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

/// A text option without trailing NULs (some servers count a C terminator); empty is absent.
fn string_option(msg: &Message, code: u8) -> Result<Option<String>, PacketError> {
    Ok(msg.options.string(code)?.and_then(|s| {
        let s = s.trim_end_matches('\0');
        (!s.is_empty()).then(|| s.to_string())
    }))
}

/// Decodes and validates a received frame as a reply to our `xid` from chaddr `mac`.
pub fn parse_reply(frame_bytes: &[u8], xid: u32, mac: [u8; 6]) -> Result<Reply, PacketError> {
    let datagram = frame::parse(frame_bytes)?;
    if datagram.dst_port != CLIENT_PORT {
        return Err(PacketError::NotForClient(datagram.dst_port));
    }
    let msg = Message::decode(datagram.payload)?;
    if msg.hlen != ETHERNET_HLEN {
        return Err(PacketError::HardwareLength(msg.hlen));
    }
    if msg.op != BOOTREPLY {
        return Err(PacketError::NotReply);
    }
    if msg.xid != xid {
        return Err(PacketError::Xid {
            got: msg.xid,
            want: xid,
        });
    }
    if msg.chaddr() != mac {
        return Err(PacketError::Chaddr);
    }
    let opts = &msg.options;
    let kind = opts.message_type()?.ok_or(PacketError::NoMessageType)?;
    let server_id = opts.ipv4(codes::SERVER_IDENTIFIER)?;
    let missing = |kind, option| PacketError::MissingOption { kind, option };
    match kind {
        MessageType::Offer => {
            let address = msg.yiaddr;
            if address.is_unspecified() {
                return Err(PacketError::NoAddress { kind: "DHCPOFFER" });
            }
            let server_id = server_id.ok_or(missing("DHCPOFFER", "server identifier"))?;
            Ok(Reply::Offer(Offer { address, server_id }))
        }
        MessageType::Ack => {
            let address = msg.yiaddr;
            if address.is_unspecified() {
                return Err(PacketError::NoAddress { kind: "DHCPACK" });
            }
            let server_id = server_id.ok_or(missing("DHCPACK", "server identifier"))?;
            let mask = opts
                .ipv4(codes::SUBNET_MASK)?
                .ok_or(missing("DHCPACK", "subnet mask"))?;
            let prefix_len = mask_to_prefix(mask).ok_or(PacketError::BadMask(mask))?;
            let lease = opts
                .u32(codes::ADDRESS_LEASE_TIME)?
                .ok_or(missing("DHCPACK", "lease time"))?;
            let dns = opts.ipv4s(codes::DOMAIN_NAME_SERVER)?;
            Ok(Reply::Ack(AckInfo {
                address,
                prefix_len,
                gateway: opts.ipv4s(codes::ROUTER)?.first().copied(),
                dns,
                server_id,
                lease_secs: (lease != INFINITE_LEASE).then_some(lease),
                hostname: string_option(&msg, codes::HOSTNAME)?,
                domain: string_option(&msg, codes::DOMAIN_NAME)?,
                root_path: string_option(&msg, codes::ROOT_PATH)?,
            }))
        }
        MessageType::Nak => Ok(Reply::Nak {
            server_id,
            message: string_option(&msg, codes::MESSAGE)?,
        }),
        other => Err(PacketError::UnexpectedType(other)),
    }
}
