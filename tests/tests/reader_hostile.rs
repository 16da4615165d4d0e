//! Issue 11 (security), the reader link: one hostile test per finding.
//!
//! - finding 1: a relay man in the middle that grinds nonces cannot make both screens show the
//!   same code (the phone commits to its nonce before the reader's is known);
//! - finding 2: pairing needs the reader's own confirmation (its button), never replaces a pairing
//!   without it, so wrong PINs through an unconfirmed pairing never reach the card; failed
//!   attempts are limited;
//! - finding 8: a plain error frame inside a session is refused; error texts carry no card bytes;
//!   a recorded session cannot be decrypted with the long-term key (forward secrecy).
//!
//! No wall clock anywhere: the in-memory transport answers synchronously, limits count attempts.

mod reader_common;

use homevisit_core::card::{CardError, hpc};
use homevisit_core::reader::frame::{Frame, FrameEndpoint, FrameKind};
use homevisit_core::reader::message::ReaderErrorCode;
use homevisit_core::reader::model::{self, RX_CHAR_UUID, SERVICE_UUID, TX_CHAR_UUID};
use homevisit_core::reader::secure::{
    self, EphemeralKey, PairingCommit, PairingOffer, PairingSecrets, Role, SecureChannel, SessionAccept,
    SessionHello,
};
use homevisit_core::reader::transport::{
    Connection, DiscoveredReader, GattService, LinkEvent, Transport, Uuid, WriteKind,
};
use homevisit_core::reader::{
    ApduChannel, CardSlot, MemoryPeripheral, MemoryTransport, PeripheralLink, ReaderClient, ReaderError,
    ReaderEvent, ReaderModel,
};
use nhi_reader_sim::card::{self, PractitionerCard};
use nhi_reader_sim::gatt::{MAX_FAILED_PAIRINGS, SimLink};
use nhi_reader_sim::{SimReader, Tamper};
use reader_common::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

// ---------------------------------------------------------------------------------------------
// Finding 1: a relay MITM that grinds nonces.

/// What the relay learned, for the test to check.
#[derive(Default)]
struct RelayReport {
    /// The code the phone shows (the relay computes it from the phone's revealed nonce).
    phone_code: Option<String>,
    /// The code the real reader shows.
    reader_code: Option<String>,
    /// Candidate nonces tried against the commitment the relay sent the reader.
    tried: u64,
    /// Candidates the reader's commitment check would accept.
    accepted: u64,
    /// What the reader answered when the relay completed the pairing on its own.
    reader_answer: Option<FrameKind>,
}

/// The attacker: impersonates the reader towards the phone (same name and id) and plays the phone
/// towards the real reader, with its own keys on both sides.
struct Relay {
    real: SimReader,
    report: Arc<Mutex<RelayReport>>,
}

impl MemoryPeripheral for Relay {
    fn advertisement(&self) -> DiscoveredReader {
        self.real.advertisement_data()
    }
    fn advertised_services(&self) -> Vec<Uuid> {
        vec![SERVICE_UUID]
    }
    fn open(&self, events: mpsc::UnboundedSender<LinkEvent>) -> Result<Box<dyn PeripheralLink>, ReaderError> {
        let mtu = self.real.link_config().mtu;
        Ok(Box::new(RelayLink {
            real: self.real.clone(),
            report: self.report.clone(),
            to_phone: events,
            phone_ep: FrameEndpoint::new(model::att_payload(mtu)),
            mtu,
            phone_commit: None,
            towards_phone: None,
            towards_reader: None,
        }))
    }
}

/// The relay's link to the real reader.
struct ReaderSide {
    link: SimLink,
    rx: mpsc::UnboundedReceiver<LinkEvent>,
    ep: FrameEndpoint,
    secrets: Option<PairingSecrets>,
}

impl ReaderSide {
    fn send(&mut self, kind: FrameKind, body: Vec<u8>) {
        for f in self.ep.encode(kind, body).unwrap() {
            self.link
                .write(RX_CHAR_UUID, &f, WriteKind::WithResponse)
                .unwrap();
        }
    }
    /// The reader answers synchronously inside `write`; collect its next frame.
    fn recv(&mut self) -> Frame {
        while let Ok(ev) = self.rx.try_recv() {
            if let LinkEvent::Notification { value, .. } = ev
                && let Some(f) = self.ep.receive(&value).unwrap()
            {
                return f;
            }
        }
        panic!("the reader did not answer");
    }
}

