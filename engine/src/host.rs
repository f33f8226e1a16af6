//! What the host gives the hot thread: `engine doctor`'s checks, also run by `engine run` at
//! start.
//!
//! Each check reads what the kernel exposes (`/sys`, `/proc`) about the hot core
//! (`engine.hot_core`) and says what was found, what an isolated host would show, and the
//! one-line fix. The hot core not being isolated fails under a configuration that requires it
//! (`engine.require_isolated_hot_core`, the bare-metal profile) and `engine run` then refuses
//! to start without `--allow-shared-core`; every other shortfall is a warning. What a host does
//! not expose (no cpufreq in a VM, a kernel without nohz_full) is reported as unknown.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::EngineLayout;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// As an isolated host would be.
    Ok,
    /// Short of it: latency will suffer, the engine runs.
    Warn,
    /// Short of what the configuration requires.
    Fail,
    /// The host does not say.
    Unknown,
}

impl Status {
    /// As printed.
    pub const fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Unknown => "unknown",
        }
    }
}

/// One check of the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What is checked.
    pub name: &'static str,
    /// What the host shows.
    pub found: String,
    /// What an isolated host shows.
    pub expected: String,
    /// Whether it is as an isolated host would be.
    pub status: Status,
    /// How to get there (empty when ok).
    pub fix: String,
}

/// The checks `engine.require_isolated_hot_core` makes requirements.
const HOT_CORE_ONLINE: &str = "hot core online";
const HOT_CORE_ISOLATED: &str = "hot core isolated";

impl Check {
    /// Whether it is one of the checks `engine.require_isolated_hot_core` requires (the hot
    /// core online and isolated), which fail rather than warn under it.
    pub fn is_isolation(&self) -> bool {
        matches!(self.name, HOT_CORE_ONLINE | HOT_CORE_ISOLATED)
    }
}

