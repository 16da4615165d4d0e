//! The GATT peripheral side of the supported reader models: our service, pairing with a short
//! code confirmed on both devices (the phone's screen and the reader's button, [`SimReader::press_button`];
//! failed attempts are limited), secure sessions with a fresh ephemeral key each, framing, APDU relay to the [`SimCard`] in each slot, card insert/remove
//! notifications and reader errors, all over the virtual-time [`LinkModel`]. Serves the in-memory
//! transport directly ([`MemoryPeripheral`]) and the loopback transport through [`tcp`].

pub mod tcp;

use crate::card::SimCard;
use crate::link::{Direction, Fate, LinkConfig, LinkModel, LinkStats};
use homevisit_core::reader::frame::{Frame, FrameEndpoint, FrameKind};
use homevisit_core::reader::message::{Message, ReaderErrorCode, slot_byte};
use homevisit_core::reader::model::{self, RX_CHAR_UUID, SERVICE_UUID, TX_CHAR_UUID};
use homevisit_core::reader::secure::{
    self, EphemeralKey, PairingCommit, PairingOffer, PairingSecrets, Role, SecureChannel, SessionAccept,
    SessionHello,
};
use homevisit_core::reader::transport::Uuid;
use homevisit_core::reader::transport::{
    CharProps, DiscoveredReader, GattCharacteristic, GattService, LinkEvent, WriteKind,
};
use homevisit_core::reader::{CardSlot, MemoryPeripheral, PeripheralLink, ReaderError, ReaderModel};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;

/// How one simulated reader is built.
#[derive(Debug, Clone)]
pub struct ReaderConfig {
    /// Which supported model it emulates.
    pub model: ReaderModel,
    /// Serial number (part of its name and id).
    pub serial: String,
    /// Advertised signal strength, dBm.
    pub rssi: i16,
    /// The radio link.
    pub link: LinkConfig,
    /// Where the reader keeps its pairings across runs (in memory when `None`).
    pub state_dir: Option<PathBuf>,
}

impl ReaderConfig {
    /// A reader of `model` with the model's own MTU and pacing on a 30 ms link.
    pub fn new(model: ReaderModel, serial: impl Into<String>) -> Self {
        let p = model.profile();
        Self {
            model,
            serial: serial.into(),
            rssi: -55,
            link: LinkConfig {
                mtu: p.max_mtu,
                packets_per_event: p.packets_per_event,
                ..LinkConfig::default()
            },
            state_dir: None,
        }
    }
}

/// An attack or fault applied to the reader's next sealed frame to the phone (for tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// Flip one bit of the sealed body (length and CRC recomputed, as an attacker would).
    Forge,
    /// Send the previous sealed frame again instead of the new one.
    Replay,
    /// Send a later frame before this one.
    Reorder,
    /// Cut the sealed body short (length and CRC recomputed).
    Truncate,
    /// Answer an APDU as if another slot's card had (a confused or hostile reader).
    WrongSlot,
}

/// Failed pairing attempts (commitment not opened, wrong confirmation, no button press, abort,
/// link lost) after which the reader refuses pairing until its button is pressed.
pub const MAX_FAILED_PAIRINGS: u32 = 3;

enum Phase {
    Idle,
    /// The phone committed to its nonce and has our offer; its reveal is due.
    Committed {
        commit: PairingCommit,
        key: EphemeralKey,
        offer: PairingOffer,
    },
    /// The code is on the display; the phone's confirmation (and our button) is due.
    Pairing {
        secrets: PairingSecrets,
        phone_id: String,
    },
    Session {
        channel: Box<SecureChannel>,
    },
}

struct Conn {
    id: u64,
    events: mpsc::UnboundedSender<LinkEvent>,
    endpoint: FrameEndpoint,
    phase: Phase,
    last_sealed: Option<Vec<Vec<u8>>>,
}

struct Inner {
    config: ReaderConfig,
    slots: [Option<Box<dyn SimCard>>; 2],
    pull_after: [Option<u64>; 2],
    pairings: BTreeMap<String, [u8; 32]>,
    link: LinkModel,
    conn: Option<Conn>,
    next_conn: u64,
    displayed_code: Option<String>,
    /// The button was pressed while the current code was shown.
    button_pressed: bool,
    failed_pairings: u32,
    tamper: VecDeque<Tamper>,
    reader_fault: Option<String>,
    apdus: u64,
}