struct RelayLink {
    real: SimReader,
    report: Arc<Mutex<RelayReport>>,
    to_phone: mpsc::UnboundedSender<LinkEvent>,
    phone_ep: FrameEndpoint,
    mtu: u16,
    phone_commit: Option<PairingCommit>,
    towards_phone: Option<(EphemeralKey, PairingOffer)>,
    towards_reader: Option<ReaderSide>,
}

impl RelayLink {
    fn send_to_phone(&mut self, kind: FrameKind, body: Vec<u8>) {
        for value in self.phone_ep.encode(kind, body).unwrap() {
            let _ = self.to_phone.send(LinkEvent::Notification {
                characteristic: TX_CHAR_UUID,
                value,
            });
        }
    }

    /// The phone revealed its nonce: the relay now knows the code the phone will show, and only
    /// now turns to the real reader — the strongest order for it: it knows its target code and
    /// will see the reader's nonce before it has to reveal its own.
    fn attack_the_reader(&mut self, phone_nonce: &[u8]) {
        let commit = self.phone_commit.take().unwrap();
        let phone = commit.open(phone_nonce).unwrap();
        let (key_p, offer_p) = self.towards_phone.take().unwrap();
        let phone_code = key_p
            .agree(Role::Reader, &phone, &offer_p)
            .unwrap()
            .short_code
            .clone();

        let (tx, rx) = mpsc::unbounded_channel();
        let link = self.real.accept(tx);
        let ep = FrameEndpoint::new(model::att_payload(link.mtu()));
        let key_r = EphemeralKey::generate().unwrap();
        // It claims the phone's id (it travels in clear) so that the pairing would replace the
        // phone's own on the reader.
        let mine = PairingOffer {
            device_id: phone.device_id.clone(),
            public_key: key_r.public(),
            nonce: secure::random_bytes().unwrap(),
        };
        let my_commit = mine.commit();
        let mut side = ReaderSide {
            link,
            rx,
            ep,
            secrets: None,
        };
        side.send(FrameKind::PairRequest, my_commit.encode());
        let answer = side.recv();
        assert_eq!(answer.kind, FrameKind::PairResponse);
        let reader_offer = PairingOffer::decode(&answer.body).unwrap();

        // Grind: a million other nonces it could reveal instead, checked with the reader's own
        // commitment check. Without the commitment, about one in 10⁶ would give the phone's code.
        let mut tried = 0u64;
        let mut accepted = 0u64;
        for i in 1..=1_000_000u32 {
            let mut candidate = mine.nonce;
            for (b, x) in candidate.iter_mut().zip(i.to_be_bytes()) {
                *b ^= x;
            }
            tried += 1;
            if my_commit.open(&candidate).is_ok() {
                accepted += 1;
            }
        }

        // All it can reveal is the committed nonce.
        side.send(FrameKind::PairReveal, mine.nonce.to_vec());
        assert_eq!(side.recv().kind, FrameKind::PairShown);
        let secrets = key_r.agree(Role::Phone, &mine, &reader_offer).unwrap();
        {
            let mut r = self.report.lock().unwrap();
            r.phone_code = Some(phone_code);
            r.reader_code = Some(secrets.short_code.clone());
            r.tried = tried;
            r.accepted = accepted;
        }
        side.secrets = Some(secrets);
        self.towards_reader = Some(side);
        self.send_to_phone(FrameKind::PairShown, Vec::new());
    }
}

impl PeripheralLink for RelayLink {
    fn mtu(&self) -> u16 {
        self.mtu
    }
    fn services(&self) -> Vec<GattService> {
        self.real.gatt_services()
    }
    fn write(&mut self, _c: Uuid, value: &[u8], _kind: WriteKind) -> Result<(), ReaderError> {
        let Some(frame) = self.phone_ep.receive(value)? else {
            return Ok(());
        };
        match frame.kind {
            FrameKind::PairRequest => {
                self.phone_commit = Some(PairingCommit::decode(&frame.body)?);
                let key = EphemeralKey::generate()?;
                let offer = PairingOffer {
                    device_id: "HV-BT200-0001".into(),
                    public_key: key.public(),
                    // It must answer before the phone reveals anything: a guess is all it has.
                    nonce: secure::random_bytes()?,
                };
                let body = offer.encode();
                self.towards_phone = Some((key, offer));
                self.send_to_phone(FrameKind::PairResponse, body);
            }
            FrameKind::PairReveal => self.attack_the_reader(&frame.body),
            FrameKind::PairAbort | FrameKind::PairConfirm => {
                // Whatever the phone decided, the relay tries to complete the pairing with the
                // reader on its own: it holds valid keys for that side.
                if let Some(side) = self.towards_reader.as_mut()
                    && let Some(mac) = side.secrets.as_ref().map(|s| s.confirm_mac(Role::Phone))
                {
                    side.send(FrameKind::PairConfirm, mac);
                    let answer = side.recv();
                    self.report.lock().unwrap().reader_answer = Some(answer.kind);
                }
            }
            _ => {}
        }
        Ok(())
    }
    fn close(&mut self) {
        if let Some(mut side) = self.towards_reader.take() {
            side.link.close();
        }
    }
}

