//! The fault proxy: a TCP relay per directed peer link that can cut, lose and delay traffic, and drop
//! one kind of raft-node message.
//!
//! On the loopback backend every peer connection passes through one of these (node `i` reaches node
//! `j` at the proxy for link `i -> j`), and on the netns backend they are put in when latency or
//! message-drop faults are asked for, because this kernel has no `tc netem` and iptables cannot tell
//! one Raft message from another. Each relayed connection has two directions;
//! the bytes `i` sends obey the state of link `i -> j` and the bytes coming back obey `j -> i`, so a
//! one-way cut is expressible.
//!
//! Why these semantics: a proxy sits on a TCP stream, so it cannot drop a packet without corrupting
//! the stream. A cut therefore *stalls* a direction (nothing is delivered; data waits, as it would in
//! a kernel's retransmission queue behind a firewall DROP, and arrives after the heal if the peer has
//! not given up). Loss becomes what TCP makes of it: each chunk is lost with the given probability and
//! "retransmitted" after [`RETRANSMIT_DELAY`], delaying everything behind it. Latency delays each chunk
//! by the configured time, preserving order. When the sender closes, what it sent before still
//! arrives (TCP delivers data ahead of the FIN); when the receiver is gone, what is queued is lost.
//!
//! Dropping *messages* is possible because a raft-node relay knows the stream's framing
//! ([`raft::wire`]): it relays whole frames and leaves out the frames of the dropped kind, so the
//! stream stays well formed. That is a fault real networks make too (a message-based transport loses
//! individual messages), and it is what holds an election's one-round-trip windows open: a voter can
//! keep granting votes without ever hearing who won.
//!
//! A relay usually knows its link when it is started ([`Sender::Node`]). etcd cannot be given one
//! address per directed link: all members must agree on every member's advertised peer URL. For etcd
//! on loopback there is therefore one relay per destination, and it learns the sending member of each
//! connection from the first HTTP request on it ([`Sender::FromPeerUrlsHeader`]): etcd's peer
//! transport puts the sender's advertised peer URLs in an `X-PeerURLs` header on every stream,
//! pipeline and snapshot request, and a connection only ever carries one sender's requests.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What TCP's first retransmission roughly costs on Linux (the minimum RTO).
pub const RETRANSMIT_DELAY: Duration = Duration::from_millis(200);

/// The fault state of one directed link.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkState {
    pub cut: bool,
    pub loss: f64,
    pub delay: Duration,
    /// Up to this much more delay, drawn for each chunk (never reordering a connection's bytes).
    pub jitter: Duration,
    /// Drop what only a leader sends (AppendEntries, InstallSnapshot, TimeoutNow); raft-node links only.
    pub drop_appends: bool,
    /// Drop vote requests (pre-votes included); raft-node links only.
    pub drop_votes: bool,
}

impl LinkState {
    /// Starts dropping `messages` on this link (other kinds already dropped stay dropped).
    pub fn drop_messages(&mut self, messages: workloads::Messages) {
        match messages {
            workloads::Messages::Appends => self.drop_appends = true,
            workloads::Messages::Votes => self.drop_votes = true,
        }
    }

    /// Stops dropping messages by kind on this link.
    pub fn deliver_messages(&mut self) {
        self.drop_appends = false;
        self.drop_votes = false;
    }

    /// Whether a raft-node frame with this tag is dropped on this link.
    pub fn drops(&self, tag: u8) -> bool {
        use raft::wire;
        match tag {
            wire::TAG_APPEND_ENTRIES | wire::TAG_INSTALL_SNAPSHOT | wire::TAG_TIMEOUT_NOW => {
                self.drop_appends
            }
            wire::TAG_REQUEST_VOTE => self.drop_votes,
            _ => false,
        }
    }
}

/// The state channel of each directed link `(from, to)`, by node index.
type Links = HashMap<(usize, usize), watch::Sender<LinkState>>;

/// Raft messages the proxies left out, by kind (what `faultline explore` reads as coverage).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DroppedMessages {
    /// AppendEntries, InstallSnapshot and TimeoutNow frames.
    pub appends: u64,
    /// Vote requests (pre-votes included).
    pub votes: u64,
}

/// Counters of dropped frames shared by every relay of a cluster.
#[derive(Clone, Debug, Default)]
struct DropCounters {
    appends: Arc<std::sync::atomic::AtomicU64>,
    votes: Arc<std::sync::atomic::AtomicU64>,
}

