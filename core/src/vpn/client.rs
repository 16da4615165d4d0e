//! The HTTPS client of the NHI VPN services: pinned TLS, signed requests, typed errors.

use super::binding::BindingQr;
use super::error::{EnrolmentError, NetworkKind, VpnError};
use super::pinning::{self, PinnedVerifier};
use super::secrets::SecretStore;
use super::signing::{self, DeviceKey};
use super::wire::{self, routes};
use crate::card::sam::{SamAuthority, SamChallenge, SamError, VisitSignRequest, VisitSignature};
use crate::model::NationalId;
use crate::platform::{Clock, SystemClock};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Key under which the enrolment is kept in the [`SecretStore`].
pub const ENROLMENT_KEY: &str = "enrolment";

/// What a device keeps after enrolment (sealed at rest: it holds the private key).
#[derive(Clone, Serialize, Deserialize)]
pub struct Enrolment {
    /// Base URL of the VPN services.
    pub endpoint: String,
    /// SHA-256 of the pinned server certificate, hex.
    pub cert_sha256: String,
    /// SHA-256 of the backup pin (the server's next certificate), hex; absent in enrolments kept
    /// before backup pins existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_cert_sha256: Option<String>,
    /// The institution the device is bound to.
    pub institution_code: String,
    /// The device id the server gave.
    pub device_id: String,
    /// The institution's cloud SAM id (M01).
    pub sam_id: String,
    /// The device key, PKCS#8, base64.
    pub device_key_pkcs8: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolment")
            .field("endpoint", &self.endpoint)
            .field("institution_code", &self.institution_code)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

/// Client settings.
#[derive(Clone)]
pub struct ClientOptions {
    /// Whole-request timeout (connect, send, answer).
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// The clock that stamps signed requests.
    pub clock: Arc<dyn Clock>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// Bytes this client put on and took off the wire (HTTP/1.1 request and response heads and
/// bodies, as serialised; TLS overhead not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireStats {
    /// Requests sent.
    pub requests: u64,
    /// Request bytes (request line, headers, body).
    pub sent_bytes: u64,
    /// Response bytes (status line, headers, body).
    pub received_bytes: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
}

/// The plumbing shared by an enrolled and a not-yet-enrolled client.
struct Transport {
    http: reqwest::Client,
    verifier: Arc<PinnedVerifier>,
    base: String,
    host_len: usize,
    counters: Counters,
}

struct Answer {
    status: u16,
    json: bool,
    body: Vec<u8>,
}

fn network(e: &reqwest::Error) -> VpnError {
    let kind = if e.is_timeout() {
        NetworkKind::Timeout
    } else if e.is_connect() {
        NetworkKind::Connect
    } else {
        NetworkKind::Dropped
    };
    // reqwest errors name the URL (no patient data: IDs never go in a URL).
    let mut detail = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        src = s.source();
    }
    VpnError::Network { kind, detail }
}

