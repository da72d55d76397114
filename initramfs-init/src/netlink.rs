//! A tiny NETLINK_ROUTE encoder and acknowledgement parser: just the five requests the init sends
//! (link up/down, link MAC, new VLAN link, IPv4 address, default route). Pure byte functions; the socket I/O is in
//! `sys::real`. Layouts from <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h>,
//! <linux/if_addr.h>.

use std::net::Ipv4Addr;

use rustix::io::Errno;

/// `sizeof(struct nlmsghdr)`.
const NLMSG_HDR_LEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;
const IFF_UP: u32 = 0x1;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINK: u16 = 5;
const IFLA_LINKINFO: u16 = 18;
/// `NLA_F_NESTED`: the attribute holds attributes (the kernel accepts nests without it, but
/// `iproute2` sets it and strict validation wants it).
const NLA_F_NESTED: u16 = 0x8000;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_VLAN_ID: u16 = 1;
/// `IFLA_INFO_KIND` of an 802.1Q VLAN (drivers/net/8021q: `vlan_link_ops.kind`).
const VLAN_KIND: &[u8] = b"vlan\0";
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RT_TABLE_MAIN: u8 = 254;
/// `RTPROT_BOOT`: "route installed during boot", what the kernel's own ip autoconfig uses.
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_UNIVERSE_ADDR: u8 = 0;
const RTN_UNICAST: u8 = 1;

/// A netlink request under construction: header, fixed body, then attributes.
#[derive(Debug)]
struct Request {
    buf: Vec<u8>,
}

impl Request {
    fn new(msg_type: u16, flags: u16, seq: u32) -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched in finish()
        buf.extend_from_slice(&msg_type.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
        Self { buf }
    }

    fn bytes(&mut self, data: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(data);
        self
    }

    /// Appends one `rtattr` padded to 4 bytes.
    fn attr(&mut self, kind: u16, data: &[u8]) -> &mut Self {
        self.buf.extend(rtattr(kind, data));
        self
    }

    fn finish(&mut self) -> Vec<u8> {
        let len = (self.buf.len() as u32).to_ne_bytes();
        self.buf[..4].copy_from_slice(&len);
        std::mem::take(&mut self.buf)
    }
}

/// One `rtattr` padded to 4 bytes; nests are built from these.
fn rtattr(kind: u16, data: &[u8]) -> Vec<u8> {
    let len = 4 + data.len();
    // Attributes here are an interface name (at most 16 bytes) or a nest of a few small ones:
    // the length always fits.
    let mut out = Vec::with_capacity(align4(len));
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(data);
    out.resize(align4(len), 0);
    out
}

fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// `struct ifinfomsg` for interface `index` changing only the bits in `change`.
fn ifinfomsg(index: u32, flags: u32, change: u32) -> Vec<u8> {
    let mut body = vec![AF_UNSPEC, 0];
    body.extend_from_slice(&0u16.to_ne_bytes()); // ifi_type
    body.extend_from_slice(&index.to_ne_bytes());
    body.extend_from_slice(&flags.to_ne_bytes());
    body.extend_from_slice(&change.to_ne_bytes());
    body
}

/// RTM_NEWLINK setting or clearing IFF_UP (`ip link set DEV up|down`).
pub fn set_link_up(seq: u32, index: u32, up: bool) -> Vec<u8> {
    let flags = if up { IFF_UP } else { 0 };
    Request::new(RTM_NEWLINK, 0, seq)
        .bytes(&ifinfomsg(index, flags, IFF_UP))
        .finish()
}

/// RTM_NEWLINK with IFLA_ADDRESS (`ip link set DEV address MAC`).
pub fn set_link_mac(seq: u32, index: u32, mac: [u8; 6]) -> Vec<u8> {
    Request::new(RTM_NEWLINK, 0, seq)
        .bytes(&ifinfomsg(index, 0, 0))
        .attr(IFLA_ADDRESS, &mac)
        .finish()
}

/// RTM_NEWLINK creating the 802.1Q VLAN `name` with `id` on interface `parent`
/// (`ip link add link PARENT name NAME type vlan id ID`); fails with EEXIST when `name` exists.
pub fn add_vlan(seq: u32, parent: u32, name: &str, id: u16) -> Vec<u8> {
    let mut ifname = name.as_bytes().to_vec();
    ifname.push(0);
    let data = rtattr(IFLA_VLAN_ID, &id.to_ne_bytes());
    let mut info = rtattr(IFLA_INFO_KIND, VLAN_KIND);
    info.extend(rtattr(IFLA_INFO_DATA | NLA_F_NESTED, &data));
    Request::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, seq)
        .bytes(&ifinfomsg(0, 0, 0))
        .attr(IFLA_IFNAME, &ifname)
        .attr(IFLA_LINK, &parent.to_ne_bytes())
        .attr(IFLA_LINKINFO | NLA_F_NESTED, &info)
        .finish()
}

