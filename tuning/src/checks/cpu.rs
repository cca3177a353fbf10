//! `cpu.governor`: the cpufreq scaling governor of every CPU.

use crate::finding::{Finding, Fix, Severity};
use crate::host::Host;

pub const GOVERNOR: &str = "cpu.governor";
const RECOMMENDED: &str = "performance";
const WHY: &str = "A shard polls its io_uring rings and answers cross-shard messages within \
    microseconds; a governor that drops the clock of a core that looks idle makes the next \
    request wait for the core to speed up again.";

pub fn governor(host: &Host) -> Finding {
    let cpus: Vec<String> = host
        .list("/sys/devices/system/cpu")
        .into_iter()
        .filter(|name| {
            name.strip_prefix("cpu")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    let mut governors: Vec<(String, String)> = Vec::new();
    for cpu in &cpus {
        let path = format!("/sys/devices/system/cpu/{cpu}/cpufreq/scaling_governor");
        match host.read(&path) {
            Ok(Some(governor)) => governors.push((path, governor)),
            Ok(None) => {}
            Err(error) => return Finding::unavailable(GOVERNOR, RECOMMENDED, &error.to_string()),
        }
    }
    if governors.is_empty() {
        return Finding::unavailable(
            GOVERNOR,
            RECOMMENDED,
            "no cpufreq on this host (usual in a VM: the hypervisor sets the clock)",
        );
    }
    let mut distinct: Vec<&str> = governors.iter().map(|(_, g)| g.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let severity = decide(&distinct);
    let fixes = governors
        .iter()
        .filter(|(_, governor)| governor != RECOMMENDED)
        .filter(|(path, _)| {
            let available = path.replace("scaling_governor", "scaling_available_governors");
            host.read(&available)
                .ok()
                .flatten()
                .is_some_and(|list| list.split_whitespace().any(|g| g == RECOMMENDED))
        })
        .map(|(path, governor)| Fix {
            path: path.clone(),
            previous: governor.clone(),
            value: RECOMMENDED.to_string(),
        })
        .collect();
    Finding::new(GOVERNOR, distinct.join(","), RECOMMENDED, severity, WHY).with_fixes(fixes)
}

/// OK when every CPU runs `performance`, WARN otherwise.
fn decide(distinct_governors: &[&str]) -> Severity {
    if distinct_governors == [RECOMMENDED] {
        Severity::Ok
    } else {
        Severity::Warn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_performance_everywhere_is_ok() {
        assert_eq!(decide(&["performance"]), Severity::Ok);
        assert_eq!(decide(&["performance", "powersave"]), Severity::Warn);
        assert_eq!(decide(&["schedutil"]), Severity::Warn);
    }
}
