//! The fuzz targets' checks in CI: every crash the fuzzers found (issue 11) as a named regression
//! test, the committed seed corpora replayed, the seeds shown to be real valid inputs, and short
//! proptest runs of every target's check (random bytes, and seeds with random edits).
//!
//! The checks are the fuzz crate's own (`tests/fuzz/src/checks.rs`, included below), so a crash
//! input replayed here runs exactly what the fuzzer ran. `tests/fuzz/run.sh` runs the fuzzers.
//! Regenerate the seed files with `HOMEVISIT_WRITE_FUZZ_SEEDS=1 cargo nextest run -p homevisit-e2e
//! --test fuzz_regressions seeds`.

#[path = "../fuzz/src/checks.rs"]
mod checks;

use homevisit_core::card::basic_data;
use homevisit_core::card::records::{
    CardSequence, CardVisitRecord, PrescriptionEntry, RegisterBasic, SequenceForm, VisitBody,
};
use homevisit_core::model::{CardBasicData, InstitutionCode, NationalId, RocDateTime, Sex};
use homevisit_core::reader::CardSlot;
use homevisit_core::reader::frame::{Frame, FrameEndpoint, FrameKind};
use homevisit_core::reader::message::{Message, ReaderErrorCode};
use homevisit_core::reader::secure::{PairingOffer, SessionAccept, SessionHello};
use homevisit_core::rx::payload;
use homevisit_core::vpn::{BindingQr, upload_xml, wire};
use proptest::prelude::*;
use std::path::PathBuf;

type Check = fn(&[u8]);

/// Every target with its check.
const TARGETS: [(&str, Check); 7] = [
    ("reader_frame", checks::reader_frame),
    ("reader_session", checks::reader_session),
    ("card_apdu", checks::card_apdu),
    ("rx_qr", checks::rx_qr),
    ("qr2_binding", checks::qr2_binding),
    ("server_bodies", checks::server_bodies),
    ("upload_xml", checks::upload_xml),
];

fn seeds_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target)
}

// ---------------------------------------------------------------------------------------------
// Seeds: real valid inputs, built by the project's own encoders.

const INSTITUTION: &str = "3501200000";

fn at() -> RocDateTime {
    RocDateTime::parse("1130305093015").unwrap()
}

fn patient() -> CardBasicData {
    CardBasicData {
        card_number: "000012345678".into(),
        name: "王小明".into(),
        national_id: NationalId::parse("A123456789").unwrap(),
        birth_date: chrono::NaiveDate::from_ymd_opt(1950, 5, 6).unwrap(),
        sex: Sex::Male,
        issue_date: chrono::NaiveDate::from_ymd_opt(2020, 1, 2).unwrap(),
    }
}

fn entry() -> PrescriptionEntry {
    PrescriptionEntry {
        at: at(),
        order_type: '1',
        code: "AC45856100".into(),
        site: "PO".into(),
        usage: "TID".into(),
        days: 7,
        total: 21.0,
        released: false,
    }
}

fn body() -> VisitBody {
    VisitBody {
        diagnoses: vec!["I10".into(), "E119".into()],
        fee_points: 1500,
        copayment: 50,
    }
}

fn ok(data: &[u8]) -> Vec<u8> {
    [data, &[0x90, 0x00]].concat()
}

fn visit_record() -> Vec<u8> {
    let mut r = b"01N".to_vec();
    r.extend_from_slice(at().to_roc_string().as_bytes());
    r.extend_from_slice(b"10007");
    r.extend_from_slice(INSTITUTION.as_bytes());
    r.extend_from_slice(checks::visit_code().as_str().as_bytes());
    r.extend_from_slice(&body().to_bytes().unwrap());
    r.push(b'A');
    r
}

fn card_sequence() -> Vec<u8> {
    let mut r = at().to_roc_string().into_bytes();
    r.extend_from_slice(b"0007N42");
    r.extend_from_slice(checks::visit_code().as_str().as_bytes());
    r.extend_from_slice(&[0x5a; 32]);
    r
}

fn register_basic() -> Vec<u8> {
    let mut r = basic_data::encode(&patient()).unwrap();
    r.extend_from_slice(b"N  0");
    r.extend_from_slice(b"1151231");
    r.extend_from_slice(b"42");
    r.extend_from_slice(b"0000000");
    r.push(b'N');
    r
}

