//! The one reader of the kernel bonding driver's `/proc/net/bonding/BOND` report
//! (drivers/net/bonding/bond_procfs.c): the mode, the 802.3ad system MAC, the active
//! aggregator (its id, port count and the partner's system MAC) and each port's MII status and
//! aggregator id. Both sides of the LACP bed print this report on their consoles (the node's test
//! root and the partner VM); the tests and `netroot qemu --network lacp --check` judge the
//! aggregation from it: `lacp=N/4` is the number of ports in the active aggregator whose link is
//! up, as the partner sees them.

use std::fmt;

/// One bond as its `/proc/net/bonding` report describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BondView {
    /// `Bonding Mode:` as printed (`IEEE 802.3ad Dynamic link aggregation`, `load balancing (xor)`).
    pub mode: String,
    /// `Transmit Hash Policy:` without its number (`layer3+4`).
    pub hash_policy: Option<String>,
    /// 802.3ad only: the bond's own system MAC.
    pub system_mac: Option<String>,
    /// 802.3ad only: the active aggregator.
    pub active: Option<Aggregator>,
    pub ports: Vec<PortView>,
}

/// The `Active Aggregator Info:` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregator {
    pub id: u32,
    pub ports: u32,
    /// The LACP partner's system MAC; all zeros while no partner answered.
    pub partner_mac: String,
}

/// One `Slave Interface:` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortView {
    pub name: String,
    pub mii_up: bool,
    /// `Permanent HW addr:`.
    pub mac: String,
    /// 802.3ad only: the aggregator the port belongs to.
    pub aggregator: Option<u32>,
}

/// The partner MAC the driver prints before any LACPDU arrived.
const NO_PARTNER: &str = "00:00:00:00:00:00";

/// Why a report could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bonding report line {line}: {why}: {text:?}")]
pub struct BondViewError {
    pub line: usize,
    pub text: String,
    pub why: &'static str,
}

impl BondView {
    /// Parses one report. Lines it does not use are skipped; a used field that does not parse
    /// is an error naming the line.
    pub fn parse(text: &str) -> Result<BondView, BondViewError> {
        let mut view = BondView::default();
        let mut in_active = false;
        for (i, raw) in text.lines().enumerate() {
            let err = |why| BondViewError {
                line: i + 1,
                text: raw.to_string(),
                why,
            };
            let indented = raw.starts_with('\t');
            let Some((key, value)) = raw.trim().split_once(':') else {
                continue;
            };
            let value = value.trim();
            let number = || value.parse::<u32>().map_err(|_| err("not a number"));
            match (key, indented) {
                ("Bonding Mode", _) => view.mode = value.to_string(),
                ("Transmit Hash Policy", _) => {
                    let name = value.split_whitespace().next().unwrap_or_default();
                    view.hash_policy = Some(name.to_string());
                }
                ("System MAC address", false) => view.system_mac = Some(value.to_string()),
                ("Active Aggregator Info", _) => {
                    in_active = true;
                    view.active = Some(Aggregator::default());
                }
                ("Aggregator ID", true) if in_active => active(&mut view).id = number()?,
                ("Number of ports", true) if in_active => active(&mut view).ports = number()?,
                ("Partner Mac Address", true) if in_active => {
                    active(&mut view).partner_mac = value.to_string();
                }
                ("Slave Interface", _) => {
                    in_active = false;
                    view.ports.push(PortView {
                        name: value.to_string(),
                        ..PortView::default()
                    });
                }
                ("MII Status", false) => {
                    if let Some(port) = view.ports.last_mut() {
                        port.mii_up = value == "up";
                    }
                }
                ("Permanent HW addr", false) => last_port(&mut view, &err)?.mac = value.to_string(),
                ("Aggregator ID", false) => {
                    last_port(&mut view, &err)?.aggregator = Some(number()?)
                }
                _ => {}
            }
        }
        if view.mode.is_empty() {
            return Err(BondViewError {
                line: 0,
                text: text.lines().next().unwrap_or_default().to_string(),
                why: "no \"Bonding Mode:\" line",
            });
        }
        Ok(view)
    }

