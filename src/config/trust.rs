//! Trusting a folder: before the interactive UI lets a project's own settings run commands
//! (hooks, `apiKeyHelper`, `statusLine`), allow tools without asking, widen the working
//! folders or set the environment, the user says once that they trust the folder. The
//! answer is kept in `$CAIRN_HOME/trusted-folders.json`. `-p` treats the folder as trusted
//! (CI needs it), as Claude Code does. Deny and ask rules apply whether trusted or not.

use std::path::{Path, PathBuf};

fn store(cairn_home: &Path) -> PathBuf {
    cairn_home.join("trusted-folders.json")
}

fn trusted(cairn_home: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string(store(cairn_home))
        .ok()
        .and_then(|text| serde_json::from_str::<Vec<PathBuf>>(&text).ok())
        .unwrap_or_default()
}

/// Whether `folder` (or a folder above it) was trusted before.
pub fn is_trusted(cairn_home: &Path, folder: &Path) -> bool {
    trusted(cairn_home).iter().any(|t| folder.starts_with(t))
}

/// Remembers that the user trusts `folder`.
pub fn remember(cairn_home: &Path, folder: &Path) -> std::io::Result<()> {
    let mut folders = trusted(cairn_home);
    if !folders.iter().any(|f| f == folder) {
        folders.push(folder.to_path_buf());
    }
    std::fs::create_dir_all(cairn_home)?;
    let text = serde_json::to_string_pretty(&folders).map_err(std::io::Error::other)?;
    std::fs::write(store(cairn_home), text + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_is_remembered_for_the_folder_and_below() {
        let home = tempfile::tempdir().unwrap();
        let project = Path::new("/work/app");
        assert!(!is_trusted(home.path(), project));
        remember(home.path(), project).unwrap();
        remember(home.path(), project).unwrap();
        assert!(is_trusted(home.path(), project));
        assert!(is_trusted(home.path(), &project.join("sub")));
        assert!(!is_trusted(home.path(), Path::new("/work/other")));
        assert_eq!(trusted(home.path()).len(), 1);
    }
}
