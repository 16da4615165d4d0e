//! The reports people look at (issue 14 item 9): the abnormal-situation report (異常狀況報備單)
//! for visits that ran offline or missed their upload deadline ([`abnormal`], printable as
//! [`html`] and as CSV), and the upload-quality indicators of seed 004 against their 90% line
//! ([`quality`]). Pure functions over small input structs; the facade (`app::reports`) reads the
//! store and feeds them.

pub mod abnormal;
pub mod html;
pub mod quality;

pub use abnormal::{AbnormalKind, AbnormalRow, AbnormalVisit};
pub use quality::{
    ClaimRecord, Indicator, IndicatorKind, QUALITY_LINE_PERCENT, QualityVisit, UploadedRecord,
};
