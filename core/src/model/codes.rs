//! NHI visit codes as typed enums: the visit type (就醫類別, upload field M07) and the visit
//! sequence number (就醫序號, M13) with every announced abnormal code.
//!
//! Sources: `shared/domain.md` §3 and §10 (facts gathered from public HIS code). Where those sources
//! name a code without its meaning, the meaning here says so instead of guessing.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A code was not one of the announced values; names the field and the reason, never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct CodeError {
    /// Which field (`visit_type`, `sequence_number`).
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A short meaning of a code, in Chinese (as NHI documents write it) and in English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meaning {
    /// Traditional Chinese short text.
    pub zh: &'static str,
    /// English short text.
    pub en: &'static str,
}

/// Declares a code enum with its code strings, meanings, `ALL`, `code()`, `parse()`, `meaning()`.
macro_rules! code_enum {
    (
        $(#[$doc:meta])* $name:ident, $field:literal, $unknown:literal;
        $( $(#[$vdoc:meta])* $variant:ident = $code:literal, $zh:literal, $en:literal; )+
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vdoc])* $variant, )+
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The code as written in NHI files and on the card.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code,)+ }
            }

            /// Reads an exact code (case-sensitive, no padding).
            pub fn parse(text: &str) -> Result<Self, CodeError> {
                match text {
                    $($code => Ok($name::$variant),)+
                    _ => Err(CodeError { field: $field, reason: $unknown }),
                }
            }

            /// What the code means (Chinese and English short text).
            pub fn meaning(self) -> Meaning {
                match self { $($name::$variant => Meaning { zh: $zh, en: $en },)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.code())
            }
        }

        impl FromStr for $name {
            type Err = CodeError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.code())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

code_enum! {
    /// Visit type (就醫類別, M07). `01`–`08` are counted (consume a card visit and a normal sequence
    /// number); `AA`–`AI` are not counted; `ZA`/`ZB` cancel a visit within 24 h.
    VisitType, "visit_type", "not an announced visit type";
    /// `01` Western-medicine outpatient.
    WesternOutpatient = "01", "西醫門診", "Western-medicine outpatient";
    /// `02` Dental outpatient.
    Dental = "02", "牙醫門診", "dental outpatient";
    /// `03` Traditional Chinese medicine outpatient.
    ChineseMedicine = "03", "中醫門診", "TCM outpatient";
    /// `04` Emergency.
    Emergency = "04", "急診", "emergency";
    /// `05` Inpatient.
    Inpatient = "05", "住院", "inpatient";
    /// `06` Referral.
    Referral = "06", "轉診", "referral";
    /// `07` Post-operative follow-up.
    PostOperative = "07", "手術後回診", "post-operative follow-up";
    /// `08` Post-discharge follow-up.
    PostDischarge = "08", "出院後回診", "post-discharge follow-up";
    /// `AA` Treatment course (not counted).
    TreatmentCourseAa = "AA", "同一療程（AA）", "treatment course (AA)";
    /// `AB` Treatment course (not counted).
    TreatmentCourseAb = "AB", "同一療程（AB）", "treatment course (AB)";
    /// `AC` Preventive care.
    PreventiveCare = "AC", "預防保健", "preventive care";
    /// `AD` Not counted; meaning not stated in our sources.
    Ad = "AD", "不計次（AD，來源未載明）", "not counted (AD, meaning not in our sources)";
    /// `AE` Chronic continuous prescription refill.
    ChronicRefill = "AE", "慢性病連續處方箋調劑", "chronic continuous prescription refill";
    /// `AF` Pharmacy dispensing.
    PharmacyDispensing = "AF", "藥局調劑", "pharmacy dispensing";
    /// `AG` Not counted; meaning not stated in our sources.
    Ag = "AG", "不計次（AG，來源未載明）", "not counted (AG, meaning not in our sources)";
    /// `AH` Home care, second visit onwards.
    HomeCareFollowUp = "AH", "居家照護（第二次以後）", "home care, second visit onwards";
    /// `AI` Not counted; meaning not stated in our sources.
    Ai = "AI", "不計次（AI，來源未載明）", "not counted (AI, meaning not in our sources)";
    /// `ZA` Cancel a visit within 24 h (退掛).
    CancelZa = "ZA", "退掛（ZA）", "cancel visit within 24 h (ZA)";
    /// `ZB` Cancel a visit within 24 h (退掛).
    CancelZb = "ZB", "退掛（ZB）", "cancel visit within 24 h (ZB)";
}

