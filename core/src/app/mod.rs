//! The app facade: one HomeVisit per app, with sub-handles for readers, visits, sync and pharmacy.
