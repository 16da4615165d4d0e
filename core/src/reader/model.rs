//! Our GATT service and the allow-list of supported reader models, each with its MTU and quirks.

use uuid::Uuid;

/// The homevisit reader GATT service, advertised by every supported reader.
pub const SERVICE_UUID: Uuid = Uuid::from_u128(0x6e48_5601_7c1a_4d2b_9f0e_3a5c_0000_0001);
/// Characteristic the phone writes frames to (reader RX).
pub const RX_CHAR_UUID: Uuid = Uuid::from_u128(0x6e48_5601_7c1a_4d2b_9f0e_3a5c_0000_0002);
/// Characteristic the reader notifies frames on (reader TX).
pub const TX_CHAR_UUID: Uuid = Uuid::from_u128(0x6e48_5601_7c1a_4d2b_9f0e_3a5c_0000_0003);

/// ATT header bytes that every write / notification spends out of the MTU.
pub const ATT_HEADER: usize = 3;
/// The smallest MTU BLE allows (and what a link without negotiation runs at).
pub const MIN_MTU: u16 = 23;

/// A reader model on the allow-list. Only these can be paired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ReaderModel {
    /// HV-BT200: the reference reader; MTU 185, write without response, 4 packets per event.
    HvBt200,
    /// HV-Mini: a small, cheap reader that only negotiates the minimum MTU (23, 20-byte payloads).
    HvMini,
    /// HV-S3 Secure: MTU 247 but its firmware only accepts write *with* response.
    HvS3,
}

/// What the phone must honour when talking to one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelProfile {
    /// Advertised name prefix that identifies the model.
    pub name_prefix: &'static str,
    /// Largest ATT MTU the model negotiates.
    pub max_mtu: u16,
    /// Whether the RX characteristic accepts write-without-response.
    pub write_without_response: bool,
    /// Packets per connection event the model's radio accepts in one direction.
    pub packets_per_event: u32,
}

impl ReaderModel {
    /// Every supported model.
    pub const ALL: [ReaderModel; 3] = [ReaderModel::HvBt200, ReaderModel::HvMini, ReaderModel::HvS3];

    /// The model's limits and quirks.
    pub fn profile(self) -> ModelProfile {
        match self {
            ReaderModel::HvBt200 => ModelProfile {
                name_prefix: "HV-BT200",
                max_mtu: 185,
                write_without_response: true,
                packets_per_event: 4,
            },
            ReaderModel::HvMini => ModelProfile {
                name_prefix: "HV-Mini",
                max_mtu: MIN_MTU,
                write_without_response: true,
                packets_per_event: 2,
            },
            ReaderModel::HvS3 => ModelProfile {
                name_prefix: "HV-S3",
                max_mtu: 247,
                write_without_response: false,
                packets_per_event: 6,
            },
        }
    }

    /// The model an advertised name belongs to, if it is on the allow-list.
    pub fn from_advertised_name(name: &str) -> Option<ReaderModel> {
        Self::ALL
            .into_iter()
            .find(|m| name.starts_with(m.profile().name_prefix))
    }

    /// The model's marketing name (the advertised name prefix).
    pub fn name(self) -> &'static str {
        self.profile().name_prefix
    }
}

impl std::str::FromStr for ReaderModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown reader model '{s}' (supported: HV-BT200, HV-Mini, HV-S3)"))
    }
}

/// Bytes of frame data one write or notification can carry at `mtu`.
pub fn att_payload(mtu: u16) -> usize {
    (mtu.max(MIN_MTU) as usize) - ATT_HEADER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_models_and_unknown_readers_are_not_supported() {
        assert_eq!(
            ReaderModel::from_advertised_name("HV-BT200 0001"),
            Some(ReaderModel::HvBt200)
        );
        assert_eq!(
            ReaderModel::from_advertised_name("HV-Mini 7"),
            Some(ReaderModel::HvMini)
        );
        assert_eq!(
            ReaderModel::from_advertised_name("HV-S3 x"),
            Some(ReaderModel::HvS3)
        );
        assert_eq!(ReaderModel::from_advertised_name("Cheap Reader"), None);
        assert_eq!("hv-mini".parse::<ReaderModel>(), Ok(ReaderModel::HvMini));
        assert!("nope".parse::<ReaderModel>().is_err());
    }

    #[test]
    fn payload_is_mtu_minus_att_header() {
        assert_eq!(att_payload(185), 182);
        assert_eq!(att_payload(23), 20);
        assert_eq!(att_payload(5), 20);
    }
}
