//! HMIC jobs in the one outbox: a submission (`hmic_submit`, key `hmic:<id>:<version>`) and a
//! closing (`hmic_close`, key `hmic-close:<id>`), frozen as JSON (sealed at rest). A resend is a
//! duplicate at the NHI. [`send`] is the VPN upload target's dispatch for these kinds.

use super::model::{Application, Closing};
use super::wire::{self, Ack, CloseRequest, SubmitRequest};
use crate::sync::job::{JobKind, NewJob};
use crate::sync::target::{ItemOutcome, UploadError, UploadItem};
use crate::sync::vpn_target;
use crate::vpn::VpnClient;

/// Whether a job of kind `kind` (its stable name) is an HMIC job.
pub fn is_hmic(kind: &str) -> bool {
    kind == JobKind::HmicSubmit.as_str() || kind == JobKind::HmicClose.as_str()
}

/// The job that submits this version of `a`.
pub fn submit_job(a: &Application) -> Result<NewJob, serde_json::Error> {
    let payload = serde_json::to_vec(&SubmitRequest {
        application: a.clone(),
    })?;
    Ok(NewJob::new(JobKind::HmicSubmit, a.submission_key(), payload))
}

/// The job that closes `a`.
pub fn close_job(a: &Application, closing: Closing) -> Result<NewJob, serde_json::Error> {
    let payload = serde_json::to_vec(&CloseRequest {
        id: a.id.clone(),
        closing,
    })?;
    Ok(NewJob::new(JobKind::HmicClose, a.closing_key(), payload))
}

/// Sends one HMIC job through the signed client; a refusal is a rejected job with its field.
pub async fn send(client: &VpnClient, item: &UploadItem) -> Result<ItemOutcome, UploadError> {
    let answer = if JobKind::parse(&item.kind) == JobKind::HmicClose {
        match serde_json::from_slice::<CloseRequest>(&item.payload) {
            Ok(req) => client.post_signed::<_, Ack>(wire::CLOSE, &req).await,
            Err(_) => return Ok(unreadable()),
        }
    } else {
        match serde_json::from_slice::<SubmitRequest>(&item.payload) {
            Ok(req) => client.post_signed::<_, Ack>(wire::SUBMIT, &req).await,
            Err(_) => return Ok(unreadable()),
        }
    };
    match answer {
        Ok(ack) => Ok(ItemOutcome::Accepted {
            ack: format!("hmic:{}:{}:{}", ack.id, ack.version, ack.status),
        }),
        Err(e) => vpn_target::item_refusal(&item.kind, e),
    }
}

fn unreadable() -> ItemOutcome {
    ItemOutcome::Rejected {
        reason: "the frozen application cannot be read".into(),
        fields: Vec::new(),
    }
}
