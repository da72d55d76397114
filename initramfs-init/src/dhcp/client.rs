//! The DHCPv4 client state machine (RFC 2131 section 4.4, INIT → SELECTING → REQUESTING →
//! BOUND) over the [`Sys`](crate::sys::Sys) packet socket, bounded by an absolute deadline.
//!
//! RFC 2131 section 4.1: "the client SHOULD ... retransmit ... delay of 4 seconds ... doubled
//! ... up to 64 seconds ... randomized by ±1 second". Deviation: we start at 2 s and cap at 16 s,
//! because a booting node's server is on the local segment and boot time matters; the ±1 s jitter
//! is kept so a rack of nodes powering on together spreads out.
//! Section 4.4.1: after too many unanswered REQUESTs or a DHCPNAK the client restarts at INIT
//! with a new xid. Not done (documented in README): ARP probe of the offered address (RFC 5227),
//! renewal (the lease is handed to the real root, see README).

use std::time::Duration;

use super::packet::{self, AckInfo, Offer, PacketError, Reply};
use crate::backoff::Backoff;
use crate::failure::{self, Phase};
use crate::phases::Ctx;
use crate::sys::{Errno, SysError};

/// First retransmission delay (RFC 2131 suggests 4 s; see module docs).
pub const DHCP_FIRST_RETRANSMIT: Duration = Duration::from_secs(2);
/// Cap of the doubling retransmission delay (RFC 2131 suggests 64 s).
pub const DHCP_MAX_RETRANSMIT: Duration = Duration::from_secs(16);
/// Randomisation of each delay, as RFC 2131 section 4.1 asks.
pub const DHCP_RETRANSMIT_JITTER: Duration = Duration::from_secs(1);
/// REQUESTs sent for one OFFER before starting over with DISCOVER.
pub const DHCP_REQUEST_ATTEMPTS: u32 = 4;
/// Pause after a DHCPNAK before a new DISCOVER, so a confused server is not hammered.
pub const DHCP_NAK_PAUSE: Duration = Duration::from_secs(1);
/// Receive buffer: an Ethernet frame of the largest MTU we accept, with room to spare.
const RECV_BUFFER: usize = 2048;
/// Send errors that mean "this frame was dropped, a later one may pass": ENOBUFS is the
/// kernel's NET_XMIT_DROP, which an 802.3ad bond returns for every frame until LACP has selected
/// an aggregator (1-3 s after the bond comes up against a real partner, seen in the LACP VM
/// test) and a full queue returns; ENETDOWN is a port still coming up. Neither is fatal.
const TRANSIENT_SEND: [Errno; 2] = [Errno::NOBUFS, Errno::NETDOWN];
/// After a dropped frame, resend this soon instead of waiting a retransmission delay: the
/// aggregator is usually selected within a second, and boot time matters.
pub const DHCP_DROP_RETRY: Duration = Duration::from_millis(250);

/// Why no lease was obtained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhcpError {
    #[error("{0}")]
    Io(#[from] SysError),
    #[error(transparent)]
    Encode(#[from] PacketError),
    #[error("no lease after {}s ({limit} reached): {stats}", waited.as_secs())]
    Timeout {
        waited: Duration,
        limit: &'static str,
        stats: Stats,
    },
}

/// Counters of one acquisition, quoted in the failure reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub discovers: u32,
    pub offers: u32,
    pub requests: u32,
    pub naks: u32,
    pub ignored: u32,
    /// Frames the kernel dropped on send (ENOBUFS, ENETDOWN), resent after [`DHCP_DROP_RETRY`].
    pub dropped: u32,
    /// The most telling problem seen (last NAK or ignored packet).
    pub last_problem: Option<String>,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} DISCOVER, {} OFFER, {} REQUEST, {} NAK, {} ignored",
            self.discovers, self.offers, self.requests, self.naks, self.ignored
        )?;
        if self.dropped > 0 {
            write!(f, ", {} dropped on send", self.dropped)?;
        }
        if let Some(p) = &self.last_problem {
            write!(f, "; last: {p}")?;
        }
        Ok(())
    }
}

/// Runs the exchange on `ifname` (whose MAC is `mac`) until a DHCPACK or `until`.
pub fn acquire(
    ctx: &mut Ctx,
    ifname: &str,
    mac: [u8; 6],
    until: Duration,
) -> Result<(AckInfo, Stats), DhcpError> {
    ctx.sys.packet_open(ifname)?;
    let mut stats = Stats::default();
    let result = exchange(ctx, mac, until, &mut stats);
    ctx.sys.packet_close();
    result.map(|ack| (ack, stats))
}

