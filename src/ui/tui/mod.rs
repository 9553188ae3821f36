//! The interactive terminal UI.

pub mod highlight;
pub mod markdown;
pub mod theme;
pub mod wrap;
