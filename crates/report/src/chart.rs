//! Tile charts as inline SVG, drawn server-side with `plotters` (no JavaScript, no network):
//! horizontal bars for rankings, lines and areas over time (a series per second label column),
//! pies for shares, and a point map (longitude × latitude) for geolocation. Every bar, point,
//! wedge and circle carries its value in an SVG `<title>` (shown on hover, no script needed).

use plotters::prelude::*;
use serde_json::Value;

use crate::{Chart, TileResult};

const W: u32 = 640;
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];
/// Rows drawn in a bar or pie chart (the table under it has them all).
const MAX_BARS: usize = 20;

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "(none)".to_string(),
        other => other.to_string(),
    }
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// Index of the measure: a numeric column named like a total, else the last numeric one.
fn measure(t: &TileResult) -> Option<usize> {
    let numeric = |c: usize| t.rows.iter().any(|r| num(&r[c]).is_some());
    ["total", "events", "errors", "logins", "users"]
        .iter()
        .find_map(|name| {
            t.columns
                .iter()
                .position(|c| c == name)
                .filter(|&c| numeric(c))
        })
        .or_else(|| (0..t.columns.len()).rev().find(|&c| numeric(c)))
}

/// The tile's chart as an SVG document, or `None` for tables and empty tiles.
pub fn svg(t: &TileResult) -> Option<String> {
    if t.rows.is_empty() {
        return None;
    }
    let mut out = String::new();
    let mut hover = Hover::default();
    let drawn = match t.chart {
        Chart::Bar => bars(t, &mut out, &mut hover),
        Chart::Line => lines(t, &mut out, false, &mut hover),
        Chart::Area => lines(t, &mut out, true, &mut hover),
        Chart::Pie => pie(t, &mut out, &mut hover),
        Chart::Map => map(t, &mut out, &mut hover),
        // A heat map is a shaded table, drawn by the page ([`crate::pivot`]).
        Chart::Table | Chart::Heatmap | Chart::Text => return None,
    };
    drawn.ok().flatten()?;
    // The hover shapes go last, on top of what they describe.
    let end = out.rfind("</svg>")?;
    out.insert_str(end, &hover.0);
    Some(out)
}

type Drawn = Result<Option<()>, Box<dyn std::error::Error>>;

/// Transparent shapes over the chart's elements, each with its value as an SVG `<title>`.
#[derive(Default)]
struct Hover(String);

impl Hover {
    fn title(text: &str) -> String {
        format!("<title>{}</title>", crate::html::escape(text))
    }

    fn rect(&mut self, (x0, y0): (i32, i32), (x1, y1): (i32, i32), text: &str) {
        use std::fmt::Write as _;
        let _ = write!(
            self.0,
            "<rect class=\"hover\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#000\" fill-opacity=\"0\">{}</rect>",
            x0.min(x1),
            y0.min(y1),
            (x1 - x0).abs().max(1),
            (y1 - y0).abs().max(1),
            Self::title(text)
        );
    }

    fn circle(&mut self, (x, y): (i32, i32), r: i32, text: &str) {
        use std::fmt::Write as _;
        let _ = write!(
            self.0,
            "<circle class=\"hover\" cx=\"{x}\" cy=\"{y}\" r=\"{r}\" fill=\"#000\" fill-opacity=\"0\">{}</circle>",
            Self::title(text)
        );
    }

    fn path(&mut self, points: &[(f64, f64)], text: &str) {
        use std::fmt::Write as _;
        let d: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", x, y))
            .collect();
        let _ = write!(
            self.0,
            "<path class=\"hover\" d=\"M{}Z\" fill=\"#000\" fill-opacity=\"0\">{}</path>",
            d.join(" L"),
            Self::title(text)
        );
    }
}

/// Land: Natural Earth's 1:110m country outlines (public domain; `data/README.md`), one ring
/// of (longitude, latitude) points each.
static LAND: std::sync::LazyLock<Vec<Vec<(f64, f64)>>> = std::sync::LazyLock::new(|| {
    include_str!("../data/land-110m.txt")
        .lines()
        .map(|line| {
            line.split(' ')
                .filter_map(|p| {
                    let (x, y) = p.split_once(',')?;
                    Some((x.parse().ok()?, y.parse().ok()?))
                })
                .collect()
        })
        .collect()
});

