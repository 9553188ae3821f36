//! Front ends: consumers of the core's event stream. `print` is the headless one (`-p`:
//! text, json, stream-json), `tui` the terminal UI, and `answer` words the core's typed
//! answers (permissions, context, MCP servers, hooks) for a person to read.

pub mod acp;
pub mod answer;
pub mod print;
pub mod tui;