    /// Ports with link up in the active aggregator, when a partner answered (else 0).
    pub fn lacp_ports(&self) -> usize {
        match &self.active {
            Some(agg) if agg.partner_mac != NO_PARTNER => self
                .ports
                .iter()
                .filter(|p| p.mii_up && p.aggregator == Some(agg.id))
                .count(),
            _ => 0,
        }
    }

    /// The partner's system MAC of the active aggregator, when a partner answered.
    pub fn partner(&self) -> Option<&str> {
        self.active
            .as_ref()
            .map(|a| a.partner_mac.as_str())
            .filter(|m| *m != NO_PARTNER)
    }

    /// Ports whose link is up.
    pub fn ports_up(&self) -> usize {
        self.ports.iter().filter(|p| p.mii_up).count()
    }
}

fn active(view: &mut BondView) -> &mut Aggregator {
    view.active.get_or_insert_with(Aggregator::default)
}

fn last_port<'a>(
    view: &'a mut BondView,
    err: &dyn Fn(&'static str) -> BondViewError,
) -> Result<&'a mut PortView, BondViewError> {
    view.ports
        .last_mut()
        .ok_or_else(|| err("a port field before any \"Slave Interface:\""))
}

/// A shell function `bond_report` (busybox sh) that prints BOND's report framed for
/// [`ReportCollector`]: `PREFIX begin`, each report line as `PREFIX | LINE`, `PREFIX end`. The
/// node's test root and the partner VM print their views with it.
pub fn report_shell(prefix: &str, bond: &str) -> String {
    format!(
        "bond_report() {{ echo \"{prefix} begin\"; sed 's/^/{prefix} | /' /proc/net/bonding/{bond}; echo \"{prefix} end\"; }}\n"
    )
}

/// Collects the framed reports of one prefix from console lines, in order.
#[derive(Debug, Clone)]
pub struct ReportCollector {
    prefix: String,
    block: Option<String>,
}

impl ReportCollector {
    pub fn new(prefix: &str) -> Self {
        ReportCollector {
            prefix: prefix.to_string(),
            block: None,
        }
    }

    /// Takes one console line; returns the report it completes, if any.
    pub fn feed(&mut self, line: &str) -> Option<Result<BondView, BondViewError>> {
        let rest = line.strip_prefix(self.prefix.as_str())?.strip_prefix(' ')?;
        match rest {
            "begin" => self.block = Some(String::new()),
            "end" => return self.block.take().map(|b| BondView::parse(&b)),
            _ => {
                let text = rest.strip_prefix('|')?;
                let text = text.strip_prefix(' ').unwrap_or(text);
                if let Some(block) = &mut self.block {
                    block.push_str(text);
                    block.push('\n');
                }
            }
        }
        None
    }

    /// Every complete report in `lines`.
    pub fn all<'a>(
        prefix: &str,
        lines: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<BondView>, BondViewError> {
        let mut c = ReportCollector::new(prefix);
        lines.into_iter().filter_map(|l| c.feed(l)).collect()
    }
}

impl fmt::Display for BondView {
    /// `lacp=4/4 partner=52:54:00:aa:00:00 aggregator=2`, or the ports up for other modes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.active {
            Some(agg) => write!(
                f,
                "lacp={}/{} partner={} aggregator={}",
                self.lacp_ports(),
                self.ports.len(),
                agg.partner_mac,
                agg.id
            ),
            None => write!(
                f,
                "up={}/{} mode={}",
                self.ports_up(),
                self.ports.len(),
                self.mode
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARTNER: &str = include_str!("../../tests/fixtures/bonding/partner-802.3ad.txt");
    const NODE: &str = include_str!("../../tests/fixtures/bonding/node-802.3ad.txt");
    const ALONE: &str = include_str!("../../tests/fixtures/bonding/partner-802.3ad-individual.txt");

    #[test]
    fn a_partner_with_all_four_ports_aggregated() {
        let v = BondView::parse(PARTNER).expect("parse");
        assert_eq!(v.mode, "IEEE 802.3ad Dynamic link aggregation");
        assert_eq!(v.hash_policy.as_deref(), Some("layer3+4"));
        assert_eq!(v.system_mac.as_deref(), Some("52:54:00:aa:00:00"));
        let agg = v.active.clone().expect("active");
        assert_eq!((agg.id, agg.ports), (2, 4));
        assert_eq!(v.partner(), Some("52:54:00:00:00:01"));
        let names: Vec<&str> = v.ports.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["eth0", "eth1", "eth2", "eth3"]);
        assert_eq!(v.ports[3].mac, "52:54:00:aa:00:04");
        assert_eq!(v.lacp_ports(), 4);
        assert_eq!(
            v.to_string(),
            "lacp=4/4 partner=52:54:00:00:00:01 aggregator=2"
        );
    }

