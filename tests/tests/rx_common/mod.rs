//! What the prescription tests share: a simulated reader holding the demo practitioner's card,
//! paired with the app, its PIN verified — a prescription needs the verified practitioner
//! (issue 11, finding 4).

use homevisit_core::app::{HomeVisit, ReaderTransport};
use homevisit_core::reader::{CardSlot, MemoryTransport, ReaderModel};
use nhi_reader_sim::card;
use nhi_reader_sim::{ReaderConfig, SimReader};
use std::sync::Arc;

/// The demo practitioner's HPC PIN.
pub const PIN: &str = "1234";

/// Pairs a simulated reader holding the demo practitioner's card with `app` and verifies the PIN;
/// the reader is returned (keep it: pulling the card ends the verification).
pub async fn verified_practitioner(app: &HomeVisit) -> SimReader {
    let reader = SimReader::new(ReaderConfig::new(ReaderModel::HvBt200, "0001"));
    reader.insert(
        CardSlot::Practitioner,
        Box::new(card::PractitionerCard::new(card::demo_practitioner())),
    );
    let transport = MemoryTransport::new();
    transport.add(Arc::new(reader.clone()));
    let readers = app.readers();
    readers
        .set_transport(ReaderTransport::Custom(Arc::new(transport)))
        .await
        .unwrap();
    let found = readers.scan(100).await.unwrap();
    let code = readers.pair(&found[0].id).await.unwrap();
    assert!(reader.press_button(), "the reader's own confirmation");
    readers.confirm_pairing(&code.code).await.unwrap();
    readers.verify_practitioner_pin(PIN).await.unwrap();
    reader
}
