//! `mock-upstream [--port N]`: serves the mock OpenAI upstream on 127.0.0.1 until SIGTERM or
//! Ctrl-C. The first stdout line is `MOCK_UPSTREAM_URL=http://127.0.0.1:PORT`.

#![expect(
    clippy::print_stdout,
    reason = "the URL line on stdout is how callers find the mock"
)]

use std::{net::SocketAddr, process::ExitCode};

use hub_mock::MockUpstream;

fn parse_port(mut args: impl Iterator<Item = String>) -> Result<u16, String> {
    let mut port = 0;
    while let Some(arg) = args.next() {
        let value = if arg == "--port" {
            args.next().ok_or("--port needs a value")?
        } else if let Some(v) = arg.strip_prefix("--port=") {
            v.to_owned()
        } else if arg == "-h" || arg == "--help" {
            return Err("usage: mock-upstream [--port N]".to_owned());
        } else {
            return Err(format!(
                "unknown argument {arg:?}; usage: mock-upstream [--port N]"
            ));
        };
        port = value
            .parse()
            .map_err(|e| format!("invalid --port {value:?}: {e}"))?;
    }
    Ok(port)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let port = match parse_port(std::env::args().skip(1)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mock = match MockUpstream::start_on(SocketAddr::from(([127, 0, 0, 1], port))).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("mock-upstream: cannot bind 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("MOCK_UPSTREAM_URL={}", mock.base_url());
    shutdown_signal().await;
    drop(mock);
    ExitCode::SUCCESS
}
