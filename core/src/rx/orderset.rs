//! Order sets (處方套餐): the institution's prepared prescriptions, downloaded after enrolment,
//! cached sealed on the device, validated line by line, applied to a visit and edited there.

use super::RxError;
use super::codes::{self, Per};
use crate::model::{Order, OrderKind, Visit};
use serde::{Deserialize, Serialize};

/// Longest supply of one line, in days.
pub const MAX_DAYS: u16 = 90;
/// Longest total supply of a chronic continuous prescription over all its refills, in days.
pub const MAX_CHRONIC_TOTAL_DAYS: u16 = 90;
/// Largest dose per administration, in hundredths of a unit (the QR field is 16 bits).
pub const MAX_DOSE_CENTI: u32 = 65_535;
/// Largest total quantity, in tenths (the NHI `0000.0` field: 9999.9).
pub const MAX_TOTAL_DECI: u32 = 99_999;

/// One drug line of a prescription or order set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxLine {
    /// NHI drug code: a letter, a letter or digit, then 8 digits (e.g. `A012345100`).
    pub drug_code: String,
    /// Dose per administration in hundredths of a unit (`50` = 0.5 tablet).
    pub dose_centi: u32,
    /// Frequency code from [`codes::FREQUENCIES`], e.g. `TID`.
    pub frequency: String,
    /// Route code from [`codes::ROUTES`], e.g. `PO`.
    pub route: String,
    /// Days supplied (1–90).
    pub days: u16,
    /// Total quantity in tenths of a unit (`215` = 21.5).
    pub total_deci: u32,
}

/// Which line and field failed validation, and why (no patient data involved).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {field}: {reason}")]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// The field: `drug_code`, `dose`, `frequency`, `route`, `days`, `total`.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// Whether `code` has the NHI drug-code shape: `[A-Z][A-Z0-9][0-9]{8}`.
pub fn is_drug_code(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 10
        && b[0].is_ascii_uppercase()
        && (b[1].is_ascii_uppercase() || b[1].is_ascii_digit())
        && b[2..].iter().all(u8::is_ascii_digit)
}

impl RxLine {
    /// Builds a line with the total computed from dose × frequency × days (rounded up to whole units).
    pub fn new(drug_code: &str, dose_centi: u32, frequency: &str, route: &str, days: u16) -> Self {
        let mut line = Self {
            drug_code: drug_code.trim().to_ascii_uppercase(),
            dose_centi,
            frequency: frequency.trim().to_ascii_uppercase(),
            route: route.trim().to_ascii_uppercase(),
            days,
            total_deci: 0,
        };
        line.total_deci = line.suggested_total_deci().unwrap_or(0);
        line
    }

    /// The exact quantity dose × frequency × days in hundredths, as a fraction `(num, den)`;
    /// `None` for an unknown or as-needed frequency.
    fn exact_total_centi(&self) -> Option<(u64, u64)> {
        let (_, f) = codes::frequency(&self.frequency)?;
        match f.per {
            Per::Days { num, den } => Some((
                u64::from(self.dose_centi) * u64::from(num) * u64::from(self.days),
                u64::from(den),
            )),
            Per::Once => Some((u64::from(self.dose_centi), 1)),
            Per::AsNeeded => None,
        }
    }

    /// The total a prescriber would write: the exact quantity rounded up to whole units.
    pub fn suggested_total_deci(&self) -> Option<u32> {
        let (num, den) = self.exact_total_centi()?;
        let whole_units = num.div_ceil(den * 100);
        u32::try_from(whole_units * 10).ok()
    }

    /// Sets the days and recomputes the total.
    pub fn with_days(mut self, days: u16) -> Self {
        self.days = days;
        if let Some(t) = self.suggested_total_deci() {
            self.total_deci = t;
        }
        self
    }

    /// Checks every field; `line` is the 1-based number used in the error.
    pub fn validate(&self, line: usize) -> Result<(), LineError> {
        let err = |field, reason: &str| LineError {
            line,
            field,
            reason: reason.to_string(),
        };
        if !is_drug_code(&self.drug_code) {
            return Err(err(
                "drug_code",
                "must be a letter, a letter or digit, then 8 digits",
            ));
        }
        if self.dose_centi == 0 || self.dose_centi > MAX_DOSE_CENTI {
            return Err(err("dose", "must be more than 0 and at most 655.35"));
        }
        if codes::frequency(&self.frequency).is_none() {
            return Err(err("frequency", "unknown frequency code"));
        }
        if codes::route(&self.route).is_none() {
            return Err(err("route", "unknown route code"));
        }
        if self.days == 0 || self.days > MAX_DAYS {
            return Err(err("days", "must be 1 to 90"));
        }
        if self.total_deci == 0 || self.total_deci > MAX_TOTAL_DECI {
            return Err(err("total", "must be more than 0 and at most 9999.9"));
        }
        if let Some((num, den)) = self.exact_total_centi() {
            // total (in hundredths) must cover the exact quantity and exceed it by less than one
            // whole unit (rounding up to whole tablets / packs is allowed, more is not).
            let total_centi = u64::from(self.total_deci) * 10;
            if total_centi * den < num || total_centi * den >= num + 100 * den {
                return Err(err("total", "does not match dose × frequency × days"));
            }
        }
        Ok(())
    }

