//! The public basic data of the patient card (57 bytes, no SAM needed): card number [0..12] ASCII,
//! name [12..32] Big5 NUL-padded, national ID [32..42], birth date [42..49] ROC, sex [49] `M`/`F`,
//! issue date [50..57] ROC.

use super::apdu::{self, NHI_AID};
use super::error::CardError;
use super::fields;
use crate::model::{CardBasicData, RocDate, Sex};
use crate::reader::{ApduChannel, CardSlot};

/// Length of the basic-data record.
pub const LEN: usize = 57;

/// Decodes the 57-byte record (status word already removed).
pub fn decode(data: &[u8]) -> Result<CardBasicData, CardError> {
    if data.len() != LEN {
        return Err(CardError::malformed(
            "basic data",
            format!("{} bytes instead of {LEN}", data.len()),
        ));
    }
    let card_number = fields::ascii(&data[0..12], "card number")?;
    if card_number.len() != 12 || !card_number.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(CardError::malformed(
            "card number",
            "must be 12 letters or digits",
        ));
    }
    let name = fields::big5(&data[12..32], "name")?;
    if name.is_empty() {
        return Err(CardError::malformed("name", "empty"));
    }
    let id_text = fields::ascii(&data[32..42], "national ID")?;
    let national_id = crate::rules::national_id::parse(&id_text)
        .map_err(|_| CardError::malformed("national ID", "not a valid national ID"))?;
    let birth_date = fields::roc_date(&data[42..49], "birth date")?.naive();
    let sex = match data[49] {
        b'M' => Sex::Male,
        b'F' => Sex::Female,
        _ => return Err(CardError::malformed("sex", "must be M or F")),
    };
    let issue_date = fields::roc_date(&data[50..57], "issue date")?.naive();
    Ok(CardBasicData {
        card_number,
        name,
        national_id,
        birth_date,
        sex,
        issue_date,
    })
}

/// Encodes the 57-byte record (what a card holds); used by tests and tools.
pub fn encode(data: &CardBasicData) -> Result<Vec<u8>, CardError> {
    let mut out = Vec::with_capacity(LEN);
    fields::put_ascii(&mut out, &data.card_number, 12, "card number")?;
    fields::put_big5(&mut out, &data.name, 20, "name")?;
    fields::put_ascii(&mut out, data.national_id.expose(), 10, "national ID")?;
    let roc = |d, what| {
        RocDate::from_naive(d).map_err(|_| CardError::Input(format!("{what}: outside the ROC calendar")))
    };
    fields::put_roc_date(&mut out, roc(data.birth_date, "birth date")?);
    out.push(data.sex.card_letter() as u8);
    fields::put_roc_date(&mut out, roc(data.issue_date, "issue date")?);
    Ok(out)
}

/// Selects the NHI application on the patient card and reads its public basic data
/// (two exchanges). A practitioner card in the patient slot gives 4033, no card 4013.
pub async fn read(channel: &dyn ApduChannel) -> Result<CardBasicData, CardError> {
    apdu::exchange(channel, CardSlot::Patient, &apdu::select(&NHI_AID), "select NHI").await?;
    read_selected(channel).await
}

