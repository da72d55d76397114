//! The DHCPv4 message (RFC 2131 section 2, figure 1): the fixed BOOTP header, the magic cookie
//! and the options, decoded from and encoded to bytes. Pure data, no I/O, no randomness: the
//! caller brings the xid.
//!
//! Decoding never panics: every input is either a [`Message`] or a [`CodecError`] naming the
//! field or option at fault and its value. Option overload (option 52, RFC 2132 section 9.3) is
//! honoured: the options it points to in `file` and `sname` are merged in (RFC 3396 order) and
//! option 52 itself is dropped, so a decoded message re-encodes without overload. The encoder
//! never overloads.

use std::net::Ipv4Addr;

use super::codes::{self, LengthRule, MessageType};
use super::options::{Area, Options};

/// BOOTP op codes (RFC 951): client to server, and back.
pub const BOOTREQUEST: u8 = 1;
pub const BOOTREPLY: u8 = 2;
/// `htype` of Ethernet (ARP hardware type 1, RFC 1700).
pub const HTYPE_ETHERNET: u8 = 1;
/// `hlen` of Ethernet: a MAC is 6 bytes.
pub const ETHERNET_HLEN: u8 = 6;
/// The first four bytes of the options field, 99.130.83.99 (RFC 2131 section 3): what tells a
/// DHCP message from a plain BOOTP one.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// The broadcast bit of `flags` (RFC 2131 section 2, figure 2).
pub const FLAG_BROADCAST: u16 = 0x8000;

/// Field offsets and sizes of RFC 2131 figure 1.
pub const HLEN_OFFSET: usize = 2;
const XID_OFFSET: usize = 4;
const SECS_OFFSET: usize = 8;
const FLAGS_OFFSET: usize = 10;
const CIADDR_OFFSET: usize = 12;
const YIADDR_OFFSET: usize = 16;
const SIADDR_OFFSET: usize = 20;
const GIADDR_OFFSET: usize = 24;
const CHADDR_OFFSET: usize = 28;
pub const CHADDR_LEN: usize = 16;
const SNAME_OFFSET: usize = 44;
const SNAME_LEN: usize = 64;
const FILE_OFFSET: usize = 108;
const FILE_LEN: usize = 128;
const COOKIE_OFFSET: usize = 236;
/// Where the options start: the 236 bytes of BOOTP fields and the 4-byte cookie.
pub const OPTIONS_OFFSET: usize = 240;

/// Why bytes are not a DHCP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("message of {len} bytes is shorter than the 240-byte header and magic cookie")]
    Short { len: usize },
    #[error("hlen {0} is longer than the 16-byte chaddr field")]
    HardwareLength(u8),
    #[error("magic cookie {} is not 99.130.83.99", Ipv4Addr::from(*.0))]
    MagicCookie([u8; 4]),
    #[error("option {code} at byte {offset} of the {area} has no length byte")]
    NoLength { code: u8, area: Area, offset: usize },
    #[error("option {code} at byte {offset} of the {area} claims {len} bytes but {left} remain")]
    Overrun {
        code: u8,
        area: Area,
        offset: usize,
        len: usize,
        left: usize,
    },
    #[error("option {code} ({name}) has length {len} ({rule})")]
    Length {
        code: u8,
        name: &'static str,
        len: usize,
        rule: LengthRule,
    },
    #[error("option 52 (option overload) has value {0}, not 1, 2 or 3")]
    Overload(u8),
    #[error("option 52 (option overload) in the {0}; it is allowed only in the options field")]
    NestedOverload(Area),
    #[error("option 53 (message type) has unknown value {0}")]
    UnknownMessageType(u8),
    #[error("option {code} ({name}) is not utf-8")]
    NotUtf8 { code: u8, name: &'static str },
}

/// One DHCPv4 message. `chaddr` holds `hlen` meaningful bytes (at most 16 once decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub op: u8,
    pub htype: u8,
    pub hlen: u8,
    pub hops: u8,
    pub xid: u32,
    pub secs: u16,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: [u8; CHADDR_LEN],
    pub sname: [u8; SNAME_LEN],
    pub file: [u8; FILE_LEN],
    pub options: Options,
}

/// `N` bytes of the header at `at`. The header is a fixed-size array and every call site passes
/// a constant offset inside it, so the zero fallback is never taken.
fn field<const N: usize>(head: &[u8; OPTIONS_OFFSET], at: usize) -> [u8; N] {
    head.get(at..at + N)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .unwrap_or([0; N])
}