/// A measure as people write it: whole numbers without a fraction.
fn shown(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

fn bars(t: &TileResult, out: &mut String, hover: &mut Hover) -> Drawn {
    let Some(m) = measure(t) else { return Ok(None) };
    // The label: the first text column (a day's name rather than its number), else the first.
    let label = (0..m)
        .find(|&c| t.rows.iter().all(|r| r[c].is_string() || r[c].is_null()))
        .unwrap_or(0);
    let rows: Vec<(String, f64)> = t
        .rows
        .iter()
        .take(MAX_BARS)
        .map(|r| (text(&r[label]), num(&r[m]).unwrap_or(0.0)))
        .collect();
    let n = rows.len();
    let max = rows.iter().map(|r| r.1).fold(0.0, f64::max).max(1.0);
    let h = (50 + 22 * n as u32).max(120);
    let label_w = rows
        .iter()
        .map(|r| r.0.chars().count().min(40))
        .max()
        .unwrap_or(4) as u32
        * 7
        + 10;
    {
        let root = SVGBackend::with_string(out, (W, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(label_w)
            .build_cartesian_2d(0f64..max * 1.08, 0f64..n as f64)?;
        let labels: Vec<String> = rows
            .iter()
            .map(|r| r.0.chars().take(40).collect())
            .collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n * 2 + 1)
            .y_label_formatter(&|y| {
                let i = (n as f64 - y - 0.5).round();
                if (n as f64 - y - 0.5 - i).abs() < 0.01 && i >= 0.0 && (i as usize) < n {
                    labels[i as usize].clone()
                } else {
                    String::new()
                }
            })
            .x_desc(t.columns[m].as_str())
            .draw()?;
        chart.draw_series(rows.iter().enumerate().map(|(i, (_, v))| {
            let top = n as f64 - i as f64;
            Rectangle::new([(0.0, top - 0.85), (*v, top - 0.15)], PALETTE[0].filled())
        }))?;
        // The whole row is the hover target, so a short bar is as easy to point at.
        for (i, (label, v)) in rows.iter().enumerate() {
            let top = n as f64 - i as f64;
            hover.rect(
                chart.backend_coord(&(0.0, top - 0.15)),
                chart.backend_coord(&(max * 1.08, top - 0.85)),
                &format!("{label}: {} {}", shown(*v), t.columns[m]),
            );
        }
        root.present()?;
    }
    Ok(Some(()))
}

fn lines(t: &TileResult, out: &mut String, area: bool, hover: &mut Hover) -> Drawn {
    // The last count column (percentages are in the table, not on the same axis).
    let Some(m) = (0..t.columns.len())
        .rev()
        .find(|&c| !t.columns[c].ends_with("_pct") && t.rows.iter().any(|r| num(&r[c]).is_some()))
    else {
        return Ok(None);
    };
    // x: the first column; series: a second text column if there is one before the measure.
    let series_col = (1..m).find(|&c| t.rows.iter().all(|r| r[c].is_string() || r[c].is_null()));
    let mut xs: Vec<String> = t.rows.iter().map(|r| text(&r[0])).collect();
    xs.dedup();
    xs.sort();
    xs.dedup();
    let mut series: Vec<(String, Vec<(usize, f64)>)> = Vec::new();
    for r in &t.rows {
        let name = series_col.map_or_else(|| t.columns[m].clone(), |c| text(&r[c]));
        let x = xs.binary_search(&text(&r[0])).unwrap_or(0);
        let y = num(&r[m]).unwrap_or(0.0);
        match series.iter_mut().find(|s| s.0 == name) {
            Some(s) => s.1.push((x, y)),
            None => series.push((name, vec![(x, y)])),
        }
    }
    // Without a series column, every numeric column before the measure is a series too
    // (events / errors over time).
    if series_col.is_none() {
        for c in 1..m {
            if t.rows.iter().all(|r| num(&r[c]).is_some()) {
                let pts = t
                    .rows
                    .iter()
                    .map(|r| {
                        (
                            xs.binary_search(&text(&r[0])).unwrap_or(0),
                            num(&r[c]).unwrap_or(0.0),
                        )
                    })
                    .collect();
                series.insert(series.len() - 1, (t.columns[c].clone(), pts));
            }
        }
    }
    let max = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.1))
        .fold(0.0, f64::max)
        .max(1.0);
    let n = xs.len().max(2);
    {
        let root = SVGBackend::with_string(out, (W, 300)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..(n - 1) as f64, 0f64..max * 1.08)?;
        let every = (xs.len() / 8).max(1);
        chart
            .configure_mesh()
            .x_labels(xs.len().min(10))
            .x_label_formatter(&|x| {
                let i = x.round() as usize;
                if (x - x.round()).abs() < 0.01 && i < xs.len() && i.is_multiple_of(every) {
                    xs[i].clone()
                } else {
                    String::new()
                }
            })
            .draw()?;
        for (name, pts) in series.iter().take(PALETTE.len()) {
            for &(x, y) in pts {
                hover.circle(
                    chart.backend_coord(&(x as f64, y)),
                    5,
                    &format!("{name}, {}: {}", xs[x], shown(y)),
                );
            }
        }
        for (k, (name, pts)) in series.iter().enumerate().take(PALETTE.len()) {
            let color = PALETTE[k];
            let pts: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| (x as f64, y)).collect();
            if area {
                chart
                    .draw_series(AreaSeries::new(pts, 0.0, color.mix(0.25)).border_style(color))?
                    .label(name.as_str())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 4), (x + 12, y + 4)], color.filled())
                    });
            } else {
                chart
                    .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
                    .label(name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], color));
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        root.present()?;
    }
    Ok(Some(()))
}

