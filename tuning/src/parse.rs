//! Parsers for the text formats of `/proc` and `/sys`. Pure functions, so
//! each format is tested on captured samples.

use std::collections::BTreeMap;

/// The selected entry of a sysfs choice file: `none [mq-deadline] kyber`
/// gives `mq-deadline`. A file with one bare word (a kernel that lists only
/// the active value) gives that word.
pub fn selected_choice(text: &str) -> Option<&str> {
    let mut words = text.split_whitespace();
    if let Some(selected) = text
        .split_whitespace()
        .find_map(|word| word.strip_prefix('[')?.strip_suffix(']'))
    {
        return Some(selected);
    }
    let only = words.next()?;
    words.next().is_none().then_some(only)
}

/// Every entry of a sysfs choice file, brackets removed.
pub fn choices(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .map(|word| word.trim_start_matches('[').trim_end_matches(']'))
        .collect()
}

/// A kernel CPU list (`0-3,8,10-11`), as sorted CPU numbers.
pub fn cpu_list(text: &str) -> Result<Vec<u32>, String> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|part| !part.is_empty()) {
        let bad = || format!("bad CPU list {text:?}");
        match part.split_once('-') {
            Some((first, last)) => {
                let first: u32 = first.trim().parse().map_err(|_| bad())?;
                let last: u32 = last.trim().parse().map_err(|_| bad())?;
                if last < first {
                    return Err(bad());
                }
                cpus.extend(first..=last);
            }
            None => cpus.push(part.trim().parse().map_err(|_| bad())?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// The kernel's CPU list notation for sorted, distinct `cpus`.
pub fn format_cpu_list(cpus: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut index = 0;
    while index < cpus.len() {
        let first = cpus[index];
        let mut last = first;
        while index + 1 < cpus.len() && cpus[index + 1] == last + 1 {
            index += 1;
            last = cpus[index];
        }
        parts.push(if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        });
        index += 1;
    }
    parts.join(",")
}

/// A resource limit's value in `/proc/<pid>/limits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Bytes(u64),
    Unlimited,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Unlimited => f.write_str("unlimited"),
            Limit::Bytes(bytes) => f.write_str(&human_bytes(*bytes)),
        }
    }
}

/// The soft limit of the `Max locked memory` row of `/proc/<pid>/limits`.
pub fn memlock_soft_limit(limits: &str) -> Option<Limit> {
    let row = limits
        .lines()
        .find(|line| line.starts_with("Max locked memory"))?;
    let soft = row
        .trim_start_matches("Max locked memory")
        .split_whitespace()
        .next()?;
    match soft {
        "unlimited" => Some(Limit::Unlimited),
        bytes => bytes.parse().ok().map(Limit::Bytes),
    }
}

/// The three numbers of `net.ipv4.tcp_rmem`/`tcp_wmem`: min, default, max.
pub fn triple(text: &str) -> Option<[u64; 3]> {
    let mut numbers = text.split_whitespace().map(|word| word.parse::<u64>());
    let values = [
        numbers.next()?.ok()?,
        numbers.next()?.ok()?,
        numbers.next()?.ok()?,
    ];
    numbers.next().is_none().then_some(values)
}

/// IRQ number to action name (`virtio1-req.0`, `nvme0q3`, `eth0-TxRx-2`)
/// from `/proc/interrupts`; rows without a number (NMI, LOC) are skipped.
pub fn interrupt_names(interrupts: &str) -> BTreeMap<u32, String> {
    interrupts
        .lines()
        .filter_map(|line| {
            let (number, rest) = line.trim_start().split_once(':')?;
            let number: u32 = number.parse().ok()?;
            let name = rest.split_whitespace().last()?;
            Some((number, name.to_string()))
        })
        .collect()
}

/// Whether `/proc/swaps` lists any swap area (its first line is a header).
pub fn swap_configured(swaps: &str) -> bool {
    swaps.lines().skip(1).any(|line| !line.trim().is_empty())
}

/// `bytes` in the largest binary unit that divides it, for tables.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size && bytes % size == 0 {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selected_choice_reads_the_bracketed_entry() {
        assert_eq!(
            selected_choice("none [mq-deadline] kyber bfq"),
            Some("mq-deadline")
        );
        assert_eq!(selected_choice("always [madvise] never"), Some("madvise"));
        assert_eq!(selected_choice("[none] mq-deadline"), Some("none"));
        assert_eq!(selected_choice("none"), Some("none"));
        assert_eq!(selected_choice("none mq-deadline"), None);
        assert_eq!(selected_choice(""), None);
        assert_eq!(
            choices("none [mq-deadline] kyber"),
            ["none", "mq-deadline", "kyber"]
        );
    }

    #[test]
    fn cpu_lists_round_trip() {
        assert_eq!(cpu_list("0-3,8,10-11").unwrap(), [0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(cpu_list("1\n").unwrap(), [1]);
        assert_eq!(cpu_list("").unwrap(), Vec::<u32>::new());
        assert_eq!(cpu_list("3,1,1").unwrap(), [1, 3]);
        assert!(cpu_list("3-1").is_err());
        assert!(cpu_list("a").is_err());
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
        assert_eq!(format_cpu_list(&[5]), "5");
        assert_eq!(format_cpu_list(&[]), "");
    }

    #[test]
    fn memlock_limit_is_read_from_proc_limits() {
        let limits =
            "Limit                     Soft Limit           Hard Limit           Units     \n\
            Max processes             127599               127599               processes \n\
            Max locked memory         8388608              8388608              bytes     \n\
            Max address space         unlimited            unlimited            bytes     \n";
        assert_eq!(memlock_soft_limit(limits), Some(Limit::Bytes(8 << 20)));
        let unlimited =
            "Max locked memory         unlimited            unlimited            bytes\n";
        assert_eq!(memlock_soft_limit(unlimited), Some(Limit::Unlimited));
        assert_eq!(memlock_soft_limit("Max processes 1 1 processes"), None);
        assert_eq!(Limit::Bytes(8 << 20).to_string(), "8 MiB");
        assert_eq!(Limit::Bytes(65_000).to_string(), "65000 B");
    }

    #[test]
    fn tcp_buffer_triples() {
        assert_eq!(
            triple("4096\t131072\t6291456"),
            Some([4096, 131072, 6291456])
        );
        assert_eq!(triple("4096 131072"), None);
        assert_eq!(triple("4096 131072 1 2"), None);
        assert_eq!(triple("4096 x 1"), None);
    }

    #[test]
    fn interrupt_names_skip_summary_rows() {
        let text = "           CPU0       CPU1       \n \
            26:          0         14  IO-APIC   4-edge      ttyS0\n \
            36:          0    7000415 PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0\n\
            NMI:          0          0   Non-maskable interrupts\n\
            ERR:          0\n";
        let names = interrupt_names(text);
        assert_eq!(names.len(), 2);
        assert_eq!(names[&26], "ttyS0");
        assert_eq!(names[&36], "virtio1-req.0");
    }

    #[test]
    fn swaps_header_alone_means_no_swap() {
        assert!(!swap_configured(
            "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
        ));
        assert!(swap_configured(
            "Filename Type Size Used Priority\n/dev/zram0 partition 4G 0 100\n"
        ));
    }
}
