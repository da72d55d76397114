//! Text spellings of the model's enums: `FromStr` + `Display` for the bond, NFS and failure
//! types, and the error type shared by every value parser (see also `net.rs`, `units.rs`).
//!
//! Every parser returns [`ValueError`], whose message names the value and what was expected; the
//! builder prints it after `file:line:col:` when it validates a profile, and the boot-config key
//! table prefixes it with the line and key.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

use super::model::{BondMode, FailureAction, LacpRate, NfsVersion, XmitHashPolicy};
use super::units::{format_duration, parse_duration};

/// Delay of a bare `reboot` failure action: long enough to read the FAILED line on a console or
/// serial log, short enough that a node retries the boot before an operator would intervene.
pub const DEFAULT_REBOOT_DELAY: Duration = Duration::from_secs(10);

/// A value that does not parse; the message names the value and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    /// A word outside a fixed set of spellings.
    #[error("unknown {kind} {value:?} (expected one of: {expected})")]
    Unknown {
        kind: &'static str,
        value: String,
        expected: String,
    },
    /// A value of the right shape that is malformed or out of range.
    #[error("invalid {kind} {value:?}: {reason}")]
    Invalid {
        kind: &'static str,
        value: String,
        reason: String,
    },
}

/// Shorthand for [`ValueError::Invalid`].
pub(crate) fn invalid(kind: &'static str, value: &str, reason: impl Into<String>) -> ValueError {
    ValueError::Invalid {
        kind,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Looks `s` up among the spellings of `all`; a decimal number is accepted as the index into
/// `all` when `numeric` (sysfs accepts the kernel's numeric values, and `all` is in that order).
fn lookup<T: Copy>(
    kind: &'static str,
    all: &[T],
    name: fn(T) -> &'static str,
    numeric: bool,
    s: &str,
) -> Result<T, ValueError> {
    if let Some(v) = all.iter().copied().find(|v| name(*v) == s) {
        return Ok(v);
    }
    if numeric {
        if let Some(v) = s.parse::<usize>().ok().and_then(|i| all.get(i)) {
            return Ok(*v);
        }
    }
    let expected = all.iter().map(|v| name(*v)).collect::<Vec<_>>().join(", ");
    Err(ValueError::Unknown {
        kind,
        value: s.to_string(),
        expected,
    })
}

/// Implements `FromStr` and `Display` for an enum from its `ALL` table and `as_str`.
macro_rules! spelled_enum {
    ($ty:ty, $kind:literal, numeric = $numeric:literal) => {
        impl FromStr for $ty {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, ValueError> {
                lookup($kind, &<$ty>::ALL, <$ty>::as_str, $numeric, s)
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

impl BondMode {
    /// Every mode, in the kernel's numeric order (`mode=4` is 802.3ad).
    pub const ALL: [BondMode; 7] = [
        BondMode::BalanceRr,
        BondMode::ActiveBackup,
        BondMode::BalanceXor,
        BondMode::Broadcast,
        BondMode::Ieee8023ad,
        BondMode::BalanceTlb,
        BondMode::BalanceAlb,
    ];

    /// The sysfs spelling (`/sys/class/net/<bond>/bonding/mode`).
    pub fn as_str(self) -> &'static str {
        match self {
            BondMode::BalanceRr => "balance-rr",
            BondMode::ActiveBackup => "active-backup",
            BondMode::BalanceXor => "balance-xor",
            BondMode::Broadcast => "broadcast",
            BondMode::Ieee8023ad => "802.3ad",
            BondMode::BalanceTlb => "balance-tlb",
            BondMode::BalanceAlb => "balance-alb",
        }
    }
}
spelled_enum!(BondMode, "bond mode", numeric = true);

impl LacpRate {
    /// Both rates, in the kernel's numeric order.
    pub const ALL: [LacpRate; 2] = [LacpRate::Slow, LacpRate::Fast];

    /// The sysfs spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LacpRate::Slow => "slow",
            LacpRate::Fast => "fast",
        }
    }
}
spelled_enum!(LacpRate, "lacp rate", numeric = true);

impl XmitHashPolicy {
    /// Every policy, in the kernel's numeric order (`BOND_XMIT_POLICY_*`).
    pub const ALL: [XmitHashPolicy; 6] = [
        XmitHashPolicy::Layer2,
        XmitHashPolicy::Layer3_4,
        XmitHashPolicy::Layer2_3,
        XmitHashPolicy::Encap2_3,
        XmitHashPolicy::Encap3_4,
        XmitHashPolicy::VlanSrcMac,
    ];

    /// The sysfs spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            XmitHashPolicy::Layer2 => "layer2",
            XmitHashPolicy::Layer2_3 => "layer2+3",
            XmitHashPolicy::Layer3_4 => "layer3+4",
            XmitHashPolicy::Encap2_3 => "encap2+3",
            XmitHashPolicy::Encap3_4 => "encap3+4",
            XmitHashPolicy::VlanSrcMac => "vlan+srcmac",
        }
    }
}
spelled_enum!(XmitHashPolicy, "xmit hash policy", numeric = true);

impl NfsVersion {
    /// Every version, newest first.
    pub const ALL: [NfsVersion; 4] = [
        NfsVersion::V4_2,
        NfsVersion::V4_1,
        NfsVersion::V4_0,
        NfsVersion::V3,
    ];

    /// The spelling used in `vers=` mount options (`4.0` is also accepted as `4` on parse).
    pub fn as_str(self) -> &'static str {
        match self {
            NfsVersion::V4_2 => "4.2",
            NfsVersion::V4_1 => "4.1",
            NfsVersion::V4_0 => "4.0",
            NfsVersion::V3 => "3",
        }
    }

    /// Whether this is an NFSv4 minor version.
    pub fn is_v4(self) -> bool {
        self != NfsVersion::V3
    }
}

