//! Finding referrals: the sender's and the receiver's queries (national ID, referral number,
//! opening date range, state) and the detail report's filters (type, direction, date range, sender
//! state, receiver state), as pure predicates over the model. Dates are Taiwan dates of opening.

use super::model::{ReceiverState, Referral, ReferralType, SenderState};
use super::rules::opened_on;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Which side of a referral this unit is on (the detail report's 轉介種類: 開立 / 接受).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    /// This unit opened it (主動轉介).
    Sent,
    /// This unit received it (接受轉介).
    Received,
}

impl Side {
    /// Stable name (`sent`, `received`).
    pub fn name(self) -> &'static str {
        match self {
            Side::Sent => "sent",
            Side::Received => "received",
        }
    }

    /// Label for the report.
    pub fn label(self) -> &'static str {
        match self {
            Side::Sent => "開立",
            Side::Received => "接受",
        }
    }
}

/// The sender's or the receiver's query (主動轉介單位轉介查詢 / 接受轉介單位受理查詢). Every
/// condition is optional; an empty query lists everything of that side.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ReferralQuery {
    /// The patient's national ID (exact, upper-cased).
    pub national_id: Option<String>,
    /// The referral number (exact).
    pub number: Option<String>,
    /// First opening date (inclusive, Taiwan).
    pub opened_from: Option<NaiveDate>,
    /// Last opening date (inclusive, Taiwan).
    pub opened_to: Option<NaiveDate>,
    /// The sender's state.
    pub sender_state: Option<SenderState>,
    /// The receiver's state (a round not sent yet has none and never matches).
    pub receiver_state: Option<ReceiverState>,
}

impl std::fmt::Debug for ReferralQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferralQuery")
            .field("national_id", &self.national_id.as_ref().map(|_| "<redacted>"))
            .field("number", &self.number)
            .field("opened_from", &self.opened_from)
            .field("opened_to", &self.opened_to)
            .field("sender_state", &self.sender_state)
            .field("receiver_state", &self.receiver_state)
            .finish()
    }
}

fn in_range(r: &Referral, from: Option<NaiveDate>, to: Option<NaiveDate>) -> bool {
    if from.is_none() && to.is_none() {
        return true;
    }
    let Some(d) = opened_on(r) else { return false };
    from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t)
}

impl ReferralQuery {
    /// Whether `r` meets every condition.
    pub fn matches(&self, r: &Referral) -> bool {
        self.national_id
            .as_deref()
            .is_none_or(|id| r.form.patient.national_id.trim().eq_ignore_ascii_case(id.trim()))
            && self.number.as_deref().is_none_or(|n| r.number == n.trim())
            && in_range(r, self.opened_from, self.opened_to)
            && self.sender_state.is_none_or(|s| r.sender_state() == s)
            && self.receiver_state.is_none_or(|s| r.receiver_state() == Some(s))
    }
}

/// The detail report's five filters (轉介單明細表): type, direction, opening date range, sender
/// state, receiver state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFilter {
    /// 轉介類別.
    pub kind: Option<ReferralType>,
    /// 轉介種類: the referrals this unit sent, or received.
    pub side: Option<Side>,
    /// First opening date (inclusive).
    pub from: Option<NaiveDate>,
    /// Last opening date (inclusive).
    pub to: Option<NaiveDate>,
    /// 主動轉介處理情形.
    pub sender_state: Option<SenderState>,
    /// 接受轉介處理情形.
    pub receiver_state: Option<ReceiverState>,
}

impl ReportFilter {
    /// Whether `r`, on `side` for this unit, meets every filter.
    pub fn matches(&self, r: &Referral, side: Side) -> bool {
        self.kind.is_none_or(|k| r.kind == k)
            && self.side.is_none_or(|s| s == side)
            && in_range(r, self.from, self.to)
            && self.sender_state.is_none_or(|s| r.sender_state() == s)
            && self.receiver_state.is_none_or(|s| r.receiver_state() == Some(s))
    }
}
