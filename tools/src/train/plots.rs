//! The PNG charts of a training run: the validation precision-recall curve and the score
//! histogram by class. Text is drawn with DejaVu Sans from Debian's fonts-dejavu-core (the
//! README commands install it).

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;
use plotters::style::FontStyle;

/// Where Debian keeps the font.
const FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const FONT: &str = "sans-serif";
const SIZE: (u32, u32) = (800, 600);

/// Registers the font once per process.
fn font() -> Result<()> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let bytes = std::fs::read(FONT_PATH)
                .map_err(|err| format!("{FONT_PATH}: {err} (install fonts-dejavu-core)"))?;
            // The font lives as long as the process: plotters keeps a reference to it.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font(FONT, FontStyle::Normal, bytes)
                .map_err(|_| format!("{FONT_PATH} is not a usable font"))
        })
        .clone()
        .map_err(|message| anyhow!(message))
}

/// Draws `curve` (threshold, precision, recall) with the positive rate as the baseline and the
/// operating point at tau_entry.
pub(crate) fn pr_curve(
    path: &Path,
    curve: &[(f64, f64, f64)],
    positive_rate: f64,
    entry: (f64, f64),
    pr_auc: f64,
) -> Result<()> {
    font()?;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Precision-recall, validation fold (PR-AUC {pr_auc:.3})"),
            (FONT, 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .x_desc("recall")
        .y_desc("precision")
        .label_style((FONT, 14))
        .draw()
        .map_err(draw_error)?;
    chart
        .draw_series(LineSeries::new(
            curve
                .iter()
                .map(|&(_, precision, recall)| (recall, precision)),
            BLUE.stroke_width(2),
        ))
        .map_err(draw_error)?
        .label("model")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(
            [(0.0, positive_rate), (1.0, positive_rate)],
            BLACK.stroke_width(1),
        ))
        .map_err(draw_error)?
        .label(format!("positive rate {positive_rate:.3}"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    chart
        .draw_series([Circle::new((entry.1, entry.0), 6, RED.filled())])
        .map_err(draw_error)?
        .label("tau_entry")
        .legend(|(x, y)| Circle::new((x + 10, y), 5, RED.filled()));
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(draw_error)?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Draws the histogram of scores, positives and negatives apart, with both thresholds marked.
pub(crate) fn score_histogram(
    path: &Path,
    scores: &[f64],
    labels: &[bool],
    tau_entry: f64,
    tau_hold: f64,
) -> Result<()> {
    font()?;
    const BINS: usize = 50;
    let mut counts = [[0_u32; BINS]; 2];
    for (&score, &label) in scores.iter().zip(labels) {
        let bin = ((score * BINS as f64) as usize).min(BINS - 1);
        counts[usize::from(label)][bin] += 1;
    }
    let top = counts.iter().flatten().copied().max().unwrap_or(1).max(1);
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Scores, validation fold", (FONT, 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..1.0, 0..top + top / 10 + 1)
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .x_desc("score")
        .y_desc("candidates")
        .label_style((FONT, 14))
        .draw()
        .map_err(draw_error)?;
    for (class, color, name) in [(0, RED, "label 0"), (1, BLUE, "label 1")] {
        let style = color.mix(0.45).filled();
        chart
            .draw_series(counts[class].iter().enumerate().map(|(bin, &count)| {
                let left = bin as f64 / BINS as f64;
                Rectangle::new([(left, 0), (left + 1.0 / BINS as f64, count)], style)
            }))
            .map_err(draw_error)?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], style));
    }
    for (tau, name) in [(tau_entry, "tau_entry"), (tau_hold, "tau_hold")] {
        chart
            .draw_series(LineSeries::new(
                [(tau, 0), (tau, top)],
                BLACK.stroke_width(2),
            ))
            .map_err(draw_error)?
            .label(format!("{name} {tau:.3}"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(draw_error)?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn draw_error(err: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing a chart: {err}")
}
