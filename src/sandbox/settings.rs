//! Claude Code's `sandbox` settings, read as they are: `enabled`,
//! `autoAllowBashIfSandboxed`, `excludedCommands`, `allowUnsandboxedCommands`, `network`
//! (`allowedDomains`, `allowLocalBinding`, `allowAllUnixSockets`, …) and `filesystem`
//! (`allowWrite`, `denyWrite`, `denyRead`). Scalars take the most specific file's value;
//! lists gather from every file.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxSettings {
    /// Run Bash commands in the sandbox (cairn: on by default where the kernel supports it).
    pub enabled: Option<bool>,
    /// Sandboxed commands run without asking (default true).
    pub auto_allow_bash_if_sandboxed: Option<bool>,
    /// Commands that run outside the sandbox, through the permission rules.
    pub excluded_commands: Option<Vec<String>>,
    /// Whether a call may ask to run unsandboxed (`dangerouslyDisableSandbox`; default true).
    pub allow_unsandboxed_commands: Option<bool>,
    /// Fail instead of running unsandboxed where the sandbox cannot work.
    pub fail_if_unavailable: Option<bool>,
    pub network: Option<NetworkSettings>,
    pub filesystem: Option<FilesystemSettings>,
    /// Claude Code's option for running inside a container; accepted, not needed.
    pub enable_weaker_nested_sandbox: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSettings {
    /// Domains commands may reach through the proxy (`*.example.com` for subdomains).
    pub allowed_domains: Option<Vec<String>>,
    /// Commands may listen on ports.
    pub allow_local_binding: Option<bool>,
    /// macOS only in Claude Code; cairn cannot filter Unix sockets by path, so this is read
    /// and not used: see `allowAllUnixSockets`.
    pub allow_unix_sockets: Option<Vec<String>>,
    /// Commands may open Unix sockets.
    pub allow_all_unix_sockets: Option<bool>,
    /// Claude Code's own proxy ports; cairn runs its own proxy.
    pub http_proxy_port: Option<u16>,
    pub socks_proxy_port: Option<u16>,
    pub allow_managed_domains_only: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilesystemSettings {
    /// More folders commands may write in.
    pub allow_write: Option<Vec<String>>,
    /// Paths commands may not write.
    pub deny_write: Option<Vec<String>>,
    /// Paths commands may not read.
    pub deny_read: Option<Vec<String>>,
}

impl SandboxSettings {
    /// Adds a more specific file's settings: its scalars win, lists gather.
    pub fn merge(&mut self, other: &SandboxSettings) {
        macro_rules! take {
            ($from:expr, $into:expr, $($field:ident),*) => { $( if $from.$field.is_some() { $into.$field = $from.$field.clone(); } )* };
        }
        fn gather(into: &mut Option<Vec<String>>, from: &Option<Vec<String>>) {
            if let Some(more) = from {
                into.get_or_insert_with(Vec::new).extend(more.iter().cloned());
            }
        }
        take!(
            other,
            self,
            enabled,
            auto_allow_bash_if_sandboxed,
            allow_unsandboxed_commands,
            fail_if_unavailable,
            enable_weaker_nested_sandbox
        );
        gather(&mut self.excluded_commands, &other.excluded_commands);
        if let Some(net) = &other.network {
            let mine = self.network.get_or_insert_with(Default::default);
            take!(
                net,
                mine,
                allow_local_binding,
                allow_all_unix_sockets,
                http_proxy_port,
                socks_proxy_port,
                allow_managed_domains_only
            );
            gather(&mut mine.allowed_domains, &net.allowed_domains);
            gather(&mut mine.allow_unix_sockets, &net.allow_unix_sockets);
        }
        if let Some(fs) = &other.filesystem {
            let mine = self.filesystem.get_or_insert_with(Default::default);
            gather(&mut mine.allow_write, &fs.allow_write);
            gather(&mut mine.deny_write, &fs.deny_write);
            gather(&mut mine.deny_read, &fs.deny_read);
        }
    }

    pub fn allow_write(&self, home: Option<&Path>) -> Vec<PathBuf> {
        self.paths(|f| &f.allow_write, home)
    }

    pub fn deny_write(&self, home: Option<&Path>) -> Vec<PathBuf> {
        self.paths(|f| &f.deny_write, home)
    }

    pub fn deny_read(&self, home: Option<&Path>) -> Vec<PathBuf> {
        self.paths(|f| &f.deny_read, home)
    }

    /// Paths as Claude Code writes them: `~/x` under the home folder, `//x` and `/x`
    /// absolute, anything else from the current folder.
    fn paths(&self, list: impl Fn(&FilesystemSettings) -> &Option<Vec<String>>, home: Option<&Path>) -> Vec<PathBuf> {
        let cwd = std::env::current_dir().unwrap_or_default();
        let Some(fs) = &self.filesystem else { return Vec::new() };
        list(fs)
            .iter()
            .flatten()
            .filter_map(|p| {
                let p = p.trim().trim_end_matches("/**").trim_end_matches("/*");
                if p.is_empty() {
                    return None;
                }
                Some(match (p.strip_prefix("~/"), p.strip_prefix("//")) {
                    (Some(rest), _) => home?.join(rest),
                    (_, Some(rest)) => PathBuf::from("/").join(rest),
                    _ if p.starts_with('/') => PathBuf::from(p),
                    _ => cwd.join(p.trim_start_matches("./")),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_take_the_later_file_and_lists_gather() {
        let user: SandboxSettings = serde_json::from_value(serde_json::json!({
            "enabled": true, "excludedCommands": ["docker"],
            "network": {"allowedDomains": ["pypi.org"], "allowLocalBinding": true},
            "filesystem": {"denyRead": ["~/.kube"]}
        }))
        .unwrap();
        let project: SandboxSettings = serde_json::from_value(serde_json::json!({
            "enabled": false, "excludedCommands": ["podman"],
            "network": {"allowedDomains": ["*.npmjs.org"]},
            "filesystem": {"allowWrite": ["//opt/cache"], "denyWrite": ["./dist"]}
        }))
        .unwrap();
        let mut merged = SandboxSettings::default();
        merged.merge(&user);
        merged.merge(&project);
        assert_eq!(merged.enabled, Some(false));
        assert_eq!(merged.excluded_commands, Some(vec!["docker".into(), "podman".into()]));
        let network = merged.network.clone().unwrap();
        assert_eq!(network.allowed_domains, Some(vec!["pypi.org".into(), "*.npmjs.org".into()]));
        assert_eq!(network.allow_local_binding, Some(true));
        let home = Path::new("/home/u");
        assert_eq!(merged.deny_read(Some(home)), vec![PathBuf::from("/home/u/.kube")]);
        assert_eq!(merged.allow_write(Some(home)), vec![PathBuf::from("/opt/cache")]);
        assert_eq!(merged.deny_write(Some(home)), vec![std::env::current_dir().unwrap().join("dist")]);
    }
}
