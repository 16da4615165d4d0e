//! The NHI card application: APDUs, record layouts, operations and control-software error codes.
