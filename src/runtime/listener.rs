//! Client listeners: one SO_REUSEPORT socket per core per address, so the kernel spreads
//! connections over the cores and a connection stays on its core for life.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;

use socket2::{Domain, Protocol, Socket, Type};

/// The same backlog as Go's default (etcd) on Linux is the kernel's somaxconn; 1024 is
/// the common value and what glommio uses.
const BACKLOG: i32 = 1024;

/// Checks that nobody holds `addr` and resolves port 0 to a concrete port.
///
/// The probe binds *without* SO_REUSEPORT: that fails if any socket is bound to the address,
/// including another ringkv's reuse-port sockets, which would otherwise silently share the
/// port with us.
pub fn probe(addr: SocketAddr) -> io::Result<SocketAddr> {
    let probe = TcpListener::bind(addr)?;
    probe.local_addr()
}

/// Binds and listens on `addr` with SO_REUSEPORT, for one core.
pub fn bind_reuseport(addr: SocketAddr) -> io::Result<OwnedFd> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_port(true)?;
    socket.set_reuse_address(true)?;
    socket.set_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_resolves_and_cores_share_it() {
        let addr = probe("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_ne!(addr.port(), 0);
        let a = bind_reuseport(addr).unwrap();
        let b = bind_reuseport(addr).unwrap();
        // While we hold the port, another process's probe must fail.
        assert!(probe(addr).is_err());
        drop((a, b));
    }
}