fn idx(slot: CardSlot) -> usize {
    slot_byte(slot) as usize
}

/// A simulated reader of one supported model. Cheap to clone (shared state).
#[derive(Clone)]
pub struct SimReader {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for SimReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimReader")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct SavedState {
    pairings: BTreeMap<String, String>,
}

impl SimReader {
    /// A reader with empty slots; pairings are loaded from `config.state_dir` when set.
    pub fn new(config: ReaderConfig) -> Self {
        let pairings = load_pairings(&config);
        let mut link_cfg = config.link.clone();
        link_cfg.mtu = link_cfg.mtu.min(config.model.profile().max_mtu);
        Self {
            inner: Arc::new(Mutex::new(Inner {
                link: LinkModel::new(link_cfg),
                config,
                slots: [None, None],
                pull_after: [None, None],
                pairings,
                conn: None,
                next_conn: 1,
                displayed_code: None,
                button_pressed: false,
                failed_pairings: 0,
                tamper: VecDeque::new(),
                reader_fault: None,
                apdus: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Only a panic inside a card could poison the lock; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Transport id (what `scan` reports and `connect` takes).
    pub fn id(&self) -> String {
        format!("sim-{}", self.lock().config.serial)
    }

    /// Advertised name, e.g. `HV-BT200 0001`.
    pub fn name(&self) -> String {
        let i = self.lock();
        format!("{} {}", i.config.model.name(), i.config.serial)
    }

    /// The emulated model.
    pub fn model(&self) -> ReaderModel {
        self.lock().config.model
    }

    /// The code on the reader's display while pairing (the user compares it with the phone's).
    pub fn displayed_code(&self) -> Option<String> {
        self.lock().displayed_code.clone()
    }

    /// The user presses the reader's button. While a pairing code is shown it confirms that
    /// pairing (the user saw the same code on the phone) and returns true; otherwise it re-opens
    /// pairing after [`MAX_FAILED_PAIRINGS`] failed attempts and returns false. Without a press no
    /// pairing is ever stored or replaced.
    pub fn press_button(&self) -> bool {
        let mut i = self.lock();
        let pairing = matches!(i.conn.as_ref().map(|c| &c.phase), Some(Phase::Pairing { .. }));
        if pairing {
            i.button_pressed = true;
        } else {
            i.failed_pairings = 0;
        }
        pairing
    }

    /// Whether the reader refuses pairing until its button is pressed (too many failed attempts).
    pub fn pairing_locked(&self) -> bool {
        self.lock().failed_pairings >= MAX_FAILED_PAIRINGS
    }

    /// Test attack: someone in radio range sends the connected phone a plain (unauthenticated)
    /// error frame, numbered so that it passes the frame sequence check.
    pub fn inject_plain_error(&self, code: ReaderErrorCode, text: &str) {
        self.lock().send_plain(FrameKind::Error, error_body(code, text));
    }

    /// Whether the reader holds a pairing for `phone_id`.
    pub fn is_paired_with(&self, phone_id: &str) -> bool {
        self.lock().pairings.contains_key(phone_id)
    }

    /// Forgets the pairing of `phone_id` (factory reset of one pairing).
    pub fn unpair(&self, phone_id: &str) {
        let mut i = self.lock();
        i.pairings.remove(phone_id);
        save_pairings(&i);
    }

    /// Puts `card` in `slot` (replacing any card there); a connected phone is notified.
    pub fn insert(&self, slot: CardSlot, card: Box<dyn SimCard>) {
        let mut i = self.lock();
        i.slots[idx(slot)] = Some(card);
        i.pull_after[idx(slot)] = None;
        i.notify(Message::CardInserted(slot));
    }

    /// Takes the card out of `slot`; a connected phone is notified.
    pub fn remove(&self, slot: CardSlot) -> Option<Box<dyn SimCard>> {
        let mut i = self.lock();
        let card = i.slots[idx(slot)].take();
        if card.is_some() {
            i.notify(Message::CardRemoved(slot));
        }
        card
    }

    /// The card in `slot` is pulled out during the `(n+1)`-th APDU sent to it from now: `n` APDUs
    /// still reach it, the next does not and is answered "card removed".
    pub fn remove_card_after(&self, slot: CardSlot, n: u64) {
        self.lock().pull_after[idx(slot)] = Some(n);
    }

    /// The next APDU is answered with a reader error carrying `text` (e.g. low battery).
    pub fn fail_next_apdu(&self, text: impl Into<String>) {
        self.lock().reader_fault = Some(text.into());
    }

    /// Applies `t` to the reader's next sealed frame.
    pub fn tamper_next(&self, t: Tamper) {
        self.lock().tamper.push_back(t);
    }

    /// The link drops at the `n`-th ATT packet from now (1-based, either direction, that packet
    /// is lost). One-shot.
    pub fn disconnect_at_frame(&self, n: u64) {
        self.lock().link.disconnect_at_frame(n);
    }

    /// The reader goes out of range now.
    pub fn drop_link(&self, reason: &str) {
        self.lock().drop_conn(reason);
    }

    /// Whether a phone is connected.
    pub fn is_connected(&self) -> bool {
        self.lock().conn.is_some()
    }

    /// Link counters (virtual time, round trips, packets, bytes) since creation or the last reset.
    pub fn stats(&self) -> LinkStats {
        self.lock().link.stats()
    }

    /// Zeroes the link counters and the virtual clock.
    pub fn reset_stats(&self) {
        self.lock().link.reset_stats();
    }

    /// The link parameters in force.
    pub fn link_config(&self) -> LinkConfig {
        self.lock().link.config().clone()
    }

    /// Changes the link parameters (MTU changes apply from the next connection).
    pub fn set_link_config(&self, mut config: LinkConfig) {
        let mut i = self.lock();
        config.mtu = config.mtu.min(i.config.model.profile().max_mtu);
        i.link.set_config(config);
    }

    /// APDUs relayed to cards so far.
    pub fn apdus(&self) -> u64 {
        self.lock().apdus
    }

    /// What the reader advertises.
    pub fn advertisement_data(&self) -> DiscoveredReader {
        let i = self.lock();
        DiscoveredReader {
            id: format!("sim-{}", i.config.serial),
            name: format!("{} {}", i.config.model.name(), i.config.serial),
            model: Some(i.config.model),
            rssi: i.config.rssi,
        }
    }

    /// The GATT database: our service with RX (write) and TX (notify).
    pub fn gatt_services(&self) -> Vec<GattService> {
        let wwr = self.model().profile().write_without_response;
        vec![GattService {
            uuid: SERVICE_UUID,
            characteristics: vec![
                GattCharacteristic {
                    uuid: RX_CHAR_UUID,
                    props: CharProps {
                        write: true,
                        write_without_response: wwr,
                        notify: false,
                    },
                },
                GattCharacteristic {
                    uuid: TX_CHAR_UUID,
                    props: CharProps {
                        write: false,
                        write_without_response: false,
                        notify: true,
                    },
                },
            ],
        }]
    }

    /// Accepts a connection (a previous one is dropped); used by both transports.
    pub fn accept(&self, events: mpsc::UnboundedSender<LinkEvent>) -> SimLink {
        let mut i = self.lock();
        if let Some(old) = i.conn.take() {
            // A stale connection (its phone already gave up on it) is replaced, not a link drop.
            let _ = old.events.send(LinkEvent::Disconnected {
                reason: "another phone connected".into(),
            });
            i.end_pairing_if(&old.phase);
            i.reset_cards();
        }
        let id = i.next_conn;
        i.next_conn += 1;
        let payload = model::att_payload(i.link.config().mtu);
        i.link.on_connect();
        i.conn = Some(Conn {
            id,
            events,
            endpoint: FrameEndpoint::new(payload),
            phase: Phase::Idle,
            last_sealed: None,
        });
        SimLink {
            reader: self.clone(),
            conn_id: id,
            mtu: i.link.config().mtu,
        }
    }
}

impl MemoryPeripheral for SimReader {
    fn advertisement(&self) -> DiscoveredReader {
        self.advertisement_data()
    }
    fn advertised_services(&self) -> Vec<Uuid> {
        vec![SERVICE_UUID]
    }
    fn open(&self, events: mpsc::UnboundedSender<LinkEvent>) -> Result<Box<dyn PeripheralLink>, ReaderError> {
        Ok(Box::new(self.accept(events)))
    }
}

/// One accepted connection (peripheral side).
#[derive(Debug)]
pub struct SimLink {
    reader: SimReader,
    conn_id: u64,
    mtu: u16,
}

impl PeripheralLink for SimLink {
    fn mtu(&self) -> u16 {
        self.mtu
    }
    fn services(&self) -> Vec<GattService> {
        self.reader.gatt_services()
    }
    fn write(&mut self, characteristic: Uuid, value: &[u8], kind: WriteKind) -> Result<(), ReaderError> {
        self.reader
            .lock()
            .on_write(self.conn_id, characteristic, value, kind)
    }
    fn close(&mut self) {
        let mut i = self.reader.lock();
        if i.conn.as_ref().is_some_and(|c| c.id == self.conn_id)
            && let Some(c) = i.conn.take()
        {
            i.end_pairing_if(&c.phase);
            i.reset_cards();
        }
    }
}

fn state_file(config: &ReaderConfig) -> Option<PathBuf> {
    config
        .state_dir
        .as_ref()
        .map(|d| d.join(format!("reader-{}-{}.json", config.model.name(), config.serial)))
}

fn load_pairings(config: &ReaderConfig) -> BTreeMap<String, [u8; 32]> {
    let Some(path) = state_file(config) else {
        return BTreeMap::new();
    };
    let Ok(bytes) = std::fs::read(&path) else {
        return BTreeMap::new();
    };
    let saved: SavedState = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(target: "nhi_reader_sim", error = %e, "reader state unreadable; starting unpaired");
            return BTreeMap::new();
        }
    };
    saved
        .pairings
        .into_iter()
        .filter_map(|(k, v)| {
            hex::decode(v)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .map(|key| (k, key))
        })
        .collect()
}

fn save_pairings(i: &Inner) {
    let Some(path) = state_file(&i.config) else { return };
    let saved = SavedState {
        pairings: i
            .pairings
            .iter()
            .map(|(k, v)| (k.clone(), hex::encode(v)))
            .collect(),
    };
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&saved).unwrap_or_default())?;
        std::fs::rename(&tmp, &path)
    };
    if let Err(e) = write() {
        tracing::warn!(target: "nhi_reader_sim", error = %e, "could not save reader pairings");
    }
}