fn allergies() -> Vec<u8> {
    let (big5, _, _) = encoding_rs::BIG5.encode("盤尼西林");
    let mut r = big5.to_vec();
    r.resize(120, 0);
    r
}

fn sequence_form() -> SequenceForm {
    SequenceForm {
        visit_datetime: at(),
        sequence: homevisit_core::model::SequenceNumber::parse("0007").unwrap(),
        institution: InstitutionCode::parse(INSTITUTION).unwrap(),
        signature_hex: "AB".repeat(128),
        sam_id: "SAM000000001".into(),
        same_day: false,
        visit_code: checks::visit_code(),
    }
}

fn sample_visit() -> homevisit_core::model::Visit {
    let mut v = nhi_vpn_sim::pharmacy::demo::sample_visit(
        checks::visit_code().as_str(),
        INSTITUTION,
        1_709_602_215_000,
    )
    .unwrap();
    nhi_vpn_sim::pharmacy::demo::sample_order_set(false, 28)
        .apply_to(&mut v)
        .unwrap();
    v
}

/// The seed files of every target: `(target, name, bytes)`.
fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut s = Vec::new();
    // Reader link.
    let offer = PairingOffer {
        device_id: "phone-1".into(),
        public_key: [7; 32],
        nonce: [8; 16],
    };
    let commit = offer.commit();
    let hello = SessionHello {
        phone_id: "phone-1".into(),
        nonce: [1; 16],
        ephemeral: [4; 32],
    };
    let accept = SessionAccept {
        nonce: [2; 16],
        ephemeral: [5; 32],
        mac: [3; 32],
    };
    let request = Message::ApduRequest {
        slot: CardSlot::Patient,
        apdu: homevisit_core::card::apdu::read_basic_data(),
    };
    let response = Message::ApduResponse {
        slot: CardSlot::Patient,
        response: ok(&basic_data::encode(&patient()).unwrap()),
    };
    let (_, reader) = checks::fixed_channels();
    let sealed = reader.seal(0, &response.encode()).unwrap();
    let mut tx = FrameEndpoint::new(20);
    let mut fragments = Vec::new();
    for (kind, body) in [
        (FrameKind::PairRequest, commit.encode()),
        (FrameKind::PairResponse, offer.encode()),
        (FrameKind::SessionAccept, accept.encode()),
        (FrameKind::Sealed, sealed.clone()),
        (
            FrameKind::Error,
            vec![ReaderErrorCode::Busy as u8, b'b', b'u', b's', b'y'],
        ),
    ] {
        fragments.extend(tx.encode(kind, body).unwrap());
    }
    s.push((
        "reader_frame",
        "fragments_mtu23",
        [&[20u8][..], &checks::join_length_prefixed(&fragments)].concat(),
    ));
    let whole = Frame {
        kind: FrameKind::Sealed,
        seq: 0,
        body: sealed.clone(),
    };
    s.push(("reader_frame", "whole_sealed_frame", whole.encode().unwrap()));
    s.push(("reader_session", "pairing_offer", offer.encode()));
    s.push(("reader_session", "pairing_commit", commit.encode()));
    s.push(("reader_session", "session_hello", hello.encode()));
    s.push(("reader_session", "session_accept", accept.encode()));
    s.push(("reader_session", "sealed_apdu_response", sealed));
    s.push(("reader_session", "apdu_request", request.encode()));
    s.push((
        "reader_session",
        "status",
        Message::Status {
            practitioner: true,
            patient: false,
        }
        .encode(),
    ));
    s.push((
        "reader_session",
        "reader_error",
        Message::ReaderError {
            code: ReaderErrorCode::NoCard,
            text: "no card".into(),
        }
        .encode(),
    ));
    // Card.
    let pick = |p: u8, b: &[u8]| [&[p][..], b].concat();
    s.push(("card_apdu", "response_ok", pick(0, &[0x90, 0x00])));
    s.push((
        "card_apdu",
        "basic_data",
        pick(1, &basic_data::encode(&patient()).unwrap()),
    ));
    s.push((
        "card_apdu",
        "sequence_form",
        pick(2, &sequence_form().to_bytes().unwrap()),
    ));
    s.push(("card_apdu", "card_sequence", pick(3, &card_sequence())));
    s.push(("card_apdu", "visit_body", pick(4, &body().to_bytes().unwrap())));
    s.push((
        "card_apdu",
        "prescription_entry",
        pick(5, &entry().to_bytes().unwrap()),
    ));
    s.push((
        "card_apdu",
        "visit_records",
        pick(6, &[visit_record(), visit_record()].concat()),
    ));
    s.push(("card_apdu", "register_basic", pick(7, &register_basic())));
    s.push(("card_apdu", "allergies", pick(8, &allergies())));
    s.push((
        "card_apdu",
        "prescriptions",
        pick(
            9,
            &[entry().to_bytes().unwrap(), entry().to_bytes().unwrap()].concat(),
        ),
    ));
    let mut practitioner = b"B223456780".to_vec();
    let (name, _, _) = encoding_rs::BIG5.encode("李醫師");
    practitioner.extend_from_slice(&name);
    practitioner.resize(30, 0);
    s.push((
        "card_apdu",
        "practitioner_session",
        pick(
            10,
            &checks::join_length_prefixed_u16(&[ok(&[]), ok(&practitioner), vec![0x63, 0xc2], ok(&[])]),
        ),
    ));
    let answers = [
        ok(&[]),
        ok(&basic_data::encode(&patient()).unwrap()),
        ok(&visit_record()),
        ok(&entry().to_bytes().unwrap()),
        ok(&register_basic()),
        ok(&allergies()),
        ok(&[visit_record(), entry().to_bytes().unwrap()].concat()),
        ok(b"41"),
        ok(&[1; 8]),
        ok(&[2; 32]),
        ok(&card_sequence()),
        ok(&b"0123456789ABCDEF0123456789ABCDEF01234567"[..]),
    ];
    s.push((
        "card_apdu",
        "patient_session",
        pick(11, &checks::join_length_prefixed_u16(&answers)),
    ));
    // Prescription QR.
    let visit = sample_visit();
    let rx = homevisit_core::rx::Prescription::from_visit(&visit, Some(2)).unwrap();
    let key = checks::rx_key();
    let qr = payload::encode(&rx, &key).unwrap();
    s.push(("rx_qr", "signed_qr_text", qr.clone().into_bytes()));
    s.push(("rx_qr", "packed_body", payload::decode(&qr).unwrap().body));
    let barcode =
        homevisit_core::rx::barcode::encode(&visit, &rx, &nhi_vpn_sim::pharmacy::demo::home_care_extras())
            .unwrap();
    s.push(("rx_qr", "legacy_barcode", barcode.into_bytes()));
    // QR-2.
    let binding = BindingQr {
        endpoint: "https://127.0.0.1:8443".into(),
        institution_code: INSTITUTION.into(),
        token: "T0ken42".into(),
        cert_sha256: [0xab; 32],
    };
    s.push(("qr2_binding", "binding", binding.to_payload().into_bytes()));
    // Server bodies (byte 0: 0 = HTTP 200 JSON, 3 = HTTP 400 JSON, 4 = HTTP 401 JSON).
    let json = |head: u8, v: &dyn erased::Json| [&[head][..], &v.bytes()].concat();
    s.push((
        "server_bodies",
        "upload_response",
        json(
            0,
            &wire::UploadResponse {
                batch_id: "B1".into(),
                records: vec![
                    wire::RecordResult {
                        visit_code: checks::visit_code().as_str().into(),
                        status: wire::RecordStatus::Accepted,
                        field: None,
                        reason: None,
                        digest: None,
                    },
                    wire::RecordResult {
                        visit_code: String::new(),
                        status: wire::RecordStatus::Rejected,
                        field: Some("M13".into()),
                        reason: Some("sequence number".into()),
                        digest: None,
                    },
                ],
            },
        ),
    ));
    s.push((
        "server_bodies",
        "enrol_response",
        json(
            0,
            &wire::EnrolResponse {
                device_id: "d1".into(),
                institution_code: INSTITUTION.into(),
                sam_id: "SAM000000001".into(),
                backup_cert_sha256: Some("ab".repeat(32)),
            },
        ),
    ));
    s.push((
        "server_bodies",
        "upload_result",
        json(
            0,
            &wire::UploadResult {
                batch_id: "B1".into(),
                received_at_ms: 1_709_602_215_000,
                received: 2,
                valid: 1,
                invalid: 1,
                invalid_rows: vec![wire::InvalidRow {
                    index: 1,
                    visit_code: checks::visit_code().as_str().into(),
                    field: "M13".into(),
                    reason: "r".into(),
                }],
            },
        ),
    ));
    s.push((
        "server_bodies",
        "medicloud",
        json(
            0,
            &wire::MediCloudRecord {
                as_of: "2024-03-05".into(),
                medications: vec![wire::Medication {
                    drug_code: "AC45856100".into(),
                    name: "n".into(),
                    institution: INSTITUTION.into(),
                    dispensed_on: "2024-03-01".into(),
                    days: 28,
                    remaining_days: 24,
                }],
                labs: vec![wire::LabResult {
                    code: "09005C".into(),
                    name: "glucose".into(),
                    value: "98".into(),
                    unit: "mg/dL".into(),
                    reference: "70-100".into(),
                    taken_on: "2024-03-01".into(),
                }],
            },
        ),
    ));
    let set = nhi_vpn_sim::pharmacy::demo::sample_order_set(false, 28);
    let wire_set = wire::OrderSet {
        id: set.id.clone(),
        name: set.name.clone(),
        lines: set
            .lines
            .iter()
            .map(|l| wire::OrderSetLine {
                drug_code: l.drug_code.clone(),
                dose_centi: l.dose_centi,
                frequency: l.frequency.clone(),
                route: l.route.clone(),
                days: l.days,
                total_deci: l.total_deci,
            })
            .collect(),
    };
    s.push(("server_bodies", "order_sets", json(0, &vec![wire_set])));
    s.push((
        "server_bodies",
        "device_keys",
        json(
            0,
            &wire::DeviceKeys {
                institution_code: INSTITUTION.into(),
                keys: vec![wire::DevicePublicKey {
                    device_id: "d1".into(),
                    public_key: "ab".repeat(32),
                }],
            },
        ),
    ));
    s.push((
        "server_bodies",
        "sam_card_auth",
        json(
            0,
            &wire::SamCardAuthResponse {
                session: "s1".into(),
                sam_challenge: "01".repeat(8),
                sam_proof: "02".repeat(32),
            },
        ),
    ));
    s.push((
        "server_bodies",
        "wrong_pin",
        json(
            3,
            &wire::ErrorBody {
                error: "wrong_pin".into(),
                message: "m".into(),
                remaining: Some(2),
                field: None,
                server_time_ms: None,
            },
        ),
    ));
    s.push((
        "server_bodies",
        "clock_skew",
        json(
            4,
            &wire::ErrorBody {
                error: "clock_skew".into(),
                message: "m".into(),
                remaining: None,
                field: None,
                server_time_ms: Some(1_709_602_215_000),
            },
        ),
    ));
    // Upload 2.0.
    s.push((
        "upload_xml",
        "one_visit_batch",
        upload_xml::batch_big5(&[visit]).unwrap(),
    ));
    s
}

