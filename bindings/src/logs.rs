//! Log forwarding export: the host's sink gets the core's lines at or above its level, filtered
//! and stripped of patient data in Rust.

use crate::error::{HomeVisitError, guard};
use crate::platform::{LogLevel, LogSink, LogSinkAdapter};
use std::sync::Arc;

/// Sends the core's log lines at or above `level` to `sink` (call again to replace either).
#[uniffi::export]
pub fn install_log_sink(sink: Arc<dyn LogSink>, level: LogLevel) -> Result<(), HomeVisitError> {
    guard(|| homevisit_core::app::install_log_sink(Arc::new(LogSinkAdapter(sink)), level.into()))
}

/// Stops forwarding log lines.
#[uniffi::export]
pub fn uninstall_log_sink() {
    homevisit_core::app::uninstall_log_sink();
}
