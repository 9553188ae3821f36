//! The policy applied to the launcher's own process, before it execs the command: Landlock
//! rules for files and TCP ports, a seccomp filter for sockets and the calls that reach
//! into other processes. Both are inherited by every process the command starts and
//! cannot be lifted.
//!
//! Landlock only adds rights, so "read everything but `~/.ssh`" is written as read rights
//! on everything beside the path on the way down to it: `/` minus `/root` plus `/root`'s
//! entries minus `.ssh`, and so on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus, NetPort, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};
use seccompiler::{SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule};

use super::Policy;

const ABI_WANTED: ABI = ABI::V6;

/// Devices every command may write to.
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/random",
    "/dev/urandom",
    "/dev/ptmx",
    "/dev/pts",
    "/dev/shm",
    "/dev/fd",
];

/// Applies `policy` to this process; what enforces it, in words. `probe`: whether the
/// paths inside writable folders could be protected too (a mount namespace) is tried and
/// said.
pub fn apply(policy: &Policy, probe: bool) -> Result<String, String> {
    let namespace = if probe || !policy.read_only.is_empty() || !policy.hidden.is_empty() || !policy.pinned.is_empty() {
        match isolate(policy) {
            Ok(()) => {
                // The folder the command starts in, looked up again through the new mounts:
                // a process already in a covered folder would otherwise stay below them.
                if let Ok(cwd) = std::env::current_dir() {
                    std::env::set_current_dir(&cwd)
                        .map_err(|e| format!("could not enter {} again: {e}", cwd.display()))?;
                }
                ", mount namespace"
            }
            Err(e) if probe => return probed(policy, &e),
            Err(e) => return Err(e),
        }
    } else {
        ""
    };
    let (landlock, tcp) = restrict_files_and_ports(policy)?;
    filter_calls(policy, tcp)?;
    Ok(format!("{landlock}, seccomp{namespace}"))
}

/// The probe's answer where no mount namespace can be made.
fn probed(policy: &Policy, why: &str) -> Result<String, String> {
    let (landlock, tcp) = restrict_files_and_ports(policy)?;
    filter_calls(policy, tcp)?;
    Ok(format!("{landlock}, seccomp; no mount namespace ({why})"))
}

/// A mount namespace of the command's own, where the paths deny rules protect inside the
/// writable folders are mounted read-only, and those it may not read are covered (an
/// empty folder, or an empty file), before Landlock forbids mounting.
fn isolate(policy: &Policy) -> Result<(), String> {
    use rustix::mount::{MountFlags, MountPropagationFlags, mount, mount_bind, mount_change};
    use rustix::thread::UnshareFlags;
    let (uid, gid) = (rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw());
    // `unshare` is deprecated for `unshare_unsafe` because `FILES` can split the descriptor
    // table under other threads; this process has one thread and asks for no `FILES`.
    #[allow(deprecated)]
    rustix::thread::unshare(UnshareFlags::NEWUSER | UnshareFlags::NEWNS)
        .map_err(|e| format!("user namespaces are not allowed here: {e}"))?;
    let map = |file: &str, text: String| {
        std::fs::write(file, text).map_err(|e| format!("could not write {file} in the new namespace: {e}"))
    };
    let _ = std::fs::write("/proc/self/setgroups", "deny");
    map("/proc/self/uid_map", format!("{uid} {uid} 1"))?;
    map("/proc/self/gid_map", format!("{gid} {gid} 1"))?;
    let failed = |what: &str, path: &Path, e: rustix::io::Errno| format!("could not {what} {}: {e}", path.display());
    mount_change("/", MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)
        .map_err(|e| failed("make private the mounts of", Path::new("/"), e))?;
    for path in policy.pinned.iter().filter(|p| p.is_dir()) {
        mount_bind(path, path).map_err(|e| failed("pin", path, e))?;
    }
    for path in policy.read_only.iter().filter(|p| p.exists()) {
        mount_bind(path, path).map_err(|e| failed("bind", path, e))?;
        read_only(path).map_err(|e| failed("make read-only", path, e))?;
    }
    for path in policy.hidden.iter().filter(|p| p.exists()) {
        if path.is_dir() {
            mount("tmpfs", path, "tmpfs", MountFlags::NOSUID | MountFlags::NODEV, c"size=4k,mode=0555")
                .map_err(|e| failed("cover", path, e))?;
        } else {
            mount_bind("/dev/null", path).map_err(|e| failed("cover", path, e))?;
        }
        read_only(path).map_err(|e| failed("make read-only", path, e))?;
    }
    Ok(())
}

/// Remounts the bind mount at `path` read-only, keeping the flags a namespace may not drop.
fn read_only(path: &Path) -> rustix::io::Result<()> {
    use rustix::fs::StatVfsMountFlags as Has;
    use rustix::mount::MountFlags;
    let has = rustix::fs::statvfs(path)?.f_flag;
    let mut flags = MountFlags::BIND | MountFlags::RDONLY;
    for (had, keep) in [
        (Has::NOSUID, MountFlags::NOSUID),
        (Has::NODEV, MountFlags::NODEV),
        (Has::NOEXEC, MountFlags::NOEXEC),
        (Has::NOATIME, MountFlags::NOATIME),
        (Has::NODIRATIME, MountFlags::NODIRATIME),
        (Has::RELATIME, MountFlags::RELATIME),
    ] {
        if has.contains(had) {
            flags |= keep;
        }
    }
    rustix::mount::mount_remount(path, flags, c"")
}

