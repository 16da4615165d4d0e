//! Orders (醫囑): every field optional, but at least one order complete; a ticked tube change
//! needs frequency, material and size.

use super::Violation;
use crate::hmic::model::{Orders, TubeOrder};

/// The tube orders by stable name.
pub fn tubes(o: &Orders) -> [(&'static str, Option<&TubeOrder>); 3] {
    [
        ("ng_tube", o.ng_tube.as_ref()),
        ("urinary_catheter", o.urinary_catheter.as_ref()),
        ("tracheostomy", o.tracheostomy.as_ref()),
    ]
}

/// Checks the orders: each ticked tube change complete, and at least one order.
pub fn check(o: &Orders) -> Result<(), Violation> {
    const RULE: &str = "tube_order_complete";
    for (name, tube) in tubes(o) {
        let Some(t) = tube else { continue };
        if t.every_days.is_none_or(|d| d == 0) {
            return Err(Violation::invalid(
                format!("orders.{name}.every_days"),
                RULE,
                "a tube change needs its frequency",
            ));
        }
        if t.material.trim().is_empty() {
            return Err(Violation::invalid(
                format!("orders.{name}.material"),
                RULE,
                "a tube change needs its material",
            ));
        }
        if t.size_fr.is_none_or(|s| s == 0) {
            return Err(Violation::invalid(
                format!("orders.{name}.size_fr"),
                RULE,
                "a tube change needs its size",
            ));
        }
    }
    let any_text = [&o.pain_control, &o.other_treatment, &o.medication]
        .iter()
        .any(|t| !t.trim().is_empty());
    if !any_text && tubes(o).iter().all(|(_, t)| t.is_none()) {
        return Err(Violation::invalid(
            "orders",
            "at_least_one_complete_order",
            "at least one order must be filled in completely",
        ));
    }
    Ok(())
}
