//! The benchmark's report: one Markdown table of every scenario for both gateways, the ratios
//! between them, the targets with what was measured, and a PNG plot of latency against the
//! number of sources.

use std::fmt::Write as _;
use std::path::Path;

use crate::harness::LoadResult;

/// One measured scenario for one gateway.
#[derive(Clone, Debug)]
pub struct Row {
    /// The scenario, e.g. "10 sources, 50 clients, cache off".
    pub scenario: String,
    pub gateway: &'static str,
    pub sources: usize,
    pub clients: usize,
    pub rate: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub upstream_per_request: f64,
    /// Gateway CPU per request, ms.
    pub cpu_per_request: f64,
    /// Share of a core the sources and load generator used (1.0 = saturated).
    pub harness_load: f64,
    pub peak_rss: Option<u64>,
    pub failed: u64,
    pub partial: u64,
    pub checked: u64,
}

impl Row {
    pub fn new(
        scenario: &str,
        gateway: &'static str,
        sources: usize,
        clients: usize,
        result: &LoadResult,
        peak_rss: Option<u64>,
    ) -> Row {
        Row {
            scenario: scenario.to_owned(),
            gateway,
            sources,
            clients,
            rate: result.rate(),
            p50: result.percentile_ms(0.50),
            p90: result.percentile_ms(0.90),
            p99: result.percentile_ms(0.99),
            upstream_per_request: if result.started == 0 {
                0.0
            } else {
                result.upstream as f64 / result.started as f64
            },
            cpu_per_request: result.cpu_ms_per_request(),
            harness_load: result.harness_cpu.as_secs_f64() / result.elapsed.as_secs_f64().max(1e-9),
            peak_rss,
            failed: result.failed,
            partial: result.partial,
            checked: result.checked,
        }
    }

    pub fn print(&self) {
        println!(
            "{:<48} {:<10} {:>9.1} req/s  p50 {:>8.2} ms  p90 {:>8.2} ms  p99 {:>8.2} ms  upstream/req {:>6.1}  cpu/req {:>6.2} ms  harness core {:>3.0}%  rss {:>6}  failed {} partial {}/{}",
            self.scenario,
            self.gateway,
            self.rate,
            self.p50,
            self.p90,
            self.p99,
            self.upstream_per_request,
            self.cpu_per_request,
            self.harness_load * 100.0,
            self.peak_rss.map_or("-".into(), mib),
            self.failed,
            self.partial,
            self.checked
        );
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / 1024.0 / 1024.0)
}

/// Time to first data and to complete, for one way of asking, one gateway and a client count.
#[derive(Clone, Debug)]
pub struct TimedRow {
    pub scenario: String,
    /// The gateway and how it was asked, e.g. "Överblick, subscription (SSE)".
    pub asked: String,
    pub clients: usize,
    pub rate: f64,
    pub first_p50: f64,
    pub first_p99: f64,
    pub complete_p50: f64,
    pub complete_p99: f64,
    pub cpu_per_overview: f64,
    /// Share of a core the sources and clients used (1.0 = saturated).
    pub harness_load: f64,
    pub overviews: u64,
    pub failed: u64,
    pub partial: u64,
}

impl TimedRow {
    pub fn print(&self) {
        println!(
            "{:<48} {:<34} {:>2} clients {:>7.1}/s  first data p50 {:>8.1} ms p99 {:>8.1} ms  complete p50 {:>8.1} ms p99 {:>8.1} ms  cpu/overview {:>6.2} ms  harness core {:>3.0}%  failed {} partial {}/{}",
            self.scenario,
            self.asked,
            self.clients,
            self.rate,
            self.first_p50,
            self.first_p99,
            self.complete_p50,
            self.complete_p99,
            self.cpu_per_overview,
            self.harness_load * 100.0,
            self.failed,
            self.partial,
            self.overviews
        );
    }
}

