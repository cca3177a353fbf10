//! `clocksource`: the kernel's clock source, read on every timestamp.

use crate::finding::{Finding, Fix, Severity};
use crate::host::Host;
use crate::parse;

pub const CLOCKSOURCE: &str = "clocksource";
const RECOMMENDED: &str = "tsc";
const CURRENT: &str = "/sys/devices/system/clocksource/clocksource0/current_clocksource";
const AVAILABLE: &str = "/sys/devices/system/clocksource/clocksource0/available_clocksource";
const WHY: &str = "The broker reads the clock for every batch timestamp, timer and latency \
    histogram. tsc is read in user space in nanoseconds; hpet and acpi_pm cost a system \
    call and microseconds each; kvm-clock (a VM's paravirtual clock) is also read in user \
    space and nearly as cheap.";

pub fn clocksource(host: &Host) -> Finding {
    let current = match host.read_present(CURRENT) {
        Ok(current) => current,
        Err(reason) => return Finding::unavailable(CLOCKSOURCE, RECOMMENDED, &reason),
    };
    let available = host.read(AVAILABLE).ok().flatten().unwrap_or_default();
    let tsc_available = parse::choices(&available).contains(&RECOMMENDED);
    let severity = decide(&current, tsc_available);
    let mut finding = Finding::new(CLOCKSOURCE, current.clone(), RECOMMENDED, severity, WHY);
    if current != RECOMMENDED && tsc_available {
        finding = finding.with_fixes(vec![Fix {
            path: CURRENT.to_string(),
            previous: current,
            value: RECOMMENDED.to_string(),
        }]);
    }
    finding
}

/// tsc is OK; the paravirtual clocks of hypervisors (read through the vDSO)
/// are INFO; the slow hardware timers are WARN.
fn decide(current: &str, tsc_available: bool) -> Severity {
    match current {
        // arch_sys_counter is the arm64 equivalent of tsc.
        "tsc" | "arch_sys_counter" => Severity::Ok,
        "kvm-clock" | "hyperv_clocksource_tsc_page" => Severity::Info,
        _ if !tsc_available => Severity::Info,
        _ => Severity::Warn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_timers_warn_only_when_tsc_is_there() {
        assert_eq!(decide("tsc", true), Severity::Ok);
        assert_eq!(decide("kvm-clock", true), Severity::Info);
        assert_eq!(decide("hpet", true), Severity::Warn);
        assert_eq!(decide("hpet", false), Severity::Info);
        assert_eq!(decide("acpi_pm", true), Severity::Warn);
    }
}
