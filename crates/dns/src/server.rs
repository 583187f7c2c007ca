//! The DNS server loops: UDP (several tasks on one socket) and TCP (2-byte length framing, one
//! task per connection, bounded: in all, per client address, in idle time, write time and
//! lifetime), each query answered by [`answer`] against the published snapshot; names outside
//! the domain forwarded to the resolvers over the client's transport.

use crate::answer::{answer, error_reply, Outcome, Transport, Zone, MAX_QUERY};
use crate::metrics::{DnsMetrics, Forwarded};
use crate::records::RecordSet;
use hickory_proto::op::ResponseCode;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{watch, Semaphore};

/// The record snapshot being served; swapped whole when a new one is built.
#[derive(Clone, Default)]
pub struct Published(Arc<RwLock<Option<Arc<RecordSet>>>>);

impl Published {
    /// The snapshot served now (none before the first load).
    pub fn current(&self) -> Option<Arc<RecordSet>> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub(crate) fn publish(&self, rs: RecordSet) {
        let rs = Some(Arc::new(rs));
        match self.0.write() {
            Ok(mut g) => *g = rs,
            Err(p) => *p.into_inner() = rs,
        }
    }
}

/// What the loops share.
pub(crate) struct Served {
    pub zone: Zone,
    pub records: Published,
    /// Per resolver, per forward.
    pub timeout: Duration,
    /// Forwards in flight (UDP) and connections open (TCP), bounded.
    pub forwards: Semaphore,
    pub connections: Semaphore,
    pub tcp: TcpLimits,
    /// TCP connections open, per client address.
    pub peers: Mutex<PeerCounts>,
    /// Replies and forwards, counted for `/metrics`.
    pub metrics: DnsMetrics,
}

/// What bounds a TCP connection besides the number open.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TcpLimits {
    /// How long it may sit idle between queries (or in the middle of one).
    pub idle: Duration,
    /// How long writing one reply may take (a client that never reads).
    pub write: Duration,
    /// How long it may stay open, however busy.
    pub lifetime: Duration,
    /// How many one client address may have open, so that one client cannot take them all.
    pub per_peer: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            idle: Duration::from_secs(10),
            write: Duration::from_secs(10),
            lifetime: Duration::from_secs(120),
            per_peer: 64,
        }
    }
}

/// Connections open per client address (pure bookkeeping; no entry for an address with none).
#[derive(Debug, Default)]
pub(crate) struct PeerCounts(HashMap<IpAddr, usize>);

impl PeerCounts {
    /// Count one more for `ip`, unless it has `max` already.
    pub fn try_add(&mut self, ip: IpAddr, max: usize) -> bool {
        let n = self.0.get(&ip).copied().unwrap_or(0);
        if n >= max {
            return false;
        }
        self.0.insert(ip, n + 1);
        true
    }

    /// Count one fewer for `ip`.
    pub fn remove(&mut self, ip: IpAddr) {
        if let Some(n) = self.0.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.0.remove(&ip);
            }
        }
    }
}

impl Served {
    fn peers(&self) -> std::sync::MutexGuard<'_, PeerCounts> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a TCP connection from `ip`: one of the connections, one of the address'.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        let permit = self.connections.try_acquire().ok()?;
        if !self.peers().try_add(ip, self.tcp.per_peer) {
            return None; // the permit goes back as it drops
        }
        permit.forget();
        Some(Admitted {
            s: self.clone(),
            ip,
        })
    }
}

/// A TCP connection's slot, given back when it drops (however the connection's task ends).
struct Admitted {
    s: Arc<Served>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.s.peers().remove(self.ip);
        self.s.connections.add_permits(1);
    }
}