impl VisitType {
    /// True for `01`–`08`: the visit consumes a card visit and needs a sequence number 0001–1500
    /// (or an announced abnormal code).
    pub fn is_counted(self) -> bool {
        self.code().as_bytes()[0].is_ascii_digit()
    }

    /// True for `ZA`/`ZB`, the cancellation of a visit within 24 h.
    pub fn is_cancellation(self) -> bool {
        matches!(self, VisitType::CancelZa | VisitType::CancelZb)
    }
}

code_enum! {
    /// An announced abnormal visit sequence number (異常就醫序號), used in M13 when the normal
    /// sequence number cannot be had. Pairs ending `0`/`1` (e.g. `A020`/`A021`) tell whether the
    /// failure happened before or after a sequence number was obtained.
    AbnormalCode, "sequence_number", "not an announced abnormal code";
    /// `A000` Card-reading equipment failure, before a sequence number was obtained.
    ReaderEquipmentBefore = "A000", "讀卡設備故障（取得序號前）", "card-reading equipment failure (before sequence number)";
    /// `A001` Card-reading equipment failure, after a sequence number was obtained.
    ReaderEquipmentAfter = "A001", "讀卡設備故障（取得序號後）", "card-reading equipment failure (after sequence number)";
    /// `A010` Card reader failure, before.
    ReaderBefore = "A010", "讀卡機故障（取得序號前）", "card reader failure (before sequence number)";
    /// `A011` Card reader failure, after.
    ReaderAfter = "A011", "讀卡機故障（取得序號後）", "card reader failure (after sequence number)";
    /// `A020` Network failure, before.
    NetworkBefore = "A020", "網路故障（取得序號前）", "network failure (before sequence number)";
    /// `A021` Network failure, after.
    NetworkAfter = "A021", "網路故障（取得序號後）", "network failure (after sequence number)";
    /// `A030` Security module (SAM) failure, before.
    SamBefore = "A030", "安全模組故障（取得序號前）", "security module (SAM) failure (before sequence number)";
    /// `A031` Security module (SAM) failure, after.
    SamAfter = "A031", "安全模組故障（取得序號後）", "security module (SAM) failure (after sequence number)";
    /// `B000` Bad card chip, before.
    BadChipBefore = "B000", "卡片不良（取得序號前）", "bad card chip (before sequence number)";
    /// `B001` Bad card chip, after.
    BadChipAfter = "B001", "卡片不良（取得序號後）", "bad card chip (after sequence number)";
    /// `C000` Power cut.
    PowerCut = "C000", "停電", "power cut";
    /// `C001` Exception visit (例外就醫).
    ExceptionVisit = "C001", "例外就醫", "exception visit";
    /// `C002` Minors.
    Minor = "C002", "未成年", "minor";
    /// `C003` Pregnant women.
    Pregnant = "C003", "孕婦", "pregnant woman";
    /// `D000` HIS down or machine will not boot, before.
    HisDownBefore = "D000", "醫療資訊系統當機（取得序號前）", "HIS down (before sequence number)";
    /// `D001` HIS down or machine will not boot, after.
    HisDownAfter = "D001", "醫療資訊系統當機（取得序號後）", "HIS down (after sequence number)";
    /// `D010` Institution computer failure, before.
    ComputerFailureBefore = "D010", "醫療院所電腦故障（取得序號前）", "institution computer failure (before sequence number)";
    /// `D011` Institution computer failure, after.
    ComputerFailureAfter = "D011", "醫療院所電腦故障（取得序號後）", "institution computer failure (after sequence number)";
    /// `E000` NHI information system down.
    NhiSystemDown = "E000", "健保署資訊系統當機", "NHI information system down";
    /// `E001` Announced; meaning not stated in our sources.
    E001 = "E001", "健保署公告異常代碼（E001，來源未載明）", "NHI-announced abnormal code (E001, meaning not in our sources)";
    /// `F000` Remote area or home care without a connection.
    RemoteNoConnection = "F000", "偏遠地區或居家照護無法連線", "remote area / home care without connection";
    /// `F00B` Offline card recognition in the home lightweight Bluetooth solution.
    BluetoothOffline = "F00B", "居家輕量藍牙方案離線認證", "offline card recognition, home lightweight Bluetooth solution";
    /// `G000` Newly contracted institution (M12 must be 1).
    NewContract = "G000", "新特約院所", "newly contracted institution";
    /// `H000` Announced; meaning not stated in our sources.
    H000 = "H000", "健保署公告異常代碼（H000，來源未載明）", "NHI-announced abnormal code (H000, meaning not in our sources)";
    /// `Z000` Other (e.g. the patient will not give the card PIN), before.
    OtherBefore = "Z000", "其他（取得序號前）", "other, e.g. patient withholds card PIN (before sequence number)";
    /// `Z001` Other, after.
    OtherAfter = "Z001", "其他（取得序號後）", "other (after sequence number)";
    /// `IC89` Special identity.
    SpecialIdentityIc89 = "IC89", "特殊身分（IC89）", "special identity (IC89)";
    /// `IC98` Special identity.
    SpecialIdentityIc98 = "IC98", "特殊身分（IC98）", "special identity (IC98)";
    /// `IC09` Special identity.
    SpecialIdentityIc09 = "IC09", "特殊身分（IC09）", "special identity (IC09)";
}

