//! The subcommands of the `engine` binary.

pub(crate) mod collect;
pub(crate) mod doctor;
pub(crate) mod run;
pub(crate) mod size;

use feed::Fixed;

/// Parses a decimal argument exactly.
pub(crate) fn parse_fixed(text: &str) -> Result<Fixed, String> {
    text.parse()
        .map_err(|err| format!("{text:?} is not a decimal: {err}"))
}