impl Transport {
    fn new(
        endpoint: &str,
        cert_sha256: [u8; 32],
        backup: Option<[u8; 32]>,
        options: &ClientOptions,
    ) -> Result<Self, VpnError> {
        let verifier = PinnedVerifier::with_backup(cert_sha256, backup);
        let tls = pinning::client_config(verifier.clone()).map_err(|e| VpnError::InvalidRequest {
            reason: format!("TLS set-up failed: {e}"),
        })?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .http1_only()
            .no_proxy()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| VpnError::InvalidRequest {
                reason: format!("HTTP client set-up failed: {e}"),
            })?;
        let base = endpoint.trim_end_matches('/').to_string();
        let host_len = base.trim_start_matches("https://").len();
        Ok(Self {
            http,
            verifier,
            base,
            host_len,
            counters: Counters::default(),
        })
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&'static str, String)],
        content_type: Option<&'static str>,
        body: Vec<u8>,
    ) -> Result<Answer, VpnError> {
        let url = format!("{}{}", self.base, path);
        // Request line + Host + the headers we add + what reqwest adds (accept, content-length).
        let mut sent = method.as_str().len() + path.len() + 12 + 8 + self.host_len + 2 + 13;
        let mut req = self.http.request(method, &url).header("accept", "*/*");
        for (k, v) in headers {
            sent += k.len() + v.len() + 4;
            req = req.header(*k, v);
        }
        if let Some(ct) = content_type {
            sent += 16 + ct.len();
            req = req.header("content-type", ct);
        }
        sent += 20 + body.len() + 2;
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.counters.sent.fetch_add(sent as u64, Ordering::Relaxed);
        let resp = match req.body(body).send().await {
            Ok(r) => r,
            Err(e) => {
                if self.verifier.take_mismatch() {
                    return Err(VpnError::CertificateMismatch);
                }
                return Err(network(&e));
            }
        };
        let status = resp.status().as_u16();
        let head: usize = 17
            + resp
                .headers()
                .iter()
                .map(|(k, v)| k.as_str().len() + v.len() + 4)
                .sum::<usize>()
            + 2;
        let json = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let body = resp.bytes().await.map_err(|e| network(&e))?.to_vec();
        self.counters
            .received
            .fetch_add((head + body.len()) as u64, Ordering::Relaxed);
        Ok(Answer { status, json, body })
    }

    fn stats(&self) -> WireStats {
        WireStats {
            requests: self.counters.requests.load(Ordering::Relaxed),
            sent_bytes: self.counters.sent.load(Ordering::Relaxed),
            received_bytes: self.counters.received.load(Ordering::Relaxed),
        }
    }
}

/// A SHA-256 fingerprint from its hex form.
fn parse_pin(hex_text: &str) -> Option<[u8; 32]> {
    hex::decode(hex_text).ok().and_then(|b| b.try_into().ok())
}

/// Turns an answer into `T`, or the typed error it carries.
fn decode<T: DeserializeOwned>(answer: Answer) -> Result<T, VpnError> {
    if (200..300).contains(&answer.status) {
        if !answer.json {
            return Err(VpnError::BadResponse {
                reason: "wrong content type (expected application/json)".into(),
            });
        }
        return serde_json::from_slice(&answer.body).map_err(|e| VpnError::BadResponse {
            reason: if e.is_eof() {
                "the answer was cut short".into()
            } else {
                format!("the answer is not the expected JSON ({:?})", e.classify())
            },
        });
    }
    if answer.status >= 500 {
        return Err(VpnError::Server {
            status: answer.status,
        });
    }
    let parsed: Option<wire::ErrorBody> = answer
        .json
        .then(|| serde_json::from_slice(&answer.body).ok())
        .flatten();
    let Some(err) = parsed else {
        return Err(VpnError::Server {
            status: answer.status,
        });
    };
    Err(match err.error.as_str() {
        "wrong_pin" => EnrolmentError::WrongPin {
            remaining: err.remaining.unwrap_or(0),
        }
        .into(),
        "token_expired" => EnrolmentError::TokenExpired.into(),
        "token_locked" => EnrolmentError::TokenLocked.into(),
        "token_used" => EnrolmentError::TokenUsed.into(),
        "token_unknown" => EnrolmentError::TokenUnknown.into(),
        _ => VpnError::Rejected {
            code: err.error,
            reason: err.message,
            field: err.field,
        },
    })
}

/// Reads a server answer as every client call does: `T` from a 2xx JSON body, otherwise the typed
/// error the answer carries. The HTTP-free entry of the response parsing, for the fuzz targets.
pub fn decode_answer<T: DeserializeOwned>(status: u16, json: bool, body: &[u8]) -> Result<T, VpnError> {
    decode(Answer {
        status,
        json,
        body: body.to_vec(),
    })
}