/// The whole run.
pub struct Report {
    pub date: String,
    pub machine: String,
    pub setup: String,
    pub rows: Vec<Row>,
    /// Time to first data and to complete (the live overview against the query).
    pub timed: Vec<TimedRow>,
    /// Targets and findings, one Markdown line each.
    pub findings: Vec<String>,
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "Run on {}, {}.", self.date, self.machine);
        let _ = writeln!(md);
        let _ = writeln!(md, "{}", self.setup);
        let _ = writeln!(md);
        let _ = writeln!(
            md,
            "| scenario | gateway | req/s | p50 ms | p90 ms | p99 ms | upstream calls / request | gateway CPU / request | peak RSS | failed / partial |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in &self.rows {
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} ms | {} | {} / {} |",
                r.scenario,
                r.gateway,
                r.rate,
                r.p50,
                r.p90,
                r.p99,
                r.upstream_per_request,
                r.cpu_per_request,
                r.peak_rss.map_or("-".into(), mib),
                r.failed,
                r.partial
            );
        }
        let ratios: Vec<String> = self
            .rows
            .iter()
            .filter(|r| r.gateway == "Överblick")
            .filter_map(|o| {
                let p = self
                    .rows
                    .iter()
                    .find(|p| p.gateway != "Överblick" && p.scenario == o.scenario)?;
                Some(format!(
                    "| {} | {:.1}× | {:.1}× | {:.1}× |",
                    o.scenario,
                    o.rate / p.rate.max(f64::MIN_POSITIVE),
                    p.p50 / o.p50.max(f64::MIN_POSITIVE),
                    p.p99 / o.p99.max(f64::MIN_POSITIVE)
                ))
            })
            .collect();
        if !ratios.is_empty() {
            let _ = writeln!(md);
            let _ = writeln!(
                md,
                "Ratios, measured in this run (higher is better for Överblick): req/s of Överblick ÷ the peer's; p50 and p99 of the peer ÷ Överblick's."
            );
            let _ = writeln!(md);
            let _ = writeln!(md, "| scenario | req/s | p50 | p99 |");
            let _ = writeln!(md, "|---|---:|---:|---:|");
            for line in ratios {
                let _ = writeln!(md, "{line}");
            }
        }
        if !self.timed.is_empty() {
            let _ = writeln!(md);
            let _ = writeln!(
                md,
                "Time to first data and to complete: from sending the request to the first answer or event holding any medication, and to the answer or event after which no source is still working. Cache off; ten sources, one of them answering after 2 s (every source's time limit 3 s, so it completes)."
            );
            let _ = writeln!(md);
            let _ = writeln!(
                md,
                "| scenario | asked as | clients | overviews/s | first data p50 ms | first data p99 ms | complete p50 ms | complete p99 ms | gateway CPU / overview | failed / partial |"
            );
            let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
            for r in &self.timed {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} ms | {} / {} |",
                    r.scenario,
                    r.asked,
                    r.clients,
                    r.rate,
                    r.first_p50,
                    r.first_p99,
                    r.complete_p50,
                    r.complete_p99,
                    r.cpu_per_overview,
                    r.failed,
                    r.partial
                );
            }
        }
        if !self.findings.is_empty() {
            let _ = writeln!(md);
            for f in &self.findings {
                let _ = writeln!(md, "- {f}");
            }
        }
        md
    }

    /// Writes `overview.md` and `overview-latency.png` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("overview.md"), self.markdown())?;
        if let Err(e) = self.plot(&dir.join("overview-latency.png")) {
            eprintln!("note: no plot written: {e}");
        }
        Ok(())
    }

    /// Latency (p50 and p99, log scale) against the number of sources, cache off, per gateway
    /// and client count.
    pub fn plot(&self, path: &Path) -> Result<(), String> {
        use plotters::prelude::*;
        register_font()?;
        // (legend, points, colour, one client?)
        type Series = (String, Vec<(f64, f64)>, RGBColor, bool);
        let series: Vec<Series> = {
            let mut out = Vec::new();
            let gateways: Vec<&'static str> = {
                let mut g: Vec<&'static str> = self.rows.iter().map(|r| r.gateway).collect();
                g.dedup();
                g.sort();
                g.dedup();
                g
            };
            for gateway in gateways {
                for clients in [1usize, 50] {
                    let points: Vec<(f64, f64)> = self
                        .rows
                        .iter()
                        .filter(|r| {
                            r.gateway == gateway
                                && r.clients == clients
                                && r.scenario.ends_with("cache off")
                        })
                        .map(|r| (r.sources as f64, r.p50))
                        .collect();
                    if points.is_empty() {
                        continue;
                    }
                    let colour = if gateway == "Överblick" {
                        RGBColor(0, 102, 204)
                    } else {
                        RGBColor(204, 85, 0)
                    };
                    out.push((
                        format!(
                            "{gateway}, {clients} client{}",
                            if clients == 1 { "" } else { "s" }
                        ),
                        points,
                        colour,
                        clients == 1,
                    ));
                }
            }
            out
        };
        if series.is_empty() {
            return Err("nothing to plot".into());
        }
        let max_y = series
            .iter()
            .flat_map(|(_, p, _, _)| p.iter().map(|(_, y)| *y))
            .fold(1.0f64, f64::max)
            * 1.5;
        let root = BitMapBackend::new(path, (960, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "p50 latency of one merged medication list vs number of sources (20 ms, 20 items each)",
                ("sans-serif", 18),
            )
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d((1f64..250f64).log_scale(), (10f64..max_y).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("sources")
            .y_desc("p50 ms (log)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(|e| e.to_string())?;
        for (name, points, colour, solid) in series {
            let style = if solid {
                colour.stroke_width(3)
            } else {
                colour.mix(0.6).stroke_width(2)
            };
            chart
                .draw_series(LineSeries::new(points.clone(), style))
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 4, colour.filled())))
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    }
}

/// Plot text needs a font file; Debian's DejaVu is on these machines (fonts-dejavu-core).
fn register_font() -> Result<(), String> {
    const CANDIDATES: [&str; 2] = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    ];
    let bytes = CANDIDATES
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .ok_or("no DejaVuSans.ttf found (Debian package fonts-dejavu-core)")?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes)
        .map_err(|_| "DejaVuSans.ttf is not a usable font".to_owned())
}

/// Replaces the text between `<!-- bench:overview -->` and `<!-- /bench:overview -->` in the
/// README with `content`.
pub fn update_readme(readme: &Path, content: &str) -> std::io::Result<bool> {
    const START: &str = "<!-- bench:overview -->";
    const END: &str = "<!-- /bench:overview -->";
    let text = std::fs::read_to_string(readme)?;
    let (Some(a), Some(b)) = (text.find(START), text.find(END)) else {
        return Ok(false);
    };
    if b < a {
        return Ok(false);
    }
    let updated = format!("{}{START}\n{content}{}", &text[..a], &text[b..]);
    std::fs::write(readme, updated)?;
    Ok(true)
}
