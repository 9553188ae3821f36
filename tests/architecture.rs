//! The crate's shape: every `crate::` path in `src/` (test modules aside) names a module
//! below the one it is written in, in the layer order `lib.rs` writes down. An import that
//! reaches up fails here, with the file and the line, so the layers cannot decay.

use std::path::{Path, PathBuf};

/// The layer order, as `src/lib.rs` states it (the line of backticked names joined by `→`).
fn layers() -> Vec<String> {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let order: String = lib
        .lines()
        .map(|l| l.trim_start_matches("//!").trim())
        .skip_while(|l| !l.starts_with("`limits`"))
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let names: Vec<String> = order.split('→').map(|n| n.trim().trim_matches('`').to_owned()).collect();
    assert!(names.len() > 10, "the layer order in lib.rs could not be read: {order:?}");
    names
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_uses_one_above_it() {
    let layers = layers();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let rank = |name: &str| layers.iter().position(|l| l == name);
    let mut broken = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        let module = relative.split('/').next().unwrap().trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(own) = rank(&module) else {
            broken.push(format!("src/{relative}: the module `{module}` is not in lib.rs's layer order"));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        // Test modules may reach anywhere; they close every file that has one.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (number, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (at, _) in line.match_indices("crate::") {
                let used: String =
                    line[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if used == module || used.ends_with("_line") {
                    continue;
                }
                match rank(&used) {
                    Some(theirs) if theirs < own => {}
                    Some(_) => {
                        broken.push(format!("src/{relative}:{}: `{module}` uses `{used}`, above it", number + 1))
                    }
                    None => broken.push(format!("src/{relative}:{}: `{used}` is not in the layer order", number + 1)),
                }
            }
        }
    }
    assert!(broken.is_empty(), "{} imports break the layers:\n{}", broken.len(), broken.join("\n"));
}