fn error_body(code: ReaderErrorCode, text: &str) -> Vec<u8> {
    [&[code as u8][..], text.as_bytes()].concat()
}

impl Inner {
    fn device_id(&self) -> String {
        format!("{}-{}", self.config.model.name(), self.config.serial)
    }

    fn reset_cards(&mut self) {
        for c in self.slots.iter_mut().flatten() {
            c.reset();
        }
    }

    fn drop_conn(&mut self, reason: &str) {
        if let Some(c) = self.conn.take() {
            let _ = c.events.send(LinkEvent::Disconnected {
                reason: reason.to_string(),
            });
            self.link.on_disconnect();
            self.end_pairing_if(&c.phase);
            self.reset_cards();
        }
    }

    /// Leaves pairing: the display clears, the button press is forgotten, and a failed attempt is
    /// counted.
    fn end_pairing(&mut self, failed: bool) {
        self.displayed_code = None;
        self.button_pressed = false;
        if failed {
            self.failed_pairings = self.failed_pairings.saturating_add(1);
        }
    }

    /// A connection in `phase` went away: an unfinished pairing counts as failed.
    fn end_pairing_if(&mut self, phase: &Phase) {
        let pairing = matches!(phase, Phase::Committed { .. } | Phase::Pairing { .. });
        self.end_pairing(pairing);
    }

