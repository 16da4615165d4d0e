//! The 24-hour upload rule, in one place: which visits are at risk of missing it and which missed
//! it (for the abnormal-situation report, with the reason the visit was abnormal). The store finds
//! its candidates through an index and classifies them with [`status`]; [`report`] does the same
//! over a list of jobs (the in-memory outbox).

use super::job::{Job, JobState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A visit must reach the NHI within 24 hours of the visit.
pub const UPLOAD_DEADLINE_MS: i64 = 24 * 3_600_000;
/// An emergency visit (claim mark `ECE`, see `rules::emergency`) must reach the NHI within 1 hour.
pub const EMERGENCY_UPLOAD_DEADLINE_MS: i64 = 3_600_000;
/// Visits due within this window are listed as at risk.
pub const AT_RISK_WINDOW_MS: i64 = 4 * 3_600_000;
/// An emergency visit not uploaded is at risk from the start: its whole hour is the window.
pub const EMERGENCY_AT_RISK_WINDOW_MS: i64 = EMERGENCY_UPLOAD_DEADLINE_MS;

/// The upload deadline of a visit after its time: 1 hour for an emergency visit, else 24 hours.
pub fn upload_deadline_ms(emergency: bool) -> i64 {
    if emergency {
        EMERGENCY_UPLOAD_DEADLINE_MS
    } else {
        UPLOAD_DEADLINE_MS
    }
}

/// Where a visit stands against its upload deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeadlineStatus {
    /// Not uploaded yet and due within the at-risk window.
    AtRisk,
    /// Uploaded after the deadline, or still not uploaded past it.
    Missed,
}

/// One visit in the deadline report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineEntry {
    /// Local visit id.
    pub visit_id: String,
    /// Visit identification code.
    pub visit_code: String,
    /// When the visit happened (Unix ms).
    pub visited_at_ms: i64,
    /// When the upload is due (Unix ms).
    pub due_at_ms: i64,
    /// When the server confirmed the last of the visit's jobs, if it did.
    pub uploaded_at_ms: Option<i64>,
    /// At risk or missed.
    pub status: DeadlineStatus,
    /// The state of the visit's least advanced job (`queued`, `rejected`, …).
    pub state: String,
    /// Why the visit was abnormal (reader, network, power…), if it was.
    pub abnormal_reason: Option<String>,
    /// The last failure of the visit's jobs, if any (e.g. the server's rejection reason).
    pub last_error: Option<String>,
}

/// Visits at risk of missing the 24-hour rule, and those that missed it, each sorted by due time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineReport {
    /// Not uploaded, due within the window.
    pub at_risk: Vec<DeadlineEntry>,
    /// Uploaded late or overdue.
    pub missed: Vec<DeadlineEntry>,
}

/// Where a visit due at `due_at_ms` stands at `now_ms`: uploaded late or overdue → missed; not
/// uploaded and due within `window_ms` → at risk; otherwise nothing to report.
pub fn status(
    due_at_ms: i64,
    uploaded_at_ms: Option<i64>,
    now_ms: i64,
    window_ms: i64,
) -> Option<DeadlineStatus> {
    match uploaded_at_ms {
        Some(at) if at > due_at_ms => Some(DeadlineStatus::Missed),
        Some(_) => None,
        None if now_ms > due_at_ms => Some(DeadlineStatus::Missed),
        None if due_at_ms - now_ms <= window_ms => Some(DeadlineStatus::AtRisk),
        None => None,
    }
}

