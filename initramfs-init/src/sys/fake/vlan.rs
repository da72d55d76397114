//! The kernel's rules for creating an 802.1Q VLAN link (`rtnl_newlink` with kind `vlan`,
//! net/8021q/vlan_netlink.c), as [`FakeSys::add_vlan`] applies them, in the kernel's order.

use rustix::io::Errno;

use super::FakeSys;
use crate::bootconfig::{format_mac, IFNAME_MAX_LEN, VLAN_MODULE};

/// Where a loaded module shows (`/sys/module/<name>`); the fake's `finit_module` creates it.
pub const SYS_MODULE_DIR: &str = "/sys/module";
/// `VLAN_VID_MASK`: ids from here on are refused (`vlan_validate`).
const VLAN_VID_MASK: u16 = 0xfff;

impl FakeSys {
    /// Whether `finit_module` loaded module `name` (or a test scripted it as loaded).
    pub fn module_loaded(&self, name: &str) -> bool {
        self.exists(&format!("{SYS_MODULE_DIR}/{name}"))
    }

    /// Creates the VLAN interface `name` on `parent`, or the errno the kernel gives:
    /// `ERANGE` for a name over `IFNAMSIZ - 1` bytes (the IFLA_IFNAME policy) and for an id of
    /// 4095 or more, `EEXIST` when `name` exists (NLM_F_EXCL), `EOPNOTSUPP` when no `vlan`
    /// link kind is registered (8021q not loaded and no modprobe in an initramfs), `ENODEV`
    /// when the parent does not exist. The VLAN takes its parent's MAC, as `vlan_dev_init` does.
    pub(super) fn emulate_add_vlan(
        &mut self,
        parent: &str,
        name: &str,
        id: u16,
    ) -> Result<(), Errno> {
        if name.is_empty() || name.len() > IFNAME_MAX_LEN {
            return Err(Errno::RANGE);
        }
        if self.iface_exists(name) {
            return Err(Errno::EXIST);
        }
        if !self.module_loaded(VLAN_MODULE) {
            return Err(Errno::OPNOTSUPP);
        }
        if id >= VLAN_VID_MASK {
            return Err(Errno::RANGE);
        }
        let mac = self
            .file(&format!("{}/{parent}/address", self.net_dir))
            .ok_or(Errno::NODEV)?;
        let mac = crate::parse::parse_sysfs_mac(&mac).ok_or(Errno::NODEV)?;
        self.add_interface(name, &format_mac(&mac));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{Call, Sys};

    fn machine(with_8021q: bool) -> FakeSys {
        let mut sys = FakeSys::new();
        sys.add_interface("bond0", "52:54:00:00:00:07");
        if with_8021q {
            sys.add_file("/lib/modules/k/8021q.ko", "ELF");
            sys.finit_module("/lib/modules/k/8021q.ko", "")
                .expect("loads");
        }
        sys
    }

    fn errno(sys: &mut FakeSys, parent: &str, name: &str, id: u16) -> Option<Errno> {
        sys.add_vlan(parent, name, id).err().map(|e| e.errno)
    }

    #[test]
    fn a_vlan_is_created_with_its_parents_mac_once() {
        let mut sys = machine(true);
        assert!(sys.module_loaded("8021q"));
        sys.add_vlan("bond0", "bond0.5", 5).expect("created");
        assert_eq!(
            sys.file("/sys/class/net/bond0.5/address").as_deref(),
            Some("52:54:00:00:00:07\n")
        );
        assert_eq!(
            sys.calls.last(),
            Some(&Call::AddVlan {
                parent: "bond0".into(),
                name: "bond0.5".into(),
                id: 5
            })
        );
        assert_eq!(errno(&mut sys, "bond0", "bond0.5", 5), Some(Errno::EXIST));
    }

    #[test]
    fn the_kernels_refusals() {
        assert_eq!(
            errno(&mut machine(false), "bond0", "bond0.5", 5),
            Some(Errno::OPNOTSUPP)
        );
        let mut sys = machine(true);
        assert_eq!(errno(&mut sys, "bond1", "bond1.5", 5), Some(Errno::NODEV));
        assert_eq!(errno(&mut sys, "bond0", "v", 4095), Some(Errno::RANGE));
        assert_eq!(
            errno(&mut sys, "bond0", "a-name-of-16-byt", 5),
            Some(Errno::RANGE)
        );
        assert_eq!(errno(&mut sys, "bond0", "bond0", 5), Some(Errno::EXIST));
        let e = sys.add_vlan("bond0", "vlan7", 7).map(|()| "ok");
        assert_eq!(e, Ok("ok"));
    }
}
