//! Front ends: consumers of the core's event stream. `print` is the headless one (`-p`);
//! the terminal UI joins in issue [3/8].

pub mod answer;
pub mod print;
pub mod tui;
