//! Trend charts as SVG, drawn by plotters' SVG backend. Its text is written as SVG `<text>`
//! elements that the browser lays out, so no font files (and no font-kit) are needed.

use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::{RangedCoordf64, RangedCoordi32};
use plotters::prelude::*;

use super::{Trend, Unit};

pub const WIDTH: u32 = 540;
pub const HEIGHT: u32 = 250;

const LINE: RGBColor = RGBColor(9, 105, 218);
pub const MET: RGBColor = RGBColor(26, 127, 55);
pub const MISSED: RGBColor = RGBColor(207, 34, 46);
const UNJUDGED: RGBColor = RGBColor(110, 119, 129);
const GRID: RGBColor = RGBColor(234, 238, 242);
const AXIS: RGBColor = RGBColor(87, 96, 106);

/// How durations are shown on an axis: the largest unit the values fill.
fn duration_scale(max_seconds: f64) -> (f64, &'static str) {
    if max_seconds < 2.0 * 3600.0 {
        (60.0, "minutes")
    } else if max_seconds < 3.0 * 86_400.0 {
        (3600.0, "hours")
    } else {
        (86_400.0, "days")
    }
}

/// One trend as an `<svg>` element, with a `<title>` naming it for screen readers.
pub fn svg(trend: &Trend, ticks: &[String]) -> Result<String, String> {
    let n = trend.values.len().max(1);
    let max = trend.values.iter().flatten().copied().filter(|v| v.is_finite()).fold(0.0, f64::max);
    let (scale, unit) = match trend.unit {
        Unit::PerWeek => (1.0, "per week"),
        Unit::Percent => (1.0, "%"),
        Unit::Seconds => duration_scale(max),
    };
    let top = if max > 0.0 { max / scale * 1.15 } else { 1.0 };
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(trend.title, ("sans-serif", 16).into_font().color(&BLACK))
            .margin(10)
            .x_label_area_size(26)
            .y_label_area_size(52)
            .build_cartesian_2d((0..n as i32 - 1).into_segmented(), 0f64..top)
            .map_err(|e| e.to_string())?;
        let tick = |x: &SegmentValue<i32>| match x {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                usize::try_from(*i).ok().and_then(|i| ticks.get(i)).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        };
        // Small ranges need a decimal, or neighbouring ticks would read the same.
        let label = |v: &f64| {
            let digits = if top < 5.0 { 1 } else { 0 };
            match trend.unit {
                Unit::Percent => format!("{v:.digits$}%"),
                _ => format!("{v:.digits$}"),
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .bold_line_style(GRID)
            .light_line_style(WHITE)
            .axis_style(AXIS)
            .x_labels(n)
            .y_labels(5)
            .x_label_formatter(&tick)
            .y_label_formatter(&label)
            .y_desc(unit)
            .label_style(("sans-serif", 12).into_font().color(&AXIS))
            .axis_desc_style(("sans-serif", 11).into_font().color(&AXIS))
            .draw()
            .map_err(|e| e.to_string())?;
        let at = |i: usize, v: f64| (SegmentValue::CenterOf(i as i32), v / scale);
        // A period without data breaks the line rather than being drawn as zero.
        let mut run = Vec::new();
        for (i, v) in trend.values.iter().enumerate() {
            match v {
                Some(v) => run.push(at(i, *v)),
                None => draw_line(&mut chart, std::mem::take(&mut run))?,
            }
        }
        draw_line(&mut chart, run)?;
        let points = trend.values.iter().zip(&trend.met).enumerate().filter_map(|(i, (v, met))| {
            let colour = match met {
                Some(true) => MET,
                Some(false) => MISSED,
                None => UNJUDGED,
            };
            v.map(|v| Circle::new(at(i, v), 4, colour.filled()))
        });
        chart.draw_series(points).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    let title = format!("<title>{}</title>", super::html::escape(trend.title));
    Ok(match out.find('>') {
        Some(end) => format!("{}{title}{}", &out[..=end], &out[end + 1..]),
        None => out,
    })
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<SegmentedCoord<RangedCoordi32>, RangedCoordf64>>;

fn draw_line(chart: &mut Chart<'_, '_>, run: Vec<(SegmentValue<i32>, f64)>) -> Result<(), String> {
    if run.len() < 2 {
        return Ok(());
    }
    chart.draw_series(LineSeries::new(run, LINE.stroke_width(2))).map(|_| ()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trend(values: Vec<Option<f64>>, met: Vec<Option<bool>>, unit: Unit) -> Trend {
        Trend { key: "change_failure_rate", title: "Change <failure> rate", unit, values, met }
    }

    fn texts(svg: &str) -> Vec<&str> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| t.split_once('>').and_then(|(_, rest)| rest.split_once('<')))
            .map(|(text, _)| text.trim())
            .collect()
    }

    #[test]
    fn a_trend_is_points_coloured_by_target_and_lines_broken_where_data_is_missing() {
        let t = trend(
            vec![Some(1.0), None, Some(2.0), Some(2.5)],
            vec![Some(true), None, Some(false), None],
            Unit::Percent,
        );
        let ticks: Vec<String> = ["w1", "w2", "w3", "w4"].map(String::from).to_vec();
        let svg = svg(&t, &ticks).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<title>Change &lt;failure&gt; rate</title>"));
        assert_eq!(svg.matches("<circle").count(), 3, "one point per period with data");
        assert_eq!(svg.matches("stroke=\"#0969DA\"").count(), 1, "one line: the lone first point has none");
        assert_eq!(svg.matches("fill=\"#1A7F37\"").count(), 1, "met");
        assert_eq!(svg.matches("fill=\"#CF222E\"").count(), 1, "missed");
        assert_eq!(svg.matches("fill=\"#6E7781\"").count(), 1, "not judged");
        let texts = texts(&svg);
        for tick in &ticks {
            assert!(texts.contains(&tick.as_str()), "{tick} in {texts:?}");
        }
        // Percent ticks under 5% carry a decimal, so no two read the same.
        let y: Vec<&&str> = texts.iter().filter(|t| t.ends_with('%')).collect();
        assert!(y.len() >= 3, "{y:?}");
        assert!(y.windows(2).all(|w| w[0] != w[1]), "{y:?}");
    }

    #[test]
    fn durations_are_plotted_in_the_largest_unit_they_fill() {
        let t = trend(vec![Some(3.0 * 3600.0), Some(5.0 * 3600.0)], vec![None, None], Unit::Seconds);
        let svg = svg(&t, &["a".into(), "b".into()]).unwrap();
        assert!(texts(&svg).contains(&"hours"), "{:?}", texts(&svg));
        let empty = trend(vec![None, None], vec![None, None], Unit::PerWeek);
        let svg = super::svg(&empty, &["a".into(), "b".into()]).unwrap();
        assert_eq!(svg.matches("<circle").count(), 0);
    }
}
