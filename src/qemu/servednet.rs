//! The guest network of a `netroot qemu` boot of published files: QEMU user networking laid out
//! so that the profile's NFS server address exists for the guest, and the published kernel
//! command line (`root=nfs:SERVER:/EXPORT/PROFILE/GEN`, default NFS port) works unchanged.
//!
//! User networking is moved onto the server's /24: its own host address, DNS address and DHCP
//! range are picked beside the server's, and a `guestfwd` rule makes TCP to SERVER:PORT run a
//! relay (`busybox nc 127.0.0.1 GANESHA_PORT`) per connection, so each VM reaches its own
//! nfs-ganesha on a free loopback port. `restrict=on` keeps the guest off every other host
//! address (QEMU's DHCP, TFTP and the forward still work): the node can reach nothing but its
//! NFS server, as the project's no-outside-traffic rule needs.

use std::net::Ipv4Addr;

use super::QemuError;

/// The relay QEMU runs per forwarded connection (via `/bin/sh -c`), with `127.0.0.1 PORT`
/// appended: busybox's nc exits when either side closes, so every NFS reconnect (a late
/// server, a client retry) gets a fresh relay. busybox-static is a ci/setup package.
pub const RELAY: &str = "busybox nc";
/// The NFS port when the profile's `nfs.options` have no `port=`.
pub const NFS_PORT: u16 = 2049;
/// Host bytes tried, in order, for user networking's own addresses: its usual ones first.
const HOST_CANDIDATES: [u8; 4] = [2, 254, 3, 253];
const DNS_CANDIDATES: [u8; 4] = [3, 253, 4, 252];
/// First addresses of the DHCP range; QEMU hands out 16 addresses from there.
const DHCP_CANDIDATES: [u8; 3] = [15, 100, 200];
const DHCP_RANGE: u8 = 16;

/// One VM's user network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedNet {
    /// The /24 network address.
    pub net: Ipv4Addr,
    /// User networking's own address: DHCP server, TFTP server (`next-server`).
    pub host: Ipv4Addr,
    pub dns: Ipv4Addr,
    /// The first address QEMU's DHCP hands out (the guest gets this one).
    pub dhcp_start: Ipv4Addr,
    /// The profile's NFS server and port, as the guest connects to them.
    pub server: Ipv4Addr,
    pub server_port: u16,
    /// nfs-ganesha's port on 127.0.0.1.
    pub forward_port: u16,
}

impl ServedNet {
    /// Lays out the /24 around `server`. Fails for a network or broadcast address.
    pub fn plan(server: Ipv4Addr, server_port: u16, forward_port: u16) -> Result<Self, QemuError> {
        let [a, b, c, d] = server.octets();
        if d == 0 || d == 255 {
            return Err(QemuError::BadSetting {
                what: "nfs.server",
                value: server.to_string(),
                reason: "the network or broadcast address of its /24 cannot be an NFS server"
                    .into(),
            });
        }
        let at = |x: u8| Ipv4Addr::new(a, b, c, x);
        let host = HOST_CANDIDATES.into_iter().find(|&h| h != d);
        let dns = DNS_CANDIDATES
            .into_iter()
            .find(|&n| n != d && Some(n) != host);
        let dhcp = DHCP_CANDIDATES.into_iter().find(|&s| {
            let range = s..s.saturating_add(DHCP_RANGE);
            [Some(d), host, dns]
                .into_iter()
                .flatten()
                .all(|x| !range.contains(&x))
        });
        // Four candidates against at most three taken values: always found.
        let (Some(host), Some(dns), Some(dhcp)) = (host, dns, dhcp) else {
            return Err(QemuError::BadSetting {
                what: "nfs.server",
                value: server.to_string(),
                reason: "no free addresses for QEMU's user network around it".into(),
            });
        };
        Ok(ServedNet {
            net: at(0),
            host: at(host),
            dns: at(dns),
            dhcp_start: at(dhcp),
            server,
            server_port,
            forward_port,
        })
    }

    /// QEMU's `-netdev user,...` value with id `id`, plus `extra` (`,tftp=..,bootfile=..`).
    pub fn netdev(&self, id: &str, extra: &str) -> String {
        format!(
            "user,id={id},net={}/24,host={},dns={},dhcpstart={},restrict=on,guestfwd=tcp:{}:{}-cmd:{RELAY} 127.0.0.1 {}{extra}",
            self.net, self.host, self.dns, self.dhcp_start, self.server, self.server_port, self.forward_port
        )
    }
}

