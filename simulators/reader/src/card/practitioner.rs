//! The simulated practitioner card (醫事人員卡, HPC): its id, and PIN verification with lockout
//! after 3 wrong PINs (the count survives a restart when the card is file-backed).
//!
//! Commands: SELECT the HPC application `00 A4 04 00 10 <HPC AID>`; read the holder
//! `80 CA 00 00 00` → national ID 10 · name 20 Big5 (NUL-padded); VERIFY `00 20 00 01 08 <PIN
//! ASCII, FF-padded>` → `90 00`, `63 Cx` (x tries left) or `69 83` (locked); VERIFY without data
//! → `90 00` when verified, else `63 Cx` / `69 83`.

use super::apdu::{self, respond, sw};
use super::{CardKind, HPC_AID, SimCard};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Wrong PINs allowed before the card locks.
pub const PIN_TRIES: u8 = 3;

/// The practitioner and the card's PIN state.
#[derive(Clone, Serialize, Deserialize)]
pub struct PractitionerProfile {
    /// National ID (10).
    pub national_id: String,
    /// Name (Big5, at most 20 bytes).
    pub name: String,
    /// The PIN (4–8 digits).
    pub pin: String,
    /// Wrong tries left before lockout.
    pub tries_left: u8,
}

impl std::fmt::Debug for PractitionerProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PractitionerProfile")
            .field("tries_left", &self.tries_left)
            .finish_non_exhaustive()
    }
}

struct Inner {
    profile: PractitionerProfile,
    path: Option<PathBuf>,
    selected: bool,
    verified: bool,
    present: bool,
}

/// A simulated HPC. Clones share the card.
#[derive(Clone)]
pub struct PractitionerCard {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for PractitionerCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PractitionerCard(<redacted>)")
    }
}

impl PractitionerCard {
    /// An HPC in memory.
    pub fn new(profile: PractitionerProfile) -> Self {
        Self::from_parts(profile, None)
    }

    /// An HPC whose PIN state lives in `path` (JSON; loaded when it exists).
    pub fn open(path: &Path, profile: PractitionerProfile) -> std::io::Result<Self> {
        let profile = if path.exists() {
            let hexed = std::fs::read_to_string(path)?;
            let bytes = hex::decode(hexed.trim())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            serde_json::from_slice(&bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?
        } else {
            profile
        };
        let card = Self::from_parts(profile, Some(path.to_path_buf()));
        {
            let i = card.lock();
            save(&i.path, &i.profile)?;
        }
        Ok(card)
    }

    fn from_parts(profile: PractitionerProfile, path: Option<PathBuf>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                profile,
                path,
                selected: false,
                verified: false,
                present: true,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Only a bug in this file could poison the lock; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wrong tries left before lockout.
    pub fn tries_left(&self) -> u8 {
        self.lock().profile.tries_left
    }
}

/// Stored hex-encoded so the holder's ID is never in clear in the state directory.
fn save(path: &Option<PathBuf>, profile: &PractitionerProfile) -> std::io::Result<()> {
    let Some(path) = path else { return Ok(()) };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let bytes = serde_json::to_vec(profile).map_err(|e| std::io::Error::other(e.to_string()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, hex::encode(bytes))?;
    std::fs::rename(&tmp, path)
}

impl Inner {
    fn handle(&mut self, raw: &[u8]) -> Vec<u8> {
        let cmd = match apdu::parse(raw) {
            Ok(c) => c,
            Err(s) => return respond(Vec::new(), s),
        };
        match (cmd.cla, cmd.ins) {
            (0x00, 0xA4) => {
                self.verified = false;
                self.selected = cmd.p1 == 0x04 && cmd.data == HPC_AID;
                respond(Vec::new(), if self.selected { sw::OK } else { sw::APP_NOT_FOUND })
            }
            _ if !self.selected => respond(Vec::new(), sw::CONDITIONS),
            (0x80, 0xCA) => {
                let mut v = Vec::with_capacity(30);
                let id = self.profile.national_id.as_bytes();
                v.extend_from_slice(&id[..id.len().min(10)]);
                v.resize(10, b' ');
                let (name, _, _) = encoding_rs::BIG5.encode(&self.profile.name);
                v.extend_from_slice(&name[..name.len().min(20)]);
                v.resize(30, 0);
                respond(v, sw::OK)
            }
            (0x00, 0x20) if cmd.p2 == 0x01 => self.verify(cmd.data),
            (0x00 | 0x80, _) => respond(Vec::new(), sw::INS_NOT_SUPPORTED),
            _ => respond(Vec::new(), sw::CLA_NOT_SUPPORTED),
        }
    }

    fn verify(&mut self, data: &[u8]) -> Vec<u8> {
        if self.profile.tries_left == 0 {
            return respond(Vec::new(), sw::PIN_BLOCKED);
        }
        if data.is_empty() {
            let s = if self.verified {
                sw::OK
            } else {
                sw::wrong_pin(self.profile.tries_left)
            };
            return respond(Vec::new(), s);
        }
        if data.len() != 8 {
            return respond(Vec::new(), sw::WRONG_LENGTH);
        }
        let entered: Vec<u8> = data.iter().copied().take_while(|&b| b != 0xFF).collect();
        let ok = crate::keys::ct_eq(&entered, self.profile.pin.as_bytes());
        let before = self.profile.tries_left;
        if ok {
            self.profile.tries_left = PIN_TRIES;
        } else {
            self.profile.tries_left -= 1;
        }
        if self.profile.tries_left != before && save(&self.path, &self.profile).is_err() {
            return respond(Vec::new(), sw::MEMORY_FAILURE);
        }
        self.verified = ok;
        if ok {
            respond(Vec::new(), sw::OK)
        } else if self.profile.tries_left == 0 {
            respond(Vec::new(), sw::PIN_BLOCKED)
        } else {
            respond(Vec::new(), sw::wrong_pin(self.profile.tries_left))
        }
    }
}

impl SimCard for PractitionerCard {
    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        let mut i = self.lock();
        if !i.present {
            return Vec::new();
        }
        i.handle(apdu)
    }

    fn kind(&self) -> CardKind {
        CardKind::Practitioner
    }

    fn present(&self) -> bool {
        self.lock().present
    }

    fn reset(&mut self) {
        let mut i = self.lock();
        i.selected = false;
        i.verified = false;
    }
}
