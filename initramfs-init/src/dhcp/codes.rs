//! DHCPv4 option codes (RFC 2132, RFC 3396), the message types of option 53, and the length rule
//! of each option this crate reads or writes. The rules are checked once, when a message is
//! decoded (after RFC 3396 concatenation), so the typed accessors in [`super::options`] can rely
//! on them and a malformed option is an error that names it, never a panic or a silent guess.

use std::fmt;

/// Pad (RFC 2132 section 3.1): one byte, no length; fills space between and after options.
pub const PAD: u8 = 0;
/// Subnet mask (RFC 2132 section 3.3).
pub const SUBNET_MASK: u8 = 1;
/// Router list (RFC 2132 section 3.5).
pub const ROUTER: u8 = 3;
/// Domain name server list (RFC 2132 section 3.8).
pub const DOMAIN_NAME_SERVER: u8 = 6;
/// Host name (RFC 2132 section 3.14).
pub const HOSTNAME: u8 = 12;
/// Domain name (RFC 2132 section 3.17).
pub const DOMAIN_NAME: u8 = 15;
/// Root path (RFC 2132 section 3.19): where the NFS root may come from.
pub const ROOT_PATH: u8 = 17;
/// Requested IP address (RFC 2132 section 9.1).
pub const REQUESTED_IP_ADDRESS: u8 = 50;
/// IP address lease time (RFC 2132 section 9.2).
pub const ADDRESS_LEASE_TIME: u8 = 51;
/// Option overload (RFC 2132 section 9.3): `file` and/or `sname` carry more options.
pub const OPTION_OVERLOAD: u8 = 52;
/// DHCP message type (RFC 2132 section 9.6).
pub const MESSAGE_TYPE: u8 = 53;
/// Server identifier (RFC 2132 section 9.7).
pub const SERVER_IDENTIFIER: u8 = 54;
/// Parameter request list (RFC 2132 section 9.8).
pub const PARAMETER_REQUEST_LIST: u8 = 55;
/// Message (RFC 2132 section 9.9): the server's reason text, e.g. in a DHCPNAK.
pub const MESSAGE: u8 = 56;
/// Maximum DHCP message size (RFC 2132 section 9.10).
pub const MAX_MESSAGE_SIZE: u8 = 57;
/// Renewal (T1) time (RFC 2132 section 9.11).
pub const RENEWAL_TIME: u8 = 58;
/// Rebinding (T2) time (RFC 2132 section 9.12).
pub const REBINDING_TIME: u8 = 59;
/// Client identifier (RFC 2132 section 9.14).
pub const CLIENT_IDENTIFIER: u8 = 61;
/// End (RFC 2132 section 3.2): one byte, no length; the options area stops here.
pub const END: u8 = 255;

/// Option 52's values (RFC 2132 section 9.3).
pub const OVERLOAD_FILE: u8 = 1;
pub const OVERLOAD_SNAME: u8 = 2;
pub const OVERLOAD_BOTH: u8 = 3;

/// What length an option's value may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthRule {
    Exactly(usize),
    AtLeast(usize),
    /// A non-empty list of `n`-byte items (addresses).
    ListOf(usize),
}

impl LengthRule {
    pub fn allows(self, len: usize) -> bool {
        match self {
            Self::Exactly(n) => len == n,
            Self::AtLeast(n) => len >= n,
            Self::ListOf(n) => len >= n && len % n == 0,
        }
    }
}

impl fmt::Display for LengthRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exactly(n) => write!(f, "must be {n}"),
            Self::AtLeast(n) => write!(f, "must be at least {n}"),
            Self::ListOf(n) => write!(f, "must be a non-zero multiple of {n}"),
        }
    }
}

