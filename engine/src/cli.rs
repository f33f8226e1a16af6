//! Command-line pieces shared by the `engine` and `toolkit` binaries.

use std::path::PathBuf;

use clap::Args;

use crate::config::{ConfigError, Loaded, load};

/// `--config` and `--profile`, as every command that reads the configuration takes them.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// The configuration file; symbols.yml is read from the same directory.
    #[arg(long, value_name = "PATH", default_value = "config/app.yml")]
    pub config: PathBuf,
    /// A profile deep-merged over the configuration: a name (paper, real, bare-metal: read from
    /// profiles/NAME.yml beside the config directory) or a path to a .yml file.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

impl ConfigArgs {
    /// Loads and checks the configuration these arguments name, reading the process
    /// environment for `${VAR}` expressions.
    pub fn load(&self) -> Result<Loaded, ConfigError> {
        load(&self.config, self.profile.as_deref())
    }
}
