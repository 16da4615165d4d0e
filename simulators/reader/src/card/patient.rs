//! The simulated patient NHI card: the public basic data, mutual authentication with the cloud
//! SAM, the visit sequence number (registers the visit, idempotent by transaction id), the visit
//! write (idempotent by visit identification code), reads, the 24-hour cancellation, and a
//! file-backed state so that what is written can be read back in a later run.
//!
//! Layouts (all ASCII unless said; see `homevisit_core::card::records` for the host side):
//! - GET SEQUENCE `80 D0 00 00 3F` data: txn id 16 (binary) · visit type 2 · newborn 1 · after-check
//!   1 · institution 10 · date-time 13 · visit code 20; answer 72 B: date-time 13 · sequence 4 ·
//!   same-day 1 · visits left 2 · visit code 20 · card MAC 32 (binary).
//! - WRITE VISIT `80 D2` (extended) data: visit code 20 · body 58 (6 diagnoses × 7, fee 8,
//!   copayment 8) · count 1 (binary) · count × 61-byte prescription entries; answer count × 40
//!   (prescription signatures, hex).
//! - CANCEL `80 D4 00 00 23` data: type 2 (`ZA`/`ZB`) · visit code 20 · now 13; answer visits left 2.
//! - READ VISITS `80 B2` (data: optional visit code 20, then the record is followed by its
//!   prescription entries): 110 B per record, newest first: type 2 · newborn 1 · date-time 13 ·
//!   after-check 1 · sequence 4 · institution 10 · visit code 20 · body 58 · status 1 (`A`/`C`).
//! - READ PRESCRIPTIONS `80 B4` (data: optional visit code 20): 61 B per entry.
//! - READ ALLERGIES `80 B6`: 3 × 40 B Big5, NUL-padded.
//! - READ REGISTER BASIC `80 B8`: 78 B (basic data 57 · cancelled 1 · reserved 2 · identity 1 ·
//!   expiry 7 · visits left 2 · newborn birth date 7 · twin 1).

use super::apdu::{self, Command, respond, sw};
use super::{CardKind, NHI_AID, SimCard};
use crate::keys::{self, CardKey, KeyHierarchy};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Most visit records a card keeps (the oldest is dropped).
pub const MAX_RECORDS: usize = 6;
/// Most prescription entries a card keeps.
pub const MAX_PRESCRIPTIONS: usize = 60;
/// Length of a visit record as read back.
pub const RECORD_LEN: usize = 110;
/// Length of the written visit body (6 diagnoses × 7, fee 8, copayment 8).
pub const BODY_LEN: usize = 58;
/// Length of a prescription entry.
pub const RX_LEN: usize = 61;
/// Length of an allergy entry.
pub const ALLERGY_LEN: usize = 40;

/// Who the card belongs to. Text fields are kept as on the card.
#[derive(Clone, Serialize, Deserialize)]
pub struct PatientProfile {
    /// Card number (12).
    pub card_number: String,
    /// Name (at most 20 bytes of Big5).
    pub name: String,
    /// National ID (10).
    pub national_id: String,
    /// Birth date, ROC `YYYMMDD`.
    pub birth_date: String,
    /// `M` or `F`.
    pub sex: char,
    /// Issue date, ROC `YYYMMDD`.
    pub issue_date: String,
    /// Card expiry, ROC `YYYMMDD`.
    pub expiry_date: String,
    /// Whether the holder is insured (otherwise 9083).
    pub insured: bool,
    /// Whether the card has been cancelled (5002).
    pub cancelled: bool,
    /// Visits left on the card (5001 at zero).
    pub visits_left: u16,
    /// Drug allergies (up to 3, 40 bytes of Big5 each).
    pub allergies: Vec<String>,
}

impl std::fmt::Debug for PatientProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PatientProfile(<redacted>)")
    }
}

