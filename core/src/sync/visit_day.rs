//! The "visit day" glue: card-upload jobs for visits, an engine over the app store and the VPN
//! client, a drain with progress events, and the NHI upload-result table; plus synthetic visits
//! for the demo, the tests and the benchmark.

use super::engine::{DrainOptions, SyncConfig, SyncEngine, SyncError};
use super::events::{DrainSummary, SyncListener};
use super::vpn_target::VpnTarget;
use crate::model::{CardBasicData, InstitutionCode, NationalId, Order, RocDateTime, Sex, Visit};
use crate::platform::{Clock, Connectivity};
use crate::rules::visit_code::{VisitCodeGenerator, VisitCodeInput};
use crate::store::{self, Store};
use crate::vpn::{VpnClient, VpnError, upload_xml, wire};
use chrono::TimeZone;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The card-upload job of one visit version: its frozen 2.0 record, keyed by visit code and
/// version so a retry is recorded once and a correction is a new version.
pub fn card_upload_job(visit: &Visit, version: i64) -> Result<store::NewJob, VpnError> {
    Ok(store::NewJob::new(
        store::JobKind::CardUpload,
        format!("cu-{}-v{version}", visit.visit_code),
        upload_xml::record_big5(visit)?,
    ))
}

/// Why the "visit day" drain failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum VisitDayError {
    /// The outbox failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The upload-result query failed.
    #[error("upload result query: {0}")]
    Query(#[from] VpnError),
}

/// One invalid row of the upload-result table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidRowView {
    /// The batch it came in.
    pub batch_id: String,
    /// Visit identification code.
    pub visit_code: String,
    /// The field at fault (e.g. `M13`).
    pub field: String,
    /// The checker's reason.
    pub reason: String,
}

/// The NHI upload-result table (上傳結果查詢) over the batches of a drain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadResultTable {
    /// Per batch: id, received, valid, invalid.
    pub batches: Vec<(String, u32, u32, u32)>,
    /// Records received in all.
    pub received: u32,
    /// Valid (accepted, duplicate or corrected).
    pub valid: u32,
    /// Invalid.
    pub invalid: u32,
    /// The invalid rows with reasons.
    pub invalid_rows: Vec<InvalidRowView>,
}

impl UploadResultTable {
    /// Adds one batch's result.
    pub fn add(&mut self, r: &wire::UploadResult) {
        self.batches
            .push((r.batch_id.clone(), r.received, r.valid, r.invalid));
        self.received += r.received;
        self.valid += r.valid;
        self.invalid += r.invalid;
        self.invalid_rows
            .extend(r.invalid_rows.iter().map(|row| InvalidRowView {
                batch_id: r.batch_id.clone(),
                visit_code: row.visit_code.clone(),
                field: row.field.clone(),
                reason: row.reason.clone(),
            }));
    }
}

/// What a visit day's drain did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitDayReport {
    /// The drain's counts (`complete` only when nothing is owed).
    pub summary: DrainSummary,
    /// The NHI upload-result table of the batches sent.
    pub table: UploadResultTable,
}

/// The demo's "visit day": with `store` holding queued visits and `client` enrolled with a running
/// simulator, re-queues work a crash left sending, drains the queue (events to `listener`), then
/// queries the upload result of every batch and returns the table.
pub async fn drain_visit_day(
    store: Arc<Store>,
    client: Arc<VpnClient>,
    clock: Arc<dyn Clock>,
    connectivity: Arc<dyn Connectivity>,
    listener: Arc<dyn SyncListener>,
    config: SyncConfig,
    options: DrainOptions,
) -> Result<VisitDayReport, VisitDayError> {
    let target = Arc::new(VpnTarget::new(client.clone()));
    let engine = SyncEngine::new(store, target.clone(), clock, connectivity, config);
    let _sub = engine.subscribe(listener);
    engine.start_up()?;
    let summary = engine.drain(options).await?;
    let mut table = UploadResultTable::default();
    let mut seen = std::collections::HashSet::new();
    for id in target.batch_ids() {
        if seen.insert(id.clone()) {
            table.add(&client.query_upload_result(&id).await?);
        }
    }
    Ok(VisitDayReport { summary, table })
}