fn pie(t: &TileResult, out: &mut String, hover: &mut Hover) -> Drawn {
    let Some(m) = measure(t) else { return Ok(None) };
    let mut sizes: Vec<f64> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    for (i, r) in t.rows.iter().enumerate() {
        let v = num(&r[m]).unwrap_or(0.0);
        if i < PALETTE.len() - 1 {
            sizes.push(v);
            labels.push(text(&r[0]));
        } else if i == PALETTE.len() - 1 {
            sizes.push(v);
            labels.push("other".to_string());
        } else {
            *sizes.last_mut().expect("an other slice") += v;
        }
    }
    if sizes.iter().sum::<f64>() <= 0.0 {
        return Ok(None);
    }
    {
        let root = SVGBackend::with_string(out, (W, 320)).into_drawing_area();
        root.fill(&WHITE)?;
        let center = (W as i32 / 2, 160);
        let radius = 110.0;
        let colors = &PALETTE[..sizes.len()];
        let mut pie = Pie::new(&center, &radius, &sizes, colors, &labels);
        // Wedges from 3 o'clock, clockwise (y grows downwards): the hover wedges follow.
        pie.start_angle(0.0);
        let total: f64 = sizes.iter().sum();
        let mut from = 0.0f64;
        for (size, label) in sizes.iter().zip(&labels) {
            let to = from + size / total * std::f64::consts::TAU;
            let mut points = vec![(center.0 as f64, center.1 as f64)];
            let steps = ((to - from) / 0.05).ceil().max(1.0) as usize;
            for k in 0..=steps {
                let a = from + (to - from) * k as f64 / steps as f64;
                points.push((
                    center.0 as f64 + radius * a.cos(),
                    center.1 as f64 + radius * a.sin(),
                ));
            }
            let pct = 100.0 * size / total;
            hover.path(
                &points,
                &format!("{label}: {} {} ({pct:.1}%)", shown(*size), t.columns[m]),
            );
            from = to;
        }
        pie.label_style(("sans-serif", 13).into_font().color(&BLACK));
        pie.label_offset(12.0);
        root.draw(&pie)?;
        root.present()?;
    }
    Ok(Some(()))
}

fn map(t: &TileResult, out: &mut String, hover: &mut Hover) -> Drawn {
    let col = |name: &str| t.columns.iter().position(|c| c == name);
    let (Some(lat), Some(lon)) = (col("latitude"), col("longitude")) else {
        return Ok(None);
    };
    let m = measure(t).unwrap_or(lon);
    let city = col("city");
    let points: Vec<(f64, f64, f64, String)> = t
        .rows
        .iter()
        .filter_map(|r| {
            Some((
                num(&r[lon])?,
                num(&r[lat])?,
                num(&r[m]).unwrap_or(1.0),
                city.map(|c| text(&r[c])).unwrap_or_default(),
            ))
        })
        .collect();
    if points.is_empty() {
        return Ok(None);
    }
    let max = points.iter().map(|p| p.2).fold(1.0, f64::max);
    {
        let root = SVGBackend::with_string(out, (W, W / 2 + 40)).into_drawing_area();
        root.fill(&RGBColor(0xee, 0xf4, 0xfa))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(20)
            .y_label_area_size(36)
            .build_cartesian_2d(-180f64..180f64, -90f64..90f64)?;
        chart
            .configure_mesh()
            .x_labels(13)
            .y_labels(7)
            .x_label_formatter(&|x| format!("{x:.0}°"))
            .y_label_formatter(&|y| format!("{y:.0}°"))
            .draw()?;
        chart.draw_series(
            LAND.iter()
                .map(|ring| Polygon::new(ring.clone(), RGBColor(0xdc, 0xe3, 0xea).filled())),
        )?;

        // A circle's area grows with its logins.
        let radius = |v: f64| (3.0 + 12.0 * (v / max).sqrt()) as i32;
        chart.draw_series(
            points.iter().map(|(x, y, v, _)| {
                Circle::new((*x, *y), radius(*v), PALETTE[3].mix(0.6).filled())
            }),
        )?;
        for (x, y, v, name) in &points {
            let place = if name.is_empty() {
                "(unknown place)"
            } else {
                name
            };
            hover.circle(
                chart.backend_coord(&(*x, *y)),
                radius(*v).max(4),
                &format!("{place}: {} {}", shown(*v), t.columns[m]),
            );
        }
        chart.draw_series(points.iter().map(|(x, y, _, name)| {
            Text::new(
                name.clone(),
                (*x + 3.0, *y + 3.0),
                ("sans-serif", 11).into_font().color(&BLACK),
            )
        }))?;
        root.present()?;
    }
    Ok(Some(()))
}
