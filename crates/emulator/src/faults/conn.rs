//! Connection control for faults that must act below HTTP: answering nothing (`reset`,
//! `outage`), and resetting instead of closing (`reset_mid_body`).
//!
//! [`FaultListener`] wraps every accepted socket in a [`FaultIo`] that shares a [`ConnCtl`] with
//! the request handler (through the [`ConnInfo`] connect info). Killing a connection makes every
//! further read and write fail, so whatever hyper was about to send never reaches the wire, and
//! dropping it sets `SO_LINGER` to zero so the peer sees a TCP RST.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Shared between one connection's IO and the requests served on it.
#[derive(Debug, Default)]
pub struct ConnCtl {
    killed: AtomicBool,
    reset_on_drop: AtomicBool,
}

impl ConnCtl {
    /// From now on the connection reads and writes nothing; it is reset when hyper drops it.
    pub fn kill(&self) {
        self.reset_on_drop.store(true, Ordering::Relaxed);
        self.killed.store(true, Ordering::Release);
    }

    /// Send an RST instead of a FIN when the connection closes.
    pub fn reset_on_close(&self) {
        self.reset_on_drop.store(true, Ordering::Relaxed);
    }

    fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }
}

/// The connect info of a connection accepted by [`FaultListener`].
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    pub ctl: Arc<ConnCtl>,
}

impl Connected<IncomingStream<'_, FaultListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, FaultListener>) -> Self {
        ConnInfo {
            remote: *stream.remote_addr(),
            ctl: stream.io().ctl.clone(),
        }
    }
}

/// A TCP listener whose connections can be killed by faults.
#[derive(Debug)]
pub struct FaultListener {
    inner: TcpListener,
}

impl FaultListener {
    pub fn new(inner: TcpListener) -> Self {
        Self { inner }
    }
}

impl Listener for FaultListener {
    type Io = FaultIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept loop (retries, back-off on EMFILE).
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        // Small writes (dripped body pieces, error answers) go out at once.
        let _ = stream.set_nodelay(true);
        (
            FaultIo {
                inner: stream,
                ctl: Arc::default(),
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An accepted socket plus its [`ConnCtl`].
#[derive(Debug)]
pub struct FaultIo {
    inner: TcpStream,
    ctl: Arc<ConnCtl>,
}

fn killed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "connection killed by a fault",
    )
}

impl AsyncRead for FaultIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.ctl.is_killed() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.ctl.is_killed() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.ctl.is_killed() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.ctl.is_killed() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.ctl.is_killed() {
            return Poll::Ready(Err(killed()));
        }
        if self.ctl.reset_on_drop.load(Ordering::Relaxed) {
            // No FIN: the drop resets the connection.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Drop for FaultIo {
    fn drop(&mut self) {
        if self.ctl.reset_on_drop.load(Ordering::Relaxed) {
            let _ = self.inner.set_zero_linger();
        }
    }
}
