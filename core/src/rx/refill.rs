//! Chronic continuous prescriptions (慢性病連續處方箋): pick-up windows of the refills, and the
//! operations `C` (cancel an undispensed refill) and `E` (undo a `C`).
//!
//! Pick-up rule (全民健康保險醫療辦法, the NHI medical-care regulations on chronic continuous
//! prescriptions; not spelled out in the seeds, which only show that the app prints the refill
//! pick-up dates, seed 001 §04 "慢性病連續處方箋領藥日期"): a refill may be collected within the
//! last 10 days of the previous supply period. With the first supply starting on the issue date
//! and lasting `days`, refill `n` (n ≥ 2) is due from `issue + (n−1)·days − 10` to
//! `issue + (n−1)·days − 1`. The first dispense must happen within [`FIRST_DISPENSE_DAYS`] days of
//! issue (our design choice, the 3-day validity printed on ordinary prescriptions).
//! `C`/`E` (seed 003, 2.0 upload corrections): `C` cancels an undispensed refill 2 or 3, only by the
//! original prescribing institution; a dispensed refill cannot be cancelled; `E` turns a cancelled
//! refill back to undispensed.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

/// Days (counting the issue day) within which the first dispense must happen.
pub const FIRST_DISPENSE_DAYS: u64 = 3;
/// A refill may be collected within this many days before the previous supply ends.
pub const REFILL_EARLY_DAYS: u64 = 10;

/// When refill `refill` (1-based) may be collected, both ends inclusive, Taiwan dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefillWindow {
    /// 1 = the first dispense, 2 and 3 = the refills.
    pub refill: u8,
    /// First day it may be collected.
    pub from: NaiveDate,
    /// Last day it may be collected.
    pub to: NaiveDate,
}

impl RefillWindow {
    /// Whether `day` falls inside the window.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.from <= day && day <= self.to
    }
}

fn add(d: NaiveDate, n: u64) -> NaiveDate {
    // Adding at most a few hundred days to a date in the ROC calendar range cannot overflow
    // chrono's range (±262,000 years); fall back to the max date rather than panic.
    d.checked_add_days(Days::new(n)).unwrap_or(NaiveDate::MAX)
}

/// The planned pick-up windows of every dispense of a prescription issued on `issued_on` with
/// `days` of supply each, dispensed `refills` times in all (1 for an ordinary prescription).
pub fn refill_windows(issued_on: NaiveDate, days: u16, refills: u8) -> Vec<RefillWindow> {
    let days = u64::from(days);
    (1..=refills)
        .map(|n| {
            if n == 1 {
                RefillWindow {
                    refill: 1,
                    from: issued_on,
                    to: add(issued_on, FIRST_DISPENSE_DAYS - 1),
                }
            } else {
                let end = add(issued_on, u64::from(n - 1) * days);
                RefillWindow {
                    refill: n,
                    from: end
                        .checked_sub_days(Days::new(REFILL_EARLY_DAYS))
                        .unwrap_or(issued_on)
                        .max(issued_on),
                    to: end.checked_sub_days(Days::new(1)).unwrap_or(issued_on),
                }
            }
        })
        .collect()
}

/// The window of the next refill when the previous one was actually collected on `collected_on`.
pub fn next_window_after(collected_on: NaiveDate, days: u16, next_refill: u8) -> RefillWindow {
    let end = add(collected_on, u64::from(days));
    RefillWindow {
        refill: next_refill,
        from: end
            .checked_sub_days(Days::new(REFILL_EARLY_DAYS))
            .unwrap_or(collected_on)
            .max(collected_on),
        to: end.checked_sub_days(Days::new(1)).unwrap_or(collected_on),
    }
}

/// The dispensing state of one refill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefillStatus {
    /// Not dispensed yet.
    Open,
    /// Dispensed by `by` (pharmacy code) at `at` (Taiwan date-time text).
    Dispensed {
        /// The pharmacy.
        by: String,
        /// When.
        at: String,
    },
    /// Cancelled by the prescriber (operation `C`).
    Cancelled,
}

/// The two chronic-refill operations of the 2.0 upload corrections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefillOp {
    /// `C`: cancel an undispensed refill.
    Cancel,
    /// `E`: undo a `C`.
    UndoCancel,
}

impl RefillOp {
    /// The NHI operation letter.
    pub fn letter(self) -> char {
        match self {
            RefillOp::Cancel => 'C',
            RefillOp::UndoCancel => 'E',
        }
    }
}

/// Why a `C` or `E` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefillError {
    /// Only refills 2 and 3 of a chronic prescription can be cancelled.
    #[error("only refill 2 or 3 of a chronic continuous prescription can be cancelled or restored")]
    NotARefill,
    /// Only the original prescribing institution may do this.
    #[error("only the original prescribing institution may cancel or restore a refill")]
    NotPrescriber,
    /// A dispensed refill cannot be cancelled.
    #[error("refill already dispensed by {by} at {at}: it cannot be cancelled")]
    AlreadyDispensed {
        /// The pharmacy.
        by: String,
        /// When.
        at: String,
    },
    /// `C` on a refill that is already cancelled.
    #[error("refill already cancelled")]
    AlreadyCancelled,
    /// `E` on a refill that is not cancelled.
    #[error("refill is not cancelled: nothing to undo")]
    NotCancelled,
}