    /// The line as a visit order (2.0 upload D02 = drug).
    pub fn to_order(&self) -> Order {
        Order {
            kind: OrderKind::Drug,
            code: self.drug_code.clone(),
            dose: format_centi(self.dose_centi),
            frequency: self.frequency.clone(),
            route: self.route.clone(),
            days: self.days,
            total: f64::from(self.total_deci) / 10.0,
            site: String::new(),
            prescription: None,
            execution: None,
        }
    }

    /// Reads a drug order of a visit back as a line; `None` for a treatment or an unreadable dose.
    pub fn from_order(order: &Order) -> Option<Self> {
        if order.kind != OrderKind::Drug {
            return None;
        }
        let dose_centi = parse_centi(&order.dose)?;
        let total = (order.total * 10.0).round();
        if !(0.0..=f64::from(MAX_TOTAL_DECI)).contains(&total) {
            return None;
        }
        Some(Self {
            drug_code: order.code.clone(),
            dose_centi,
            frequency: order.frequency.clone(),
            route: order.route.clone(),
            days: order.days,
            // In range 0..=99999 checked above, so the cast is exact.
            total_deci: total as u32,
        })
    }
}

/// `150` → `1.5`, `100` → `1`, `25` → `0.25`.
pub fn format_centi(v: u32) -> String {
    let (w, f) = (v / 100, v % 100);
    match f {
        0 => w.to_string(),
        f if f % 10 == 0 => format!("{w}.{}", f / 10),
        f => format!("{w}.{f:02}"),
    }
}

/// `1.5` → `150`; at most two decimals; `None` when not a plain decimal.
pub fn parse_centi(s: &str) -> Option<u32> {
    let s = s.trim();
    let (w, f) = s.split_once('.').unwrap_or((s, ""));
    if w.is_empty() || w.len() > 5 || f.len() > 2 || !w.bytes().chain(f.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u32 = w.parse().ok()?;
    let frac: u32 = if f.is_empty() {
        0
    } else {
        format!("{f:0<2}").parse().ok()?
    };
    whole.checked_mul(100)?.checked_add(frac)
}

/// An institution's prepared prescription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSet {
    /// The set's id at the institution.
    pub id: String,
    /// Display name, e.g. `高血壓 30 天`.
    pub name: String,
    /// Its lines.
    pub lines: Vec<RxLine>,
}

impl OrderSet {
    /// Checks every line; the first failing line is reported.
    pub fn validate(&self) -> Result<(), LineError> {
        if self.lines.is_empty() {
            return Err(LineError {
                line: 0,
                field: "lines",
                reason: "an order set needs at least one line".into(),
            });
        }
        self.lines
            .iter()
            .enumerate()
            .try_for_each(|(i, l)| l.validate(i + 1))
    }

    /// Appends the set's lines to the visit's orders (after validating them all: a bad set
    /// changes nothing).
    pub fn apply_to(&self, visit: &mut Visit) -> Result<(), LineError> {
        self.validate()?;
        visit.orders.extend(self.lines.iter().map(RxLine::to_order));
        Ok(())
    }
}

/// The drug lines of a visit, read from its orders, with their order index.
pub fn visit_lines(visit: &Visit) -> Vec<(usize, RxLine)> {
    visit
        .orders
        .iter()
        .enumerate()
        .filter_map(|(i, o)| RxLine::from_order(o).map(|l| (i, l)))
        .collect()
}

/// Replaces order `index` of the visit with an edited line, validated first.
pub fn edit_visit_line(visit: &mut Visit, index: usize, line: &RxLine) -> Result<(), LineError> {
    line.validate(index + 1)?;
    let slot = visit.orders.get_mut(index).ok_or(LineError {
        line: index + 1,
        field: "lines",
        reason: "no such order".into(),
    })?;
    *slot = line.to_order();
    Ok(())
}

/// Where order sets come from: the VPN client's order-set download (or a test double).
#[async_trait::async_trait]
pub trait OrderSetSource: Send + Sync {
    /// Downloads the institution's current order sets.
    async fn fetch_order_sets(&self) -> Result<Vec<OrderSet>, RxError>;
}

