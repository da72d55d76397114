//! The options of a DHCPv4 message (RFC 2132): the type-length-value walk over an options area
//! with pad and end, RFC 3396 concatenation of an option split over several instances, the
//! length rules of [`super::codes`], typed accessors, and the encoder.
//!
//! Decoding is strict about structure and lenient about absence: an option whose length byte is
//! missing or whose value runs past the end of its area is an error naming the option, its offset
//! and the area; a missing End is tolerated (the area's end is the end; dhcproto, which this
//! replaces, accepted it too, and some embedded servers omit it). Bytes after End are pad.

use std::fmt;
use std::net::Ipv4Addr;

use super::codes::{self, LengthRule, MessageType, END, MESSAGE_TYPE, PAD};
use super::message::CodecError;

/// Longest value one option instance carries: its length is a single byte. Longer values are
/// split into consecutive instances of the same code (RFC 3396 section 5).
const MAX_INSTANCE_LEN: usize = 255;

/// Which field of the message an option came from. RFC 3396 section 5 concatenates in this
/// order: options, then file, then sname (the latter two only when option 52 says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Options,
    File,
    Sname,
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Options => "options field",
            Self::File => "file field",
            Self::Sname => "sname field",
        })
    }
}

/// The options of one message, one entry per code, in order of first appearance; values are
/// already concatenated (RFC 3396), without pad, end or option 52.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    entries: Vec<(u8, Vec<u8>)>,
}