/// Applies `op` to refill `refill` (of `refills` in all) in state `status`, asked by institution
/// `requester` for a prescription of institution `prescriber`; returns the new state.
pub fn apply_op(
    status: &RefillStatus,
    refill: u8,
    refills: u8,
    op: RefillOp,
    requester: &str,
    prescriber: &str,
) -> Result<RefillStatus, RefillError> {
    if refill < 2 || refill > refills {
        return Err(RefillError::NotARefill);
    }
    if requester != prescriber {
        return Err(RefillError::NotPrescriber);
    }
    match (op, status) {
        (RefillOp::Cancel, RefillStatus::Open) => Ok(RefillStatus::Cancelled),
        (RefillOp::Cancel, RefillStatus::Cancelled) => Err(RefillError::AlreadyCancelled),
        (_, RefillStatus::Dispensed { by, at }) => Err(RefillError::AlreadyDispensed {
            by: by.clone(),
            at: at.clone(),
        }),
        (RefillOp::UndoCancel, RefillStatus::Cancelled) => Ok(RefillStatus::Open),
        (RefillOp::UndoCancel, RefillStatus::Open) => Err(RefillError::NotCancelled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn twenty_eight_day_refills_fall_in_the_last_ten_days() {
        let w = refill_windows(d(2024, 3, 1), 28, 3);
        assert_eq!(w.len(), 3);
        assert_eq!((w[0].from, w[0].to), (d(2024, 3, 1), d(2024, 3, 3)));
        // Supply 1 covers 3/1–3/28: refill 2 from 3/19 to 3/28.
        assert_eq!(
            (w[1].refill, w[1].from, w[1].to),
            (2, d(2024, 3, 19), d(2024, 3, 28))
        );
        // Supply 2 planned 3/29–4/25: refill 3 from 4/16 to 4/25.
        assert_eq!(
            (w[2].refill, w[2].from, w[2].to),
            (3, d(2024, 4, 16), d(2024, 4, 25))
        );
        assert!(w[1].contains(d(2024, 3, 19)) && !w[1].contains(d(2024, 3, 18)));
        assert!(!w[1].contains(d(2024, 3, 29)));
    }

    #[test]
    fn thirty_day_refills_across_a_leap_february() {
        let w = refill_windows(d(2024, 2, 1), 30, 3);
        assert_eq!((w[1].from, w[1].to), (d(2024, 2, 21), d(2024, 3, 1)));
        assert_eq!((w[2].from, w[2].to), (d(2024, 3, 22), d(2024, 3, 31)));
        assert_eq!(refill_windows(d(2024, 2, 1), 30, 1).len(), 1);
    }

    #[test]
    fn next_window_follows_the_actual_pick_up() {
        let w = next_window_after(d(2024, 3, 25), 28, 3);
        assert_eq!((w.from, w.to), (d(2024, 4, 12), d(2024, 4, 21)));
    }

    #[test]
    fn cancel_and_undo_follow_the_rules() {
        let me = "3501200000";
        let other = "3501200001";
        let open = RefillStatus::Open;
        let c = apply_op(&open, 2, 3, RefillOp::Cancel, me, me).unwrap();
        assert_eq!(c, RefillStatus::Cancelled);
        assert_eq!(
            apply_op(&c, 2, 3, RefillOp::Cancel, me, me),
            Err(RefillError::AlreadyCancelled)
        );
        assert_eq!(
            apply_op(&c, 2, 3, RefillOp::UndoCancel, me, me),
            Ok(RefillStatus::Open)
        );
        assert_eq!(
            apply_op(&open, 2, 3, RefillOp::UndoCancel, me, me),
            Err(RefillError::NotCancelled)
        );
        assert_eq!(
            apply_op(&open, 2, 3, RefillOp::Cancel, other, me),
            Err(RefillError::NotPrescriber)
        );
        assert_eq!(
            apply_op(&c, 3, 3, RefillOp::UndoCancel, other, me),
            Err(RefillError::NotPrescriber)
        );
        assert_eq!(
            apply_op(&open, 1, 3, RefillOp::Cancel, me, me),
            Err(RefillError::NotARefill)
        );
        assert_eq!(
            apply_op(&open, 3, 2, RefillOp::Cancel, me, me),
            Err(RefillError::NotARefill)
        );
        let done = RefillStatus::Dispensed {
            by: "5901010010".into(),
            at: "1130320 101500".into(),
        };
        assert!(matches!(
            apply_op(&done, 3, 3, RefillOp::Cancel, me, me),
            Err(RefillError::AlreadyDispensed { .. })
        ));
        assert_eq!(RefillOp::Cancel.letter(), 'C');
        assert_eq!(RefillOp::UndoCancel.letter(), 'E');
    }
}