pub(crate) async fn udp_loop(
    sock: Arc<UdpSocket>,
    s: Arc<Served>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; MAX_QUERY + 1];
    loop {
        let (n, peer) = tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!("dns udp receive: {e}");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let query = &buf[..n];
        let snap = s.records.current();
        match answer(
            query,
            snap.as_deref(),
            &s.zone,
            Transport::Udp,
            fastrand::u64(..),
        ) {
            Outcome::Reply(b) => {
                s.metrics.answered(&b, Transport::Udp);
                let _ = sock.send_to(&b, peer).await;
            }
            Outcome::Drop => {}
            Outcome::Forward(rs) => {
                let Ok(permit) = s.forwards.try_acquire() else {
                    s.metrics.forwarded(Transport::Udp, Forwarded::Shed);
                    if let Some(b) = error_reply(query, ResponseCode::ServFail) {
                        s.metrics.answered(&b, Transport::Udp);
                        let _ = sock.send_to(&b, peer).await;
                    }
                    continue;
                };
                permit.forget();
                let (sock, s, q, rs) = (sock.clone(), s.clone(), query.to_vec(), rs.to_vec());
                tokio::spawn(async move {
                    let b = forward_udp(&q, &rs, s.timeout).await;
                    s.forwards.add_permits(1);
                    s.metrics.forwarded(Transport::Udp, forward_outcome(&b));
                    if let Some(b) = b.or_else(|| error_reply(&q, ResponseCode::ServFail)) {
                        s.metrics.answered(&b, Transport::Udp);
                        let _ = sock.send_to(&b, peer).await;
                    }
                });
            }
        }
    }
}

fn forward_outcome(reply: &Option<Vec<u8>>) -> Forwarded {
    match reply {
        Some(_) => Forwarded::Answered,
        None => Forwarded::Failed,
    }
}

/// Whether `reply` answers `query`: a response with its id.
fn answers(query: &[u8], reply: &[u8]) -> bool {
    reply.len() >= 12 && query.len() >= 2 && reply[..2] == query[..2] && reply[2] & 0x80 != 0
}

async fn forward_udp(query: &[u8], resolvers: &[SocketAddr], timeout: Duration) -> Option<Vec<u8>> {
    for r in resolvers {
        let bind: SocketAddr = if r.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let Ok(sock) = UdpSocket::bind(bind).await else {
            continue;
        };
        if sock.connect(r).await.is_err() || sock.send(query).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 65535];
        let got = tokio::time::timeout(timeout, async {
            loop {
                match sock.recv(&mut buf).await {
                    Ok(n) if answers(query, &buf[..n]) => return Some(n),
                    Ok(_) => continue,
                    Err(_) => return None,
                }
            }
        })
        .await;
        if let Ok(Some(n)) = got {
            buf.truncate(n);
            return Some(buf);
        }
        tracing::debug!("dns forward to {r} (udp) failed or timed out");
    }
    None
}

async fn forward_tcp(query: &[u8], resolvers: &[SocketAddr], timeout: Duration) -> Option<Vec<u8>> {
    for r in resolvers {
        let got = tokio::time::timeout(timeout, async {
            let mut c = TcpStream::connect(r).await.ok()?;
            let len = u16::try_from(query.len()).ok()?;
            let mut out = Vec::with_capacity(query.len() + 2);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(query);
            c.write_all(&out).await.ok()?;
            let n = c.read_u16().await.ok()? as usize;
            let mut b = vec![0u8; n];
            c.read_exact(&mut b).await.ok()?;
            answers(query, &b).then_some(b)
        })
        .await;
        if let Ok(Some(b)) = got {
            return Some(b);
        }
        tracing::debug!("dns forward to {r} (tcp) failed or timed out");
    }
    None
}

pub(crate) async fn tcp_loop(l: TcpListener, s: Arc<Served>, mut stop: watch::Receiver<bool>) {
    loop {
        let (c, peer) = tokio::select! {
            r = l.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!("dns tcp accept: {e}");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let Some(slot) = s.admit(peer.ip()) else {
            continue; // over a limit: the connection is closed at once
        };
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let s = slot.s.clone();
            tokio::select! {
                _ = tokio::time::timeout(s.tcp.lifetime, tcp_conn(c, &s)) => {}
                _ = stop.changed() => {}
            }
            drop(slot);
        });
    }
}

