//! Order sets: download into the sealed cache (the cache serves offline), list, apply to a visit.

use crate::app::HomeVisitApp;
use crate::error::HomeVisitError;
use crate::prescription::{guard, spawn_guarded};
use crate::records::VisitSummary;
use homevisit_core::app;

/// One drug line of an order set or prescription (no patient data).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OrderSetLine {
    /// NHI drug code (e.g. `A012345100`).
    pub drug_code: String,
    /// Dose per administration in hundredths of a unit (`50` = 0.5).
    pub dose_centi: u32,
    /// The dose as shown (`0.5`).
    pub dose: String,
    /// Frequency code (`BID`).
    pub frequency: String,
    /// Route code (`PO`).
    pub route: String,
    /// Days supplied.
    pub days: u16,
    /// Total quantity in tenths of a unit.
    pub total_deci: u32,
    /// The total as shown (`56`, `21.5`).
    pub total: String,
}

impl From<app::OrderLineView> for OrderSetLine {
    fn from(l: app::OrderLineView) -> Self {
        Self {
            drug_code: l.drug_code,
            dose_centi: l.dose_centi,
            dose: l.dose,
            frequency: l.frequency,
            route: l.route,
            days: l.days,
            total_deci: l.total_deci,
            total: l.total,
        }
    }
}

/// One order set of the institution.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OrderSet {
    /// Its id (what `applyOrderSet` takes).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Its drug lines.
    pub lines: Vec<OrderSetLine>,
}

impl From<app::OrderSetView> for OrderSet {
    fn from(s: app::OrderSetView) -> Self {
        Self {
            id: s.id,
            name: s.name,
            lines: s.lines.into_iter().map(Into::into).collect(),
        }
    }
}

/// A downloaded order set that was refused and not cached.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RefusedOrderSet {
    /// Its id.
    pub id: String,
    /// Which line and rule.
    pub reason: String,
}

/// Where the order sets came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum OrderSetOrigin {
    /// Downloaded just now.
    Downloaded,
    /// Served from the sealed cache.
    Cache,
}

/// The institution's order sets and where they came from.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OrderSetList {
    pub sets: Vec<OrderSet>,
    pub origin: OrderSetOrigin,
    /// When they were downloaded (ms since the epoch); null when never.
    pub downloaded_at_unix_ms: Option<i64>,
    /// Their age in ms by the app's clock; null when never downloaded.
    pub age_ms: Option<i64>,
    /// Sets of the download that were refused.
    pub refused: Vec<RefusedOrderSet>,
}

impl From<app::OrderSetList> for OrderSetList {
    fn from(l: app::OrderSetList) -> Self {
        Self {
            sets: l.sets.into_iter().map(Into::into).collect(),
            origin: match l.origin {
                app::OrderSetOrigin::Downloaded => OrderSetOrigin::Downloaded,
                app::OrderSetOrigin::Cache => OrderSetOrigin::Cache,
            },
            downloaded_at_unix_ms: l.downloaded_at_ms,
            age_ms: l.age_ms,
            refused: l
                .refused
                .into_iter()
                .map(|r| RefusedOrderSet {
                    id: r.id,
                    reason: r.reason,
                })
                .collect(),
        }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl HomeVisitApp {
    /// Downloads the order sets into the sealed cache; offline or when the VPN is unreachable the
    /// cache serves and `origin` is `CACHE`. Kotlin: `suspend`.
    pub async fn refresh_order_sets(&self) -> Result<OrderSetList, HomeVisitError> {
        let inner = self.inner.clone();
        let list = spawn_guarded(async move { inner.refresh_order_sets().await }).await?;
        Ok(list.into())
    }

    /// The cached order sets, without the network.
    pub fn order_sets(&self) -> Result<OrderSetList, HomeVisitError> {
        guard(|| Ok(self.inner.order_sets()?.into()))
    }

    /// Adds the lines of the cached order set `set_id` to the visit's drug orders. Kotlin: `suspend`.
    pub async fn apply_order_set(
        &self,
        visit_id: String,
        set_id: String,
    ) -> Result<VisitSummary, HomeVisitError> {
        let inner = self.inner.clone();
        let summary =
            tokio::task::spawn_blocking(move || inner.apply_order_set(&visit_id, &set_id)).await??;
        Ok(summary.into())
    }
}
