//! NHI audit-rule benchmarks (issue 14): one emergency-surcharge decision (`surcharge_us`), the
//! median over many timed batches of calls on visits spread over a week of 2026 (weekdays,
//! weekend, bracket edges).

use super::{Group, Metric};
use homevisit_core::rules::calendar::WorkingDays;
use homevisit_core::rules::emergency::surcharge;
use std::hint::black_box;
use std::time::Instant;

/// Timed batches; the median batch gives the figure.
const BATCHES: usize = 201;
/// Calls per batch (one call is too short to time alone).
const CALLS: usize = 200;
/// Target: 5 µs per decision.
const TARGET_US: f64 = 5.0;

/// The rules group.
pub(super) fn group() -> Group {
    Group {
        metrics: &["surcharge_us"],
        run,
    }
}

/// Visits (arrival, end in Unix ms) from Mon 2026-11-30 00:00 Taiwan time on, every 47 minutes,
/// lasting 20 to 110 minutes, so that many cross a bracket edge.
fn visits() -> Vec<(i64, i64)> {
    // 2026-11-30 00:00 +08:00 = 2026-11-29 16:00 UTC.
    let monday_ms: i64 = 1_795_968_000_000;
    (0..CALLS as i64)
        .map(|i| {
            let arrival = monday_ms + i * 47 * 60_000;
            (arrival, arrival + (20 + (i * 13) % 90) * 60_000)
        })
        .collect()
}

/// The median microseconds per call.
fn measure(batches: usize) -> Result<f64, String> {
    let cal = WorkingDays::taiwan();
    let visits = visits();
    // Every call must succeed, or the figure would time the error path.
    for &(a, e) in &visits {
        surcharge(a, e, cal).map_err(|err| format!("rules bench: {err}"))?;
    }
    let mut per_call_us: Vec<f64> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for &(a, e) in &visits {
                let _ = black_box(surcharge(black_box(a), black_box(e), cal));
            }
            t.elapsed().as_secs_f64() * 1e6 / visits.len() as f64
        })
        .collect();
    per_call_us.sort_by(f64::total_cmp);
    per_call_us
        .get(per_call_us.len() / 2)
        .copied()
        .ok_or_else(|| "rules bench: no batch".to_string())
}

fn run() -> Result<Vec<Metric>, String> {
    Ok(vec![Metric {
        metric: "surcharge_us",
        value: measure(BATCHES)?,
        unit: "us",
        target: Some(TARGET_US),
        note: None,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_benchmark_visits_all_have_a_surcharge_decision() {
        // Measures a few batches: the figure is positive and finite (no timing assertion).
        let us = measure(3).unwrap();
        assert!(us.is_finite() && us > 0.0);
    }
}
