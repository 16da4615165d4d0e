//! The virtual-card visit's upload record and the server codes' typing.

use super::VcardError;
use super::wire::codes;
use crate::vpn::upload_xml::{record_text, tests::sample_visit};

#[test]
fn vcard_upload_carries_what_2_0_requires() {
    let mut v = sample_visit();
    v.sequence_number = "V001".into();
    v.sam_id = Some("VC0000000001".into());
    v.security_signature = Some("AB".repeat(128));
    v.card_written = false;
    let xml = record_text(&v).unwrap();
    for field in [
        "<H01>A</H01>",
        "<M01>VC0000000001</M01>",
        "<M12>1</M12>",
        "<M13>V001</M13>",
        "<M14>ABAB",
        "<M15>",
    ] {
        assert!(xml.contains(field), "{field} missing from {xml}");
    }
    // Without the NHI's signer and signature, or claiming a card write, it is never sent.
    let mut unsigned = v.clone();
    unsigned.security_signature = None;
    assert!(record_text(&unsigned).is_err());
    let mut no_signer = v.clone();
    no_signer.sam_id = None;
    assert!(record_text(&no_signer).is_err());
    let mut written = v;
    written.card_written = true;
    assert!(record_text(&written).is_err());
}

#[test]
fn server_refusals_keep_their_own_types() {
    assert!(matches!(
        VcardError::from_server_code(codes::EXPIRED),
        Some(VcardError::Expired { .. })
    ));
    assert_eq!(VcardError::from_server_code(codes::USED), Some(VcardError::Used));
    assert!(matches!(
        VcardError::from_server_code(codes::FORGED),
        Some(VcardError::Forged { .. })
    ));
    assert_eq!(
        VcardError::from_server_code(codes::NO_CONSENT),
        Some(VcardError::NoConsent)
    );
    assert_eq!(
        VcardError::from_server_code(codes::REFUSED),
        Some(VcardError::NoConsent)
    );
    assert_eq!(
        VcardError::from_server_code(codes::NO_RIGHT),
        Some(VcardError::NoRight)
    );
    assert_eq!(VcardError::from_server_code(codes::BAD_AUDIT_CODE), None);
    // Distinct public codes for expired and used.
    let expired = crate::app::AppError::from(VcardError::Expired { expired_at_ms: 1 });
    let used = crate::app::AppError::from(VcardError::Used);
    assert_eq!((expired.code(), used.code()), ("vcard_expired", "vcard_used"));
}
