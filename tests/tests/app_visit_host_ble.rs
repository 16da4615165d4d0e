//! The reader protocol over a host BLE stack: a `HostBle` written here the way a shell writes one
//! over Android's BluetoothGatt (blocking calls; notifications and link loss pushed from the
//! stack's own thread into `BleEvents`), backed by a simulated reader. Pairing, the PIN, an offline
//! visit, and a link lost under the host's feet followed by a reconnect without pairing.

use homevisit_core::app::{
    AppConfig, AppError, HomeVisit, ReaderState, ReaderStateEvent, ReaderStateListener, ReaderTransport,
};
use homevisit_core::platform::{MemoryKeyStore, SystemClock};
use homevisit_core::reader::host::{BleCharacteristic, BleLink, BlePeripheral, BleService};
use homevisit_core::reader::transport::{LinkEvent, Uuid, WriteKind};
use homevisit_core::reader::{BleEvents, CardSlot, HostBle, HostBleError, PeripheralLink, ReaderModel};
use nhi_reader_sim::card;
use nhi_reader_sim::gatt::SimLink;
use nhi_reader_sim::{ReaderConfig, SimReader};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// A host Bluetooth stack whose radio is a simulated reader.
struct SimHost {
    reader: SimReader,
    links: Mutex<HashMap<String, SimLink>>,
}

impl HostBle for SimHost {
    fn scan(&self, service: String, _timeout_ms: u32) -> Result<Vec<BlePeripheral>, HostBleError> {
        let ad = self.reader.advertisement_data();
        let offers = self
            .reader
            .gatt_services()
            .iter()
            .any(|s| s.uuid.to_string() == service);
        Ok(offers
            .then_some(BlePeripheral {
                id: ad.id,
                name: ad.name,
                rssi: ad.rssi,
            })
            .into_iter()
            .collect())
    }

    fn connect(&self, id: String, events: Arc<BleEvents>) -> Result<BleLink, HostBleError> {
        if id != self.reader.id() {
            return Err(HostBleError::Failed {
                reason: "GATT 133".into(),
            });
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        let link = self.reader.accept(tx);
        // The stack's callback thread.
        std::thread::spawn(move || {
            while let Some(ev) = rx.blocking_recv() {
                match ev {
                    LinkEvent::Notification {
                        characteristic,
                        value,
                    } => events.on_notification(&characteristic.to_string(), value),
                    LinkEvent::Disconnected { reason } => {
                        events.on_disconnected(&reason);
                        return;
                    }
                }
            }
        });
        let services = link
            .services()
            .into_iter()
            .map(|s| BleService {
                uuid: s.uuid.to_string(),
                characteristics: s
                    .characteristics
                    .into_iter()
                    .map(|c| BleCharacteristic {
                        uuid: c.uuid.to_string().to_uppercase(),
                        write: c.props.write,
                        write_without_response: c.props.write_without_response,
                        notify: c.props.notify,
                    })
                    .collect(),
            })
            .collect();
        let mtu = link.mtu();
        self.links.lock().unwrap().insert(id, link);
        Ok(BleLink { mtu, services })
    }

    fn enable_notifications(&self, id: String, _c: String) -> Result<(), HostBleError> {
        match self.links.lock().unwrap().contains_key(&id) {
            true => Ok(()),
            false => Err(HostBleError::Disconnected),
        }
    }

    fn write(&self, id: String, c: String, value: Vec<u8>, with_response: bool) -> Result<(), HostBleError> {
        let mut links = self.links.lock().unwrap();
        let link = links.get_mut(&id).ok_or(HostBleError::Disconnected)?;
        let kind = if with_response {
            WriteKind::WithResponse
        } else {
            WriteKind::WithoutResponse
        };
        let c = Uuid::parse_str(&c).map_err(|_| HostBleError::Failed {
            reason: "bad UUID".into(),
        })?;
        link.write(c, &value, kind)
            .map_err(|_| HostBleError::Disconnected)
    }

    fn disconnect(&self, id: String) {
        if let Some(mut link) = self.links.lock().unwrap().remove(&id) {
            link.close();
        }
    }
}

struct Events(mpsc::UnboundedSender<ReaderStateEvent>);

impl ReaderStateListener for Events {
    fn on_reader_state(&self, event: &ReaderStateEvent) {
        let _ = self.0.send(event.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reader_protocol_runs_over_a_host_ble_stack() {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(
        HomeVisit::open(
            AppConfig {
                data_dir: dir.path().to_path_buf(),
                institution_code: "3501200000".into(),
                device_id: "android-1".into(),
            },
            Arc::new(MemoryKeyStore::with_seed(8)),
            Arc::new(SystemClock),
        )
        .unwrap(),
    );
    let reader = SimReader::new(ReaderConfig::new(ReaderModel::HvS3, "0042"));
    reader.insert(
        CardSlot::Practitioner,
        Box::new(card::PractitionerCard::new(card::demo_practitioner())),
    );
    let patient = card::demo_patient_card();
    reader.insert(CardSlot::Patient, Box::new(patient.clone()));
    let host = Arc::new(SimHost {
        reader: reader.clone(),
        links: Mutex::new(HashMap::new()),
    });
    let readers = app.readers();
    readers
        .set_transport(ReaderTransport::HostBle(host.clone()))
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _sub = readers.subscribe(Arc::new(Events(tx)));

    let found = readers.scan(100).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].model, Some(ReaderModel::HvS3));
    let code = readers.pair(&found[0].id).await.unwrap();
    assert_eq!(Some(code.code.clone()), reader.displayed_code());
    assert!(reader.press_button(), "the reader's own confirmation");
    readers.confirm_pairing(&code.code).await.unwrap();
    readers.verify_practitioner_pin("1234").await.unwrap();

    app.set_online(false);
    let v = app.begin_visit().await.unwrap();
    v.add_diagnosis("I10").unwrap();
    assert_eq!(v.finish("host-1").await.unwrap().sequence_number, "F00B");
    assert!(patient.records().is_empty());

    // The host's stack reports the link lost: the stream says so, the next call reconnects.
    while rx.try_recv().is_ok() {}
    reader.drop_link("the phone went into the other room");
    let state = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(state, ReaderState::Disconnected);
    assert_eq!(
        app.begin_visit().await.unwrap_err(),
        AppError::Validation {
            field: "practitioner".into(),
            reason: "verify the practitioner PIN first".into()
        },
        "a new session needs the PIN again"
    );
    readers.verify_practitioner_pin("1234").await.unwrap();
    assert!(readers.is_connected().await);
    assert_eq!(host.links.lock().unwrap().len(), 1);
}
