//! The core's internal error, wrapping each layer's own error type. The small public error that
//! the app can act on is made from it in one place (`app::error`), which also decides what is logged.

/// Anything that can go wrong inside the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rule of the NHI formats was broken by the input.
    #[error(transparent)]
    Rule(#[from] crate::rules::RuleError),
    /// The host key store failed.
    #[error(transparent)]
    KeyStore(#[from] crate::platform::KeyStoreError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A call to the NHI VPN services (or building its request) failed.
    #[error(transparent)]
    Vpn(#[from] crate::vpn::VpnError),
}

/// Result with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
