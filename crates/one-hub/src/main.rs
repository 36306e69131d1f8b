//! `one-hub`: parse settings, start the node, serve until SIGTERM/Ctrl-C.

use std::process::ExitCode;

use one_hub::{cli, node};

fn main() -> ExitCode {
    let settings = match cli::load() {
        Ok(s) => s,
        Err(cli::SettingsError::Cli(e)) => e.exit(),
        Err(e) => {
            eprintln!("one-hub: {e}");
            return ExitCode::from(2);
        }
    };
    // Every logged value has its control characters escaped: one event, one line.
    one_hub::logging::init(&settings.log_level);
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
