//! HMIC case-application benchmark (issue 12): `hmic_validate_us`, the full validation of one
//! application on the device (`rules::hmic::validate`: identity and check digit, dates, every
//! text limit, disability, skin, ADL, intake, stage, ICD-10-CM list look-ups, orders, care
//! period), the median over timed batches of the fixed vectors' sample.

use super::{Group, Metric};
use homevisit_core::hmic::vectors::{SAMPLE_INSTITUTION, SAMPLE_TEAM, sample, today};
use homevisit_core::rules::hmic::validate;
use std::hint::black_box;
use std::time::Instant;

/// Timed batches; the median batch gives the figure.
const BATCHES: usize = 101;
/// Validations per batch.
const CALLS: usize = 100;
/// Target: 200 µs per validation.
const TARGET_US: f64 = 200.0;

/// The HMIC group.
pub(super) fn group() -> Group {
    Group {
        metrics: &["hmic_validate_us"],
        run,
    }
}

/// The median microseconds per validation.
fn measure(batches: usize) -> Result<f64, String> {
    let app = sample("bench", SAMPLE_INSTITUTION, SAMPLE_TEAM);
    let day = today();
    // The sample must pass, or the figure would time the error path.
    validate(&app, day).map_err(|e| format!("hmic bench: {e}"))?;
    let mut per_call_us: Vec<f64> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..CALLS {
                let _ = black_box(validate(black_box(&app), day));
            }
            t.elapsed().as_secs_f64() * 1e6 / CALLS as f64
        })
        .collect();
    per_call_us.sort_by(f64::total_cmp);
    per_call_us
        .get(per_call_us.len() / 2)
        .copied()
        .ok_or_else(|| "hmic bench: no batch".to_string())
}

fn run() -> Result<Vec<Metric>, String> {
    Ok(vec![Metric {
        metric: "hmic_validate_us",
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
    fn the_benchmark_sample_validates() {
        // A few batches: the figure is positive and finite (no timing assertion).
        let us = measure(2).unwrap();
        assert!(us.is_finite() && us > 0.0);
    }
}
