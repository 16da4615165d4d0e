//! The phone side of the reader protocol: scanning for supported readers, pairing with a short
//! code, and secure sessions that implement [`ApduChannel`].

use super::frame::{Frame, FrameEndpoint, FrameKind};
use super::message::{Message, ReaderErrorCode};
use super::model::{self, RX_CHAR_UUID, ReaderModel, SERVICE_UUID, TX_CHAR_UUID};
use super::pairing::{PairingRecord, PairingStore};
use super::secure::{
    self, EphemeralKey, PairingOffer, PairingSecrets, Role, SecureChannel, SessionAccept, SessionHello,
};
use super::transport::{Connection, DiscoveredReader, LinkEvent, Transport, WriteKind};
use super::{ApduChannel, CardSlot, ReaderError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// How long the phone waits for the reader's answer to one request, unless configured otherwise.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Something the reader reported outside a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderEvent {
    /// A card was put into a slot.
    CardInserted(CardSlot),
    /// A card was taken out of a slot.
    CardRemoved(CardSlot),
    /// The session ended (link lost, bad frame, timeout); reconnect to continue.
    SessionEnded(ReaderError),
}

/// Finds, pairs and connects readers. One per app.
pub struct ReaderClient {
    transport: Arc<dyn Transport>,
    store: Arc<dyn PairingStore>,
    phone_id: String,
    response_timeout: Duration,
}

impl std::fmt::Debug for ReaderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderClient")
            .field("phone_id", &self.phone_id)
            .finish_non_exhaustive()
    }
}

fn plain_error(body: &[u8]) -> ReaderError {
    let code = body.first().copied().unwrap_or(0);
    let text = String::from_utf8_lossy(body.get(1..).unwrap_or_default()).into_owned();
    map_reader_error(code_from(code), text, None)
}

fn code_from(b: u8) -> ReaderErrorCode {
    match Message::decode(&[0x05, b]) {
        Ok(Message::ReaderError { code, .. }) => code,
        _ => ReaderErrorCode::Internal,
    }
}

fn map_reader_error(code: ReaderErrorCode, text: String, slot: Option<CardSlot>) -> ReaderError {
    match code {
        ReaderErrorCode::NoCard => ReaderError::NoCard(slot.unwrap_or(CardSlot::Patient)),
        ReaderErrorCode::CardRemoved => ReaderError::CardRemoved,
        ReaderErrorCode::BadFrame => ReaderError::BadFrame(format!("the reader rejected our frame: {text}")),
        ReaderErrorCode::NotPaired => ReaderError::NotPaired(text),
        ReaderErrorCode::NotConfirmed => ReaderError::NotConfirmed(text),
        ReaderErrorCode::Busy | ReaderErrorCode::Internal => ReaderError::Device(text),
    }
}

/// A connection during the plain (pre-session) phase: frames in and out, one at a time.
struct PlainLink {
    conn: Arc<dyn Connection>,
    events: mpsc::UnboundedReceiver<LinkEvent>,
    endpoint: FrameEndpoint,
    write_kind: WriteKind,
    timeout: Duration,
}

impl PlainLink {
    async fn open(
        transport: &dyn Transport,
        id: &str,
        model: ReaderModel,
        timeout: Duration,
    ) -> Result<Self, ReaderError> {
        let conn: Arc<dyn Connection> = Arc::from(transport.connect(id).await?);
        match Self::setup(conn.clone(), model, timeout).await {
            Ok(l) => Ok(l),
            Err(e) => {
                conn.disconnect().await;
                Err(e)
            }
        }
    }