fn exchange(
    ctx: &mut Ctx,
    mac: [u8; 6],
    until: Duration,
    stats: &mut Stats,
) -> Result<AckInfo, DhcpError> {
    let start = ctx.now();
    let timeout = |ctx: &mut Ctx, stats: &Stats| DhcpError::Timeout {
        waited: ctx.now().saturating_sub(start),
        limit: ctx.limit_name(until),
        stats: stats.clone(),
    };
    loop {
        // INIT: a fresh transaction id per attempt (RFC 2131 section 4.4.1).
        let xid = ctx.jitter.next_u64() as u32;
        let mut backoff = new_backoff();
        // SELECTING: DISCOVER until an acceptable OFFER.
        let offer = loop {
            if ctx.now() >= until {
                return Err(timeout(ctx, stats));
            }
            let secs = secs_since(ctx, start);
            ctx.debug(Phase::Dhcp, &format!("DISCOVER xid={xid:#010x}"));
            let wait = if send(ctx, &packet::discover(xid, mac, secs)?, mac, stats)? {
                stats.discovers += 1;
                wait_end(ctx, &mut backoff, until)
            } else {
                drop_retry(ctx, until)
            };
            if let Some(Reply::Offer(o)) =
                await_reply(ctx, xid, mac, wait, stats, |r| matches!(r, Reply::Offer(_)))?
            {
                break o;
            }
        };
        stats.offers += 1;
        ctx.debug(
            Phase::Dhcp,
            &format!("offer {} from {}", offer.address, offer.server_id),
        );
        // REQUESTING: REQUEST until ACK or NAK from the chosen server.
        let mut backoff = new_backoff();
        let mut nak = false;
        for _ in 0..DHCP_REQUEST_ATTEMPTS {
            if ctx.now() >= until {
                return Err(timeout(ctx, stats));
            }
            let secs = secs_since(ctx, start);
            ctx.debug(
                Phase::Dhcp,
                &format!("REQUEST {} xid={xid:#010x}", offer.address),
            );
            let wait = if send(ctx, &packet::request(xid, mac, secs, &offer)?, mac, stats)? {
                stats.requests += 1;
                wait_end(ctx, &mut backoff, until)
            } else {
                drop_retry(ctx, until)
            };
            let from_chosen = |r: &Reply| from_server(r, &offer);
            match await_reply(ctx, xid, mac, wait, stats, from_chosen)? {
                Some(Reply::Ack(ack)) => return Ok(ack),
                Some(Reply::Nak { message, .. }) => {
                    stats.naks += 1;
                    let text = format!(
                        "DHCPNAK from {}: {}",
                        offer.server_id,
                        message.as_deref().unwrap_or("(no message)")
                    );
                    ctx.log(Phase::Dhcp, &format!("warning: {text}"));
                    stats.last_problem = Some(text);
                    nak = true;
                    break;
                }
                _ => {}
            }
        }
        if nak {
            let pause = ctx.jitter.around(DHCP_NAK_PAUSE, DHCP_NAK_PAUSE / 2);
            ctx.sleep_until(pause, until);
        }
    }
}

fn new_backoff() -> Backoff {
    Backoff::new(
        DHCP_FIRST_RETRANSMIT,
        DHCP_MAX_RETRANSMIT,
        DHCP_RETRANSMIT_JITTER,
    )
}

/// Whether a reply in REQUESTING comes from the server we chose (others are ignored: a rogue or
/// second server must not NAK or ACK our request to someone else).
fn from_server(reply: &Reply, offer: &Offer) -> bool {
    match reply {
        Reply::Ack(ack) => ack.server_id == offer.server_id,
        Reply::Nak { server_id, .. } => *server_id == Some(offer.server_id),
        Reply::Offer(_) => false,
    }
}

/// The `secs` field: seconds since the client began (RFC 2131 section 2).
fn secs_since(ctx: &mut Ctx, start: Duration) -> u16 {
    u16::try_from(ctx.now().saturating_sub(start).as_secs()).unwrap_or(u16::MAX)
}

/// When to stop waiting for this transmission's answer.
fn wait_end(ctx: &mut Ctx, backoff: &mut Backoff, until: Duration) -> Duration {
    let delay = backoff.next_delay(&mut ctx.jitter);
    ctx.now().saturating_add(delay).min(until)
}