/// Reads the basic data of an already selected NHI application (one exchange).
pub async fn read_selected(channel: &dyn ApduChannel) -> Result<CardBasicData, CardError> {
    let data = apdu::exchange(channel, CardSlot::Patient, &apdu::read_basic_data(), "basic data").await?;
    decode(&data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::error::NhiCode;
    use chrono::NaiveDate;

    /// A fixed record written out by hand: 000012345678, 王小明, A123456789, 1940-05-17 (ROC
    /// 0290517), M, issued 2013-01-08 (ROC 1020108).
    fn fixed_record() -> Vec<u8> {
        let mut v = b"000012345678".to_vec();
        v.extend_from_slice(&[0xA4, 0xFD, 0xA4, 0x70, 0xA9, 0xFA]);
        v.extend_from_slice(&[0u8; 14]);
        v.extend_from_slice(b"A123456789");
        v.extend_from_slice(b"0290517");
        v.push(b'M');
        v.extend_from_slice(b"1020108");
        v
    }

    #[test]
    fn decodes_a_fixed_record() {
        let rec = fixed_record();
        assert_eq!(rec.len(), 57);
        let d = decode(&rec).unwrap();
        assert_eq!(d.card_number, "000012345678");
        assert_eq!(d.name, "王小明");
        assert_eq!(d.national_id.expose(), "A123456789");
        assert_eq!(d.birth_date, NaiveDate::from_ymd_opt(1940, 5, 17).unwrap());
        assert_eq!(d.sex, Sex::Male);
        assert_eq!(d.issue_date, NaiveDate::from_ymd_opt(2013, 1, 8).unwrap());
        assert_eq!(encode(&d).unwrap(), rec);
        assert_eq!(format!("{d:?}"), "CardBasicData(<redacted>)");
    }

    #[test]
    fn malformed_records_are_typed_errors() {
        let rec = fixed_record();
        assert!(matches!(
            decode(&rec[..56]),
            Err(CardError::Malformed {
                what: "basic data",
                ..
            })
        ));
        let mut bad = rec.clone();
        bad[12] = 0xA4;
        bad[13] = 0x00;
        bad[12..32].copy_from_slice(&[0xFF; 20]);
        assert!(matches!(
            decode(&bad),
            Err(CardError::Malformed { what: "name", .. })
        ));
        let mut bad = rec.clone();
        bad[41] = b'8';
        let err = decode(&bad).unwrap_err();
        assert!(matches!(
            err,
            CardError::Malformed {
                what: "national ID",
                ..
            }
        ));
        assert!(
            !err.to_string().contains("A12345678"),
            "no patient data in errors"
        );
        let mut bad = rec.clone();
        bad[45..49].copy_from_slice(b"0230");
        assert!(matches!(
            decode(&bad),
            Err(CardError::Malformed {
                what: "birth date",
                ..
            })
        ));
        let mut bad = rec.clone();
        bad[49] = b'X';
        assert!(matches!(
            decode(&bad),
            Err(CardError::Malformed { what: "sex", .. })
        ));
        let mut bad = rec;
        bad[53] = b'9';
        assert!(matches!(
            decode(&bad),
            Err(CardError::Malformed {
                what: "issue date",
                ..
            })
        ));
    }

    struct Scripted(std::sync::Mutex<Vec<(Vec<u8>, Vec<u8>)>>);

    #[async_trait::async_trait]
    impl ApduChannel for Scripted {
        async fn transmit(&self, slot: CardSlot, apdu: &[u8]) -> Result<Vec<u8>, crate::reader::ReaderError> {
            assert_eq!(slot, CardSlot::Patient);
            let (expect, answer) = self.0.lock().unwrap().remove(0);
            assert_eq!(apdu, expect.as_slice());
            Ok(answer)
        }
        async fn card_present(&self, _: CardSlot) -> Result<bool, crate::reader::ReaderError> {
            Ok(true)
        }
    }

    #[tokio::test]
    async fn reads_over_a_channel_and_maps_status_words() {
        let select = hex::decode("00A4040010D1580000010000000000000000001100").unwrap();
        let read_cmd = hex::decode("00CA11000200 00".replace(' ', "")).unwrap();
        let mut answer = fixed_record();
        answer.extend_from_slice(&[0x90, 0x00]);
        let ch = Scripted(std::sync::Mutex::new(vec![
            (select.clone(), vec![0x90, 0x00]),
            (read_cmd.clone(), answer),
        ]));
        assert_eq!(read(&ch).await.unwrap().name, "王小明");

        // A practitioner card has no NHI application: 4033.
        let ch = Scripted(std::sync::Mutex::new(vec![(select.clone(), vec![0x6A, 0x82])]));
        assert_eq!(
            read(&ch).await.unwrap_err().nhi_code(),
            Some(NhiCode::NotPatientCard)
        );

        // Wrong status word on the read, and a short answer.
        let ch = Scripted(std::sync::Mutex::new(vec![
            (select.clone(), vec![0x90, 0x00]),
            (read_cmd.clone(), vec![0x6F, 0x00]),
        ]));
        assert!(matches!(
            read(&ch).await,
            Err(CardError::Status { sw: 0x6F00, .. })
        ));
        let ch = Scripted(std::sync::Mutex::new(vec![
            (select, vec![0x90, 0x00]),
            (read_cmd, vec![0x30, 0x90, 0x00]),
        ]));
        assert!(matches!(read(&ch).await, Err(CardError::Malformed { .. })));
    }
}