    #[test]
    fn the_node_side_names_the_partner_system() {
        let v = BondView::parse(NODE).expect("parse");
        assert_eq!(v.system_mac.as_deref(), Some("52:54:00:00:00:01"));
        assert_eq!(v.partner(), Some("52:54:00:aa:00:00"));
        assert_eq!(v.lacp_ports(), 4);
    }

    #[test]
    fn individual_ports_without_a_partner_count_zero() {
        let v = BondView::parse(ALONE).expect("parse");
        assert_eq!(v.partner(), None);
        assert_eq!(v.lacp_ports(), 0);
        let aggs: Vec<Option<u32>> = v.ports.iter().map(|p| p.aggregator).collect();
        assert_eq!(aggs, [Some(1), Some(3), Some(4), Some(2)]);
    }

    #[test]
    fn a_port_down_leaves_the_aggregator_count() {
        let text = PARTNER.replacen(
            "Slave Interface: eth1\nMII Status: up",
            "Slave Interface: eth1\nMII Status: down",
            1,
        );
        let v = BondView::parse(&text).expect("parse");
        assert_eq!(v.lacp_ports(), 3);
        assert_eq!(v.ports_up(), 3);
    }

    #[test]
    fn other_modes_have_no_aggregator() {
        let text = "Ethernet Channel Bonding Driver: v6.1.0\n\nBonding Mode: load balancing (xor)\nTransmit Hash Policy: layer3+4 (1)\nMII Status: up\n\nSlave Interface: eth0\nMII Status: up\nPermanent HW addr: 52:54:00:00:00:01\n\nSlave Interface: eth1\nMII Status: down\nPermanent HW addr: 52:54:00:00:00:02\n";
        let v = BondView::parse(text).expect("parse");
        assert_eq!(v.active, None);
        assert_eq!(v.lacp_ports(), 0);
        assert_eq!(v.to_string(), "up=1/2 mode=load balancing (xor)");
    }

    #[test]
    fn framed_reports_are_collected_from_console_lines() {
        let mut lines = vec!["noise".to_string(), "partner: begin".to_string()];
        lines.extend(PARTNER.lines().map(|l| format!("partner: | {l}")));
        lines.push("partner: end".into());
        lines.push("partner: | stray line outside a block".into());
        let views = ReportCollector::all("partner:", lines.iter().map(String::as_str)).expect("ok");
        assert_eq!(views, [BondView::parse(PARTNER).expect("parse")]);
        let script = report_shell("partner:", "bond0");
        assert!(
            script.contains("sed 's/^/partner: | /' /proc/net/bonding/bond0"),
            "{script}"
        );
    }

    #[test]
    fn bad_reports_name_the_line() {
        let e = BondView::parse("nothing here").expect_err("no mode");
        assert_eq!(e.why, "no \"Bonding Mode:\" line");
        let e = BondView::parse("Bonding Mode: x\nAggregator ID: 1\n").expect_err("orphan");
        assert_eq!(e.line, 2);
        let e =
            BondView::parse("Bonding Mode: x\nActive Aggregator Info:\n\tNumber of ports: many\n")
                .expect_err("number");
        assert_eq!((e.line, e.why), (3, "not a number"));
    }
}
