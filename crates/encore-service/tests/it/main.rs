//! Integration tests of the service (one test binary).
//!
//! The behaviour tests ([`service_test!`]) run against both back ends: each body gets a
//! [`common::Backend`] and becomes two tests, `NAME::sqlite` and `NAME::postgres`. The
//! PostgreSQL one runs on a database of its own (`encore_store::test_support`, the store's
//! fixture: server from `ENCORE_TEST_DATABASE_URL`, default
//! `postgres://root@127.0.0.1:5432/postgres`), with the model files in a temporary data
//! directory either way.

/// Defines a test that runs once per back end: `service_test! { fn name(fx) { … } }`.
macro_rules! service_test {
    (fn $name:ident($fx:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($fx: &$crate::common::Backend) $body

            #[test]
            fn sqlite() {
                body(&$crate::common::Backend::sqlite())
            }

            #[test]
            fn postgres() {
                body(&$crate::common::Backend::postgres())
            }
        }
    };
}

mod access;
mod common;
mod index;
mod models;
mod replicas;
mod serving;
mod writes;