/// The options we know: code, name (for errors and logs), length rule (RFC 2132).
const KNOWN: [(u8, &str, LengthRule); 17] = [
    (SUBNET_MASK, "subnet mask", LengthRule::Exactly(4)),
    (ROUTER, "router", LengthRule::ListOf(4)),
    (
        DOMAIN_NAME_SERVER,
        "domain name server",
        LengthRule::ListOf(4),
    ),
    (HOSTNAME, "host name", LengthRule::AtLeast(1)),
    (DOMAIN_NAME, "domain name", LengthRule::AtLeast(1)),
    (ROOT_PATH, "root path", LengthRule::AtLeast(1)),
    (
        REQUESTED_IP_ADDRESS,
        "requested ip address",
        LengthRule::Exactly(4),
    ),
    (ADDRESS_LEASE_TIME, "lease time", LengthRule::Exactly(4)),
    (OPTION_OVERLOAD, "option overload", LengthRule::Exactly(1)),
    (MESSAGE_TYPE, "message type", LengthRule::Exactly(1)),
    (
        SERVER_IDENTIFIER,
        "server identifier",
        LengthRule::Exactly(4),
    ),
    (
        PARAMETER_REQUEST_LIST,
        "parameter request list",
        LengthRule::AtLeast(1),
    ),
    (MESSAGE, "message", LengthRule::AtLeast(1)),
    (
        MAX_MESSAGE_SIZE,
        "maximum message size",
        LengthRule::Exactly(2),
    ),
    (RENEWAL_TIME, "renewal time", LengthRule::Exactly(4)),
    (REBINDING_TIME, "rebinding time", LengthRule::Exactly(4)),
    // Type byte and at least one byte of identifier (RFC 2132 section 9.14).
    (
        CLIENT_IDENTIFIER,
        "client identifier",
        LengthRule::AtLeast(2),
    ),
];

/// The name of option `code`, or `"unknown"`.
pub fn name(code: u8) -> &'static str {
    KNOWN
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or("unknown", |(_, n, _)| n)
}

/// The length rule of option `code`; `None` for options we pass through unchecked.
pub fn length_rule(code: u8) -> Option<LengthRule> {
    KNOWN
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, _, r)| *r)
}

/// The value of option 53 (RFC 2132 section 9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Discover,
    Offer,
    Request,
    Decline,
    Ack,
    Nak,
    Release,
    Inform,
}

impl MessageType {
    /// Every type, in wire-value order (1 to 8).
    pub const ALL: [MessageType; 8] = [
        Self::Discover,
        Self::Offer,
        Self::Request,
        Self::Decline,
        Self::Ack,
        Self::Nak,
        Self::Release,
        Self::Inform,
    ];

    pub fn to_u8(self) -> u8 {
        match self {
            Self::Discover => 1,
            Self::Offer => 2,
            Self::Request => 3,
            Self::Decline => 4,
            Self::Ack => 5,
            Self::Nak => 6,
            Self::Release => 7,
            Self::Inform => 8,
        }
    }

    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.to_u8() == v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_types_round_trip_and_unknown_values_are_none() {
        for t in MessageType::ALL {
            assert_eq!(MessageType::from_u8(t.to_u8()), Some(t));
        }
        assert_eq!(MessageType::from_u8(0), None);
        assert_eq!(MessageType::from_u8(9), None);
    }

    #[test]
    fn length_rules() {
        assert!(LengthRule::Exactly(4).allows(4));
        assert!(!LengthRule::Exactly(4).allows(3));
        assert!(LengthRule::AtLeast(1).allows(200));
        assert!(!LengthRule::AtLeast(1).allows(0));
        assert!(LengthRule::ListOf(4).allows(8));
        assert!(!LengthRule::ListOf(4).allows(0));
        assert!(!LengthRule::ListOf(4).allows(6));
        assert_eq!(length_rule(ROUTER), Some(LengthRule::ListOf(4)));
        assert_eq!(length_rule(94), None);
        assert_eq!(name(SERVER_IDENTIFIER), "server identifier");
        assert_eq!(name(94), "unknown");
        assert_eq!(
            LengthRule::ListOf(4).to_string(),
            "must be a non-zero multiple of 4"
        );
    }
}
