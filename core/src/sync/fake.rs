//! A fake upload target for tests and simulations: records each idempotency key once, validates
//! records with a rule the test gives, and injects faults (scripted or at a seeded random rate).

use super::backoff::Jitter;
use super::job::FieldError;
use super::target::{ItemOutcome, ItemResult, UploadError, UploadItem, UploadTarget};
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// A fault the fake server injects into one upload call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request never reaches the server (connection refused / timeout before sending).
    NetworkBefore,
    /// The server records the batch but the response is lost (dropped connection / timeout).
    LostResponse,
    /// HTTP 5xx before processing.
    ServerError,
    /// The server records the batch but answers garbage (unreadable body).
    GarbageAfter,
    /// The server processes only the first half of the batch and answers for it only.
    HalfAnswered,
    /// Every record of the batch gets a per-record "try later".
    ItemRetry,
}

const ALL_FAULTS: [Fault; 6] = [
    Fault::NetworkBefore,
    Fault::LostResponse,
    Fault::ServerError,
    Fault::GarbageAfter,
    Fault::HalfAnswered,
    Fault::ItemRetry,
];

/// Decides whether a record is valid: `Some((reason, fields))` rejects it.
pub type Validator = Box<dyn Fn(&UploadItem) -> Option<(String, Vec<FieldError>)> + Send + Sync>;
/// Decides whether a record makes its whole batch malformed.
pub type MalformedRule = Box<dyn Fn(&UploadItem) -> bool + Send + Sync>;

/// The fake server.
pub struct FakeTarget {
    state: Mutex<FakeState>,
    validator: Option<Validator>,
    malformed: Option<MalformedRule>,
}

#[derive(Default)]
struct FakeState {
    /// Idempotency key → visit code, recorded once.
    by_key: HashMap<String, String>,
    /// Records in the order the server recorded them.
    recorded: Vec<UploadItem>,
    calls: usize,
    script: VecDeque<Option<Fault>>,
    fault_rate: f64,
    rng: Option<Jitter>,
}

impl Default for FakeTarget {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeTarget {
    /// A fake that accepts everything and never fails.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(FakeState::default()),
            validator: None,
            malformed: None,
        }
    }

    /// Rejects records for which `v` returns a reason.
    pub fn with_validator(mut self, v: Validator) -> Self {
        self.validator = Some(v);
        self
    }

    /// Refuses a whole batch as malformed when any record matches `m`.
    pub fn with_malformed(mut self, m: MalformedRule) -> Self {
        self.malformed = Some(m);
        self
    }

    /// Injects a random fault of any kind into `rate` of the calls (seeded, repeatable).
    pub fn with_fault_rate(self, rate: f64, seed: u64) -> Self {
        if let Ok(mut s) = self.state.lock() {
            s.fault_rate = rate;
            s.rng = Some(Jitter::seeded(seed));
        }
        self
    }

    /// The next calls get these faults (`None` = a clean call), before any random fault.
    pub fn script(&self, faults: impl IntoIterator<Item = Option<Fault>>) {
        if let Ok(mut s) = self.state.lock() {
            s.script.extend(faults);
        }
    }

    /// How many times each visit code was recorded (every value must be 1).
    pub fn recorded_counts(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        if let Ok(s) = self.state.lock() {
            for r in &s.recorded {
                *m.entry(r.visit_code.clone()).or_insert(0) += 1;
            }
        }
        m
    }

    /// The records in the order the server recorded them.
    pub fn recorded(&self) -> Vec<UploadItem> {
        self.state.lock().map(|s| s.recorded.clone()).unwrap_or_default()
    }

    /// Upload calls received (including failed ones).
    pub fn calls(&self) -> usize {
        self.state.lock().map(|s| s.calls).unwrap_or(0)
    }

    fn process(&self, s: &mut FakeState, items: &[UploadItem]) -> Vec<ItemResult> {
        items
            .iter()
            .map(|it| {
                if s.by_key.contains_key(&it.idempotency_key) {
                    return ItemResult {
                        job_id: it.job_id.clone(),
                        outcome: ItemOutcome::Accepted { ack: "dup".into() },
                    };
                }
                if let Some((reason, fields)) = self.validator.as_ref().and_then(|v| v(it)) {
                    return ItemResult {
                        job_id: it.job_id.clone(),
                        outcome: ItemOutcome::Rejected { reason, fields },
                    };
                }
                s.by_key.insert(it.idempotency_key.clone(), it.visit_code.clone());
                s.recorded.push(it.clone());
                ItemResult {
                    job_id: it.job_id.clone(),
                    outcome: ItemOutcome::Accepted { ack: "ok".into() },
                }
            })
            .collect()
    }
}

#[async_trait]
impl UploadTarget for FakeTarget {
    async fn upload(&self, items: &[UploadItem]) -> Result<Vec<ItemResult>, UploadError> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| UploadError::Server("fake server poisoned".into()))?;
        s.calls += 1;
        let fault = match s.script.pop_front() {
            Some(f) => f,
            None => {
                let rate = s.fault_rate;
                match s.rng.as_mut() {
                    Some(rng) => {
                        let hit = rng.next_unit() < rate;
                        let k = (rng.next_unit() * ALL_FAULTS.len() as f64) as usize;
                        hit.then(|| ALL_FAULTS[k.min(ALL_FAULTS.len() - 1)])
                    }
                    None => None,
                }
            }
        };
        match fault {
            Some(Fault::NetworkBefore) => return Err(UploadError::Network("connection refused".into())),
            Some(Fault::ServerError) => return Err(UploadError::Server("HTTP 503".into())),
            _ => {}
        }
        if let Some(m) = &self.malformed
            && items.iter().any(m)
        {
            return Err(UploadError::BatchRejected("malformed RECS".into()));
        }
        match fault {
            Some(Fault::LostResponse) => {
                self.process(&mut s, items);
                Err(UploadError::Network("connection reset".into()))
            }
            Some(Fault::GarbageAfter) => {
                self.process(&mut s, items);
                Err(UploadError::Server("unreadable response body".into()))
            }
            Some(Fault::HalfAnswered) => {
                let half = items.len() / 2;
                Ok(self.process(&mut s, &items[..half]))
            }
            Some(Fault::ItemRetry) => Ok(items
                .iter()
                .map(|i| ItemResult {
                    job_id: i.job_id.clone(),
                    outcome: ItemOutcome::Retry {
                        reason: "busy".into(),
                    },
                })
                .collect()),
            _ => Ok(self.process(&mut s, items)),
        }
    }
}
