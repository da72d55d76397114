//! The init's boot phases, in boot order: the `phase=` of its console lines, the failure reports
//! and the QEMU timeline all name them from this one list.

use std::fmt;
use std::str::FromStr;

/// A phase of the init's boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Early,
    Config,
    Modules,
    Links,
    Bond,
    /// The VLAN on the bond (a line saying `none` without one).
    Vlan,
    /// Addressing: DHCP or the static configuration.
    Dhcp,
    Nfs,
    Overlay,
    SwitchRoot,
    /// A panic of the init itself (reported like a failed phase).
    Panic,
}

impl Phase {
    /// Every phase, in boot order (`Panic` last: it is not a step of a boot).
    pub const ALL: [Phase; 11] = [
        Phase::Early,
        Phase::Config,
        Phase::Modules,
        Phase::Links,
        Phase::Bond,
        Phase::Vlan,
        Phase::Dhcp,
        Phase::Nfs,
        Phase::Overlay,
        Phase::SwitchRoot,
        Phase::Panic,
    ];

    /// The name the console lines use.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Early => "early",
            Phase::Config => "config",
            Phase::Modules => "modules",
            Phase::Links => "links",
            Phase::Bond => "bond",
            Phase::Vlan => "vlan",
            Phase::Dhcp => "dhcp",
            Phase::Nfs => "nfs",
            Phase::Overlay => "overlay",
            Phase::SwitchRoot => "switch_root",
            Phase::Panic => "panic",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `phase=` value that names no phase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown boot phase {0:?}")]
pub struct UnknownPhase(pub String);

impl FromStr for Phase {
    type Err = UnknownPhase;

    fn from_str(s: &str) -> Result<Phase, UnknownPhase> {
        Phase::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownPhase(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for p in Phase::ALL {
            assert_eq!(p.name().parse::<Phase>(), Ok(p));
            assert!(seen.insert(p.name()), "{p} twice");
        }
        assert_eq!(
            "switchroot".parse::<Phase>(),
            Err(UnknownPhase("switchroot".into()))
        );
    }
}