/// The public 57-byte basic-data record of a profile.
pub fn basic_record(p: &PatientProfile) -> Vec<u8> {
    let mut v = Vec::with_capacity(57);
    put(&mut v, p.card_number.as_bytes(), 12, b' ');
    let (name, _, _) = encoding_rs::BIG5.encode(&p.name);
    put(&mut v, &name, 20, 0);
    put(&mut v, p.national_id.as_bytes(), 10, b' ');
    put(&mut v, p.birth_date.as_bytes(), 7, b'0');
    v.push(p.sex as u8);
    put(&mut v, p.issue_date.as_bytes(), 7, b'0');
    v
}

fn put(out: &mut Vec<u8>, value: &[u8], width: usize, pad: u8) {
    let n = value.len().min(width);
    out.extend_from_slice(&value[..n]);
    out.extend(std::iter::repeat_n(pad, width - n));
}

/// One visit registered on the card.
#[derive(Clone, Serialize, Deserialize)]
struct Record {
    txn_id: String,
    visit_type: String,
    newborn: String,
    after_check: String,
    datetime: String,
    sequence: String,
    institution: String,
    visit_code: String,
    same_day: bool,
    counted: bool,
    body: String,
    written: bool,
    cancelled: bool,
}

/// A stored prescription entry.
#[derive(Clone, Serialize, Deserialize)]
struct Prescription {
    visit_code: String,
    entry_hex: String,
}

/// The card's persistent memory. Patient text is stored hex-encoded (the card's own bytes), so a
/// state file never shows a name or ID in clear.
#[derive(Clone, Serialize, Deserialize)]
struct State {
    profile_hex: String,
    last_sequence: u16,
    records: Vec<Record>,
    prescriptions: Vec<Prescription>,
}

impl State {
    fn profile(&self) -> Option<PatientProfile> {
        let bytes = hex::decode(&self.profile_hex).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// What goes wrong on the next state-changing command (sequence number, write, cancel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The card is pulled out before the change is committed: nothing changes, no answer.
    RemovedBeforeCommit,
    /// The card is pulled out right after committing: the change stands, no answer.
    RemovedAfterCommit,
    /// The card's memory fails: nothing changes, `65 81`.
    MemoryFailure,
}

struct Inner {
    profile: PatientProfile,
    state: State,
    key: CardKey,
    path: Option<PathBuf>,
    selected: bool,
    challenge: Option<[u8; 8]>,
    session_key: Option<[u8; 32]>,
    fault: Option<Fault>,
    present: bool,
    commands: u64,
}

/// A simulated patient card. Cloning gives another handle on the same card (tests keep one to
/// inspect the card and inject faults while the reader holds the other).
#[derive(Clone)]
pub struct PatientCard {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for PatientCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PatientCard(<redacted>)")
    }
}

/// A visit record as tests see it on the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView {
    /// Visit identification code.
    pub visit_code: String,
    /// Sequence number issued.
    pub sequence: String,
    /// Visit type.
    pub visit_type: String,
    /// Whether the visit body was written.
    pub written: bool,
    /// Whether the visit was cancelled.
    pub cancelled: bool,
    /// Prescription entries stored for the visit.
    pub prescriptions: usize,
}

impl PatientCard {
    /// A genuine card of the simulation, in memory only.
    pub fn new(profile: PatientProfile) -> Self {
        Self::with_keys(profile, &KeyHierarchy::simulated())
    }

    /// A card whose key comes from `keys` (a forged hierarchy makes a fake card).
    pub fn with_keys(profile: PatientProfile, keys: &KeyHierarchy) -> Self {
        let state = State {
            profile_hex: hex::encode(serde_json::to_vec(&profile).unwrap_or_default()),
            last_sequence: 0,
            records: Vec::new(),
            prescriptions: Vec::new(),
        };
        Self::from_parts(profile, state, keys, None)
    }

