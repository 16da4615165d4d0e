//! The device's cache of the shared record: one sealed kv entry per case (namespace
//! [`NAMESPACE`], key = the case id) holding the [`CaseFile`] as this institution sees it, plus
//! the ids of the messages read here ([`READ_NAMESPACE`]) and the team members
//! ([`MEMBERS_KEY`]). No table of its own (so no migration): a device holds the cases of its
//! teams, a few hundred at most.

use super::model::{CaseFile, TeamMember};
use crate::store::{Store, StoreError};
use std::collections::BTreeSet;

/// The kv namespace of cached cases.
pub const NAMESPACE: &str = "team_case";
/// The kv namespace of read-message sets (key: case id).
pub const READ_NAMESPACE: &str = "team_read";
/// The kv namespace of the team members (one key, [`MEMBERS_KEY`]).
pub const MEMBERS_NAMESPACE: &str = "team_members";
/// The key of the team members.
pub const MEMBERS_KEY: &str = "members";

/// Reads one case file.
pub fn get(store: &Store, case_id: &str) -> Result<Option<CaseFile>, StoreError> {
    match store.kv_get(NAMESPACE, case_id)? {
        None => Ok(None),
        Some(b) => Ok(Some(serde_json::from_slice(&b)?)),
    }
}

/// Writes (or replaces) one case file.
pub fn put(store: &Store, file: &CaseFile) -> Result<(), StoreError> {
    store.kv_put(NAMESPACE, &file.case.case_id, &serde_json::to_vec(file)?)
}

/// Removes a case and its read marks (a withdrawn access purges the cache).
pub fn purge(store: &Store, case_id: &str) -> Result<(), StoreError> {
    store.kv_delete(NAMESPACE, case_id)?;
    store.kv_delete(READ_NAMESPACE, case_id)?;
    Ok(())
}

/// Every cached case file.
pub fn all(store: &Store) -> Result<Vec<CaseFile>, StoreError> {
    let mut out = Vec::new();
    for key in store.kv_keys(NAMESPACE)? {
        if let Some(f) = get(store, &key)? {
            out.push(f);
        }
    }
    Ok(out)
}

/// The ids of the messages of `case_id` read on this device.
pub fn read_ids(store: &Store, case_id: &str) -> Result<BTreeSet<String>, StoreError> {
    match store.kv_get(READ_NAMESPACE, case_id)? {
        None => Ok(BTreeSet::new()),
        Some(b) => Ok(serde_json::from_slice(&b)?),
    }
}

/// Records the messages `ids` of `case_id` as read.
pub fn mark_read(
    store: &Store,
    case_id: &str,
    ids: impl IntoIterator<Item = String>,
) -> Result<(), StoreError> {
    let mut set = read_ids(store, case_id)?;
    set.extend(ids);
    store.kv_put(READ_NAMESPACE, case_id, &serde_json::to_vec(&set)?)
}

/// The cached team members.
pub fn members(store: &Store) -> Result<Vec<TeamMember>, StoreError> {
    match store.kv_get(MEMBERS_NAMESPACE, MEMBERS_KEY)? {
        None => Ok(Vec::new()),
        Some(b) => Ok(serde_json::from_slice(&b)?),
    }
}

/// Replaces the cached team members.
pub fn put_members(store: &Store, members: &[TeamMember]) -> Result<(), StoreError> {
    store.kv_put(MEMBERS_NAMESPACE, MEMBERS_KEY, &serde_json::to_vec(members)?)
}