/// What enforces the rules, and whether TCP ports could be limited.
fn restrict_files_and_ports(policy: &Policy) -> Result<(String, bool), String> {
    let failed = |e: landlock::RulesetError| format!("Landlock refused the policy: {e}");
    let all = AccessFs::from_all(ABI_WANTED);
    let read = AccessFs::ReadFile | AccessFs::ReadDir | AccessFs::Execute;
    let mut ruleset =
        Ruleset::default().set_compatibility(CompatLevel::BestEffort).handle_access(all).map_err(failed)?;
    // TCP: connect only to the proxy; bind only when local binding is allowed.
    let mut net: BitFlags<AccessNet> = AccessNet::ConnectTcp.into();
    if !policy.allow_local_binding {
        net |= AccessNet::BindTcp;
    }
    // Signals are not scoped: a command must still be able to stop what an earlier one
    // started (`kill` of a dev server in a background shell, each its own domain).
    ruleset = ruleset.handle_access(net).map_err(failed)?;
    if !policy.allow_unix_sockets {
        ruleset = ruleset.scope(Scope::AbstractUnixSocket).map_err(failed)?;
    }
    // Rules attach to what paths resolve to: a denied path is taken by its real name.
    let denied: Vec<PathBuf> =
        policy.deny_read.iter().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())).collect();
    let mut paths: Vec<(PathBuf, BitFlags<AccessFs>)> = Vec::new();
    paths.extend(readable(Path::new("/"), &denied).into_iter().map(|p| (p, read)));
    paths.extend(ancestors_of(&denied).into_iter().map(|p| (p, AccessFs::ReadDir.into())));
    let writable = policy.write.iter().filter(|w| !denied.iter().any(|d| w.starts_with(d)));
    paths.extend(writable.map(|p| (p.clone(), all)));
    let device = read | AccessFs::WriteFile | AccessFs::IoctlDev | AccessFs::Truncate;
    paths.extend(DEVICES.iter().map(|d| (PathBuf::from(d), device)));
    let rules = paths.into_iter().filter_map(|(path, access)| {
        let fd = PathFd::new(&path).ok()?;
        let access = if path.is_dir() { access } else { access & AccessFs::from_file(ABI_WANTED) };
        Some(Ok::<_, landlock::RulesetError>(PathBeneath::new(fd, access)))
    });
    let mut created = ruleset.create().map_err(failed)?.add_rules(rules).map_err(failed)?;
    if let Some(port) = policy.proxy_port {
        created = created.add_rule(NetPort::new(port, AccessNet::ConnectTcp)).map_err(failed)?;
    }
    let status = created.restrict_self().map_err(failed)?;
    match (status.ruleset, status.landlock) {
        (RulesetStatus::NotEnforced, _) | (_, LandlockStatus::NotEnabled | LandlockStatus::NotImplemented) => {
            Err("Landlock is not available in this kernel".into())
        }
        (_, LandlockStatus::Available { effective_abi, .. }) => {
            let abi = effective_abi as i32;
            if abi < 4 {
                // No TCP rules before ABI 4: the seccomp filter then takes the network away.
                return Ok((format!("Landlock ABI {abi} (no network: the kernel cannot limit ports)"), false));
            }
            Ok((format!("Landlock ABI {abi}"), true))
        }
    }
}

/// What may be read: `root` whole when nothing under it is denied, nothing when it is
/// denied itself, else each of its entries the same way.
fn readable(root: &Path, denied: &[PathBuf]) -> Vec<PathBuf> {
    // A link is not followed: a rule on it would be a rule on its target, denied or not
    // (the target is covered, or not, under its own name).
    if root.is_symlink() || denied.iter().any(|d| root.starts_with(d)) {
        return Vec::new();
    }
    if !denied.iter().any(|d| d.starts_with(root)) {
        return vec![root.to_path_buf()];
    }
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        out.extend(readable(&entry.path(), denied));
    }
    out
}

/// The folders above the denied paths: listed (names only), not read.
fn ancestors_of(denied: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = denied.iter().flat_map(|d| d.ancestors().skip(1).map(Path::to_path_buf)).collect();
    out.sort();
    out.dedup();
    out
}

