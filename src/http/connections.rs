//! A listener that caps open connections: all of them (`--max-connections`)
//! and those of one client address (`--max-connections-per-address`, an
//! IPv6 client by its /64, trusted proxies exempt). Past a cap a connection
//! is answered `503` with `Retry-After` and closed at once, instead of
//! waiting in the accept queue or taking memory without bound.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::Listener;
use ipnet::IpNet;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::AddressKey;

/// The one response a connection past a cap gets. Written whole, before
/// reading the request: hyper is not involved, so a refused connection costs
/// a few hundred bytes for at most `REFUSAL_TIMEOUT`.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/problem+json\r\n\
x-content-type-options: nosniff\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 129\r\n\
\r\n\
{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,\"detail\":\"Too many open connections; retry after Retry-After.\"}\n";
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);
/// Refusals being written at once; past it, connections are simply closed.
const REFUSING_AT_ONCE: usize = 256;

/// The caps a `CappedListener` holds connections to.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Open connections of one client address at most; 0 = no cap.
    pub per_address: usize,
    /// Peers not capped per address: reverse proxies carry many clients.
    pub exempt: Vec<IpNet>,
}

/// Why a connection was refused: the `reason` label of
/// `connections_refused_total`.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    MaxConnections,
    PerAddress,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Self::MaxConnections => "max_connections",
            Self::PerAddress => "per_address",
        }
    }
}

pub struct CappedListener {
    inner: TcpListener,
    open: Arc<Semaphore>,
    per_address: PerAddress,
    refusing: Arc<Semaphore>,
}

impl CappedListener {
    pub fn new(inner: TcpListener, limits: ConnectionLimits) -> Self {
        Self {
            inner,
            open: Arc::new(Semaphore::new(limits.max_connections)),
            per_address: PerAddress {
                cap: limits.per_address,
                exempt: limits.exempt,
                open: Arc::default(),
            },
            refusing: Arc::new(Semaphore::new(REFUSING_AT_ONCE)),
        }
    }

    /// The next connection within the caps; those past a cap are refused
    /// on the way.
    pub async fn accept(&mut self) -> (CappedStream, SocketAddr) {
        loop {
            // axum's `accept` retries on errors such as EMFILE (after a
            // pause), so the loop never spins on a full file table.
            let (stream, addr) = Listener::accept(&mut self.inner).await;
            let Some(address_slot) = self.per_address.take(addr) else {
                self.refuse(stream, Refusal::PerAddress);
                continue;
            };
            match self.open.clone().try_acquire_owned() {
                Ok(permit) => {
                    let _ = stream.set_nodelay(true);
                    let stream = CappedStream {
                        stream,
                        _permit: permit,
                        _address_slot: address_slot,
                    };
                    return (stream, addr);
                }
                Err(_) => self.refuse(stream, Refusal::MaxConnections),
            }
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn refuse(&self, mut stream: TcpStream, why: Refusal) {
        metrics::counter!("connections_refused_total", "reason" => why.label()).increment(1);
        let Ok(permit) = self.refusing.clone().try_acquire_owned() else {
            return; // dropped: closed at once
        };
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REFUSAL_TIMEOUT, async {
                stream.write_all(REFUSAL).await?;
                stream.shutdown().await
            })
            .await;
            drop(permit);
        });
    }
}

/// Open connections per client address. An entry lives while its count is
/// above zero: the last `AddressSlot` of an address removes it, so the map
/// holds at most one entry per open connection.
struct PerAddress {
    cap: usize,
    exempt: Vec<IpNet>,
    open: OpenPerAddress,
}

type OpenPerAddress = Arc<Mutex<HashMap<AddressKey, usize>>>;

impl PerAddress {
    /// A slot for one more connection from `peer`, or `None` past the cap.
    fn take(&self, peer: SocketAddr) -> Option<AddressSlot> {
        let ip = peer.ip().to_canonical();
        if self.cap == 0 || self.exempt.iter().any(|net| net.contains(&ip)) {
            return Some(AddressSlot(None));
        }
        let key = AddressKey::of(ip);
        let mut open = self.open.lock();
        let count = open.entry(key).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(AddressSlot(Some((key, self.open.clone()))))
    }
}

/// One connection's place in its address's count, given back on drop.
struct AddressSlot(Option<(AddressKey, OpenPerAddress)>);

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let Some((key, open)) = self.0.take() else {
            return;
        };
        let mut open = open.lock();
        if let Some(count) = open.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

/// A connection holding its slots until it closes.
pub struct CappedStream {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    _address_slot: AddressSlot,
}

impl AsyncRead for CappedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CappedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_address(cap: usize, exempt: &[&str]) -> PerAddress {
        PerAddress {
            cap,
            exempt: exempt.iter().map(|n| n.parse().unwrap()).collect(),
            open: Arc::default(),
        }
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 40000)
    }

    #[test]
    fn an_address_holds_at_most_the_cap_and_gets_its_slots_back_on_close() {
        let limits = per_address(2, &[]);
        let first = limits.take(peer("192.0.2.1")).unwrap();
        let _second = limits.take(peer("192.0.2.1")).unwrap();
        assert!(limits.take(peer("192.0.2.1")).is_none());
        assert!(limits.take(peer("192.0.2.2")).is_some());
        drop(first);
        assert!(limits.take(peer("192.0.2.1")).is_some());
    }

    #[test]
    fn an_address_whose_connections_all_closed_leaves_no_entry() {
        let limits = per_address(3, &[]);
        let slots: Vec<_> = (0..3).map(|_| limits.take(peer("192.0.2.1"))).collect();
        let other = limits.take(peer("2001:db8::1"));
        assert_eq!(limits.open.lock().len(), 2);
        drop(slots);
        drop(other);
        assert!(limits.open.lock().is_empty());
    }

    #[test]
    fn an_ipv6_client_is_capped_by_its_64() {
        let limits = per_address(1, &[]);
        let _slot = limits.take(peer("2001:db8:1:2::1")).unwrap();
        assert!(limits.take(peer("2001:db8:1:2::99")).is_none());
        assert!(limits.take(peer("2001:db8:1:3::1")).is_some());
    }

    #[test]
    fn trusted_proxies_and_a_cap_of_zero_are_not_capped() {
        let limits = per_address(1, &["10.0.0.0/8"]);
        let slots: Vec<_> = (0..5).map(|_| limits.take(peer("10.1.2.3"))).collect();
        assert!(slots.iter().all(Option::is_some));
        assert!(limits.open.lock().is_empty());
        let none = per_address(0, &[]);
        assert!((0..5).all(|_| none.take(peer("192.0.2.1")).is_some()));
    }

    #[test]
    fn the_refusal_states_its_body_length_exactly() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(length, body.len());
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["status"], 503);
    }
}
