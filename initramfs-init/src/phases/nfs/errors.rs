//! The NFS phase's error tally: per version, every failed mount's errno, so the failure reason
//! names the most telling error seen across all rounds, not just the last one. A wrong export
//! answers `ENOENT` in round 1; on a loaded machine the last mount may run into the deadline and
//! only say `ETIMEDOUT`, which hid the real cause (issue #5, case 6).
//!
//! Weights: a definitive answer (the server said no, or the version cannot work) beats an error
//! the phase waits out (timeouts, refusals, unreachable, grace); an errno in neither list sits in
//! between. Among equal weights the latest wins.

use rustix::io::Errno;

use crate::bootconfig::NfsVersion;
use crate::sys::errno_name;

/// How much an errno tells about why the mount fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Weight {
    /// Waited out: the server is down, restarting, in grace, or the network is not there yet.
    Transient,
    /// Neither list: still more telling than a timeout.
    Other,
    /// A server's answer (no such export, access denied, stale handle) or an unsupported version.
    Definitive,
}

fn weight(errno: Errno) -> Weight {
    match errno {
        Errno::NOENT
        | Errno::ACCESS
        | Errno::PERM
        | Errno::STALE
        | Errno::NOTDIR
        | Errno::INVAL
        | Errno::PROTONOSUPPORT
        | Errno::NODEV
        | Errno::OPNOTSUPP
        | Errno::NOSYS => Weight::Definitive,
        Errno::TIMEDOUT
        | Errno::AGAIN
        | Errno::CONNREFUSED
        | Errno::CONNRESET
        | Errno::HOSTUNREACH
        | Errno::NETUNREACH
        | Errno::NETDOWN
        | Errno::IO => Weight::Transient,
        _ => Weight::Other,
    }
}

/// The failed mounts of one version.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VersionErrors {
    version: NfsVersion,
    /// Failed mounts of this version (one per round that tried it).
    tries: u32,
    /// How often each errno was seen, in first-seen order.
    counts: Vec<(Errno, u32)>,
    /// The most telling errno so far (the latest among equals).
    best: Errno,
    last: Errno,
}

impl VersionErrors {
    fn count(&self, errno: Errno) -> u32 {
        self.counts
            .iter()
            .find(|(e, _)| *e == errno)
            .map_or(0, |(_, n)| *n)
    }

    /// `vers=4.1 ENOENT`, `vers=4.1 ETIMEDOUT (2 of 5 rounds)` or
    /// `vers=4.1 ENOENT (3 of 5 rounds; last ETIMEDOUT)`.
    fn summary(&self) -> String {
        let head = format!("vers={} {}", self.version.as_str(), errno_name(self.best));
        let seen = self.count(self.best);
        if seen == self.tries {
            head
        } else if self.last == self.best {
            format!("{head} ({seen} of {} rounds)", self.tries)
        } else {
            format!(
                "{head} ({seen} of {} rounds; last {})",
                self.tries,
                errno_name(self.last)
            )
        }
    }
}

/// Every version's failed mounts, reported in the configured version order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorTally {
    order: Vec<NfsVersion>,
    versions: Vec<VersionErrors>,
}

impl ErrorTally {
    /// A tally that reports versions in `order` (the configured order).
    pub fn new(order: &[NfsVersion]) -> Self {
        Self {
            order: order.to_vec(),
            versions: Vec::new(),
        }
    }

    /// Records a failed mount of `version`.
    pub fn record(&mut self, version: NfsVersion, errno: Errno) {
        let entry = match self.versions.iter().position(|v| v.version == version) {
            Some(i) => &mut self.versions[i],
            None => {
                self.versions.push(VersionErrors {
                    version,
                    tries: 0,
                    counts: Vec::new(),
                    best: errno,
                    last: errno,
                });
                let last = self.versions.len() - 1;
                &mut self.versions[last]
            }
        };
        entry.tries += 1;
        match entry.counts.iter_mut().find(|(e, _)| *e == errno) {
            Some((_, n)) => *n += 1,
            None => entry.counts.push((errno, 1)),
        }
        if weight(errno) >= weight(entry.best) {
            entry.best = errno;
        }
        entry.last = errno;
    }

    /// The versions tried, in the configured order (any other version last).
    fn ordered(&self) -> Vec<&VersionErrors> {
        let mut out: Vec<&VersionErrors> = self.versions.iter().collect();
        out.sort_by_key(|v| {
            self.order
                .iter()
                .position(|o| *o == v.version)
                .unwrap_or(usize::MAX)
        });
        out
    }

