//! A TCP proxy a test cuts and restores, in front of a real service.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::db::admin_options;

/// A TCP proxy in front of a service, which a test cuts (refusing and
/// dropping every connection), stalls (taking connections and never
/// answering, as an unreachable host behind a load balancer does) and
/// restores, leaving the service itself alone.
pub struct TcpProxy {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    cut: Arc<Notify>,
}

impl TcpProxy {
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let open = Arc::new(AtomicBool::new(true));
        let stalled = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(Notify::new());
        let (o, st, c) = (open.clone(), stalled.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !o.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let cut = c.clone();
                if st.load(Ordering::SeqCst) {
                    // Held open, unanswered, until the test cuts the proxy.
                    tokio::spawn(async move {
                        cut.notified().await;
                        drop(inbound);
                    });
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.notified() => {}
                    }
                });
            }
        });
        TcpProxy { addr, open, stalled, cut }
    }

    /// Drops the open connections and takes new ones without ever answering.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    /// Refuses new connections and drops the open ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    pub fn restore(&self) {
        self.stalled.store(false, Ordering::SeqCst);
        self.open.store(true, Ordering::SeqCst);
        self.cut.notify_waiters();
    }
}

/// The address of the PostgreSQL server the tests use.
pub fn postgres_addr() -> SocketAddr {
    let options = admin_options();
    let host = if options.get_host() == "localhost" { "127.0.0.1" } else { options.get_host() };
    SocketAddr::from_str(&format!("{host}:{}", options.get_port()))
        .expect("PostgreSQL host must be an IP address")
}