    async fn setup(
        conn: Arc<dyn Connection>,
        model: ReaderModel,
        timeout: Duration,
    ) -> Result<Self, ReaderError> {
        let services = conn.discover().await?;
        let service = services
            .iter()
            .find(|s| s.uuid == SERVICE_UUID)
            .ok_or_else(|| ReaderError::Device("the reader does not offer the homevisit service".into()))?;
        let rx = service
            .characteristics
            .iter()
            .find(|c| c.uuid == RX_CHAR_UUID)
            .ok_or_else(|| ReaderError::Device("the reader has no RX characteristic".into()))?;
        if !service
            .characteristics
            .iter()
            .any(|c| c.uuid == TX_CHAR_UUID && c.props.notify)
        {
            return Err(ReaderError::Device(
                "the reader has no notifying TX characteristic".into(),
            ));
        }
        let profile = model.profile();
        // Quirk: some models only accept write with response, whatever they advertise.
        let write_kind = if profile.write_without_response && rx.props.write_without_response {
            WriteKind::WithoutResponse
        } else if rx.props.write {
            WriteKind::WithResponse
        } else {
            return Err(ReaderError::Device(
                "the reader's RX characteristic is not writable".into(),
            ));
        };
        let mtu = conn.mtu().min(profile.max_mtu);
        let events = conn.subscribe(TX_CHAR_UUID).await?;
        Ok(Self {
            conn,
            events,
            endpoint: FrameEndpoint::new(model::att_payload(mtu)),
            write_kind,
            timeout,
        })
    }

    async fn send(&mut self, kind: FrameKind, body: Vec<u8>) -> Result<(), ReaderError> {
        let frags = self.endpoint.encode(kind, body)?;
        write_all(&*self.conn, &frags, self.write_kind).await
    }

    async fn recv(&mut self) -> Result<Frame, ReaderError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .map_err(|_| ReaderError::Timeout)?;
            match ev {
                Some(LinkEvent::Notification {
                    characteristic,
                    value,
                }) if characteristic == TX_CHAR_UUID => {
                    if let Some(frame) = self.endpoint.receive(&value)? {
                        if frame.kind == FrameKind::Error {
                            return Err(plain_error(&frame.body));
                        }
                        return Ok(frame);
                    }
                }
                Some(LinkEvent::Notification { .. }) => {}
                Some(LinkEvent::Disconnected { .. }) | None => return Err(ReaderError::Disconnected),
            }
        }
    }

    async fn expect(&mut self, kind: FrameKind) -> Result<Vec<u8>, ReaderError> {
        let f = self.recv().await?;
        if f.kind != kind {
            return Err(ReaderError::BadFrame(format!(
                "expected {kind:?}, got {:?}",
                f.kind
            )));
        }
        Ok(f.body)
    }
}

async fn write_all(conn: &dyn Connection, frags: &[Vec<u8>], kind: WriteKind) -> Result<(), ReaderError> {
    for f in frags {
        conn.write(RX_CHAR_UUID, f, kind).await?;
    }
    Ok(())
}

impl ReaderClient {
    /// A client over `transport`, keeping pairings in `store`; `phone_id` identifies this
    /// installation to the readers.
    pub fn new(
        transport: Arc<dyn Transport>,
        store: Arc<dyn PairingStore>,
        phone_id: impl Into<String>,
    ) -> Self {
        Self {
            transport,
            store,
            phone_id: phone_id.into(),
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
        }
    }

    /// Sets how long to wait for each reader answer.
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Scans for readers offering our service; unsupported models are listed with `model: None`.
    pub async fn scan(&self, timeout: Duration) -> Result<Vec<DiscoveredReader>, ReaderError> {
        let mut found = self.transport.scan(SERVICE_UUID, timeout).await?;
        for r in &mut found {
            r.model = ReaderModel::from_advertised_name(&r.name);
        }
        found.sort_by_key(|r| std::cmp::Reverse(r.rssi));
        Ok(found)
    }

    /// Whether `reader_id` is paired.
    pub fn is_paired(&self, reader_id: &str) -> Result<bool, ReaderError> {
        Ok(self.store.load(reader_id)?.is_some())
    }

    /// The stored pairings.
    pub fn pairings(&self) -> Result<Vec<PairingRecord>, ReaderError> {
        self.store.list()
    }

    /// Forgets a reader (the next connection needs pairing again).
    pub fn forget(&self, reader_id: &str) -> Result<(), ReaderError> {
        self.store.remove(reader_id)
    }

