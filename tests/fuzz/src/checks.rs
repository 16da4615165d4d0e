//! The properties every fuzz target checks, one function per target. Each takes the fuzzer's bytes,
//! feeds them to a parser of outside bytes, and panics only when a property is broken: a parser
//! panicked, or something it accepted does not survive its own encoder (`parse(encode(x)) == x`).
//!
//! Shared word for word with the workspace test `tests/tests/fuzz_regressions.rs` (included there
//! with `#[path]`), so a crash input replayed in CI runs exactly the code the fuzzer ran.

use homevisit_core::card::apdu::{self, Response};
use homevisit_core::card::records::{
    self, CardSequence, CardVisitRecord, PrescriptionEntry, RegisterBasic, SequenceForm, VisitBody,
};
use homevisit_core::card::sam::{SamAuthority, SamChallenge, SamError, VisitSignRequest, VisitSignature};
use homevisit_core::card::{PatientCard, SequenceRequest, basic_data, hpc};
use homevisit_core::model::{InstitutionCode, RocDateTime, VisitType};
use homevisit_core::reader::frame::{
    self, Frame, FrameEndpoint, FrameKind, MIN_FRAGMENT_PAYLOAD, Reassembler,
};
use homevisit_core::reader::message::Message;
use homevisit_core::reader::secure::{
    PairingCommit, PairingOffer, Role, SecureChannel, SessionAccept, SessionHello,
};
use homevisit_core::reader::{ApduChannel, CardSlot, ReaderError};
use homevisit_core::rules::visit_code::VisitCode;
use homevisit_core::rx::pharmacy::{self, KeySet, PharmacyError};
use homevisit_core::rx::{barcode, base45, payload, sign};
use homevisit_core::sync::UploadItem;
use homevisit_core::sync::vpn_target;
use homevisit_core::vpn::client::decode_answer;
use homevisit_core::vpn::{BindingQr, DeviceKey, wire};
use nhi_vpn_sim::upload::{self, Record};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

/// Splits `data` into `[len u8][len bytes]` pieces (the last one may be short).
pub fn length_prefixed(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((&n, rest)) = data.split_first() {
        let n = usize::from(n).min(rest.len());
        out.push(&rest[..n]);
        data = &rest[n..];
    }
    out
}

