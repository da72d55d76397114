//! Tests of the DHCPv4 codec ([`super::message`], [`super::options`]): hand-built edge cases
//! (pad, end, truncation, overload, long options), and property-style loops driven by the
//! crate's deterministic xorshift generator: random messages round-trip encode → decode, and
//! thousands of random or mutated buffers decode to a value or an error, never a panic.

use std::net::Ipv4Addr;

use super::codes::{self, LengthRule, MessageType};
use super::message::{CodecError, Message, BOOTREPLY, MAGIC_COOKIE, OPTIONS_OFFSET};
use super::options::{Area, Options};
use crate::backoff::Jitter;

/// A header with the cookie and then `options` as raw bytes.
fn raw(options: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; OPTIONS_OFFSET];
    b[0] = BOOTREPLY;
    b[1] = 1;
    b[2] = 6;
    b[236..240].copy_from_slice(&MAGIC_COOKIE);
    b.extend_from_slice(options);
    b
}

fn opts_of(options: &[u8]) -> Result<Options, CodecError> {
    Message::decode(&raw(options)).map(|m| m.options)
}

#[test]
fn short_buffers_and_bad_cookies_are_named() {
    for len in [0, 1, 239] {
        assert_eq!(
            Message::decode(&vec![0; len]),
            Err(CodecError::Short { len })
        );
    }
    let mut b = raw(&[255]);
    b[236..240].copy_from_slice(&[1, 2, 3, 4]);
    let e = Message::decode(&b).expect_err("cookie");
    assert_eq!(e.to_string(), "magic cookie 1.2.3.4 is not 99.130.83.99");
    b[236..240].copy_from_slice(&MAGIC_COOKIE);
    b[2] = 17;
    assert_eq!(Message::decode(&b), Err(CodecError::HardwareLength(17)));
}

#[test]
fn pad_and_end_and_a_missing_end() {
    let o = opts_of(&[0, 0, 53, 1, 2, 0, 54, 4, 10, 0, 2, 2, 255, 7, 7, 7]).expect("opts");
    assert_eq!(o.message_type(), Ok(Some(MessageType::Offer)));
    assert_eq!(
        o.ipv4(codes::SERVER_IDENTIFIER),
        Ok(Some(Ipv4Addr::new(10, 0, 2, 2)))
    );
    assert_eq!(o.len(), 2, "bytes after End are ignored");
    // No End at all: the end of the area ends the options.
    assert_eq!(opts_of(&[53, 1, 5]).map(|o| o.len()), Ok(1));
    assert_eq!(opts_of(&[]).map(|o| o.is_empty()), Ok(true));
}

#[test]
fn truncated_options_are_errors_with_offsets() {
    assert_eq!(
        opts_of(&[0, 54]),
        Err(CodecError::NoLength {
            code: 54,
            area: Area::Options,
            offset: 1
        })
    );
    let e = opts_of(&[53, 1, 2, 54, 4, 10, 0]).expect_err("overrun");
    assert_eq!(
        e,
        CodecError::Overrun {
            code: 54,
            area: Area::Options,
            offset: 3,
            len: 4,
            left: 2
        }
    );
    assert_eq!(
        e.to_string(),
        "option 54 at byte 3 of the options field claims 4 bytes but 2 remain"
    );
    assert_eq!(
        opts_of(&[1, 0, 255]),
        Err(CodecError::Length {
            code: 1,
            name: "subnet mask",
            len: 0,
            rule: LengthRule::Exactly(4)
        })
    );
    assert_eq!(
        opts_of(&[3, 6, 1, 2, 3, 4, 5, 6, 255]).map_err(|e| e.to_string()),
        Err("option 3 (router) has length 6 (must be a non-zero multiple of 4)".into())
    );
}

