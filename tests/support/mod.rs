//! Helpers shared by the integration tests of the `sluice` package.
#![allow(dead_code)]

pub(crate) mod broker;
pub(crate) mod zookeeper;
