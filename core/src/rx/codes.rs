//! The known frequency (用藥頻率) and route (給藥途徑) codes, with how many administrations a
//! frequency gives per day. The index of a code in these tables is its number in the QR payload,
//! so entries are only ever appended.

/// How often a frequency code gives the dose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    /// `num` administrations every `den` days (e.g. TID = 3/1, QOD = 1/2, QW = 1/7).
    Days {
        /// Administrations.
        num: u32,
        /// Per this many days.
        den: u32,
    },
    /// Once only (STAT): the total is one dose, whatever the days.
    Once,
    /// As needed (PRN): no fixed total.
    AsNeeded,
}

/// One known frequency code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frequency {
    /// The code as written on prescriptions, e.g. `TID`.
    pub code: &'static str,
    /// Administrations per day.
    pub per: Per,
}

const fn f(code: &'static str, num: u32, den: u32) -> Frequency {
    Frequency {
        code,
        per: Per::Days { num, den },
    }
}

/// Known frequency codes; the position is the wire number (6 bits, at most 64 entries).
pub const FREQUENCIES: &[Frequency] = &[
    f("QD", 1, 1),
    f("BID", 2, 1),
    f("TID", 3, 1),
    f("QID", 4, 1),
    f("HS", 1, 1),
    f("QOD", 1, 2),
    f("Q2H", 12, 1),
    f("Q4H", 6, 1),
    f("Q6H", 4, 1),
    f("Q8H", 3, 1),
    f("Q12H", 2, 1),
    f("QW", 1, 7),
    f("BIW", 2, 7),
    f("TIW", 3, 7),
    f("QAM", 1, 1),
    f("QPM", 1, 1),
    f("QDAC", 1, 1),
    f("BIDAC", 2, 1),
    f("TIDAC", 3, 1),
    f("TIDPC", 3, 1),
    f("QIDAC", 4, 1),
    f("TIDHS", 4, 1),
    Frequency {
        code: "STAT",
        per: Per::Once,
    },
    Frequency {
        code: "PRN",
        per: Per::AsNeeded,
    },
    Frequency {
        code: "HSPRN",
        per: Per::AsNeeded,
    },
    Frequency {
        code: "QIDPRN",
        per: Per::AsNeeded,
    },
];

/// Known route codes; the position is the wire number (4 bits, at most 16 entries).
pub const ROUTES: &[&str] = &[
    "PO", "SL", "BUCC", "IV", "IM", "SC", "TOPI", "INHL", "NASA", "OPH", "OTIC", "RECT", "VAG", "TD", "NG",
    "EXT",
];

/// Looks up a frequency code (case-insensitive); returns its wire number and definition.
pub fn frequency(code: &str) -> Option<(usize, &'static Frequency)> {
    FREQUENCIES
        .iter()
        .enumerate()
        .find(|(_, f)| f.code.eq_ignore_ascii_case(code.trim()))
}

/// Looks up a route code (case-insensitive); returns its wire number.
pub fn route(code: &str) -> Option<usize> {
    ROUTES.iter().position(|r| r.eq_ignore_ascii_case(code.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_fit_their_wire_widths_and_have_no_duplicates() {
        assert!(FREQUENCIES.len() <= 64);
        assert!(ROUTES.len() <= 16);
        for (i, f) in FREQUENCIES.iter().enumerate() {
            assert_eq!(frequency(f.code).unwrap().0, i);
        }
        for (i, r) in ROUTES.iter().enumerate() {
            assert_eq!(route(r), Some(i));
        }
        assert_eq!(frequency("tid").unwrap().1.per, Per::Days { num: 3, den: 1 });
        assert!(frequency("THRICE").is_none());
        assert!(route("ORAL").is_none());
    }
}
