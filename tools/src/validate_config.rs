//! `toolkit validate-config`: print the effective configuration or every error in it.

use std::process::ExitCode;

use anyhow::{Context, Result};
use engine::cli::ConfigArgs;

/// Arguments of `validate-config`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// Print the JSON Schema of the configuration (every key with its type, range, default and
    /// description) instead of validating a file.
    #[arg(long)]
    schema: bool,
}

/// Runs the command: exit 0 with the effective configuration on stdout, or exit 1 with every
/// problem on stderr.
pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    if args.schema {
        let schema = serde_json::to_string_pretty(&engine::config::json_schema())
            .context("rendering the schema")?;
        println!("{schema}");
        return Ok(ExitCode::SUCCESS);
    }
    match args.config.load() {
        Ok(loaded) => {
            let yaml = serde_yaml_ng::to_string(&loaded.config)
                .context("rendering the effective configuration")?;
            let symbols: Vec<&str> = loaded.symbols.symbols.keys().map(String::as_str).collect();
            println!("# effective configuration: {}", loaded.source);
            println!("# instruments: {}", symbols.join(", "));
            print!("{yaml}");
            eprintln!("configuration is valid");
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("{err}");
            Ok(ExitCode::FAILURE)
        }
    }
}