impl DropCounters {
    fn count(&self, tag: u8) {
        use std::sync::atomic::Ordering::Relaxed;
        if tag == raft::wire::TAG_REQUEST_VOTE {
            self.votes.fetch_add(1, Relaxed);
        } else {
            self.appends.fetch_add(1, Relaxed);
        }
    }
}

/// Controls of every directed link `(from, to)` by node index; shared by all relays.
#[derive(Clone, Debug, Default)]
pub struct LinkTable {
    links: Arc<Mutex<Links>>,
    dropped: DropCounters,
}

impl LinkTable {
    /// Messages left out by kind so far, over every link.
    pub fn dropped(&self) -> DroppedMessages {
        use std::sync::atomic::Ordering::Relaxed;
        DroppedMessages {
            appends: self.dropped.appends.load(Relaxed),
            votes: self.dropped.votes.load(Relaxed),
        }
    }

    fn channel(&self, from: usize, to: usize) -> watch::Receiver<LinkState> {
        let mut links = self.links.lock().expect("link table lock is never held across a panic");
        links.entry((from, to)).or_insert_with(|| watch::channel(LinkState::default()).0).subscribe()
    }

    /// Changes the state of link `from -> to`.
    pub fn set(&self, from: usize, to: usize, f: impl FnOnce(&mut LinkState)) {
        let mut links = self.links.lock().expect("link table lock is never held across a panic");
        let tx = links.entry((from, to)).or_insert_with(|| watch::channel(LinkState::default()).0);
        tx.send_modify(f);
    }

    /// Every link back to normal.
    pub fn heal_all(&self) {
        let links = self.links.lock().expect("link table lock is never held across a panic");
        for tx in links.values() {
            tx.send_replace(LinkState::default());
        }
    }

    pub fn get(&self, from: usize, to: usize) -> LinkState {
        *self.channel(from, to).borrow()
    }
}

/// Who sends on the connections a relay accepts.
#[derive(Clone, Debug)]
pub enum Sender {
    /// Always this node (the relay serves one directed link). Such a relay carries raft-node's
    /// length-prefixed frames and relays them whole, so it can drop one kind of message
    /// ([`LinkState::drops`]) without breaking the stream.
    Node(usize),
    /// Read from the `X-PeerURLs` header of the connection's first HTTP request: the node whose URL
    /// it names. A connection that names none of them (etcd's health probes carry no header) is
    /// relayed without faults: it carries no raft traffic.
    FromPeerUrlsHeader(Arc<Vec<PeerUrl>>),
}

/// A node as a sniffing relay knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerUrl {
    /// Its advertised peer URL, `http://host:port`.
    pub url: String,
    pub node: usize,
    /// The address to connect upstream from on its behalf (overrides the relay's `source`), so
    /// firewall rules on the destination still see this node's traffic.
    pub source: Option<SocketAddr>,
}

/// How much of a connection's start is read looking for the header.
const SNIFF_LIMIT: usize = 16 * 1024;

/// Reads the start of `inbound` up to the end of the first HTTP header block (or [`SNIFF_LIMIT`]
/// bytes, or 5 s) and returns the bytes read and the sender the `X-PeerURLs` header names.
async fn sniff_sender<'u>(inbound: &mut TcpStream, urls: &'u [PeerUrl]) -> (Vec<u8>, Option<&'u PeerUrl>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while head.len() < SNIFF_LIMIT && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout_at(deadline, inbound.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let sender = peer_urls_sender(&head, urls);
    (head, sender)
}

/// The node named by the `X-PeerURLs` header in an HTTP request head.
pub fn peer_urls_sender<'u>(head: &[u8], urls: &'u [PeerUrl]) -> Option<&'u PeerUrl> {
    let text = String::from_utf8_lossy(head);
    let value = text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim().eq_ignore_ascii_case("x-peerurls").then(|| value.trim().to_string())
    })?;
    value.split(',').find_map(|u| urls.iter().find(|p| p.url == u.trim()))
}

