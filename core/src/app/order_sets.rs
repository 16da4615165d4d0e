//! Order sets (處方套餐) through the facade: downloaded from the institution's VPN into the sealed
//! store, served from there when the VPN cannot be reached, and applied to a visit by id.

use super::{AppError, HomeVisit, VisitSummary};
use crate::rx::RxError;
use crate::rx::orderset::{self, KV_NAMESPACE, OrderSet, RxLine};

/// Key (in the rx namespace of the sealed kv) of when the cached order sets were downloaded.
const REFRESHED_AT_KEY: &str = "rx.order_sets.refreshed_at_ms";

/// Where the order sets of a [`OrderSetList`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderSetOrigin {
    /// Downloaded from the VPN just now (and cached).
    Downloaded,
    /// Served from the sealed cache (offline, the VPN unreachable, or only the cache asked).
    Cache,
}

/// One drug line of an order set as the app shows it (no patient data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLineView {
    /// NHI drug code (e.g. `A012345100`).
    pub drug_code: String,
    /// Dose per administration in hundredths of a unit (`50` = 0.5).
    pub dose_centi: u32,
    /// The dose as shown (`0.5`).
    pub dose: String,
    /// Frequency code (e.g. `BID`).
    pub frequency: String,
    /// Route code (e.g. `PO`).
    pub route: String,
    /// Days supplied.
    pub days: u16,
    /// Total quantity in tenths of a unit (`560` = 56).
    pub total_deci: u32,
    /// The total as shown (`56`, `21.5`).
    pub total: String,
}

impl OrderLineView {
    /// The view of a drug line.
    pub fn of(l: &RxLine) -> Self {
        Self {
            drug_code: l.drug_code.clone(),
            dose_centi: l.dose_centi,
            dose: orderset::format_centi(l.dose_centi),
            frequency: l.frequency.clone(),
            route: l.route.clone(),
            days: l.days,
            total_deci: l.total_deci,
            total: format_deci(l.total_deci),
        }
    }
}

/// `560` → `56`, `215` → `21.5`.
fn format_deci(v: u32) -> String {
    match v % 10 {
        0 => (v / 10).to_string(),
        f => format!("{}.{f}", v / 10),
    }
}

/// One order set as the app lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSetView {
    /// The set's id at the institution (what [`HomeVisit::apply_order_set`] takes).
    pub id: String,
    /// Display name (e.g. `高血壓 30 天`).
    pub name: String,
    /// Its drug lines.
    pub lines: Vec<OrderLineView>,
}

impl OrderSetView {
    /// The view of an order set.
    pub fn of(s: &OrderSet) -> Self {
        Self {
            id: s.id.clone(),
            name: s.name.clone(),
            lines: s.lines.iter().map(OrderLineView::of).collect(),
        }
    }
}

/// A downloaded order set that was refused (a line broke a rule) and not cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedOrderSet {
    /// The set's id.
    pub id: String,
    /// Which line and rule (no patient data).
    pub reason: String,
}

/// The institution's order sets and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSetList {
    /// The valid sets.
    pub sets: Vec<OrderSetView>,
    /// Downloaded now, or served from the cache.
    pub origin: OrderSetOrigin,
    /// When the sets were downloaded (ms since the epoch); `None` when nothing was ever downloaded.
    pub downloaded_at_ms: Option<i64>,
    /// How old the sets are (ms, by the app's clock); `None` when nothing was ever downloaded.
    pub age_ms: Option<i64>,
    /// Sets of the download that were refused (empty when served from the cache).
    pub refused: Vec<RefusedOrderSet>,
}

impl HomeVisit {
    /// Downloads the institution's order sets into the sealed cache and returns them. Offline (as
    /// the host said) or when the VPN cannot be reached, the cached sets are served instead and the
    /// result says so, with their age. Not enrolled: [`AppError::NotEnrolled`].
    pub async fn refresh_order_sets(&self) -> Result<OrderSetList, AppError> {
        let client = self.vpn_client()?;
        if !self.is_online() {
            return self.order_sets();
        }
        match orderset::refresh_order_sets(client.as_ref(), self.store.as_ref()).await {
            Ok((sets, refused)) => {
                let now = self.clock.now_unix_ms();
                self.store
                    .kv_put(KV_NAMESPACE, REFRESHED_AT_KEY, &now.to_be_bytes())?;
                tracing::info!(target: "homevisit::app", sets = sets.len(), refused = refused.len(), "order sets downloaded");
                Ok(OrderSetList {
                    sets: sets.iter().map(OrderSetView::of).collect(),
                    origin: OrderSetOrigin::Downloaded,
                    downloaded_at_ms: Some(now),
                    age_ms: Some(0),
                    refused: refused
                        .into_iter()
                        .map(|(id, e)| RefusedOrderSet {
                            id,
                            reason: e.to_string(),
                        })
                        .collect(),
                })
            }
            Err(RxError::Download(reason)) => {
                tracing::info!(target: "homevisit::app", %reason, "order sets not downloaded; the cache serves");
                self.order_sets()
            }
            Err(e) => Err(super::prescription::rx_error(e)),
        }
    }

    /// The cached order sets (empty before the first download), without touching the network.
    pub fn order_sets(&self) -> Result<OrderSetList, AppError> {
        let sets = orderset::cached_order_sets(self.store.as_ref()).map_err(super::prescription::rx_error)?;
        // An unreadable stamp only loses the age, never the cached sets.
        let downloaded_at_ms = self
            .store
            .kv_get(KV_NAMESPACE, REFRESHED_AT_KEY)?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(i64::from_be_bytes);
        let now = self.clock.now_unix_ms();
        Ok(OrderSetList {
            sets: sets.iter().map(OrderSetView::of).collect(),
            origin: OrderSetOrigin::Cache,
            downloaded_at_ms,
            age_ms: downloaded_at_ms.map(|t| now.saturating_sub(t).max(0)),
            refused: Vec::new(),
        })
    }

    /// The cached order set `set_id`, or a validation error on `set_id` when there is none.
    pub(crate) fn cached_order_set(&self, set_id: &str) -> Result<OrderSet, AppError> {
        let sets = orderset::cached_order_sets(self.store.as_ref()).map_err(super::prescription::rx_error)?;
        sets.into_iter()
            .find(|s| s.id == set_id.trim())
            .ok_or_else(|| super::input::invalid("set_id", "no cached order set has this id"))
    }

    /// Adds the lines of the cached order set `set_id` to the drug orders of the stored visit
    /// `visit_id` (see [`HomeVisit::apply_order_set_lines`]), offline.
    pub fn apply_order_set(&self, visit_id: &str, set_id: &str) -> Result<VisitSummary, AppError> {
        let set = self.cached_order_set(set_id)?;
        self.apply_order_set_lines(visit_id, &set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_and_doses_show_as_people_write_them() {
        assert_eq!(format_deci(560), "56");
        assert_eq!(format_deci(215), "21.5");
        let v = OrderLineView::of(&RxLine::new("AC45791100", 50, "BID", "PO", 28));
        assert_eq!((v.dose.as_str(), v.total.as_str()), ("0.5", "28"));
    }
}
