//! The peer transport: persistent TCP connections carrying length-prefixed binary frames.
//!
//! Each frame is `[u32 little-endian length][one message encoded by `codec`]`. Every node sends on its
//! own outgoing connections and receives on the connections its peers opened, so a link is two
//! one-way streams; that matches how Raft messages flow (requests and responses are independent
//! messages) and needs no request/response matching.
//!
//! - **One writer task per peer** owns the connection and drains a bounded queue. The core never waits
//!   on the network: when a queue is full the message is dropped, which Raft tolerates (the leader
//!   retries on the next heartbeat), and a slow or partitioned peer cannot stall the others. The writer
//!   coalesces everything queued into one buffered write, so AppendEntries are pipelined.
//! - **Reconnect with backoff** (10 ms doubling to 1 s). While a peer is unreachable its queue is
//!   drained and dropped: those messages would be stale by the time the link heals.
//! - **Outgoing connections bind to this node's own peer IP** (port 0), so a firewall rule on a
//!   (source IP, destination IP) pair cuts exactly one direction of one link.
//! - A write that does not finish within [`WRITE_TIMEOUT`] (a peer behind a DROP rule fills our socket
//!   buffer) drops the connection instead of waiting for TCP's retransmission timeout.
//! - Readers decode frames and hand messages to the core through its bounded inbound channel; a
//!   malformed frame closes that connection with a warning, it never reaches the core.

