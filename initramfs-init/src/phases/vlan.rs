//! Phase `vlan`: with a VLAN configured (`netroot.vlan`, dracut's `vlan=`), create it on the
//! bond over netlink (the bond is up and has its ports) and bring it up; addressing, DHCP and
//! the NFS mount then run on it. Without one the phase logs `none` and they run on the bond.

use rustix::io::Errno;

use super::Ctx;
use crate::bootconfig::{BootConfig, VLAN_MODULE};
use crate::failure::{Fatal, Phase};
use crate::phases::bond::BondReport;

/// The interface that gets the address: the VLAN, or the bond itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uplink {
    pub name: String,
    /// Its MAC (the DHCP client's chaddr): a VLAN has its bond's.
    pub mac: [u8; 6],
}

/// Why the kernel answers EOPNOTSUPP to a new `vlan` link: no driver registered the kind, and
/// an initramfs has no modprobe for the kernel to load one with.
fn no_vlan_module() -> String {
    format!("the {VLAN_MODULE} module is missing (not loaded), so the kernel has no vlan link type; the image must load {VLAN_MODULE}")
}

pub fn run(ctx: &mut Ctx, cfg: &BootConfig, bond: &BondReport) -> Result<Uplink, Fatal> {
    let Some(vlan) = cfg.vlan else {
        ctx.log(Phase::Vlan, "none");
        return Ok(Uplink {
            name: bond.name.clone(),
            mac: bond.mac,
        });
    };
    let name = vlan.ifname(&bond.name);
    let id = vlan.id().get();
    ctx.sys.add_vlan(&bond.name, &name, id).map_err(|e| {
        if e.errno == Errno::OPNOTSUPP {
            Fatal::new(Phase::Vlan, format!("{e}: {}", no_vlan_module()))
        } else {
            Fatal::new(Phase::Vlan, e)
        }
    })?;
    ctx.sys
        .set_link_up(&name, true)
        .map_err(|e| Fatal::new(Phase::Vlan, e))?;
    ctx.log(
        Phase::Vlan,
        &format!("name={name} id={id} on={}", bond.name),
    );
    Ok(Uplink {
        name,
        mac: bond.mac,
    })
}

#[cfg(test)]
mod tests;
