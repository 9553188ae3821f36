//! The interactive terminal UI.

pub mod cells;
pub mod composer;
pub mod files;
pub mod history;
pub mod highlight;
pub mod markdown;
pub mod screen;
pub mod theme;
pub mod wrap;
