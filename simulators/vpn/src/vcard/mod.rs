//! The NHI's virtual-card service (虛擬健保卡), simulated: the patient's app shows a single-use QR
//! signed by the NHI and valid 5 minutes by the virtual-card service's clock (the server's clock
//! plus an offset tests move with `POST /admin/vcard/clock`, so expiry never waits on real time);
//! an institution scans it, the patient taps "同意" (a route plays that), and only then may that
//! institution read the card data and take the visit's `V` sequence number, which the NHI signs
//! (M14, with the key of [`SIGNER_ID`], M01) over the upload's key fields. Institutions granted the
//! assisted-application right (with designated staff and an audit verification code) may apply
//! for a virtual card on a patient's behalf.
//!
//! State lives in memory (a restarted simulator forgets scans and sessions, which expire within
//! minutes anyway); the demo patients 2–4 of `nhi_reader_sim` hold virtual cards from the start.

pub mod routes;

use crate::ApiError;
use axum::http::StatusCode;
use homevisit_core::card::sam::VisitSignRequest;
use homevisit_core::model::{NationalId, RocDateTime, SequenceNumber, VisitType};
use homevisit_core::vcard::wire::{self, CardData, codes};
use homevisit_core::vcard::{QR_LIFETIME_MS, VcardQr, qr};
use ring::signature::{Ed25519KeyPair, KeyPair};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// The id of the NHI's virtual-card signer, written as M01 of a virtual-card visit (12 characters).
pub const SIGNER_ID: &str = "VC0000000001";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consent {
    Pending,
    Granted,
    Refused,
}

struct Issued {
    national_id: String,
    expires_ms: i64,
    session: Option<String>,
}

struct Session {
    institution: String,
    national_id: String,
    consent: Consent,
    /// The one visit this scan made: its transaction id and the answer (idempotent replay).
    visit: Option<(String, wire::SequenceResponse)>,
}

struct Right {
    audit_code: String,
    staff: Vec<String>,
}

#[derive(Default)]
struct Inner {
    cards: HashMap<String, CardData>,
    issued: HashMap<String, Issued>,
    sessions: HashMap<String, Session>,
    counters: HashMap<String, u32>,
    rights: HashMap<String, Right>,
}

/// The virtual-card service's state.
pub struct VcardState {
    offset_ms: AtomicI64,
    key: Ed25519KeyPair,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for VcardState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VcardState").finish_non_exhaustive()
    }
}

fn refuse(status: StatusCode, code: &str, message: &str) -> ApiError {
    ApiError::new(status, code, message)
}

fn with_field(mut e: ApiError, field: &str) -> ApiError {
    e.1.field = Some(field.into());
    e
}

fn bad(field: &str, message: &str) -> ApiError {
    with_field(refuse(StatusCode::BAD_REQUEST, "bad_request", message), field)
}

/// `V` + the counter in base 36, 3 characters (V001, V002, … VZZZ).
fn v_number(n: u32) -> Option<String> {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    if n == 0 || n >= 36 * 36 * 36 {
        return None;
    }
    let mut s = String::from("V");
    for div in [36 * 36, 36, 1] {
        s.push(char::from(DIGITS[(n / div % 36) as usize]));
    }
    Some(s)
}

impl Default for VcardState {
    fn default() -> Self {
        Self::new()
    }
}

