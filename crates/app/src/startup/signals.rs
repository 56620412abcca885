//! Signals: the first SIGINT or SIGTERM starts the ordered shutdown, a
//! second one exits at once.

/// Resolves on the first SIGINT or SIGTERM, and arms a second one to exit
/// at once with status 1.
pub(crate) async fn shutdown_signal() {
    let name = next_signal().await;
    tracing::info!(
        signal = name,
        "shutdown requested; a second signal exits at once"
    );
    tokio::spawn(async {
        let name = next_signal().await;
        tracing::error!(signal = name, "second signal: exiting at once");
        std::process::exit(1);
    });
}

/// Waits for SIGINT or SIGTERM and names it.
async fn next_signal() -> &'static str {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => "SIGINT",
        () = terminate => "SIGTERM",
    }
}