    /// Puts fragments on air through the link model. Returns false if the link dropped.
    fn transmit(&mut self, frags: &[Vec<u8>]) -> bool {
        for f in frags {
            match self.link.packet(Direction::Down, f.len(), None) {
                Fate::Delivered => {
                    if let Some(c) = &self.conn {
                        let _ = c.events.send(LinkEvent::Notification {
                            characteristic: TX_CHAR_UUID,
                            value: f.clone(),
                        });
                    }
                }
                Fate::Dropped => {}
                Fate::Disconnect => {
                    self.drop_conn("link lost (chosen frame)");
                    return false;
                }
            }
        }
        true
    }

    fn send_plain(&mut self, kind: FrameKind, body: Vec<u8>) {
        let Some(c) = self.conn.as_mut() else { return };
        match c.endpoint.encode(kind, body) {
            Ok(frags) => {
                self.transmit(&frags);
            }
            Err(e) => tracing::warn!(target: "nhi_reader_sim", error = %e, "could not encode a frame"),
        }
    }

    fn seal(c: &mut Conn, msg: &Message) -> Result<(u32, Vec<u8>), ReaderError> {
        let Phase::Session { channel } = &c.phase else {
            return Err(ReaderError::Device("no session".into()));
        };
        let seq = c.endpoint.next_send_seq();
        Ok((seq, channel.seal(seq, &msg.encode())?))
    }