/// Sockets: Unix ones only when allowed, IPv4/IPv6 TCP streams only (Landlock limits their
/// ports; none at all where it cannot), nothing else — no UDP, raw, packet, netlink or SCTP
/// sockets; no `ptrace` or reading another process's memory; no io_uring (its requests
/// pass beside this filter).
fn filter_calls(policy: &Policy, tcp: bool) -> Result<(), String> {
    let failed = |e: seccompiler::BackendError| format!("the seccomp filter could not be built: {e}");
    let arch = seccompiler::TargetArch::try_from(std::env::consts::ARCH).map_err(failed)?;
    let cond = |arg: u8, op: SeccompCmpOp, value: u64| {
        SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).map_err(failed)
    };
    let rule = |conditions: Vec<SeccompCondition>| SeccompRule::new(conditions).map_err(failed);
    const AF_UNIX: u64 = 1;
    const AF_INET: u64 = 2;
    const AF_INET6: u64 = 10;
    const SOCK_STREAM: u64 = 1;
    const IPPROTO_TCP: u64 = 6;
    // Each rule names calls that are refused.
    let mut socket = Vec::new();
    let mut other_family = vec![cond(0, SeccompCmpOp::Ne, AF_INET)?, cond(0, SeccompCmpOp::Ne, AF_INET6)?];
    if policy.allow_unix_sockets {
        other_family.push(cond(0, SeccompCmpOp::Ne, AF_UNIX)?);
    }
    socket.push(rule(other_family)?);
    for family in [AF_INET, AF_INET6] {
        if !tcp {
            socket.push(rule(vec![cond(0, SeccompCmpOp::Eq, family)?])?);
            continue;
        }
        for kind in (0..16).filter(|k| *k != SOCK_STREAM) {
            socket.push(rule(vec![cond(0, SeccompCmpOp::Eq, family)?, cond(1, SeccompCmpOp::MaskedEq(0xf), kind)?])?);
        }
        socket.push(rule(vec![
            cond(0, SeccompCmpOp::Eq, family)?,
            cond(2, SeccompCmpOp::Ne, 0)?,
            cond(2, SeccompCmpOp::Ne, IPPROTO_TCP)?,
        ])?);
    }
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    rules.insert(libc::SYS_socket, socket);
    // TCP Fast Open connects inside `sendto`/`sendmsg`, past Landlock's connect rule.
    const MSG_FASTOPEN: u64 = 0x2000_0000;
    let fast_open = |arg: u8| rule(vec![cond(arg, SeccompCmpOp::MaskedEq(MSG_FASTOPEN), MSG_FASTOPEN)?]);
    rules.insert(libc::SYS_sendto, vec![fast_open(3)?]);
    rules.insert(libc::SYS_sendmsg, vec![fast_open(2)?]);
    rules.insert(libc::SYS_sendmmsg, vec![fast_open(3)?]);
    const TCP_FASTOPEN_CONNECT: u64 = 30;
    rules.insert(
        libc::SYS_setsockopt,
        vec![rule(vec![cond(1, SeccompCmpOp::Eq, IPPROTO_TCP)?, cond(2, SeccompCmpOp::Eq, TCP_FASTOPEN_CONNECT)?])?],
    );
    // Typing into the terminal cairn (or the user's shell) reads from.
    const TIOCSTI: u64 = 0x5412;
    const TIOCLINUX: u64 = 0x541c;
    rules.insert(
        libc::SYS_ioctl,
        vec![rule(vec![cond(1, SeccompCmpOp::Eq, TIOCSTI)?])?, rule(vec![cond(1, SeccompCmpOp::Eq, TIOCLINUX)?])?],
    );
    if !policy.allow_local_binding {
        // `listen` on a socket never bound takes a port of its own, past Landlock's rule.
        rules.insert(libc::SYS_listen, Vec::new());
    }
    // Other processes' memory; io_uring (its requests pass beside this filter); mounts and
    // namespaces (a clone of a mount without its covering mounts, a read-only flag lifted:
    // Landlock does not see these); the keyrings outside.
    for nr in [
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_io_uring_setup,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_open_tree,
        libc::SYS_move_mount,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_mount_setattr,
        libc::SYS_setns,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
    ] {
        rules.insert(nr, Vec::new());
    }
    add_x32(&mut rules);
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(1), arch).map_err(failed)?;
    let program: seccompiler::BpfProgram = filter.try_into().map_err(failed)?;
    seccompiler::apply_filter(&program).map_err(|e| format!("the seccomp filter could not be applied: {e}"))
}

/// The same refusals for the x32 numbers of x86-64 (`nr | 0x40000000`, and their own
/// numbers for the calls whose arguments differ there), where a kernel still offers x32.
#[cfg(target_arch = "x86_64")]
fn add_x32(rules: &mut BTreeMap<i64, Vec<SeccompRule>>) {
    const X32: i64 = 0x4000_0000;
    let own = [
        (libc::SYS_ioctl, 514),
        (libc::SYS_sendmsg, 518),
        (libc::SYS_ptrace, 521),
        (libc::SYS_sendmmsg, 538),
        (libc::SYS_process_vm_readv, 539),
        (libc::SYS_process_vm_writev, 540),
        (libc::SYS_setsockopt, 541),
    ];
    let native: Vec<(i64, Vec<SeccompRule>)> = rules.iter().map(|(nr, r)| (*nr, r.clone())).collect();
    for (nr, refused) in native {
        rules.insert(nr | X32, refused.clone());
        if let Some((_, x32)) = own.iter().find(|(n, _)| *n == nr) {
            rules.insert(x32 | X32, refused);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn add_x32(_rules: &mut BTreeMap<i64, Vec<SeccompRule>>) {}
