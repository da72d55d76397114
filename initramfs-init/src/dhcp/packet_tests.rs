//! Tests of [`super::packet`]: the requests we send, and the validation of replies built by the
//! fake server (and broken on purpose).

use std::net::Ipv4Addr;

use super::codes::{self, LengthRule, MessageType};
use super::fake_server::{FakeDhcpServer, ServerBehaviour};
use super::frame;
use super::message::{CodecError, Message, BOOTREQUEST, HTYPE_ETHERNET};
use super::packet::*;

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
    let msg = Message::decode(d.payload).expect("decode");
    assert_eq!(
        (msg.op, msg.htype, msg.hlen),
        (BOOTREQUEST, HTYPE_ETHERNET, 6)
    );
    assert_eq!((msg.xid, msg.secs, msg.flags), (XID, 3, 0));
    assert_eq!(msg.chaddr(), &MAC);
    assert_eq!(msg.message_type(), Ok(Some(MessageType::Discover)));
    assert_eq!(
        msg.options.get(codes::PARAMETER_REQUEST_LIST),
        Some(&[1, 3, 6, 12, 15, 17][..])
    );
    assert_eq!(msg.options.u16(codes::MAX_MESSAGE_SIZE), Ok(Some(1472)));

    let offer = Offer {
        address: Ipv4Addr::new(10, 0, 2, 15),
        server_id: Ipv4Addr::new(10, 0, 2, 2),
    };
    let req = request(XID, MAC, 4, &offer).expect("request");
    assert_eq!((req.htype, req.flags), (HTYPE_ETHERNET, 0));
    assert_eq!(req.message_type(), Ok(Some(MessageType::Request)));
    assert_eq!(req.ciaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(
        req.options.ipv4(codes::REQUESTED_IP_ADDRESS),
        Ok(Some(offer.address))
    );
    assert_eq!(
        req.options.ipv4(codes::SERVER_IDENTIFIER),
        Ok(Some(offer.server_id))
    );
    // What goes on the wire decodes back to the same message.
    assert_eq!(Message::decode(&req.encode()), Ok(req));
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

/// `s`'s ACK with the End option replaced by `extra` (and End), framed.
fn ack_with(s: &FakeDhcpServer, extra: &[u8]) -> Vec<u8> {
    let ack = s.reply_frame(MessageType::Ack, XID, MAC);
    let mut payload = ack[42..].to_vec();
    let end = payload
        .iter()
        .rposition(|b| *b == codes::END)
        .expect("end option");
    payload.truncate(end);
    payload.extend_from_slice(extra);
    payload.push(codes::END);
    frame::build(MAC, MAC, (s.server_id, 67), (s.address, 68), &payload)
}

#[test]
fn a_huge_hlen_is_rejected_by_the_decoder() {
    let mut ack = server().reply_frame(MessageType::Ack, XID, MAC);
    ack[42 + 2] = 249;
    ack[40..42].copy_from_slice(&[0, 0]);
    let e = parse_reply(&ack, XID, MAC).expect_err("hlen 249");
    assert_eq!(e, PacketError::Decode(CodecError::HardwareLength(249)));
    assert_eq!(
        e.to_string(),
        "undecodable DHCP message: hlen 249 is longer than the 16-byte chaddr field"
    );
    ack[42 + 2] = 16;
    assert_eq!(
        parse_reply(&ack, XID, MAC),
        Err(PacketError::HardwareLength(16))
    );
}

#[test]
fn malformed_options_are_rejected_naming_the_option() {
    let s = server();
    // A 3-byte server identifier (needs 4), after the real one: concatenated to 7 (RFC 3396).
    let e = parse_reply(&ack_with(&s, &[54, 3, 1, 2, 3]), XID, MAC).expect_err("7-byte id");
    assert_eq!(
        e,
        PacketError::Decode(CodecError::Length {
            code: 54,
            name: "server identifier",
            len: 7,
            rule: LengthRule::Exactly(4)
        })
    );
    assert_eq!(
        e.to_string(),
        "undecodable DHCP message: option 54 (server identifier) has length 7 (must be 4)"
    );
    // A zero-length host name (RFC 2132 section 3.14: at least 1).
    let e = parse_reply(&ack_with(&s, &[12, 0]), XID, MAC).expect_err("empty hostname");
    assert_eq!(
        e.to_string(),
        "undecodable DHCP message: option 12 (host name) has length 0 (must be at least 1)"
    );
    // A host name that is not UTF-8.
    let e = parse_reply(&ack_with(&s, &[12, 2, 0xc3, 0x28]), XID, MAC).expect_err("latin");
    assert_eq!(
        e.to_string(),
        "undecodable DHCP message: option 12 (host name) is not utf-8"
    );
    // Unknown options of any length pass through (dhcproto asserted on option 94's).
    let Ok(Reply::Ack(_)) = parse_reply(&ack_with(&s, &[94, 2, 1, 2, 80, 0]), XID, MAC) else {
        panic!("unknown options are not checked");
    };
    // An unknown message type.
    let mut odd = ack_with(&s, &[]);
    let at = 42 + 240 + 2; // the message type is the first option
    assert_eq!(odd[at - 2..at], [53, 1]);
    odd[at] = 9;
    odd[40..42].copy_from_slice(&[0, 0]);
    assert_eq!(
        parse_reply(&odd, XID, MAC),
        Err(PacketError::Decode(CodecError::UnknownMessageType(9)))
    );
    // Valid but unexpected types are named.
    let decline = {
        let mut m = Message::decode(&ack_with(&s, &[])[42..]).expect("ack");
        m.options.insert_message_type(MessageType::Decline);
        frame::build(MAC, MAC, (s.server_id, 67), (s.address, 68), &m.encode())
    };
    assert_eq!(
        parse_reply(&decline, XID, MAC).map_err(|e| e.to_string()),
        Err("unexpected message type Decline".into())
    );
}

#[test]
fn hostname_and_domain_are_read_without_trailing_nuls() {
    let s = server();
    let f = ack_with(&s, &[12, 6, b'n', b'o', b'd', b'e', b'1', 0, 15, 1, 0]);
    let Ok(Reply::Ack(info)) = parse_reply(&f, XID, MAC) else {
        panic!("ack with hostname");
    };
    assert_eq!(info.hostname.as_deref(), Some("node1"));
    assert_eq!(info.domain, None);
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
