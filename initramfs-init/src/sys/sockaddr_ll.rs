//! The init's only `unsafe`: a `sockaddr_ll` for binding an AF_PACKET socket to one interface.
//!
//! rustix has no link-layer socket address type, and an AF_PACKET socket must be bound to an
//! interface index before it can send (the DHCP client runs before the bond has an IPv4 address,
//! so a UDP socket cannot receive the server's unicast replies). Implementing rustix's
//! `SocketAddrArg` for our own `#[repr(C)]` struct is an `unsafe impl`; nothing else here is unsafe.
#![allow(unsafe_code)]

use rustix::net::addr::{SocketAddrArg, SocketAddrLen, SocketAddrOpaque};

/// `AF_PACKET` from <linux/socket.h>.
const AF_PACKET: u16 = 17;

/// `struct sockaddr_ll` from <linux/if_packet.h>, field for field.
#[repr(C)]
struct RawSockaddrLl {
    sll_family: u16,
    /// Ethertype in network byte order.
    sll_protocol: u16,
    sll_ifindex: i32,
    sll_hatype: u16,
    sll_pkttype: u8,
    sll_halen: u8,
    sll_addr: [u8; 8],
}

/// A link-layer address naming an interface and the ethertype to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketAddrLl {
    pub ifindex: i32,
    /// Ethertype in host byte order (`0x0800` for IPv4).
    pub ethertype: u16,
}

// SAFETY: `with_sockaddr` calls `f` with a pointer to a live, fully initialised
// `RawSockaddrLl` on this stack frame and exactly its size, which is the layout the kernel
// expects for an AF_PACKET `sockaddr`; the pointer is only valid during the call, as the trait
// requires.
unsafe impl SocketAddrArg for SocketAddrLl {
    unsafe fn with_sockaddr<R>(
        &self,
        f: impl FnOnce(*const SocketAddrOpaque, SocketAddrLen) -> R,
    ) -> R {
        let raw = RawSockaddrLl {
            sll_family: AF_PACKET,
            sll_protocol: self.ethertype.to_be(),
            sll_ifindex: self.ifindex,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 0,
            sll_addr: [0; 8],
        };
        let len = std::mem::size_of::<RawSockaddrLl>() as SocketAddrLen;
        f(std::ptr::from_ref(&raw).cast::<SocketAddrOpaque>(), len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_ll_has_the_kernel_layout() {
        // sizeof(struct sockaddr_ll) is 20 on every Linux ABI.
        assert_eq!(std::mem::size_of::<RawSockaddrLl>(), 20);
        let addr = SocketAddrLl {
            ifindex: 7,
            ethertype: 0x0800,
        };
        let any = addr.as_any();
        assert_eq!(any.addr_len(), 20);
        assert_eq!(any.address_family(), rustix::net::AddressFamily::PACKET);
    }
}
