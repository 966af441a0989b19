//! `trawl sql` with no SQL on a terminal: an interactive shell over one lake, as `duckdb`
//! and `datafusion-cli` users expect: line editing, history, multi-line statements ending at
//! `;`, completion of tables, columns (struct fields as `a.b`) and functions, and Ctrl-C
//! that cancels the running query, not the shell.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::AsArray;
use arrow::datatypes::{DataType, Fields};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper, Highlighter, Hinter};
use tokio::sync::Notify;
use trawl_query::QueryEngine;
use trawl_tuning::Workbench;

use crate::args::Format;
use crate::render;

const HELP: &str = "\
Statements end with `;` and may span lines. Tab completes tables, columns and functions.
Ctrl-C cancels the running query (or clears the line); Ctrl-D or \\q quits.
  \\timing, .timer on|off    print rows and wall time after each statement
  \\stats                    print what each statement read and pruned, and Athena's bill
  .format table|csv|json|jsonl
  .tables, \\dt              the tables
  \\d TABLE, .schema TABLE   a table's columns
  \\?, .help                 this help
";

/// Words completion offers.
#[derive(Helper, Hinter, Highlighter)]
struct SqlHelper {
    words: Vec<String>,
}

/// The start of the word that ends at `pos` (letters, digits, `_` and `.`).
fn word_start(line: &str, pos: usize) -> usize {
    line[..pos]
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '.'))
        .map_or(0, |(i, c)| i + c.len_utf8())
}

impl Completer for SqlHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = word_start(line, pos);
        let word = line[start..pos].to_lowercase();
        if word.is_empty() {
            return Ok((start, Vec::new()));
        }
        let candidates = self
            .words
            .iter()
            .filter(|w| w.to_lowercase().starts_with(&word))
            .map(|w| Pair {
                display: w.clone(),
                replacement: w.clone(),
            })
            .collect();
        Ok((start, candidates))
    }
}

impl Validator for SqlHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let input = ctx.input().trim();
        Ok(
            if is_command(input) || input.is_empty() || input.ends_with(';') {
                ValidationResult::Valid(None)
            } else {
                ValidationResult::Incomplete
            },
        )
    }
}

fn is_command(input: &str) -> bool {
    input.starts_with('\\')
        || input.starts_with('.')
        || matches!(input.to_lowercase().as_str(), "quit" | "exit")
}

/// Column names of `fields`, and each struct field as `column.field`, under `prefix`.
fn field_paths(prefix: &str, fields: &Fields, out: &mut Vec<String>) {
    for f in fields {
        let path = format!("{prefix}{}", f.name());
        if let DataType::Struct(inner) = f.data_type() {
            field_paths(&format!("{path}."), inner, out);
        }
        out.push(path);
    }
}

/// The shell's state between statements.
struct Shell<'a> {
    engine: QueryEngine,
    bench: Workbench,
    rt: &'a tokio::runtime::Runtime,
    format: Format,
    timing: bool,
    stats: bool,
}

/// Ctrl-C presses while a statement runs (at the prompt the terminal is in raw mode and the
/// line editor reads Ctrl-C as a key), and the wake-up of the statement waiting for one. The
/// handler runs on a thread of its own: the runtime's workers may all be busy with the query.
static INTERRUPTS: AtomicU64 = AtomicU64::new(0);
static WAKE: Notify = Notify::const_new();

/// Resolves once Ctrl-C was pressed after the count was `since`.
async fn interrupted(since: u64) {
    loop {
        let wake = WAKE.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        if INTERRUPTS.load(Ordering::SeqCst) != since {
            return;
        }
        wake.await;
    }
}

