//! Ethernet + IPv4 + UDP framing for the DHCP client's AF_PACKET socket: the interface has no
//! address yet, so the client builds and checks the headers itself (RFC 791, RFC 768, RFC 1071
//! checksums).

use std::net::Ipv4Addr;

/// Ethertype of IPv4.
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETH_HEADER_LEN: usize = 14;
const IPV4_MIN_HEADER_LEN: usize = 20;
const UDP_HEADER_LEN: usize = 8;
const IPPROTO_UDP: u8 = 17;
/// TTL of our datagrams: the RFC 1700 default; DHCP does not cross routers without a relay.
const IP_TTL: u8 = 64;
/// The all-ones broadcast MAC.
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// Why a received frame is not a UDP datagram for us.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes is too short for {what}")]
    TooShort { what: &'static str, len: usize },
    #[error("ethertype {0:#06x} is not IPv4")]
    NotIpv4(u16),
    #[error("IP version {0} is not 4")]
    IpVersion(u8),
    #[error("bad IPv4 header length {0}")]
    IpHeaderLength(usize),
    #[error("bad IPv4 header checksum")]
    IpChecksum,
    #[error("IPv4 fragment (fragments are not reassembled)")]
    Fragment,
    #[error("IP protocol {0} is not UDP")]
    NotUdp(u8),
    #[error("bad UDP length {0}")]
    UdpLength(usize),
    #[error("bad UDP checksum")]
    UdpChecksum,
}

/// A UDP datagram found in a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram<'a> {
    pub src_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

/// The RFC 1071 one's-complement sum of `data` (odd length padded with a zero byte).
fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        acc += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(u16::from_be_bytes([*last, 0]));
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The Internet checksum of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    fold(sum16(data, 0))
}

/// The UDP checksum over the pseudo-header and the UDP header + payload (`udp`, with its
/// checksum field as found); 0 is sent as 0xffff (RFC 768).
fn udp_checksum(src: Ipv4Addr, dst: Ipv4Addr, udp: &[u8]) -> u16 {
    let c = fold(sum16(udp, sum16(&pseudo(src, dst, udp.len()), 0)));
    if c == 0 {
        0xffff
    } else {
        c
    }
}

/// Builds an Ethernet frame carrying one UDP datagram.
pub fn build(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    payload: &[u8],
) -> Vec<u8> {
    let udp_len = UDP_HEADER_LEN + payload.len();
    let ip_len = IPV4_MIN_HEADER_LEN + udp_len;
    let mut f = Vec::with_capacity(ETH_HEADER_LEN + ip_len);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    let mut ip = [0u8; IPV4_MIN_HEADER_LEN];
    ip[0] = 0x45; // version 4, 5 words
    ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = IP_TTL;
    ip[9] = IPPROTO_UDP;
    ip[12..16].copy_from_slice(&src.0.octets());
    ip[16..20].copy_from_slice(&dst.0.octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&src.1.to_be_bytes());
    udp.extend_from_slice(&dst.1.to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let c = udp_checksum(src.0, dst.0, &udp);
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&udp);
    f
}

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(s) => u16::from_be_bytes([s[0], s[1]]),
        None => 0,
    }
}

fn ipv4_at(b: &[u8], at: usize) -> Ipv4Addr {
    match b.get(at..at + 4) {
        Some(s) => Ipv4Addr::new(s[0], s[1], s[2], s[3]),
        None => Ipv4Addr::UNSPECIFIED,
    }
}