    /// Starts pairing: exchanges keys and returns the short code to show to the user, who compares
    /// it with the code on the reader's display.
    pub async fn pair(&self, reader: &DiscoveredReader) -> Result<PendingPairing, ReaderError> {
        let model = reader
            .model
            .or_else(|| ReaderModel::from_advertised_name(&reader.name))
            .ok_or_else(|| ReaderError::Device(format!("reader model '{}' is not supported", reader.name)))?;
        let mut link = PlainLink::open(&*self.transport, &reader.id, model, self.response_timeout).await?;
        match self.exchange_keys(&mut link).await {
            Ok((secrets, reader_offer)) => Ok(PendingPairing {
                link,
                secrets,
                store: self.store.clone(),
                record_base: (reader.id.clone(), reader.name.clone(), model),
                reader_device_id: reader_offer.device_id,
            }),
            Err(e) => {
                link.conn.disconnect().await;
                Err(e)
            }
        }
    }

    async fn exchange_keys(
        &self,
        link: &mut PlainLink,
    ) -> Result<(PairingSecrets, PairingOffer), ReaderError> {
        let key = EphemeralKey::generate()?;
        let phone = PairingOffer {
            device_id: self.phone_id.clone(),
            public_key: key.public(),
            nonce: secure::random_bytes()?,
        };
        // Commit to our nonce first; reveal it only once the reader's nonce is on the table.
        link.send(FrameKind::PairRequest, phone.commit().encode()).await?;
        let reader = PairingOffer::decode(&link.expect(FrameKind::PairResponse).await?)?;
        link.send(FrameKind::PairReveal, phone.nonce.to_vec()).await?;
        link.expect(FrameKind::PairShown).await?;
        let secrets = key.agree(Role::Phone, &phone, &reader)?;
        Ok((secrets, reader))
    }

    /// Opens a secure session with a paired reader. No user interaction: the stored long-term key
    /// authenticates both sides.
    pub async fn connect(&self, reader_id: &str) -> Result<ReaderSession, ReaderError> {
        let record = self
            .store
            .load(reader_id)?
            .ok_or_else(|| ReaderError::NotPaired(format!("reader '{reader_id}' has not been paired")))?;
        let mut link =
            PlainLink::open(&*self.transport, reader_id, record.model, self.response_timeout).await?;
        match self.open_session(&mut link, &record).await {
            Ok(channel) => ReaderSession::start(link, channel, record).await,
            Err(e) => {
                link.conn.disconnect().await;
                Err(e)
            }
        }
    }

    async fn open_session(
        &self,
        link: &mut PlainLink,
        record: &PairingRecord,
    ) -> Result<SecureChannel, ReaderError> {
        // A fresh ephemeral key per session: its secret goes into the session keys and is
        // dropped with them (forward secrecy).
        let key = EphemeralKey::generate()?;
        let hello = SessionHello {
            phone_id: self.phone_id.clone(),
            nonce: secure::random_bytes()?,
            ephemeral: key.public(),
        };
        link.send(FrameKind::SessionHello, hello.encode()).await?;
        let accept = SessionAccept::decode(&link.expect(FrameKind::SessionAccept).await?)?;
        if !accept.verify_mac(&record.long_term_key, &record.device_id, &hello) {
            return Err(ReaderError::NotPaired(
                "the reader could not prove it holds our pairing key (re-pair the reader)".into(),
            ));
        }
        key.session_channel(
            Role::Phone,
            &record.long_term_key,
            &accept.ephemeral,
            &hello.nonce,
            &accept.nonce,
        )
    }
}

/// A pairing waiting for the user to confirm the short code.
pub struct PendingPairing {
    link: PlainLink,
    secrets: PairingSecrets,
    store: Arc<dyn PairingStore>,
    record_base: (String, String, ReaderModel),
    reader_device_id: String,
}

impl std::fmt::Debug for PendingPairing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingPairing")
            .field("reader", &self.record_base.0)
            .finish_non_exhaustive()
    }
}

impl PendingPairing {
    /// The 6-digit code to show on the phone; the reader shows its own.
    pub fn short_code(&self) -> &str {
        &self.secrets.short_code
    }

    /// The user typed (or confirmed) `code` as shown on the reader. A mismatch refuses the
    /// pairing on both sides and stores nothing.
    pub async fn confirm(mut self, code: &str, now_unix_ms: i64) -> Result<PairingRecord, ReaderError> {
        if code.trim() != self.secrets.short_code {
            let _ = self
                .link
                .send(FrameKind::PairAbort, b"short code mismatch".to_vec())
                .await;
            self.link.conn.disconnect().await;
            return Err(ReaderError::NotPaired(
                "the short code does not match the reader's; pairing refused".into(),
            ));
        }
        let result = self.finish(now_unix_ms).await;
        self.link.conn.disconnect().await;
        result
    }