    /// The latest error of each version: `vers=4.2 EAGAIN, vers=4.1 ECONNREFUSED`.
    pub fn latest(&self) -> String {
        self.ordered()
            .into_iter()
            .map(|v| format!("vers={} {}", v.version.as_str(), errno_name(v.last)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The most telling error of each version, with how often it was seen when not every time:
    /// `vers=4.2 EPROTONOSUPPORT, vers=4.1 ENOENT (3 of 5 rounds; last ETIMEDOUT)`.
    pub fn summary(&self) -> String {
        self.ordered()
            .into_iter()
            .map(VersionErrors::summary)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(seq: &[(NfsVersion, Errno)]) -> ErrorTally {
        let mut t = ErrorTally::new(&[NfsVersion::V4_2, NfsVersion::V4_1, NfsVersion::V3]);
        for (v, e) in seq {
            t.record(*v, *e);
        }
        t
    }

    use NfsVersion::{V3, V4_1, V4_2};

    #[test]
    fn the_same_error_every_round_is_quoted_plainly() {
        let t = tally(&[(V4_1, Errno::NOENT), (V4_1, Errno::NOENT)]);
        assert_eq!(t.summary(), "vers=4.1 ENOENT");
        assert_eq!(t.latest(), "vers=4.1 ENOENT");
    }

    #[test]
    fn a_definitive_answer_beats_a_later_timeout() {
        let t = tally(&[
            (V4_1, Errno::NOENT),
            (V4_1, Errno::NOENT),
            (V4_1, Errno::NOENT),
            (V4_1, Errno::TIMEDOUT),
            (V4_1, Errno::TIMEDOUT),
        ]);
        assert_eq!(
            t.summary(),
            "vers=4.1 ENOENT (3 of 5 rounds; last ETIMEDOUT)"
        );
        assert_eq!(t.latest(), "vers=4.1 ETIMEDOUT");
    }

    #[test]
    fn a_definitive_answer_beats_an_earlier_refusal() {
        let t = tally(&[
            (V4_1, Errno::CONNREFUSED),
            (V4_1, Errno::CONNREFUSED),
            (V4_1, Errno::ACCESS),
        ]);
        assert_eq!(t.summary(), "vers=4.1 EACCES (1 of 3 rounds)");
    }

    #[test]
    fn among_equals_the_latest_wins() {
        let transient = tally(&[
            (V4_1, Errno::HOSTUNREACH),
            (V4_1, Errno::CONNREFUSED),
            (V4_1, Errno::TIMEDOUT),
        ]);
        assert_eq!(transient.summary(), "vers=4.1 ETIMEDOUT (1 of 3 rounds)");
        let definitive = tally(&[
            (V4_1, Errno::NOENT),
            (V4_1, Errno::STALE),
            (V4_1, Errno::IO),
        ]);
        assert_eq!(
            definitive.summary(),
            "vers=4.1 ESTALE (1 of 3 rounds; last EIO)"
        );
    }

    #[test]
    fn an_unlisted_errno_ranks_between_the_lists() {
        let over_timeout = tally(&[(V4_1, Errno::NOMEM), (V4_1, Errno::TIMEDOUT)]);
        assert_eq!(
            over_timeout.summary(),
            "vers=4.1 ENOMEM (1 of 2 rounds; last ETIMEDOUT)"
        );
        let under_enoent = tally(&[(V4_1, Errno::NOENT), (V4_1, Errno::NOMEM)]);
        assert_eq!(
            under_enoent.summary(),
            "vers=4.1 ENOENT (1 of 2 rounds; last ENOMEM)"
        );
    }

    #[test]
    fn versions_are_reported_in_the_configured_order() {
        let t = tally(&[
            (V3, Errno::TIMEDOUT),
            (V4_1, Errno::NOENT),
            (V4_2, Errno::PROTONOSUPPORT),
            (V4_1, Errno::TIMEDOUT),
            (V3, Errno::NOENT),
        ]);
        assert_eq!(
            t.summary(),
            "vers=4.2 EPROTONOSUPPORT, vers=4.1 ENOENT (1 of 2 rounds; last ETIMEDOUT), \
             vers=3 ENOENT (1 of 2 rounds)"
        );
        assert_eq!(
            t.latest(),
            "vers=4.2 EPROTONOSUPPORT, vers=4.1 ETIMEDOUT, vers=3 ENOENT"
        );
    }

    #[test]
    fn an_empty_tally_says_nothing() {
        assert_eq!(ErrorTally::new(&[V4_1]).summary(), "");
    }
}
