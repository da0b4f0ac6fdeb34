//! `svstat --prometheus`: the output obeys the Prometheus text exposition
//! format (checked by a small parser of its rules: names, HELP/TYPE once
//! and before the samples, families contiguous, unique series, label
//! escapes, float values) and matches a golden file for hand-written
//! records (`tests/golden/svstat_prometheus.txt`; the seconds, which
//! depend on the clock, are checked separately).

mod common;

use common::*;
use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::time::Duration;
use svkit::procsig::ProcSig;
use svkit::status::{Status, Want};
use svkit::tai64n::Tai64n;
use svkit::xstatus::{Death, XStatus, FLAG_READY};

const GOLDEN: &str = include_str!("golden/svstat_prometheus.txt");

#[derive(Debug)]
struct Sample {
    name: String,
    labels: Labels,
    value: f64,
}

fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        && !s.starts_with("__")
}

type Labels = Vec<(String, String)>;

/// `{a="x",b="y"}` (escapes undone) and what follows it.
fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    let mut rest = s.strip_prefix('{').ok_or("no {")?;
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let name = &rest[..eq];
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        let mut chars = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("unquoted value")?
            .char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next().ok_or("unterminated value")? {
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (_, '\n') => return Err("raw newline in a label value".into()),
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.push((name.to_string(), value));
        rest = &rest[eq + 1..][1 + end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Checks the text format's rules; returns the samples.
fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    if !text.ends_with('\n') {
        return Err("no final newline".into());
    }
    let mut help = HashSet::new();
    let mut types: HashMap<String, String> = HashMap::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut series = HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("# ") {
            let mut w = c.splitn(3, ' ');
            let (kind, name, rest) = (w.next(), w.next().unwrap_or(""), w.next().unwrap_or(""));
            if !is_metric_name(name) {
                return Err(format!("bad name in {line:?}"));
            }
            if current.as_deref() != Some(name) {
                if let Some(c) = current.take() {
                    finished.insert(c);
                }
                if finished.contains(name) {
                    return Err(format!("{name} is not contiguous"));
                }
                current = Some(name.to_string());
            }
            match kind {
                Some("HELP") => {
                    if !help.insert(name.to_string()) {
                        return Err(format!("second HELP for {name}"));
                    }
                    if rest.contains('\n')
                        || rest.replace("\\\\", "").replace("\\n", "").contains('\\')
                    {
                        return Err(format!("bad escape in HELP {rest:?}"));
                    }
                }
                Some("TYPE") => {
                    if types.contains_key(name) {
                        return Err(format!("second TYPE for {name}"));
                    }
                    if samples.iter().any(|s: &Sample| s.name == name) {
                        return Err(format!("TYPE after samples for {name}"));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&rest) {
                        return Err(format!("bad type {rest}"));
                    }
                    types.insert(name.to_string(), rest.to_string());
                }
                _ => {}
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or(format!("no value: {line:?}"))?;
        let name = &line[..name_end];
        if !is_metric_name(name) {
            return Err(format!("bad metric name {name:?}"));
        }
        if current.as_deref() != Some(name) {
            return Err(format!("sample of {name} outside its family"));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..])?
        } else {
            (Vec::new(), &line[name_end..])
        };
        let mut fields = rest.trim_start_matches(' ').split(' ');
        let v = fields.next().ok_or("no value")?;
        let value: f64 = match v {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
        };
        if let Some(ts) = fields.next() {
            ts.parse::<i64>()
                .map_err(|_| format!("bad timestamp {ts:?}"))?;
        }
        let mut key: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        key.sort();
        if !series.insert((name.to_string(), key)) {
            return Err(format!("duplicate series {line:?}"));
        }
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    for name in samples.iter().map(|s| &s.name) {
        if !help.contains(name) || !types.contains_key(name) {
            return Err(format!("{name} lacks HELP or TYPE"));
        }
    }
    Ok(samples)
}

#[test]
fn the_checker_rejects_what_the_format_forbids() {
    let ok = "# HELP a x\n# TYPE a gauge\na{d=\"q\\\"\\\\\\n\"} 1\n";
    let s = parse_exposition(ok).unwrap();
    assert_eq!(s[0].labels[0].1, "q\"\\\n");
    for bad in [
        "# HELP a x\n# TYPE a gauge\na{d=\"q\"} 1",
        "# HELP a x\n# TYPE a gauge\na{d=\"q\\t\"} 1\n",
        "# HELP a x\n# TYPE a gauge\na{d=\"q\"} 1\na{d=\"q\"} 2\n",
        "# HELP a x\n# TYPE a gauge\na 1\n# HELP b x\n# TYPE b gauge\nb 1\na 2\n",
        "# HELP a x\na 1\n# TYPE a gauge\n",
        "a 1\n",
        "# HELP a x\n# TYPE a gauge\na{1d=\"q\"} 1\n",
        "# HELP a x\n# TYPE a gauge\na{d=\"q\"} one\n",
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted {bad:?}");
    }
}

fn ago(secs: u64) -> Tai64n {
    let now = Tai64n::now();
    Tai64n {
        secs: now.secs - secs,
        nanos: 0,
    }
}

fn write(f: &FakeSupervise, s: &Status, x: Option<&XStatus>) {
    std::fs::write(f.dir.join("supervise/status"), s.pack()).unwrap();
    if let Some(x) = x {
        std::fs::write(f.dir.join("supervise/xstatus"), x.pack()).unwrap();
    }
}

fn status(pid: u32, secs_ago: u64, paused: bool, want: Want) -> Status {
    Status {
        when: ago(secs_ago),
        pid,
        paused,
        want,
    }
}

/// Replaces the value of every `svstat_seconds` sample with SECONDS,
/// returning the values.
fn mask_seconds(out: &str) -> (String, Vec<f64>) {
    let mut vals = Vec::new();
    let mut masked = String::new();
    for line in out.split_inclusive('\n') {
        if line.starts_with("svstat_seconds{") {
            let (head, v) = line.trim_end().rsplit_once(' ').unwrap();
            vals.push(v.parse().unwrap());
            masked.push_str(&format!("{head} SECONDS\n"));
        } else {
            masked.push_str(line);
        }
    }
    (masked, vals)
}

#[test]
fn prometheus_output_is_valid_and_matches_golden() {
    let s = Scratch::new("svstat-prom");
    let root = &s.path;
    let mut g = Guard::new();
    let pid = g.spawn(
        Command::new("/bin/sleep")
            .arg("100")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(poll_until(Duration::from_secs(5), || ProcSig::of(pid).is_ok()));
    let sig = ProcSig::of(pid).unwrap();

    // up, ready, two recent deaths
    let up = FakeSupervise::new(root, "web", true);
    let st = status(pid, 100, false, Want::Up);
    let mut x = XStatus::new(ProcSig::of_self().unwrap());
    x.child = sig;
    x.changed = st.when;
    x.set(FLAG_READY, true);
    x.ready = ago(90);
    x.push_death(Death {
        when: ago(300),
        wstatus: 1 << 8,
    });
    x.push_death(Death {
        when: ago(200),
        wstatus: libc::SIGKILL,
    });
    write(&up, &st, Some(&x));
    // down, normally up, want up
    let down = FakeSupervise::new(root, "db", true);
    write(&down, &status(0, 20, false, Want::Up), None);
    // up and paused, normally down, want down; a name needing every escape
    let odd = FakeSupervise::new(root, "we\"ird\\name\nx", true);
    std::fs::write(odd.dir.join("down"), "").unwrap();
    let mut x2 = XStatus::new(ProcSig::of_self().unwrap());
    let st2 = status(pid, 7, true, Want::Down);
    x2.child = sig;
    x2.changed = st2.when;
    write(&odd, &st2, Some(&x2));
    // supervise not running; a missing directory
    let gone = FakeSupervise::new(root, "old", false);
    write(&gone, &status(0, 50, false, Want::Down), None);

    let dirs = ["web", "db", "we\"ird\\name\nx", "old", "missing", "web"];
    let (code, out, err) = run(ours("svstat")
        .current_dir(root)
        .arg("--prometheus")
        .args(dirs));
    assert_eq!((code, err.as_str()), (0, ""));
    let samples = parse_exposition(&out).unwrap_or_else(|e| panic!("{e}:\n{out}"));
    let label_dirs: HashSet<&str> = samples
        .iter()
        .flat_map(|s| s.labels.iter())
        .filter(|(k, _)| k == "dir")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        label_dirs,
        dirs.iter().copied().collect(),
        "dir labels are the dirs as given"
    );
    for smp in &samples {
        let flag = smp.name != "svstat_seconds" && smp.name != "svstat_recent_deaths";
        assert!(
            smp.value >= 0.0 && (!flag || smp.value <= 1.0),
            "{} = {}",
            smp.name,
            smp.value
        );
    }
    let (masked, secs) = mask_seconds(&out);
    if std::env::var_os("SVKIT_BLESS").is_some() {
        std::fs::write(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/golden/svstat_prometheus.txt"
            ),
            &masked,
        )
        .unwrap();
    }
    assert_eq!(
        masked, GOLDEN,
        "svstat --prometheus differs from the golden file"
    );
    // web 100 s, db 20 s, odd 7 s, old 50 s (time passes while we run)
    assert_eq!(secs.len(), 4, "{out}");
    for (got, want) in secs.iter().zip([100.0, 20.0, 7.0, 50.0]) {
        assert!(
            *got >= want && *got <= want + 5.0,
            "seconds {got}, want about {want}"
        );
    }
}