/// Where the host's `/sys` and `/proc` are read: `/`, or `ENGINE_HOST_ROOT` (a copy of the
/// tree, for tests).
pub fn root() -> PathBuf {
    std::env::var_os("ENGINE_HOST_ROOT").map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// Every check, for the layout `layout`, reading the host's files under `root` (`/`, or a
/// copy of the tree for tests).
pub fn check(root: &Path, layout: &EngineLayout, require_isolation: bool) -> Vec<Check> {
    let host = Host { root };
    let hot = u32::from(layout.hot_core);
    let cpu = |path: &str| format!("sys/devices/system/cpu/{path}");
    let mut checks = Vec::new();

    let required = if require_isolation {
        Status::Fail
    } else {
        Status::Warn
    };
    checks.push(membership(
        HOT_CORE_ONLINE,
        hot,
        host.cpulist(&cpu("online")).as_ref(),
        "/sys/devices/system/cpu/online",
        required,
        format!("set engine.hot_core to an online CPU, or echo 1 > /sys/devices/system/cpu/cpu{hot}/online"),
    ));
    let isolated = host.cpulist(&cpu("isolated"));
    checks.push(membership(
        HOT_CORE_ISOLATED,
        hot,
        isolated.as_ref(),
        "/sys/devices/system/cpu/isolated",
        required,
        format!("boot with isolcpus=nohz,domain,managed_irq,{hot} (profiles/bare-metal.yml)"),
    ));
    checks.push(membership(
        "nohz_full",
        hot,
        host.cpulist(&cpu("nohz_full")).as_ref(),
        "/sys/devices/system/cpu/nohz_full",
        Status::Warn,
        format!("boot with nohz_full={hot}"),
    ));
    let rcu_nocbs = host
        .read("proc/cmdline")
        .map(|cmdline| boot_cpulist(&cmdline, "rcu_nocbs").unwrap_or_default());
    checks.push(membership(
        "rcu_nocbs",
        hot,
        rcu_nocbs.as_ref(),
        "rcu_nocbs= in /proc/cmdline",
        Status::Warn,
        format!("boot with rcu_nocbs={hot}"),
    ));

    let governor = host.read(&cpu(&format!("cpu{hot}/cpufreq/scaling_governor")));
    checks.push(match governor {
        Some(governor) => Check {
            name: "frequency governor",
            status: if governor == "performance" {
                Status::Ok
            } else {
                Status::Warn
            },
            fix: format!("cpupower -c {hot} frequency-set -g performance"),
            found: governor,
            expected: "performance".to_owned(),
        },
        None => unknown(
            "frequency governor",
            "performance",
            "no cpufreq for the hot core (a VM: the hypervisor decides)",
        ),
    });

    checks.push(sibling(&host, hot, layout, isolated.as_ref()));
    checks.push(nic_interrupts(&host, hot));

    let thp = host
        .read("sys/kernel/mm/transparent_hugepage/enabled")
        .and_then(|line| bracketed(&line));
    checks.push(match thp {
        Some(thp) => Check {
            name: "transparent huge pages",
            status: if thp == "never" || thp == "madvise" {
                Status::Ok
            } else {
                Status::Warn
            },
            fix: "boot with transparent_hugepage=never (or echo never > \
                  /sys/kernel/mm/transparent_hugepage/enabled)"
                .to_owned(),
            found: thp,
            expected: "never or madvise".to_owned(),
        },
        None => unknown("transparent huge pages", "never or madvise", "not exposed"),
    });

    let clock = host.read("sys/devices/system/clocksource/clocksource0/current_clocksource");
    checks.push(match clock {
        Some(clock) => Check {
            name: "clock source",
            status: if clock == "tsc" {
                Status::Ok
            } else {
                Status::Warn
            },
            fix: "boot with clocksource=tsc tsc=reliable (an unstable TSC needs other hardware)"
                .to_owned(),
            found: clock,
            expected: "tsc".to_owned(),
        },
        None => unknown("clock source", "tsc", "not exposed"),
    });
    for check in &mut checks {
        if check.status == Status::Ok {
            check.fix.clear();
        }
    }
    checks
}

/// The check that CPU `hot` is in `list` (None: the host does not say).
fn membership(
    name: &'static str,
    hot: u32,
    list: Option<&Vec<u32>>,
    source: &str,
    short: Status,
    fix: String,
) -> Check {
    match list {
        Some(list) => Check {
            name,
            found: format!("{} ({source})", show_cpus(list)),
            expected: format!("includes {hot}"),
            status: if list.contains(&hot) {
                Status::Ok
            } else {
                short
            },
            fix,
        },
        None => Check {
            name,
            found: format!("not exposed ({source})"),
            expected: format!("includes {hot}"),
            status: Status::Unknown,
            fix,
        },
    }
}

fn unknown(name: &'static str, expected: &str, found: &str) -> Check {
    Check {
        name,
        found: found.to_owned(),
        expected: expected.to_owned(),
        status: Status::Unknown,
        fix: String::new(),
    }
}

/// The hot core's SMT siblings: each must be offline, or isolated and no cold core.
fn sibling(host: &Host<'_>, hot: u32, layout: &EngineLayout, isolated: Option<&Vec<u32>>) -> Check {
    let name = "SMT sibling of the hot core";
    let expected = "offline, or isolated and not a cold core";
    let Some(siblings) = host.cpulist(&format!(
        "sys/devices/system/cpu/cpu{hot}/topology/thread_siblings_list"
    )) else {
        return unknown(name, expected, "no topology for the hot core");
    };
    let siblings: Vec<u32> = siblings.into_iter().filter(|&cpu| cpu != hot).collect();
    if siblings.is_empty() {
        return Check {
            name,
            found: "none".to_owned(),
            expected: expected.to_owned(),
            status: Status::Ok,
            fix: String::new(),
        };
    }
    let in_use: Vec<u32> = siblings
        .iter()
        .copied()
        .filter(|&cpu| {
            let online = host
                .read(&format!("sys/devices/system/cpu/cpu{cpu}/online"))
                .is_none_or(|text| text == "1");
            let spare = isolated.is_some_and(|list| list.contains(&cpu))
                && !layout.cold_cores.iter().any(|&core| u32::from(core) == cpu);
            online && !spare
        })
        .collect();
    Check {
        name,
        found: if in_use.is_empty() {
            format!("{} (unused)", show_cpus(&siblings))
        } else {
            format!("{} in use", show_cpus(&in_use))
        },
        expected: expected.to_owned(),
        status: if in_use.is_empty() {
            Status::Ok
        } else {
            Status::Warn
        },
        fix: in_use
            .iter()
            .map(|cpu| format!("echo 0 > /sys/devices/system/cpu/cpu{cpu}/online"))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// Interrupts of the network interfaces (every one but loopback): none may reach the hot core.
fn nic_interrupts(host: &Host<'_>, hot: u32) -> Check {
    let name = "network interrupts";
    let expected = format!("none on CPU {hot}");
    let interrupts = host.read("proc/interrupts").unwrap_or_default();
    let mut found = Vec::new();
    for interface in host.list("sys/class/net") {
        if interface == "lo" {
            continue;
        }
        let mut irqs = host.list(&format!("sys/class/net/{interface}/device/msi_irqs"));
        if irqs.is_empty() {
            // Without MSI: the lines of /proc/interrupts that name the interface.
            irqs = interrupts
                .lines()
                .filter(|line| {
                    line.split_whitespace()
                        .any(|word| word.contains(interface.as_str()))
                })
                .filter_map(|line| line.split(':').next().map(|irq| irq.trim().to_owned()))
                .filter(|irq| irq.chars().all(|c| c.is_ascii_digit()))
                .collect();
        }
        for irq in irqs {
            if let Some(cpus) = host.cpulist(&format!("proc/irq/{irq}/smp_affinity_list")) {
                found.push((interface.clone(), irq, cpus));
            }
        }
    }
    if found.is_empty() {
        return unknown(name, &expected, "no interrupt of a network interface found");
    }
    let on_hot: Vec<String> = found
        .iter()
        .filter(|(_, _, cpus)| cpus.contains(&hot))
        .map(|(interface, irq, _)| format!("{interface} IRQ {irq}"))
        .collect();
    Check {
        name,
        found: if on_hot.is_empty() {
            format!("{} interrupts, none on CPU {hot}", found.len())
        } else {
            format!("{} on CPU {hot}", on_hot.join(", "))
        },
        expected,
        status: if on_hot.is_empty() {
            Status::Ok
        } else {
            Status::Warn
        },
        fix: "boot with irqaffinity= the cold cores, or write them to \
              /proc/irq/N/smp_affinity_list (and stop irqbalance)"
            .to_owned(),
    }
}

/// The host's files under a root.
struct Host<'a> {
    root: &'a Path,
}

impl Host<'_> {
    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// A file's text, trimmed (None when it cannot be read).
    fn read(&self, relative: &str) -> Option<String> {
        std::fs::read_to_string(self.path(relative))
            .ok()
            .map(|text| text.trim().to_owned())
    }

    /// A CPU list file (`0-3,8`; empty: none).
    fn cpulist(&self, relative: &str) -> Option<Vec<u32>> {
        self.read(relative).and_then(|text| parse_cpulist(&text))
    }

    /// A directory's entries, sorted (none when it cannot be read).
    fn list(&self, relative: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(relative))
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// The kernel's CPU list format: `0-3,8,10-11` (empty: none); None when malformed.
pub fn parse_cpulist(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|part| !part.is_empty()) {
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last): (u32, u32) = (first.parse().ok()?, last.parse().ok()?);
                if last < first || last - first > 4096 {
                    return None;
                }
                cpus.extend(first..=last);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

/// The CPU list of boot parameter `name` in a kernel command line (`rcu_nocbs=2-3`).
fn boot_cpulist(cmdline: &str, name: &str) -> Option<Vec<u32>> {
    cmdline
        .split_whitespace()
        .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
        .and_then(parse_cpulist)
}

/// The `[chosen]` word of a sysfs choice line.
fn bracketed(line: &str) -> Option<String> {
    let start = line.find('[')? + 1;
    let end = start + line[start..].find(']')?;
    Some(line[start..end].to_owned())
}

fn show_cpus(cpus: &[u32]) -> String {
    if cpus.is_empty() {
        return "none".to_owned();
    }
    cpus.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The checks as a table.
pub fn table(checks: &[Check]) -> String {
    let mut out =
        String::from("| check | found | expected | status | fix |\n|---|---|---|---|---|\n");
    for check in checks {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            check.name,
            check.found,
            check.expected,
            check.status.label(),
            check.fix
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host tree with `files` (path, text) under a temporary root.
    fn host(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        root
    }

    fn layout(hot: u16, cold: &[u16]) -> EngineLayout {
        EngineLayout {
            hot_core: hot,
            cold_cores: cold.to_vec(),
            ..EngineLayout::default()
        }
    }

    fn statuses(checks: &[Check]) -> Vec<(&'static str, Status)> {
        checks
            .iter()
            .map(|check| (check.name, check.status))
            .collect()
    }

    /// The host profiles/bare-metal.yml describes: cores 2-3 isolated, 3 offline.
    const ISOLATED: &[(&str, &str)] = &[
        ("sys/devices/system/cpu/online", "0-2\n"),
        ("sys/devices/system/cpu/isolated", "2-3\n"),
        ("sys/devices/system/cpu/nohz_full", "2-3\n"),
        (
            "proc/cmdline",
            "BOOT_IMAGE=/vmlinuz isolcpus=nohz,domain,managed_irq,2-3 nohz_full=2-3 rcu_nocbs=2-3 irqaffinity=0-1\n",
        ),
        (
            "sys/devices/system/cpu/cpu2/cpufreq/scaling_governor",
            "performance\n",
        ),
        (
            "sys/devices/system/cpu/cpu2/topology/thread_siblings_list",
            "2-3\n",
        ),
        ("sys/devices/system/cpu/cpu3/online", "0\n"),
        ("sys/class/net/eth0/device/msi_irqs/40", ""),
        ("sys/class/net/eth0/device/msi_irqs/41", ""),
        ("proc/irq/40/smp_affinity_list", "0-1\n"),
        ("proc/irq/41/smp_affinity_list", "1\n"),
        (
            "sys/kernel/mm/transparent_hugepage/enabled",
            "always madvise [never]\n",
        ),
        (
            "sys/devices/system/clocksource/clocksource0/current_clocksource",
            "tsc\n",
        ),
    ];

    #[test]
    fn an_isolated_host_passes_every_check() {
        let root = host(ISOLATED);
        let checks = check(root.path(), &layout(2, &[0, 1]), true);
        assert!(
            checks.iter().all(|check| check.status == Status::Ok),
            "{}",
            table(&checks)
        );
        assert!(checks.iter().all(|check| check.fix.is_empty()));
        assert_eq!(checks[1].found, "2,3 (/sys/devices/system/cpu/isolated)");
        assert_eq!(checks[6].found, "2 interrupts, none on CPU 2");
    }

    #[test]
    fn a_shared_host_fails_isolation_when_required_and_warns_otherwise() {
        let root = host(&[
            ("sys/devices/system/cpu/online", "0-1\n"),
            ("sys/devices/system/cpu/isolated", "\n"),
            ("proc/cmdline", "console=ttyS0 quiet\n"),
            (
                "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
                "powersave\n",
            ),
            (
                "sys/devices/system/cpu/cpu1/topology/thread_siblings_list",
                "0-1\n",
            ),
            ("sys/class/net/lo/device/msi_irqs/9", ""),
            ("sys/class/net/eth0/uevent", ""),
            (
                "proc/interrupts",
                "           CPU0       CPU1\n 24:   10   20   PCI-MSI virtio0-input.0\n 25:  1  2  PCI-MSI eth0-tx\n",
            ),
            ("proc/irq/25/smp_affinity_list", "0-1\n"),
            (
                "sys/kernel/mm/transparent_hugepage/enabled",
                "[always] madvise never\n",
            ),
            (
                "sys/devices/system/clocksource/clocksource0/current_clocksource",
                "kvm-clock\n",
            ),
        ]);
        let required = check(root.path(), &layout(1, &[0]), true);
        assert_eq!(
            statuses(&required),
            [
                ("hot core online", Status::Ok),
                ("hot core isolated", Status::Fail),
                ("nohz_full", Status::Unknown),
                ("rcu_nocbs", Status::Warn),
                ("frequency governor", Status::Warn),
                ("SMT sibling of the hot core", Status::Warn),
                ("network interrupts", Status::Warn),
                ("transparent huge pages", Status::Warn),
                ("clock source", Status::Warn),
            ]
        );
        assert_eq!(
            required[1].fix,
            "boot with isolcpus=nohz,domain,managed_irq,1 (profiles/bare-metal.yml)"
        );
        assert_eq!(required[5].found, "0 in use");
        assert_eq!(required[6].found, "eth0 IRQ 25 on CPU 1");
        assert_eq!(required[8].found, "kvm-clock");
        let advised = check(root.path(), &layout(1, &[0]), false);
        assert_eq!(advised[1].status, Status::Warn);
        // A hot core the host does not have.
        let missing = check(root.path(), &layout(2, &[0]), true);
        assert_eq!(
            (missing[0].status, missing[0].found.as_str()),
            (Status::Fail, "0,1 (/sys/devices/system/cpu/online)")
        );
    }

    #[test]
    fn cpu_lists_parse_as_the_kernel_writes_them() {
        assert_eq!(
            parse_cpulist("0-3,8,10-11"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpulist(""), Some(vec![]));
        assert_eq!(parse_cpulist("3-1"), None);
        assert_eq!(parse_cpulist("x"), None);
        assert_eq!(
            boot_cpulist("quiet rcu_nocbs=2-3 nohz_full=2", "rcu_nocbs"),
            Some(vec![2, 3])
        );
        assert_eq!(boot_cpulist("quiet", "rcu_nocbs"), None);
        assert_eq!(
            bracketed("always [madvise] never").as_deref(),
            Some("madvise")
        );
    }
}
