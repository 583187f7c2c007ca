//! The DNS server loops: UDP (several tasks on one socket) and TCP (2-byte length framing, one
//! task per connection, bounded), each query answered by [`answer`] against the published
//! snapshot; names outside the domain forwarded to the resolvers over the client's transport.

use crate::answer::{answer, error_reply, Outcome, Transport, Zone, MAX_QUERY};
use crate::records::RecordSet;
use hickory_proto::op::ResponseCode;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
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
}

/// How long a TCP connection may sit idle between queries.
const TCP_IDLE: Duration = Duration::from_secs(10);

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
                let _ = sock.send_to(&b, peer).await;
            }
            Outcome::Drop => {}
            Outcome::Forward(rs) => {
                let Ok(permit) = s.forwards.try_acquire() else {
                    if let Some(b) = error_reply(query, ResponseCode::ServFail) {
                        let _ = sock.send_to(&b, peer).await;
                    }
                    continue;
                };
                permit.forget();
                let (sock, s, q, rs) = (sock.clone(), s.clone(), query.to_vec(), rs.to_vec());
                tokio::spawn(async move {
                    let b = forward_udp(&q, &rs, s.timeout).await;
                    s.forwards.add_permits(1);
                    if let Some(b) = b.or_else(|| error_reply(&q, ResponseCode::ServFail)) {
                        let _ = sock.send_to(&b, peer).await;
                    }
                });
            }
        }
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
        let (c, _) = tokio::select! {
            r = l.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!("dns tcp accept: {e}");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let Ok(permit) = s.connections.try_acquire() else {
            continue; // over the limit: the connection is closed at once
        };
        permit.forget();
        let (s, mut stop) = (s.clone(), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = tcp_conn(c, &s) => {}
                _ = stop.changed() => {}
            }
            s.connections.add_permits(1);
        });
    }
}

async fn tcp_conn(mut c: TcpStream, s: &Served) {
    loop {
        let Ok(Ok(n)) = tokio::time::timeout(TCP_IDLE, c.read_u16()).await else {
            return;
        };
        let n = n as usize;
        let mut q = vec![0u8; n];
        if tokio::time::timeout(TCP_IDLE, c.read_exact(&mut q))
            .await
            .is_err()
        {
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
            Outcome::Forward(rs) => forward_tcp(&q, rs, s.timeout)
                .await
                .or_else(|| error_reply(&q, ResponseCode::ServFail)),
        };
        let Some(b) = reply else {
            continue;
        };
        let Ok(len) = u16::try_from(b.len()) else {
            return;
        };
        let mut out = Vec::with_capacity(b.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&b);
        if c.write_all(&out).await.is_err() {
            return;
        }
    }
}