/// When to resend after a dropped frame.
fn drop_retry(ctx: &mut Ctx, until: Duration) -> Duration {
    ctx.now().saturating_add(DHCP_DROP_RETRY).min(until)
}

/// Sends `msg`; `Ok(false)` when the kernel dropped the frame for a [`TRANSIENT_SEND`] reason
/// (counted, and the last problem when the exchange times out), any other error is fatal.
fn send(
    ctx: &mut Ctx,
    msg: &super::message::Message,
    mac: [u8; 6],
    stats: &mut Stats,
) -> Result<bool, DhcpError> {
    let frame = packet::to_frame(msg, mac)?;
    match ctx.sys.packet_send(&frame) {
        Ok(()) => Ok(true),
        Err(e) if TRANSIENT_SEND.contains(&e.errno) => {
            stats.dropped += 1;
            ctx.debug(Phase::Dhcp, &format!("frame dropped, resending: {e}"));
            stats.last_problem = Some(format!("frame dropped on send: {e}"));
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Receives until a reply that `accept` takes, or `wait_until`. Invalid and unwanted packets are
/// counted and logged at debug level, never fatal.
fn await_reply(
    ctx: &mut Ctx,
    xid: u32,
    mac: [u8; 6],
    wait_until: Duration,
    stats: &mut Stats,
    accept: impl Fn(&Reply) -> bool,
) -> Result<Option<Reply>, DhcpError> {
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let now = ctx.now();
        if now >= wait_until {
            return Ok(None);
        }
        let Some(n) = ctx.sys.packet_recv(&mut buf, wait_until - now)? else {
            // Between transmissions: collect any exited children (PID 1 inherits orphans).
            failure::reap(ctx.sys);
            continue;
        };
        let frame = buf.get(..n).unwrap_or(&[]);
        match packet::parse_reply(frame, xid, mac) {
            Ok(reply) if accept(&reply) => return Ok(Some(reply)),
            Ok(reply) => {
                stats.ignored += 1;
                ctx.debug(Phase::Dhcp, &format!("ignored unexpected {reply:?}"));
            }
            Err(e) => {
                stats.ignored += 1;
                ctx.debug(Phase::Dhcp, &format!("ignored packet: {e}"));
                if !matches!(e, PacketError::Frame(_) | PacketError::NotForClient(_)) {
                    stats.last_problem = Some(format!("ignored packet: {e}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::fake_server::{FakeDhcpServer, ServerBehaviour};
    use crate::paths::Paths;
    use crate::sys::{Call, FakeSys, ScriptedError};
    use std::net::Ipv4Addr;

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 1];

    fn machine(b: ServerBehaviour) -> (FakeSys, std::rc::Rc<std::cell::RefCell<FakeDhcpServer>>) {
        let mut sys = FakeSys::new();
        sys.add_interface("bond0", "52:54:00:00:00:01");
        let server = FakeDhcpServer::new(b).install(&mut sys);
        (sys, server)
    }

    fn run(sys: &mut FakeSys, until_s: u64, debug: bool) -> Result<(AckInfo, Stats), DhcpError> {
        let mut ctx = Ctx::new(sys, Paths::standard());
        ctx.debug = debug;
        acquire(&mut ctx, "bond0", MAC, Duration::from_secs(until_s))
    }

    #[test]
    fn normal_exchange_is_discover_offer_request_ack() {
        let (mut sys, server) = machine(ServerBehaviour::Normal);
        let (ack, stats) = run(&mut sys, 60, false).expect("lease");
        assert_eq!(ack.address, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!((stats.discovers, stats.offers, stats.requests), (1, 1, 1));
        let s = server.borrow();
        assert_eq!((s.discovers, s.requests), (1, 1));
        assert_eq!(sys.calls.first(), Some(&Call::PacketOpen("bond0".into())));
        assert_eq!(sys.calls.last(), Some(&Call::PacketClose));
    }

    #[test]
    fn wrong_xid_and_garbage_are_ignored_with_debug_logs() {
        let (mut sys, _) = machine(ServerBehaviour::WrongXidFirst);
        let (_, stats) = run(&mut sys, 60, true).expect("lease despite wrong xids");
        assert_eq!(stats.ignored, 2);
        assert!(sys
            .logs
            .iter()
            .any(|l| l.contains("debug: ignored packet: xid")));

        let (mut sys, _) = machine(ServerBehaviour::GarbageFirst);
        let (_, stats) = run(&mut sys, 60, true).expect("lease despite junk");
        assert_eq!(stats.ignored, 4);
        assert!(sys
            .logs
            .iter()
            .any(|l| l.contains("debug: ignored packet: frame of 7 bytes")));
    }

    #[test]
    fn silence_retransmits_with_backoff_then_times_out() {
        let (mut sys, server) = machine(ServerBehaviour::Silent);
        let e = run(&mut sys, 31, false).expect_err("no server");
        // Start at 1 s, deadline 31 s: DISCOVERs after ~2, ~4, ~8, ~16 s of waiting (±1 s).
        let discovers = server.borrow().discovers;
        assert!((4..=5).contains(&discovers), "{discovers} DISCOVERs");
        assert_eq!(sys.clock, Duration::from_secs(31));
        assert_eq!(
            e.to_string(),
            format!("no lease after 30s (timeout reached): {discovers} DISCOVER, 0 OFFER, 0 REQUEST, 0 NAK, 0 ignored")
        );
    }

    #[test]
    fn nak_restarts_with_a_new_xid_until_the_deadline() {
        let (mut sys, server) = machine(ServerBehaviour::NakRequests);
        let e = run(&mut sys, 10, false).expect_err("always NAK");
        let DhcpError::Timeout { stats, .. } = &e else {
            panic!("{e:?}");
        };
        assert!(stats.naks >= 2, "{stats}");
        assert_eq!(server.borrow().requests, stats.requests);
        assert!(
            e.to_string()
                .ends_with("last: DHCPNAK from 10.0.2.2: address not available"),
            "{e}"
        );
        assert!(sys.logs[0].contains("phase=dhcp warning: DHCPNAK from 10.0.2.2"));
        let xids: std::collections::BTreeSet<u32> = sys
            .calls
            .iter()
            .filter_map(|c| match c {
                Call::PacketSend(f) => crate::dhcp::frame::parse(f).ok().map(|d| {
                    u32::from_be_bytes([d.payload[4], d.payload[5], d.payload[6], d.payload[7]])
                }),
                _ => None,
            })
            .collect();
        assert!(xids.len() >= 2, "a new xid after each NAK");
    }

    #[test]
    fn lost_requests_are_retransmitted() {
        let (mut sys, server) = machine(ServerBehaviour::DropRequests(2));
        let (_, stats) = run(&mut sys, 60, false).expect("third REQUEST answered");
        assert_eq!(stats.requests, 3);
        assert_eq!(server.borrow().discovers, 1);
    }

    #[test]
    fn frames_dropped_by_the_kernel_are_resent_soon_and_counted() {
        // An 802.3ad bond drops every frame (ENOBUFS) until LACP selects an aggregator.
        let (mut sys, server) = machine(ServerBehaviour::Normal);
        sys.errors
            .push(ScriptedError::times("packet send", "", Errno::NOBUFS, 3));
        let (_, stats) = run(&mut sys, 60, false).expect("lease once frames pass");
        assert_eq!((stats.dropped, stats.discovers, stats.requests), (3, 1, 1));
        assert_eq!(server.borrow().discovers, 1);
        // Three resends 250 ms apart, not a retransmission delay of seconds each.
        assert!(sys.clock < Duration::from_secs(2), "{:?}", sys.clock);
    }

    #[test]
    fn a_link_that_keeps_dropping_times_out_saying_so() {
        let (mut sys, _) = machine(ServerBehaviour::Normal);
        sys.errors
            .push(ScriptedError::always("packet send", "", Errno::NETDOWN));
        let e = run(&mut sys, 5, false).expect_err("nothing passes");
        let text = e.to_string();
        assert!(
            text.starts_with("no lease after 4s (timeout reached): 0 DISCOVER"),
            "{text}"
        );
        assert!(text.contains(" dropped on send; last: frame dropped on send: packet send (packet socket): ENETDOWN"), "{text}");
    }

    #[test]
    fn other_send_errors_stay_fatal() {
        let (mut sys, _) = machine(ServerBehaviour::Normal);
        sys.errors
            .push(ScriptedError::always("packet send", "", Errno::NXIO));
        let e = run(&mut sys, 5, false).expect_err("fatal");
        assert!(matches!(e, DhcpError::Io(_)), "{e:?}");
    }

    #[test]
    fn socket_errors_are_reported() {
        let mut sys = FakeSys::new();
        let e = run(&mut sys, 5, false).expect_err("no bond0");
        assert_eq!(
            e.to_string(),
            "packet socket bond0: ENODEV (No such device, errno 19)"
        );
    }
}
