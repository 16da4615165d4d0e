//! The simulator's end of the loopback transport: serves one [`SimReader`] over TCP with the wire
//! protocol of `homevisit_core::reader::loopback`.

use super::SimReader;
use homevisit_core::reader::loopback::{WireMsg, read_msg, write_msg};
use homevisit_core::reader::transport::LinkEvent;
use homevisit_core::reader::{PeripheralLink, ReaderError};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Accepts centrals on `listener` forever, one task per TCP connection.
pub async fn serve(listener: TcpListener, reader: SimReader) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let reader = reader.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, reader).await {
                tracing::debug!(target: "nhi_reader_sim", error = %e, "loopback central left");
            }
        });
    }
}

async fn handle(stream: TcpStream, reader: SimReader) -> Result<(), ReaderError> {
    let (mut rd, mut wr) = stream.into_split();
    let first = match read_msg(&mut rd).await? {
        Some(m) => m,
        None => return Ok(()),
    };
    match first {
        WireMsg::Scan { service } => {
            let readers = if reader.gatt_services().iter().any(|s| s.uuid == service) {
                vec![reader.advertisement_data()]
            } else {
                Vec::new()
            };
            write_msg(&mut wr, &WireMsg::ScanResult { readers }).await
        }
        WireMsg::ReadDisplay => {
            write_msg(
                &mut wr,
                &WireMsg::Display {
                    text: reader.displayed_code(),
                },
            )
            .await
        }
        WireMsg::PressButton => {
            let confirmed = reader.press_button();
            tracing::info!(target: "nhi_reader_sim", confirmed, "the reader's button was pressed");
            write_msg(&mut wr, &WireMsg::ButtonPressed { confirmed }).await
        }
        WireMsg::Connect { id } => {
            if id != reader.id() {
                return write_msg(
                    &mut wr,
                    &WireMsg::Error {
                        message: format!("no reader '{id}' in range"),
                    },
                )
                .await;
            }
            let (tx, mut rx) = mpsc::unbounded_channel();
            let mut link = reader.accept(tx);
            write_msg(
                &mut wr,
                &WireMsg::Connected {
                    mtu: link.mtu(),
                    services: link.services(),
                },
            )
            .await?;
            let result = run(&mut rd, &mut wr, &mut rx, &mut link).await;
            link.close();
            result
        }
        other => {
            write_msg(
                &mut wr,
                &WireMsg::Error {
                    message: format!("expected Scan or Connect, got {other:?}"),
                },
            )
            .await
        }
    }
}

async fn run(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    rx: &mut mpsc::UnboundedReceiver<LinkEvent>,
    link: &mut super::SimLink,
) -> Result<(), ReaderError> {
    loop {
        tokio::select! {
            msg = read_msg(rd) => match msg? {
                Some(WireMsg::Write { characteristic, value, kind }) => {
                    let error = match link.write(characteristic, &value, kind) {
                        Ok(()) => None,
                        Err(ReaderError::Disconnected) => Some("disconnected".to_string()),
                        Err(e) => Some(e.to_string()),
                    };
                    // The GATT server acknowledges the write on receipt; what the reader does with
                    // it (notifications, a link drop) follows.
                    write_msg(wr, &WireMsg::WriteResult { error }).await?;
                    while let Ok(ev) = rx.try_recv() {
                        if forward(wr, ev).await? {
                            return Ok(());
                        }
                    }
                }
                Some(WireMsg::Disconnect) | None => return Ok(()),
                Some(other) => {
                    write_msg(wr, &WireMsg::Error { message: format!("unexpected {other:?}") }).await?;
                    return Ok(());
                }
            },
            ev = rx.recv() => match ev {
                Some(ev) => {
                    if forward(wr, ev).await? {
                        return Ok(());
                    }
                }
                None => return Ok(()),
            },
        }
    }
}

/// Forwards one link event; true when the link is down.
async fn forward(wr: &mut tokio::net::tcp::OwnedWriteHalf, ev: LinkEvent) -> Result<bool, ReaderError> {
    match ev {
        LinkEvent::Notification {
            characteristic,
            value,
        } => {
            write_msg(
                wr,
                &WireMsg::Notify {
                    characteristic,
                    value,
                },
            )
            .await?;
            Ok(false)
        }
        LinkEvent::Disconnected { reason } => {
            write_msg(wr, &WireMsg::Disconnected { reason }).await?;
            Ok(true)
        }
    }
}

/// Pairs with the simulator at `addr` over the loopback transport (reading the code from the
/// simulated reader's display and pressing its button, as the user would) unless `store` already holds a pairing for it,
/// then opens a secure session. The loopback counterpart of [`super::connect_in_process`].
pub async fn connect_loopback(
    addr: std::net::SocketAddr,
    store: std::sync::Arc<dyn homevisit_core::reader::PairingStore>,
    phone_id: &str,
) -> Result<
    (
        homevisit_core::reader::ReaderClient,
        homevisit_core::reader::ReaderSession,
    ),
    ReaderError,
> {
    use homevisit_core::reader::{LoopbackTransport, ReaderClient};
    let transport = std::sync::Arc::new(LoopbackTransport::new(addr));
    let client = ReaderClient::new(transport.clone(), store, phone_id);
    let found = client.scan(std::time::Duration::from_millis(500)).await?;
    let reader = found
        .into_iter()
        .find(|r| r.model.is_some())
        .ok_or_else(|| ReaderError::Device(format!("no supported reader at {addr}")))?;
    if !client.is_paired(&reader.id)? {
        let pending = client.pair(&reader).await?;
        let code = transport
            .read_display()
            .await?
            .ok_or_else(|| ReaderError::Device("the reader shows no pairing code".into()))?;
        if code == pending.short_code() {
            // The user sees the same code on both screens and confirms on the reader too.
            transport.press_button().await?;
        }
        pending.confirm(&code, 0).await?;
    }
    let session = client.connect(&reader.id).await?;
    Ok((client, session))
}