/// A valid synthetic national ID for number `n` (letter A, sex digit from `n`, check digit).
pub fn synthetic_national_id(n: u64) -> NationalId {
    let sex = if n.is_multiple_of(2) { 1 } else { 2 };
    let body = format!("{sex}{:07}", n % 10_000_000);
    // Letter A = 10: contributes 1·1 + 0·9; digits weigh 8…1; the check digit closes mod 10.
    let mut sum = 1u32;
    for (i, d) in body.bytes().enumerate() {
        sum += u32::from(d - b'0') * (8 - i as u32);
    }
    let check = (10 - sum % 10) % 10;
    let text = format!("A{body}{check}");
    // The digits were just computed to satisfy the rule, so parsing cannot fail.
    crate::rules::national_id::parse(&text).unwrap_or_else(|_| unreachable!("synthetic ID is valid"))
}

/// A synthetic but checker-valid home-care visit: patient `patient`, the `n`-th visit of the day,
/// at `visited_at_ms`, with its visit identification code from `codes` (counter `n`).
pub fn synthetic_visit(
    codes: &VisitCodeGenerator,
    institution: &InstitutionCode,
    patient: u64,
    n: u64,
    visited_at_ms: i64,
) -> Result<Visit, String> {
    let national_id = synthetic_national_id(patient);
    let practitioner = synthetic_national_id(9_000_000 + (patient % 7))
        .expose()
        .to_string();
    let at = crate::model::taiwan_offset()
        .timestamp_millis_opt(visited_at_ms - visited_at_ms.rem_euclid(1000))
        .single()
        .ok_or("visit time out of range")?;
    let roc = RocDateTime::from_datetime(&at).map_err(|e| e.to_string())?;
    let code = codes
        .generate(
            n,
            &VisitCodeInput {
                person: &national_id,
                at: roc,
                institution,
            },
        )
        .map_err(|e| e.to_string())?;
    Ok(Visit {
        id: uuid::Uuid::now_v7().to_string(),
        visit_code: code.as_str().to_string(),
        patient: CardBasicData {
            card_number: format!("{:012}", 100_000_000 + patient),
            name: "居家病人".into(),
            national_id,
            birth_date: chrono::NaiveDate::from_ymd_opt(
                1940 + (patient % 40) as i32,
                1 + (patient % 12) as u32,
                5,
            )
            .ok_or("birth date")?,
            sex: if patient.is_multiple_of(2) {
                Sex::Male
            } else {
                Sex::Female
            },
            issue_date: chrono::NaiveDate::from_ymd_opt(2020, 1, 2).ok_or("issue date")?,
        },
        institution: institution.clone(),
        practitioner_id: practitioner,
        visit_type: "01".into(),
        sequence_number: format!("{:04}", 1 + n % 1500),
        visited_at: at,
        diagnoses: vec!["I10".into(), "E119".into()],
        note: "home visit".into(),
        orders: vec![Order::treatment("05307C", 1.0)],
        security_signature: None,
        sam_id: None,
        abnormal_reason: None,
        card_written: false,
        fee_points: Some(1631),
        copayment_points: Some(0),
        context: Default::default(),
    })
}

/// Captures a visit into the store with its card-upload job (one transaction); returns the job id.
pub fn capture(store: &Store, visit: &Visit) -> Result<store::JobId, String> {
    let job = card_upload_job(visit, 1).map_err(|e| e.to_string())?;
    let committed = store.commit_visit(visit, &[job]).map_err(|e| e.to_string())?;
    committed
        .jobs
        .into_iter()
        .next()
        .ok_or_else(|| "no job committed".to_string())
}

/// Corrects a rejected card upload: the corrected visit is stored as a new version and its record
/// queued under a new idempotency key, in one transaction. Returns the new job's id.
pub fn correct_visit(
    store: &Store,
    rejected: &store::JobId,
    corrected: &Visit,
) -> Result<store::JobId, String> {
    let version = store.get_visit(&corrected.id).map_err(|e| e.to_string())?.version + 1;
    let job = card_upload_job(corrected, version).map_err(|e| e.to_string())?;
    store
        .requeue_after_correction(
            rejected,
            store::Correction {
                visit: Some(corrected.clone()),
                job,
            },
        )
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_ids_pass_the_check_digit_rule() {
        for n in [0, 1, 2, 99, 1_234_567, 9_999_999] {
            let id = synthetic_national_id(n);
            assert!(crate::rules::national_id::parse(id.expose()).is_ok());
        }
        assert_ne!(synthetic_national_id(1), synthetic_national_id(2));
    }
}
