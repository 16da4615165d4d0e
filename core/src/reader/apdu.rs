//! The seam between the reader and the card application: an exchange of ISO 7816 APDUs with the
//! card in one slot of a connected, authenticated reader.

/// Which card slot of the reader (the supported readers have two: the practitioner's HPC and the
/// patient's NHI card).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum CardSlot {
    /// The medical staff card (醫事人員卡, HPC).
    Practitioner,
    /// The patient's NHI card.
    Patient,
}

/// Why an exchange with the reader failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReaderError {
    /// No card in the slot (control-software code 4013).
    #[error("no card in the {0:?} slot")]
    NoCard(CardSlot),
    /// The card was removed during the exchange.
    #[error("the card was removed during the exchange")]
    CardRemoved,
    /// The link to the reader dropped; the exchange may or may not have reached the card.
    #[error("the reader disconnected")]
    Disconnected,
    /// The reader did not answer in time.
    #[error("the reader did not answer in time")]
    Timeout,
    /// A frame failed authentication, was replayed, reordered or truncated.
    #[error("rejected frame from the reader: {0}")]
    BadFrame(String),
    /// No Bluetooth adapter on this machine.
    #[error("no Bluetooth adapter")]
    NoAdapter,
    /// The reader is not paired, or its pairing does not match.
    #[error("reader not paired: {0}")]
    NotPaired(String),
    /// The reader reported an error of its own.
    #[error("reader error: {0}")]
    Device(String),
    /// The pairing was not confirmed on the reader itself (its button was not pressed), or the
    /// reader refuses pairing until it is (too many failed attempts).
    #[error("pairing not confirmed on the reader: {0}")]
    NotConfirmed(String),
}

/// Sends APDUs to the card in one slot and returns the card's response (data + SW1 SW2).
#[async_trait::async_trait]
pub trait ApduChannel: Send + Sync {
    /// Transmits one command APDU and returns the full response APDU, status word included.
    async fn transmit(&self, slot: CardSlot, apdu: &[u8]) -> Result<Vec<u8>, ReaderError>;
    /// Whether a card is present in `slot` as the reader last reported.
    async fn card_present(&self, slot: CardSlot) -> Result<bool, ReaderError>;
}
