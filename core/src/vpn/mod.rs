//! The HTTPS client of the NHI VPN services: pinning, request signing, wire types, MediCloud cache.
//!
//! - [`binding`]: the device-binding QR code (QR-2);
//! - [`pinning`]: the certificate pin taken from QR-2 (a custom rustls verifier);
//! - [`signing`]: the device key and the signature every request carries;
//! - [`client`]: [`VpnClient`] — enrolment, card data upload 2.0, upload results, MediCloud, order
//!   sets, and the cloud SAM ([`crate::card::sam::SamAuthority`]);
//! - [`upload_xml`]: the 2.0 upload XML writer (Big5);
//! - [`medicloud`]: the MediCloud cache readable offline;
//! - [`wire`]: the JSON bodies; [`error`]: [`VpnError`], each saying whether it is retryable.

pub mod binding;
pub mod client;
pub mod error;
pub mod medicloud;
pub mod pinning;
pub mod secrets;
pub mod signing;
pub mod upload_xml;
pub mod wire;

pub use binding::BindingQr;
pub use client::{ClientOptions, Enrolment, VpnClient, WireStats};
pub use error::{EnrolmentError, FailureClass, NetworkKind, VpnError};
pub use medicloud::{MediCloudCache, MediCloudView};
pub use secrets::{MemorySecretStore, SecretStore};
pub use signing::DeviceKey;
