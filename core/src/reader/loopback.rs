//! The loopback transport: GATT operations carried over TCP on 127.0.0.1 to the reader simulator
//! running as a separate process (`homevisit-sim reader serve --port N`), so the demo talks to an
//! external device. The wire: each message is a u32 big-endian length and a JSON [`WireMsg`].

use super::ReaderError;
use super::transport::{Connection, DiscoveredReader, GattService, LinkEvent, Transport, WriteKind};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Largest wire message accepted (a GATT value is tiny; this bounds a hostile peer).
pub const MAX_WIRE_MESSAGE: usize = 1 << 20;

/// One message of the loopback wire protocol.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WireMsg {
    /// Central → sim: list peripherals advertising `service`.
    Scan {
        /// Service filter.
        service: Uuid,
    },
    /// Sim → central: scan results.
    ScanResult {
        /// Peripherals found.
        readers: Vec<DiscoveredReader>,
    },
    /// Central → sim: connect to `id`.
    Connect {
        /// Peripheral id.
        id: String,
    },
    /// Sim → central: connected, with the negotiated MTU and the GATT database.
    Connected {
        /// Negotiated ATT MTU.
        mtu: u16,
        /// Services and characteristics.
        services: Vec<GattService>,
    },
    /// Central → sim: a write.
    Write {
        /// Target characteristic.
        characteristic: Uuid,
        /// Value.
        value: Vec<u8>,
        /// With or without response.
        kind: WriteKind,
    },
    /// Sim → central: outcome of a write (sent for every write, in order).
    WriteResult {
        /// Why it failed, if it did.
        error: Option<String>,
    },
    /// Sim → central: a notification.
    Notify {
        /// Notifying characteristic.
        characteristic: Uuid,
        /// Value.
        value: Vec<u8>,
    },
    /// Central → sim: close the connection.
    Disconnect,
    /// Sim → central: the link dropped.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// Central → sim (simulator only): what does the reader's screen show? Stands in for the
    /// user's eyes when comparing the pairing code in the demo and the tests.
    ReadDisplay,
    /// Sim → central: the reader's screen (the pairing code while pairing).
    Display {
        /// The text shown, if any.
        text: Option<String>,
    },
    /// Central → sim (simulator only): the user presses the reader's button — the reader's own
    /// confirmation of the pairing code it shows (or, with no code shown, re-opening pairing
    /// after too many failed attempts).
    PressButton,
    /// Sim → central: the button was pressed; `confirmed` when it confirmed a shown code.
    ButtonPressed {
        /// A pairing code was on the display and is now confirmed on the reader.
        confirmed: bool,
    },
    /// Sim → central: the request failed.
    Error {
        /// What went wrong.
        message: String,
    },
}

fn io_err(e: std::io::Error) -> ReaderError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::BrokenPipe => ReaderError::Disconnected,
        _ => ReaderError::Device(format!("loopback link: {e}")),
    }
}

/// Writes one wire message.
pub async fn write_msg<W: AsyncWrite + Unpin>(w: &mut W, msg: &WireMsg) -> Result<(), ReaderError> {
    let body = serde_json::to_vec(msg).map_err(|e| ReaderError::Device(format!("loopback encode: {e}")))?;
    let len =
        u32::try_from(body.len()).map_err(|_| ReaderError::Device("loopback message too large".into()))?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    w.write_all(&out).await.map_err(io_err)?;
    w.flush().await.map_err(io_err)
}

/// Reads one wire message; `Ok(None)` at a clean end of stream.
pub async fn read_msg<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<WireMsg>, ReaderError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(io_err(e)),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_WIRE_MESSAGE {
        return Err(ReaderError::BadFrame(format!(
            "loopback message of {len} bytes is too large"
        )));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await.map_err(io_err)?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| ReaderError::BadFrame(format!("malformed loopback message: {e}")))
}

/// GATT central over TCP to a reader simulator process.
#[derive(Debug, Clone)]
pub struct LoopbackTransport {
    addr: SocketAddr,
}