/// An enrolled device's client of the VPN services. Cheap to share behind an `Arc`; keeps its
/// connections alive between calls.
pub struct VpnClient {
    transport: Transport,
    enrolment: Enrolment,
    key: DeviceKey,
    clock: Arc<dyn Clock>,
    /// Learnt offset of the server's clock over ours, in ms (from `clock_skew` answers).
    skew_ms: AtomicI64,
}

impl std::fmt::Debug for VpnClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VpnClient")
            .field("enrolment", &self.enrolment)
            .finish_non_exhaustive()
    }
}

impl VpnClient {
    /// Enrols this device: creates its key, proves the PIN shown on the institution's VPN screen,
    /// and returns the enrolled client (save it with [`VpnClient::save`]).
    pub async fn enrol(
        qr: &BindingQr,
        pin: &str,
        device_name: &str,
        options: ClientOptions,
    ) -> Result<Self, VpnError> {
        let key = DeviceKey::generate()?;
        let transport = Transport::new(&qr.endpoint, qr.cert_sha256, None, &options)?;
        let pin_proof = signing::pin_proof(pin.trim(), &qr.token, key.public_key());
        let key_proof = key.sign_b64(&signing::enrol_proof_message(
            &qr.token,
            key.public_key(),
            &pin_proof,
        ));
        let req = wire::EnrolRequest {
            token: qr.token.clone(),
            public_key: hex::encode(key.public_key()),
            pin_proof,
            key_proof,
            device_name: device_name.to_string(),
        };
        let body = serde_json::to_vec(&req).map_err(|e| VpnError::InvalidRequest {
            reason: e.to_string(),
        })?;
        let answer = transport
            .send(
                reqwest::Method::POST,
                routes::ENROL,
                &[],
                Some("application/json"),
                body,
            )
            .await?;
        let resp: wire::EnrolResponse = decode(answer)?;
        if resp.institution_code != qr.institution_code {
            return Err(VpnError::BadResponse {
                reason: "the server bound the device to another institution than the QR code names".into(),
            });
        }
        // The backup pin arrives over the channel the QR's pin authenticated.
        let backup = match resp.backup_cert_sha256.as_deref() {
            None => None,
            Some(h) => Some(parse_pin(h).ok_or_else(|| VpnError::BadResponse {
                reason: "the backup certificate pin is not a SHA-256 in hex".into(),
            })?),
        };
        let transport = match backup {
            None => transport,
            Some(b) => Transport::new(&qr.endpoint, qr.cert_sha256, Some(b), &options)?,
        };
        let enrolment = Enrolment {
            endpoint: qr.endpoint.clone(),
            cert_sha256: hex::encode(qr.cert_sha256),
            backup_cert_sha256: backup.map(hex::encode),
            institution_code: resp.institution_code,
            device_id: resp.device_id,
            sam_id: resp.sam_id,
            device_key_pkcs8: STANDARD.encode(key.pkcs8()),
        };
        Ok(Self {
            transport,
            enrolment,
            key,
            clock: options.clock,
            skew_ms: AtomicI64::new(0),
        })
    }

    /// A client from a kept enrolment.
    pub fn from_enrolment(enrolment: Enrolment, options: ClientOptions) -> Result<Self, VpnError> {
        let damaged = |what: &str| VpnError::Storage {
            reason: format!("the stored enrolment is damaged ({what})"),
        };
        let pin = parse_pin(&enrolment.cert_sha256).ok_or_else(|| damaged("certificate fingerprint"))?;
        let backup = match enrolment.backup_cert_sha256.as_deref() {
            None => None,
            Some(h) => Some(parse_pin(h).ok_or_else(|| damaged("backup certificate fingerprint"))?),
        };
        let pkcs8 = STANDARD
            .decode(&enrolment.device_key_pkcs8)
            .map_err(|_| damaged("device key"))?;
        let key = DeviceKey::from_pkcs8(&pkcs8)?;
        let transport = Transport::new(&enrolment.endpoint, pin, backup, &options)?;
        Ok(Self {
            transport,
            enrolment,
            key,
            clock: options.clock,
            skew_ms: AtomicI64::new(0),
        })
    }

