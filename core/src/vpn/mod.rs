//! The HTTPS client of the NHI VPN services: pinning, request signing, wire types, MediCloud cache.