impl LoopbackTransport {
    /// Talks to the simulator listening at `addr` (normally 127.0.0.1:PORT).
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr }
    }

    async fn dial(&self) -> Result<TcpStream, ReaderError> {
        let s = TcpStream::connect(self.addr)
            .await
            .map_err(|e| ReaderError::Device(format!("no reader simulator at {}: {e}", self.addr)))?;
        let _ = s.set_nodelay(true);
        Ok(s)
    }
}

#[async_trait::async_trait]
impl Transport for LoopbackTransport {
    async fn scan(&self, service: Uuid, timeout: Duration) -> Result<Vec<DiscoveredReader>, ReaderError> {
        let mut s = self.dial().await?;
        write_msg(&mut s, &WireMsg::Scan { service }).await?;
        let reply = tokio::time::timeout(timeout.max(Duration::from_millis(500)), read_msg(&mut s))
            .await
            .map_err(|_| ReaderError::Timeout)??;
        match reply {
            Some(WireMsg::ScanResult { readers }) => Ok(readers),
            Some(WireMsg::Error { message }) => Err(ReaderError::Device(message)),
            other => Err(ReaderError::BadFrame(format!("unexpected scan reply {other:?}"))),
        }
    }

    async fn connect(&self, id: &str) -> Result<Box<dyn Connection>, ReaderError> {
        let mut s = self.dial().await?;
        self.connect_on(&mut s, id).await?;
        self.finish_connect(s).await
    }
}

impl LoopbackTransport {
    /// Simulator only: the text on the simulated reader's screen (the pairing code while pairing).
    /// A real reader has no such channel; the user reads its display.
    pub async fn read_display(&self) -> Result<Option<String>, ReaderError> {
        let mut s = self.dial().await?;
        write_msg(&mut s, &WireMsg::ReadDisplay).await?;
        match read_msg(&mut s).await? {
            Some(WireMsg::Display { text }) => Ok(text),
            other => Err(ReaderError::BadFrame(format!(
                "unexpected display reply {other:?}"
            ))),
        }
    }

    /// Simulator only: presses the simulated reader's button (the user's confirmation on the
    /// reader). Returns whether it confirmed a pairing code on the display.
    pub async fn press_button(&self) -> Result<bool, ReaderError> {
        let mut s = self.dial().await?;
        write_msg(&mut s, &WireMsg::PressButton).await?;
        match read_msg(&mut s).await? {
            Some(WireMsg::ButtonPressed { confirmed }) => Ok(confirmed),
            other => Err(ReaderError::BadFrame(format!(
                "unexpected button reply {other:?}"
            ))),
        }
    }

    async fn connect_on(&self, s: &mut TcpStream, id: &str) -> Result<(), ReaderError> {
        write_msg(s, &WireMsg::Connect { id: id.to_string() }).await
    }

    async fn finish_connect(&self, mut s: TcpStream) -> Result<Box<dyn Connection>, ReaderError> {
        let (mtu, services) = match read_msg(&mut s).await? {
            Some(WireMsg::Connected { mtu, services }) => (mtu, services),
            Some(WireMsg::Error { message }) => return Err(ReaderError::Device(message)),
            None => return Err(ReaderError::Disconnected),
            other => {
                return Err(ReaderError::BadFrame(format!(
                    "unexpected connect reply {other:?}"
                )));
            }
        };
        let (read_half, write_half) = s.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let acks: Acks = Default::default();
        let task = tokio::spawn(pump(read_half, tx, acks.clone()));
        Ok(Box::new(LoopbackConnection {
            mtu,
            services,
            writer: tokio::sync::Mutex::new(Some(write_half)),
            events: super::transport::EventSlot::new(rx),
            acks,
            task,
        }))
    }
}

type Acks = Arc<Mutex<VecDeque<Option<oneshot::Sender<Result<(), ReaderError>>>>>>;