/// Joins pieces as [`length_prefixed`] reads them (pieces longer than 255 bytes are cut).
pub fn join_length_prefixed<B: AsRef<[u8]>>(pieces: &[B]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pieces {
        let p = p.as_ref();
        let n = p.len().min(255);
        out.push(n as u8);
        out.extend_from_slice(&p[..n]);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reader link: frames and fragments.

/// Target `reader_frame`: the whole input as one frame; then byte 0 as the ATT payload size and the
/// rest as length-prefixed fragments fed to a frame endpoint and a reassembler; every frame the
/// endpoint accepted is sent again through a fresh pair of endpoints and must come out unchanged.
pub fn reader_frame(data: &[u8]) {
    if let Ok(f) = Frame::decode(data) {
        assert_eq!(
            f.encode().expect("a decoded frame re-encodes"),
            data,
            "frame round trip"
        );
    }
    let Some((&payload, rest)) = data.split_first() else {
        return;
    };
    let payload = usize::from(payload);
    let mut endpoint = FrameEndpoint::new(payload);
    let mut reassembler = Reassembler::new();
    let mut frames = Vec::new();
    for fragment in length_prefixed(rest) {
        if let Ok(Some(f)) = endpoint.receive(fragment) {
            frames.push(f);
        }
        let _ = reassembler.push(fragment);
    }
    let mut tx = FrameEndpoint::new(payload);
    let mut rx = FrameEndpoint::new(payload);
    for f in &frames {
        let fragments = tx
            .encode(f.kind, f.body.clone())
            .expect("an accepted frame re-encodes");
        let mut back = None;
        for frag in &fragments {
            assert!(
                frag.len() <= payload.max(MIN_FRAGMENT_PAYLOAD),
                "fragment over the ATT payload"
            );
            assert!(back.is_none(), "frame complete before its last fragment");
            back = rx.receive(frag).expect("our own fragments reassemble");
        }
        assert_eq!(back.as_ref(), Some(f), "frame survives fragmentation");
    }
    // Any body at all survives encode → fragment → reassemble → decode.
    let body = rest[..rest.len().min(frame::MAX_BODY)].to_vec();
    let f = Frame {
        kind: FrameKind::Sealed,
        seq: 0,
        body,
    };
    let encoded = f.encode().expect("body within MAX_BODY");
    let mut r = Reassembler::new();
    let mut whole = None;
    for frag in frame::fragment(&encoded, payload) {
        whole = r.push(&frag).expect("own fragments");
    }
    assert_eq!(whole.as_deref(), Some(&encoded[..]));
    assert_eq!(Frame::decode(&encoded).expect("own frame"), f);
}

// ---------------------------------------------------------------------------------------------
// Reader link: plain pairing / session bodies, sealed messages.

const LTK: [u8; 32] = [0x42; 32];
const PHONE_NONCE: [u8; 16] = [0x01; 16];
const READER_NONCE: [u8; 16] = [0x02; 16];
/// A fixed stand-in for the session's ephemeral X25519 secret (the fuzzer needs a fixed key).
const EPHEMERAL_SECRET: [u8; 32] = [0x03; 32];

/// The two ends of a secure session under a fixed long-term key and fixed nonces.
pub fn fixed_channels() -> (SecureChannel, SecureChannel) {
    let phone = SecureChannel::derive(Role::Phone, &LTK, &PHONE_NONCE, &READER_NONCE, &EPHEMERAL_SECRET)
        .expect("keys");
    let reader = SecureChannel::derive(Role::Reader, &LTK, &PHONE_NONCE, &READER_NONCE, &EPHEMERAL_SECRET)
        .expect("keys");
    (phone, reader)
}

/// Target `reader_session`: the input as each plain body (pairing commitment and offer, session
/// hello / accept),
/// as a message, and as a sealed body under a fixed session key (opened by the phone as the
/// reader's frame 0); then sealed by the reader and opened by the phone, which must give it back.
pub fn reader_session(data: &[u8]) {
    if let Ok(m) = Message::decode(data) {
        assert_eq!(
            Message::decode(&m.encode()).expect("own message"),
            m,
            "message round trip"
        );
    }
    if let Ok(o) = PairingOffer::decode(data) {
        assert_eq!(o.encode(), data, "pairing offer round trip");
    }
    if let Ok(c) = PairingCommit::decode(data) {
        assert_eq!(c.encode(), data, "pairing commitment round trip");
    }
    if let Ok(h) = SessionHello::decode(data) {
        assert_eq!(h.encode(), data, "session hello round trip");
    }
    if let Ok(a) = SessionAccept::decode(data) {
        assert_eq!(a.encode(), data, "session accept round trip");
    }
    let (phone, reader) = fixed_channels();
    if let Ok(plain) = phone.open(0, data) {
        let _ = Message::decode(&plain);
    }
    let sealed = reader.seal(3, data).expect("seal");
    assert_eq!(phone.open(3, &sealed).expect("own sealed body"), data);
    assert!(
        phone.open(4, &sealed).is_err(),
        "a sealed body opens only under its own number"
    );
    assert!(
        reader.open(3, &sealed).is_err(),
        "a sealed body opens only in its direction"
    );
}

// ---------------------------------------------------------------------------------------------
// Card: APDU responses and the records inside them.

/// A card reader whose card answers with scripted responses, then times out.
pub struct ScriptedChannel {
    answers: Mutex<VecDeque<Vec<u8>>>,
}

impl ScriptedChannel {
    /// A channel answering `answers` in order.
    pub fn new<B: AsRef<[u8]>>(answers: &[B]) -> Self {
        Self {
            answers: Mutex::new(answers.iter().map(|a| a.as_ref().to_vec()).collect()),
        }
    }
}

#[async_trait::async_trait]
impl ApduChannel for ScriptedChannel {
    async fn transmit(&self, _slot: CardSlot, _apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let next = self.answers.lock().map(|mut a| a.pop_front()).unwrap_or_default();
        next.ok_or(ReaderError::Timeout)
    }
    async fn card_present(&self, _slot: CardSlot) -> Result<bool, ReaderError> {
        Ok(true)
    }
}

/// A cloud SAM that answers at once with fixed values.
pub struct FixedSam;

#[async_trait::async_trait]
impl SamAuthority for FixedSam {
    fn sam_id(&self) -> String {
        "SAM000000001".into()
    }
    async fn begin_card_auth(&self, _card: &str, _challenge: [u8; 8]) -> Result<SamChallenge, SamError> {
        Ok(SamChallenge {
            session: "s1".into(),
            sam_challenge: [3; 8],
            sam_proof: [4; 32],
        })
    }
    async fn verify_card(&self, _session: &str, _proof: [u8; 32]) -> Result<(), SamError> {
        Ok(())
    }
    async fn sign_visit(&self, _request: &VisitSignRequest) -> Result<VisitSignature, SamError> {
        Ok(VisitSignature {
            signature_hex: "AB".repeat(128),
            sam_id: self.sam_id(),
        })
    }
}

/// Runs a future that never waits (every channel here answers at once) to completion.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000 {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("a card operation waited on a channel that answers at once");
}

/// Target `card_apdu`: byte 0 picks a record parser for the rest of the input (with its round trip
/// where the record has an encoder), or — from 10 on — a card session whose card
/// answers with the rest of the input read as length-prefixed responses.
pub fn card_apdu(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    match pick {
        0 => {
            if let Ok(r) = Response::parse(rest) {
                let _ = apdu::status_error(r.sw, CardSlot::Patient, "fuzz");
                let _ = apdu::status_error(r.sw, CardSlot::Practitioner, "fuzz");
            }
        }
        1 => {
            // A name in the Big5 extensions (HKSCS) reads, so a card stays readable, but the
            // encoder writes standard Big5 only: the round trip holds for what it can write.
            if let Ok(b) = basic_data::decode(rest)
                && let Ok(bytes) = basic_data::encode(&b)
            {
                assert_eq!(basic_data::decode(&bytes).expect("own basic data"), b);
            }
        }
        2 => {
            if let Ok(f) = SequenceForm::from_bytes(rest) {
                let bytes = f.to_bytes().expect("decoded sequence form re-encodes");
                assert_eq!(SequenceForm::from_bytes(&bytes).expect("own sequence form"), f);
            }
        }
        3 => {
            let _ = CardSequence::from_bytes(rest);
        }
        4 => {
            if let Ok(Some(b)) = VisitBody::from_bytes(rest) {
                let bytes = b.to_bytes().expect("decoded visit body re-encodes");
                assert_eq!(VisitBody::from_bytes(&bytes).expect("own visit body"), Some(b));
            }
        }
        5 => {
            if let Ok(e) = PrescriptionEntry::from_bytes(rest) {
                let bytes = e.to_bytes().expect("decoded prescription entry re-encodes");
                assert_eq!(PrescriptionEntry::from_bytes(&bytes).expect("own entry"), e);
            }
        }
        6 => {
            let _ = records::split(
                rest,
                records::VISIT_RECORD_LEN,
                "visits",
                CardVisitRecord::from_bytes,
            );
        }
        7 => {
            let _ = RegisterBasic::from_bytes(rest);
        }
        8 => {
            let _ = records::allergies_from_bytes(rest);
        }
        9 => {
            let _ = records::split(
                rest,
                records::PRESCRIPTION_LEN,
                "prescriptions",
                PrescriptionEntry::from_bytes,
            );
        }
        _ => card_session(pick, rest),
    }
}

fn card_session(pick: u8, rest: &[u8]) {
    let channel = ScriptedChannel::new(&length_prefixed_u16(rest));
    if pick.is_multiple_of(2) {
        block_on(async {
            let _ = hpc::open(&channel).await;
            let _ = hpc::pin_state(&channel).await;
            let _ = hpc::verify_pin(&channel, "1234").await;
        });
        return;
    }
    block_on(async {
        let Ok(mut card) = PatientCard::open(&channel).await else {
            return;
        };
        let _ = card.basic();
        let code = visit_code();
        let at = RocDateTime::parse("1130305093015").expect("fixed date-time");
        let _ = card.read_visits().await;
        let _ = card.read_prescriptions().await;
        let _ = card.read_register_basic().await;
        let _ = card.read_allergies().await;
        let _ = card.read_visit(&code).await;
        let _ = card
            .cancel_visit(&code, VisitType::parse("01").expect("fixed type"), at)
            .await;
        let _ = card.authenticate(&FixedSam, pick % 4 == 1).await;
        let req = SequenceRequest {
            txn_id: [7; 16],
            visit_type: VisitType::parse("01").expect("fixed type"),
            newborn: false,
            replacement: false,
            institution: InstitutionCode::parse("3501200000").expect("fixed institution"),
            at,
            visit_code: code.clone(),
        };
        let _ = card.get_sequence_number(&FixedSam, &req).await;
        let body = VisitBody {
            diagnoses: vec!["I10".into()],
            fee_points: 100,
            copayment: 50,
        };
        let entry = PrescriptionEntry {
            at,
            order_type: '1',
            code: "AC45856100".into(),
            site: "PO".into(),
            usage: "TID".into(),
            days: 7,
            total: 21.0,
            released: false,
        };
        let _ = card.write_visit(&code, &body, &[entry]).await;
    });
}

/// A valid visit identification code (the fixed prefix completed with the check character).
pub fn visit_code() -> VisitCode {
    const SYMBOLS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    SYMBOLS
        .iter()
        .flat_map(|&a| {
            SYMBOLS
                .iter()
                .map(move |&b| format!("7K3P9QX2M4T8V6W1R5{}{}", char::from(a), char::from(b)))
        })
        .find_map(|text| VisitCode::parse(&text).ok())
        .expect("some two symbols complete the code")
}

/// Splits `data` into `[len u16 BE][len bytes]` pieces (card answers can be longer than 255).
pub fn length_prefixed_u16(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([data[0], data[1]])).min(data.len() - 2);
        out.push(&data[2..2 + n]);
        data = &data[2 + n..];
    }
    out
}