    /// Keeps the enrolment (with the private key) in a sealed store.
    pub fn save(&self, store: &dyn SecretStore) -> Result<(), VpnError> {
        let bytes = serde_json::to_vec(&self.enrolment).map_err(|e| VpnError::Storage {
            reason: e.to_string(),
        })?;
        store.put(ENROLMENT_KEY, &bytes)
    }

    /// The client of the enrolment kept in `store`, or `None` when this device is not enrolled.
    pub fn load(store: &dyn SecretStore, options: ClientOptions) -> Result<Option<Self>, VpnError> {
        let Some(bytes) = store.get(ENROLMENT_KEY)? else {
            return Ok(None);
        };
        let enrolment: Enrolment = serde_json::from_slice(&bytes).map_err(|_| VpnError::Storage {
            reason: "the stored enrolment is damaged".into(),
        })?;
        Self::from_enrolment(enrolment, options).map(Some)
    }

    /// The enrolment this client works under.
    pub fn enrolment(&self) -> &Enrolment {
        &self.enrolment
    }

    /// The device's signing key (also signs prescription QR codes).
    pub fn device_key(&self) -> &DeviceKey {
        &self.key
    }

    /// Bytes sent and received so far.
    pub fn wire_stats(&self) -> WireStats {
        self.transport.stats()
    }

    /// The server's clock offset learnt from a `clock_skew` answer, in ms.
    pub fn learnt_skew_ms(&self) -> i64 {
        self.skew_ms.load(Ordering::SeqCst)
    }

    async fn signed(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&'static str>,
        body: Vec<u8>,
        extra: Option<(&'static str, String)>,
    ) -> Result<Answer, VpnError> {
        let ts = self.clock.now_unix_ms() + self.skew_ms.load(Ordering::SeqCst);
        let mut nonce = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce).map_err(|_| {
            VpnError::InvalidRequest {
                reason: "no system randomness".into(),
            }
        })?;
        let nonce = hex::encode(nonce);
        let mut headers: Vec<(&'static str, String)> = self
            .key
            .sign_request(
                method.as_str(),
                path,
                &self.enrolment.device_id,
                ts,
                &nonce,
                &body,
            )
            .into_iter()
            .collect();
        headers.extend(extra);
        let answer = self
            .transport
            .send(method, path, &headers, content_type, body)
            .await?;
        if answer.status == 401
            && answer.json
            && let Ok(err) = serde_json::from_slice::<wire::ErrorBody>(&answer.body)
            && err.error == "clock_skew"
            && let Some(server) = err.server_time_ms
        {
            let ahead = server - self.clock.now_unix_ms();
            self.skew_ms.store(ahead, Ordering::SeqCst);
            return Err(VpnError::ClockSkew {
                server_ahead_ms: ahead,
            });
        }
        Ok(answer)
    }

    async fn post_json<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        req: &Req,
    ) -> Result<Resp, VpnError> {
        let body = serde_json::to_vec(req).map_err(|e| VpnError::InvalidRequest {
            reason: e.to_string(),
        })?;
        decode(
            self.signed(reqwest::Method::POST, path, Some("application/json"), body, None)
                .await?,
        )
    }

    async fn get_json<Resp: DeserializeOwned>(&self, path: &str) -> Result<Resp, VpnError> {
        decode(
            self.signed(reqwest::Method::GET, path, None, Vec::new(), None)
                .await?,
        )
    }

    /// Uploads a batch of card data in format 2.0 (Big5 XML, see `upload_xml`). The server answers
    /// per record; the same `idempotency_key` sent again returns the first answer and stores
    /// nothing twice (and each visit is stored once per visit identification code anyway).
    pub async fn upload_batch(
        &self,
        xml_big5: &[u8],
        idempotency_key: &str,
    ) -> Result<wire::UploadResponse, VpnError> {
        self.upload_to(routes::UPLOAD, xml_big5, idempotency_key).await
    }

