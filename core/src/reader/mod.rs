//! BLE card readers: the transport trait and its backends, frame codec, secure channel, pairing.