/// Whether an abnormal code was taken before or after a normal sequence number was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbnormalPhase {
    /// The failure happened before a sequence number was obtained (codes ending `0` of a pair).
    BeforeSequence,
    /// The failure happened after a sequence number was obtained (codes ending `1` of a pair).
    AfterSequence,
}

impl AbnormalCode {
    /// For the before/after pairs (`A000`/`A001` … `Z000`/`Z001`): which half this code is.
    pub fn phase(self) -> Option<AbnormalPhase> {
        use AbnormalCode::*;
        match self {
            ReaderEquipmentBefore
            | ReaderBefore
            | NetworkBefore
            | SamBefore
            | BadChipBefore
            | HisDownBefore
            | ComputerFailureBefore
            | OtherBefore => Some(AbnormalPhase::BeforeSequence),
            ReaderEquipmentAfter | ReaderAfter | NetworkAfter | SamAfter | BadChipAfter | HisDownAfter
            | ComputerFailureAfter | OtherAfter => Some(AbnormalPhase::AfterSequence),
            _ => None,
        }
    }

    /// The other half of a before/after pair (`A020` ↔ `A021`), if this code has one.
    pub fn counterpart(self) -> Option<AbnormalCode> {
        use AbnormalCode::*;
        let pairs = [
            (ReaderEquipmentBefore, ReaderEquipmentAfter),
            (ReaderBefore, ReaderAfter),
            (NetworkBefore, NetworkAfter),
            (SamBefore, SamAfter),
            (BadChipBefore, BadChipAfter),
            (HisDownBefore, HisDownAfter),
            (ComputerFailureBefore, ComputerFailureAfter),
            (OtherBefore, OtherAfter),
        ];
        pairs.iter().find_map(|&(b, a)| {
            if b == self {
                Some(a)
            } else if a == self {
                Some(b)
            } else {
                None
            }
        })
    }

    /// The card-replacement flag (M12) this code forces, where the checker has a rule:
    /// `G000` ⇒ M12 = `1`.
    pub fn required_replacement_flag(self) -> Option<u8> {
        match self {
            AbnormalCode::NewContract => Some(1),
            _ => None,
        }
    }
}

/// Lowest normal sequence number.
pub const MIN_NORMAL_SEQUENCE: u16 = 1;
/// Highest normal sequence number.
pub const MAX_NORMAL_SEQUENCE: u16 = 1500;

/// A visit sequence number (就醫序號, M13): normal `0001`–`1500`, an announced abnormal code, or a
/// virtual-card number `V` + 3 characters of `0-9A-Z`.
///
/// Our sources say only that virtual-card numbers start with `V`; we accept `V` followed by three
/// digits or upper-case letters, the 4-character width of M13.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum SequenceNumber {
    /// A normal sequence number from the card, 1–1500.
    Normal(u16),
    /// An announced abnormal code.
    Abnormal(AbnormalCode),
    /// A virtual-card sequence number: the 3 characters after `V`.
    Virtual([u8; 3]),
}

