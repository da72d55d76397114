//! dracut's timeout keys (dracut.cmdline(7)), each another spelling of a `netroot.timeout.*`
//! key, with what a 0 means to dracut (netroot bounds every wait, so 0 is refused saying so):
//! `rd.timeout=<seconds>` the boot deadline, `rd.net.timeout.carrier=<seconds>` the wait for
//! carrier on the ports (`netroot.timeout.links`, dracut's `linkup` loop), and
//! `rd.net.timeout.dhcp=<seconds>` the wait for a lease (dracut: `dhclient --timeout`,
//! NetworkManager's `ipv4.dhcp-timeout`).

use super::values::{invalid, ValueError};

/// One dracut timeout key.
pub(crate) struct RdTimeout {
    pub key: &'static str,
    /// The table key it sets.
    pub table_key: &'static str,
    /// Only whole seconds, as dracut's shell arithmetic takes them (`rd.timeout` also took
    /// netroot's durations before the `rd.net.*` keys came, and keeps doing so).
    seconds_only: bool,
    /// Why 0 is refused: what it means to dracut.
    zero: &'static str,
}

/// Every dracut timeout key.
pub(crate) const RD_TIMEOUTS: [RdTimeout; 3] = [
    RdTimeout {
        key: "rd.timeout",
        table_key: "netroot.timeout.boot",
        seconds_only: false,
        zero: "0 means wait forever in dracut; netroot bounds every boot: give seconds",
    },
    RdTimeout {
        key: "rd.net.timeout.carrier",
        table_key: "netroot.timeout.links",
        seconds_only: true,
        zero: "0 means do not wait for carrier in dracut; netroot needs carrier on the bond's ports: give seconds",
    },
    RdTimeout {
        key: "rd.net.timeout.dhcp",
        table_key: "netroot.timeout.dhcp",
        seconds_only: true,
        zero: "0 leaves the wait to dracut's DHCP client (NetworkManager: its default); netroot bounds every wait: give seconds",
    },
];

/// The dracut timeout key `key`, if it is one.
pub(crate) fn rd_timeout(key: &str) -> Option<&'static RdTimeout> {
    RD_TIMEOUTS.iter().find(|t| t.key == key)
}

impl RdTimeout {
    /// Checks a value before the table key's parser sees it: 0 refused with dracut's meaning,
    /// and whole seconds only for the `rd.net.*` keys (`infinity`, `30s` are refused).
    pub(crate) fn check(&self, v: &str) -> Result<(), ValueError> {
        let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        if digits && v.bytes().all(|b| b == b'0') {
            return Err(invalid(self.key, v, self.zero));
        }
        if self.seconds_only && !digits {
            return Err(invalid(self.key, v, "expected whole seconds"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dracut_timeout_sets_a_timeout_key() {
        for t in &RD_TIMEOUTS {
            let def = super::super::keys::find_key(t.table_key).expect(t.table_key);
            assert!(def.name.starts_with("netroot.timeout."), "{}", t.key);
            assert!(rd_timeout(t.key).is_some());
        }
        assert!(rd_timeout("rd.net.timeout.iflink").is_none());
    }
}