impl VcardState {
    /// The service with its fixed simulated key (stable across restarts, as devices keep it) and
    /// the demo patients 2–4 holding virtual cards.
    pub fn new() -> Self {
        let seed = ring::digest::digest(&ring::digest::SHA256, b"nhi-vpn-sim virtual card QR key v1");
        // A 32-byte seed always makes a key pair.
        let key = Ed25519KeyPair::from_seed_unchecked(seed.as_ref()).expect("32-byte Ed25519 seed");
        let mut inner = Inner::default();
        for p in nhi_reader_sim::card::demo_patients().into_iter().skip(1) {
            inner.cards.insert(
                p.national_id.clone(),
                CardData {
                    card_number: p.card_number,
                    name: p.name,
                    national_id: p.national_id,
                    birth_date: p.birth_date,
                    sex: p.sex.to_string(),
                    issue_date: p.issue_date,
                },
            );
        }
        Self {
            offset_ms: AtomicI64::new(0),
            key,
            inner: Mutex::new(inner),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The virtual-card service's clock from the server's (`server_now_ms`): plus the test offset.
    pub fn now_ms(&self, server_now_ms: i64) -> i64 {
        server_now_ms + self.offset_ms.load(Ordering::SeqCst)
    }

    /// Moves the virtual-card service's clock forward by `ms` (tests: a QR's 5 minutes pass).
    pub fn advance_clock_ms(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// The QR public key (32 bytes).
    pub fn public_key(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }

    /// Whether the patient holds a virtual card.
    pub fn has_card(&self, national_id: &str) -> bool {
        self.inner().cards.contains_key(national_id)
    }

    /// The patient's app shows a new QR (valid 5 minutes from `now_ms`).
    pub fn issue_qr(&self, national_id: &str, now_ms: i64) -> Result<(String, i64), ApiError> {
        let mut inner = self.inner();
        if !inner.cards.contains_key(national_id) {
            return Err(refuse(
                StatusCode::NOT_FOUND,
                "vcard_unknown",
                "this patient holds no virtual card",
            ));
        }
        let token: [u8; 16] = nhi_reader_sim::keys::random();
        let text = qr::issue(&self.key, token, now_ms);
        inner.issued.insert(
            hex::encode(token),
            Issued {
                national_id: national_id.to_string(),
                expires_ms: now_ms + QR_LIFETIME_MS,
                session: None,
            },
        );
        Ok((text, now_ms + QR_LIFETIME_MS))
    }

    /// An institution presents a scanned QR: forged, expired and reused QRs are refused with
    /// their own codes; otherwise a scan session waits for the patient's consent.
    pub fn scan(
        &self,
        institution: &str,
        qr_text: &str,
        now_ms: i64,
    ) -> Result<wire::ScanResponse, ApiError> {
        let forged = |m: &str| refuse(StatusCode::FORBIDDEN, codes::FORGED, m);
        let qr = VcardQr::parse(qr_text).map_err(|_| forged("not a virtual-card QR of the NHI"))?;
        qr.verify(self.key.public_key().as_ref())
            .map_err(|_| forged("the QR's signature is not the NHI's"))?;
        let mut inner = self.inner();
        let Some(issued) = inner.issued.get_mut(&qr.token_hex()) else {
            return Err(forged("the NHI never issued this QR"));
        };
        if issued.session.is_some() {
            return Err(refuse(
                StatusCode::CONFLICT,
                codes::USED,
                "the QR was already used",
            ));
        }
        if now_ms >= issued.expires_ms {
            return Err(refuse(StatusCode::GONE, codes::EXPIRED, "the QR has expired"));
        }
        let session = hex::encode(nhi_reader_sim::keys::random::<16>());
        issued.session = Some(session.clone());
        let national_id = issued.national_id.clone();
        let expires_at_ms = issued.expires_ms;
        inner.sessions.insert(
            session.clone(),
            Session {
                institution: institution.to_string(),
                national_id,
                consent: Consent::Pending,
                visit: None,
            },
        );
        Ok(wire::ScanResponse {
            session,
            expires_at_ms,
        })
    }

    /// The patient answers in their app (taps "同意" when `agree`) for the QR they showed.
    pub fn answer(&self, qr_text: &str, agree: bool) -> Result<(), ApiError> {
        let qr = VcardQr::parse(qr_text).map_err(|_| bad("qr", "not a virtual-card QR"))?;
        let mut inner = self.inner();
        let session = inner
            .issued
            .get(&qr.token_hex())
            .and_then(|i| i.session.clone())
            .ok_or_else(|| {
                refuse(
                    StatusCode::NOT_FOUND,
                    codes::UNKNOWN_SESSION,
                    "no institution has scanned this QR",
                )
            })?;
        if let Some(s) = inner.sessions.get_mut(&session) {
            s.consent = if agree { Consent::Granted } else { Consent::Refused };
        }
        Ok(())
    }

    fn session<'a>(
        inner: &'a mut Inner,
        institution: &str,
        session: &str,
    ) -> Result<&'a mut Session, ApiError> {
        match inner.sessions.get_mut(session) {
            Some(s) if s.institution == institution => Ok(s),
            _ => Err(refuse(
                StatusCode::NOT_FOUND,
                codes::UNKNOWN_SESSION,
                "no such scan session for this institution",
            )),
        }
    }

    fn consented(s: &Session) -> Result<(), ApiError> {
        match s.consent {
            Consent::Granted => Ok(()),
            Consent::Pending => Err(refuse(
                StatusCode::FORBIDDEN,
                codes::NO_CONSENT,
                "the patient has not consented yet",
            )),
            Consent::Refused => Err(refuse(
                StatusCode::FORBIDDEN,
                codes::REFUSED,
                "the patient refused the reading",
            )),
        }
    }

    /// The patient's answer so far.
    pub fn consent_state(&self, institution: &str, session: &str) -> Result<wire::ConsentResponse, ApiError> {
        let mut inner = self.inner();
        let s = Self::session(&mut inner, institution, session)?;
        let state = match s.consent {
            Consent::Pending => "pending",
            Consent::Granted => "granted",
            Consent::Refused => "refused",
        };
        Ok(wire::ConsentResponse { state: state.into() })
    }

    /// The card data: only to the scanning institution, only after consent.
    pub fn card(&self, institution: &str, session: &str) -> Result<CardData, ApiError> {
        let mut inner = self.inner();
        let s = Self::session(&mut inner, institution, session)?;
        Self::consented(s)?;
        let id = s.national_id.clone();
        inner.cards.get(&id).cloned().ok_or_else(|| {
            refuse(
                StatusCode::NOT_FOUND,
                "vcard_unknown",
                "the virtual card was withdrawn",
            )
        })
    }

    /// The visit's `V` number, signed over card number, date-time, number, institution and visit
    /// code; one visit per scan (a retry with the same `txn_id` gets the same answer).
    pub fn sequence(
        &self,
        institution: &str,
        req: &wire::SequenceRequest,
        now_ms: i64,
    ) -> Result<wire::SequenceResponse, ApiError> {
        let visit_type =
            VisitType::parse(&req.visit_type).map_err(|_| bad("visit_type", "unknown visit type"))?;
        if visit_type.is_cancellation() {
            return Err(bad("visit_type", "ZA/ZB are not visits"));
        }
        let at = RocDateTime::parse(&req.visit_datetime)
            .map_err(|_| bad("visit_datetime", "must be ROC YYYMMDDHHMMSS"))?;
        if (at.unix_ms() - now_ms).abs() > 24 * 3600 * 1000 {
            return Err(bad("visit_datetime", "not today"));
        }
        if req.txn_id.len() != 32 || !req.txn_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("txn_id", "must be 16 bytes hex"));
        }
        if req.visit_code.len() != 20 {
            return Err(bad("visit_code", "must be 20 characters"));
        }
        let mut inner = self.inner();
        let s = Self::session(&mut inner, institution, &req.session)?;
        Self::consented(s)?;
        if let Some((txn, answer)) = &s.visit {
            if *txn == req.txn_id {
                return Ok(answer.clone());
            }
            return Err(refuse(
                StatusCode::CONFLICT,
                codes::USED,
                "this scan already made a visit; scan a new QR",
            ));
        }
        let id = s.national_id.clone();
        let card_number = inner
            .cards
            .get(&id)
            .map(|c| c.card_number.clone())
            .ok_or_else(|| {
                refuse(
                    StatusCode::NOT_FOUND,
                    "vcard_unknown",
                    "the virtual card was withdrawn",
                )
            })?;
        let counter = inner.counters.entry(institution.to_string()).or_insert(0);
        *counter += 1;
        let number = v_number(*counter).ok_or_else(|| {
            refuse(
                StatusCode::CONFLICT,
                "vcard_numbers_exhausted",
                "no more V numbers today",
            )
        })?;
        debug_assert!(matches!(
            SequenceNumber::parse(&number),
            Ok(SequenceNumber::Virtual(_))
        ));
        let answer = wire::SequenceResponse {
            signature_hex: signature(
                &card_number,
                &at.to_roc_string(),
                &number,
                institution,
                &req.visit_code,
            ),
            sequence_number: number,
            sam_id: SIGNER_ID.into(),
        };
        if let Some(s) = inner.sessions.get_mut(&req.session) {
            s.visit = Some((req.txn_id.clone(), answer.clone()));
        }
        Ok(answer)
    }

    /// Grants `institution` the assisted-application right for its designated staff; returns the
    /// audit verification code issued to it.
    pub fn grant_right(&self, institution: &str, designated_staff: Vec<String>) -> String {
        let digits: [u8; 8] = nhi_reader_sim::keys::random();
        let code: String = digits.iter().map(|b| char::from(b'0' + b % 10)).collect();
        let code = format!("VC{code}");
        self.inner().rights.insert(
            institution.to_string(),
            Right {
                audit_code: code.clone(),
                staff: designated_staff,
            },
        );
        code
    }

    /// An assisted application: only from an institution holding the right, by a designated staff
    /// member, with photo and ID document confirmed and the institution's audit code.
    pub fn apply(
        &self,
        institution: &str,
        req: &wire::ApplicationRequest,
        now_ms: i64,
    ) -> Result<wire::ApplicationResponse, ApiError> {
        let mut inner = self.inner();
        let Some(right) = inner.rights.get(institution) else {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                codes::NO_RIGHT,
                "this institution does not hold the virtual-card application right",
            ));
        };
        if !nhi_reader_sim::keys::ct_eq(right.audit_code.as_bytes(), req.audit_code.as_bytes()) {
            return Err(with_field(
                refuse(
                    StatusCode::FORBIDDEN,
                    codes::BAD_AUDIT_CODE,
                    "not the audit verification code issued to this institution",
                ),
                "audit_code",
            ));
        }
        if !right.staff.contains(&req.staff_id) {
            return Err(with_field(
                refuse(
                    StatusCode::FORBIDDEN,
                    codes::NOT_DESIGNATED,
                    "the staff member is not designated for virtual-card applications",
                ),
                "staff_id",
            ));
        }
        if !req.photo_confirmed {
            return Err(bad("photo_confirmed", "the photo must be confirmed"));
        }
        if !req.id_document_confirmed {
            return Err(bad("id_document_confirmed", "the ID document must be confirmed"));
        }
        NationalId::parse(&req.card.national_id).map_err(|e| bad("national_id", e.reason))?;
        inner.cards.insert(req.card.national_id.clone(), req.card.clone());
        Ok(wire::ApplicationResponse { issued_at_ms: now_ms })
    }
}

/// The NHI's signature of a virtual-card visit (M14): the simulated key hierarchy's signature
/// under the [`SIGNER_ID`] key, the same form the upload checker verifies for a cloud SAM.
pub fn signature(
    card_number: &str,
    visit_datetime: &str,
    sequence: &str,
    institution: &str,
    visit_code: &str,
) -> String {
    let keys = nhi_reader_sim::keys::KeyHierarchy::simulated();
    nhi_reader_sim::keys::visit_signature(
        &keys.sam_key(SIGNER_ID),
        &VisitSignRequest {
            session: String::new(),
            card_proof: [0; 32],
            card_number: card_number.into(),
            visit_datetime: visit_datetime.into(),
            sequence_number: sequence.into(),
            institution: institution.into(),
            visit_code: visit_code.into(),
            card_mac: [0; 32],
        },
    )
}

#[cfg(test)]
mod tests;
