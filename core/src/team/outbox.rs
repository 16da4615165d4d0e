//! Shared-record writes in the one outbox: each [`TeamWrite`] is frozen as JSON (sealed at rest by
//! the store) in a `team_write` job with idempotency key `team:<op>:<id>:<rev>`, so one revision
//! is queued once and recorded once by the simulator (a resend is a duplicate). Writes are sent
//! one by one ([`send`], the VPN upload target's dispatch for this kind); a refusal parks the job
//! with the rule's code and field.

use super::wire::{self, TeamWrite, WriteAck};
use crate::sync::job::{JobKind, NewJob};
use crate::sync::target::{ItemOutcome, UploadError, UploadItem};
use crate::sync::vpn_target;
use crate::vpn::VpnClient;

/// Whether a job of kind `kind` (its stable name) is a shared-record write.
pub fn is_team(kind: &str) -> bool {
    kind == JobKind::TeamWrite.as_str()
}

/// The job that sends `write`.
pub fn job(write: &TeamWrite) -> Result<NewJob, serde_json::Error> {
    Ok(NewJob::new(
        JobKind::TeamWrite,
        write.key(),
        serde_json::to_vec(write)?,
    ))
}

/// Sends one shared-record write through the signed client.
pub async fn send(client: &VpnClient, item: &UploadItem) -> Result<ItemOutcome, UploadError> {
    let write: TeamWrite = match serde_json::from_slice(&item.payload) {
        Ok(w) => w,
        Err(_) => {
            return Ok(ItemOutcome::Rejected {
                reason: "the frozen team write cannot be read".into(),
                fields: Vec::new(),
            });
        }
    };
    match client.post_signed::<_, WriteAck>(wire::PUSH, &write).await {
        Ok(ack) => Ok(ItemOutcome::Accepted {
            ack: format!("team:{}:{}:{}", ack.id, ack.rev, ack.status),
        }),
        Err(e) => vpn_target::item_refusal("team write", e),
    }
}