    /// A genuine card whose memory lives in `path` (JSON): loaded when the file exists, else created
    /// from `profile`. Every change is written through before the card answers.
    pub fn open(path: &Path, profile: PatientProfile) -> std::io::Result<Self> {
        let keys = KeyHierarchy::simulated();
        if path.exists() {
            let bytes = std::fs::read(path)?;
            let state: State = serde_json::from_slice(&bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            let profile = state
                .profile()
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad card profile"))?;
            return Ok(Self::from_parts(profile, state, &keys, Some(path.to_path_buf())));
        }
        let card = Self::new(profile);
        {
            let mut inner = card.lock();
            inner.path = Some(path.to_path_buf());
            save(&inner.path, &inner.state)?;
        }
        Ok(card)
    }

    fn from_parts(profile: PatientProfile, state: State, keys: &KeyHierarchy, path: Option<PathBuf>) -> Self {
        let key = keys.card_key(&profile.card_number);
        Self {
            inner: Arc::new(Mutex::new(Inner {
                profile,
                state,
                key,
                path,
                selected: false,
                challenge: None,
                session_key: None,
                fault: None,
                present: true,
                commands: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock can only come from a bug in this file; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The card number.
    pub fn card_number(&self) -> String {
        self.lock().profile.card_number.clone()
    }

    /// Makes the next state-changing command fail as `fault` says.
    pub fn inject(&self, fault: Fault) {
        self.lock().fault = Some(fault);
    }

    /// Puts a removed card back (it answers again, unselected).
    pub fn reinsert(&self) {
        let mut i = self.lock();
        i.present = true;
        i.selected = false;
        i.challenge = None;
        i.session_key = None;
    }

    /// Visits left on the card.
    pub fn visits_left(&self) -> u16 {
        self.lock().profile.visits_left
    }

    /// The last normal sequence number issued (0 before the first).
    pub fn last_sequence(&self) -> u16 {
        self.lock().state.last_sequence
    }

    /// The visit records on the card, oldest first.
    pub fn records(&self) -> Vec<RecordView> {
        let i = self.lock();
        i.state
            .records
            .iter()
            .map(|r| RecordView {
                visit_code: r.visit_code.clone(),
                sequence: r.sequence.clone(),
                visit_type: r.visit_type.clone(),
                written: r.written,
                cancelled: r.cancelled,
                prescriptions: i
                    .state
                    .prescriptions
                    .iter()
                    .filter(|p| p.visit_code == r.visit_code)
                    .count(),
            })
            .collect()
    }

    /// Number of commands the card has answered.
    pub fn commands(&self) -> u64 {
        self.lock().commands
    }
}

fn save(path: &Option<PathBuf>, state: &State) -> std::io::Result<()> {
    let Some(path) = path else { return Ok(()) };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec_pretty(state).map_err(|e| std::io::Error::other(e.to_string()))?;
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Result of a state-changing command before commit.
enum Change {
    /// Commit `state` (with `profile`) then answer `answer`.
    Commit(Box<State>, PatientProfile, Vec<u8>),
    /// Answer without change.
    Answer(Vec<u8>),
}

impl Inner {
    fn handle(&mut self, apdu: &[u8]) -> Vec<u8> {
        let cmd = match apdu::parse(apdu) {
            Ok(c) => c,
            Err(s) => return respond(Vec::new(), s),
        };
        match (cmd.cla, cmd.ins) {
            (0x00, 0xA4) => self.select(&cmd),
            _ if !self.selected => respond(Vec::new(), sw::CONDITIONS),
            (0x00, 0xCA) if cmd.p1 == 0x11 && cmd.p2 == 0x00 => respond(basic_record(&self.profile), sw::OK),
            (0x00, 0x84) => {
                let c: [u8; 8] = keys::random();
                self.challenge = Some(c);
                self.session_key = None;
                respond(c.to_vec(), sw::OK)
            }
            (0x00, 0x82) => self.mutual_auth(&cmd),
            (0x80, ins @ (0xD0 | 0xD2 | 0xD4 | 0xB2 | 0xB4 | 0xB6 | 0xB8)) => {
                let Some(session) = self.session_key else {
                    return respond(Vec::new(), sw::SECURITY);
                };
                match ins {
                    0xD0 => self.change(|s| s.get_sequence(&cmd, &session)),
                    0xD2 => self.change(|s| s.write_visit(&cmd)),
                    0xD4 => self.change(|s| s.cancel(&cmd)),
                    0xB2 => self.read_visits(&cmd),
                    0xB4 => self.read_prescriptions(&cmd),
                    0xB6 => self.read_allergies(),
                    _ => self.read_register_basic(),
                }
            }
            (0x00 | 0x80, _) => respond(Vec::new(), sw::INS_NOT_SUPPORTED),
            _ => respond(Vec::new(), sw::CLA_NOT_SUPPORTED),
        }
    }

    fn select(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        self.challenge = None;
        self.session_key = None;
        if cmd.p1 == 0x04 && cmd.data == NHI_AID {
            self.selected = true;
            respond(Vec::new(), sw::OK)
        } else {
            self.selected = false;
            respond(Vec::new(), sw::APP_NOT_FOUND)
        }
    }

    fn mutual_auth(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        let Some(card_challenge) = self.challenge.take() else {
            return respond(Vec::new(), sw::CONDITIONS);
        };
        if cmd.data.len() != 40 {
            return respond(Vec::new(), sw::WRONG_LENGTH);
        }
        let mut sam_challenge = [0u8; 8];
        sam_challenge.copy_from_slice(&cmd.data[..8]);
        let expected = self.key.sam_proof(&card_challenge, &sam_challenge);
        if !keys::ct_eq(&expected, &cmd.data[8..40]) {
            return respond(Vec::new(), sw::AUTH_FAILED);
        }
        self.session_key = Some(self.key.session_key(&card_challenge, &sam_challenge));
        respond(
            self.key.card_proof(&card_challenge, &sam_challenge).to_vec(),
            sw::OK,
        )
    }

    /// Runs a state-changing command with fault injection and write-through persistence.
    fn change(&mut self, f: impl FnOnce(&Self) -> Change) -> Vec<u8> {
        let fault = self.fault.take();
        let change = f(self);
        let (state, profile, answer) = match change {
            Change::Answer(a) => return a,
            Change::Commit(s, p, a) => (s, p, a),
        };
        match fault {
            Some(Fault::RemovedBeforeCommit) => {
                self.present = false;
                return Vec::new();
            }
            Some(Fault::MemoryFailure) => return respond(Vec::new(), sw::MEMORY_FAILURE),
            _ => {}
        }
        let mut state = *state;
        state.profile_hex = hex::encode(serde_json::to_vec(&profile).unwrap_or_default());
        if save(&self.path, &state).is_err() {
            return respond(Vec::new(), sw::MEMORY_FAILURE);
        }
        self.state = state;
        self.profile = profile;
        if fault == Some(Fault::RemovedAfterCommit) {
            self.present = false;
            return Vec::new();
        }
        answer
    }

    fn get_sequence(&self, cmd: &Command<'_>, session: &[u8; 32]) -> Change {
        let d = cmd.data;
        if d.len() != 63 || !d[16..].is_ascii() {
            return Change::Answer(respond(Vec::new(), sw::WRONG_LENGTH));
        }
        let text = |a: usize, b: usize| String::from_utf8_lossy(&d[a..b]).into_owned();
        let txn_id = hex::encode(&d[..16]);
        let visit_type = text(16, 18);
        let newborn = text(18, 19);
        let after_check = text(19, 20);
        let institution = text(20, 30);
        let datetime = text(30, 43);
        let visit_code = text(43, 63);
        let p = &self.profile;
        let answer = |r: &Record, left: u16| {
            let mut v = Vec::with_capacity(72);
            v.extend_from_slice(r.datetime.as_bytes());
            v.extend_from_slice(r.sequence.as_bytes());
            v.push(if r.same_day { b'Y' } else { b'N' });
            v.extend_from_slice(format!("{:02}", left.min(99)).as_bytes());
            v.extend_from_slice(r.visit_code.as_bytes());
            v.extend_from_slice(&keys::visit_mac(
                session,
                &p.card_number,
                &r.datetime,
                &r.sequence,
                &r.institution,
                &r.visit_code,
            ));
            respond(v, sw::OK)
        };
        // A retry of the same transaction returns what the card already gave, consuming nothing.
        if let Some(r) = self.state.records.iter().find(|r| r.txn_id == txn_id) {
            return Change::Answer(answer(r, p.visits_left));
        }
        let counted = visit_type.as_bytes().first().is_some_and(u8::is_ascii_digit);
        let valid_type = counted || (visit_type.len() == 2 && visit_type.starts_with('A'));
        if !valid_type
            || !matches!(newborn.as_str(), "Y" | "N")
            || !matches!(after_check.as_str(), "1" | "2")
            || !institution.bytes().all(|b| b.is_ascii_digit())
            || !datetime.bytes().all(|b| b.is_ascii_digit())
            || visit_code.len() != 20
        {
            return Change::Answer(respond(Vec::new(), sw::WRONG_DATA));
        }
        if p.cancelled {
            return Change::Answer(respond(Vec::new(), sw::CARD_CANCELLED));
        }
        if datetime[..7] > *p.expiry_date {
            return Change::Answer(respond(Vec::new(), sw::CARD_EXPIRED));
        }
        if !p.insured {
            return Change::Answer(respond(Vec::new(), sw::NOT_INSURED));
        }
        if counted && p.visits_left == 0 {
            return Change::Answer(respond(Vec::new(), sw::VISITS_EXHAUSTED));
        }
        let mut state = self.state.clone();
        let mut profile = p.clone();
        if counted {
            state.last_sequence = state.last_sequence % 1500 + 1;
            profile.visits_left -= 1;
        }
        let same_day = state
            .records
            .iter()
            .any(|r| !r.cancelled && r.datetime.get(..7) == datetime.get(..7));
        let record = Record {
            txn_id,
            visit_type,
            newborn,
            after_check,
            datetime,
            sequence: format!("{:04}", state.last_sequence.max(1)),
            institution,
            visit_code,
            same_day,
            counted,
            body: " ".repeat(BODY_LEN),
            written: false,
            cancelled: false,
        };
        let reply = answer(&record, profile.visits_left);
        state.records.push(record);
        while state.records.len() > MAX_RECORDS {
            let old = state.records.remove(0);
            state.prescriptions.retain(|p| p.visit_code != old.visit_code);
        }
        Change::Commit(Box::new(state), profile, reply)
    }

    fn write_visit(&self, cmd: &Command<'_>) -> Change {
        let d = cmd.data;
        if d.len() < 20 + BODY_LEN + 1 {
            return Change::Answer(respond(Vec::new(), sw::WRONG_LENGTH));
        }
        let visit_code = String::from_utf8_lossy(&d[..20]).into_owned();
        let body = &d[20..20 + BODY_LEN];
        let count = usize::from(d[20 + BODY_LEN]);
        let entries = &d[20 + BODY_LEN + 1..];
        if entries.len() != count * RX_LEN || !body.is_ascii() {
            return Change::Answer(respond(Vec::new(), sw::WRONG_LENGTH));
        }
        if count > MAX_PRESCRIPTIONS {
            return Change::Answer(respond(Vec::new(), sw::NO_ROOM));
        }
        let mut state = self.state.clone();
        let Some(record) = state
            .records
            .iter_mut()
            .find(|r| r.visit_code == visit_code && !r.cancelled)
        else {
            return Change::Answer(respond(Vec::new(), sw::RECORD_NOT_FOUND));
        };
        // Writing again replaces the visit's body and entries: a retried write leaves one copy.
        record.body = String::from_utf8_lossy(body).into_owned();
        record.written = true;
        state.prescriptions.retain(|p| p.visit_code != visit_code);
        let mut reply = Vec::with_capacity(count * 40);
        for e in entries.chunks(RX_LEN) {
            reply.extend_from_slice(
                self.key
                    .prescription_signature(visit_code.as_bytes(), e)
                    .as_bytes(),
            );
            state.prescriptions.push(Prescription {
                visit_code: visit_code.clone(),
                entry_hex: hex::encode(e),
            });
        }
        let excess = state.prescriptions.len().saturating_sub(MAX_PRESCRIPTIONS);
        state.prescriptions.drain(..excess);
        Change::Commit(Box::new(state), self.profile.clone(), respond(reply, sw::OK))
    }

    fn cancel(&self, cmd: &Command<'_>) -> Change {
        let d = cmd.data;
        if d.len() != 35 || !d.is_ascii() {
            return Change::Answer(respond(Vec::new(), sw::WRONG_LENGTH));
        }
        let kind = String::from_utf8_lossy(&d[..2]).into_owned();
        let visit_code = String::from_utf8_lossy(&d[2..22]).into_owned();
        let now = String::from_utf8_lossy(&d[22..35]).into_owned();
        let mut state = self.state.clone();
        let mut profile = self.profile.clone();
        let left = |n: u16| format!("{:02}", n.min(99)).into_bytes();
        let Some(record) = state.records.iter_mut().find(|r| r.visit_code == visit_code) else {
            return Change::Answer(respond(Vec::new(), sw::RECORD_NOT_FOUND));
        };
        if record.cancelled {
            return Change::Answer(respond(left(profile.visits_left), sw::OK));
        }
        let (Ok(at), Ok(now)) = (
            homevisit_core::model::RocDateTime::parse(&record.datetime),
            homevisit_core::model::RocDateTime::parse(&now),
        ) else {
            return Change::Answer(respond(Vec::new(), sw::WRONG_DATA));
        };
        let expected = if record.counted { "ZA" } else { "ZB" };
        if kind != expected {
            return Change::Answer(respond(Vec::new(), sw::WRONG_DATA));
        }
        let age = now.unix_seconds() - at.unix_seconds();
        if !(0..=24 * 3600).contains(&age) {
            return Change::Answer(respond(Vec::new(), sw::CANCEL_WINDOW));
        }
        record.cancelled = true;
        if record.counted {
            profile.visits_left += 1;
        }
        state.prescriptions.retain(|p| p.visit_code != visit_code);
        let reply = respond(left(profile.visits_left), sw::OK);
        Change::Commit(Box::new(state), profile, reply)
    }

    fn read_visits(&self, cmd: &Command<'_>) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.state.records.len() * RECORD_LEN);
        match cmd.data.len() {
            0 => {
                for r in self.state.records.iter().rev() {
                    encode_record(&mut v, r);
                }
            }
            20 => {
                let code = String::from_utf8_lossy(cmd.data);
                let Some(r) = self.state.records.iter().find(|r| r.visit_code == code) else {
                    return respond(Vec::new(), sw::RECORD_NOT_FOUND);
                };
                encode_record(&mut v, r);
                for p in self.state.prescriptions.iter().filter(|p| p.visit_code == code) {
                    if let Ok(bytes) = hex::decode(&p.entry_hex) {
                        v.extend_from_slice(&bytes);
                    }
                }
            }
            _ => return respond(Vec::new(), sw::WRONG_LENGTH),
        }
        respond(v, sw::OK)
    }

    fn read_prescriptions(&self, cmd: &Command<'_>) -> Vec<u8> {
        let filter = match cmd.data.len() {
            0 => None,
            20 => Some(String::from_utf8_lossy(cmd.data).into_owned()),
            _ => return respond(Vec::new(), sw::WRONG_LENGTH),
        };
        let mut v = Vec::new();
        for p in &self.state.prescriptions {
            if filter.as_ref().is_none_or(|f| *f == p.visit_code)
                && let Ok(bytes) = hex::decode(&p.entry_hex)
            {
                v.extend_from_slice(&bytes);
            }
        }
        respond(v, sw::OK)
    }

    /// The 78-byte register-basic buffer: basic data 57 · cancelled flag 1 (`Y`/`N`) · reserved 2 ·
    /// identity flag 1 · expiry 7 · visits left 2 · newborn birth date 7 (zeros: none) · twin 1.
    fn read_register_basic(&self) -> Vec<u8> {
        let p = &self.profile;
        let mut v = basic_record(p);
        v.push(if p.cancelled { b'Y' } else { b'N' });
        v.extend_from_slice(b"  ");
        v.push(b' ');
        put(&mut v, p.expiry_date.as_bytes(), 7, b'0');
        v.extend_from_slice(format!("{:02}", p.visits_left.min(99)).as_bytes());
        v.extend_from_slice(b"0000000");
        v.push(b'N');
        respond(v, sw::OK)
    }

    fn read_allergies(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(3 * ALLERGY_LEN);
        for i in 0..3 {
            let text = self.profile.allergies.get(i).map(String::as_str).unwrap_or("");
            let (bytes, _, _) = encoding_rs::BIG5.encode(text);
            put(&mut v, &bytes, ALLERGY_LEN, 0);
        }
        respond(v, sw::OK)
    }
}

fn encode_record(v: &mut Vec<u8>, r: &Record) {
    v.extend_from_slice(r.visit_type.as_bytes());
    v.extend_from_slice(r.newborn.as_bytes());
    v.extend_from_slice(r.datetime.as_bytes());
    v.extend_from_slice(r.after_check.as_bytes());
    v.extend_from_slice(r.sequence.as_bytes());
    v.extend_from_slice(r.institution.as_bytes());
    v.extend_from_slice(r.visit_code.as_bytes());
    v.extend_from_slice(r.body.as_bytes());
    v.push(if r.cancelled { b'C' } else { b'A' });
}

impl SimCard for PatientCard {
    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        let mut inner = self.lock();
        if !inner.present {
            return Vec::new();
        }
        inner.commands += 1;
        inner.handle(apdu)
    }

    fn kind(&self) -> CardKind {
        CardKind::Patient
    }

    fn present(&self) -> bool {
        self.lock().present
    }

    fn reset(&mut self) {
        let mut i = self.lock();
        i.selected = false;
        i.challenge = None;
        i.session_key = None;
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a phone sends, the card answers with at least a status word and never panics,
        /// selected or not.
        #[test]
        fn any_command_gets_a_status_word(
            apdu in proptest::collection::vec(any::<u8>(), 0..300),
            ins in prop::sample::select(vec![0xA4u8, 0xCA, 0x84, 0x82, 0xD0, 0xD2, 0xD4, 0xB2, 0xB4, 0xB6]),
            cla in prop::sample::select(vec![0x00u8, 0x80]),
        ) {
            let mut card = super::super::demo_patient_card();
            let r = card.transmit(&apdu);
            prop_assert!(r.len() >= 2);
            let mut select = vec![0x00, 0xA4, 0x04, 0x00, 0x10];
            select.extend_from_slice(&NHI_AID);
            prop_assert_eq!(card.transmit(&select), vec![0x90, 0x00]);
            let mut cmd = vec![cla, ins];
            cmd.extend_from_slice(&apdu);
            let r = card.transmit(&cmd);
            prop_assert!(r.len() >= 2);
            prop_assert_eq!(card.visits_left(), 6, "nothing consumed without authentication");
        }
    }
}
