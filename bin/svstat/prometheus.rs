//! `svstat --prometheus`: the Prometheus text exposition format (0.0.4)
//! for node_exporter's textfile collector. One gauge family per fact,
//! each with HELP and TYPE lines, one sample per directory labelled
//! `dir` (as given on the command line). Built from the same per-directory
//! facts as `--json`, so the two never disagree.

use serde_json::Value;

/// A family: name, help text, and how to read its value(s) from the
/// `--json` object (None: no sample for that directory).
struct Family {
    name: &'static str,
    help: &'static str,
    extra_label: Option<(&'static str, &'static [&'static str])>,
    value: fn(&Value, Option<&str>) -> Option<f64>,
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

const FAMILIES: &[Family] = &[
    Family {
        name: "svstat_up",
        help: "1 if the service is up (supervise running, its process alive), else 0.",
        extra_label: None,
        value: |v, _| Some(flag(v["state"] == "up")),
    },
    Family {
        name: "svstat_supervised",
        help: "1 if a supervise is running for the directory, else 0.",
        extra_label: None,
        value: |v, _| Some(flag(v["state"] == "up" || v["state"] == "down")),
    },
    Family {
        name: "svstat_seconds",
        help: "Seconds since the service last changed between up and down.",
        extra_label: None,
        value: |v, _| v["seconds"].as_u64().map(|s| s as f64),
    },
    Family {
        name: "svstat_normally_up",
        help: "1 if the service starts up (no down file), 0 if it starts down.",
        extra_label: None,
        value: |v, _| v["normally"].as_str().map(|n| flag(n == "up")),
    },
    Family {
        name: "svstat_paused",
        help: "1 if the service is up but paused (svc -p), else 0.",
        extra_label: None,
        value: |v, _| v["paused"].as_bool().map(flag),
    },
    Family {
        name: "svstat_want",
        help: "1 for what supervise was last told to bring the service to (svc -u / -d); both 0 after svc -o.",
        extra_label: Some(("want", &["up", "down"])),
        value: |v, want| {
            if v["state"] == "unknown" {
                return None;
            }
            Some(flag(v["want"].as_str() == want))
        },
    },
    Family {
        name: "svstat_ready",
        help: "1 if the service is up and has said it is ready (notification-fd), else 0.",
        extra_label: None,
        value: |v, _| v["ready"].as_bool().map(flag),
    },
    Family {
        name: "svstat_recent_deaths",
        help: "Exits of the service in supervise's recent history (svstat -v lists them).",
        extra_label: None,
        value: |v, _| v["deaths"].as_array().map(|d| d.len() as f64),
    },
];

/// A label value escaped as the format says: `\` `"` and newline.
pub fn escape_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The whole exposition for `(dir, --json object)` pairs. A directory
/// named twice is reported once (a series must be unique).
pub fn render(services: &[(String, Value)]) -> String {
    let mut seen = std::collections::HashSet::new();
    let services: Vec<&(String, Value)> = services
        .iter()
        .filter(|(d, _)| seen.insert(d.clone()))
        .collect();
    let mut out = String::new();
    for f in FAMILIES {
        out.push_str(&format!(
            "# HELP {} {}\n# TYPE {} gauge\n",
            f.name, f.help, f.name
        ));
        for (dir, v) in &services {
            let dir = escape_label(dir);
            match f.extra_label {
                None => {
                    if let Some(x) = (f.value)(v, None) {
                        out.push_str(&format!("{}{{dir=\"{dir}\"}} {x}\n", f.name));
                    }
                }
                Some((label, values)) => {
                    for &lv in values {
                        if let Some(x) = (f.value)(v, Some(lv)) {
                            out.push_str(&format!(
                                "{}{{dir=\"{dir}\",{label}=\"{lv}\"}} {x}\n",
                                f.name
                            ));
                        }
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_per_the_format() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn families_grouped_and_unique() {
        let up = json!({"state": "up", "seconds": 5, "normally": "up", "paused": false,
                        "want": "up", "ready": true, "deaths": [{}, {}]});
        let gone = json!({"state": "unknown", "seconds": null, "normally": null,
                          "paused": false, "want": null, "ready": false, "deaths": []});
        let out = render(&[
            ("a".into(), up.clone()),
            ("b\"".into(), gone),
            ("a".into(), up),
        ]);
        assert!(out.contains("svstat_up{dir=\"a\"} 1\nsvstat_up{dir=\"b\\\"\"} 0\n# HELP"));
        assert!(out.contains(
            "svstat_want{dir=\"a\",want=\"up\"} 1\nsvstat_want{dir=\"a\",want=\"down\"} 0\n# HELP"
        ));
        assert!(out.contains("svstat_recent_deaths{dir=\"a\"} 2\n"));
        assert!(!out.contains("svstat_seconds{dir=\"b"));
        assert_eq!(out.matches("svstat_up{dir=\"a\"}").count(), 1);
    }
}
