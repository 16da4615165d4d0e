//! Prescriptions: order sets, the signed QR payload, one-time codes, chronic refills, dispensing.