impl Options {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The raw value of option `code`.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    /// `(code, value)` in message order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.entries.iter().map(|(c, v)| (*c, v.as_slice()))
    }

    /// Sets option `code` to `value`, in place if present, else last. Pad and End are not
    /// options with values: inserting them does nothing.
    pub fn insert(&mut self, code: u8, value: Vec<u8>) {
        if code == PAD || code == END {
            return;
        }
        match self.entries.iter_mut().find(|(c, _)| *c == code) {
            Some((_, v)) => *v = value,
            None => self.entries.push((code, value)),
        }
    }

    pub fn remove(&mut self, code: u8) -> Option<Vec<u8>> {
        let at = self.entries.iter().position(|(c, _)| *c == code)?;
        Some(self.entries.remove(at).1)
    }

    pub fn insert_message_type(&mut self, kind: MessageType) {
        self.insert(MESSAGE_TYPE, vec![kind.to_u8()]);
    }

    pub fn insert_ipv4(&mut self, code: u8, addr: Ipv4Addr) {
        self.insert(code, addr.octets().to_vec());
    }

    pub fn insert_ipv4s(&mut self, code: u8, addrs: &[Ipv4Addr]) {
        self.insert(code, addrs.iter().flat_map(|a| a.octets()).collect());
    }

    pub fn insert_u16(&mut self, code: u8, v: u16) {
        self.insert(code, v.to_be_bytes().to_vec());
    }

    pub fn insert_u32(&mut self, code: u8, v: u32) {
        self.insert(code, v.to_be_bytes().to_vec());
    }

    pub fn insert_str(&mut self, code: u8, s: &str) {
        self.insert(code, s.as_bytes().to_vec());
    }

    /// Option 53.
    pub fn message_type(&self) -> Result<Option<MessageType>, CodecError> {
        let Some([v]) = self.fixed::<1>(MESSAGE_TYPE)? else {
            return Ok(None);
        };
        MessageType::from_u8(v)
            .map(Some)
            .ok_or(CodecError::UnknownMessageType(v))
    }

    /// A 4-byte address option (mask, server identifier, requested address).
    pub fn ipv4(&self, code: u8) -> Result<Option<Ipv4Addr>, CodecError> {
        Ok(self.fixed::<4>(code)?.map(Ipv4Addr::from))
    }

    /// An address-list option (routers, name servers); empty when absent.
    pub fn ipv4s(&self, code: u8) -> Result<Vec<Ipv4Addr>, CodecError> {
        let Some(v) = self.get(code) else {
            return Ok(Vec::new());
        };
        check(code, v.len(), LengthRule::ListOf(4))?;
        Ok(v.chunks_exact(4)
            .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
            .collect())
    }

    pub fn u16(&self, code: u8) -> Result<Option<u16>, CodecError> {
        Ok(self.fixed::<2>(code)?.map(u16::from_be_bytes))
    }

    pub fn u32(&self, code: u8) -> Result<Option<u32>, CodecError> {
        Ok(self.fixed::<4>(code)?.map(u32::from_be_bytes))
    }

    /// A text option (host name, domain, root path, message), as sent (NULs included).
    pub fn string(&self, code: u8) -> Result<Option<String>, CodecError> {
        let Some(v) = self.get(code) else {
            return Ok(None);
        };
        String::from_utf8(v.to_vec())
            .map(Some)
            .map_err(|_| CodecError::NotUtf8 {
                code,
                name: codes::name(code),
            })
    }

    fn fixed<const N: usize>(&self, code: u8) -> Result<Option<[u8; N]>, CodecError> {
        let Some(v) = self.get(code) else {
            return Ok(None);
        };
        <[u8; N]>::try_from(v)
            .map(Some)
            .map_err(|_| length_error(code, v.len(), LengthRule::Exactly(N)))
    }

    /// Walks one options area (RFC 2132 section 2), appending to what earlier areas gave:
    /// a code seen again has its value concatenated (RFC 3396 section 7).
    pub(super) fn parse_area(&mut self, bytes: &[u8], area: Area) -> Result<(), CodecError> {
        let mut i = 0;
        while let Some(&code) = bytes.get(i) {
            match code {
                PAD => i += 1,
                END => return Ok(()),
                _ => {
                    let len = usize::from(*bytes.get(i + 1).ok_or(CodecError::NoLength {
                        code,
                        area,
                        offset: i,
                    })?);
                    let start = i + 2;
                    let value = bytes.get(start..start + len).ok_or(CodecError::Overrun {
                        code,
                        area,
                        offset: i,
                        len,
                        left: bytes.len().saturating_sub(start),
                    })?;
                    if code == codes::OPTION_OVERLOAD && area != Area::Options {
                        return Err(CodecError::NestedOverload(area));
                    }
                    match self.entries.iter_mut().find(|(c, _)| *c == code) {
                        Some((_, v)) => v.extend_from_slice(value),
                        None => self.entries.push((code, value.to_vec())),
                    }
                    i = start + len;
                }
            }
        }
        Ok(())
    }

    /// Checks every known option against its RFC 2132 length, and option 53's value.
    pub(super) fn validate(&self) -> Result<(), CodecError> {
        for (code, value) in self.iter() {
            if let Some(rule) = codes::length_rule(code) {
                check(code, value.len(), rule)?;
            }
        }
        self.message_type().map(|_| ())
    }

    /// Appends the options, each split into 255-byte instances (RFC 3396), and End.
    pub(super) fn encode_into(&self, out: &mut Vec<u8>) {
        for (code, value) in self.iter() {
            if value.is_empty() {
                out.extend_from_slice(&[code, 0]);
            }
            for chunk in value.chunks(MAX_INSTANCE_LEN) {
                // `chunks` of 255 bytes: the length always fits in the length byte.
                let len = u8::try_from(chunk.len()).unwrap_or(u8::MAX);
                out.extend_from_slice(&[code, len]);
                out.extend_from_slice(chunk);
            }
        }
        out.push(END);
    }
}

fn length_error(code: u8, len: usize, rule: LengthRule) -> CodecError {
    CodecError::Length {
        code,
        name: codes::name(code),
        len,
        rule,
    }
}

fn check(code: u8, len: usize, rule: LengthRule) -> Result<(), CodecError> {
    if rule.allows(len) {
        Ok(())
    } else {
        Err(length_error(code, len, rule))
    }
}