use crate::codec::{decode_message, encode_message};
use raft::{Message, NodeId};
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// Messages queued per peer before new ones are dropped.
pub const PEER_QUEUE: usize = 4096;
/// Largest accepted frame (a snapshot travels in one frame).
pub const MAX_FRAME: usize = 256 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The sending side: one bounded queue per peer, each drained by its writer task.
#[derive(Debug)]
pub struct Transport {
    queues: BTreeMap<NodeId, mpsc::Sender<Message>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Transport {
    /// Starts one writer task per peer other than `me`. Outgoing connections are bound to `bind_ip`.
    pub fn start(me: NodeId, peers: &BTreeMap<NodeId, SocketAddr>, bind_ip: IpAddr) -> Transport {
        let mut queues = BTreeMap::new();
        let mut tasks = Vec::new();
        for (&id, &addr) in peers.iter().filter(|(id, _)| **id != me) {
            let (tx, rx) = mpsc::channel(PEER_QUEUE);
            queues.insert(id, tx);
            tasks.push(tokio::spawn(writer(id, addr, bind_ip, rx)));
        }
        Transport { queues, tasks }
    }

    /// Queues a message for its destination; drops it if the destination's queue is full or unknown.
    pub fn send(&self, m: Message) {
        let Some(q) = self.queues.get(&m.to) else {
            warn!(to = %m.to, "dropping a message to a node that is not a peer");
            return;
        };
        if let Err(mpsc::error::TrySendError::Full(m)) = q.try_send(m) {
            debug!(to = %m.to, "peer queue full; dropping a message");
        }
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn connect(bind_ip: IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
    let sock = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    sock.bind(SocketAddr::new(bind_ip, 0))?;
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, sock.connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn put_frame(buf: &mut Vec<u8>, m: &Message) {
    let payload = encode_message(m);
    let len = u32::try_from(payload.len()).expect("messages are far smaller than 4 GiB");
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&payload);
}

async fn writer(peer: NodeId, addr: SocketAddr, bind_ip: IpAddr, mut rx: mpsc::Receiver<Message>) {
    let mut backoff = BACKOFF_MIN;
    let mut logged_down = false;
    loop {
        let stream = match connect(bind_ip, addr).await {
            Ok(s) => {
                debug!(peer = %peer, %addr, "connected to peer");
                if logged_down {
                    info!(peer = %peer, %addr, "connected to peer again");
                }
                logged_down = false;
                s
            }
            Err(e) => {
                if !logged_down {
                    warn!(peer = %peer, %addr, error = %e, "cannot connect to peer; retrying with backoff");
                    logged_down = true;
                }
                // Stale messages are worthless once the link is back; keep the queue empty.
                loop {
                    match rx.try_recv() {
                        Ok(_) => {}
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => return,
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        // The peer never writes on a connection we opened, so anything readable on it is its end:
        // EOF when it closed (a restart, or a relay that lost its upstream), an error when it reset.
        // Watching for that lets us reconnect before the next message instead of writing that message
        // into a dead socket, where it would be lost without an error (the first write after the
        // peer's end closed still succeeds locally). A restarted voter would otherwise miss the first
        // vote request sent to it.
        let (mut rd, wr) = stream.into_split();
        let mut w = BufWriter::with_capacity(256 << 10, wr);
        let mut batch = Vec::with_capacity(64 << 10);
        let mut probe = [0u8; 1];
        loop {
            let m = tokio::select! {
                biased;
                _ = rd.read(&mut probe) => {
                    debug!(peer = %peer, "peer closed the connection; reconnecting");
                    break;
                }
                m = rx.recv() => match m {
                    Some(m) => m,
                    None => return,
                },
            };
            batch.clear();
            put_frame(&mut batch, &m);
            while batch.len() < (1 << 20) {
                match rx.try_recv() {
                    Ok(m) => put_frame(&mut batch, &m),
                    Err(_) => break,
                }
            }
            let res = tokio::time::timeout(WRITE_TIMEOUT, async {
                w.write_all(&batch).await?;
                w.flush().await
            })
            .await;
            match res {
                // Only a connection that carried data proves the peer is back: a relay in front of a
                // dead peer accepts and closes at once, and must not reset the backoff.
                Ok(Ok(())) => backoff = BACKOFF_MIN,
                Ok(Err(e)) => {
                    warn!(peer = %peer, error = %e, "peer connection failed; reconnecting");
                    break;
                }
                Err(_) => {
                    warn!(peer = %peer, timeout = ?WRITE_TIMEOUT, "write to peer stalled; reconnecting");
                    break;
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Accepts peer connections and forwards their messages (those addressed to `me`) to `inbound`.
pub async fn serve(listener: TcpListener, me: NodeId, inbound: mpsc::Sender<Message>) {
    loop {
        match listener.accept().await {
            Ok((stream, from)) => {
                let _ = stream.set_nodelay(true);
                debug!(%from, "peer connected");
                tokio::spawn(read_frames(stream, from, me, inbound.clone()));
            }
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                warn!(error = %e, "accepting a peer connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn read_frames(stream: TcpStream, from: SocketAddr, me: NodeId, inbound: mpsc::Sender<Message>) {
    let mut r = BufReader::with_capacity(256 << 10, stream);
    let mut buf = Vec::new();
    loop {
        let len = match r.read_u32_le().await {
            Ok(l) => l as usize,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return,
            Err(e) => {
                debug!(%from, error = %e, "peer connection closed");
                return;
            }
        };
        if len > MAX_FRAME {
            warn!(%from, len, "peer sent an oversized frame; closing the connection");
            return;
        }
        buf.resize(len, 0);
        if let Err(e) = r.read_exact(&mut buf).await {
            debug!(%from, error = %e, "peer connection closed mid-frame");
            return;
        }
        let m = match decode_message(&buf) {
            Ok(m) => m,
            Err(e) => {
                warn!(%from, error = %e, "peer sent a malformed frame; closing the connection");
                return;
            }
        };
        if m.to != me {
            warn!(%from, to = %m.to, "dropping a message addressed to another node");
            continue;
        }
        if inbound.send(m).await.is_err() {
            return; // the core is shutting down
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::{MessageBody, Term};

    fn msg(from: u64, to: u64, term: u64) -> Message {
        Message { from: NodeId(from), to: NodeId(to), term: Term(term), body: MessageBody::TimeoutNow }
    }

    #[tokio::test]
    async fn messages_arrive_in_order_from_the_bound_source_ip() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        tokio::spawn(serve(listener, NodeId(2), tx));
        let peers = BTreeMap::from([(NodeId(1), "127.0.0.9:1".parse().unwrap()), (NodeId(2), addr)]);
        let t = Transport::start(NodeId(1), &peers, "127.0.0.9".parse().unwrap());
        for term in 1..=100 {
            t.send(msg(1, 2, term));
        }
        t.send(msg(1, 3, 1)); // not a peer: dropped, no panic
        for term in 1..=100 {
            assert_eq!(rx.recv().await.unwrap(), msg(1, 2, term));
        }
    }

    #[tokio::test]
    async fn writer_reconnects_after_the_peer_comes_up() {
        // Reserve a port, close it, start sending, then listen on it.
        let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let peers = BTreeMap::from([(NodeId(1), "127.0.0.1:1".parse().unwrap()), (NodeId(2), addr)]);
        let t = Transport::start(NodeId(1), &peers, "127.0.0.1".parse().unwrap());
        t.send(msg(1, 2, 1));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let listener = TcpListener::bind(addr).await.unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        tokio::spawn(serve(listener, NodeId(2), tx));
        // Keep sending until one arrives: those sent while the peer was down may be dropped.
        let got = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                t.send(msg(1, 2, 7));
                if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
                    return m;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(got.to, NodeId(2));
    }

    /// A peer that restarted closed our connection while we had nothing to say; the next message must
    /// go out on a new connection, not vanish into the dead one (regression: a restarted voter missed
    /// the first vote request sent to it).
    #[tokio::test]
    async fn the_first_message_after_a_peer_restart_arrives() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let peers = BTreeMap::from([(NodeId(1), "127.0.0.1:1".parse().unwrap()), (NodeId(2), addr)]);
        let t = Transport::start(NodeId(1), &peers, "127.0.0.1".parse().unwrap());
        t.send(msg(1, 2, 1));
        // The "peer": read the first frame by hand, then close the connection (a crash).
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut first = vec![0u8; 4 + encode_message(&msg(1, 2, 1)).len()];
        conn.read_exact(&mut first).await.unwrap();
        drop(conn);
        // The restarted peer listens on the same port.
        let (tx, mut rx) = mpsc::channel(16);
        tokio::spawn(serve(listener, NodeId(2), tx));
        tokio::time::sleep(Duration::from_millis(100)).await;
        t.send(msg(1, 2, 2));
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert_eq!(got.ok().flatten(), Some(msg(1, 2, 2)), "the message after the restart was lost");
    }

    #[tokio::test]
    async fn malformed_frame_closes_the_connection_without_reaching_the_core() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        tokio::spawn(serve(listener, NodeId(2), tx));
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&3u32.to_le_bytes()).await.unwrap();
        s.write_all(&[1, 2, 3]).await.unwrap();
        let mut sink = [0u8; 1];
        // The server closes its end: the read sees EOF (or a reset).
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut sink)).await.unwrap().unwrap_or(0);
        assert_eq!(n, 0);
        assert!(rx.try_recv().is_err());
    }
}