async fn pump(mut r: tokio::net::tcp::OwnedReadHalf, tx: mpsc::UnboundedSender<LinkEvent>, acks: Acks) {
    let reason = loop {
        match read_msg(&mut r).await {
            Ok(Some(WireMsg::Notify {
                characteristic,
                value,
            })) => {
                let _ = tx.send(LinkEvent::Notification {
                    characteristic,
                    value,
                });
            }
            Ok(Some(WireMsg::WriteResult { error })) => {
                let waiter = acks.lock().ok().and_then(|mut q| q.pop_front()).flatten();
                if let Some(w) = waiter {
                    let _ = w.send(match error {
                        None => Ok(()),
                        Some(e) if e == "disconnected" => Err(ReaderError::Disconnected),
                        Some(e) => Err(ReaderError::Device(e)),
                    });
                }
            }
            Ok(Some(WireMsg::Disconnected { reason })) => break reason,
            Ok(Some(other)) => break format!("unexpected message from the simulator: {other:?}"),
            Ok(None) => break "the simulator closed the connection".to_string(),
            Err(e) => break e.to_string(),
        }
    };
    if let Ok(mut q) = acks.lock() {
        for w in q.drain(..).flatten() {
            let _ = w.send(Err(ReaderError::Disconnected));
        }
    }
    let _ = tx.send(LinkEvent::Disconnected { reason });
}

struct LoopbackConnection {
    mtu: u16,
    services: Vec<GattService>,
    writer: tokio::sync::Mutex<Option<tokio::net::tcp::OwnedWriteHalf>>,
    events: super::transport::EventSlot,
    acks: Acks,
    task: tokio::task::JoinHandle<()>,
}

#[async_trait::async_trait]
impl Connection for LoopbackConnection {
    fn mtu(&self) -> u16 {
        self.mtu
    }

    async fn discover(&self) -> Result<Vec<GattService>, ReaderError> {
        Ok(self.services.clone())
    }

    async fn write(&self, characteristic: Uuid, value: &[u8], kind: WriteKind) -> Result<(), ReaderError> {
        let (tx, rx) = oneshot::channel();
        let wait = kind == WriteKind::WithResponse;
        {
            let mut w = self.writer.lock().await;
            let w = w.as_mut().ok_or(ReaderError::Disconnected)?;
            if self.task.is_finished() {
                return Err(ReaderError::Disconnected);
            }
            if let Ok(mut q) = self.acks.lock() {
                q.push_back(if wait { Some(tx) } else { None });
            }
            write_msg(
                w,
                &WireMsg::Write {
                    characteristic,
                    value: value.to_vec(),
                    kind,
                },
            )
            .await?;
        }
        if wait {
            return rx.await.unwrap_or(Err(ReaderError::Disconnected));
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        _characteristic: Uuid,
    ) -> Result<mpsc::UnboundedReceiver<LinkEvent>, ReaderError> {
        self.events.take()
    }

    async fn disconnect(&self) {
        let mut w = self.writer.lock().await;
        if let Some(mut half) = w.take() {
            let _ = write_msg(&mut half, &WireMsg::Disconnect).await;
            let _ = half.shutdown().await;
        }
    }
}

impl Drop for LoopbackConnection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wire_messages_round_trip_and_garbage_is_rejected() {
        let (mut a, mut b) = tokio::io::duplex(4096);
        let msg = WireMsg::Write {
            characteristic: super::super::model::RX_CHAR_UUID,
            value: vec![0x80, 0, 11],
            kind: WriteKind::WithoutResponse,
        };
        write_msg(&mut a, &msg).await.unwrap();
        assert_eq!(read_msg(&mut b).await.unwrap(), Some(msg));
        a.write_all(&[0, 0, 0, 3, b'x', b'y', b'z']).await.unwrap();
        assert!(matches!(read_msg(&mut b).await, Err(ReaderError::BadFrame(_))));
        a.write_all(&[0xff, 0xff, 0xff, 0xff]).await.unwrap();
        assert!(matches!(read_msg(&mut b).await, Err(ReaderError::BadFrame(_))));
        drop(a);
        assert_eq!(read_msg(&mut b).await.unwrap(), None);
    }

    #[tokio::test]
    async fn no_simulator_listening_is_a_clear_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let t = LoopbackTransport::new(addr);
        let e = t
            .scan(super::super::model::SERVICE_UUID, Duration::from_millis(10))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, ReaderError::Device(m) if m.contains("no reader simulator")),
            "{e}"
        );
    }
}
