//! Numeric sysctls with a floor: `fs.aio-max-nr`, `net.core.somaxconn`,
//! `net.core.rmem_max`/`wmem_max`, `net.ipv4.tcp_rmem`/`tcp_wmem`; and
//! `kernel.io_uring_disabled`.

use crate::finding::{Finding, Fix, Severity};
use crate::host::Host;
use crate::parse;

/// 16 MiB: enough socket buffer for 10 Gb/s at ~13 ms of round trip.
const SOCKET_BUFFER_BYTES: u64 = 16 << 20;

/// A sysctl holding one number that should be at least `recommended`.
pub struct Floor {
    pub knob: &'static str,
    pub path: &'static str,
    pub recommended: u64,
    /// Values below this are WARN; between it and `recommended`, INFO.
    pub warn_below: u64,
    pub why: &'static str,
}

pub const AIO_MAX_NR: Floor = Floor {
    knob: "fs.aio-max-nr",
    path: "/proc/sys/fs/aio-max-nr",
    recommended: 1_048_576,
    warn_below: 0,
    why: "Sluice does its I/O through io_uring, not Linux AIO, so this limit does not bind \
        it; raised for AIO users sharing the host (Seastar-based services, databases using \
        libaio) whose io_setup fails with EAGAIN when the host-wide count runs out.",
};

pub const SOMAXCONN: Floor = Floor {
    knob: "net.core.somaxconn",
    path: "/proc/sys/net/core/somaxconn",
    recommended: 4096,
    warn_below: 1024,
    why: "glommio listens with a backlog of 1024 and the kernel caps it at somaxconn; a \
        shorter accept queue drops connection attempts when many clients reconnect at once \
        (a broker restart).",
};

pub const RMEM_MAX: Floor = Floor {
    knob: "net.core.rmem_max",
    path: "/proc/sys/net/core/rmem_max",
    recommended: SOCKET_BUFFER_BYTES,
    warn_below: 0,
    why: "Caps SO_RCVBUF, which Kafka's socket.receive.buffer.bytes sets; the kernel's \
        autotuning (tcp_rmem) is not bound by it. Raise for high-bandwidth, high-latency links.",
};

pub const WMEM_MAX: Floor = Floor {
    knob: "net.core.wmem_max",
    path: "/proc/sys/net/core/wmem_max",
    recommended: SOCKET_BUFFER_BYTES,
    warn_below: 0,
    why: "Caps SO_SNDBUF, which Kafka's socket.send.buffer.bytes sets; raise it so large \
        fetch responses fill long links.",
};

/// `net.ipv4.tcp_rmem` / `tcp_wmem`: the autotuning maximum (third number).
pub struct TcpBuffer {
    pub knob: &'static str,
    pub path: &'static str,
    pub why: &'static str,
}

pub const TCP_RMEM: TcpBuffer = TcpBuffer {
    knob: "net.ipv4.tcp_rmem",
    path: "/proc/sys/net/ipv4/tcp_rmem",
    why: "The receive window grows up to the third number; produce traffic from remote \
        clients needs bandwidth × round-trip of buffer to keep a link full.",
};

pub const TCP_WMEM: TcpBuffer = TcpBuffer {
    knob: "net.ipv4.tcp_wmem",
    path: "/proc/sys/net/ipv4/tcp_wmem",
    why: "Fetch responses are written to the socket whole; a send buffer that cannot grow \
        past its maximum leaves a fast link idle while the shard waits to write more.",
};

/// Below this autotuning maximum a single fast connection stalls: WARN.
const TCP_BUFFER_WARN_BELOW: u64 = 4 << 20;

pub fn floor(host: &Host, floor: &Floor) -> Finding {
    let recommended = format!("≥ {}", floor.recommended);
    let current = match host.read_present(floor.path) {
        Ok(text) => match text.parse::<u64>() {
            Ok(value) => value,
            Err(_) => return Finding::unavailable(floor.knob, &recommended, &format!("{text:?}")),
        },
        Err(reason) => return Finding::unavailable(floor.knob, &recommended, &reason),
    };
    let severity = decide_floor(current, floor.recommended, floor.warn_below);
    let mut finding = Finding::new(
        floor.knob,
        current.to_string(),
        recommended,
        severity,
        floor.why,
    );
    if severity > Severity::Ok {
        finding = finding.with_fixes(vec![Fix {
            path: floor.path.to_string(),
            previous: current.to_string(),
            value: floor.recommended.to_string(),
        }]);
    }
    finding
}

fn decide_floor(current: u64, recommended: u64, warn_below: u64) -> Severity {
    if current < warn_below {
        Severity::Warn
    } else if current < recommended {
        Severity::Info
    } else {
        Severity::Ok
    }
}

pub fn tcp_buffer(host: &Host, buffer: &TcpBuffer) -> Finding {
    let recommended = format!("max ≥ {SOCKET_BUFFER_BYTES}");
    let text = match host.read_present(buffer.path) {
        Ok(text) => text,
        Err(reason) => return Finding::unavailable(buffer.knob, &recommended, &reason),
    };
    let Some([min, default, max]) = parse::triple(&text) else {
        return Finding::unavailable(buffer.knob, &recommended, &format!("{text:?}"));
    };
    let current = format!("{min} {default} {max}");
    let severity = decide_floor(max, SOCKET_BUFFER_BYTES, TCP_BUFFER_WARN_BELOW);
    let mut finding = Finding::new(
        buffer.knob,
        current.clone(),
        recommended,
        severity,
        buffer.why,
    );
    if severity > Severity::Ok {
        finding = finding.with_fixes(vec![Fix {
            path: buffer.path.to_string(),
            previous: current,
            value: format!("{min} {default} {SOCKET_BUFFER_BYTES}"),
        }]);
    }
    finding
}

pub const IO_URING_DISABLED: &str = "kernel.io_uring_disabled";
const IO_URING_DISABLED_PATH: &str = "/proc/sys/kernel/io_uring_disabled";
const IO_URING_WHY: &str = "Every shard runs on io_uring. 1 allows it only to root and to \
    members of kernel.io_uring_group; 2 disables it and the broker cannot start. Kernels \
    before 6.6 lack the knob and always allow io_uring.";

pub fn io_uring_disabled(host: &Host) -> Finding {
    let current = match host.read(IO_URING_DISABLED_PATH) {
        Ok(Some(current)) => current,
        Ok(None) => {
            return Finding::new(
                IO_URING_DISABLED,
                "absent (kernel before 6.6: io_uring allowed)",
                "0",
                Severity::Ok,
                IO_URING_WHY,
            )
        }
        Err(error) => return Finding::unavailable(IO_URING_DISABLED, "0", &error.to_string()),
    };
    let severity = match current.as_str() {
        "0" => Severity::Ok,
        "1" => Severity::Warn,
        _ => Severity::Fatal,
    };
    let mut finding = Finding::new(
        IO_URING_DISABLED,
        current.clone(),
        "0",
        severity,
        IO_URING_WHY,
    );
    if severity > Severity::Ok {
        finding = finding.with_fixes(vec![Fix {
            path: IO_URING_DISABLED_PATH.to_string(),
            previous: current,
            value: "0".to_string(),
        }]);
    }
    finding
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_warn_only_below_the_warning_line() {
        assert_eq!(decide_floor(128, 4096, 1024), Severity::Warn);
        assert_eq!(decide_floor(2048, 4096, 1024), Severity::Info);
        assert_eq!(decide_floor(4096, 4096, 1024), Severity::Ok);
        assert_eq!(decide_floor(65536, 1_048_576, 0), Severity::Info);
    }
}
