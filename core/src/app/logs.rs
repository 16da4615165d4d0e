//! Log forwarding to the host (Logcat, os_log): a `tracing` subscriber that sends each event at
//! or above the host's chosen [`LogLevel`] to its [`LogSink`], filtered in Rust before anything
//! crosses the FFI. Only allow-listed fields cross (the message and a few counters and codes), so
//! a field that carries patient data (a name, a national ID) is never forwarded, and anything
//! shaped like a national ID left in the text is masked as a last defence. Other crates' events
//! (HTTP, TLS) are forwarded from `Warn` up only.

use super::AppError;
use crate::platform::{LogLevel, LogSink};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// The fields forwarded besides the message: counters, codes and states, never patient data.
pub const FORWARDED_FIELDS: &[&str] = &[
    "error",
    "code",
    "kind",
    "state",
    "status",
    "jobs",
    "job",
    "new_job",
    "done",
    "rejected",
    "retries",
    "remaining",
    "pending",
    "batch",
    "attempt",
    "extra",
    "panicked",
    "count",
];

/// The host's sink and level; `None` forwards nothing.
type Target = RwLock<Option<(Arc<dyn LogSink>, LogLevel)>>;

/// The process-wide target, and whether the forwarder became the global subscriber.
static GLOBAL: OnceLock<(Arc<Target>, bool)> = OnceLock::new();

/// Sends the core's log events at or above `level` to `sink` from now on. The first call installs
/// the forwarding subscriber as the process's `tracing` subscriber; later calls replace the sink
/// and level. [`AppError::Internal`] when another `tracing` subscriber was installed before.
pub fn install_log_sink(sink: Arc<dyn LogSink>, level: LogLevel) -> Result<(), AppError> {
    let (target, installed) = GLOBAL.get_or_init(|| {
        let target: Arc<Target> = Arc::new(RwLock::new(None));
        let forwarder = LogForwarder {
            target: target.clone(),
            next_span: AtomicU64::new(1),
        };
        let installed = tracing::subscriber::set_global_default(forwarder).is_ok();
        (target, installed)
    });
    if !installed {
        tracing::warn!(target: "homevisit::app", "another tracing subscriber is installed; logs not forwarded");
        return Err(AppError::Internal);
    }
    *target.write().unwrap_or_else(|p| p.into_inner()) = Some((sink, level));
    tracing::callsite::rebuild_interest_cache();
    Ok(())
}

