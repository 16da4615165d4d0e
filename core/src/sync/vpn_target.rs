//! The NHI VPN client as the engine's [`UploadTarget`]: card-upload jobs (frozen 2.0 `REC`s) go
//! out as one 2.0 batch with an idempotency key derived from the jobs' keys; the server's
//! per-record answers become per-job results; every client error is sorted into network / server
//! / record. Prescription registrations (`rx_registration`, see [`crate::rx::outbox`]) go one by
//! one to the pharmacy service's registration route as signed device requests; the service keeps
//! one prescription per visit identification code and answers a resend of the same QR as
//! registered, so a retried registration is recorded once. Corrections (`visit_correction`) go
//! to the corrections route. A record is done only when the server's answer carries the digest
//! of the content sent (`rules::correction`); a `Duplicate` of other content is parked as a
//! conflict ([`CONFLICT_CODE`]), never counted as accepted.

use super::job::FieldError;
use super::store_outbox::visit_code_of_record;
use super::target::{ItemOutcome, ItemResult, UploadError, UploadItem, UploadTarget};
use crate::rules::correction;
use crate::rx::outbox as rx_outbox;
use crate::rx::pharmacy::wire as rx_wire;
use crate::vpn::{FailureClass as VpnClass, VpnClient, VpnError, upload_xml, wire};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Uploads through a [`VpnClient`]; keeps the batch ids for the upload-result query.
#[derive(Debug)]
pub struct VpnTarget {
    client: Arc<VpnClient>,
    batches: Mutex<Vec<String>>,
}

impl VpnTarget {
    /// A target over an enrolled client.
    pub fn new(client: Arc<VpnClient>) -> Self {
        Self {
            client,
            batches: Mutex::new(Vec::new()),
        }
    }

    /// The client.
    pub fn client(&self) -> &Arc<VpnClient> {
        &self.client
    }

