//! Free loopback ports for the services a test starts.

use std::net::Ipv4Addr;
use std::net::SocketAddrV4;
use std::net::TcpListener;
use std::sync::atomic::AtomicU16;
use std::sync::atomic::Ordering;

/// Ports are handed out from 20000..32000 (below Linux's ephemeral range, so no outgoing
/// connection takes one between our check and the child's bind), starting at a per-process
/// random point so that test binaries running at the same time rarely meet.
const PORT_LOW: u16 = 20_000;
const PORT_HIGH: u16 = 32_000;
static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// The first of `n` consecutive ports that are free on 127.0.0.1 right now.
pub fn free_ports(n: u16) -> u16 {
    if NEXT_PORT.load(Ordering::SeqCst) == 0 {
        let seed = std::process::id() as u64
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos() as u64;
        let start = PORT_LOW + (seed % u64::from(PORT_HIGH - PORT_LOW - 1000)) as u16;
        let _ = NEXT_PORT.compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst);
    }
    for _ in 0..2000 {
        let mut base = NEXT_PORT.fetch_add(n, Ordering::SeqCst);
        if base < PORT_LOW || base + n > PORT_HIGH {
            base = PORT_LOW;
            NEXT_PORT.store(PORT_LOW + n, Ordering::SeqCst);
        }
        let held: Vec<TcpListener> = (base..base + n)
            .filter_map(|p| TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, p)).ok())
            .collect();
        if held.len() == usize::from(n) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports on 127.0.0.1");
}

pub fn free_port() -> u16 {
    free_ports(1)
}

pub fn base_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}