/// Parses and verifies an Ethernet/IPv4/UDP frame. Trailing Ethernet padding is ignored.
pub fn parse(frame: &[u8]) -> Result<Datagram<'_>, FrameError> {
    let too_short = |what| FrameError::TooShort {
        what,
        len: frame.len(),
    };
    let eth = frame
        .get(..ETH_HEADER_LEN)
        .ok_or_else(|| too_short("Ethernet"))?;
    let ethertype = be16(eth, 12);
    if ethertype != ETHERTYPE_IPV4 {
        return Err(FrameError::NotIpv4(ethertype));
    }
    let mut src_mac = [0u8; 6];
    src_mac.copy_from_slice(&eth[6..12]);
    let ip = &frame[ETH_HEADER_LEN..];
    let first = *ip.first().ok_or_else(|| too_short("IPv4"))?;
    if first >> 4 != 4 {
        return Err(FrameError::IpVersion(first >> 4));
    }
    let ihl = usize::from(first & 0x0f) * 4;
    let total = usize::from(be16(ip, 2));
    if ihl < IPV4_MIN_HEADER_LEN || ip.len() < ihl {
        return Err(FrameError::IpHeaderLength(ihl));
    }
    if total < ihl || total > ip.len() {
        return Err(too_short("the IPv4 total length"));
    }
    let header = &ip[..ihl];
    if checksum(header) != 0 {
        return Err(FrameError::IpChecksum);
    }
    let frag = be16(header, 6);
    if frag & 0x2000 != 0 || frag & 0x1fff != 0 {
        return Err(FrameError::Fragment);
    }
    if header[9] != IPPROTO_UDP {
        return Err(FrameError::NotUdp(header[9]));
    }
    let src_ip = ipv4_at(header, 12);
    let dst_ip = ipv4_at(header, 16);
    let udp = &ip[ihl..total];
    if udp.len() < UDP_HEADER_LEN {
        return Err(too_short("UDP"));
    }
    let udp_len = usize::from(be16(udp, 4));
    if udp_len < UDP_HEADER_LEN || udp_len > udp.len() {
        return Err(FrameError::UdpLength(udp_len));
    }
    let udp = &udp[..udp_len];
    let field = be16(udp, 6);
    let pseudo_sum = sum16(&pseudo(src_ip, dst_ip, udp_len), 0);
    // A frame from a local sender with checksum offload (veth, virtio) is seen by AF_PACKET
    // before the checksum is filled in (CHECKSUM_PARTIAL): the field then holds the folded,
    // uncomplemented pseudo-header sum. Kernel clients read TP_STATUS_CSUMNOTREADY from
    // PACKET_AUXDATA instead; rustix cannot parse that control message, so that one exact value
    // is accepted. Any other mismatch is a corrupt datagram.
    let partial = !fold(pseudo_sum);
    if field != 0 && field != partial && fold(sum16(udp, pseudo_sum)) != 0 {
        return Err(FrameError::UdpChecksum);
    }
    Ok(Datagram {
        src_mac,
        src_ip,
        dst_ip,
        src_port: be16(udp, 0),
        dst_port: be16(udp, 2),
        payload: &udp[UDP_HEADER_LEN..],
    })
}