#[test]
fn split_options_are_concatenated_and_long_ones_split_on_encode() {
    // RFC 3396: two instances of option 6 are one list.
    let o = opts_of(&[6, 4, 1, 1, 1, 1, 53, 1, 5, 6, 4, 2, 2, 2, 2, 255]).expect("opts");
    assert_eq!(
        o.ipv4s(codes::DOMAIN_NAME_SERVER),
        Ok(vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2)])
    );
    let mut m = Message::new(BOOTREPLY);
    let long: String = "x".repeat(600);
    m.options.insert_str(codes::ROOT_PATH, &long);
    let bytes = m.encode();
    let area = &bytes[OPTIONS_OFFSET..];
    assert_eq!(&area[..2], &[17, 255]);
    assert_eq!(&area[257..259], &[17, 255]);
    assert_eq!(&area[514..516], &[17, 90]);
    assert_eq!(area.len(), 3 * 2 + 600 + 1);
    let back = Message::decode(&bytes).expect("decode");
    assert_eq!(back.options.string(codes::ROOT_PATH), Ok(Some(long)));
}

#[test]
fn option_overload_reads_file_then_sname_and_is_checked() {
    let mut b = raw(&[52, 1, 3, 53, 1, 5, 6, 4, 1, 1, 1, 1, 255]);
    // file (offset 108): a second DNS server and a host name; sname (offset 44): a third server.
    b[108..120].copy_from_slice(&[6, 4, 2, 2, 2, 2, 12, 2, b'h', b'1', 255, 0]);
    b[44..51].copy_from_slice(&[0, 6, 4, 3, 3, 3, 3]);
    let m = Message::decode(&b).expect("overloaded");
    let dns = m.options.ipv4s(codes::DOMAIN_NAME_SERVER).expect("dns");
    assert_eq!(dns.len(), 3);
    assert_eq!(
        dns[1..],
        [Ipv4Addr::new(2, 2, 2, 2), Ipv4Addr::new(3, 3, 3, 3)]
    );
    assert_eq!(m.options.string(codes::HOSTNAME), Ok(Some("h1".into())));
    assert_eq!(
        m.options.get(codes::OPTION_OVERLOAD),
        None,
        "52 is consumed"
    );
    // Only file (1): sname is not read as options.
    b[OPTIONS_OFFSET + 2] = 1;
    let m = Message::decode(&b).expect("file only");
    assert_eq!(
        m.options.ipv4s(codes::DOMAIN_NAME_SERVER).map(|d| d.len()),
        Ok(2)
    );
    for (value, want) in [
        (vec![52, 1, 4], CodecError::Overload(4)),
        (
            vec![52, 2, 1, 1],
            CodecError::Length {
                code: 52,
                name: "option overload",
                len: 2,
                rule: LengthRule::Exactly(1),
            },
        ),
    ] {
        assert_eq!(Message::decode(&raw(&value)), Err(want));
    }
    let mut nested = raw(&[52, 1, 1, 255]);
    nested[108..111].copy_from_slice(&[52, 1, 2]);
    let e = Message::decode(&nested).expect_err("nested overload");
    assert_eq!(e, CodecError::NestedOverload(Area::File));
    assert_eq!(
        e.to_string(),
        "option 52 (option overload) in the file field; it is allowed only in the options field"
    );
    let mut cut = raw(&[52, 1, 2, 255]);
    cut[44 + 62..44 + 64].copy_from_slice(&[56, 9]);
    assert_eq!(
        Message::decode(&cut),
        Err(CodecError::Overrun {
            code: 56,
            area: Area::Sname,
            offset: 62,
            len: 9,
            left: 0
        })
    );
}