/// One listening relay for link `from -> to`.
#[derive(Debug)]
pub struct Proxy {
    pub listen: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a relay listening on `listen` (port 0 picks one) that forwards to `upstream`, binding its
/// outgoing socket to `source` when given (so firewall rules can tell which node the traffic stands
/// for), and applies the link states of `from -> to` and `to -> from` (`from` per [`Sender`]).
pub async fn start(
    listen: SocketAddr,
    upstream: SocketAddr,
    source: Option<SocketAddr>,
    from: Sender,
    to: usize,
    table: LinkTable,
    seed: u64,
) -> std::io::Result<Proxy> {
    let listener = TcpListener::bind(listen).await?;
    let listen = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut conn_seed = seed;
        // A JoinSet aborts every relayed connection when the proxy (this task) is aborted.
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let inbound = match listener.accept().await {
                Ok((inbound, _)) => inbound,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%listen, error = %e, "proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            while conns.try_join_next().is_some() {}
            conn_seed = conn_seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let table = table.clone();
            let seed = conn_seed;
            let from = from.clone();
            conns.spawn(async move {
                let mut inbound = inbound;
                let framed = matches!(from, Sender::Node(_));
                let (head, from, source) = match from {
                    Sender::Node(i) => (Vec::new(), Some(i), source),
                    Sender::FromPeerUrlsHeader(urls) => {
                        let (head, peer) = sniff_sender(&mut inbound, &urls).await;
                        (head, peer.map(|p| p.node), peer.and_then(|p| p.source).or(source))
                    }
                };
                let outbound = match connect(upstream, source).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::trace!(%upstream, error = %e, "proxy upstream refused");
                        return;
                    }
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let (ir, iw) = inbound.into_split();
                let (or, ow) = outbound.into_split();
                // An unidentified sender's connection gets a channel no fault ever changes.
                let (forward_state, backward_state) = match from {
                    Some(from) => (table.channel(from, to), table.channel(to, from)),
                    None => (watch::channel(LinkState::default()).1, watch::channel(LinkState::default()).1),
                };
                let counters = table.dropped.clone();
                let forward = pump(head, ir, ow, forward_state, seed, framed.then(|| counters.clone()));
                let backward = pump(Vec::new(), or, iw, backward_state, seed ^ 1, framed.then_some(counters));
                // When either side closes or fails, tear down both directions (the nodes reconnect).
                tokio::select! { _ = forward => {}, _ = backward => {} }
            });
        }
    });
    Ok(Proxy { listen, task })
}

async fn connect(upstream: SocketAddr, source: Option<SocketAddr>) -> std::io::Result<TcpStream> {
    let socket = if upstream.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(src) = source {
        socket.bind(src)?;
    }
    tokio::time::timeout(Duration::from_secs(2), socket.connect(upstream))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "proxy connect timed out"))?
}

/// Relays one direction: a reader queues chunks with their due time, a writer delivers them in order
/// once due and while the link is not cut. `head` is what was already read from `from` (sniffing).
/// A `framed` stream (raft-node's `[u32 LE length][payload]` frames; `framed` holds the counters of
/// dropped frames) is queued in whole frames, and the frames the link drops ([`LinkState::drops`])
/// are left out and counted; a length too large to be a frame means the stream is not what we
/// think, and from then on it is relayed as raw bytes.
async fn pump(
    head: Vec<u8>,
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut state: watch::Receiver<LinkState>,
    seed: u64,
    framed: Option<DropCounters>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Instant, Vec<u8>)>(64);
    let reader_state = state.clone();
    let reader = async move {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut framer = framed.map(|counters| Framer { counters, ..Framer::default() });
        let mut pending = head;
        let mut last_due = Instant::now();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            if !pending.is_empty() {
                let link = *reader_state.borrow();
                let chunk = match framer.as_mut() {
                    Some(f) => f.take(&mut pending, &link),
                    None => std::mem::take(&mut pending),
                };
                if !chunk.is_empty() {
                    let mut due = Instant::now() + link.delay;
                    if !link.jitter.is_zero() {
                        due += link.jitter.mul_f64(rng.random::<f64>());
                    }
                    if link.loss > 0.0 && rng.random_bool(link.loss.clamp(0.0, 1.0)) {
                        due += RETRANSMIT_DELAY;
                    }
                    // A stream keeps its order: a chunk never overtakes the one before it.
                    due = due.max(last_due);
                    last_due = due;
                    if tx.send((due, chunk)).await.is_err() {
                        return;
                    }
                }
            }
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            // Stall while cut; a heal wakes us through the watch channel.
            while state.borrow_and_update().cut {
                if state.changed().await.is_err() {
                    return;
                }
            }
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        // The sender closed after all of this: pass its FIN on too.
        let _ = to.shutdown().await;
    };
    // When the sender closes, what it sent before still arrives (as TCP delivers data ahead of the
    // FIN): the reader's end drops the queue's sender, and the writer delivers what is queued before
    // it stops. Dropping the queue instead would lose a crashed leader's last AppendEntries on every
    // link at once, which no network does.
    tokio::pin!(reader, writer);
    tokio::select! {
        _ = &mut writer => {}
        _ = &mut reader => writer.await,
    }
}

