//! Store benchmarks (issue 3): durable commit of one sealed visit with its outbox job into a store
//! that already holds 100,000 visits, compared with a plain SQLite insert+commit of the same number
//! of bytes under the same pragmas; open + migrate of that 100,000-visit store; and the app's first
//! screen on it (issue 10): a fresh `HomeVisit` → outbox counts + the 50 newest visits.
//!
//! The ratio compares **medians (p50)** of the two, measured in the same run on the same disk.

use super::{Group, Metric};
use homevisit_core::app::{AppConfig, DATABASE_FILE, HomeVisit};
use homevisit_core::model::{NationalId, Visit};
use homevisit_core::platform::{KeyStore, MemoryKeyStore, SystemClock};
use homevisit_core::store::{self, JobKind, NewJob, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PRELOAD: usize = 100_000;
const COMMITS: usize = 1_000;
const OPENS: usize = 7;
/// Visits the first screen lists.
const FIRST_SCREEN_VISITS: u32 = 50;
/// Bytes of a card-upload job payload (a 2.0 `REC` of one visit is about this size).
const PAYLOAD_LEN: usize = 1_200;
/// 2024-11-23 09:00 Taiwan time, unix ms.
const T0: i64 = 1_732_323_600_000;

/// The store group.
pub(super) fn group() -> Group {
    Group {
        metrics: &[
            "visit_commit_p50_ms",
            "visit_commit_p99_ms",
            "visit_commit_sqlite_p50_ms",
            "visit_commit_ratio_vs_sqlite",
            "store_open_100k_ms",
            "first_screen_100k_ms",
        ],
        run,
    }
}

fn err(e: impl std::fmt::Display) -> String {
    format!("store bench: {e}")
}

/// A valid national ID for patient number `n` (check digit found by trial).
fn national_id(n: usize) -> NationalId {
    let body = format!("A1{:07}", n % 10_000_000);
    (0..10)
        .find_map(|d| NationalId::parse(&format!("{body}{d}")).ok())
        .expect("one check digit in ten fits")
}

fn visit(n: usize, patients: &[NationalId]) -> Result<Visit, String> {
    let at = chrono::DateTime::from_timestamp_millis(T0 + n as i64 * 60_000)
        .ok_or("timestamp out of range")?
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).ok_or("offset")?);
    serde_json::from_value(serde_json::json!({
        "id": Store::new_id(),
        "visit_code": format!("{:020}", n).replace('0', "A"),
        "patient": {
            "card_number": format!("{:012}", n % 1000),
            "name": "陳大文",
            "national_id": patients[n % patients.len()].expose(),
            "birth_date": "1948-07-21",
            "sex": "Male",
            "issue_date": "2019-05-06",
        },
        "institution": "3501200000",
        "practitioner_id": "B120000009",
        "visit_type": "AH",
        "sequence_number": "0007",
        "visited_at": at.to_rfc3339(),
        "diagnoses": ["I10", "E119", "G450"],
        "note": "BP 138/82, stable; wound dressing changed; family taught insulin injection.",
        "orders": [
            {"kind": "Drug", "code": "AC45856100", "dose": "1", "frequency": "BID", "route": "PO", "days": 28, "total": 56.0},
            {"kind": "Treatment", "code": "05307C", "dose": "", "frequency": "", "route": "", "days": 0, "total": 1.0},
        ],
    }))
    .map_err(err)
}