/// A value of a valid length for option `code`.
fn random_value(rng: &mut Jitter, code: u8) -> Vec<u8> {
    let len = match codes::length_rule(code) {
        Some(LengthRule::Exactly(n)) => n,
        Some(LengthRule::AtLeast(n)) => n + (rng.next_u64() % 40) as usize,
        Some(LengthRule::ListOf(n)) => n * (1 + (rng.next_u64() % 5) as usize),
        // Unknown options: any length, sometimes more than one instance holds (RFC 3396).
        None => (rng.next_u64() % 600) as usize,
    };
    let mut v: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    if code == codes::MESSAGE_TYPE {
        v = vec![1 + (rng.next_u64() % 8) as u8];
    }
    v
}

fn random_message(rng: &mut Jitter) -> Message {
    let mut m = Message::new(1 + (rng.next_u64() % 2) as u8);
    let mut next = || rng.next_u64();
    m.htype = next() as u8;
    m.hlen = (next() % 17) as u8;
    m.hops = next() as u8;
    m.xid = next() as u32;
    m.secs = next() as u16;
    m.flags = next() as u16;
    m.ciaddr = Ipv4Addr::from(next() as u32);
    m.yiaddr = Ipv4Addr::from(next() as u32);
    m.siaddr = Ipv4Addr::from(next() as u32);
    m.giaddr = Ipv4Addr::from(next() as u32);
    m.chaddr.iter_mut().for_each(|b| *b = next() as u8);
    m.sname.iter_mut().for_each(|b| *b = next() as u8);
    m.file.iter_mut().for_each(|b| *b = next() as u8);
    for _ in 0..(rng.next_u64() % 12) {
        // Known codes half the time, so their length rules are exercised.
        let code = if rng.next_u64() % 2 == 0 {
            [1, 3, 6, 12, 15, 17, 50, 51, 53, 54, 55, 56, 57, 58, 59, 61]
                [(rng.next_u64() % 16) as usize]
        } else {
            1 + (rng.next_u64() % 254) as u8
        };
        if code == codes::OPTION_OVERLOAD {
            continue; // the encoder never overloads; decode consumes 52
        }
        let value = random_value(rng, code);
        m.options.insert(code, value);
    }
    m
}

#[test]
fn random_messages_round_trip() {
    let mut rng = Jitter::new(2131);
    for _ in 0..3000 {
        let m = random_message(&mut rng);
        let bytes = m.encode();
        assert_eq!(Message::decode(&bytes).as_ref(), Ok(&m), "{bytes:02x?}");
    }
}

#[test]
fn random_and_mutated_buffers_never_panic() {
    let mut rng = Jitter::new(3396);
    let mut decoded = 0;
    for round in 0..20_000u32 {
        let mut bytes = if round % 4 == 0 {
            // Pure noise with a valid header, so the option walker sees it.
            let len = OPTIONS_OFFSET + (rng.next_u64() % 400) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            b[2] %= 17;
            b[236..240].copy_from_slice(&MAGIC_COOKIE);
            b
        } else {
            random_message(&mut rng).encode()
        };
        // Flip, overwrite, truncate, or write small numbers where lengths and codes live.
        for _ in 0..(1 + rng.next_u64() % 8) {
            let at = (rng.next_u64() as usize) % bytes.len();
            bytes[at] = match rng.next_u64() % 4 {
                0 => bytes[at] ^ 0xff,
                1 => (rng.next_u64() % 8) as u8,
                2 => [0, 52, 53, 255][(rng.next_u64() % 4) as usize],
                _ => rng.next_u64() as u8,
            };
        }
        if rng.next_u64() % 3 == 0 {
            bytes.truncate((rng.next_u64() as usize) % (bytes.len() + 1));
        }
        if let Ok(m) = Message::decode(&bytes) {
            decoded += 1;
            // Whatever decodes re-encodes to something that decodes the same.
            assert_eq!(Message::decode(&m.encode()).as_ref(), Ok(&m));
            let o = &m.options;
            let _ = (
                o.message_type(),
                o.ipv4(1),
                o.ipv4s(3),
                o.u32(51),
                o.string(17),
            );
        }
    }
    assert!(decoded > 1000, "only {decoded} buffers decoded");
}
