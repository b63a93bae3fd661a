//! encore-store
