//! Logging: tracing-subscriber's plain text lines, with every field value escaped once, here.
//!
//! Logged values carry caller-controlled text (model names, upstream messages, paths). A CR or
//! LF in one would start a new line that a log reader takes for a real event, and ESC would
//! drive the operator's terminal. [`EscapedFields`] formats each field — the message included —
//! and escapes control characters (C0, DEL, C1, and the Unicode line and paragraph separators)
//! as `\n`, `\r`, `\t` or `\u{..}`, so every event stays exactly one line, whatever the call
//! site wrote.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::{
    EnvFilter,
    field::RecordFields,
    fmt::{FormatFields, MakeWriter, format::Writer},
};

/// The filter for `LOG_LEVEL`: `debug`/`trace` also log SQL statements, as in One Hub.
pub fn filter(level: &str) -> EnvFilter {
    let sql = if matches!(level, "debug" | "trace") {
        ""
    } else {
        ",sqlx=warn"
    };
    EnvFilter::try_new(format!("{level}{sql}")).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The node's subscriber writing to `writer`.
pub fn subscriber<W>(level: &str, ansi: bool, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter(level))
        .with_target(false)
        .with_ansi(ansi)
        .fmt_fields(EscapedFields)
        .with_writer(writer)
        .finish()
}

/// Installs the node's subscriber (stdout, and a copy of each line in the in-memory ring root
/// reads through `/api/system_info/log`) for the whole process.
pub fn init(level: &str) {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    // Fails only when a subscriber is already installed; the first one stays.
    let _ = tracing::subscriber::set_global_default(subscriber(level, ansi, Tee(std::io::stdout)));
}

/// A writer that also keeps each line in `hub_server::syslog` (the formatter writes one whole
/// line per call).
#[derive(Debug, Clone, Copy)]
pub struct Tee<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Tee<M> {
    type Writer = TeeWriter<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        TeeWriter(self.0.make_writer())
    }
}

/// See [`Tee`].
#[derive(Debug)]
pub struct TeeWriter<W>(W);

impl<W: std::io::Write> std::io::Write for TeeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for line in String::from_utf8_lossy(buf).lines() {
            hub_server::syslog::record(line);
        }
        self.0.write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The node's subscriber for the current thread only, until the guard is dropped (tests that
/// read the log lines a node writes, on a current-thread runtime).
pub fn scoped<W>(level: &str, writer: W) -> tracing::subscriber::DefaultGuard
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing::subscriber::set_default(subscriber(level, false, writer))
}

/// Field formatter that escapes control characters in every value (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct EscapedFields;

impl<'w> FormatFields<'w> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut v = Visitor {
            out: Escaper(writer),
            first: true,
            result: Ok(()),
        };
        fields.record(&mut v);
        v.result
    }
}

struct Visitor<'w> {
    out: Escaper<'w>,
    first: bool,
    result: fmt::Result,
}

impl Visitor<'_> {
    fn field(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        let sep = if std::mem::replace(&mut self.first, false) {
            ""
        } else {
            " "
        };
        self.result = if name == "message" {
            self.out
                .0
                .write_str(sep)
                .and_then(|()| self.out.write_fmt(value))
        } else {
            let name = name.strip_prefix("r#").unwrap_or(name);
            write!(self.out.0, "{sep}{name}=").and_then(|()| self.out.write_fmt(value))
        };
    }
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.field(field, format_args!("{value}"));
        } else {
            self.field(field, format_args!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, format_args!("{value:?}"));
    }
}

/// Passes text through, escaping what could break a line or drive a terminal.
struct Escaper<'w>(Writer<'w>);

fn needs_escape(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

impl fmt::Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(i) = rest.find(needs_escape) {
            self.0.write_str(&rest[..i])?;
            let c = rest[i..].chars().next().unwrap_or_default();
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", c as u32)?,
            }
            rest = &rest[i + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn captured(f: impl FnOnce()) -> String {
        let cap = Capture::default();
        let writer = cap.clone();
        {
            let _g = scoped("debug", move || writer.clone());
            f();
        }
        String::from_utf8(cap.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn control_characters_in_any_field_stay_on_one_line() {
        let forged =
            "gpt-4\r\n2026-01-01T00:00:00Z  INFO forged: admin logged in\u{1b}[2J\u{85}\u{2028}x";
        let out = captured(|| {
            tracing::debug!(model = %forged, debug = ?forged, plain = forged, "routing {forged}");
            tracing::info!(error = %std::io::Error::other(forged.to_owned()), "second event");
        });
        assert_eq!(out.matches('\n').count(), 2, "{out}");
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(!out.contains('\r') && !out.contains('\u{1b}') && !out.contains('\u{85}'));
        assert!(!out.contains('\u{2028}'));
        let first = out.lines().next().unwrap();
        assert!(first.contains("routing gpt-4\\r\\n2026"), "{first}");
        assert!(first.contains("model=gpt-4\\r\\n"), "{first}");
        assert!(first.contains("\\u{1b}[2J\\u{85}\\u{2028}x"), "{first}");
        assert!(
            out.lines().nth(1).unwrap().contains("error=gpt-4\\r\\n"),
            "{out}"
        );
    }

    #[test]
    fn plain_values_are_unchanged() {
        let out = captured(|| tracing::info!(channel = 3, name = "a b", "relayed ünïcode"));
        assert!(
            out.contains("relayed ünïcode channel=3 name=\"a b\""),
            "{out}"
        );
    }

    #[test]
    fn the_tee_keeps_each_written_line_for_root() {
        use std::io::Write as _;
        let mut w = Tee(std::io::sink).make_writer();
        w.write_all(b"2026-12-07T05:00:00Z  INFO tee-test kept line\n")
            .unwrap();
        let last = hub_server::syslog::last(500);
        assert!(
            last.iter().any(|e| e.message == "tee-test kept line"),
            "{last:?}"
        );
    }
}