    /// Uploads corrections (by visit identification code) of records the server already holds.
    pub async fn upload_corrections(
        &self,
        xml_big5: &[u8],
        idempotency_key: &str,
    ) -> Result<wire::UploadResponse, VpnError> {
        self.upload_to(routes::CORRECTIONS, xml_big5, idempotency_key)
            .await
    }

    async fn upload_to(
        &self,
        path: &str,
        xml: &[u8],
        idempotency_key: &str,
    ) -> Result<wire::UploadResponse, VpnError> {
        if idempotency_key.is_empty()
            || idempotency_key.len() > 64
            || !idempotency_key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(VpnError::InvalidRequest {
                reason: "idempotency key must be 1-64 of A-Z a-z 0-9 -".into(),
            });
        }
        let answer = self
            .signed(
                reqwest::Method::POST,
                path,
                Some("application/xml"),
                xml.to_vec(),
                Some((routes::IDEMPOTENCY, idempotency_key.to_string())),
            )
            .await?;
        decode(answer)
    }

    /// The upload-result query of a batch: counts and invalid rows with reasons.
    pub async fn query_upload_result(&self, batch_id: &str) -> Result<wire::UploadResult, VpnError> {
        if batch_id.is_empty() || !batch_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(VpnError::InvalidRequest {
                reason: "batch id must be letters, digits or -".into(),
            });
        }
        self.get_json(&format!("{}{batch_id}", routes::UPLOAD_RESULT_PREFIX))
            .await
    }

    /// A patient's MediCloud record (recent medications with remaining days, labs).
    pub async fn medicloud(&self, id: &NationalId) -> Result<wire::MediCloudRecord, VpnError> {
        self.post_json(
            routes::MEDICLOUD,
            &wire::MediCloudRequest {
                national_id: id.expose().to_string(),
            },
        )
        .await
    }

    /// The institution's prescription order sets (處方套餐).
    pub async fn order_sets(&self) -> Result<Vec<wire::OrderSet>, VpnError> {
        self.get_json(routes::ORDER_SETS).await
    }

    /// The public keys of the institution's enrolled devices.
    pub async fn institution_keys(&self, institution_code: &str) -> Result<wire::DeviceKeys, VpnError> {
        if institution_code.len() != 10 || !institution_code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(VpnError::InvalidRequest {
                reason: "institution code must be 10 digits".into(),
            });
        }
        self.get_json(&format!(
            "{}{institution_code}/keys",
            routes::INSTITUTION_KEYS_PREFIX
        ))
        .await
    }

    /// A signed `POST` of JSON to any route (for routes other layers add, e.g. the pharmacy).
    pub async fn post_signed<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        req: &Req,
    ) -> Result<Resp, VpnError> {
        self.post_json(path, req).await
    }

    /// A signed `GET` of JSON from any route.
    pub async fn get_signed<Resp: DeserializeOwned>(&self, path: &str) -> Result<Resp, VpnError> {
        self.get_json(path).await
    }
}

fn sam_error(e: VpnError) -> SamError {
    match e {
        VpnError::Rejected { code, reason, .. } => match code.as_str() {
            "card_not_genuine" => SamError::CardNotGenuine,
            "not_insured" => SamError::NotInsured,
            "unknown_session" => SamError::UnknownSession,
            _ => SamError::Rejected(reason),
        },
        e if e.is_retryable() => SamError::Unreachable(e.to_string()),
        e => SamError::Rejected(e.to_string()),
    }
}

fn hex_array<const N: usize>(text: &str) -> Result<[u8; N], SamError> {
    hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| SamError::Unreachable("the cloud SAM's answer is not the expected hex".into()))
}

#[async_trait::async_trait]
impl SamAuthority for VpnClient {
    fn sam_id(&self) -> String {
        self.enrolment.sam_id.clone()
    }