    fn send_sealed(&mut self, msg: Message) {
        let tamper = self.tamper.pop_front();
        let msg = match (tamper, msg) {
            (Some(Tamper::WrongSlot), Message::ApduResponse { slot, response }) => Message::ApduResponse {
                slot: match slot {
                    CardSlot::Patient => CardSlot::Practitioner,
                    CardSlot::Practitioner => CardSlot::Patient,
                },
                response,
            },
            (_, msg) => msg,
        };
        let Some(c) = self.conn.as_mut() else { return };
        let frames = (|| -> Result<Vec<Vec<u8>>, ReaderError> {
            let (seq, mut body) = Self::seal(c, &msg)?;
            match tamper {
                None => c.endpoint.encode(FrameKind::Sealed, body),
                Some(Tamper::Forge) => {
                    body[0] ^= 0x01;
                    c.endpoint.encode(FrameKind::Sealed, body)
                }
                Some(Tamper::Truncate) => {
                    body.truncate(body.len().saturating_sub(5));
                    c.endpoint.encode(FrameKind::Sealed, body)
                }
                Some(Tamper::WrongSlot) => c.endpoint.encode(FrameKind::Sealed, body),
                Some(Tamper::Replay) => {
                    let fresh = c.endpoint.encode(FrameKind::Sealed, body)?;
                    Ok(c.last_sealed.clone().unwrap_or(fresh))
                }
                Some(Tamper::Reorder) => {
                    let first = c.endpoint.encode(FrameKind::Sealed, body)?;
                    let _ = seq;
                    let (_, later) = Self::seal(
                        c,
                        &Message::Status {
                            practitioner: false,
                            patient: false,
                        },
                    )?;
                    let mut out = c.endpoint.encode(FrameKind::Sealed, later)?;
                    out.extend(first);
                    Ok(out)
                }
            }
        })();
        match frames {
            Ok(frags) => {
                if tamper.is_none() {
                    c.last_sealed = Some(frags.clone());
                }
                self.transmit(&frags);
            }
            Err(e) => tracing::warn!(target: "nhi_reader_sim", error = %e, "could not seal a frame"),
        }
    }

    fn notify(&mut self, msg: Message) {
        if matches!(self.conn.as_ref().map(|c| &c.phase), Some(Phase::Session { .. })) {
            self.send_sealed(msg);
        }
    }

    fn on_write(
        &mut self,
        conn_id: u64,
        characteristic: Uuid,
        value: &[u8],
        kind: WriteKind,
    ) -> Result<(), ReaderError> {
        let profile = self.config.model.profile();
        let payload = model::att_payload(self.link.config().mtu);
        let Some(c) = self.conn.as_ref() else {
            return Err(ReaderError::Disconnected);
        };
        if c.id != conn_id {
            return Err(ReaderError::Disconnected);
        }
        if characteristic != RX_CHAR_UUID {
            return Err(ReaderError::Device(format!(
                "characteristic {characteristic} is not writable"
            )));
        }
        if kind == WriteKind::WithoutResponse && !profile.write_without_response {
            return Err(ReaderError::Device(format!(
                "{} accepts only write with response",
                profile.name_prefix
            )));
        }
        if value.len() > payload {
            return Err(ReaderError::Device(format!(
                "a write of {} bytes exceeds the ATT payload of {payload}",
                value.len()
            )));
        }
        match self.link.packet(Direction::Up, value.len(), Some(kind)) {
            Fate::Delivered => {}
            Fate::Dropped => return Ok(()),
            Fate::Disconnect => {
                self.drop_conn("link lost (chosen frame)");
                return Err(ReaderError::Disconnected);
            }
        }
        let received = match self.conn.as_mut() {
            Some(c) => c.endpoint.receive(value),
            None => return Err(ReaderError::Disconnected),
        };
        match received {
            Ok(None) => Ok(()),
            Ok(Some(frame)) => {
                self.on_frame(frame);
                Ok(())
            }
            Err(e) => {
                self.reject(&e.to_string());
                Ok(())
            }
        }
    }