    async fn finish(&mut self, now_unix_ms: i64) -> Result<PairingRecord, ReaderError> {
        self.link
            .send(FrameKind::PairConfirm, self.secrets.confirm_mac(Role::Phone))
            .await?;
        let mac = self.link.expect(FrameKind::PairConfirmed).await?;
        self.secrets.verify_confirm(Role::Reader, &mac)?;
        let (reader_id, name, model) = self.record_base.clone();
        let record = PairingRecord {
            reader_id,
            name,
            device_id: self.reader_device_id.clone(),
            model,
            long_term_key: self.secrets.long_term_key,
            paired_at_unix_ms: now_unix_ms,
        };
        self.store.save(&record)?;
        Ok(record)
    }

    /// Abandons the pairing (the user pressed cancel).
    pub async fn cancel(mut self) {
        let _ = self.link.send(FrameKind::PairAbort, b"cancelled".to_vec()).await;
        self.link.conn.disconnect().await;
    }
}

struct Shared {
    endpoint: FrameEndpoint,
    pending: Option<oneshot::Sender<Result<Message, ReaderError>>>,
    present: [bool; 2],
    failed: Option<ReaderError>,
}

fn slot_index(slot: CardSlot) -> usize {
    match slot {
        CardSlot::Practitioner => 0,
        CardSlot::Patient => 1,
    }
}

/// An authenticated, encrypted session with one reader. Implements [`ApduChannel`]; card events
/// arrive on [`ReaderSession::events`]. Dropping it disconnects.
pub struct ReaderSession {
    conn: Arc<dyn Connection>,
    channel: Arc<SecureChannel>,
    shared: Arc<Mutex<Shared>>,
    request: tokio::sync::Mutex<()>,
    events: broadcast::Sender<ReaderEvent>,
    write_kind: WriteKind,
    timeout: Duration,
    record: PairingRecord,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for ReaderSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderSession")
            .field("reader", &self.record.reader_id)
            .finish_non_exhaustive()
    }
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    // A panic while holding this lock would be a bug in this module; recover the data anyway.
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

impl ReaderSession {
    async fn start(
        link: PlainLink,
        channel: SecureChannel,
        record: PairingRecord,
    ) -> Result<Self, ReaderError> {
        let PlainLink {
            conn,
            events: link_events,
            endpoint,
            write_kind,
            timeout,
        } = link;
        let channel = Arc::new(channel);
        let shared = Arc::new(Mutex::new(Shared {
            endpoint,
            pending: None,
            present: [false; 2],
            failed: None,
        }));
        let (events, _) = broadcast::channel(64);
        let task = tokio::spawn(pump(
            link_events,
            shared.clone(),
            channel.clone(),
            events.clone(),
            conn.clone(),
        ));
        let session = Self {
            conn,
            channel,
            shared,
            request: tokio::sync::Mutex::new(()),
            events,
            write_kind,
            timeout,
            record,
            task,
        };
        // The first sealed request proves our key to the reader and learns which slots hold cards.
        match session.request(Message::StatusRequest).await? {
            Message::Status {
                practitioner,
                patient,
            } => {
                lock(&session.shared).present = [practitioner, patient];
                Ok(session)
            }
            other => Err(ReaderError::BadFrame(format!(
                "unexpected answer to a status request: {other:?}"
            ))),
        }
    }

    /// The paired reader this session talks to.
    pub fn reader(&self) -> &PairingRecord {
        &self.record
    }

    /// Card inserted / removed and session-ended events.
    pub fn events(&self) -> broadcast::Receiver<ReaderEvent> {
        self.events.subscribe()
    }

    /// Whether the session can still carry requests.
    pub fn is_open(&self) -> bool {
        lock(&self.shared).failed.is_none()
    }

    /// Closes the session and the link.
    pub async fn disconnect(&self) {
        fail(&self.shared, &self.events, ReaderError::Disconnected);
        self.conn.disconnect().await;
    }

