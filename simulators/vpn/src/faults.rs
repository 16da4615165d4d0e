//! Fault injection on the device routes (`/v1/…`): latency, a failure rate over chosen fault kinds,
//! and clock skew — deterministic for a seed. A fault strikes either before the request reaches its
//! handler (nothing happened) or after (the server did the work but the answer is lost or damaged),
//! which is what makes exactly-once delivery hard.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// One kind of injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// HTTP 500 with an empty body.
    Status500,
    /// HTTP 503 with an empty body (always before the handler).
    Status503,
    /// The server never answers (the client's timeout fires).
    Hang,
    /// The connection is closed without a complete answer.
    Drop,
    /// A 200 whose JSON body is cut in half.
    Truncate,
    /// A 200 with random bytes as its JSON body.
    Garbage,
    /// A 200 with an HTML page instead of JSON.
    WrongContentType,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Status500,
        FaultKind::Status503,
        FaultKind::Hang,
        FaultKind::Drop,
        FaultKind::Truncate,
        FaultKind::Garbage,
        FaultKind::WrongContentType,
    ];
}

/// The fault knobs (settable at start and at run time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    /// Seed of the deterministic fault sequence.
    pub seed: u64,
    /// Added to every answer, in ms.
    pub latency_ms: u64,
    /// Share of requests that fail, 0.0–1.0.
    pub failure_rate: f64,
    /// The kinds a failing request picks from (uniformly); empty means all.
    pub kinds: Vec<FaultKind>,
    /// How long a hung request hangs, in ms (the client's timeout should be shorter).
    pub hang_ms: u64,
    /// The server's clock runs this many ms ahead of the real one (negative: behind).
    pub clock_skew_ms: i64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            latency_ms: 0,
            failure_rate: 0.0,
            kinds: Vec::new(),
            hang_ms: 60_000,
            clock_skew_ms: 0,
        }
    }
}

impl FaultConfig {
    /// No faults at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every request fails with `kind` (before or after the handler, by the seed).
    pub fn always(kind: FaultKind) -> Self {
        Self {
            failure_rate: 1.0,
            kinds: vec![kind],
            ..Self::default()
        }
    }
}

/// The fault state: the knobs and the deterministic random sequence.
#[derive(Debug)]
pub struct Faults {
    config: FaultConfig,
    rng: u64,
    injected: u64,
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The fault, if any.
    pub kind: Option<FaultKind>,
    /// Strike after the handler ran (the answer is lost), not before.
    pub after: bool,
    /// Latency to add.
    pub latency: Duration,
    /// Hang time, for [`FaultKind::Hang`].
    pub hang: Duration,
    /// Random value for garbage bodies.
    pub noise: u64,
}

impl Faults {
    /// Faults with `config`.
    pub fn new(config: FaultConfig) -> Self {
        let rng = config.seed ^ 0x9E37_79B9_7F4A_7C15;
        Self {
            config,
            rng,
            injected: 0,
        }
    }

    /// The knobs.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Replaces the knobs (restarting the sequence from the new seed).
    pub fn set(&mut self, config: FaultConfig) {
        *self = Self {
            injected: self.injected,
            ..Self::new(config)
        };
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> u64 {
        self.injected
    }

    /// splitmix64: small, good enough, and the same on every platform.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Decides the fate of the next request.
    pub fn decide(&mut self) -> Decision {
        let roll = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let pick = self.next();
        let after = self.next() & 1 == 1;
        let noise = self.next();
        let kinds: &[FaultKind] = if self.config.kinds.is_empty() {
            &FaultKind::ALL
        } else {
            &self.config.kinds
        };
        let kind = (roll < self.config.failure_rate).then(|| kinds[(pick % kinds.len() as u64) as usize]);
        if kind.is_some() {
            self.injected += 1;
        }
        Decision {
            after: after && kind != Some(FaultKind::Status503),
            kind,
            latency: Duration::from_millis(self.config.latency_ms),
            hang: Duration::from_millis(self.config.hang_ms),
            noise,
        }
    }
}

fn fault_response(kind: FaultKind, decision: &Decision, real: Option<Vec<u8>>) -> Response {
    match kind {
        FaultKind::Status500 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        FaultKind::Status503 => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        // Sent only after the hang, if the client is still waiting.
        FaultKind::Hang => StatusCode::GATEWAY_TIMEOUT.into_response(),
        FaultKind::Drop => {
            // Headers may go out, then the body fails: hyper closes the connection mid-answer.
            let stream = futures_util::stream::once(async {
                Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("injected drop"))
            });
            let mut r = Response::new(Body::from_stream(stream));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        FaultKind::Truncate => {
            let full = real.unwrap_or_else(|| br#"{"b":"B0000000000000000","r":[]}"#.to_vec());
            let half = full[..full.len() / 2].to_vec();
            ([(header::CONTENT_TYPE, "application/json")], half).into_response()
        }
        FaultKind::Garbage => {
            let mut x = decision.noise;
            let bytes: Vec<u8> = (0..48)
                .map(|_| {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    (x >> 56) as u8
                })
                .collect();
            ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
        }
        FaultKind::WrongContentType => (
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>VPN gateway maintenance</body></html>",
        )
            .into_response(),
    }
}

/// The middleware applying the faults to the device routes.
pub async fn layer(State(state): State<Arc<crate::SimState>>, req: Request, next: Next) -> Response {
    let decision = state.faults.lock().map(|mut f| f.decide()).unwrap_or(Decision {
        kind: None,
        after: false,
        latency: Duration::ZERO,
        hang: Duration::ZERO,
        noise: 0,
    });
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    let Some(kind) = decision.kind else {
        return next.run(req).await;
    };
    let real = if decision.after {
        let resp = next.run(req).await;
        let body = axum::body::to_bytes(resp.into_body(), 16 << 20)
            .await
            .map(|b| b.to_vec())
            .ok();
        Some(body.unwrap_or_default())
    } else {
        None
    };
    if kind == FaultKind::Hang {
        tokio::time::sleep(decision.hang).await;
    }
    fault_response(kind, &decision, real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_faults_and_rate_is_respected() {
        let cfg = FaultConfig {
            seed: 42,
            failure_rate: 0.3,
            ..FaultConfig::default()
        };
        let mut a = Faults::new(cfg.clone());
        let mut b = Faults::new(cfg);
        let da: Vec<_> = (0..1000).map(|_| a.decide()).collect();
        let db: Vec<_> = (0..1000).map(|_| b.decide()).collect();
        assert_eq!(da, db);
        let n = da.iter().filter(|d| d.kind.is_some()).count();
        assert!((200..400).contains(&n), "{n}");
        for k in FaultKind::ALL {
            assert!(da.iter().any(|d| d.kind == Some(k)), "{k:?} never drawn");
        }
        assert!(
            da.iter()
                .all(|d| !(d.after && d.kind == Some(FaultKind::Status503)))
        );
        assert_eq!(a.injected(), n as u64);
        let mut none = Faults::new(FaultConfig::none());
        assert!((0..100).all(|_| none.decide().kind.is_none()));
    }
}
