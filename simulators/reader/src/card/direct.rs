//! A reader without a link: an [`ApduChannel`] that hands each APDU straight to the [`SimCard`] in
//! the slot. For testing the card layer apart from the BLE transport, with faults at exchange
//! boundaries (the link drops before the card got the command, or after it answered).

use super::SimCard;
use async_trait::async_trait;
use homevisit_core::reader::{ApduChannel, CardSlot, ReaderError};
use std::sync::{Mutex, MutexGuard};

/// Where the link drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFault {
    /// The `n`-th exchange (0-based, counted from now) never reaches the card.
    DropRequest(u64),
    /// The `n`-th exchange reaches the card, but its answer is lost.
    DropResponse(u64),
}

struct Inner {
    patient: Option<Box<dyn SimCard>>,
    practitioner: Option<Box<dyn SimCard>>,
    connected: bool,
    fault: Option<LinkFault>,
    exchanges: u64,
    bytes: u64,
}

/// An in-process reader with two slots and no transport.
pub struct DirectReader {
    inner: Mutex<Inner>,
}

impl Default for DirectReader {
    fn default() -> Self {
        Self::new()
    }
}

impl DirectReader {
    /// An empty, connected reader.
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                patient: None,
                practitioner: None,
                connected: true,
                fault: None,
                exchanges: 0,
                bytes: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Only a panic inside a card could poison the lock; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A reader holding the first demo patient card and the demo practitioner card (PIN `1234`),
    /// with handles on both cards.
    pub fn with_demo_cards() -> (Self, super::PatientCard, super::PractitionerCard) {
        let reader = Self::new();
        let patient = super::demo_patient_card();
        let hpc = super::PractitionerCard::new(super::demo_practitioner());
        reader.insert(CardSlot::Patient, Box::new(patient.clone()));
        reader.insert(CardSlot::Practitioner, Box::new(hpc.clone()));
        (reader, patient, hpc)
    }

    /// Puts `card` in `slot` (replacing what was there).
    pub fn insert(&self, slot: CardSlot, card: Box<dyn SimCard>) {
        let mut i = self.lock();
        match slot {
            CardSlot::Patient => i.patient = Some(card),
            CardSlot::Practitioner => i.practitioner = Some(card),
        }
    }

    /// Takes the card out of `slot`.
    pub fn remove(&self, slot: CardSlot) -> Option<Box<dyn SimCard>> {
        let mut i = self.lock();
        match slot {
            CardSlot::Patient => i.patient.take(),
            CardSlot::Practitioner => i.practitioner.take(),
        }
    }

    /// Arms a link fault, counted from the next exchange.
    pub fn arm(&self, fault: LinkFault) {
        let mut i = self.lock();
        let base = i.exchanges;
        i.fault = Some(match fault {
            LinkFault::DropRequest(n) => LinkFault::DropRequest(base + n),
            LinkFault::DropResponse(n) => LinkFault::DropResponse(base + n),
        });
    }

    /// Reconnects after a drop (the cards were reset by the drop).
    pub fn reconnect(&self) {
        self.lock().connected = true;
    }

    /// Exchanges so far (each one a round trip on a real link).
    pub fn exchanges(&self) -> u64 {
        self.lock().exchanges
    }

    /// APDU bytes so far, both directions.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }
}

impl Inner {
    fn drop_link(&mut self) -> ReaderError {
        self.connected = false;
        self.fault = None;
        for card in [&mut self.patient, &mut self.practitioner].into_iter().flatten() {
            card.reset();
        }
        ReaderError::Disconnected
    }
}

#[async_trait]
impl ApduChannel for DirectReader {
    async fn transmit(&self, slot: CardSlot, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let mut i = self.lock();
        if !i.connected {
            return Err(ReaderError::Disconnected);
        }
        let n = i.exchanges;
        i.exchanges += 1;
        if i.fault == Some(LinkFault::DropRequest(n)) {
            return Err(i.drop_link());
        }
        i.bytes += apdu.len() as u64;
        let card = match slot {
            CardSlot::Patient => i.patient.as_mut(),
            CardSlot::Practitioner => i.practitioner.as_mut(),
        };
        let Some(card) = card else {
            return Err(ReaderError::NoCard(slot));
        };
        if !card.present() {
            return Err(ReaderError::NoCard(slot));
        }
        let answer = card.transmit(apdu);
        if answer.is_empty() || !card.present() {
            return Err(ReaderError::CardRemoved);
        }
        if i.fault == Some(LinkFault::DropResponse(n)) {
            return Err(i.drop_link());
        }
        i.bytes += answer.len() as u64;
        Ok(answer)
    }

    async fn card_present(&self, slot: CardSlot) -> Result<bool, ReaderError> {
        let i = self.lock();
        if !i.connected {
            return Err(ReaderError::Disconnected);
        }
        let card = match slot {
            CardSlot::Patient => i.patient.as_ref(),
            CardSlot::Practitioner => i.practitioner.as_ref(),
        };
        Ok(card.is_some_and(|c| c.present()))
    }
}
