//! The report's charts, drawn with plotters' SVG backend (inline SVG, no fonts fetched).

use plotters::prelude::*;

use crate::figures::ArmResult;
use crate::run::ScenarioResult;

const W: u32 = 560;
const H: u32 = 300;

fn color(arm: &str) -> RGBColor {
    match arm {
        "naive" => RGBColor(214, 39, 40),
        "seed" => RGBColor(255, 127, 14),
        _ => RGBColor(31, 119, 180),
    }
}

type R = Result<(), Box<dyn std::error::Error>>;

fn fault_window(s: &ScenarioResult) -> (f64, f64) {
    let a = s.steady_ms as f64 / 1000.0;
    (a, a + s.fault_ms as f64 / 1000.0)
}

fn total_s(s: &ScenarioResult) -> f64 {
    (s.steady_ms + s.fault_ms + s.recovery_ms) as f64 / 1000.0
}

fn svg(draw: impl FnOnce(&mut String) -> R) -> String {
    let mut out = String::new();
    if let Err(e) = draw(&mut out) {
        return format!("<p>chart failed: {e}</p>");
    }
    out
}

/// Success rate per 250 ms of intended start, one line per arm; the fault window shaded.
pub fn success_over_time(s: &ScenarioResult) -> String {
    svg(|out| {
        let root = SVGBackend::with_string(out, (W, H)).into_drawing_area();
        root.fill(&WHITE)?;
        let end = total_s(s);
        let mut ch = ChartBuilder::on(&root)
            .caption(
                format!("{}: success rate over time", s.id),
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..end, 0f64..100.5)?;
        ch.configure_mesh()
            .x_desc("intended start (s)")
            .y_desc("success %")
            .draw()?;
        let (a, b) = fault_window(s);
        ch.draw_series(std::iter::once(Rectangle::new(
            [(a, 0.0), (b, 100.5)],
            RGBColor(200, 200, 200).mix(0.35).filled(),
        )))?
        .label("fault window")
        .legend(|(x, y)| {
            Rectangle::new(
                [(x, y - 5), (x + 14, y + 5)],
                RGBColor(200, 200, 200).filled(),
            )
        });
        let bin = 0.25;
        let bins = (end / bin).ceil() as usize;
        for arm in &s.arms {
            let mut ok = vec![0u32; bins];
            let mut all = vec![0u32; bins];
            for r in &arm.records {
                let i = ((r.intended_ms / 1000.0 / bin) as usize).min(bins - 1);
                all[i] += 1;
                ok[i] += (r.outcome == "ok") as u32;
            }
            let pts: Vec<(f64, f64)> = (0..bins)
                .filter(|&i| all[i] > 0)
                .map(|i| ((i as f64 + 0.5) * bin, 100.0 * ok[i] as f64 / all[i] as f64))
                .collect();
            let c = color(arm.arm);
            ch.draw_series(LineSeries::new(pts, c.stroke_width(2)))?
                .label(arm.arm)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2))
                });
        }
        ch.configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    })
}

fn sorted_latencies(a: &ArmResult) -> Vec<f64> {
    let mut v: Vec<f64> = a.records.iter().map(|r| r.latency_ms.max(0.01)).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Latency by percentile, x on a log 1/(1-p) axis (HDR-histogram style), one line per arm.
pub fn percentiles(s: &ScenarioResult) -> String {
    svg(|out| {
        let root = SVGBackend::with_string(out, (W, H)).into_drawing_area();
        root.fill(&WHITE)?;
        let max = s
            .arms
            .iter()
            .flat_map(|a| a.records.iter().map(|r| r.latency_ms))
            .fold(1.0, f64::max);
        let mut ch = ChartBuilder::on(&root)
            .caption(
                format!("{}: latency by percentile", s.id),
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(52)
            .build_cartesian_2d((1f64..1000f64).log_scale(), (0.1f64..max * 1.5).log_scale())?;
        ch.configure_mesh()
            .x_desc("percentile")
            .y_desc("latency (ms)")
            .x_label_formatter(&|x| format!("{:.1}%", 100.0 * (1.0 - 1.0 / x)))
            .draw()?;
        for arm in &s.arms {
            let v = sorted_latencies(arm);
            let n = v.len();
            let pts: Vec<(f64, f64)> = v
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let p = (i as f64 + 0.5) / n as f64;
                    ((1.0 / (1.0 - p)).min(1000.0), *l)
                })
                .collect();
            let c = color(arm.arm);
            ch.draw_series(LineSeries::new(pts, c.stroke_width(2)))?
                .label(arm.arm)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2))
                });
        }
        ch.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    })
}