/// Builds the report from every job of the outbox at `now_ms`.
pub fn report(jobs: &[Job], now_ms: i64, deadline_ms: i64, window_ms: i64) -> DeadlineReport {
    let mut visits: BTreeMap<&str, Vec<&Job>> = BTreeMap::new();
    for j in jobs {
        if let Some(v) = j.visit_id.as_deref() {
            visits.entry(v).or_default().push(j);
        }
    }
    let mut out = DeadlineReport::default();
    for (visit_id, js) in visits {
        let Some(first) = js.first() else { continue };
        let Some(visited_at_ms) = js.iter().filter_map(|j| j.visited_at_ms).min() else {
            continue;
        };
        let due_at_ms = visited_at_ms.saturating_add(deadline_ms);
        let all_done = js
            .iter()
            .all(|j| matches!(j.state, JobState::Done | JobState::Superseded));
        let uploaded_at_ms = if all_done {
            js.iter().filter_map(|j| j.done_at_ms).max()
        } else {
            None
        };
        if all_done && uploaded_at_ms.is_none() {
            continue;
        }
        let Some(status) = status(due_at_ms, uploaded_at_ms, now_ms, window_ms) else {
            continue;
        };
        let worst = js.iter().min_by_key(|j| j.state.rank()).unwrap_or(first);
        let entry = DeadlineEntry {
            visit_id: visit_id.to_string(),
            visit_code: first.visit_code.clone(),
            visited_at_ms,
            due_at_ms,
            uploaded_at_ms,
            status,
            state: worst.state.name().to_string(),
            abnormal_reason: js.iter().find_map(|j| j.abnormal_reason.clone()),
            last_error: js.iter().rev().find_map(|j| j.last_error.clone()),
        };
        match status {
            DeadlineStatus::AtRisk => out.at_risk.push(entry),
            DeadlineStatus::Missed => out.missed.push(entry),
        }
    }
    out.at_risk.sort_by_key(|e| e.due_at_ms);
    out.missed.sort_by_key(|e| e.due_at_ms);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::job::Rejection;

    const H: i64 = 3_600_000;

    fn job(visit: &str, visited_h: i64, state: JobState, done_h: Option<i64>) -> Job {
        Job {
            id: format!("j-{visit}"),
            kind: "card_upload".into(),
            visit_version: None,
            updated_at_ms: 0,
            server_ack: None,
            last_error_class: None,
            ordering_key: Some("p".into()),
            visit_id: Some(visit.into()),
            visit_code: format!("CODE{visit}"),
            depends_on: None,
            idempotency_key: format!("k-{visit}"),
            payload: vec![],
            state,
            attempts: 0,
            seq: 0,
            created_at_ms: visited_h * H,
            done_at_ms: done_h.map(|h| h * H),
            last_error: None,
            visited_at_ms: Some(visited_h * H),
            abnormal_reason: if visit == "net" {
                Some("A020 network down".into())
            } else {
                None
            },
        }
    }

    #[test]
    fn an_emergency_visit_is_due_within_one_hour() {
        assert_eq!(upload_deadline_ms(true), H);
        assert_eq!(upload_deadline_ms(false), 24 * H);
        // Visited at hour 10, not uploaded: at hour 10½ at risk, after hour 11 missed.
        let due = 10 * H + upload_deadline_ms(true);
        assert_eq!(
            status(due, None, 10 * H + H / 2, EMERGENCY_AT_RISK_WINDOW_MS),
            Some(DeadlineStatus::AtRisk)
        );
        assert_eq!(
            status(due, None, 11 * H + 1, EMERGENCY_AT_RISK_WINDOW_MS),
            Some(DeadlineStatus::Missed)
        );
        assert_eq!(
            status(due, Some(10 * H + 2 * H), 12 * H, EMERGENCY_AT_RISK_WINDOW_MS),
            Some(DeadlineStatus::Missed)
        );
    }

    #[test]
    fn lists_at_risk_and_missed_visits_with_their_abnormal_reason() {
        let now = 100 * H;
        let jobs = vec![
            // visited 21 h ago, pending: due in 3 h → at risk
            job("risk", 79, JobState::Queued, None),
            // visited 10 h ago: due in 14 h → fine
            job("fresh", 90, JobState::Queued, None),
            // visited 30 h ago, still waiting: missed, with its abnormal reason
            job("net", 70, JobState::WaitingRetry { next_at_ms: now + 1 }, None),
            // uploaded 2 h after the deadline: missed
            job("late", 50, JobState::Done, Some(76)),
            // uploaded in time
            job("ok", 60, JobState::Done, Some(61)),
            // rejected and overdue: missed, shows as rejected
            job(
                "bad",
                60,
                JobState::Rejected(Rejection {
                    reason: "M13 invalid".into(),
                    fields: vec![],
                }),
                None,
            ),
        ];
        let r = report(&jobs, now, UPLOAD_DEADLINE_MS, AT_RISK_WINDOW_MS);
        let ids = |v: &[DeadlineEntry]| v.iter().map(|e| e.visit_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&r.at_risk), ["risk"]);
        assert_eq!(r.at_risk[0].due_at_ms, 103 * H);
        assert_eq!(ids(&r.missed), ["late", "bad", "net"]);
        let net = &r.missed[2];
        assert_eq!(net.abnormal_reason.as_deref(), Some("A020 network down"));
        assert_eq!(net.state, "waiting_retry");
        assert_eq!(r.missed[0].uploaded_at_ms, Some(76 * H));
        assert_eq!(r.missed[1].state, "rejected");
    }
}
