//! nhi-vpn-sim: the simulated NHI VPN services the app talks to.
