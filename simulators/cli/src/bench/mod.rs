//! `homevisit-sim bench`: every benchmark metric of the issues, one group of metrics per module.
//! `--json` prints one object per line: `{"metric", "value", "unit", "target"}`.

use serde::Serialize;

mod card;
mod cdylib;
mod claims;
mod hmic;
mod rules;
mod rx;
mod store;
mod sync;
mod team;

/// One measured figure and the target it is held to.
#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    /// Stable metric name, e.g. `visit_commit_p99_ms`.
    pub metric: &'static str,
    /// The measured value.
    pub value: f64,
    /// Unit of `value` and `target`.
    pub unit: &'static str,
    /// The target (an upper bound unless the name says otherwise); `None` when only reported.
    pub target: Option<f64>,
    /// Why there is no value (`value` is then NaN, printed as JSON `null`), e.g. an artefact that
    /// was not built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A group of metrics measured together (they share a set-up).
struct Group {
    /// Names of the metrics the group reports, so `--only` can skip a group without running it.
    metrics: &'static [&'static str],
    /// Runs the measurements.
    run: fn() -> Result<Vec<Metric>, String>,
}

fn groups() -> Vec<Group> {
    vec![
        card::group(),
        store::group(),
        rx::group(),
        rules::group(),
        hmic::group(),
        sync::group(),
        team::group(),
        cdylib::group(),
        claims::group(),
    ]
}

/// Runs the groups whose metrics match `only` and prints them.
pub fn run(json: bool, only: Option<&str>) -> Result<(), String> {
    let wanted = |name: &str| only.is_none_or(|p| name.starts_with(p));
    let mut ran = 0;
    for group in groups() {
        if !group.metrics.iter().any(|m| wanted(m)) {
            continue;
        }
        for m in (group.run)()? {
            if !wanted(m.metric) {
                continue;
            }
            ran += 1;
            if json {
                println!("{}", serde_json::to_string(&m).map_err(|e| e.to_string())?);
            } else {
                let target = m
                    .target
                    .map(|t| format!(" (target {t} {})", m.unit))
                    .unwrap_or_default();
                match &m.note {
                    Some(note) => println!("{:<32} {:>12} {}{} [{note}]", m.metric, "-", m.unit, target),
                    None => println!("{:<32} {:>12.3} {}{}", m.metric, m.value, m.unit, target),
                }
            }
        }
    }
    if ran == 0 {
        return Err(format!("no metric matches {:?}", only.unwrap_or("")));
    }
    Ok(())
}
