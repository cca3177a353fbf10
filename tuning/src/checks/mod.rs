//! One module per group of knobs; [`check_all`] runs every check. Each check
//! reads the host through [`Host`] and never fails: a knob it cannot read
//! is an INFO finding saying why.

pub mod block;
pub mod clock;
pub mod cpu;
pub mod irq;
pub mod memory;
pub mod sysctl;

use std::path::Path;

use crate::finding::Finding;
use crate::host::Host;

/// Every knob's finding, in the order the table prints them. `log_dir`
/// selects the disk the block checks look at.
pub fn check_all(host: &Host, log_dir: Option<&Path>) -> Vec<Finding> {
    let mut findings = vec![
        cpu::governor(host),
        clock::clocksource(host),
        irq::affinity(host),
        irq::irqbalance(host),
    ];
    findings.extend(block::check(host, log_dir));
    findings.extend([
        memory::transparent_hugepages(host),
        memory::swappiness(host),
        memory::memlock(host),
        sysctl::io_uring_disabled(host),
        sysctl::floor(host, &sysctl::AIO_MAX_NR),
        sysctl::floor(host, &sysctl::SOMAXCONN),
        sysctl::floor(host, &sysctl::RMEM_MAX),
        sysctl::floor(host, &sysctl::WMEM_MAX),
        sysctl::tcp_buffer(host, &sysctl::TCP_RMEM),
        sysctl::tcp_buffer(host, &sysctl::TCP_WMEM),
    ]);
    findings
}