fn ipv4_at(head: &[u8; OPTIONS_OFFSET], at: usize) -> Ipv4Addr {
    Ipv4Addr::from(field::<4>(head, at))
}

impl Message {
    /// A message with every field zero but `op` and `htype` (Ethernet), and no options.
    pub fn new(op: u8) -> Self {
        Self {
            op,
            htype: HTYPE_ETHERNET,
            hlen: 0,
            hops: 0,
            xid: 0,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: [0; CHADDR_LEN],
            sname: [0; SNAME_LEN],
            file: [0; FILE_LEN],
            options: Options::new(),
        }
    }

    /// Sets `chaddr` to an Ethernet MAC (and `hlen` to 6).
    pub fn set_mac(&mut self, mac: [u8; 6]) {
        self.chaddr = [0; CHADDR_LEN];
        self.chaddr[..6].copy_from_slice(&mac);
        self.hlen = ETHERNET_HLEN;
    }

    /// The meaningful part of `chaddr` (`hlen` bytes; all 16 if `hlen` was set larger by hand).
    pub fn chaddr(&self) -> &[u8] {
        self.chaddr
            .get(..usize::from(self.hlen))
            .unwrap_or(&self.chaddr)
    }

    /// Option 53.
    pub fn message_type(&self) -> Result<Option<MessageType>, CodecError> {
        self.options.message_type()
    }

    /// Decodes a UDP payload.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let head: &[u8; OPTIONS_OFFSET] = bytes
            .get(..OPTIONS_OFFSET)
            .and_then(|h| h.try_into().ok())
            .ok_or(CodecError::Short { len: bytes.len() })?;
        let [op, htype, hlen, hops] = field::<4>(head, 0);
        if usize::from(hlen) > CHADDR_LEN {
            return Err(CodecError::HardwareLength(hlen));
        }
        let cookie = field::<4>(head, COOKIE_OFFSET);
        if cookie != MAGIC_COOKIE {
            return Err(CodecError::MagicCookie(cookie));
        }
        let sname = field::<SNAME_LEN>(head, SNAME_OFFSET);
        let file = field::<FILE_LEN>(head, FILE_OFFSET);
        let mut options = Options::new();
        options.parse_area(bytes.get(OPTIONS_OFFSET..).unwrap_or(&[]), Area::Options)?;
        if let Some(overload) = options.remove(codes::OPTION_OVERLOAD) {
            let [v] = <[u8; 1]>::try_from(overload.as_slice()).map_err(|_| CodecError::Length {
                code: codes::OPTION_OVERLOAD,
                name: codes::name(codes::OPTION_OVERLOAD),
                len: overload.len(),
                rule: LengthRule::Exactly(1),
            })?;
            let (in_file, in_sname) = match v {
                codes::OVERLOAD_FILE => (true, false),
                codes::OVERLOAD_SNAME => (false, true),
                codes::OVERLOAD_BOTH => (true, true),
                other => return Err(CodecError::Overload(other)),
            };
            // RFC 3396 section 5: options field, then file, then sname.
            if in_file {
                options.parse_area(&file, Area::File)?;
            }
            if in_sname {
                options.parse_area(&sname, Area::Sname)?;
            }
        }
        options.validate()?;
        Ok(Self {
            op,
            htype,
            hlen,
            hops,
            xid: u32::from_be_bytes(field(head, XID_OFFSET)),
            secs: u16::from_be_bytes(field(head, SECS_OFFSET)),
            flags: u16::from_be_bytes(field(head, FLAGS_OFFSET)),
            ciaddr: ipv4_at(head, CIADDR_OFFSET),
            yiaddr: ipv4_at(head, YIADDR_OFFSET),
            siaddr: ipv4_at(head, SIADDR_OFFSET),
            giaddr: ipv4_at(head, GIADDR_OFFSET),
            chaddr: field(head, CHADDR_OFFSET),
            sname,
            file,
            options,
        })
    }

    /// Encodes as a UDP payload: header, cookie, options (RFC 3396 splits), End.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(OPTIONS_OFFSET + 64);
        out.extend_from_slice(&[self.op, self.htype, self.hlen, self.hops]);
        out.extend_from_slice(&self.xid.to_be_bytes());
        out.extend_from_slice(&self.secs.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        for addr in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            out.extend_from_slice(&addr.octets());
        }
        out.extend_from_slice(&self.chaddr);
        out.extend_from_slice(&self.sname);
        out.extend_from_slice(&self.file);
        out.extend_from_slice(&MAGIC_COOKIE);
        self.options.encode_into(&mut out);
        out
    }
}