/// RTM_NEWADDR (`ip addr replace ADDR/PREFIX brd + dev DEV`), permanent (no lifetimes): the
/// lease is pinned for the life of the NFS root, see README.
pub fn add_address(seq: u32, index: u32, addr: Ipv4Addr, prefix_len: u8) -> Vec<u8> {
    let mut body = vec![AF_INET, prefix_len, 0, RT_SCOPE_UNIVERSE_ADDR];
    body.extend_from_slice(&index.to_ne_bytes());
    let mut req = Request::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, seq);
    req.bytes(&body)
        .attr(IFA_LOCAL, &addr.octets())
        .attr(IFA_ADDRESS, &addr.octets());
    if prefix_len < 31 {
        req.attr(IFA_BROADCAST, &broadcast(addr, prefix_len).octets());
    }
    req.finish()
}

/// RTM_NEWROUTE for 0.0.0.0/0 via `gateway` out of interface `index` (`ip route replace default`).
pub fn add_default_route(seq: u32, index: u32, gateway: Ipv4Addr) -> Vec<u8> {
    let body = [
        AF_INET,
        0, // rtm_dst_len: default route
        0,
        0,
        RT_TABLE_MAIN,
        RTPROT_BOOT,
        RT_SCOPE_UNIVERSE,
        RTN_UNICAST,
        0,
        0,
        0,
        0, // rtm_flags
    ];
    Request::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, seq)
        .bytes(&body)
        .attr(RTA_GATEWAY, &gateway.octets())
        .attr(RTA_OIF, &index.to_ne_bytes())
        .finish()
}

/// The broadcast address of `addr/prefix_len`.
pub fn broadcast(addr: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    let host_bits = u32::MAX.checked_shr(u32::from(prefix_len)).unwrap_or(0);
    Ipv4Addr::from(u32::from(addr) | host_bits)
}

/// What a datagram from the kernel said about request `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// NLMSG_ERROR with error 0.
    Ok,
    /// NLMSG_ERROR with a negative errno.
    Err(Errno),
    /// No acknowledgement for `seq` in this datagram (keep reading).
    None,
}

/// Finds the acknowledgement of request `seq` in one received datagram; malformed data → `None`.
pub fn parse_ack(datagram: &[u8], seq: u32) -> Ack {
    let mut rest = datagram;
    while rest.len() >= NLMSG_HDR_LEN {
        let len = u32_at(rest, 0) as usize;
        if len < NLMSG_HDR_LEN || len > rest.len() {
            return Ack::None;
        }
        let msg_type = u16::from_ne_bytes([rest[4], rest[5]]);
        let msg_seq = u32_at(rest, 8);
        if msg_type == NLMSG_ERROR && msg_seq == seq && len >= NLMSG_HDR_LEN + 4 {
            let code = u32_at(rest, NLMSG_HDR_LEN) as i32;
            return if code == 0 {
                Ack::Ok
            } else {
                Ack::Err(Errno::from_raw_os_error(code.saturating_neg()))
            };
        }
        rest = rest.get(align4(len)..).unwrap_or(&[]);
    }
    Ack::None
}

