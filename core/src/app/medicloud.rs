//! MediCloud (雲端藥歷) through the facade: a patient's recent medications and labs, fresh from the
//! VPN when online (and kept sealed), else the sealed copy with its age. The national ID is only
//! the lookup key: it is never logged and never part of an error.

use super::{AppError, HomeVisit, input};
use crate::vpn::MediCloudView;

impl HomeVisit {
    /// The patient's MediCloud record: fetched (and cached sealed) when the host says the network
    /// is usable, falling back to the cached copy when the VPN cannot be reached; read from the
    /// cache while offline. The view carries the copy's age and whether it came from the cache.
    /// Neither a fresh answer nor a cached copy → [`AppError::Network`] (or the server's refusal).
    pub async fn medicloud(&self, national_id: &str) -> Result<MediCloudView, AppError> {
        let id = crate::rules::national_id::parse(national_id.trim())
            .map_err(|_| input::invalid("national_id", "must be a valid national ID"))?;
        if !self.is_online() {
            return self.medicloud.get(&id)?.ok_or(AppError::Network);
        }
        let client = self.vpn_client()?;
        Ok(self.medicloud.fetch(&client, &id).await?)
    }
}