/// Runs the shell until `\q` or Ctrl-D.
pub(crate) fn run(
    rt: &tokio::runtime::Runtime,
    engine: QueryEngine,
    bench: Workbench,
    lake: &str,
) -> anyhow::Result<ExitCode> {
    let mut shell = Shell {
        engine,
        bench,
        rt,
        format: Format::Table,
        timing: true,
        stats: false,
    };
    let helper = SqlHelper {
        words: shell.words(),
    };
    let config = rustyline::Config::builder()
        .completion_type(rustyline::CompletionType::List)
        .auto_add_history(false)
        .max_history_size(10_000)?
        .build();
    let mut editor: Editor<SqlHelper, DefaultHistory> = Editor::with_config(config)?;
    editor.set_helper(Some(helper));
    // After the editor is made: it takes SIGINT for itself when made (it needs it only in
    // raw mode, where Ctrl-C is a key), and this handler replaces its.
    ctrlc::set_handler(|| {
        INTERRUPTS.fetch_add(1, Ordering::SeqCst);
        WAKE.notify_waiters();
    })?;
    let history = history_file();
    if let Some(h) = &history {
        // No history yet is not an error.
        let _ = editor.load_history(h);
    }
    println!(
        "trawl {} on {lake} (version {}): \\? for help, \\q to quit",
        env!("CARGO_PKG_VERSION"),
        shell.engine.version()
    );
    loop {
        match editor.readline("trawl> ") {
            Ok(text) => {
                let text = text.trim().to_string();
                if text.is_empty() {
                    continue;
                }
                editor.add_history_entry(text.as_str())?;
                if let Some(h) = &history {
                    if let Some(dir) = h.parent() {
                        let _ = std::fs::create_dir_all(dir);
                    }
                    if let Err(e) = editor.save_history(h) {
                        eprintln!("history not saved to {}: {e}", h.display());
                    }
                }
                if is_command(&text) {
                    if !shell.command(&text)? {
                        break;
                    }
                } else {
                    shell.statement(&text);
                }
            }
            // Ctrl-C at the prompt clears the line, as in psql and duckdb.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `$TRAWL_HISTORY`, or `trawl/history` under the XDG data directory.
fn history_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TRAWL_HISTORY") {
        return Some(PathBuf::from(p));
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("trawl/history"))
}

impl Shell<'_> {
    /// Table names, the columns of `cloudtrail_logs` (struct fields as paths), functions
    /// and keywords.
    fn words(&self) -> Vec<String> {
        let mut words: Vec<String> = [
            "SELECT",
            "FROM",
            "WHERE",
            "GROUP BY",
            "ORDER BY",
            "LIMIT",
            "HAVING",
            "JOIN",
            "LEFT JOIN",
            "ON",
            "AS",
            "AND",
            "OR",
            "NOT",
            "IN",
            "LIKE",
            "BETWEEN",
            "IS NULL",
            "IS NOT NULL",
            "DISTINCT",
            "CASE",
            "WHEN",
            "THEN",
            "ELSE",
            "END",
            "WITH",
            "UNION ALL",
            "EXPLAIN",
            "EXPLAIN ANALYZE",
            "DESCRIBE",
            "CROSS JOIN UNNEST",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let tables = self.rt.block_on(self.engine.run(
            "SELECT DISTINCT table_name FROM information_schema.tables \
             WHERE table_schema <> 'information_schema'",
        ));
        for r in tables.iter().flatten() {
            for b in &r.batches {
                words.extend(
                    b.column(0)
                        .as_string::<i32>()
                        .iter()
                        .flatten()
                        .map(str::to_string),
                );
            }
        }
        if let Ok(table) = self
            .rt
            .block_on(self.engine.context().table(trawl_query::TABLE))
        {
            field_paths("", table.schema().as_arrow().fields(), &mut words);
        }
        let (scalar, aggregate, window) = self.engine.function_names();
        words.extend(scalar);
        words.extend(aggregate);
        words.extend(window);
        words.sort();
        words.dedup();
        words
    }

    /// Runs a shell command; `false` to quit.
    fn command(&mut self, text: &str) -> anyhow::Result<bool> {
        let text = text.trim_end_matches(';').trim();
        let (cmd, arg) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let arg = arg.trim();
        match cmd.to_lowercase().as_str() {
            "\\q" | ".quit" | ".exit" | "quit" | "exit" => return Ok(false),
            "\\?" | ".help" | "\\h" => print!("{HELP}"),
            "\\timing" => {
                self.timing = !self.timing;
                println!("timing {}", if self.timing { "on" } else { "off" });
            }
            ".timer" => match arg {
                "on" => self.timing = true,
                "off" => self.timing = false,
                _ => eprintln!(".timer on|off"),
            },
            "\\stats" | ".stats" => {
                self.stats = match arg {
                    "on" => true,
                    "off" => false,
                    _ => !self.stats,
                };
                println!("stats {}", if self.stats { "on" } else { "off" });
            }
            ".format" | "\\format" => match arg {
                "table" => self.format = Format::Table,
                "csv" => self.format = Format::Csv,
                "json" => self.format = Format::Json,
                "jsonl" => self.format = Format::Jsonl,
                _ => eprintln!(".format table|csv|json|jsonl"),
            },
            ".tables" | "\\dt" => self.statement(
                "SELECT table_schema, table_name, table_type FROM information_schema.tables \
                 WHERE table_schema <> 'information_schema' ORDER BY 1, 2;",
            ),
            "\\d" | ".schema" | "\\d+" if !arg.is_empty() => {
                self.statement(&format!("DESCRIBE {arg};"));
            }
            _ => eprintln!("unknown command {cmd:?}: \\? lists the commands"),
        }
        Ok(true)
    }

    /// Runs the statements of `sql` and prints their results; Ctrl-C cancels them.
    fn statement(&mut self, sql: &str) {
        let since = INTERRUPTS.load(Ordering::SeqCst);
        let run = async {
            tokio::select! {
                r = self.engine.run(sql) => Some(r),
                () = interrupted(since) => None,
            }
        };
        let results = match self.rt.block_on(run) {
            None => {
                eprintln!("cancelled");
                return;
            }
            Some(Err(e)) => {
                eprintln!("error: {e}");
                return;
            }
            Some(Ok(results)) => results,
        };
        let mut out = std::io::stdout().lock();
        for r in &results {
            if let Err(e) = render::write_result(&mut out, self.format, &r.batches, &r.schema) {
                eprintln!("error: {e}");
            }
            let _ = out.flush();
            if self.stats {
                eprint!("{}", self.bench.stats(r, self.engine.files()).text());
            } else if self.timing {
                let rows: usize = r.batches.iter().map(|b| b.num_rows()).sum();
                let s = if rows == 1 { "" } else { "s" };
                eprintln!("-- {rows} row{s} in {:.3} s", r.elapsed.as_secs_f64());
            }
        }
    }
}
