//! What every crash child shares: a fail point chosen by progress (a step counter or a step name),
//! the death by `SIGKILL` at it, the upload target that counts its requests as steps, and the
//! child's `main`.

use async_trait::async_trait;
use homevisit_core::sync::{ItemResult, UploadError, UploadItem, UploadTarget};
use std::future::Future;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Reports the step on stderr (`crash-at <step> [n]`, read by the parent) and dies by `SIGKILL`.
pub fn die_at(report: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "crash-at {report}");
    let _ = err.flush();
    // SAFETY: kill(2) on our own pid with a constant signal has no memory-safety preconditions;
    // SIGKILL cannot be caught, so nothing after it runs.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
}

/// Counts the steps a child reaches and kills it at the chosen one (1-based).
pub struct FailPoint {
    reached: AtomicU64,
    kill_at: Option<u64>,
}

impl FailPoint {
    /// The fail point named by the environment variable `var` (a step number), or none.
    pub fn from_env(var: &str) -> Result<Self, String> {
        let kill_at = match std::env::var(var) {
            Ok(v) => Some(v.parse().map_err(|_| format!("{var} must be a number"))?),
            Err(_) => None,
        };
        Ok(Self {
            reached: AtomicU64::new(0),
            kill_at,
        })
    }

    /// Marks one step reached; at the chosen one, reports it and dies by `SIGKILL`.
    pub fn step(&self, name: &str) {
        let n = self.reached.fetch_add(1, Ordering::SeqCst) + 1;
        if self.kill_at == Some(n) {
            die_at(&format!("{name} {n}"));
        }
    }
}

/// An upload target with the fail point's steps `send` (a request is about to leave) and `ack` (its
/// answer is in, not yet recorded by the engine).
pub struct CountingTarget<T> {
    inner: T,
    fp: Arc<FailPoint>,
}

impl<T> CountingTarget<T> {
    /// Wraps `inner`, counting on `fp`.
    pub fn new(inner: T, fp: Arc<FailPoint>) -> Self {
        Self { inner, fp }
    }
}

#[async_trait]
impl<T: UploadTarget> UploadTarget for CountingTarget<T> {
    async fn upload(&self, items: &[UploadItem]) -> Result<Vec<ItemResult>, UploadError> {
        self.fp.step("send");
        let answer = self.inner.upload(items).await;
        self.fp.step("ack");
        answer
    }
}

/// A child's `main`: runs `run` with the command-line arguments on a two-thread runtime; failure
/// is reported on stderr under the child's `name`.
pub fn child_main<F, Fut>(name: &str, run: F) -> ExitCode
where
    F: FnOnce(Vec<String>) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
