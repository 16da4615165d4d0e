//! The practitioner card (醫事人員卡, HPC): select, holder id, PIN verification with lockout
//! (the card locks after 3 wrong PINs; each wrong try reports the tries left).

use super::apdu::{self, HPC_AID};
use super::error::{CardError, NhiCode};
use super::fields;
use crate::reader::{ApduChannel, CardSlot};

/// The holder of a practitioner card.
#[derive(Clone, PartialEq, Eq)]
pub struct Practitioner {
    /// National ID of the practitioner (M06).
    pub national_id: String,
    /// Name.
    pub name: String,
}

impl std::fmt::Debug for Practitioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Practitioner(<redacted>)")
    }
}

/// The PIN state of the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinState {
    /// Verified in this session.
    Verified,
    /// Not verified; this many wrong tries are left.
    TriesLeft(u8),
    /// Locked after too many wrong PINs.
    Locked,
}

/// Selects the HPC application and reads the holder (two exchanges). A patient card in the
/// practitioner slot gives 4034, no card 4014.
pub async fn open(channel: &dyn ApduChannel) -> Result<Practitioner, CardError> {
    let slot = CardSlot::Practitioner;
    apdu::exchange(channel, slot, &apdu::select(&HPC_AID), "select HPC").await?;
    let data = apdu::exchange(
        channel,
        slot,
        &apdu::command(apdu::CLA_NHI, apdu::INS_HPC_READ, 0, 0, &[], Some(256)),
        "read HPC",
    )
    .await?;
    if data.len() != 30 {
        return Err(CardError::malformed(
            "practitioner",
            format!("{} bytes", data.len()),
        ));
    }
    let id = fields::ascii(&data[..10], "practitioner ID")?;
    crate::rules::national_id::parse(&id)
        .map_err(|_| CardError::malformed("practitioner ID", "not a valid ID"))?;
    Ok(Practitioner {
        national_id: id,
        name: fields::big5(&data[10..30], "practitioner name")?,
    })
}

/// Verifies the PIN: `Ok` when right; [`CardError::WrongPin`] with the tries left; 5105 when the
/// card is (or just became) locked.
pub async fn verify_pin(channel: &dyn ApduChannel, pin: &str) -> Result<(), CardError> {
    let cmd = apdu::verify_pin(pin)?;
    apdu::exchange(channel, CardSlot::Practitioner, &cmd, "verify PIN").await?;
    Ok(())
}

/// Asks the card for its PIN state without trying a PIN.
pub async fn pin_state(channel: &dyn ApduChannel) -> Result<PinState, CardError> {
    match apdu::exchange(channel, CardSlot::Practitioner, &apdu::pin_status(), "PIN state").await {
        Ok(_) => Ok(PinState::Verified),
        Err(CardError::WrongPin { remaining }) => Ok(PinState::TriesLeft(remaining)),
        Err(CardError::Code(NhiCode::PinLocked)) => Ok(PinState::Locked),
        Err(e) => Err(e),
    }
}