/// `&dyn Serialize` without the erased-serde crate: the seeds only need their JSON bytes.
mod erased {
    pub trait Json {
        fn bytes(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn bytes(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap()
        }
    }
}

/// The seeds are real valid inputs: each parses (or, for the sessions, runs to the end) without a
/// typed error; and the committed seed files are these bytes (set HOMEVISIT_WRITE_FUZZ_SEEDS=1 to
/// write them).
#[test]
fn seeds_are_valid_inputs_and_match_the_committed_files() {
    let seeds = seeds();
    for (target, name, bytes) in &seeds {
        let check = TARGETS.iter().find(|(t, _)| t == target).unwrap().1;
        check(bytes);
        let path = seeds_dir(target).join(name);
        if std::env::var_os("HOMEVISIT_WRITE_FUZZ_SEEDS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            &committed, bytes,
            "{target}/{name} is stale: regenerate the seeds"
        );
    }
    let valid = |t: &str, n: &str| {
        seeds
            .iter()
            .find(|(a, b, _)| *a == t && *b == n)
            .unwrap()
            .2
            .clone()
    };
    let frames = valid("reader_frame", "whole_sealed_frame");
    assert!(Frame::decode(&frames).is_ok());
    assert!(PairingOffer::decode(&valid("reader_session", "pairing_offer")).is_ok());
    assert!(SessionHello::decode(&valid("reader_session", "session_hello")).is_ok());
    assert!(SessionAccept::decode(&valid("reader_session", "session_accept")).is_ok());
    let (phone, _) = checks::fixed_channels();
    let opened = phone
        .open(0, &valid("reader_session", "sealed_apdu_response"))
        .unwrap();
    assert!(Message::decode(&opened).is_ok());
    let card = |n: &str| valid("card_apdu", n)[1..].to_vec();
    assert!(basic_data::decode(&card("basic_data")).is_ok());
    assert!(SequenceForm::from_bytes(&card("sequence_form")).is_ok());
    assert!(CardSequence::from_bytes(&card("card_sequence")).is_ok());
    assert!(matches!(VisitBody::from_bytes(&card("visit_body")), Ok(Some(_))));
    assert!(PrescriptionEntry::from_bytes(&card("prescription_entry")).is_ok());
    assert!(CardVisitRecord::from_bytes(&card("visit_records")[..110]).is_ok());
    assert!(RegisterBasic::from_bytes(&card("register_basic")).is_ok());
    assert_eq!(
        homevisit_core::card::records::allergies_from_bytes(&card("allergies")).unwrap(),
        vec!["盤尼西林".to_string()]
    );
    assert!(payload::decode(&String::from_utf8(valid("rx_qr", "signed_qr_text")).unwrap()).is_ok());
    assert!(BindingQr::parse(&String::from_utf8(valid("qr2_binding", "binding")).unwrap()).is_ok());
    let records = nhi_vpn_sim::upload::parse_batch(&valid("upload_xml", "one_visit_batch")).unwrap();
    assert_eq!(records.len(), 1);
}

/// Every committed seed (and any file added to a seed folder) goes through its target's check.
#[test]
fn committed_seed_files_pass_their_checks() {
    for (target, check) in TARGETS {
        let dir = seeds_dir(target);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut n = 0;
        for e in entries {
            let path = e.unwrap().path();
            check(&std::fs::read(&path).unwrap());
            n += 1;
        }
        assert!(n > 0, "{target} has no seeds");
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: one test per crash the fuzzers found.

/// card_apdu (proptest, edited seed, shrunk to `" 10    "`): a visit body whose diagnosis the card
/// could not have been written with (a leading space, lower case) was read as a diagnosis, and
/// writing it back failed. Now malformed.
#[test]
fn visit_body_with_a_diagnosis_the_card_cannot_hold_is_malformed() {
    for (at, byte) in [(0, b' '), (0, b'i'), (8, b'-')] {
        let mut bytes = body().to_bytes().unwrap();
        bytes[at] = byte;
        assert!(
            matches!(
                VisitBody::from_bytes(&bytes),
                Err(homevisit_core::card::CardError::Malformed { .. })
            ),
            "{:?}",
            String::from_utf8_lossy(&bytes)
        );
        checks::card_apdu(&[&[4u8][..], &bytes].concat());
    }
}

/// qr2_binding: `NHIVPN2|…|https:///` parsed (the slashes were trimmed after the check), giving the
/// endpoint `https:` that its own payload could not be read back from. Now refused.
#[test]
fn qr2_whose_endpoint_is_only_slashes_is_refused() {
    let fp = "ab".repeat(32);
    for url in ["https:///", "https:////", "https://"] {
        let text = format!("NHIVPN2|3501200000|T0ken42|{fp}|{url}");
        assert!(
            matches!(
                BindingQr::parse(&text),
                Err(homevisit_core::vpn::VpnError::InvalidQr { .. })
            ),
            "{url}"
        );
        checks::qr2_binding(text.as_bytes());
    }
    let ok = BindingQr::parse(&format!("NHIVPN2|3501200000|T0ken42|{fp}|https://h/")).unwrap();
    assert_eq!(ok.endpoint, "https://h");
}

/// card_apdu: a prescription entry's total was read with `f64::from_str`, so `9999999`, `1e3` or
/// `0.05` were accepted and then could not be written back (out of range, or not `00000.0`).
/// Now only the `00000.0` form is read.
#[test]
fn prescription_entry_total_outside_the_card_form_is_malformed() {
    for total in [&b"9999999"[..], b"1e3    ", b"0.05   ", b"00021.0"] {
        let mut bytes = entry().to_bytes().unwrap();
        bytes[52..59].copy_from_slice(total);
        let parsed = PrescriptionEntry::from_bytes(&bytes);
        if total == b"00021.0" {
            assert_eq!(parsed.unwrap().total, 21.0);
        } else {
            assert!(
                matches!(parsed, Err(homevisit_core::card::CardError::Malformed { .. })),
                "{:?}",
                String::from_utf8_lossy(total)
            );
        }
        checks::card_apdu(&[&[5u8][..], &bytes].concat());
    }
}

/// card_apdu crash-f56191b3…: a card name holding an HKSCS character (lead byte 0x9D) reads — a
/// patient's card must stay readable — but the Big5 encoder writes only standard Big5, so the
/// round trip the check demanded cannot hold. The check now demands it only of names the encoder
/// can write; reading stays lenient and writing refuses with a typed input error.
#[test]
fn card_name_in_big5_extensions_reads_but_is_not_written() {
    let crash: &[u8] = &[
        0x01, 0x30, 0x30, 0x30, 0x30, 0x31, 0x42, 0x41, 0x42, 0x41, 0x42, 0x41, 0x42, 0x41, 0x42, 0x41, 0x42,
        0x35, 0xbd, 0xbe, 0xbd, 0xbe, 0x9d, 0xbe, 0xbd, 0x41, 0x43, 0x41, 0x42, 0x00, 0x00, 0x00, 0x00, 0x41,
        0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x30, 0x33, 0x39, 0x30, 0x35, 0x30, 0x37, 0x4d,
        0x31, 0x30, 0x39, 0x30, 0x31, 0x30, 0x32,
    ];
    let read = basic_data::decode(&crash[1..]).expect("the card reads");
    assert!(matches!(
        basic_data::encode(&read),
        Err(homevisit_core::card::CardError::Input(_))
    ));
    checks::card_apdu(crash);
}

/// upload_xml crash-5f4591c7…: the simulated NHI server took raw control characters (`\x02\x00` in
/// a D01) into a field — XML 1.0 allows none but tab, line feed and carriage return, and such a
/// value could not even be written back as XML. Now the batch is malformed.
#[test]
fn upload_field_with_a_control_character_is_malformed() {
    let minimal = b"<?xml version=\"1.0\" encoding=\"Big5\"?><RECS><REC><MSH><H00>1</H00></MSH>\
        <MB><MB1><M03>A\x02\x00</M03></MB1></MB></REC></RECS>";
    let err = nhi_vpn_sim::upload::parse_batch(minimal).unwrap_err();
    assert!(err.0.contains("control character"), "{err:?}");
    checks::upload_xml(minimal);
    // The crash's shape: the committed seed with `\x02\x00` inside a D01 date-time.
    let seed = std::fs::read(seeds_dir("upload_xml").join("one_visit_batch")).unwrap();
    let at = seed.windows(5).position(|w| w == b"<D01>").unwrap() + 9;
    let crash = [&seed[..at], b"\x02\x00", &seed[at..]].concat();
    assert!(nhi_vpn_sim::upload::parse_batch(&crash).is_err());
    checks::upload_xml(&crash);
    // Tab, line feed and carriage return (as a reference) stay allowed.
    let fine = b"<?xml version=\"1.0\" encoding=\"Big5\"?><RECS><REC><MSH><H00>1</H00></MSH>\
        <MB><MB1><M03>A\t\n&#13;</M03></MB1></MB></REC></RECS>";
    assert_eq!(
        nhi_vpn_sim::upload::parse_batch(fine).unwrap()[0].mb1["M03"],
        "A\t\n\r"
    );
    checks::upload_xml(fine);
}

// ---------------------------------------------------------------------------------------------
// Short proptest runs of every check (CI; the fuzzers go much further).

fn edited_seed() -> impl Strategy<Value = (usize, Vec<u8>)> {
    let seeds: Vec<(usize, Vec<u8>)> = seeds()
        .into_iter()
        .map(|(t, _, b)| (TARGETS.iter().position(|(n, _)| *n == t).unwrap(), b))
        .collect();
    (
        0..seeds.len(),
        proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..4),
    )
        .prop_map(move |(i, edits)| {
            let (target, mut bytes) = seeds[i].clone();
            for (at, value, how) in edits {
                if bytes.is_empty() {
                    bytes.push(value);
                    continue;
                }
                let at = at % bytes.len();
                match how {
                    0 => bytes[at] = value,
                    1 => bytes.insert(at, value),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            (target, bytes)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_break_a_parser(target in 0..TARGETS.len(), data in proptest::collection::vec(any::<u8>(), 0..300)) {
        (TARGETS[target].1)(&data);
    }

    #[test]
    fn edited_seeds_never_break_a_parser((target, data) in edited_seed()) {
        (TARGETS[target].1)(&data);
    }
}