    /// Refuses a bad frame from the phone: tells it why (sealed inside a session, plain before)
    /// and drops the connection.
    fn reject(&mut self, why: &str) {
        tracing::warn!(target: "nhi_reader_sim", reason = why, "rejected a frame from the phone");
        if matches!(self.conn.as_ref().map(|c| &c.phase), Some(Phase::Session { .. })) {
            self.send_sealed(Message::ReaderError {
                code: ReaderErrorCode::BadFrame,
                text: why.to_string(),
            });
        } else {
            self.send_plain(FrameKind::Error, error_body(ReaderErrorCode::BadFrame, why));
        }
        self.drop_conn("bad frame from the phone");
    }

    fn phase(&self) -> Option<&Phase> {
        self.conn.as_ref().map(|c| &c.phase)
    }

    fn take_phase(&mut self) -> Phase {
        match self.conn.as_mut() {
            Some(c) => std::mem::replace(&mut c.phase, Phase::Idle),
            None => Phase::Idle,
        }
    }

    fn set_phase(&mut self, phase: Phase) {
        if let Some(c) = self.conn.as_mut() {
            c.phase = phase;
        }
    }

    fn on_frame(&mut self, frame: Frame) {
        let idle = matches!(self.phase(), Some(Phase::Idle));
        let committed = matches!(self.phase(), Some(Phase::Committed { .. }));
        let pairing = matches!(self.phase(), Some(Phase::Pairing { .. }));
        let in_session = matches!(self.phase(), Some(Phase::Session { .. }));
        match frame.kind {
            FrameKind::PairRequest if idle => self.on_pair_request(&frame.body),
            FrameKind::PairReveal if committed => self.on_pair_reveal(&frame.body),
            FrameKind::PairConfirm if pairing => self.on_pair_confirm(&frame.body),
            FrameKind::PairAbort if committed || pairing => {
                self.take_phase();
                self.end_pairing(true);
            }
            FrameKind::SessionHello if idle => self.on_session_hello(&frame.body),
            FrameKind::Sealed if in_session => self.on_sealed(frame.seq, &frame.body),
            other => self.reject(&format!("unexpected {other:?} frame")),
        }
    }

    fn on_pair_request(&mut self, body: &[u8]) {
        if self.failed_pairings >= MAX_FAILED_PAIRINGS {
            let text = format!(
                "pairing refused after {MAX_FAILED_PAIRINGS} failed attempts; press the reader's button to allow it again"
            );
            self.send_plain(FrameKind::Error, error_body(ReaderErrorCode::NotConfirmed, &text));
            return;
        }
        let result = (|| -> Result<(PairingCommit, EphemeralKey, PairingOffer), ReaderError> {
            let commit = PairingCommit::decode(body)?;
            let key = EphemeralKey::generate()?;
            let offer = PairingOffer {
                device_id: self.device_id(),
                public_key: key.public(),
                nonce: secure::random_bytes()?,
            };
            Ok((commit, key, offer))
        })();
        match result {
            Ok((commit, key, offer)) => {
                let body = offer.encode();
                self.button_pressed = false;
                self.set_phase(Phase::Committed { commit, key, offer });
                self.send_plain(FrameKind::PairResponse, body);
            }
            Err(e) => self.reject(&e.to_string()),
        }
    }

