//! Gauge samples in the Prometheus text exposition format (version 0.0.4), appended to
//! what the recorder renders. Written here because the exporter keeps every series it
//! has seen, and these are recomputed on each scrape so that gone ones disappear.

use std::fmt::Write as _;

use kernel::GaugeSample;

/// Appends `samples`, grouped by name (one `# HELP`/`# TYPE` per name, first-seen order).
pub(crate) fn write_gauges(out: &mut String, samples: &[GaugeSample]) {
    let mut names: Vec<&str> = Vec::new();
    for sample in samples {
        if !names.contains(&sample.name) {
            names.push(sample.name);
        }
    }
    for name in names {
        let mut series = samples.iter().filter(|s| s.name == name).peekable();
        let Some(first) = series.peek() else { continue };
        let _ = writeln!(out, "# HELP {name} {}", first.help);
        let _ = writeln!(out, "# TYPE {name} gauge");
        for sample in series {
            out.push_str(name);
            if !sample.labels.is_empty() {
                out.push('{');
                for (i, (key, value)) in sample.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{key}=\"{}\"", escape(value));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", sample.value);
        }
        out.push('\n');
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_name_and_escapes_label_values() {
        let samples = vec![
            GaugeSample::new("a_up", "A is up.", 1.0).label("node", "x\"y"),
            GaugeSample::new("b_total", "B.", 2.5),
            GaugeSample::new("a_up", "A is up.", 0.0).label("node", "z\\\n"),
        ];
        let mut out = String::new();
        write_gauges(&mut out, &samples);
        assert_eq!(
            out,
            "# HELP a_up A is up.\n# TYPE a_up gauge\na_up{node=\"x\\\"y\"} 1\n\
             a_up{node=\"z\\\\\\n\"} 0\n\n# HELP b_total B.\n# TYPE b_total gauge\nb_total 2.5\n\n"
        );
    }
}