impl SequenceNumber {
    /// A normal sequence number; refused outside 1–1500.
    pub fn normal(n: u16) -> Result<Self, CodeError> {
        if (MIN_NORMAL_SEQUENCE..=MAX_NORMAL_SEQUENCE).contains(&n) {
            Ok(Self::Normal(n))
        } else {
            Err(CodeError {
                field: "sequence_number",
                reason: "normal sequence number must be 0001-1500",
            })
        }
    }

    /// Reads the 4-character M13 text.
    pub fn parse(text: &str) -> Result<Self, CodeError> {
        let bad = |reason| CodeError {
            field: "sequence_number",
            reason,
        };
        let b = text.as_bytes();
        if b.len() != 4 {
            return Err(bad("must be 4 characters"));
        }
        if b.iter().all(u8::is_ascii_digit) {
            let n = b.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
            return Self::normal(n);
        }
        if b[0] == b'V' {
            let rest = [b[1], b[2], b[3]];
            if rest.iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()) {
                return Ok(Self::Virtual(rest));
            }
            return Err(bad("virtual-card number must be V + 3 of 0-9A-Z"));
        }
        AbnormalCode::parse(text).map(Self::Abnormal)
    }

    /// The 4-character M13 text.
    pub fn code(self) -> String {
        match self {
            Self::Normal(n) => format!("{n:04}"),
            Self::Abnormal(a) => a.code().to_string(),
            Self::Virtual(rest) => {
                let mut s = String::with_capacity(4);
                s.push('V');
                s.extend(rest.iter().map(|&c| char::from(c)));
                s
            }
        }
    }

    /// True for a normal sequence number from the card.
    pub fn is_normal(self) -> bool {
        matches!(self, Self::Normal(_))
    }

    /// The abnormal code, if this is one.
    pub fn abnormal(self) -> Option<AbnormalCode> {
        match self {
            Self::Abnormal(a) => Some(a),
            _ => None,
        }
    }

    /// What the number means (Chinese and English short text).
    pub fn meaning(self) -> Meaning {
        match self {
            Self::Normal(_) => Meaning {
                zh: "正常就醫序號",
                en: "normal sequence number",
            },
            Self::Abnormal(a) => a.meaning(),
            Self::Virtual(_) => Meaning {
                zh: "虛擬健保卡就醫序號",
                en: "virtual NHI card sequence number",
            },
        }
    }

    /// The card-replacement flag (M12) this number forces, if any (`G000` ⇒ `1`).
    pub fn required_replacement_flag(self) -> Option<u8> {
        self.abnormal().and_then(AbnormalCode::required_replacement_flag)
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

impl fmt::Debug for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SequenceNumber({})", self.code())
    }
}

impl FromStr for SequenceNumber {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for SequenceNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.code())
    }
}