    /// Ids of the batches the server answered, in order (for the upload-result query).
    pub fn batch_ids(&self) -> Vec<String> {
        self.batches.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

/// The batch's idempotency key: the same jobs always give the same key, so a resent batch is
/// answered from the server's memory; any other composition gives another key (and the server
/// still stores each visit identification code once).
pub fn batch_key(items: &[UploadItem]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for i in items {
        ctx.update(i.idempotency_key.as_bytes());
        ctx.update(b"\n");
    }
    format!("b-{}", hex::encode(&ctx.finish().as_ref()[..20]))
}

/// Sorts a client error for the engine.
pub fn classify(e: &VpnError) -> UploadError {
    match (e, e.class()) {
        (VpnError::Rejected { code, reason, .. }, _) if code == "malformed_batch" => {
            UploadError::BatchRejected(reason.clone())
        }
        // Not a server failure to retry: someone else answers for the server. Stop and say so.
        (VpnError::CertificateMismatch, _) => UploadError::CertificateMismatch,
        (_, VpnClass::Network) => UploadError::Network(e.to_string()),
        // A refusal that is not about one record (signature, enrolment, certificate) is not the
        // records' fault: it is retried with backoff and shown as a server failure, never parks
        // the user's visits as rejected.
        _ => UploadError::Server(e.to_string()),
    }
}

/// Matches the server's per-record answers to the jobs by visit identification code (by position
/// when a record has no code); a job with no answer gets none (the engine retries it).
pub fn results_of(items: &[UploadItem], resp: &wire::UploadResponse) -> Vec<ItemResult> {
    let mut by_code: HashMap<&str, &wire::RecordResult> = HashMap::new();
    for r in &resp.records {
        by_code.entry(r.visit_code.as_str()).or_insert(r);
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let code = if item.visit_code.is_empty() {
            visit_code_of_record(&item.payload).unwrap_or_default()
        } else {
            item.visit_code.clone()
        };
        // By position when the answer there is about this code (a visit's record and its
        // cancellation share a code), else by code.
        let at_position = resp.records.get(i).filter(|r| r.visit_code == code);
        let record = if code.is_empty() {
            at_position
        } else {
            at_position.or_else(|| by_code.get(code.as_str()).copied())
        };
        let Some(r) = record else { continue };
        let expected = correction::expected_digest(&item.payload);
        let same_content = expected.is_some() && r.digest == expected;
        let outcome = match r.status {
            // Done only when the server acknowledged *this* content.
            wire::RecordStatus::Accepted | wire::RecordStatus::Corrected if same_content => {
                ItemOutcome::Accepted {
                    ack: format!("{}:{:?}", resp.batch_id, r.status),
                }
            }
            wire::RecordStatus::Accepted | wire::RecordStatus::Corrected => ItemOutcome::Retry {
                reason: "the server acknowledged other content than the record sent".into(),
            },
            // A retry of what the server holds: done.
            wire::RecordStatus::Duplicate if same_content => ItemOutcome::Accepted {
                ack: format!("{}:{:?}", resp.batch_id, r.status),
            },
            // The server holds other content under this visit code: never a success.
            wire::RecordStatus::Duplicate => conflict(),
            wire::RecordStatus::Rejected => {
                let reason = r
                    .reason
                    .clone()
                    .unwrap_or_else(|| "rejected by the NHI checker".into());
                ItemOutcome::Rejected {
                    fields: r
                        .field
                        .iter()
                        .map(|f| FieldError {
                            field: f.clone(),
                            message: reason.clone(),
                        })
                        .collect(),
                    reason,
                }
            }
        };
        out.push(ItemResult {
            job_id: item.job_id.clone(),
            outcome,
        });
    }
    out
}

/// The stable code opening the reason of a job parked because the server holds other content
/// under its visit identification code (a `Duplicate` of different content).
pub const CONFLICT_CODE: &str = "duplicate_conflict";

/// The verdict on a `Duplicate` of different content: parked for the user, field M15.
fn conflict() -> ItemOutcome {
    let message = "the NHI holds other content under this visit identification code".to_string();
    ItemOutcome::Rejected {
        reason: format!("{CONFLICT_CODE}: {message}; send a correction"),
        fields: vec![FieldError {
            field: "M15".into(),
            message,
        }],
    }
}

/// Whether a rejection reason is a duplicate conflict ([`CONFLICT_CODE`]).
pub fn is_conflict(reason: &str) -> bool {
    reason.starts_with(CONFLICT_CODE)
}

/// The pharmacy service's registration route, as the device posts it.
pub fn registration_path() -> String {
    format!("{}/prescriptions", rx_wire::API)
}

/// What the pharmacy service answers to a registration.
#[derive(serde::Deserialize)]
struct Registered {
    visit_code: String,
}

/// The verdict on one registration, or a failure of the request as a whole (network / server).
pub fn registration_result(
    item: &UploadItem,
    answer: Result<String, VpnError>,
) -> Result<ItemOutcome, UploadError> {
    match answer {
        Ok(code) if item.visit_code.is_empty() || code == item.visit_code => Ok(ItemOutcome::Accepted {
            ack: format!("rx:{code}"),
        }),
        // An answer about another visit cannot be trusted: garbage, sent again later.
        Ok(_) => Err(UploadError::Server(
            "the pharmacy service answered for another visit".into(),
        )),
        Err(e) => item_refusal("prescription registration", e),
    }
}

/// The verdict on one item sent on its own (a prescription registration, a referral round) when
/// the server did not accept it: a refusal of the record parks the job with its field and reason
/// (`what` names the record); anything else fails the request as [`classify`] says — a
/// certificate mismatch stops the drain, the network or the server is retried.
pub fn item_refusal(what: &str, e: VpnError) -> Result<ItemOutcome, UploadError> {
    match e {
        VpnError::Rejected { code, reason, field } if code != "clock_skew" => Ok(ItemOutcome::Rejected {
            fields: field
                .map(|f| FieldError {
                    field: f,
                    message: reason.clone(),
                })
                .into_iter()
                .collect(),
            reason: format!("{what} refused ({code}): {reason}"),
        }),
        e => Err(classify(&e)),
    }
}

impl VpnTarget {
    async fn upload_cards(&self, items: &[UploadItem]) -> Result<Vec<ItemResult>, UploadError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (fixes, news): (Vec<UploadItem>, Vec<UploadItem>) = items
            .iter()
            .cloned()
            .partition(|i| i.kind == crate::sync::JobKind::VisitCorrection.as_str());
        if !fixes.is_empty() && !news.is_empty() {
            // New records first (a correction may follow its own record in the same drain).
            let mut out = self.upload_route(&news, false).await?;
            match self.upload_route(&fixes, true).await {
                Ok(r) => out.extend(r),
                Err(e) => out.extend(fixes.iter().map(|i| ItemResult {
                    job_id: i.job_id.clone(),
                    outcome: ItemOutcome::Retry {
                        reason: e.to_string(),
                    },
                })),
            }
            return Ok(out);
        }
        self.upload_route(items, !fixes.is_empty()).await
    }

    /// One batch to the upload route, or to the corrections route.
    async fn upload_route(
        &self,
        items: &[UploadItem],
        corrections: bool,
    ) -> Result<Vec<ItemResult>, UploadError> {
        let records: Vec<&[u8]> = items.iter().map(|i| i.payload.as_slice()).collect();
        let xml = upload_xml::wrap_batch(&records);
        let key = batch_key(items);
        let resp = if corrections {
            self.client.upload_corrections(&xml, &key).await
        } else {
            self.client.upload_batch(&xml, &key).await
        }
        .map_err(|e| classify(&e))?;
        if let Ok(mut b) = self.batches.lock() {
            b.push(resp.batch_id.clone());
        }
        Ok(results_of(items, &resp))
    }

    /// Registers one prescription from its frozen payload.
    async fn register(&self, item: &UploadItem) -> Result<ItemOutcome, UploadError> {
        let registration = match rx_outbox::parse_payload(&item.payload) {
            Ok(r) => r,
            Err(e) => {
                return Ok(ItemOutcome::Rejected {
                    reason: e.to_string(),
                    fields: Vec::new(),
                });
            }
        };
        let answer = self
            .client
            .post_signed::<_, Registered>(&registration_path(), &registration)
            .await
            .map(|r| r.visit_code);
        registration_result(item, answer)
    }
}

#[async_trait]
impl UploadTarget for VpnTarget {
    async fn upload(&self, items: &[UploadItem]) -> Result<Vec<ItemResult>, UploadError> {
        // Referral jobs go one by one to the e-referral routes (`crate::referral::outbox`), team
        // writes to the shared record's (`crate::team::outbox`), HMIC jobs to the case service's
        // (`crate::hmic::outbox`).
        let (referrals, items): (Vec<UploadItem>, Vec<UploadItem>) = items.iter().cloned().partition(|i| {
            crate::referral::outbox::is_referral(&i.kind)
                || crate::team::outbox::is_team(&i.kind)
                || crate::hmic::outbox::is_hmic(&i.kind)
        });
        if referrals.is_empty() {
            return self.upload_visit_jobs(&items).await;
        }
        let mut out = Vec::with_capacity(referrals.len() + items.len());
        let mut first_error = None;
        for item in &referrals {
            let sent = if crate::team::outbox::is_team(&item.kind) {
                crate::team::outbox::send(&self.client, item).await
            } else if crate::hmic::outbox::is_hmic(&item.kind) {
                crate::hmic::outbox::send(&self.client, item).await
            } else {
                crate::referral::outbox::send(&self.client, item).await
            };
            let outcome = match sent {
                Ok(o) => o,
                Err(e) => {
                    let reason = e.to_string();
                    first_error.get_or_insert(e);
                    ItemOutcome::Retry { reason }
                }
            };
            out.push(ItemResult {
                job_id: item.job_id.clone(),
                outcome,
            });
        }
        if items.is_empty() {
            // Nothing settled: the failure is the batch's, with its class.
            return match first_error {
                Some(e) if out.iter().all(|r| matches!(r.outcome, ItemOutcome::Retry { .. })) => Err(e),
                _ => Ok(out),
            };
        }
        match self.upload_visit_jobs(&items).await {
            Ok(r) => out.extend(r),
            Err(e) => out.extend(items.iter().map(|i| ItemResult {
                job_id: i.job_id.clone(),
                outcome: ItemOutcome::Retry {
                    reason: e.to_string(),
                },
            })),
        }
        Ok(out)
    }
}

impl VpnTarget {
    /// Card uploads and prescription registrations.
    async fn upload_visit_jobs(&self, items: &[UploadItem]) -> Result<Vec<ItemResult>, UploadError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (rx, cards): (Vec<UploadItem>, Vec<UploadItem>) = items
            .iter()
            .cloned()
            .partition(|i| rx_outbox::is_registration(&i.kind));
        let mut out = match self.upload_cards(&cards).await {
            Ok(r) => r,
            // Nothing else to say, a batch to isolate, or no network (the registrations would
            // fail alike): the batch as a whole.
            Err(e) if rx.is_empty() || !matches!(e, UploadError::Server(_)) => return Err(e),
            Err(e) => cards
                .iter()
                .map(|i| ItemResult {
                    job_id: i.job_id.clone(),
                    outcome: ItemOutcome::Retry {
                        reason: e.to_string(),
                    },
                })
                .collect(),
        };
        for (n, item) in rx.iter().enumerate() {
            match self.register(item).await {
                Ok(outcome) => out.push(ItemResult {
                    job_id: item.job_id.clone(),
                    outcome,
                }),
                // Nothing settled yet: the failure is the batch's, with its class.
                Err(e) if out.iter().all(|r| matches!(r.outcome, ItemOutcome::Retry { .. })) => {
                    return Err(e);
                }
                // Some jobs are settled: keep their verdicts; this one and the rest wait.
                Err(e) => {
                    out.extend(rx[n..].iter().map(|i| ItemResult {
                        job_id: i.job_id.clone(),
                        outcome: ItemOutcome::Retry {
                            reason: e.to_string(),
                        },
                    }));
                    break;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vpn::NetworkKind;

    fn item(n: usize, code: &str) -> UploadItem {
        UploadItem {
            job_id: format!("j{n}"),
            kind: "card_upload".into(),
            visit_code: code.into(),
            idempotency_key: format!("k{n}"),
            payload: rec(code, "I10"),
        }
    }

    fn rec(code: &str, dx: &str) -> Vec<u8> {
        format!("<REC><MSH><H00>1</H00><H01>A</H01></MSH><MB><MB1><M15>{code}</M15><M35>{dx}</M35></MB1></MB></REC>")
            .into_bytes()
    }

    fn answer(code: &str, status: wire::RecordStatus, digest_of: Option<&[u8]>) -> wire::RecordResult {
        wire::RecordResult {
            visit_code: code.into(),
            status,
            field: None,
            reason: None,
            digest: digest_of.and_then(correction::expected_digest),
        }
    }

    #[test]
    fn a_record_is_done_only_when_the_server_acknowledged_that_content() {
        let a = "AAAAAAAAAAAAAAAAAAAA";
        let items = [item(1, a)];
        let mine = rec(a, "I10");
        let other = rec(a, "E119");
        let verdict = |status, digest: Option<&[u8]>| {
            let resp = wire::UploadResponse {
                batch_id: "B".into(),
                records: vec![answer(a, status, digest)],
            };
            results_of(&items, &resp).remove(0).outcome
        };
        use wire::RecordStatus::*;
        assert!(matches!(
            verdict(Accepted, Some(&mine)),
            ItemOutcome::Accepted { .. }
        ));
        assert!(matches!(
            verdict(Corrected, Some(&mine)),
            ItemOutcome::Accepted { .. }
        ));
        assert!(matches!(
            verdict(Duplicate, Some(&mine)),
            ItemOutcome::Accepted { .. }
        ));
        // No digest, or another content's: not done.
        assert!(matches!(verdict(Accepted, None), ItemOutcome::Retry { .. }));
        assert!(matches!(
            verdict(Corrected, Some(&other)),
            ItemOutcome::Retry { .. }
        ));
    }

    #[test]
    fn a_duplicate_of_different_content_is_a_conflict_never_a_success() {
        let a = "AAAAAAAAAAAAAAAAAAAA";
        let items = [item(1, a)];
        for digest in [Some(rec(a, "E119")), None] {
            let resp = wire::UploadResponse {
                batch_id: "B".into(),
                records: vec![answer(a, wire::RecordStatus::Duplicate, digest.as_deref())],
            };
            match &results_of(&items, &resp)[0].outcome {
                ItemOutcome::Rejected { reason, fields } => {
                    assert!(is_conflict(reason), "{reason}");
                    assert_eq!(fields[0].field, "M15");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn answers_are_matched_per_record_and_missing_ones_left_for_retry() {
        let a = "AAAAAAAAAAAAAAAAAAAA";
        let b = "BBBBBBBBBBBBBBBBBBBB";
        let c = "CCCCCCCCCCCCCCCCCCCC";
        let items = [item(1, a), item(2, b), item(3, c)];
        let resp = wire::UploadResponse {
            batch_id: "B1".into(),
            records: vec![
                // Out of order on purpose; c has no answer.
                wire::RecordResult {
                    visit_code: b.into(),
                    status: wire::RecordStatus::Rejected,
                    field: Some("M13".into()),
                    reason: Some("sequence number out of range".into()),
                    digest: None,
                },
                answer(a, wire::RecordStatus::Duplicate, Some(&rec(a, "I10"))),
            ],
        };
        let r = results_of(&items, &resp);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].job_id, "j1");
        assert!(matches!(&r[0].outcome, ItemOutcome::Accepted { ack } if ack.starts_with("B1:")));
        match &r[1].outcome {
            ItemOutcome::Rejected { reason, fields } => {
                assert!(reason.contains("out of range"));
                assert_eq!(fields[0].field, "M13");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn client_errors_are_sorted() {
        let net = VpnError::Network {
            kind: NetworkKind::Dropped,
            detail: "reset".into(),
        };
        assert!(matches!(classify(&net), UploadError::Network(_)));
        assert!(matches!(
            classify(&VpnError::Server { status: 503 }),
            UploadError::Server(_)
        ));
        let garbage = VpnError::BadResponse {
            reason: "half a body".into(),
        };
        assert!(matches!(classify(&garbage), UploadError::Server(_)));
        let malformed = VpnError::Rejected {
            code: "malformed_batch".into(),
            reason: "RECS not closed".into(),
            field: None,
        };
        assert!(matches!(classify(&malformed), UploadError::BatchRejected(r) if r.contains("RECS")));
        let sig = VpnError::Rejected {
            code: "bad_signature".into(),
            reason: "x".into(),
            field: None,
        };
        assert!(matches!(classify(&sig), UploadError::Server(_)));
    }

    #[test]
    fn registration_answers_become_done_retry_or_rejected() {
        let code = "AAAAAAAAAAAAAAAAAAAA";
        let mut rx = item(1, code);
        rx.kind = "rx_registration".into();
        // Registered now or before (the service answers a resent QR as registered): done.
        assert!(matches!(
            registration_result(&rx, Ok(code.into())),
            Ok(ItemOutcome::Accepted { ack }) if ack == format!("rx:{code}")
        ));
        // An answer about another visit is garbage: retried.
        assert!(matches!(
            registration_result(&rx, Ok("BBBBBBBBBBBBBBBBBBBB".into())),
            Err(UploadError::Server(_))
        ));
        let refused = VpnError::Rejected {
            code: "refused".into(),
            reason: "another prescription is registered for this visit".into(),
            field: None,
        };
        match registration_result(&rx, Err(refused)) {
            Ok(ItemOutcome::Rejected { reason, fields }) => {
                assert!(reason.contains("another prescription"), "{reason}");
                assert!(fields.is_empty());
            }
            other => panic!("{other:?}"),
        }
        let net = VpnError::Network {
            kind: NetworkKind::Timeout,
            detail: "timed out".into(),
        };
        assert!(matches!(
            registration_result(&rx, Err(net)),
            Err(UploadError::Network(_))
        ));
        assert!(matches!(
            registration_result(&rx, Err(VpnError::Server { status: 500 })),
            Err(UploadError::Server(_))
        ));
        let half = VpnError::BadResponse {
            reason: "the answer was cut short".into(),
        };
        assert!(matches!(
            registration_result(&rx, Err(half)),
            Err(UploadError::Server(_))
        ));
        assert_eq!(registration_path(), "/pharmacy/api/prescriptions");
    }

    #[test]
    fn batch_keys_are_stable_per_composition_and_valid_for_the_client() {
        let a = [item(1, "A"), item(2, "B")];
        let b = [item(2, "B"), item(1, "A")];
        assert_eq!(batch_key(&a), batch_key(&a));
        assert_ne!(batch_key(&a), batch_key(&b));
        let k = batch_key(&a);
        assert!(k.len() <= 64 && k.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
    }
}
