//! Referrals in the one outbox: a sent round (`referral_submit`) and a receiver's reply
//! (`referral_reply`) are frozen as JSON payloads (sealed at rest by the store) with idempotency
//! keys `referral:<number>:<count>` and `referral-reply:<number>:<count>`, so a round is queued
//! once (the outbox's key is unique) and recorded once by the platform (a resend is a duplicate).
//! [`send`] is the VPN upload target's dispatch for these kinds.

use super::model::Referral;
use super::wire::{self, ReplyRequest, Submission, SubmissionAck};
use crate::sync::job::{JobKind, NewJob};
use crate::sync::target::{ItemOutcome, UploadError, UploadItem};
use crate::sync::vpn_target;
use crate::vpn::{VpnClient, VpnError};

/// Whether a job of kind `kind` (its stable name) is a referral job.
pub fn is_referral(kind: &str) -> bool {
    kind == JobKind::ReferralSubmit.as_str() || kind == JobKind::ReferralReply.as_str()
}

/// The job that sends the current round of `r` (its `sent_at_ms` set).
pub fn submit_job(r: &Referral) -> Result<NewJob, serde_json::Error> {
    let payload = serde_json::to_vec(&Submission { referral: r.clone() })?;
    Ok(NewJob::new(JobKind::ReferralSubmit, r.submission_key(), payload))
}

/// The job that sends the receiver's processing of the current round of `r`.
pub fn reply_job(r: &Referral) -> Option<Result<NewJob, serde_json::Error>> {
    let p = r.processing.as_ref()?;
    let req = ReplyRequest {
        number: r.number.clone(),
        count: r.count,
        status: p.status,
        explanation: p.explanation.clone(),
    };
    Some(serde_json::to_vec(&req).map(|payload| NewJob::new(JobKind::ReferralReply, r.reply_key(), payload)))
}

/// The verdict on one referral job from the platform's answer.
pub fn result_of(
    item: &UploadItem,
    answer: Result<SubmissionAck, VpnError>,
) -> Result<ItemOutcome, UploadError> {
    match answer {
        Ok(ack) => Ok(ItemOutcome::Accepted {
            ack: format!("referral:{}:{}:{}", ack.number, ack.count, ack.status),
        }),
        // A certificate mismatch stops the drain like every other job's (issue 11).
        Err(e) => vpn_target::item_refusal(&item.kind, e),
    }
}

/// Sends one referral job through the signed client.
pub async fn send(client: &VpnClient, item: &UploadItem) -> Result<ItemOutcome, UploadError> {
    let answer = match JobKind::parse(&item.kind) {
        JobKind::ReferralReply => match serde_json::from_slice::<ReplyRequest>(&item.payload) {
            Ok(req) => client.post_signed::<_, SubmissionAck>(wire::REPLY, &req).await,
            Err(e) => return Ok(unreadable(e)),
        },
        _ => match serde_json::from_slice::<Submission>(&item.payload) {
            Ok(sub) => client.post_signed::<_, SubmissionAck>(wire::SUBMIT, &sub).await,
            Err(e) => return Ok(unreadable(e)),
        },
    };
    result_of(item, answer)
}

fn unreadable(e: serde_json::Error) -> ItemOutcome {
    ItemOutcome::Rejected {
        reason: format!("the frozen referral cannot be read: {}", e.classify_name()),
        fields: Vec::new(),
    }
}

/// A short name of a JSON error's kind (never its text, which could quote the payload).
trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "eof",
        }
    }
}