/// A small sealed key/value table (the store's sealed kv; an in-memory map in tests).
pub trait SealedKv: Send + Sync {
    /// Reads the value under `key`.
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, RxError>;
    /// Writes `value` under `key`, replacing what was there.
    fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), RxError>;
}

/// The key under which the order sets are cached.
pub const ORDER_SET_CACHE_KEY: &str = "rx.order_sets.v1";

/// Downloads the order sets, validates each set, caches the valid ones and returns them with the
/// ids of the sets that were refused (a bad set from the server never replaces the cache with junk).
pub async fn refresh_order_sets(
    source: &dyn OrderSetSource,
    cache: &dyn SealedKv,
) -> Result<(Vec<OrderSet>, Vec<(String, LineError)>), RxError> {
    let sets = source.fetch_order_sets().await?;
    let mut good = Vec::new();
    let mut refused = Vec::new();
    for s in sets {
        match s.validate() {
            Ok(()) => good.push(s),
            Err(e) => refused.push((s.id.clone(), e)),
        }
    }
    let bytes = serde_json::to_vec(&good).map_err(|e| RxError::Storage(e.to_string()))?;
    cache.kv_put(ORDER_SET_CACHE_KEY, &bytes)?;
    Ok((good, refused))
}

/// The cached order sets (empty before the first download).
pub fn cached_order_sets(cache: &dyn SealedKv) -> Result<Vec<OrderSet>, RxError> {
    match cache.kv_get(ORDER_SET_CACHE_KEY)? {
        None => Ok(Vec::new()),
        Some(b) => serde_json::from_slice(&b)
            .map_err(|e| RxError::Storage(format!("order-set cache unreadable: {e}"))),
    }
}

/// The namespace of the rx caches in the store's sealed key/value table.
pub const KV_NAMESPACE: &str = "rx";

impl SealedKv for crate::store::Store {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, RxError> {
        crate::store::Store::kv_get(self, KV_NAMESPACE, key).map_err(|e| RxError::Storage(e.to_string()))
    }
    fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), RxError> {
        crate::store::Store::kv_put(self, KV_NAMESPACE, key, value)
            .map_err(|e| RxError::Storage(e.to_string()))
    }
}

/// The VPN client's order-set download (`GET /v1/order-sets`) as an [`OrderSetSource`].
#[async_trait::async_trait]
impl OrderSetSource for crate::vpn::VpnClient {
    async fn fetch_order_sets(&self) -> Result<Vec<OrderSet>, RxError> {
        let sets = self
            .order_sets()
            .await
            .map_err(|e| RxError::Download(e.to_string()))?;
        Ok(sets.into_iter().map(from_wire).collect())
    }
}

/// Converts a downloaded order set (validate it before use: it came from outside).
pub fn from_wire(set: crate::vpn::wire::OrderSet) -> OrderSet {
    OrderSet {
        id: set.id,
        name: set.name,
        lines: set
            .lines
            .into_iter()
            .map(|l| RxLine {
                drug_code: l.drug_code,
                dose_centi: l.dose_centi,
                frequency: l.frequency,
                route: l.route,
                days: l.days,
                total_deci: l.total_deci,
            })
            .collect(),
    }
}

/// A [`SealedKv`] in memory, for tests and the desktop command before the store is open.
#[derive(Debug, Default)]
pub struct MemoryKv(std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>);

