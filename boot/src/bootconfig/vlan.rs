//! The one owner of the VLAN on the bond: the 802.1Q id range, the four interface names dracut
//! can give a VLAN (dracut.cmdline(7) `vlan=<vlanname>:<phydevice>`, the kernel's
//! `VLAN_NAME_TYPE_*`), the `netroot.vlan` value, and the interface the address goes on.
//!
//! The interface is created with exactly the name dracut would create: `vlan0005`
//! (`VLAN_PLUS_VID`), `vlan5` (`VLAN_PLUS_VID_NO_PAD`), `bond0.0005` (`DEV_PLUS_VID`) or
//! `bond0.5` (`DEV_PLUS_VID_NO_PAD`, netroot's default). The id always comes from the name.

use std::fmt;

use super::model::BootConfig;
use super::values::{invalid, ValueError};

/// Lowest 802.1Q VLAN id: 0 marks priority-tagged frames that belong to no VLAN.
const VLAN_ID_MIN: u16 = 1;
/// Highest 802.1Q VLAN id: 4095 (`VLAN_VID_MASK`) is reserved, and the kernel refuses it.
const VLAN_ID_MAX: u16 = 4094;
/// Digits of the padded names (`vlan0005`, `bond0.0005`): the kernel's `%.4i`.
const PADDED_DIGITS: usize = 4;
/// The kernel module that registers the `vlan` link kind (net/8021q): an image with a VLAN
/// must load it (the init cannot create the link without it, and has no modprobe).
pub const VLAN_MODULE: &str = "8021q";
/// Prefix of the `VLAN_PLUS_VID` names.
const VLAN_PREFIX: &str = "vlan";

/// An IEEE 802.1Q VLAN id, 1..=4094.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VlanId(u16);

impl VlanId {
    /// Checks the 802.1Q range; the error names the value and why.
    pub fn new(id: i64) -> Result<VlanId, ValueError> {
        match u16::try_from(id) {
            Ok(id) if (VLAN_ID_MIN..=VLAN_ID_MAX).contains(&id) => Ok(VlanId(id)),
            _ => Err(invalid(
                "vlan id",
                &id.to_string(),
                "802.1Q ids are 1-4094 (0 marks priority-tagged frames of no VLAN, 4095 is reserved)",
            )),
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }

    /// A decimal id as written in a name or a key (digits only, no sign).
    fn parse(s: &str) -> Result<VlanId, ValueError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("vlan id", s, "expected a decimal number 1-4094"));
        }
        let id = s
            .parse()
            .map_err(|_| invalid("vlan id", s, "expected a decimal number 1-4094"))?;
        VlanId::new(id)
    }
}

impl fmt::Display for VlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How the VLAN interface is named: the kernel's `VLAN_NAME_TYPE_*`, as dracut spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VlanNaming {
    /// `vlan0005`.
    VlanPlusVid,
    /// `vlan5`.
    VlanPlusVidNoPad,
    /// `bond0.0005`.
    DevPlusVid,
    /// `bond0.5`: netroot's default.
    DevPlusVidNoPad,
}

/// The VLAN on the bond: the address, DHCP and the NFS root use its interface.
///
/// The fields are private so that one interface name is one value: an id of four digits names
/// the same interface padded or not, and is kept as unpadded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanConfig {
    id: VlanId,
    naming: VlanNaming,
}

/// Ids from here on have four digits: padding them changes nothing.
const FOUR_DIGIT_ID: u16 = 1000;

impl VlanConfig {
    /// A VLAN with netroot's default name `<bond>.<id>`.
    pub fn new(id: VlanId) -> VlanConfig {
        VlanConfig::with_naming(id, VlanNaming::DevPlusVidNoPad)
    }

    /// A VLAN named by `naming`.
    pub fn with_naming(id: VlanId, naming: VlanNaming) -> VlanConfig {
        let naming = match naming {
            VlanNaming::VlanPlusVid if id.get() >= FOUR_DIGIT_ID => VlanNaming::VlanPlusVidNoPad,
            VlanNaming::DevPlusVid if id.get() >= FOUR_DIGIT_ID => VlanNaming::DevPlusVidNoPad,
            other => other,
        };
        VlanConfig { id, naming }
    }

    pub fn id(&self) -> VlanId {
        self.id
    }

    pub fn naming(&self) -> VlanNaming {
        self.naming
    }

    /// The interface name on the bond `bond`: the one place it is derived.
    pub fn ifname(&self, bond: &str) -> String {
        let id = self.id.get();
        match self.naming {
            VlanNaming::VlanPlusVid => format!("{VLAN_PREFIX}{id:04}"),
            VlanNaming::VlanPlusVidNoPad => format!("{VLAN_PREFIX}{id}"),
            VlanNaming::DevPlusVid => format!("{bond}.{id:04}"),
            VlanNaming::DevPlusVidNoPad => format!("{bond}.{id}"),
        }
    }

