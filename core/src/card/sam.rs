//! What the card layer needs from the cloud secure access module (雲端安全模組, cloud SAM).
//!
//! The card layer never talks HTTP: `vpn` implements [`SamAuthority`] over HTTPS against the NHI
//! VPN (simulated by `nhi-vpn-sim`), and `nhi_reader_sim::keys::LocalSam` implements it in process
//! for tests. The card layer only relays opaque bytes between the card and the SAM.
//!
//! Mutual authentication of a patient card (two SAM round trips per visit):
//! 1. the card gives an 8-byte challenge (GET CHALLENGE `00 84 00 00 08`);
//! 2. [`SamAuthority::begin_card_auth`]: the SAM answers with its own challenge and its proof over
//!    both challenges under the card's key (a SAM without the NHI key hierarchy cannot make it);
//! 3. MUTUAL AUTHENTICATE `00 82 00 00 28 <sam challenge 8> <sam proof 32> 20`: the card checks the
//!    SAM's proof (a fake SAM is refused) and answers with its own proof;
//! 4. the card's proof is checked by the SAM in [`SamAuthority::verify_card`] or, during a visit,
//!    together with signing the visit in [`SamAuthority::sign_visit`] (a fake card is refused before
//!    anything is trusted or written).

/// Re-exported so that implementors outside the core need no direct `async-trait` dependency.
pub use async_trait::async_trait;

/// Why the cloud SAM could not help. Messages never hold patient data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamError {
    /// The SAM cannot be reached (no network, VPN down, timeout): the visit goes offline.
    #[error("the cloud SAM is unreachable: {0}")]
    Unreachable(String),
    /// The card's proof did not verify: a fake or damaged card.
    #[error("the cloud SAM refused the card")]
    CardNotGenuine,
    /// The card holder is not insured (NHI 9083).
    #[error("the card holder is not insured")]
    NotInsured,
    /// The authentication session is unknown or expired (start again with a new challenge).
    #[error("unknown or expired cloud SAM session")]
    UnknownSession,
    /// The SAM rejected the request (device not enrolled, bad input…).
    #[error("the cloud SAM rejected the request: {0}")]
    Rejected(String),
}

/// Step 2 of the card authentication: what the SAM answers to the card's challenge.
#[derive(Clone, PartialEq, Eq)]
pub struct SamChallenge {
    /// Opaque id of the SAM-side authentication session.
    pub session: String,
    /// The SAM's 8-byte challenge to the card.
    pub sam_challenge: [u8; 8],
    /// The SAM's 32-byte proof over both challenges under the card's key.
    pub sam_proof: [u8; 32],
}

impl std::fmt::Debug for SamChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamChallenge")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// The fields of a visit the SAM signs (security signature, M14).
#[derive(Clone, PartialEq, Eq)]
pub struct VisitSignRequest {
    /// The authentication session from [`SamAuthority::begin_card_auth`].
    pub session: String,
    /// The card's 32-byte proof from MUTUAL AUTHENTICATE.
    pub card_proof: [u8; 32],
    /// Card number (12).
    pub card_number: String,
    /// Visit date-time as the card recorded it, ROC `YYYMMDDHHMMSS` (13).
    pub visit_datetime: String,
    /// Sequence number the card issued (4).
    pub sequence_number: String,
    /// Institution code (10).
    pub institution: String,
    /// Visit identification code (20).
    pub visit_code: String,
    /// The card's 32-byte MAC over the fields above (it issued this sequence number).
    pub card_mac: [u8; 32],
}

impl std::fmt::Debug for VisitSignRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisitSignRequest")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// The SAM's security signature of a visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitSignature {
    /// 256 upper-case hex characters (128 signature bytes): the M14 field and the 256-character
    /// signature of the get-sequence-number form.
    pub signature_hex: String,
    /// The SAM id (12), upload field M01.
    pub sam_id: String,
}

/// The cloud SAM as the card layer sees it.
#[async_trait]
pub trait SamAuthority: Send + Sync {
    /// The 12-character id of this device's cloud SAM (M01).
    fn sam_id(&self) -> String;

    /// Answers a patient card's challenge: the SAM's challenge and proof (one round trip).
    async fn begin_card_auth(
        &self,
        card_number: &str,
        card_challenge: [u8; 8],
    ) -> Result<SamChallenge, SamError>;

    /// Checks the card's proof from MUTUAL AUTHENTICATE (one round trip); a fake card gives
    /// [`SamError::CardNotGenuine`].
    async fn verify_card(&self, session: &str, card_proof: [u8; 32]) -> Result<(), SamError>;

    /// Checks the card's proof and the card's MAC over the visit, then signs the visit (one round
    /// trip; the card is authenticated by the same call).
    async fn sign_visit(&self, request: &VisitSignRequest) -> Result<VisitSignature, SamError>;
}