/// The NFS port the guest will use: the last `port=` of the mount options, else 2049.
pub fn nfs_port(options: &str) -> Result<u16, QemuError> {
    let mut port = NFS_PORT;
    for value in options.split(',').filter_map(|o| o.strip_prefix("port=")) {
        port = match value.parse::<u16>() {
            Ok(p) if p != 0 => p,
            _ => {
                return Err(QemuError::BadSetting {
                    what: "nfs.options port",
                    value: value.to_string(),
                    reason: "expected a port number 1-65535".into(),
                })
            }
        };
    }
    Ok(port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("ip")
    }

    #[test]
    fn the_qemu_profiles_server_moves_user_networking_aside() {
        let n = ServedNet::plan(ip("10.0.2.2"), 2049, 40123).expect("plan");
        assert_eq!(
            (n.net, n.host, n.dns, n.dhcp_start),
            (
                ip("10.0.2.0"),
                ip("10.0.2.254"),
                ip("10.0.2.3"),
                ip("10.0.2.15")
            )
        );
        assert_eq!(
            n.netdev("u0", ",tftp=/t,bootfile=netroot.ipxe"),
            "user,id=u0,net=10.0.2.0/24,host=10.0.2.254,dns=10.0.2.3,dhcpstart=10.0.2.15,restrict=on,guestfwd=tcp:10.0.2.2:2049-cmd:busybox nc 127.0.0.1 40123,tftp=/t,bootfile=netroot.ipxe"
        );
    }

    #[test]
    fn a_cluster_server_gets_its_own_subnet_and_free_addresses() {
        let n = ServedNet::plan(ip("192.168.7.1"), 20490, 1).expect("plan");
        assert_eq!(
            (n.net, n.host, n.dns, n.dhcp_start),
            (
                ip("192.168.7.0"),
                ip("192.168.7.2"),
                ip("192.168.7.3"),
                ip("192.168.7.15")
            )
        );
        // A server inside the usual DHCP range pushes the range away.
        let n = ServedNet::plan(ip("10.1.1.20"), 2049, 1).expect("plan");
        assert_eq!(n.dhcp_start, ip("10.1.1.100"));
        // A server on the usual DNS address.
        let n = ServedNet::plan(ip("10.1.1.3"), 2049, 1).expect("plan");
        assert_eq!((n.host, n.dns), (ip("10.1.1.2"), ip("10.1.1.253")));
    }

    #[test]
    fn no_address_of_the_plan_collides() {
        for d in 1..=254u8 {
            let n = ServedNet::plan(Ipv4Addr::new(10, 9, 8, d), 2049, 1).expect("plan");
            let last = |a: Ipv4Addr| a.octets()[3];
            let range = last(n.dhcp_start)..last(n.dhcp_start) + DHCP_RANGE;
            let taken = [d, last(n.host), last(n.dns)];
            assert_eq!(
                taken
                    .iter()
                    .collect::<std::collections::BTreeSet<_>>()
                    .len(),
                3,
                "{n:?}"
            );
            assert!(taken.iter().all(|t| !range.contains(t)), "{n:?}");
        }
    }

    #[test]
    fn network_and_broadcast_addresses_are_refused() {
        for bad in ["10.0.2.0", "10.0.2.255"] {
            let e = ServedNet::plan(ip(bad), 2049, 1).expect_err(bad);
            assert_eq!(e.to_string(), format!("invalid nfs.server \"{bad}\": the network or broadcast address of its /24 cannot be an NFS server"));
        }
    }

    #[test]
    fn the_nfs_port_comes_from_the_mount_options() {
        assert_eq!(nfs_port("").expect("default"), 2049);
        assert_eq!(nfs_port("ro,port=20490,nolock").expect("port"), 20490);
        assert_eq!(nfs_port("port=1,port=3").expect("last wins"), 3);
        for bad in ["port=0", "port=x", "port=70000"] {
            let e = nfs_port(bad).expect_err(bad);
            assert_eq!(
                e.to_string(),
                format!(
                    "invalid nfs.options port {:?}: expected a port number 1-65535",
                    &bad[5..]
                )
            );
        }
    }
}