fn pseudo(src: Ipv4Addr, dst: Ipv4Addr, udp_len: usize) -> [u8; 12] {
    let mut p = [0u8; 12];
    p[..4].copy_from_slice(&src.octets());
    p[4..8].copy_from_slice(&dst.octets());
    p[9] = IPPROTO_UDP;
    p[10..12].copy_from_slice(&(udp_len as u16).to_be_bytes());
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 1];
    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);

    fn sample() -> Vec<u8> {
        build(
            MAC,
            BROADCAST_MAC,
            (Ipv4Addr::UNSPECIFIED, 68),
            (Ipv4Addr::BROADCAST, 67),
            b"hello dhcp",
        )
    }

    #[test]
    fn rfc1071_example_checksum() {
        // RFC 1071 section 3 example bytes: sum 0xddf2, checksum 0x220d.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        assert_eq!(checksum(&[0xff]), 0x00ff);
    }

    #[test]
    fn built_frames_parse_back_with_valid_checksums() {
        let f = sample();
        assert_eq!(f.len(), 14 + 20 + 8 + 10);
        assert_eq!(&f[..6], &BROADCAST_MAC);
        assert_eq!(checksum(&f[14..34]), 0, "IP header checksum verifies");
        let d = parse(&f).expect("parses");
        assert_eq!(d.src_mac, MAC);
        assert_eq!(
            (d.src_ip, d.dst_ip),
            (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST)
        );
        assert_eq!((d.src_port, d.dst_port), (68, 67));
        assert_eq!(d.payload, b"hello dhcp");
        let mut padded = f.clone();
        padded.extend_from_slice(&[0; 8]);
        assert_eq!(
            parse(&padded).expect("padding ignored").payload,
            b"hello dhcp"
        );
        let odd = build(
            MAC,
            MAC,
            (SERVER, 67),
            (Ipv4Addr::new(10, 0, 2, 15), 68),
            b"odd",
        );
        assert_eq!(parse(&odd).expect("odd payload").payload, b"odd");
    }

    #[test]
    fn malformed_frames_are_rejected_not_panicked_on() {
        let good = sample();
        let mut cases: Vec<(Vec<u8>, FrameError)> = Vec::new();
        cases.push((
            good[..10].to_vec(),
            FrameError::TooShort {
                what: "Ethernet",
                len: 10,
            },
        ));
        cases.push((
            good[..14].to_vec(),
            FrameError::TooShort {
                what: "IPv4",
                len: 14,
            },
        ));
        let mut arp = good.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        cases.push((arp, FrameError::NotIpv4(0x0806)));
        let mut v6 = good.clone();
        v6[14] = 0x65;
        cases.push((v6, FrameError::IpVersion(6)));
        let mut ihl = good.clone();
        ihl[14] = 0x44;
        cases.push((ihl, FrameError::IpHeaderLength(16)));
        let mut sum = good.clone();
        sum[14 + 8] = 1; // TTL changed, checksum not
        cases.push((sum, FrameError::IpChecksum));
        let mut udp = good.clone();
        let last = udp.len() - 1;
        udp[last] ^= 0x55;
        cases.push((udp, FrameError::UdpChecksum));
        let truncated = good[..good.len() - 4].to_vec();
        cases.push((
            truncated.clone(),
            FrameError::TooShort {
                what: "the IPv4 total length",
                len: truncated.len(),
            },
        ));
        for (frame, want) in cases {
            assert_eq!(parse(&frame), Err(want.clone()), "{want}");
        }
        assert_eq!(FrameError::UdpChecksum.to_string(), "bad UDP checksum");
    }

    #[test]
    fn fragments_and_other_protocols_are_rejected() {
        let reheader = |f: &mut Vec<u8>| {
            f[24..26].copy_from_slice(&[0, 0]);
            let c = checksum(&f[14..34]);
            f[24..26].copy_from_slice(&c.to_be_bytes());
        };
        let mut frag = sample();
        frag[20] = 0x20; // more fragments
        reheader(&mut frag);
        assert_eq!(parse(&frag), Err(FrameError::Fragment));
        let mut tcp = sample();
        tcp[23] = 6;
        reheader(&mut tcp);
        assert_eq!(parse(&tcp), Err(FrameError::NotUdp(6)));
        let mut partial = sample();
        let d = parse(&partial).expect("valid");
        let pseudo_sum = sum16(&pseudo(d.src_ip, d.dst_ip, 8 + d.payload.len()), 0);
        partial[40..42].copy_from_slice(&(!fold(pseudo_sum)).to_be_bytes());
        assert!(
            parse(&partial).is_ok(),
            "offloaded (partial) checksum accepted"
        );
        partial[40] ^= 1;
        assert_eq!(parse(&partial), Err(FrameError::UdpChecksum));
        let mut no_sum = sample();
        no_sum[40..42].copy_from_slice(&[0, 0]);
        assert!(parse(&no_sum).is_ok(), "UDP checksum 0 means none");
        let mut bad_len = sample();
        bad_len[38..40].copy_from_slice(&200u16.to_be_bytes());
        assert_eq!(parse(&bad_len), Err(FrameError::UdpLength(200)));
    }
}
