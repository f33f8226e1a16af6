//! What the simulator's informed traders knew, second by second, beside a simulated day with a
//! planted edge (`latent.csv`, written by `toolkit synth`). The pipeline never reads it: it is
//! the answer key. The canary's oracle does, to measure how much of what was there to earn the
//! model earned.
//!
//! One row a simulated second: `t_ms` (matching-engine time), `trend_bps_per_min` (the trend's
//! fair-price drift then, signed), and the step an accumulation under way announced, if any
//! (`step_side` Buy or Sell, `step_at_ms`, `step_bps`; empty otherwise). See
//! `feed::sim`, "The planted edges".

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use feed::Side;
use feed::sim::{Latent, PlannedStep};

/// File name of the latent state in a day's directory.
pub(crate) const LATENT_FILE: &str = "latent.csv";
const HEADER: &str = "t_ms,trend_bps_per_min,step_side,step_at_ms,step_bps";
/// Rows are this far apart, ms.
const ROW_MS: u64 = 1_000;

/// Writes a day's latent state, one row each simulated second.
pub(crate) struct LatentWriter {
    out: BufWriter<File>,
    next_ms: u64,
}

impl LatentWriter {
    /// A writer of `dir/latent.csv` for a day starting at `start_ms`.
    pub(crate) fn create(dir: &Path, start_ms: u64) -> Result<LatentWriter> {
        let path = dir.join(LATENT_FILE);
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = BufWriter::new(file);
        writeln!(out, "{HEADER}")?;
        Ok(LatentWriter {
            out,
            next_ms: start_ms,
        })
    }

    /// Records `latent` for every whole second up to `now_ms` not yet written.
    pub(crate) fn record(&mut self, now_ms: u64, latent: &Latent) -> Result<()> {
        while self.next_ms <= now_ms {
            match latent.step {
                Some(step) => writeln!(
                    self.out,
                    "{},{:.6},{:?},{},{:.6}",
                    self.next_ms, latent.trend_bps_per_min, step.side, step.at_ms, step.bps
                )?,
                None => writeln!(
                    self.out,
                    "{},{:.6},,,",
                    self.next_ms, latent.trend_bps_per_min
                )?,
            }
            self.next_ms += ROW_MS;
        }
        Ok(())
    }

    /// Flushes the file.
    pub(crate) fn finish(mut self) -> Result<()> {
        self.out.flush().context("writing the latent state")
    }
}

/// A day's latent state, read back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LatentTrack {
    rows: Vec<(u64, Latent)>,
}

impl LatentTrack {
    /// The latent state beside the day in `dir`, or `None` when the day has none (recorded, or
    /// simulated without an edge).
    pub(crate) fn load(dir: &Path) -> Result<Option<LatentTrack>> {
        let path = dir.join(LATENT_FILE);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error).with_context(|| format!("opening {}", path.display())),
        };
        let mut rows = Vec::new();
        for (index, line) in BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("reading {}", path.display()))?;
            if index == 0 {
                if line != HEADER {
                    bail!("{}: header {line:?}, expected {HEADER:?}", path.display());
                }
                continue;
            }
            let row = parse_row(&line)
                .with_context(|| format!("{} line {}: {line:?}", path.display(), index + 1))?;
            if rows.last().is_some_and(|&(last, _)| row.0 <= last) {
                bail!("{} line {}: time goes backwards", path.display(), index + 1);
            }
            rows.push(row);
        }
        Ok(Some(LatentTrack { rows }))
    }

    /// The state last recorded at or before `t_ms`.
    fn at(&self, t_ms: u64) -> Option<&Latent> {
        let after = self.rows.partition_point(|&(row_ms, _)| row_ms <= t_ms);
        after.checked_sub(1).map(|index| &self.rows[index].1)
    }

    /// The move of the fair price an informed trader expects over `horizon_ms` after `t_ms`,
    /// bps, in favour of `side`: the trend's drift held for the horizon (its signal reverts over
    /// minutes, so this slightly overstates long horizons), plus a step announced to come
    /// within it, with its sign.
    pub(crate) fn expected_move_bps(&self, t_ms: u64, horizon_ms: u64, side: Side) -> f64 {
        let Some(latent) = self.at(t_ms) else {
            return 0.0;
        };
        let up = latent.trend_bps_per_min * horizon_ms as f64 / 60_000.0
            + latent.step.map_or(0.0, |step| {
                let due = step.at_ms > t_ms && step.at_ms <= t_ms + horizon_ms;
                match (due, step.side) {
                    (false, _) => 0.0,
                    (true, Side::Buy) => step.bps,
                    (true, Side::Sell) => -step.bps,
                }
            });
        match side {
            Side::Buy => up,
            Side::Sell => -up,
        }
    }
}

