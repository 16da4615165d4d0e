//! The core's own small tokio runtime for background work (the sync loop) and for async calls
//! made from hosts whose executor is not tokio: the work runs here, the caller awaits a handle
//! that works on any executor, and a panic in the work comes back as [`AppError::Internal`].

use super::AppError;
use std::future::Future;
use std::sync::OnceLock;

/// Worker threads of the core runtime (the phone has few cores; the work is mostly I/O).
const WORKERS: usize = 2;

static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();

/// The runtime, built on first use.
pub(crate) fn handle() -> Result<tokio::runtime::Handle, AppError> {
    let rt = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("homevisit-core")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    match rt {
        Ok(rt) => Ok(rt.handle().clone()),
        Err(e) => {
            tracing::error!(target: "homevisit::app", error = %e, "the core runtime could not start");
            Err(AppError::Internal)
        }
    }
}

/// Runs `fut` on the core runtime and waits for it from any executor; a panic is `Internal`.
pub(crate) async fn run<T, F>(fut: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, AppError>> + Send + 'static,
{
    match handle()?.spawn(fut).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => Err(AppError::from_panic(e.into_panic())),
        Err(_) => Err(AppError::Internal),
    }
}
