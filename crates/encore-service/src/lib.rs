//! encore-service