/// Joins pieces as [`length_prefixed_u16`] reads them.
pub fn join_length_prefixed_u16<B: AsRef<[u8]>>(pieces: &[B]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pieces {
        let p = p.as_ref();
        let n = p.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&(n as u16).to_be_bytes());
        out.extend_from_slice(&p[..n]);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Prescription QR codes.

/// The device key that signs the QR codes the `rx_qr` target builds.
pub fn rx_key() -> DeviceKey {
    DeviceKey::from_seed_for_tests(&[9; 32])
}

/// Target `rx_qr`: the input as scanned text (QR payload, Base45, legacy barcode) checked offline
/// by a pharmacist who knows [`rx_key`] for every institution; then the input as the packed body of
/// a payload, signed by [`rx_key`] and framed (CRC, Base45, prefix) so the decoder gets past the
/// check and the signature to the fields.
pub fn rx_qr(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    scanned_text(&text);
    let _ = barcode::decode_lines(&text);
    if let Ok(bytes) = base45::decode(&text) {
        assert_eq!(base45::encode(&bytes), text, "Base45 round trip");
    }
    let key = rx_key();
    let sig = key.sign(&[sign::SIGNING_CONTEXT, data].concat());
    let mut bytes = data.to_vec();
    bytes.extend_from_slice(&sig);
    let crc = payload::crc16(&bytes);
    bytes.extend_from_slice(&crc.to_be_bytes());
    scanned_text(&format!("{}{}", payload::QR_PREFIX, base45::encode(&bytes)));
}

fn scanned_text(text: &str) {
    let Ok(p) = payload::decode(text) else {
        return;
    };
    let body = payload::encode_body(&p.prescription, p.key_id).expect("a decoded prescription re-encodes");
    assert_eq!(body, p.body, "QR body round trip");
    let mut keys = KeySet::default();
    keys.insert(
        p.prescription.institution.as_str(),
        rx_key().public_key().to_vec(),
    );
    let today = p.prescription.issued_on;
    match pharmacy::verify_offline(text, &keys, today) {
        Ok(v) => assert_eq!(v, p),
        Err(PharmacyError::Tampered | PharmacyError::UnknownSigner(_) | PharmacyError::Expired { .. }) => {}
        Err(e) => panic!("a decodable QR failed offline checks with {e:?}"),
    }
    let _ = p.prescription.refill_windows();
    let _ = p.prescription.valid_until();
}

// ---------------------------------------------------------------------------------------------
// QR-2 (device binding).

/// Target `qr2_binding`: the input as a scanned QR-2 text; what parses must write a payload that
/// parses to the same binding.
pub fn qr2_binding(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(q) = BindingQr::parse(&text) {
        let again = BindingQr::parse(&q.to_payload()).expect("a parsed QR-2 writes a payload that parses");
        assert_eq!(again, q, "QR-2 round trip");
    }
}

// ---------------------------------------------------------------------------------------------
// Server bodies.

const STATUSES: [u16; 12] = [200, 201, 204, 400, 401, 403, 404, 409, 413, 422, 500, 503];

fn answer_round_trip<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(
    status: u16,
    json: bool,
    body: &[u8],
) -> Option<T> {
    let v = decode_answer::<T>(status, json, body).ok()?;
    let again = serde_json::to_vec(&v).expect("a decoded body serialises");
    assert_eq!(
        decode_answer::<T>(200, true, &again).expect("own body"),
        v,
        "body round trip"
    );
    Some(v)
}

/// Target `server_bodies`: byte 0 picks the HTTP status (low bits) and whether the answer was
/// labelled JSON (bit 7); the rest is the body, read as every answer the VPN and pharmacy
/// clients expect, then handed to the code that acts on it.
pub fn server_bodies(data: &[u8]) {
    let Some((&head, body)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(head & 0x7f) % STATUSES.len()];
    let json = head & 0x80 == 0;
    let _ = answer_round_trip::<wire::EnrolResponse>(status, json, body);
    if let Some(resp) = answer_round_trip::<wire::UploadResponse>(status, json, body) {
        let code = visit_code();
        let items: Vec<UploadItem> = [code.as_str(), "", "7K3P9QX2M4T8V6W1R5ZJ"]
            .iter()
            .enumerate()
            .map(|(i, code)| UploadItem {
                job_id: i.to_string(),
                kind: "card_upload".into(),
                visit_code: (*code).into(),
                idempotency_key: format!("k{i}"),
                payload: Vec::new(),
            })
            .collect();
        let results = vpn_target::results_of(&items, &resp);
        assert!(results.len() <= items.len(), "one result per job at most");
    }
    let _ = answer_round_trip::<wire::UploadResult>(status, json, body);
    let _ = decode_answer::<wire::MediCloudRecord>(status, json, body);
    if let Some(sets) = answer_round_trip::<Vec<wire::OrderSet>>(status, json, body) {
        for s in sets {
            let _ = homevisit_core::rx::orderset::from_wire(s).validate();
        }
    }
    if let Some(keys) = answer_round_trip::<wire::DeviceKeys>(status, json, body) {
        let _ = KeySet::from_published(&[keys]);
    }
    let _ = answer_round_trip::<wire::SamCardAuthResponse>(status, json, body);
    let _ = answer_round_trip::<wire::SamSignResponse>(status, json, body);
    let _ = answer_round_trip::<wire::Done>(status, json, body);
    let _ = answer_round_trip::<wire::ErrorBody>(status, json, body);
    if let Ok(keys) = serde_json::from_slice::<Vec<wire::DeviceKeys>>(body) {
        let _ = KeySet::from_published(&keys);
    }
    if let Ok(e) = serde_json::from_slice::<pharmacy::wire::ApiError>(body) {
        let _ = PharmacyError::from_api(e).to_api();
    }
    let _ = serde_json::from_slice::<pharmacy::wire::Details>(body);
    let _ = serde_json::from_slice::<pharmacy::wire::Receipt>(body);
    let _ = serde_json::from_slice::<pharmacy::wire::RefillView>(body);
    let _ = serde_json::from_slice::<pharmacy::wire::Session>(body);
}

// ---------------------------------------------------------------------------------------------
// Card data upload format 2.0, as the simulated NHI server reads it.

/// The institution the `upload_xml` target's device is bound to.
pub const UPLOAD_INSTITUTION: &str = "3501200000";
/// The server clock of the `upload_xml` target (2024-03-06 Taiwan).
pub const UPLOAD_NOW_MS: i64 = 1_709_700_000_000;

/// Target `upload_xml`: the input as an uploaded batch; each record the server reads goes through
/// the checker rules, and the records written back as 2.0 XML must read the same.
pub fn upload_xml(data: &[u8]) {
    let Ok(records) = upload::parse_batch(data) else {
        return;
    };
    for r in &records {
        let _ = upload::validate(r, UPLOAD_INSTITUTION, UPLOAD_NOW_MS);
        let _ = upload::dedup_key(r);
    }
    let again = upload::parse_batch(&write_batch(&records)).expect("records written back parse");
    assert_eq!(again, records, "upload XML round trip");
}

/// Writes records as a 2.0 batch, every character outside printable ASCII as a character reference.
pub fn write_batch(records: &[Record]) -> Vec<u8> {
    fn fields(out: &mut String, map: &std::collections::BTreeMap<String, String>) {
        for (k, v) in map {
            out.push_str(&format!("<{k}>"));
            for c in v.chars() {
                match c {
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    ' '..='~' => out.push(c),
                    c => out.push_str(&format!("&#{};", u32::from(c))),
                }
            }
            out.push_str(&format!("</{k}>"));
        }
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"Big5\"?><RECS>");
    for r in records {
        out.push_str("<REC><MSH>");
        fields(&mut out, &r.msh);
        out.push_str("</MSH><MB><MB1>");
        fields(&mut out, &r.mb1);
        out.push_str("</MB1>");
        for d in &r.mb2 {
            out.push_str("<MB2>");
            fields(&mut out, d);
            out.push_str("</MB2>");
        }
        out.push_str("</MB></REC>");
    }
    out.push_str("</RECS>");
    out.into_bytes()
}
