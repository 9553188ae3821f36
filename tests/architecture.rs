//! The crate's shape: every `crate::` path in `src/` (test modules aside) names a module
//! below the one it is written in, in the layer order `lib.rs` writes down, and no file or
//! function grows past the size a reader can hold. What breaks either fails here, with the
//! file and the line, so the shape cannot decay.

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

/// The line a function's body ends on, as rustfmt lays it out: the first line after its
/// signature that is `}` at the signature's indentation. `None` for a signature without
/// a body (a trait's declaration).
fn body_end(lines: &[&str], start: usize, indent: &str) -> Option<usize> {
    let closing = format!("{indent}}}");
    for (offset, line) in lines[start..].iter().enumerate() {
        if offset == 0 && line.trim_end().ends_with(';') {
            return None;
        }
        if *line == closing {
            return Some(start + offset);
        }
        // A signature that ends in `;` over several lines, then the next item.
        if offset > 0
            && line.starts_with(indent)
            && line.trim_end().ends_with(';')
            && line[indent.len()..].starts_with(')')
        {
            return None;
        }
    }
    None
}

/// The name of the function a line declares, with its indentation.
fn declared_function(line: &str) -> Option<(&str, &str)> {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let mut rest = trimmed;
    for prefix in ["pub(crate) ", "pub(super) ", "pub ", "async ", "const ", "unsafe "] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("async ").unwrap_or(rest);
    let name = rest.strip_prefix("fn ")?;
    let name = name.split(['(', '<']).next()?;
    Some((indent, name))
}

#[test]
fn no_file_or_function_is_too_long() {
    const MAX_FILE: usize = 800;
    const MAX_FUNCTION: usize = 100;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut long = Vec::new();
    let mut functions = 0;
    for file in files {
        let relative = file.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > MAX_FILE {
            long.push(format!("src/{relative}: {} lines", lines.len()));
        }
        for (number, line) in lines.iter().enumerate() {
            let Some((indent, name)) = declared_function(line) else { continue };
            let Some(end) = body_end(&lines, number, indent) else { continue };
            functions += 1;
            if end - number + 1 > MAX_FUNCTION {
                long.push(format!("src/{relative}:{}: fn {name} is {} lines", number + 1, end - number + 1));
            }
        }
    }
    assert!(functions > 1000, "only {functions} functions were found: the reader is broken");
    assert!(
        long.is_empty(),
        "files over {MAX_FILE} lines or functions over {MAX_FUNCTION} lines:\n{}",
        long.join("\n")
    );
}