fn parse_row(line: &str) -> Result<(u64, Latent)> {
    let fields: Vec<&str> = line.split(',').collect();
    let [t_ms, trend, side, at_ms, bps] = fields[..] else {
        bail!("{} fields, expected 5", fields.len());
    };
    let step = match side {
        "" => None,
        side => Some(PlannedStep {
            side: match side {
                "Buy" => Side::Buy,
                "Sell" => Side::Sell,
                other => bail!("step_side {other:?} is neither Buy nor Sell"),
            },
            at_ms: at_ms.parse().context("step_at_ms")?,
            bps: bps.parse().context("step_bps")?,
        }),
    };
    Ok((
        t_ms.parse().context("t_ms")?,
        Latent {
            trend_bps_per_min: trend.parse().context("trend_bps_per_min")?,
            step,
        },
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_track_reads_back_what_was_written_and_expects_the_announced_step() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = LatentWriter::create(dir.path(), 10_000).unwrap();
        let quiet = Latent {
            trend_bps_per_min: 1.5,
            step: None,
        };
        let accumulating = Latent {
            trend_bps_per_min: -0.5,
            step: Some(PlannedStep {
                side: Side::Sell,
                at_ms: 13_500,
                bps: 15.0,
            }),
        };
        writer.record(11_400, &quiet).unwrap(); // rows at 10 000 and 11 000
        writer.record(12_000, &accumulating).unwrap(); // the row at 12 000
        writer.finish().unwrap();
        let track = LatentTrack::load(dir.path()).unwrap().unwrap();
        assert_eq!(track.rows.len(), 3);
        assert_eq!(track.at(11_999), Some(&quiet));
        assert_eq!(track.at(12_000), Some(&accumulating));
        assert_eq!(track.at(9_999), None);
        // Before any row nothing is known; with the trend alone, drift x horizon.
        assert_eq!(track.expected_move_bps(9_000, 60_000, Side::Buy), 0.0);
        assert_eq!(track.expected_move_bps(10_500, 60_000, Side::Buy), 1.5);
        assert_eq!(track.expected_move_bps(10_500, 30_000, Side::Sell), -0.75);
        // A step down due within the horizon: a sell expects it, a buy fears it.
        assert_eq!(track.expected_move_bps(12_500, 60_000, Side::Sell), 15.5);
        assert_eq!(track.expected_move_bps(12_500, 60_000, Side::Buy), -15.5);
        // Not yet within the horizon, or already past: the trend only.
        assert_eq!(
            track.expected_move_bps(12_500, 500, Side::Sell),
            0.5 * 500.0 / 60_000.0
        );
        assert_eq!(track.expected_move_bps(13_600, 60_000, Side::Sell), 0.5);
    }

    #[test]
    fn a_day_without_a_track_has_none_and_a_bad_row_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(LatentTrack::load(dir.path()).unwrap(), None);
        std::fs::write(
            dir.path().join(LATENT_FILE),
            format!("{HEADER}\n1000,0.1,Up,2000,3\n"),
        )
        .unwrap();
        let error = format!("{:#}", LatentTrack::load(dir.path()).unwrap_err());
        assert!(
            error.ends_with(
                r#"latent.csv line 2: "1000,0.1,Up,2000,3": step_side "Up" is neither Buy nor Sell"#
            ),
            "{error}"
        );
    }
}