impl SealedKv for MemoryKv {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, RxError> {
        let m = self
            .0
            .lock()
            .map_err(|_| RxError::Storage("kv poisoned".into()))?;
        Ok(m.get(key).cloned())
    }
    fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), RxError> {
        let mut m = self
            .0
            .lock()
            .map_err(|_| RxError::Storage("kv poisoned".into()))?;
        m.insert(key.to_string(), value.to_vec());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> RxLine {
        RxLine::new("A012345100", 100, "TID", "PO", 7)
    }

    #[test]
    fn new_line_computes_total_and_validates() {
        let l = line();
        assert_eq!(l.total_deci, 210);
        l.validate(1).unwrap();
        let half = RxLine::new("AC12345100", 50, "QD", "PO", 7);
        assert_eq!(half.total_deci, 40, "3.5 tablets round up to 4");
        half.validate(1).unwrap();
        let mut exact = half.clone();
        exact.total_deci = 35;
        exact.validate(1).unwrap();
        assert_eq!(line().with_days(30).total_deci, 900);
        let qw = RxLine::new("A012345100", 100, "QW", "PO", 28);
        assert_eq!(qw.total_deci, 40);
    }

    #[test]
    fn each_field_is_checked() {
        type Case = (fn(&mut RxLine), &'static str);
        let cases: Vec<Case> = vec![
            (|l| l.drug_code = "A01234510".into(), "drug_code"),
            (|l| l.drug_code = "1012345100".into(), "drug_code"),
            (|l| l.drug_code = "AB1234510X".into(), "drug_code"),
            (|l| l.dose_centi = 0, "dose"),
            (|l| l.frequency = "THRICE".into(), "frequency"),
            (|l| l.route = "ORAL".into(), "route"),
            (|l| l.days = 0, "days"),
            (|l| l.days = 91, "days"),
            (|l| l.total_deci = 200, "total"),
            (|l| l.total_deci = 310, "total"),
            (|l| l.total_deci = 0, "total"),
        ];
        for (mutate, field) in cases {
            let mut l = line();
            mutate(&mut l);
            let e = l.validate(3).unwrap_err();
            assert_eq!((e.line, e.field), (3, field), "{e}");
        }
        let mut prn = RxLine::new("A012345100", 100, "PRN", "PO", 7);
        assert_eq!(prn.total_deci, 0, "as-needed has no suggested total");
        prn.total_deci = 100;
        prn.validate(1).unwrap();
    }

    #[test]
    fn order_round_trip_and_decimal_text() {
        let l = RxLine::new("A012345100", 150, "BID", "PO", 3);
        assert_eq!(RxLine::from_order(&l.to_order()), Some(l));
        assert_eq!(format_centi(25), "0.25");
        assert_eq!(format_centi(250), "2.5");
        assert_eq!(parse_centi("0.25"), Some(25));
        assert_eq!(parse_centi("2"), Some(200));
        assert_eq!(parse_centi("2.5"), Some(250));
        assert_eq!(parse_centi("-1"), None);
        assert_eq!(parse_centi("1.234"), None);
        assert_eq!(parse_centi(""), None);
    }

    struct Src(Vec<OrderSet>);
    #[async_trait::async_trait]
    impl OrderSetSource for Src {
        async fn fetch_order_sets(&self) -> Result<Vec<OrderSet>, RxError> {
            Ok(self.0.clone())
        }
    }

    #[test]
    fn wire_sets_convert_and_bad_lines_are_caught() {
        let l = line();
        let wire_line = |total_deci| crate::vpn::wire::OrderSetLine {
            drug_code: l.drug_code.clone(),
            dose_centi: l.dose_centi,
            frequency: l.frequency.clone(),
            route: l.route.clone(),
            days: l.days,
            total_deci,
        };
        let ok = from_wire(crate::vpn::wire::OrderSet {
            id: "A".into(),
            name: "a".into(),
            lines: vec![wire_line(l.total_deci)],
        });
        assert_eq!(ok.lines, vec![line()]);
        ok.validate().unwrap();
        let bad = from_wire(crate::vpn::wire::OrderSet {
            id: "B".into(),
            name: "b".into(),
            lines: vec![wire_line(l.total_deci), wire_line(1)],
        });
        assert_eq!(bad.validate().unwrap_err().line, 2);
    }

    #[test]
    fn the_store_is_a_sealed_cache() {
        let dir = tempfile::tempdir().unwrap();
        let ks = crate::platform::MemoryKeyStore::with_seed(3);
        let store = crate::store::Store::open(dir.path().join("s.db"), &ks).unwrap();
        let sets = vec![OrderSet {
            id: "HTN".into(),
            name: "高血壓".into(),
            lines: vec![line()],
        }];
        SealedKv::kv_put(&store, ORDER_SET_CACHE_KEY, &serde_json::to_vec(&sets).unwrap()).unwrap();
        assert_eq!(cached_order_sets(&store).unwrap(), sets);
    }

    #[tokio::test]
    async fn refresh_caches_valid_sets_and_reports_bad_ones() {
        let good = OrderSet {
            id: "HTN30".into(),
            name: "高血壓 30 天".into(),
            lines: vec![line().with_days(30)],
        };
        let mut bad_line = line();
        bad_line.frequency = "XX".into();
        let bad = OrderSet {
            id: "BAD".into(),
            name: "bad".into(),
            lines: vec![bad_line],
        };
        let kv = MemoryKv::default();
        assert!(cached_order_sets(&kv).unwrap().is_empty());
        let (sets, refused) = refresh_order_sets(&Src(vec![good.clone(), bad]), &kv)
            .await
            .unwrap();
        assert_eq!(sets, vec![good.clone()]);
        assert_eq!(refused[0].0, "BAD");
        assert_eq!(refused[0].1.field, "frequency");
        assert_eq!(cached_order_sets(&kv).unwrap(), vec![good]);
        kv.kv_put(ORDER_SET_CACHE_KEY, b"{garbage").unwrap();
        assert!(matches!(cached_order_sets(&kv), Err(RxError::Storage(_))));
    }
}
