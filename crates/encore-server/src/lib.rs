//! encore-server
