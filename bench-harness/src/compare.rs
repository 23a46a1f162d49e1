//! `compare`: runs side by side (throughput and latency percentiles, with ratios to the first)
//! and their latency percentile curves in HdrHistogram's usual plot (x: 1/(1-percentile), log
//! scale), as SVG and PNG.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::runner::Summary;
use crate::stats::read_hgrm;

pub struct Run {
    pub name: String,
    pub summary: Summary,
    /// (percentile, ms) of end-to-end latency, or of produce latency when there was no consumer.
    pub curve: Vec<(f64, f64)>,
    pub curve_kind: &'static str,
}

pub fn load(dir: &Path) -> Result<Run, String> {
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f)).map_err(|e| format!("{}: {e}", dir.join(f).display()))
    };
    let summary: Summary = serde_json::from_str(&read("summary.json")?)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let (curve, curve_kind) = if summary.e2e_latency_us.count > 0 {
        (read_hgrm(&read("e2e.hgrm")?), "end-to-end")
    } else {
        (read_hgrm(&read("produce.hgrm")?), "produce")
    };
    let name = dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().to_string(),
    );
    Ok(Run {
        name,
        summary,
        curve,
        curve_kind,
    })
}

pub fn table(runs: &[Run]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:>12} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}   (latency ms, end-to-end when there is a consumer)",
        "run", "records/s", "MB/s", "p50", "p90", "p99", "p99.9", "p99.99", "max"
    );
    let first = runs.first();
    for r in runs {
        let s = &r.summary;
        let l = if s.e2e_latency_us.count > 0 {
            &s.e2e_latency_us
        } else {
            &s.produce_latency_us
        };
        let ms = |v: u64| v as f64 / 1000.0;
        let _ = writeln!(
            out,
            "{:<24} {:>12.0} {:>9.1} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3}",
            r.name,
            s.produced_records_per_s,
            s.produced_mb_per_s,
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.p9999),
            ms(l.max)
        );
        if let Some(f) = first.filter(|f| !std::ptr::eq(*f, r)) {
            let fl = if f.summary.e2e_latency_us.count > 0 {
                &f.summary.e2e_latency_us
            } else {
                &f.summary.produce_latency_us
            };
            let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
            let _ = writeln!(
                out,
                "{:<24} {:>11.2}x {:>8.2}x {:>9.2}x {:>9.2}x {:>9.2}x {:>9.2}x {:>9.2}x {:>9.2}x",
                "  vs first",
                ratio(s.produced_records_per_s, f.summary.produced_records_per_s),
                ratio(s.produced_mb_per_s, f.summary.produced_mb_per_s),
                ratio(l.p50 as f64, fl.p50 as f64),
                ratio(l.p90 as f64, fl.p90 as f64),
                ratio(l.p99 as f64, fl.p99 as f64),
                ratio(l.p999 as f64, fl.p999 as f64),
                ratio(l.p9999 as f64, fl.p9999 as f64),
                ratio(l.max as f64, fl.max as f64),
            );
        }
    }
    out
}

const COLORS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// The percentile plot as SVG: x is log10(1/(1-percentile)) from 1 (p0) to 10^6 (p99.9999).
pub fn svg(runs: &[Run]) -> String {
    let (w, h, left, right, top, bottom) = (900.0, 540.0, 80.0, 30.0, 40.0, 70.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let x_of = |q: f64| (1.0 / (1.0 - q.min(0.999_999))).log10() / 6.0 * plot_w + left;
    let max_ms = runs
        .iter()
        .flat_map(|r| r.curve.iter().map(|p| p.1))
        .fold(0.001f64, f64::max)
        * 1.05;
    let y_of = |ms: f64| top + plot_h - ms / max_ms * plot_h;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="DejaVu Sans" font-size="13"><rect width="100%" height="100%" fill="white"/>"#
    );
    let kind = runs.first().map_or("latency", |r| r.curve_kind);
    let _ = write!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="16">{kind} latency by percentile</text>"#,
        w / 2.0
    );
    for (i, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"]
        .iter()
        .enumerate()
    {
        let x = left + plot_w * i as f64 / 6.0;
        let _ = write!(
            s,
            r##"<line x1="{x}" y1="{top}" x2="{x}" y2="{}" stroke="#ddd"/><text x="{x}" y="{}" text-anchor="middle">{label}</text>"##,
            top + plot_h,
            top + plot_h + 18.0
        );
    }
    for i in 0..=5 {
        let ms = max_ms * i as f64 / 5.0;
        let y = y_of(ms);
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{:.3}</text>"##,
            left + plot_w,
            left - 6.0,
            y + 4.0,
            ms
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile (log scale of 1/(1-percentile))</text>"#,
        left + plot_w / 2.0,
        h - 24.0
    );
    let _ = write!(
        s,
        r#"<text x="18" y="{}" transform="rotate(-90 18 {})" text-anchor="middle">latency (ms)</text>"#,
        top + plot_h / 2.0,
        top + plot_h / 2.0
    );
    for (i, r) in runs.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<String> = r
            .curve
            .iter()
            .map(|(q, ms)| format!("{:.2},{:.2}", x_of(*q), y_of(*ms)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        let ly = top + 16.0 + 18.0 * i as f64;
        let _ = write!(
            s,
            r#"<rect x="{}" y="{}" width="14" height="4" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
            left + 12.0,
            ly - 4.0,
            left + 32.0,
            ly,
            xml_escape(&r.name)
        );
    }
    s.push_str("</svg>");
    s
}

fn xml_escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders the SVG to PNG with the system's fonts.
pub fn png(svg: &str, path: &Path) -> Result<(), String> {
    use resvg::{tiny_skia, usvg};
    let mut opt = usvg::Options::default();
    opt.fontdb_mut().load_system_fonts();
    let tree = usvg::Tree::from_str(svg, &opt).map_err(|e| format!("svg: {e}"))?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("empty image")?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
        .save_png(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Loads the runs, prints the table, writes `<out>.svg` and `<out>.png`.
pub fn compare(dirs: &[PathBuf], out: &Path) -> Result<String, String> {
    let runs = dirs
        .iter()
        .map(|d| load(d))
        .collect::<Result<Vec<_>, _>>()?;
    let text = table(&runs);
    let plot = svg(&runs);
    let svg_path = out.with_extension("svg");
    std::fs::write(&svg_path, &plot).map_err(|e| format!("{}: {e}", svg_path.display()))?;
    png(&plot, &out.with_extension("png"))?;
    Ok(text)
}