fn job(visit: &Visit) -> NewJob {
    NewJob::new(
        JobKind::CardUpload,
        format!("upload-{}-v1", visit.id),
        vec![0x5a; PAYLOAD_LEN],
    )
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn run() -> Result<Vec<Metric>, String> {
    let dir = tempfile::tempdir().map_err(err)?;
    // The app's own file name, so that a `HomeVisit` on the directory opens this store.
    let path = dir.path().join(DATABASE_FILE);
    let keys = Arc::new(MemoryKeyStore::with_seed(42));
    let patients: Vec<NationalId> = (0..2_000).map(national_id).collect();

    // Bulk-load 100,000 visits (each with its job) in one transaction.
    let sample = visit(0, &patients)?;
    let bytes_per_commit = serde_json::to_vec(&sample).map_err(err)?.len() + PAYLOAD_LEN + 2 * 29;
    {
        let store = Store::open(&path, keys.as_ref()).map_err(err)?;
        let batch: Vec<(Visit, Vec<NewJob>)> = (0..PRELOAD)
            .map(|n| visit(n, &patients).map(|v| (v.clone(), vec![job(&v)])))
            .collect::<Result<_, _>>()?;
        store.commit_visits(&batch).map_err(err)?;
    }

    // Open + migrate the 100,000-visit store (median of several opens; the first warms the cache).
    let mut opens = Vec::with_capacity(OPENS);
    for _ in 0..OPENS {
        let start = Instant::now();
        let store = Store::open(&path, keys.as_ref()).map_err(err)?;
        opens.push(start.elapsed());
        drop(store);
    }
    opens.sort();

    // The first screen: a fresh app on the store → outbox counts + the 50 newest visits (median of
    // several; the first warms the cache).
    let mut screens = Vec::with_capacity(OPENS);
    for _ in 0..OPENS {
        let config = AppConfig {
            data_dir: dir.path().to_path_buf(),
            institution_code: "3501200000".into(),
            device_id: "bench-device".into(),
        };
        let start = Instant::now();
        let app =
            HomeVisit::open(config, keys.clone() as Arc<dyn KeyStore>, Arc::new(SystemClock)).map_err(err)?;
        let counts = app.outbox_counts().map_err(err)?;
        let newest = app.list_visits(FIRST_SCREEN_VISITS, 0).map_err(err)?;
        screens.push(start.elapsed());
        if counts.queued != PRELOAD || newest.len() != FIRST_SCREEN_VISITS as usize {
            return Err(format!(
                "store bench: first screen saw {} queued jobs and {} visits",
                counts.queued,
                newest.len()
            ));
        }
        drop(app);
    }
    screens.sort();

    // Plain SQLite: same pragmas, a table preloaded with as many rows, one insert of the same
    // number of bytes per transaction.
    let plain = rusqlite::Connection::open(dir.path().join("plain.db")).map_err(err)?;
    store::apply_pragmas(&plain).map_err(err)?;
    plain
        .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT NOT NULL, v BLOB NOT NULL)")
        .map_err(err)?;
    {
        let tx = plain.unchecked_transaction().map_err(err)?;
        let mut ins = tx.prepare("INSERT INTO t (k, v) VALUES (?1, ?2)").map_err(err)?;
        let blob = vec![0xa5u8; bytes_per_commit];
        for _ in 0..PRELOAD {
            ins.execute(rusqlite::params![Store::new_id(), blob])
                .map_err(err)?;
        }
        drop(ins);
        tx.commit().map_err(err)?;
    }
    let plain_commit = |blob: &[u8]| -> Result<Duration, String> {
        let key = Store::new_id();
        let start = Instant::now();
        let tx = plain.unchecked_transaction().map_err(err)?;
        tx.prepare_cached("INSERT INTO t (k, v) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(rusqlite::params![key, blob]))
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(start.elapsed())
    };

    // 1,000 durable commits, each one visit + one job, sealed; interleaved one for one with the
    // plain inserts so that both see the same disk (other processes' I/O slows every fsync).
    let store = Store::open(&path, keys.as_ref()).map_err(err)?;
    if store.count_visits().map_err(err)? != PRELOAD as u64 {
        return Err("store bench: preload incomplete".into());
    }
    let visits: Vec<Visit> = (PRELOAD..PRELOAD + COMMITS)
        .map(|n| visit(n, &patients))
        .collect::<Result<_, _>>()?;
    let blob = vec![0x3cu8; bytes_per_commit];
    let mut commits = Vec::with_capacity(COMMITS);
    let mut baseline = Vec::with_capacity(COMMITS);
    for (i, v) in visits.iter().enumerate() {
        if i % 2 == 1 {
            baseline.push(plain_commit(&blob)?);
        }
        let jobs = [job(v)];
        let start = Instant::now();
        store.commit_visit(v, &jobs).map_err(err)?;
        commits.push(start.elapsed());
        if i % 2 == 0 {
            baseline.push(plain_commit(&blob)?);
        }
    }
    drop(store);
    commits.sort();
    baseline.sort();

    let p50 = percentile(&commits, 0.50);
    let sqlite_p50 = percentile(&baseline, 0.50);
    Ok(vec![
        Metric {
            metric: "visit_commit_p50_ms",
            value: p50,
            unit: "ms",
            target: None,
            note: None,
        },
        Metric {
            metric: "visit_commit_p99_ms",
            value: percentile(&commits, 0.99),
            unit: "ms",
            target: Some(5.0),
            note: None,
        },
        Metric {
            metric: "visit_commit_sqlite_p50_ms",
            value: sqlite_p50,
            unit: "ms",
            target: None,
            note: None,
        },
        Metric {
            metric: "visit_commit_ratio_vs_sqlite",
            value: p50 / sqlite_p50,
            unit: "x",
            target: Some(1.2),
            note: None,
        },
        Metric {
            metric: "store_open_100k_ms",
            value: percentile(&opens, 0.50),
            unit: "ms",
            target: Some(50.0),
            note: None,
        },
        Metric {
            metric: "first_screen_100k_ms",
            value: percentile(&screens, 0.50),
            unit: "ms",
            target: Some(30.0),
            note: None,
        },
    ])
}