/// Stops forwarding (the subscriber stays, with no sink).
pub fn uninstall_log_sink() {
    if let Some((target, _)) = GLOBAL.get() {
        *target.write().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// The forwarding subscriber (installed globally by [`install_log_sink`]; tests scope one).
pub struct LogForwarder {
    target: Arc<Target>,
    next_span: AtomicU64,
}

impl LogForwarder {
    /// A forwarder to `sink` at `level` (for a scoped `tracing::subscriber::with_default`).
    pub fn new(sink: Arc<dyn LogSink>, level: LogLevel) -> Self {
        Self {
            target: Arc::new(RwLock::new(Some((sink, level)))),
            next_span: AtomicU64::new(1),
        }
    }

    fn current(&self) -> Option<(Arc<dyn LogSink>, LogLevel)> {
        self.target.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The host level of a `tracing` level (`TRACE` is never forwarded).
fn level_of(level: &Level) -> Option<LogLevel> {
    match *level {
        Level::ERROR => Some(LogLevel::Error),
        Level::WARN => Some(LogLevel::Warn),
        Level::INFO => Some(LogLevel::Info),
        Level::DEBUG => Some(LogLevel::Debug),
        _ => None,
    }
}

/// Whether an event of `meta` passes the host's `min` level.
fn passes(meta: &Metadata<'_>, min: LogLevel) -> bool {
    let Some(level) = level_of(meta.level()) else {
        return false;
    };
    let ours = meta.target().starts_with("homevisit");
    level >= min && (ours || level >= LogLevel::Warn)
}

impl Subscriber for LogForwarder {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        // The level can change at run time: ask `enabled` every time.
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        if meta.is_span() {
            return false;
        }
        self.current().is_some_and(|(_, min)| passes(meta, min))
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed).max(1))
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let Some((sink, min)) = self.current() else { return };
        let meta = event.metadata();
        if !passes(meta, min) {
            return;
        }
        let Some(level) = level_of(meta.level()) else {
            return;
        };
        let mut line = Line::default();
        event.record(&mut line);
        let text = mask_national_ids(&line.text());
        let target = meta.target().to_string();
        let call = std::panic::AssertUnwindSafe(|| sink.log(level, &target, &text));
        // A host sink that throws loses that line, nothing else.
        let _ = std::panic::catch_unwind(call);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// The forwarded text of one event: its message, then the allow-listed fields as `key=value`.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Line {
    fn text(&self) -> String {
        if self.fields.is_empty() {
            self.message.clone()
        } else {
            format!("{}{}", self.message, self.fields)
        }
    }
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else if FORWARDED_FIELDS.contains(&field.name()) {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else if FORWARDED_FIELDS.contains(&field.name()) {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

/// Masks every national-ID-shaped run (a capital letter then nine digits) as `[id]`.
pub fn mask_national_ids(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        // No word boundary asked for: an ID glued to other text is still masked.
        let starts = chars[i].is_ascii_uppercase()
            && chars.len() >= i + 10
            && chars[i + 1..i + 10].iter().all(char::is_ascii_digit);
        if starts {
            out.push_str("[id]");
            i += 10;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Lines(Mutex<Vec<(LogLevel, String, String)>>);

    impl LogSink for Lines {
        fn log(&self, level: LogLevel, target: &str, message: &str) {
            self.0
                .lock()
                .unwrap()
                .push((level, target.to_string(), message.to_string()));
        }
    }

    #[test]
    fn events_below_the_level_or_from_other_crates_stay_in_rust() {
        let lines = Arc::new(Lines::default());
        tracing::subscriber::with_default(LogForwarder::new(lines.clone(), LogLevel::Info), || {
            tracing::debug!(target: "homevisit::app", "too fine");
            tracing::info!(target: "homevisit::app", jobs = 3, "drained");
            tracing::info!(target: "hyper::client", "connection pooled");
            tracing::warn!(target: "rustls", "odd certificate");
            tracing::trace!(target: "homevisit::app", "never");
        });
        let got = lines.0.lock().unwrap().clone();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            got[0],
            (LogLevel::Info, "homevisit::app".into(), "drained jobs=3".into())
        );
        assert_eq!(got[1].0, LogLevel::Warn);
    }

    #[test]
    fn patient_fields_are_never_forwarded_and_ids_in_text_are_masked() {
        let lines = Arc::new(Lines::default());
        let name = "王小明";
        let id = "A123456789";
        tracing::subscriber::with_default(LogForwarder::new(lines.clone(), LogLevel::Debug), || {
            tracing::info!(target: "homevisit::app", patient_name = name, national_id = id, visit_code = "X", jobs = 1, "visit recorded");
            tracing::warn!(target: "homevisit::app", error = %format!("bad card {id}"), "failed for {}", id);
        });
        let got = lines.0.lock().unwrap().clone();
        assert_eq!(got.len(), 2);
        for (_, _, text) in &got {
            assert!(!text.contains(id) && !text.contains(name), "{text}");
        }
        assert_eq!(got[0].2, "visit recorded jobs=1");
        assert_eq!(got[1].2, "failed for [id] error=bad card [id]");
    }

    #[test]
    fn a_throwing_sink_loses_only_its_line() {
        struct Throws;
        impl LogSink for Throws {
            fn log(&self, _: LogLevel, _: &str, _: &str) {
                panic!("host sink bug");
            }
        }
        tracing::subscriber::with_default(LogForwarder::new(Arc::new(Throws), LogLevel::Debug), || {
            tracing::warn!(target: "homevisit::app", "still fine");
        });
    }

    #[test]
    fn masking_leaves_other_text_alone() {
        assert_eq!(mask_national_ids("id A123456789."), "id [id].");
        assert_eq!(mask_national_ids("code XA1234567890"), "code X[id]0");
        assert_eq!(mask_national_ids("A1234"), "A1234");
        assert_eq!(mask_national_ids("批次 B1 ok"), "批次 B1 ok");
    }
}