async fn tcp_conn(mut c: TcpStream, s: &Served) {
    let idle = s.tcp.idle;
    loop {
        let Ok(Ok(n)) = tokio::time::timeout(idle, c.read_u16()).await else {
            return;
        };
        let n = n as usize;
        let mut q = vec![0u8; n];
        if !matches!(
            tokio::time::timeout(idle, c.read_exact(&mut q)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let snap = s.records.current();
        let reply = match answer(
            &q,
            snap.as_deref(),
            &s.zone,
            Transport::Tcp,
            fastrand::u64(..),
        ) {
            Outcome::Reply(b) => Some(b),
            Outcome::Drop => None,
            Outcome::Forward(rs) => {
                let b = forward_tcp(&q, rs, s.timeout).await;
                s.metrics.forwarded(Transport::Tcp, forward_outcome(&b));
                b.or_else(|| error_reply(&q, ResponseCode::ServFail))
            }
        };
        let Some(b) = reply else {
            continue;
        };
        s.metrics.answered(&b, Transport::Tcp);
        let Ok(len) = u16::try_from(b.len()) else {
            return;
        };
        let mut out = Vec::with_capacity(b.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&b);
        if !matches!(
            tokio::time::timeout(s.tcp.write, c.write_all(&out)).await,
            Ok(Ok(()))
        ) {
            return;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Config;
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RecordType};
    use std::time::Instant;

    #[test]
    fn peer_counts_cap_each_address_and_forget_those_with_none() {
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "::1".parse().unwrap());
        let mut p = PeerCounts::default();
        assert!(p.try_add(a, 2) && p.try_add(a, 2));
        assert!(!p.try_add(a, 2));
        assert!(p.try_add(b, 2));
        p.remove(a);
        assert!(p.try_add(a, 2));
        for _ in 0..3 {
            p.remove(a);
        }
        p.remove(b);
        assert!(p.0.is_empty(), "{p:?}");
        assert!(!p.try_add(a, 0) && p.0.is_empty());
    }

    /// A TCP server with `limits`; `big.marathon.mesos.` has 200 addresses (a 3 KiB reply).
    async fn serve(limits: TcpLimits) -> (Arc<Served>, SocketAddr, watch::Sender<bool>) {
        let config = Config::from_json(br#"{"externalon": false}"#).unwrap();
        let records = Published::default();
        let mut rs = RecordSet::default();
        let ips = (0..200u8).map(|i| IpAddr::from([10, 3, 0, i])).collect();
        rs.addrs.insert("big.marathon.mesos.".into(), ips);
        records.publish(rs);
        let s = Arc::new(Served {
            zone: Zone::new(&config),
            records,
            timeout: Duration::from_secs(1),
            forwards: Semaphore::new(8),
            connections: Semaphore::new(8),
            tcp: limits,
            peers: Default::default(),
            metrics: crate::metrics::DnsMetrics::register(&mut Default::default()),
        });
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(tcp_loop(l, s.clone(), stop_rx));
        (s, addr, stop)
    }

    fn framed_query() -> Vec<u8> {
        let mut m = Message::query();
        m.add_query(Query::query(
            Name::from_ascii("big.marathon.mesos.").unwrap(),
            RecordType::A,
        ));
        let q = m.to_vec().unwrap();
        let mut out = (q.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&q);
        out
    }

    /// One query and its reply on `c`; `None` when the server closed it.
    async fn ask(c: &mut TcpStream) -> Option<Message> {
        c.write_all(&framed_query()).await.ok()?;
        let n = tokio::time::timeout(Duration::from_secs(5), c.read_u16())
            .await
            .expect("a reply or a close within 5 s")
            .ok()?;
        let mut b = vec![0u8; n as usize];
        c.read_exact(&mut b).await.ok()?;
        Some(Message::from_vec(&b).unwrap())
    }

    /// Wait until `open` connections are left (none: no address counted either), for at most
    /// 10 s.
    async fn wait_open(s: &Served, open: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while s.connections.available_permits() != 8 - open
            || (open == 0 && !s.peers().0.is_empty())
        {
            assert!(Instant::now() < deadline, "still open: not {open}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_client_address_gets_per_peer_connections_at_most() {
        let limits = TcpLimits {
            per_peer: 2,
            ..TcpLimits::default()
        };
        let (s, addr, _stop) = serve(limits).await;
        let mut first = TcpStream::connect(addr).await.unwrap();
        let mut second = TcpStream::connect(addr).await.unwrap();
        assert!(ask(&mut first).await.is_some());
        assert!(ask(&mut second).await.is_some());
        let mut third = TcpStream::connect(addr).await.unwrap();
        assert!(
            ask(&mut third).await.is_none(),
            "a third connection answered"
        );
        assert_eq!(s.connections.available_permits(), 6);
        drop(first);
        wait_open(&s, 1).await;
        let mut again = TcpStream::connect(addr).await.unwrap();
        assert!(ask(&mut again).await.is_some());
        assert!(ask(&mut second).await.is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_never_reads_is_dropped_after_the_write_timeout() {
        let limits = TcpLimits {
            write: Duration::from_millis(200),
            ..TcpLimits::default()
        };
        let (s, addr, _stop) = serve(limits).await;
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        let c = sock.connect(addr).await.unwrap();
        let (rd, mut wr) = c.into_split();
        // Queries for 3 KiB replies, never read: the server's writes block.
        let writer = tokio::spawn(async move {
            let q = framed_query();
            for _ in 0..20_000 {
                if wr.write_all(&q).await.is_err() {
                    return;
                }
            }
        });
        wait_open(&s, 0).await;
        writer.abort();
        drop(rd);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_busy_connection_is_closed_after_its_lifetime() {
        let limits = TcpLimits {
            lifetime: Duration::from_millis(300),
            ..TcpLimits::default()
        };
        let (s, addr, _stop) = serve(limits).await;
        // Taken before connecting: the server's lifetime starts at its accept, after this, so
        // a close before 300 ms from here is a close before the lifetime (not a slow clock).
        let t0 = Instant::now();
        let mut c = TcpStream::connect(addr).await.unwrap();
        while ask(&mut c).await.is_some() {
            assert!(t0.elapsed() < Duration::from_secs(10), "still open");
        }
        assert!(
            t0.elapsed() >= Duration::from_millis(300),
            "closed before its lifetime"
        );
        wait_open(&s, 0).await;
    }

    /// A resolver on UDP only that answers every query NOERROR.
    async fn resolver() -> SocketAddr {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = s.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, peer)) = s.recv_from(&mut buf).await {
                if let Some(r) = error_reply(&buf[..n], ResponseCode::NoError) {
                    let _ = s.send_to(&r, peer).await;
                }
            }
        });
        addr
    }

    fn query(name: &str) -> Vec<u8> {
        let mut m = Message::query();
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        m.to_vec().unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replies_and_forwards_are_counted_by_transport_and_outcome() {
        let upstream = resolver().await;
        let config =
            Config::from_json(format!(r#"{{"resolvers": ["{upstream}"]}}"#).as_bytes()).unwrap();
        let mut registry = drover_metrics::Registry::default();
        let metrics = DnsMetrics::register(registry.sub_registry_with_prefix("drover_dns"));
        let s = Arc::new(Served {
            zone: Zone::new(&config),
            records: Published::default(), // nothing loaded: names in the domain SERVFAIL
            timeout: Duration::from_secs(5),
            forwards: Semaphore::new(8),
            connections: Semaphore::new(8),
            tcp: TcpLimits::default(),
            peers: Default::default(),
            metrics,
        });
        let (_stop, stop_rx) = watch::channel(false);
        let udp = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let udp_addr = udp.local_addr().unwrap();
        tokio::spawn(udp_loop(udp, s.clone(), stop_rx.clone()));
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp_addr = l.local_addr().unwrap();
        tokio::spawn(tcp_loop(l, s.clone(), stop_rx));

        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = vec![0u8; 4096];
        for name in ["example.org.", "leader.mesos."] {
            client.send_to(&query(name), udp_addr).await.unwrap();
            let n = tokio::time::timeout(Duration::from_secs(5), client.recv(&mut buf))
                .await
                .expect("a reply within 5 s")
                .unwrap();
            let want = if name == "example.org." {
                ResponseCode::NoError
            } else {
                ResponseCode::ServFail
            };
            assert_eq!(
                Message::from_vec(&buf[..n]).unwrap().metadata.response_code,
                want
            );
        }
        // Over TCP the resolver refuses (it listens on UDP only): a failed forward, SERVFAIL.
        let mut c = TcpStream::connect(tcp_addr).await.unwrap();
        let q = query("example.org.");
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        c.write_all(&framed).await.unwrap();
        let n = c.read_u16().await.unwrap() as usize;
        let mut b = vec![0u8; n];
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(
            Message::from_vec(&b).unwrap().metadata.response_code,
            ResponseCode::ServFail
        );

        let text = drover_metrics::encode(&registry).unwrap();
        for line in [
            "drover_dns_answers_total{transport=\"udp\",rcode=\"NOERROR\"} 1\n",
            "drover_dns_answers_total{transport=\"udp\",rcode=\"SERVFAIL\"} 1\n",
            "drover_dns_answers_total{transport=\"tcp\",rcode=\"SERVFAIL\"} 1\n",
            "drover_dns_forwards_total{transport=\"udp\",outcome=\"answered\"} 1\n",
            "drover_dns_forwards_total{transport=\"tcp\",outcome=\"failed\"} 1\n",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
    }
}