    /// Parses a VLAN interface name of one of the four forms on the device `parent`; the id
    /// comes from the name. A padded form has exactly four digits, an unpadded one no leading
    /// zero (`vlan005` is neither). Ids of four digits name the same interface either way and
    /// read as unpadded, so a config renders and parses back to itself.
    pub fn from_ifname(name: &str, parent: &str) -> Result<VlanConfig, ValueError> {
        let forms = [
            (
                name.strip_prefix(VLAN_PREFIX),
                VlanNaming::VlanPlusVid,
                VlanNaming::VlanPlusVidNoPad,
            ),
            (
                name.strip_prefix(parent).and_then(|r| r.strip_prefix('.')),
                VlanNaming::DevPlusVid,
                VlanNaming::DevPlusVidNoPad,
            ),
        ];
        for (digits, padded, unpadded) in forms {
            let Some(digits) =
                digits.filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let id = VlanId::parse(digits)?;
            let naming = if !digits.starts_with('0') {
                unpadded
            } else if digits.len() == PADDED_DIGITS {
                padded
            } else {
                break;
            };
            return Ok(VlanConfig::with_naming(id, naming));
        }
        Err(invalid(
            "vlan interface name",
            name,
            format!(
                "expected vlan<id> or {parent}.<id>, the id without leading zeros or in four digits (vlan0005, vlan5, {parent}.0005, {parent}.5)"
            ),
        ))
    }

    /// The `netroot.vlan` value: the id for the default name, else the interface name.
    pub fn render(&self, bond: &str) -> String {
        match self.naming {
            VlanNaming::DevPlusVidNoPad => self.id.to_string(),
            _ => self.ifname(bond),
        }
    }

    /// Parses a `netroot.vlan` value: an id (the name `<bond>.<id>`) or an interface name of
    /// one of the four forms on `bond`.
    pub fn parse(v: &str, bond: &str) -> Result<VlanConfig, ValueError> {
        if v.bytes().all(|b| b.is_ascii_digit()) {
            return VlanId::parse(v).map(VlanConfig::new);
        }
        VlanConfig::from_ifname(v, bond)
    }
}

impl BootConfig {
    /// The VLAN interface's name, when the config has a VLAN.
    pub fn vlan_ifname(&self) -> Option<String> {
        self.vlan.map(|v| v.ifname(&self.bond.name))
    }

    /// The interface that gets the address (and runs DHCP and the NFS mount): the VLAN when
    /// there is one, else the bond.
    pub fn address_iface(&self) -> String {
        self.vlan_ifname().unwrap_or_else(|| self.bond.name.clone())
    }
}

/// `vlan=<vlanname>:<phydevice>` (dracut.cmdline(7)): the VLAN and the device it is on.
pub(crate) fn parse_vlan_arg(v: &str) -> Result<(VlanConfig, String), ValueError> {
    let (name, parent) = v
        .split_once(':')
        .filter(|(_, p)| !p.contains(':'))
        .ok_or_else(|| invalid("vlan", v, "expected <vlanname>:<phydevice>"))?;
    super::net::validate_ifname(parent)?;
    Ok((VlanConfig::from_ifname(name, parent)?, parent.to_string()))
}

/// Renders `vlan=`'s value for the VLAN on `bond`.
pub(crate) fn render_vlan_arg(vlan: &VlanConfig, bond: &str) -> String {
    format!("{}:{bond}", vlan.ifname(bond))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vlan(id: u16, naming: VlanNaming) -> VlanConfig {
        VlanConfig::with_naming(VlanId(id), naming)
    }

    #[test]
    fn ids_outside_802_1q_are_refused_with_the_value() {
        assert_eq!(VlanId::new(1).map(VlanId::get), Ok(1));
        assert_eq!(VlanId::new(4094).map(VlanId::get), Ok(4094));
        for bad in [0, 4095, 65536 + 5, -5] {
            let e = VlanId::new(bad).expect_err("out of range").to_string();
            assert!(
                e.contains(&format!("\"{bad}\"")) && e.contains("1-4094"),
                "{e}"
            );
        }
    }

    #[test]
    fn the_four_dracut_names_give_the_id_and_name_back() {
        use VlanNaming::*;
        for (name, want) in [
            ("vlan0005", vlan(5, VlanPlusVid)),
            ("vlan5", vlan(5, VlanPlusVidNoPad)),
            ("bond0.0005", vlan(5, DevPlusVid)),
            ("bond0.5", vlan(5, DevPlusVidNoPad)),
            ("vlan4094", vlan(4094, VlanPlusVidNoPad)),
            ("bond0.0100", vlan(100, DevPlusVid)),
        ] {
            let got = VlanConfig::from_ifname(name, "bond0").expect(name);
            assert_eq!(got, want, "{name}");
            assert_eq!(got.ifname("bond0"), name);
            assert_eq!(VlanConfig::parse(&got.render("bond0"), "bond0"), Ok(got));
        }
        assert_eq!(
            VlanConfig::parse("7", "bond0"),
            Ok(vlan(7, DevPlusVidNoPad))
        );
    }

    #[test]
    fn other_names_are_refused() {
        for bad in [
            "vlan",
            "vlan005",
            "vlan00005",
            "vlan0",
            "vlan0000",
            "vlan4095",
            "bond1.5",
            "bond0.",
            "bond0.+5",
            "eth0",
            "bond05",
            "vlanx",
        ] {
            assert!(VlanConfig::from_ifname(bad, "bond0").is_err(), "{bad}");
        }
        assert!(VlanConfig::parse("0", "bond0").is_err());
        assert!(VlanConfig::parse("", "bond0").is_err());
    }

    #[test]
    fn vlan_arg_needs_exactly_a_name_and_a_device() {
        let (v, parent) = parse_vlan_arg("vlan0005:bond0").expect("parses");
        assert_eq!(
            (v, parent.as_str()),
            (vlan(5, VlanNaming::VlanPlusVid), "bond0")
        );
        assert_eq!(render_vlan_arg(&v, "bond0"), "vlan0005:bond0");
        for bad in ["vlan5", "vlan5:", ":bond0", "vlan5:bond0:x", "eth0.5:bond0"] {
            assert!(parse_vlan_arg(bad).is_err(), "{bad}");
        }
    }
}