    async fn begin_card_auth(
        &self,
        card_number: &str,
        card_challenge: [u8; 8],
    ) -> Result<SamChallenge, SamError> {
        let resp: wire::SamCardAuthResponse = self
            .post_json(
                routes::SAM_CARD_AUTH,
                &wire::SamCardAuthRequest {
                    card_number: card_number.to_string(),
                    card_challenge: hex::encode(card_challenge),
                },
            )
            .await
            .map_err(sam_error)?;
        Ok(SamChallenge {
            session: resp.session,
            sam_challenge: hex_array(&resp.sam_challenge)?,
            sam_proof: hex_array(&resp.sam_proof)?,
        })
    }

    async fn verify_card(&self, session: &str, card_proof: [u8; 32]) -> Result<(), SamError> {
        let _: wire::Done = self
            .post_json(
                routes::SAM_VERIFY,
                &wire::SamVerifyRequest {
                    session: session.to_string(),
                    card_proof: hex::encode(card_proof),
                },
            )
            .await
            .map_err(sam_error)?;
        Ok(())
    }

    async fn sign_visit(&self, request: &VisitSignRequest) -> Result<VisitSignature, SamError> {
        let resp: wire::SamSignResponse = self
            .post_json(
                routes::SAM_SIGN,
                &wire::SamSignRequest {
                    session: request.session.clone(),
                    card_proof: hex::encode(request.card_proof),
                    card_number: request.card_number.clone(),
                    visit_datetime: request.visit_datetime.clone(),
                    sequence_number: request.sequence_number.clone(),
                    institution: request.institution.clone(),
                    visit_code: request.visit_code.clone(),
                    card_mac: hex::encode(request.card_mac),
                },
            )
            .await
            .map_err(sam_error)?;
        if resp.signature_hex.len() != 256 || !resp.signature_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SamError::Unreachable(
                "the cloud SAM's signature is not 256 hex characters".into(),
            ));
        }
        Ok(VisitSignature {
            signature_hex: resp.signature_hex,
            sam_id: resp.sam_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, json: bool, body: &[u8]) -> Answer {
        Answer {
            status,
            json,
            body: body.to_vec(),
        }
    }

    #[test]
    fn answers_map_to_typed_errors() {
        let ok = br#"{"b":"B1","r":[{"c":"X","s":"ok"}]}"#;
        assert!(decode::<wire::UploadResponse>(answer(200, true, ok)).is_ok());
        let half = &ok[..ok.len() / 2];
        assert!(matches!(
            decode::<wire::UploadResponse>(answer(200, true, half)),
            Err(VpnError::BadResponse { ref reason }) if reason.contains("cut short")
        ));
        assert!(matches!(
            decode::<wire::UploadResponse>(answer(200, false, ok)),
            Err(VpnError::BadResponse { ref reason }) if reason.contains("content type")
        ));
        assert_eq!(
            decode::<wire::UploadResponse>(answer(502, false, b"<html>")),
            Err(VpnError::Server { status: 502 })
        );
        assert_eq!(
            decode::<wire::UploadResponse>(answer(404, false, b"")),
            Err(VpnError::Server { status: 404 })
        );
        let wrong_pin = br#"{"error":"wrong_pin","message":"m","remaining":1}"#;
        assert_eq!(
            decode::<wire::EnrolResponse>(answer(403, true, wrong_pin)),
            Err(EnrolmentError::WrongPin { remaining: 1 }.into())
        );
        let malformed = br#"{"error":"malformed_batch","message":"REC 1 has no MSH"}"#;
        assert!(matches!(
            decode::<wire::UploadResponse>(answer(400, true, malformed)),
            Err(VpnError::Rejected { ref code, .. }) if code == "malformed_batch"
        ));
    }

    proptest::proptest! {
        #[test]
        fn garbage_bodies_never_panic(status in 100u16..600, json: bool, body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = decode::<wire::UploadResponse>(answer(status, json, &body));
            let _ = decode::<wire::MediCloudRecord>(answer(status, json, &body));
        }
    }
}
