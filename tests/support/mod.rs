//! Helpers shared by the integration tests of the `sluice` package.
#![allow(dead_code)]

pub mod broker;
pub mod zookeeper;