    fn on_pair_reveal(&mut self, nonce: &[u8]) {
        let Phase::Committed { commit, key, offer } = self.take_phase() else {
            return self.reject("pairing reveal outside pairing");
        };
        // The phone's nonce must open the commitment it made before it saw ours.
        let secrets = commit
            .open(nonce)
            .and_then(|phone| key.agree(Role::Reader, &phone, &offer));
        match secrets {
            Ok(secrets) => {
                self.displayed_code = Some(secrets.short_code.clone());
                self.button_pressed = false;
                self.set_phase(Phase::Pairing {
                    secrets,
                    phone_id: commit.device_id,
                });
                self.send_plain(FrameKind::PairShown, Vec::new());
            }
            Err(e) => {
                self.end_pairing(true);
                self.send_plain(
                    FrameKind::Error,
                    error_body(ReaderErrorCode::NotPaired, &e.to_string()),
                );
            }
        }
    }

    fn on_pair_confirm(&mut self, mac: &[u8]) {
        let Phase::Pairing { secrets, phone_id } = self.take_phase() else {
            return self.reject("pairing confirmation outside pairing");
        };
        let pressed = self.button_pressed;
        if secrets.verify_confirm(Role::Phone, mac).is_err() {
            self.end_pairing(true);
            self.send_plain(
                FrameKind::Error,
                error_body(ReaderErrorCode::NotPaired, "pairing confirmation failed"),
            );
            return;
        }
        if !pressed {
            // Nothing is stored or replaced without the user's confirmation on the reader.
            self.end_pairing(true);
            self.send_plain(
                FrameKind::Error,
                error_body(
                    ReaderErrorCode::NotConfirmed,
                    "the pairing was not confirmed on the reader (press its button when the codes match)",
                ),
            );
            return;
        }
        self.end_pairing(false);
        self.failed_pairings = 0;
        self.pairings.insert(phone_id, secrets.long_term_key);
        save_pairings(self);
        self.send_plain(FrameKind::PairConfirmed, secrets.confirm_mac(Role::Reader));
    }

    fn on_session_hello(&mut self, body: &[u8]) {
        let hello = match SessionHello::decode(body) {
            Ok(h) => h,
            Err(e) => return self.reject(&e.to_string()),
        };
        let Some(ltk) = self.pairings.get(&hello.phone_id).copied() else {
            let text = format!("this phone is not paired with {}", self.device_id());
            self.send_plain(FrameKind::Error, error_body(ReaderErrorCode::NotPaired, &text));
            return;
        };
        let setup = (|| -> Result<(SessionAccept, SecureChannel), ReaderError> {
            let key = EphemeralKey::generate()?;
            let nonce = secure::random_bytes()?;
            let ephemeral = key.public();
            let mac = SessionAccept::compute_mac(&ltk, &self.device_id(), &hello, &nonce, &ephemeral);
            let channel = key.session_channel(Role::Reader, &ltk, &hello.ephemeral, &hello.nonce, &nonce)?;
            Ok((
                SessionAccept {
                    nonce,
                    ephemeral,
                    mac,
                },
                channel,
            ))
        })();
        match setup {
            Ok((accept, channel)) => {
                self.send_plain(FrameKind::SessionAccept, accept.encode());
                self.set_phase(Phase::Session {
                    channel: Box::new(channel),
                });
            }
            Err(e) => self.reject(&e.to_string()),
        }
    }

    fn on_sealed(&mut self, seq: u32, body: &[u8]) {
        let opened = match self.conn.as_ref().map(|c| &c.phase) {
            Some(Phase::Session { channel }) => channel.open(seq, body),
            _ => return,
        };
        let msg = match opened.and_then(|p| Message::decode(&p)) {
            Ok(m) => m,
            Err(e) => return self.reject(&e.to_string()),
        };
        match msg {
            Message::StatusRequest => {
                let status = Message::Status {
                    practitioner: self.slots[0].is_some(),
                    patient: self.slots[1].is_some(),
                };
                self.send_sealed(status);
            }
            Message::ApduRequest { slot, apdu } => {
                let (reply, removed) = self.relay(slot, &apdu);
                self.send_sealed(reply);
                if removed {
                    self.send_sealed(Message::CardRemoved(slot));
                }
            }
            other => self.reject(&format!("unexpected message {other:?}")),
        }
    }