/// Every op's latency against its intended start: dots ok, crosses errors.
pub fn latency_scatter(s: &ScenarioResult) -> String {
    svg(|out| {
        let root = SVGBackend::with_string(out, (W, H)).into_drawing_area();
        root.fill(&WHITE)?;
        let max = s
            .arms
            .iter()
            .flat_map(|a| a.records.iter().map(|r| r.latency_ms))
            .fold(1.0, f64::max);
        let end = total_s(s);
        let mut ch = ChartBuilder::on(&root)
            .caption(
                format!("{}: latency over time (• ok, × error)", s.id),
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(52)
            .build_cartesian_2d(0f64..end, (0.1f64..max * 1.5).log_scale())?;
        ch.configure_mesh()
            .x_desc("intended start (s)")
            .y_desc("latency (ms)")
            .draw()?;
        let (a, b) = fault_window(s);
        ch.draw_series(std::iter::once(Rectangle::new(
            [(a, 0.1), (b, max * 1.5)],
            RGBColor(200, 200, 200).mix(0.35).filled(),
        )))?;
        for arm in &s.arms {
            let c = color(arm.arm);
            let secs = |r: &crate::figures::Record| r.intended_ms / 1000.0;
            ch.draw_series(
                arm.records
                    .iter()
                    .filter(|r| r.outcome == "ok")
                    .map(|r| Circle::new((secs(r), r.latency_ms.max(0.1)), 2, c.mix(0.6).filled())),
            )?
            .label(arm.arm)
            .legend(move |(x, y)| Circle::new((x + 7, y), 3, c.filled()));
            ch.draw_series(
                arm.records
                    .iter()
                    .filter(|r| r.outcome != "ok")
                    .map(|r| Cross::new((secs(r), r.latency_ms.max(0.1)), 4, c.stroke_width(2))),
            )?;
        }
        ch.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    })
}

/// Breaker state per arm over time (closed / open / recovering), as steps.
pub fn breaker_timeline(s: &ScenarioResult) -> String {
    svg(|out| {
        let root = SVGBackend::with_string(out, (W, H)).into_drawing_area();
        root.fill(&WHITE)?;
        let end = total_s(s);
        let mut ch = ChartBuilder::on(&root)
            .caption(
                format!("{}: circuit breaker state", s.id),
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..end, -0.3f64..2.3)?;
        ch.configure_mesh()
            .x_desc("time (s)")
            .y_labels(3)
            .y_label_formatter(&|y| match y.round() as i32 {
                0 => "closed".into(),
                1 => "open".into(),
                2 => "recovering".into(),
                _ => String::new(),
            })
            .draw()?;
        let (a, b) = fault_window(s);
        ch.draw_series(std::iter::once(Rectangle::new(
            [(a, -0.3), (b, 2.3)],
            RGBColor(200, 200, 200).mix(0.35).filled(),
        )))?;
        for (k, arm) in s.arms.iter().enumerate() {
            let off = (k as f64 - 1.0) * 0.06;
            let mut pts = Vec::new();
            let mut last = 0.0;
            for &(t, g) in &arm.breaker {
                let t = (t / 1000.0).min(end);
                pts.push((t, last + off));
                last = g as f64;
                pts.push((t, last + off));
            }
            pts.push((end, last + off));
            let c = color(arm.arm);
            ch.draw_series(LineSeries::new(pts, c.stroke_width(2)))?
                .label(arm.arm)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2))
                });
        }
        ch.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    })
}
