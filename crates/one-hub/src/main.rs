//! `one-hub`: parse settings, start the node, serve until SIGTERM/Ctrl-C.

use std::process::ExitCode;

use one_hub::{cli, node};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let settings = match cli::load() {
        Ok(s) => s,
        Err(cli::SettingsError::Cli(e)) => e.exit(),
        Err(e) => {
            eprintln!("one-hub: {e}");
            return ExitCode::from(2);
        }
    };
    // LOG_LEVEL=debug (or trace) also logs SQL statements, as in One Hub.
    let sql = if matches!(settings.log_level.as_str(), "debug" | "trace") {
        ""
    } else {
        ",sqlx=warn"
    };
    let filter = EnvFilter::try_new(format!("{}{sql}", settings.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    // A panic is one log line, not a multi-line print (and never a backtrace per request).
    hub_server::catch_panic::install_hook();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("one-hub: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(("0.0.0.0", settings.port)).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("cannot listen on port {} (PORT): {e}", settings.port);
                return ExitCode::FAILURE;
            }
        };
        match node::start(&settings, listener, true).await {
            Ok(running) => match running.wait().await {
                Ok(()) => {
                    tracing::info!("stopped cleanly");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    tracing::error!("server error: {e}");
                    ExitCode::FAILURE
                }
            },
            Err(e) => {
                tracing::error!("start-up failed: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