    async fn request(&self, msg: Message) -> Result<Message, ReaderError> {
        let _one_at_a_time = self.request.lock().await;
        let (tx, rx) = oneshot::channel();
        let frags = {
            let mut s = lock(&self.shared);
            if let Some(e) = &s.failed {
                return Err(e.clone());
            }
            let seq = s.endpoint.next_send_seq();
            let body = self.channel.seal(seq, &msg.encode())?;
            let frags = s.endpoint.encode(FrameKind::Sealed, body)?;
            s.pending = Some(tx);
            frags
        };
        if let Err(e) = write_all(&*self.conn, &frags, self.write_kind).await {
            fail(&self.shared, &self.events, e.clone());
            return Err(e);
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(lock(&self.shared)
                .failed
                .clone()
                .unwrap_or(ReaderError::Disconnected)),
            Err(_) => {
                // A late answer would no longer match its request: end the session.
                fail(&self.shared, &self.events, ReaderError::Timeout);
                self.conn.disconnect().await;
                Err(ReaderError::Timeout)
            }
        }
    }
}

impl Drop for ReaderSession {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn fail(shared: &Mutex<Shared>, events: &broadcast::Sender<ReaderEvent>, e: ReaderError) {
    let pending = {
        let mut s = lock(shared);
        if s.failed.is_some() {
            return;
        }
        s.failed = Some(e.clone());
        s.pending.take()
    };
    if let Some(p) = pending {
        let _ = p.send(Err(e.clone()));
    }
    tracing::info!(target: "homevisit::reader", error = %e, "reader session ended");
    let _ = events.send(ReaderEvent::SessionEnded(e));
}

async fn pump(
    mut link_events: mpsc::UnboundedReceiver<LinkEvent>,
    shared: Arc<Mutex<Shared>>,
    channel: Arc<SecureChannel>,
    events: broadcast::Sender<ReaderEvent>,
    conn: Arc<dyn Connection>,
) {
    while let Some(ev) = link_events.recv().await {
        let value = match ev {
            LinkEvent::Notification {
                characteristic,
                value,
            } if characteristic == TX_CHAR_UUID => value,
            LinkEvent::Notification { .. } => continue,
            LinkEvent::Disconnected { .. } => break,
        };
        match handle_fragment(&shared, &channel, &value) {
            Ok(None) => {}
            Ok(Some(msg)) => dispatch(&shared, &events, msg),
            Err(e) => {
                tracing::warn!(target: "homevisit::reader", error = %e, "rejected a frame from the reader");
                fail(&shared, &events, e);
                conn.disconnect().await;
                return;
            }
        }
    }
    fail(&shared, &events, ReaderError::Disconnected);
}

fn handle_fragment(
    shared: &Mutex<Shared>,
    channel: &SecureChannel,
    value: &[u8],
) -> Result<Option<Message>, ReaderError> {
    let frame = {
        let mut s = lock(shared);
        if s.failed.is_some() {
            return Ok(None);
        }
        match s.endpoint.receive(value)? {
            Some(f) => f,
            None => return Ok(None),
        }
    };
    match frame.kind {
        FrameKind::Sealed => Ok(Some(Message::decode(&channel.open(frame.seq, &frame.body)?)?)),
        // Inside a session the reader reports errors sealed; a plain one is unauthenticated
        // (anyone in radio range can send it), so its code and text are never believed.
        FrameKind::Error => Err(ReaderError::BadFrame(
            "an unauthenticated error frame inside the session was refused".into(),
        )),
        other => Err(ReaderError::BadFrame(format!(
            "unexpected {other:?} frame inside a session"
        ))),
    }
}

fn dispatch(shared: &Mutex<Shared>, events: &broadcast::Sender<ReaderEvent>, msg: Message) {
    match msg {
        Message::CardInserted(slot) => {
            lock(shared).present[slot_index(slot)] = true;
            let _ = events.send(ReaderEvent::CardInserted(slot));
        }
        Message::CardRemoved(slot) => {
            lock(shared).present[slot_index(slot)] = false;
            let _ = events.send(ReaderEvent::CardRemoved(slot));
        }
        reply => {
            let pending = lock(shared).pending.take();
            match pending {
                Some(p) => {
                    let _ = p.send(Ok(reply));
                }
                None => {
                    tracing::warn!(target: "homevisit::reader", "unsolicited reply from the reader ignored")
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl ApduChannel for ReaderSession {
    async fn transmit(&self, slot: CardSlot, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let reply = self
            .request(Message::ApduRequest {
                slot,
                apdu: apdu.to_vec(),
            })
            .await?;
        match reply {
            Message::ApduResponse { slot: s, response } if s == slot => Ok(response),
            Message::ReaderError { code, text } => Err(map_reader_error(code, text, Some(slot))),
            other => Err(ReaderError::BadFrame(format!(
                "unexpected answer to an APDU: {other:?}"
            ))),
        }
    }

    async fn card_present(&self, slot: CardSlot) -> Result<bool, ReaderError> {
        let s = lock(&self.shared);
        if let Some(e) = &s.failed {
            return Err(e.clone());
        }
        Ok(s.present[slot_index(slot)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shared() -> Mutex<Shared> {
        Mutex::new(Shared {
            endpoint: FrameEndpoint::new(182),
            pending: None,
            present: [false; 2],
            failed: None,
        })
    }

    fn channel() -> SecureChannel {
        SecureChannel::derive(Role::Phone, &[5; 32], &[1; 16], &[2; 16], &[6; 32]).unwrap()
    }

    fn reader_channel() -> SecureChannel {
        SecureChannel::derive(Role::Reader, &[5; 32], &[1; 16], &[2; 16], &[6; 32]).unwrap()
    }

    proptest! {
        /// Whatever arrives from the radio, the phone side answers with a value or a typed error.
        #[test]
        fn random_notifications_never_panic(frags in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..20)) {
            let s = shared();
            let ch = channel();
            for f in &frags {
                match handle_fragment(&s, &ch, f) {
                    Ok(_) => {}
                    Err(ReaderError::BadFrame(_)) | Err(ReaderError::Device(_)) | Err(ReaderError::NotPaired(_))
                    | Err(ReaderError::NoCard(_)) | Err(ReaderError::CardRemoved) => {}
                    Err(e) => prop_assert!(false, "unexpected error {e}"),
                }
            }
        }

        /// A correctly sealed frame with any single bit flipped (CRC recomputed, as an attacker
        /// would) is refused.
        #[test]
        fn any_forged_bit_in_a_sealed_frame_is_refused(byte in any::<prop::sample::Index>(), bit in 0u8..8) {
            let reader = reader_channel();
            let msg = Message::ApduResponse { slot: CardSlot::Patient, response: vec![0x90, 0x00] }.encode();
            let mut body = reader.seal(0, &msg).unwrap();
            let i = byte.index(body.len());
            body[i] ^= 1 << bit;
            let frame = Frame { kind: FrameKind::Sealed, seq: 0, body }.encode().unwrap();
            let s = shared();
            let mut result = Ok(None);
            for f in super::super::frame::fragment(&frame, 182) {
                result = handle_fragment(&s, &channel(), &f);
            }
            prop_assert!(matches!(result, Err(ReaderError::BadFrame(_))), "{result:?}");
        }
    }

    #[test]
    fn an_untouched_sealed_frame_is_accepted() {
        let reader = reader_channel();
        let msg = Message::CardInserted(CardSlot::Practitioner);
        let body = reader.seal(0, &msg.encode()).unwrap();
        let frame = Frame {
            kind: FrameKind::Sealed,
            seq: 0,
            body,
        }
        .encode()
        .unwrap();
        let s = shared();
        let got = handle_fragment(&s, &channel(), &super::super::frame::fragment(&frame, 182)[0]).unwrap();
        assert_eq!(got, Some(msg));
    }

    #[test]
    fn a_plain_error_frame_inside_a_session_is_not_believed() {
        let frame = Frame {
            kind: FrameKind::Error,
            seq: 0,
            body: [&[ReaderErrorCode::NotPaired as u8][..], b"pair again"].concat(),
        }
        .encode()
        .unwrap();
        let got = handle_fragment(
            &shared(),
            &channel(),
            &super::super::frame::fragment(&frame, 182)[0],
        );
        assert!(
            matches!(&got, Err(ReaderError::BadFrame(m)) if m.contains("unauthenticated") && !m.contains("pair again")),
            "{got:?}"
        );
    }
}