impl<'de> Deserialize<'de> for SequenceNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn visit_types_counted_or_not() {
        let counted: Vec<&str> = VisitType::ALL
            .iter()
            .filter(|t| t.is_counted())
            .map(|t| t.code())
            .collect();
        assert_eq!(counted, ["01", "02", "03", "04", "05", "06", "07", "08"]);
        assert!(!VisitType::HomeCareFollowUp.is_counted());
        assert_eq!(VisitType::parse("AH").unwrap(), VisitType::HomeCareFollowUp);
        assert_eq!(VisitType::HomeCareFollowUp.meaning().zh, "居家照護（第二次以後）");
        assert!(VisitType::parse("ZA").unwrap().is_cancellation());
        assert!(!VisitType::parse("01").unwrap().is_cancellation());
        assert_eq!(VisitType::ALL.len(), 19);
    }

    #[test]
    fn unknown_visit_types_are_refused() {
        for s in ["", "1", "00", "09", "AJ", "ah", "01 ", "ZC", "0１"] {
            let e = VisitType::parse(s).unwrap_err();
            assert_eq!(e.field, "visit_type", "{s}");
        }
    }

    #[test]
    fn every_code_round_trips_through_text_and_serde() {
        for &t in VisitType::ALL {
            assert_eq!(VisitType::parse(t.code()).unwrap(), t);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.code()));
            assert_eq!(serde_json::from_str::<VisitType>(&json).unwrap(), t);
            assert!(!t.meaning().zh.is_empty() && !t.meaning().en.is_empty());
        }
        for &a in AbnormalCode::ALL {
            let s = SequenceNumber::parse(a.code()).unwrap();
            assert_eq!(s, SequenceNumber::Abnormal(a));
            assert_eq!(s.code(), a.code());
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<SequenceNumber>(&json).unwrap(), s);
            assert!(!a.meaning().zh.is_empty() && !a.meaning().en.is_empty());
        }
        assert_eq!(AbnormalCode::ALL.len(), 29);
    }

    #[test]
    fn the_domain_codes_are_all_there() {
        for code in [
            "A000", "A001", "A010", "A011", "A020", "A021", "A030", "A031", "B000", "B001", "C000", "C001",
            "C002", "C003", "D000", "D001", "D010", "D011", "E000", "E001", "F000", "F00B", "G000", "H000",
            "Z000", "Z001", "IC89", "IC98", "IC09",
        ] {
            assert!(AbnormalCode::parse(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn pairs_and_phases() {
        let a020 = AbnormalCode::parse("A020").unwrap();
        let a021 = AbnormalCode::parse("A021").unwrap();
        assert_eq!(a020.counterpart(), Some(a021));
        assert_eq!(a021.counterpart(), Some(a020));
        assert_eq!(a020.phase(), Some(AbnormalPhase::BeforeSequence));
        assert_eq!(a021.phase(), Some(AbnormalPhase::AfterSequence));
        assert_eq!(AbnormalCode::BluetoothOffline.phase(), None);
        assert_eq!(AbnormalCode::BluetoothOffline.counterpart(), None);
        for &a in AbnormalCode::ALL {
            if let Some(c) = a.counterpart() {
                assert_eq!(c.counterpart(), Some(a));
                assert_ne!(a.phase(), c.phase());
                assert_eq!(a.code()[..3], c.code()[..3]);
            }
        }
    }

    #[test]
    fn g000_forces_replacement_flag_1() {
        assert_eq!(
            SequenceNumber::parse("G000").unwrap().required_replacement_flag(),
            Some(1)
        );
        assert_eq!(
            SequenceNumber::parse("F00B").unwrap().required_replacement_flag(),
            None
        );
        assert_eq!(
            SequenceNumber::parse("0001").unwrap().required_replacement_flag(),
            None
        );
    }

    #[test]
    fn normal_and_virtual_sequence_numbers() {
        assert_eq!(SequenceNumber::parse("0001").unwrap(), SequenceNumber::Normal(1));
        assert_eq!(SequenceNumber::parse("1500").unwrap().code(), "1500");
        assert!(SequenceNumber::parse("1500").unwrap().is_normal());
        assert!(SequenceNumber::parse("0000").is_err());
        assert!(SequenceNumber::parse("1501").is_err());
        assert!(SequenceNumber::normal(0).is_err());
        assert_eq!(SequenceNumber::normal(7).unwrap().code(), "0007");
        let v = SequenceNumber::parse("V012").unwrap();
        assert_eq!(v.code(), "V012");
        assert_eq!(v.meaning().en, "virtual NHI card sequence number");
        assert!(SequenceNumber::parse("Vab1").is_err());
        assert!(SequenceNumber::parse("X000").is_err());
        assert!(SequenceNumber::parse("001").is_err());
        assert!(SequenceNumber::parse("f00b").is_err());
    }

    proptest! {
        #[test]
        fn sequence_parser_never_panics(s in "\\PC{0,8}") {
            if let Ok(n) = SequenceNumber::parse(&s) {
                prop_assert_eq!(n.code(), s.clone());
            }
            let _ = VisitType::parse(&s);
        }

        #[test]
        fn normal_numbers_round_trip(n in 1u16..=1500) {
            let s = SequenceNumber::normal(n).unwrap();
            prop_assert_eq!(SequenceNumber::parse(&s.code()).unwrap(), s);
        }
    }
}