impl FromStr for NfsVersion {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s {
            "4" => Ok(NfsVersion::V4_0),
            _ => lookup(
                "nfs version",
                &NfsVersion::ALL,
                NfsVersion::as_str,
                false,
                s,
            ),
        }
    }
}

impl fmt::Display for NfsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a comma-separated, non-empty list of distinct NFS versions (`4.2,4.1,3`).
pub fn parse_nfs_versions(s: &str) -> Result<Vec<NfsVersion>, ValueError> {
    if s.is_empty() {
        return Err(invalid(
            "nfs version list",
            s,
            "at least one version is required",
        ));
    }
    let mut out = Vec::new();
    for item in s.split(',') {
        let v: NfsVersion = item.parse()?;
        if out.contains(&v) {
            return Err(invalid(
                "nfs version list",
                s,
                format!("version {v} is listed twice"),
            ));
        }
        out.push(v);
    }
    Ok(out)
}

/// Renders an NFS version list as [`parse_nfs_versions`] reads it.
pub fn format_nfs_versions(versions: &[NfsVersion]) -> String {
    versions
        .iter()
        .map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

impl FromStr for FailureAction {
    type Err = ValueError;
    /// `reboot`, `reboot:<delay>` (a [`parse_duration`] value), `poweroff` or `shell`.
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s {
            "reboot" => Ok(FailureAction::Reboot {
                delay: DEFAULT_REBOOT_DELAY,
            }),
            "poweroff" => Ok(FailureAction::Poweroff),
            "shell" => Ok(FailureAction::Shell),
            _ => match s.strip_prefix("reboot:") {
                Some(delay) => Ok(FailureAction::Reboot {
                    delay: parse_duration(delay)?,
                }),
                None => Err(ValueError::Unknown {
                    kind: "failure action",
                    value: s.to_string(),
                    expected: "reboot, reboot:<delay>, poweroff, shell".to_string(),
                }),
            },
        }
    }
}

impl fmt::Display for FailureAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureAction::Reboot { delay } => write!(f, "reboot:{}", format_duration(*delay)),
            FailureAction::Poweroff => f.write_str("poweroff"),
            FailureAction::Shell => f.write_str("shell"),
        }
    }
}