#[tokio::test]
async fn finding1_a_relay_mitm_that_grinds_nonces_fails_to_pair_in_a_million_tries() {
    let real = reader(ReaderModel::HvBt200);
    // The victim phone pairs honestly first; the relay will try to take its place.
    let store = memory_store();
    let (_c, honest) = nhi_reader_sim::gatt::connect_in_process(&real, store.clone(), "phone-A")
        .await
        .unwrap();
    drop(honest);

    let report = Arc::new(Mutex::new(RelayReport::default()));
    let t = MemoryTransport::new();
    t.add(Arc::new(Relay {
        real: real.clone(),
        report: report.clone(),
    }));
    let phone_store = memory_store();
    let phone = ReaderClient::new(Arc::new(t), phone_store.clone(), "phone-A");
    let found = phone.scan(Duration::from_millis(10)).await.unwrap();
    assert_eq!(found[0].id, real.id(), "the relay impersonates the reader");
    let pending = phone.pair(&found[0]).await.unwrap();

    let (phone_code, reader_code) = {
        let r = report.lock().unwrap();
        assert_eq!(r.tried, 1_000_000);
        assert_eq!(r.accepted, 0, "no other nonce opens the relay's commitment");
        (r.phone_code.clone().unwrap(), r.reader_code.clone().unwrap())
    };
    assert_eq!(pending.short_code(), phone_code);
    assert_eq!(real.displayed_code().as_deref(), Some(reader_code.as_str()));
    // Each screen shows a fresh uniform draw the relay could not steer: equal with p = 10⁻⁶.
    assert_ne!(phone_code, reader_code, "the two screens differ");

    // The user compares the screens: the phone refuses; the reader's button is not pressed.
    let err = pending.confirm(&reader_code, 0).await.unwrap_err();
    assert!(
        matches!(&err, ReaderError::NotPaired(m) if m.contains("short code")),
        "{err}"
    );
    assert!(!phone.is_paired(&real.id()).unwrap());
    assert_eq!(
        report.lock().unwrap().reader_answer,
        Some(FrameKind::Error),
        "the reader refused the relay's own confirmation"
    );
    // The phone's real pairing with the reader is untouched.
    let victim = client_for(&real, store, "phone-A");
    let session = victim.connect(&real.id()).await.unwrap();
    let apdu = [0x00, 0x84, 0x00, 0x00, 0x08];
    assert_eq!(
        session.transmit(CardSlot::Patient, &apdu).await.unwrap(),
        echo_response(&apdu)
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 2: the reader's own confirmation, attempt limits, the practitioner's PIN.

/// Someone nearby pairs with the reader from their own phone, confirming their own code (they
/// see it on their phone) — but nobody presses the reader's button.
async fn pair_without_the_button(reader: &SimReader, phone_id: &str) -> (ReaderClient, ReaderError) {
    let store = memory_store();
    let client = client_for(reader, store, phone_id);
    let found = client.scan(Duration::from_millis(10)).await.unwrap();
    let pending = match client.pair(&found[0]).await {
        Ok(p) => p,
        Err(e) => return (client, e),
    };
    let code = pending.short_code().to_string();
    let err = pending.confirm(&code, 0).await.unwrap_err();
    assert!(
        !client.is_paired(&reader.id()).unwrap(),
        "nothing kept on the phone"
    );
    (client, err)
}

#[tokio::test]
async fn finding2_pairing_without_the_readers_confirmation_is_refused_and_the_victim_phone_still_connects() {
    let reader = reader(ReaderModel::HvBt200);
    let store = memory_store();
    nhi_reader_sim::gatt::connect_in_process(&reader, store.clone(), "phone-A")
        .await
        .unwrap();

    // An attacker claims the victim's phone id (it travels in clear) and another id.
    for id in ["phone-A", "phone-X"] {
        let (attacker, err) = pair_without_the_button(&reader, id).await;
        assert!(
            matches!(&err, ReaderError::NotConfirmed(m) if m.contains("button")),
            "{err}"
        );
        let err = attacker.connect(&reader.id()).await.unwrap_err();
        assert!(matches!(err, ReaderError::NotPaired(_)), "{err}");
    }
    assert!(!reader.is_paired_with("phone-X"));
    assert_eq!(reader.displayed_code(), None);

    // The victim's pairing was not replaced.
    let victim = client_for(&reader, store, "phone-A");
    let session = victim.connect(&reader.id()).await.unwrap();
    let apdu = [0x00, 0x84, 0x00, 0x00, 0x08];
    assert_eq!(
        session.transmit(CardSlot::Patient, &apdu).await.unwrap(),
        echo_response(&apdu)
    );
}

#[tokio::test]
async fn finding2_wrong_pins_through_an_unconfirmed_pairing_never_reach_the_card() {
    let reader = reader(ReaderModel::HvBt200);
    let hpc_card = PractitionerCard::new(card::demo_practitioner());
    reader.insert(CardSlot::Practitioner, Box::new(hpc_card.clone()));
    let tries = hpc_card.tries_left();

    // Someone nearby pairs without the reader's confirmation, then sends wrong PINs.
    let (attacker, _) = pair_without_the_button(&reader, "phone-X").await;
    for _ in 0..5 {
        let err = attacker.connect(&reader.id()).await.unwrap_err();
        assert!(matches!(err, ReaderError::NotPaired(_)), "{err}");
    }
    assert_eq!(reader.apdus(), 0, "no APDU reached a card");
    assert_eq!(hpc_card.tries_left(), tries, "the PIN counter is untouched");

    // The practitioner pairs properly and the right PIN opens the card.
    let (_c, session) = nhi_reader_sim::gatt::connect_in_process(&reader, memory_store(), "phone-A")
        .await
        .unwrap();
    hpc::open(&session).await.unwrap();
    hpc::verify_pin(&session, "1234").await.unwrap();
}

#[tokio::test]
async fn finding2_failed_pairing_attempts_are_limited_until_the_readers_button_is_pressed() {
    let reader = reader(ReaderModel::HvBt200);
    let store = memory_store();
    nhi_reader_sim::gatt::connect_in_process(&reader, store.clone(), "phone-A")
        .await
        .unwrap();

    for n in 0..MAX_FAILED_PAIRINGS {
        assert!(!reader.pairing_locked(), "attempt {n}");
        let (_c, err) = pair_without_the_button(&reader, "phone-X").await;
        assert!(matches!(err, ReaderError::NotConfirmed(_)), "{err}");
    }
    assert!(reader.pairing_locked());
    // Further attempts do not even get a code (no more 10⁻⁶ chances for a man in the middle).
    let (_c, err) = pair_without_the_button(&reader, "phone-X").await;
    assert!(
        matches!(&err, ReaderError::NotConfirmed(m) if m.contains("refused")),
        "{err}"
    );
    assert_eq!(reader.displayed_code(), None);

    // Sessions of paired phones are not affected.
    let victim = client_for(&reader, store, "phone-A");
    drop(victim.connect(&reader.id()).await.unwrap());

    // The user at the reader presses its button: pairing is possible again.
    assert!(
        !reader.press_button(),
        "no code was shown: the press re-opens pairing"
    );
    assert!(!reader.pairing_locked());
    nhi_reader_sim::gatt::connect_in_process(&reader, memory_store(), "phone-B")
        .await
        .unwrap();
    assert!(reader.is_paired_with("phone-B"));
}

// ---------------------------------------------------------------------------------------------
// Finding 8: plain error frames, card bytes in error texts, forward secrecy.

#[tokio::test]
async fn finding8_a_plain_error_frame_inside_a_session_is_refused() {
    let reader = reader(ReaderModel::HvBt200);
    let store = memory_store();
    let (client, session) = nhi_reader_sim::gatt::connect_in_process(&reader, store.clone(), "phone-A")
        .await
        .unwrap();
    let mut events = session.events();
    let apdu = [0x00, 0x84, 0x00, 0x00, 0x08];
    session.transmit(CardSlot::Patient, &apdu).await.unwrap();

    // Someone in radio range sends "you are not paired, pair again" in a plain frame.
    reader.inject_plain_error(ReaderErrorCode::NotPaired, "forget this reader and pair again");
    let ev = events.recv().await.unwrap();
    match &ev {
        ReaderEvent::SessionEnded(ReaderError::BadFrame(m)) => {
            assert!(m.contains("unauthenticated") && !m.contains("pair again"), "{m}")
        }
        other => panic!("the forged error was believed: {other:?}"),
    }
    let err = session.transmit(CardSlot::Patient, &apdu).await.unwrap_err();
    assert!(!matches!(err, ReaderError::NotPaired(_)), "{err}");
    // The pairing stays on both sides and a fresh session works.
    assert!(client.is_paired(&reader.id()).unwrap());
    assert!(reader.is_paired_with("phone-A"));
    drop(session);
    let session = client.connect(&reader.id()).await.unwrap();
    assert_eq!(
        session.transmit(CardSlot::Patient, &apdu).await.unwrap(),
        echo_response(&apdu)
    );
}

#[tokio::test]
async fn finding8_error_texts_carry_no_card_bytes() {
    let reader = nhi_reader_sim::SimReader::new(nhi_reader_sim::ReaderConfig::new(ReaderModel::HvBt200, "1"));
    reader.insert(CardSlot::Patient, Box::new(card::demo_patient_card()));
    let (_c, session) = nhi_reader_sim::gatt::connect_in_process(&reader, memory_store(), "phone-A")
        .await
        .unwrap();
    const SELECT_NHI: [u8; 21] = [
        0x00, 0xA4, 0x04, 0x00, 0x10, 0xD1, 0x58, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x11, 0x00,
    ];
    let basic_apdu = [0x00, 0xCA, 0x11, 0x00, 0x02, 0x00, 0x00];
    session.transmit(CardSlot::Patient, &SELECT_NHI).await.unwrap();
    let basic = session.transmit(CardSlot::Patient, &basic_apdu).await.unwrap();
    assert!(basic.len() > 20);

    // A reader that attributes the answer to the wrong slot: the phone refuses it.
    reader.tamper_next(Tamper::WrongSlot);
    let err = session
        .transmit(CardSlot::Patient, &basic_apdu)
        .await
        .unwrap_err();
    let text = err.to_string();
    let as_list = format!("{:?}", &basic[..4]);
    let as_list = &as_list[1..as_list.len() - 1];
    let as_text = String::from_utf8_lossy(&basic[..12]).into_owned();
    assert!(text.contains("bytes"), "{text}");
    for leak in [
        as_list,
        &as_text,
        &hex_lower(&basic[..6]),
        &hex_lower(&basic[..6]).to_uppercase(),
    ] {
        assert!(
            !text.contains(leak),
            "card bytes {leak} in the error text: {text}"
        );
    }
    // The card layer's errors built on it carry none either.
    let card_err = CardError::Reader(err);
    assert!(!format!("{card_err} {card_err:?}").contains(as_list));
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Records every fragment both ways, as a radio sniffer would.
#[derive(Clone, Default)]
struct Recording {
    up: Arc<Mutex<Vec<Vec<u8>>>>,
    down: Arc<Mutex<Vec<Vec<u8>>>>,
}

struct Sniffer {
    inner: MemoryTransport,
    rec: Recording,
}

struct SniffedConnection {
    inner: Box<dyn Connection>,
    rec: Recording,
}

#[async_trait::async_trait]
impl Transport for Sniffer {
    async fn scan(&self, service: Uuid, timeout: Duration) -> Result<Vec<DiscoveredReader>, ReaderError> {
        self.inner.scan(service, timeout).await
    }
    async fn connect(&self, id: &str) -> Result<Box<dyn Connection>, ReaderError> {
        Ok(Box::new(SniffedConnection {
            inner: self.inner.connect(id).await?,
            rec: self.rec.clone(),
        }))
    }
}

#[async_trait::async_trait]
impl Connection for SniffedConnection {
    fn mtu(&self) -> u16 {
        self.inner.mtu()
    }
    async fn discover(&self) -> Result<Vec<GattService>, ReaderError> {
        self.inner.discover().await
    }
    async fn write(&self, c: Uuid, value: &[u8], kind: WriteKind) -> Result<(), ReaderError> {
        self.rec.up.lock().unwrap().push(value.to_vec());
        self.inner.write(c, value, kind).await
    }
    async fn subscribe(&self, c: Uuid) -> Result<mpsc::UnboundedReceiver<LinkEvent>, ReaderError> {
        let mut inner = self.inner.subscribe(c).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let down = self.rec.down.clone();
        tokio::spawn(async move {
            while let Some(ev) = inner.recv().await {
                if let LinkEvent::Notification { value, .. } = &ev {
                    down.lock().unwrap().push(value.clone());
                }
                if tx.send(ev).is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
    async fn disconnect(&self) {
        self.inner.disconnect().await
    }
}

fn frames(fragments: &[Vec<u8>]) -> Vec<Frame> {
    let mut ep = FrameEndpoint::new(model::att_payload(512));
    fragments.iter().filter_map(|f| ep.receive(f).unwrap()).collect()
}

/// The session keys as the protocol derived them before this issue (long-term key and nonces
/// only): what someone who later steals the long-term key computes from a recording.
fn keys_from_long_term_key_and_nonces(ltk: &[u8; 32], np: &[u8], nr: &[u8]) -> ring::aead::LessSafeKey {
    use ring::{aead, hkdf};
    struct Len;
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            64
        }
    }
    let salt = [np, nr].concat();
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(ltk);
    let info = [&b"homevisit session keys v1"[..]];
    let mut okm = [0u8; 64];
    prk.expand(&info, Len).unwrap().fill(&mut okm).unwrap();
    aead::LessSafeKey::new(aead::UnboundKey::new(&aead::CHACHA20_POLY1305, &okm[..32]).unwrap())
}

#[tokio::test]
async fn finding8_a_recorded_session_cannot_be_decrypted_with_the_long_term_keys() {
    let reader = reader(ReaderModel::HvBt200);
    reader.insert(CardSlot::Practitioner, Box::new(EchoCard::new().0));
    let store = memory_store();
    nhi_reader_sim::gatt::connect_in_process(&reader, store.clone(), "phone-A")
        .await
        .unwrap();
    let ltk = store.load(&reader.id()).unwrap().unwrap().long_term_key;

    // A session is recorded off the air: the practitioner's PIN goes to the card.
    let rec = Recording::default();
    let t = MemoryTransport::new();
    t.add(Arc::new(reader.clone()));
    let client = ReaderClient::new(
        Arc::new(Sniffer {
            inner: t,
            rec: rec.clone(),
        }),
        store,
        "phone-A",
    );
    let session = client.connect(&reader.id()).await.unwrap();
    let verify_pin = [0x00, 0x20, 0x00, 0x01, 0x04, b'1', b'2', b'3', b'4'];
    session
        .transmit(CardSlot::Practitioner, &verify_pin)
        .await
        .unwrap();
    session.disconnect().await;

    let up = frames(&rec.up.lock().unwrap());
    let down = frames(&rec.down.lock().unwrap());
    assert_eq!(up[0].kind, FrameKind::SessionHello);
    assert_eq!(down[0].kind, FrameKind::SessionAccept);
    let hello = SessionHello::decode(&up[0].body).unwrap();
    let accept = SessionAccept::decode(&down[0].body).unwrap();
    let sealed: Vec<&Frame> = up.iter().filter(|f| f.kind == FrameKind::Sealed).collect();
    assert!(sealed.len() >= 2, "status request and the PIN were recorded");
    let raw: Vec<u8> = rec.up.lock().unwrap().concat();
    assert!(
        !raw.windows(4).any(|w| w == b"1234"),
        "the PIN is not in clear on the air"
    );

    // Later the long-term key leaks (both devices hold it). Everything else is on the recording.
    let old_way = keys_from_long_term_key_and_nonces(&ltk, &hello.nonce, &accept.nonce);
    let guesses: Vec<Vec<u8>> = vec![
        Vec::new(),
        ltk.to_vec(),
        hello.ephemeral.to_vec(),
        accept.ephemeral.to_vec(),
        [hello.ephemeral, accept.ephemeral].concat(),
        hello
            .ephemeral
            .iter()
            .zip(&accept.ephemeral)
            .map(|(a, b)| a ^ b)
            .collect(),
    ];
    for f in &sealed {
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(b"P2R\0");
        nonce[8..].copy_from_slice(&f.seq.to_be_bytes());
        let aad = Frame::header(FrameKind::Sealed, f.seq, f.body.len());
        let mut buf = f.body.clone();
        let opened = old_way.open_in_place(
            ring::aead::Nonce::assume_unique_for_key(nonce),
            ring::aead::Aad::from(aad),
            &mut buf,
        );
        assert!(
            opened.is_err(),
            "the long-term key and the nonces open a recorded frame"
        );
        for g in &guesses {
            let ch = SecureChannel::derive(Role::Reader, &ltk, &hello.nonce, &accept.nonce, g).unwrap();
            assert!(ch.open(f.seq, &f.body).is_err());
        }
    }
}