/// Reads a native-endian u32 at `at`; callers check the length first.
fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(s) = buf.get(at..at + 4) {
        b.copy_from_slice(s);
    }
    u32::from_ne_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(msg: &[u8]) -> (u32, u16, u16, u32) {
        (
            u32_at(msg, 0),
            u16::from_ne_bytes([msg[4], msg[5]]),
            u16::from_ne_bytes([msg[6], msg[7]]),
            u32_at(msg, 8),
        )
    }

    #[test]
    fn link_up_and_down_change_only_iff_up() {
        let up = set_link_up(7, 3, true);
        assert_eq!(header(&up), (32, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, 7));
        assert_eq!(u32_at(&up, 20), 3, "ifi_index");
        assert_eq!(u32_at(&up, 24), IFF_UP, "ifi_flags");
        assert_eq!(u32_at(&up, 28), IFF_UP, "ifi_change");
        let down = set_link_up(8, 3, false);
        assert_eq!(u32_at(&down, 24), 0);
        assert_eq!(u32_at(&down, 28), IFF_UP);
    }

    #[test]
    fn link_mac_carries_a_padded_address_attribute() {
        let msg = set_link_mac(1, 5, [0x52, 0x54, 0, 0, 0, 9]);
        // 16 header + 16 ifinfomsg + 4 rtattr header + 6 MAC padded to 8.
        assert_eq!(msg.len(), 44);
        assert_eq!(header(&msg).0, 44);
        assert_eq!(&msg[32..36], &[10, 0, 1, 0]);
        assert_eq!(&msg[36..42], &[0x52, 0x54, 0, 0, 0, 9]);
        assert_eq!(&msg[42..44], &[0, 0]);
    }

    #[test]
    fn vlan_link_carries_name_parent_and_nested_kind_and_id() {
        let msg = add_vlan(4, 7, "bond0.5", 5);
        let (len, kind, flags, seq) = header(&msg);
        assert_eq!((len as usize, kind, seq), (msg.len(), RTM_NEWLINK, 4));
        assert_eq!(flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        assert_eq!(u32_at(&msg, 20), 0, "a new link has no index yet");
        // IFLA_IFNAME "bond0.5\0": 4 + 8 bytes.
        assert_eq!(&msg[32..36], &[12, 0, IFLA_IFNAME as u8, 0]);
        assert_eq!(&msg[36..44], b"bond0.5\0");
        // IFLA_LINK = the parent's index.
        assert_eq!(&msg[44..48], &[8, 0, IFLA_LINK as u8, 0]);
        assert_eq!(u32_at(&msg, 48), 7);
        // IFLA_LINKINFO { IFLA_INFO_KIND "vlan\0" (4+5 → 12), IFLA_INFO_DATA { IFLA_VLAN_ID } }.
        let nest = |kind: u16| (kind | NLA_F_NESTED).to_ne_bytes();
        assert_eq!(&msg[52..54], &(4u16 + 12 + 12).to_ne_bytes());
        assert_eq!(&msg[54..56], &nest(IFLA_LINKINFO));
        assert_eq!(&msg[56..60], &[9, 0, IFLA_INFO_KIND as u8, 0]);
        assert_eq!(&msg[60..68], b"vlan\0\0\0\0");
        assert_eq!(&msg[68..70], &12u16.to_ne_bytes());
        assert_eq!(&msg[70..72], &nest(IFLA_INFO_DATA));
        assert_eq!(&msg[72..76], &[6, 0, IFLA_VLAN_ID as u8, 0]);
        assert_eq!(&msg[76..78], &5u16.to_ne_bytes());
        assert_eq!(&msg[78..80], &[0, 0], "padding");
        assert_eq!(msg.len(), 80);
    }

    #[test]
    fn address_has_local_address_and_broadcast() {
        let msg = add_address(2, 4, Ipv4Addr::new(10, 0, 2, 15), 24);
        let (len, kind, flags, _) = header(&msg);
        assert_eq!(len as usize, msg.len());
        assert_eq!(kind, RTM_NEWADDR);
        assert_eq!(
            flags,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
        );
        assert_eq!(&msg[16..20], &[AF_INET, 24, 0, 0]);
        assert_eq!(u32_at(&msg, 20), 4);
        assert_eq!(&msg[24..32], &[8, 0, 2, 0, 10, 0, 2, 15]);
        assert_eq!(&msg[32..40], &[8, 0, 1, 0, 10, 0, 2, 15]);
        assert_eq!(&msg[40..48], &[8, 0, 4, 0, 10, 0, 2, 255]);
        let p2p = add_address(2, 4, Ipv4Addr::new(10, 0, 2, 15), 32);
        assert_eq!(p2p.len(), 40, "no broadcast for /32");
    }

    #[test]
    fn default_route_via_gateway_on_interface() {
        let msg = add_default_route(3, 9, Ipv4Addr::new(10, 0, 2, 2));
        assert_eq!(header(&msg).1, RTM_NEWROUTE);
        assert_eq!(
            &msg[16..24],
            &[AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, 0, RTN_UNICAST]
        );
        assert_eq!(&msg[28..36], &[8, 0, 5, 0, 10, 0, 2, 2]);
        assert_eq!(&msg[36..40], &[8, 0, 4, 0]);
        assert_eq!(u32_at(&msg, 40), 9);
    }

    #[test]
    fn broadcast_addresses() {
        let a = Ipv4Addr::new(10, 1, 2, 3);
        assert_eq!(broadcast(a, 8), Ipv4Addr::new(10, 255, 255, 255));
        assert_eq!(broadcast(a, 32), a);
        assert_eq!(broadcast(a, 0), Ipv4Addr::BROADCAST);
    }

    fn error_msg(seq: u32, code: i32) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&36u32.to_ne_bytes());
        m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&code.to_ne_bytes());
        m.extend_from_slice(&[0; 16]);
        m
    }

    #[test]
    fn acks_are_matched_by_sequence_number() {
        assert_eq!(parse_ack(&error_msg(5, 0), 5), Ack::Ok);
        assert_eq!(parse_ack(&error_msg(5, -17), 5), Ack::Err(Errno::EXIST));
        assert_eq!(parse_ack(&error_msg(4, 0), 5), Ack::None);
        let mut two = error_msg(4, -1);
        two.extend(error_msg(5, -19));
        assert_eq!(parse_ack(&two, 5), Ack::Err(Errno::NODEV));
    }

    #[test]
    fn malformed_datagrams_are_not_acks() {
        assert_eq!(parse_ack(&[], 1), Ack::None);
        assert_eq!(parse_ack(&[1, 2, 3], 1), Ack::None);
        let mut m = error_msg(1, 0);
        m[0] = 200; // length beyond the datagram
        assert_eq!(parse_ack(&m, 1), Ack::None);
        let mut m = error_msg(1, 0);
        m[..4].copy_from_slice(&3u32.to_ne_bytes()); // length below a header
        assert_eq!(parse_ack(&m, 1), Ack::None);
    }
}