/// Largest frame the proxy believes in: raft-node's own limit (`node::transport::MAX_FRAME`), which
/// refuses anything longer anyway.
const MAX_FRAME: usize = 256 << 20;

/// Cuts a raft-node stream into whole frames.
#[derive(Debug, Default)]
struct Framer {
    /// The stream turned out not to be framed: pass everything through.
    raw: bool,
    /// Frames dropped so far (for the trace log).
    dropped: u64,
    /// The cluster's counters of dropped frames by kind.
    counters: DropCounters,
}

impl Framer {
    /// Removes every complete frame from the front of `pending` and returns the ones `link` lets
    /// through, concatenated; an incomplete frame stays in `pending`.
    fn take(&mut self, pending: &mut Vec<u8>, link: &LinkState) -> Vec<u8> {
        if self.raw {
            return std::mem::take(pending);
        }
        let mut out = Vec::with_capacity(pending.len());
        let mut pos = 0;
        while pending.len() - pos >= raft::wire::LEN_PREFIX {
            let len_bytes: [u8; 4] = pending[pos..pos + 4].try_into().expect("four bytes");
            let len = u32::from_le_bytes(len_bytes) as usize;
            if len > MAX_FRAME {
                self.raw = true;
                out.extend_from_slice(&pending[pos..]);
                pending.clear();
                return out;
            }
            let end = pos + raft::wire::LEN_PREFIX + len;
            if pending.len() < end {
                break;
            }
            let frame = &pending[pos..end];
            match raft::wire::frame_tag(frame) {
                Some(tag) if link.drops(tag) => {
                    self.dropped += 1;
                    self.counters.count(tag);
                    tracing::trace!(tag, dropped = self.dropped, "proxy dropped a frame");
                }
                _ => out.extend_from_slice(frame),
            }
            pos = end;
        }
        pending.drain(..pos);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => s.write_all(&buf[..n]).await.unwrap(),
                        }
                    }
                });
            }
        });
        addr
    }

    /// A connection through the relay of link 0 -> 1 to an echo server, the link table it obeys,
    /// and the relay (kept alive by the caller).
    async fn relayed_echo() -> (TcpStream, LinkTable, Proxy) {
        let upstream = echo_server().await;
        let table = LinkTable::default();
        let p = start("127.0.0.1:0".parse().unwrap(), upstream, None, Sender::Node(0), 1, table.clone(), 1)
            .await
            .unwrap();
        let s = TcpStream::connect(p.listen).await.unwrap();
        (s, table, p)
    }

    async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
        s.write_all(msg).await.unwrap();
        let mut buf = vec![0u8; msg.len()];
        s.read_exact(&mut buf).await.unwrap();
        buf
    }

    #[tokio::test]
    async fn relays_then_stalls_while_cut_then_delivers_after_heal() {
        let (mut s, table, _p) = relayed_echo().await;
        let hello = frame(raft::wire::TAG_REQUEST_VOTE, b"hello");
        assert_eq!(round_trip(&mut s, &hello).await, hello);

        table.set(0, 1, |l| l.cut = true);
        let lost = frame(raft::wire::TAG_APPEND_ENTRIES, b"lost?");
        s.write_all(&lost).await.unwrap();
        let mut buf = vec![0u8; lost.len()];
        let stalled = tokio::time::timeout(Duration::from_millis(300), s.read_exact(&mut buf)).await;
        assert!(stalled.is_err(), "data crossed a cut link");

        table.heal_all();
        tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut buf)).await.unwrap().unwrap();
        assert_eq!(buf, lost);
    }

    #[tokio::test]
    async fn one_way_cut_blocks_only_the_answers() {
        let (mut s, table, _p) = relayed_echo().await;
        let x = frame(raft::wire::TAG_REQUEST_VOTE, b"x");
        assert_eq!(round_trip(&mut s, &x).await, x);
        // 1 -> 0 cut: requests arrive, echoes do not.
        table.set(1, 0, |l| l.cut = true);
        assert!(!table.get(1, 0).delay.is_zero() || table.get(1, 0).cut);
        let y = frame(raft::wire::TAG_REQUEST_VOTE, b"y");
        s.write_all(&y).await.unwrap();
        let mut buf = vec![0u8; y.len()];
        assert!(tokio::time::timeout(Duration::from_millis(300), s.read_exact(&mut buf)).await.is_err());
        table.set(1, 0, |l| l.cut = false);
        tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut buf)).await.unwrap().unwrap();
        assert_eq!(buf, y);
    }

    #[test]
    fn the_sender_is_read_from_the_peer_urls_header() {
        let peer = |url: &str, node| PeerUrl { url: url.into(), node, source: None };
        let urls = vec![peer("http://127.0.0.1:1000", 0), peer("http://127.0.0.1:2000", 1)];
        let head =
            b"GET /raft/stream/message/1 HTTP/1.1\r\nHost: x\r\nX-Peerurls: http://127.0.0.1:2000\r\n\r\n";
        assert_eq!(peer_urls_sender(head, &urls).map(|p| p.node), Some(1));
        let several = b"POST /raft HTTP/1.1\r\nX-PeerURLs: http://a:1,http://127.0.0.1:1000\r\n\r\n";
        assert_eq!(peer_urls_sender(several, &urls).map(|p| p.node), Some(0));
        assert_eq!(peer_urls_sender(b"GET /raft/probing HTTP/1.1\r\nHost: x\r\n\r\n", &urls), None);
    }

    #[tokio::test]
    async fn a_sniffing_relay_applies_the_named_senders_link() {
        let upstream = echo_server().await;
        let table = LinkTable::default();
        let peer = |url: &str, node| PeerUrl { url: url.into(), node, source: None };
        let urls = Arc::new(vec![peer("http://n1", 0), peer("http://n3", 2)]);
        let p = start(
            "127.0.0.1:0".parse().unwrap(),
            upstream,
            None,
            Sender::FromPeerUrlsHeader(urls),
            1,
            table.clone(),
            1,
        )
        .await
        .unwrap();
        // Link n1 -> n2 is cut; a connection from n3 still gets through, one from n1 does not.
        table.set(0, 1, |l| l.cut = true);
        let from3 = b"GET / HTTP/1.1\r\nX-PeerURLs: http://n3\r\n\r\n";
        let mut s = TcpStream::connect(p.listen).await.unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(2), round_trip(&mut s, from3)).await.unwrap();
        assert_eq!(echoed, from3);
        let from1 = b"GET / HTTP/1.1\r\nX-PeerURLs: http://n1\r\n\r\n";
        let mut s = TcpStream::connect(p.listen).await.unwrap();
        assert!(tokio::time::timeout(Duration::from_millis(300), round_trip(&mut s, from1)).await.is_err());
    }

    #[tokio::test]
    async fn latency_delays_each_direction() {
        let (mut s, table, _p) = relayed_echo().await;
        table.set(0, 1, |l| l.delay = Duration::from_millis(150));
        let t = std::time::Instant::now();
        let slow = frame(raft::wire::TAG_APPEND_ENTRIES, b"slow");
        assert_eq!(round_trip(&mut s, &slow).await, slow);
        // A lower bound only: the delay must have been applied (no upper bound: machines are noisy).
        assert!(t.elapsed() >= Duration::from_millis(150));
    }

    #[tokio::test]
    async fn jitter_delays_chunks_differently_and_keeps_the_stream_in_order() {
        let (mut s, table, _p) = relayed_echo().await;
        table.set(0, 1, |l| l.jitter = Duration::from_millis(200));
        let t = std::time::Instant::now();
        let mut sent = Vec::new();
        for i in 0..10u8 {
            let f = frame(raft::wire::TAG_APPEND_ENTRIES, &[i; 8]);
            s.write_all(&f).await.unwrap();
            sent.extend_from_slice(&f);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut back = vec![0u8; sent.len()];
        s.read_exact(&mut back).await.unwrap();
        assert_eq!(back, sent, "a later chunk overtook an earlier one");
        // Ten draws of up to 200 ms: the last one arrives well after it was sent (lower bound only).
        assert!(t.elapsed() >= Duration::from_millis(70), "{:?}", t.elapsed());
    }

    /// A server that keeps everything it is sent, per connection, until the sender closes.
    async fn sink() -> (SocketAddr, tokio::sync::mpsc::Receiver<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut all = Vec::new();
                    let _ = s.read_to_end(&mut all).await;
                    let _ = tx.send(all).await;
                });
            }
        });
        (addr, rx)
    }

    /// A raft-node frame with this tag and some body bytes.
    fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut payload = Vec::new();
        for v in [1u64, 2, 7] {
            payload.extend_from_slice(&v.to_le_bytes());
        }
        payload.push(tag);
        payload.extend_from_slice(body);
        let mut f = (payload.len() as u32).to_le_bytes().to_vec();
        f.extend_from_slice(&payload);
        f
    }

    #[tokio::test]
    async fn a_framed_link_drops_whole_frames_of_the_chosen_kind_only() {
        use raft::wire;
        let (upstream, mut got) = sink().await;
        let table = LinkTable::default();
        table.set(0, 1, |l| l.drop_appends = true);
        let p = start("127.0.0.1:0".parse().unwrap(), upstream, None, Sender::Node(0), 1, table.clone(), 1)
            .await
            .unwrap();
        let vote = frame(wire::TAG_REQUEST_VOTE, &[1, 0, 0]);
        let append = frame(wire::TAG_APPEND_ENTRIES, &[9; 40]);
        let answer = frame(wire::TAG_APPEND_ENTRIES_RESPONSE, &[1; 9]);
        let snapshot = frame(wire::TAG_INSTALL_SNAPSHOT, &[5; 100]);
        let mut stream: Vec<u8> = [&vote[..], &append[..], &answer[..], &snapshot[..], &vote[..]].concat();
        // Split in the middle of a frame, so the relay has to wait for the rest of it.
        let tail = stream.split_off(vote.len() + 10);
        let mut s = TcpStream::connect(p.listen).await.unwrap();
        s.write_all(&stream).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        s.write_all(&tail).await.unwrap();
        s.shutdown().await.unwrap();
        let received = got.recv().await.unwrap();
        assert_eq!(received, [&vote[..], &answer[..], &vote[..]].concat());
        // Votes can be dropped instead, and a heal delivers everything again.
        table.set(0, 1, |l| {
            l.drop_appends = false;
            l.drop_votes = true;
        });
        let mut s = TcpStream::connect(p.listen).await.unwrap();
        s.write_all(&[&vote[..], &append[..]].concat()).await.unwrap();
        s.shutdown().await.unwrap();
        assert_eq!(got.recv().await.unwrap(), append);
        table.heal_all();
        let mut s = TcpStream::connect(p.listen).await.unwrap();
        s.write_all(&[&vote[..], &append[..]].concat()).await.unwrap();
        s.shutdown().await.unwrap();
        assert_eq!(got.recv().await.unwrap(), [&vote[..], &append[..]].concat());
    }

    #[tokio::test]
    async fn what_was_sent_before_the_sender_closed_still_arrives() {
        let (upstream, mut got) = sink().await;
        let table = LinkTable::default();
        table.set(0, 1, |l| l.delay = Duration::from_millis(100));
        let p = start("127.0.0.1:0".parse().unwrap(), upstream, None, Sender::Node(0), 1, table.clone(), 1)
            .await
            .unwrap();
        let msg = frame(raft::wire::TAG_APPEND_ENTRIES, b"last words");
        let mut s = TcpStream::connect(p.listen).await.unwrap();
        s.write_all(&msg).await.unwrap();
        // The sender is gone (a crashed leader) while its last frame is still delayed in the relay.
        drop(s);
        assert_eq!(got.recv().await.unwrap(), msg);
    }

    #[test]
    fn a_stream_that_is_not_framed_passes_through_raw() {
        let mut f = Framer::default();
        let link = LinkState { drop_appends: true, drop_votes: true, ..LinkState::default() };
        let mut pending = b"GET / HTTP/1.1\r\n".to_vec();
        let out = f.take(&mut pending, &link);
        assert_eq!(out, b"GET / HTTP/1.1\r\n");
        assert!(f.raw && pending.is_empty());
        let mut more = frame(raft::wire::TAG_APPEND_ENTRIES, b"x");
        assert_eq!(f.take(&mut more.clone(), &link), more.split_off(0), "raw from then on");
    }
}