    fn relay(&mut self, slot: CardSlot, apdu: &[u8]) -> (Message, bool) {
        self.apdus += 1;
        let error = |code, text: &str| Message::ReaderError {
            code,
            text: text.into(),
        };
        if let Some(text) = self.reader_fault.take() {
            return (error(ReaderErrorCode::Internal, &text), false);
        }
        let i = idx(slot);
        if self.slots[i].is_none() {
            return (error(ReaderErrorCode::NoCard, "no card in the slot"), false);
        }
        match self.pull_after[i] {
            Some(0) => {
                self.pull_after[i] = None;
                self.slots[i] = None;
                return (
                    error(ReaderErrorCode::CardRemoved, "card removed during the command"),
                    true,
                );
            }
            Some(n) => self.pull_after[i] = Some(n - 1),
            None => {}
        }
        let Some(card) = self.slots[i].as_mut() else {
            return (error(ReaderErrorCode::NoCard, "no card in the slot"), false);
        };
        let response = card.transmit(apdu);
        if response.is_empty() || !card.present() {
            self.slots[i] = None;
            return (
                error(ReaderErrorCode::CardRemoved, "card removed during the command"),
                true,
            );
        }
        (Message::ApduResponse { slot, response }, false)
    }
}

/// Pairs with `reader` over the in-memory transport (comparing the code the reader displays and
/// pressing its button, as the user would) unless `store` already holds the pairing, then opens a secure session.
/// The one-call setup for tests, benchmarks and the demo.
pub async fn connect_in_process(
    reader: &SimReader,
    store: std::sync::Arc<dyn homevisit_core::reader::PairingStore>,
    phone_id: &str,
) -> Result<
    (
        homevisit_core::reader::ReaderClient,
        homevisit_core::reader::ReaderSession,
    ),
    ReaderError,
> {
    let transport = homevisit_core::reader::MemoryTransport::new();
    transport.add(std::sync::Arc::new(reader.clone()));
    let client = homevisit_core::reader::ReaderClient::new(std::sync::Arc::new(transport), store, phone_id);
    if !client.is_paired(&reader.id())? || !reader.is_paired_with(phone_id) {
        let pending = client.pair(&reader.advertisement_data()).await?;
        let code = reader
            .displayed_code()
            .ok_or_else(|| ReaderError::Device("the reader shows no pairing code".into()))?;
        if code == pending.short_code() {
            // The user sees the same code on both screens and confirms on the reader too.
            reader.press_button();
        }
        pending.confirm(&code, 0).await?;
    }
    let session = client.connect(&reader.id()).await?;
    Ok((client, session))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a phone writes, the reader answers, refuses or drops the link; it never panics.
        #[test]
        fn random_writes_never_panic(writes in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..30)) {
            let reader = SimReader::new(ReaderConfig::new(ReaderModel::HvMini, "1"));
            let (tx, mut rx) = mpsc::unbounded_channel();
            let mut link = reader.accept(tx);
            for w in &writes {
                let r = link.write(RX_CHAR_UUID, w, WriteKind::WithoutResponse);
                prop_assert!(matches!(r, Ok(()) | Err(ReaderError::Disconnected) | Err(ReaderError::Device(_))));
            }
            while let Ok(ev) = rx.try_recv() {
                if let LinkEvent::Notification { value, .. } = ev {
                    prop_assert!(value.len() <= 20);
                }
            }
        }
    }

    #[test]
    fn a_stray_fragment_gets_an_error_frame_and_the_link_drops() {
        let reader = SimReader::new(ReaderConfig::new(ReaderModel::HvBt200, "1"));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut link = reader.accept(tx);
        link.write(RX_CHAR_UUID, &[0x03, 0xAA], WriteKind::WithoutResponse)
            .unwrap();
        let Ok(LinkEvent::Notification { value, .. }) = rx.try_recv() else {
            panic!("expected an error frame")
        };
        let mut ep = FrameEndpoint::new(182);
        let frame = ep.receive(&value).unwrap().unwrap();
        assert_eq!(frame.kind, FrameKind::Error);
        assert_eq!(frame.body[0], ReaderErrorCode::BadFrame as u8);
        assert!(matches!(rx.try_recv(), Ok(LinkEvent::Disconnected { .. })));
        assert!(!reader.is_connected());
        assert_eq!(
            link.write(RX_CHAR_UUID, &[0x80, 0, 11], WriteKind::WithoutResponse),
            Err(ReaderError::Disconnected)
        );
    }
}
