//! `toolkit drill-model`: a broken copy of a good model, for drills. Promote it to the shadow or
//! active slot of a running engine (`toolkit promote --to active --id ID --model OUT`) and watch
//! the engine refuse it, name the reason in its log and `model_load_failures_total`, and go on
//! trading with the model it had. The faults are documented in `engine::model::drills`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use engine::model::drills::{ModelFault, write_faulty};

/// Arguments of `drill-model`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The good model directory to copy (model.json and model.onnx).
    #[arg(long, default_value = "models/latest")]
    from: PathBuf,
    /// The fault to plant.
    #[arg(long, value_enum)]
    fault: ModelFault,
    /// The directory to write the broken copy to.
    #[arg(long)]
    out: PathBuf,
    /// Its model id (default: drill-FAULT).
    #[arg(long)]
    id: Option<String>,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let fault = clap::ValueEnum::to_possible_value(&args.fault).map_or_else(
        || format!("{:?}", args.fault),
        |value| value.get_name().to_owned(),
    );
    let id = args.id.clone().unwrap_or_else(|| format!("drill-{fault}"));
    write_faulty(&args.from, args.fault, &args.out, &id)
        .with_context(|| format!("writing the {fault} drill of {}", args.from.display()))?;
    println!(
        "wrote {} ({id}, fault {fault}); promote it with: toolkit promote --to active --id {id} \
         --model {}",
        args.out.display(),
        args.out.display()
    );
    Ok(())
}
