//! What the device and the e-referral platform send each other (JSON over the signed VPN
//! client): a sent round, a receiver's reply, and the sync of both sides' referrals. The platform
//! simulator (`nhi-vpn-sim`) uses these same types.

use super::model::{ProcessingStatus, Referral};
use serde::{Deserialize, Serialize};

/// `POST` a sent round ([`Submission`] → [`SubmissionAck`]).
pub const SUBMIT: &str = "/v1/referrals";
/// `POST` a receiver's reply ([`ReplyRequest`] → [`SubmissionAck`]).
pub const REPLY: &str = "/v1/referrals/reply";
/// `POST` the sync: every referral this institution sent or received ([`SyncRequest`] →
/// [`SyncResponse`]).
pub const SYNC: &str = "/v1/referrals/sync";

/// A sent round: the referral as the sender holds it (number, count, type, form, opening time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// The referral, current round.
    pub referral: Referral,
}

/// The platform's answer to a submission or a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionAck {
    /// The referral number.
    pub number: String,
    /// The round's count.
    pub count: u32,
    /// `received` the first time, `duplicate` for a resend of the same round.
    pub status: String,
}

/// A receiver's reply to round `count` of referral `number` opened by `sender_code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyRequest {
    /// The referral number.
    pub number: String,
    /// The round being answered.
    pub count: u32,
    /// 處理情形.
    pub status: ProcessingStatus,
    /// 處理情形說明.
    pub explanation: String,
}

/// The sync request (empty: the platform knows the device's institution from its signature).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Only referrals the platform changed at or after this time (Unix ms); 0 = all.
    pub since_ms: i64,
}

/// The platform's copy of the institution's referrals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// Referrals the institution opened (with the receivers' replies).
    pub sent: Vec<Referral>,
    /// Referrals addressed to the institution (sent rounds only).
    pub received: Vec<Referral>,
}
