//! A TCP proxy in the shape of the small tokio tools people publish (tokio's own
//! `examples/proxy.rs`, with clap and env_logger added), converted into a daemon the way a user
//! would: the conversion is the whole difference from the tool as it was.
//!
//! ```text
//! proxy [--listen ADDR] [--server ADDR] [--pidfile P] [--log L] [--foreground]
//! ```
//!
//! It listens on `--listen` (127.0.0.1:8081) and forwards every connection to `--server`
//! (127.0.0.1:8080), logging through `log` and env_logger, which write to stderr: `stderr =
//! cli.log` puts those lines in the log file. It returns once the port is bound
//! (`ready = "manual"`, then `daemon_rt::ready()`), so a port in use fails the start with the
//! bind error, on the terminal.
//!
//! The conversion, against the tool as it was (`diff -u`), 8 lines added, 1 changed and 1
//! removed:
//!
//! ```text
//!      server: String,
//! +    #[arg(long)]
//! +    pidfile: Option<std::path::PathBuf>,
//! +    #[arg(long)]
//! +    log: Option<std::path::PathBuf>,
//! +    #[arg(long)]
//! +    foreground: bool,
//!  }
//!
//! +#[daemon_rt::daemon(args = Cli::parse(), pidfile = cli.pidfile, stderr = cli.log, foreground = cli.foreground, ready = "manual")]
//!  #[tokio::main]
//! -async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! +async fn main(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
//!      env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
//! -    let cli = Cli::parse();
//!      let listener = TcpListener::bind(&cli.listen).await?;
//!      info!(
//! @@
//!      );
//! +    daemon_rt::ready();
//!      loop {
//! ```
//!
//! Nothing else changed: not the runtime (`#[tokio::main]` stays, below the attribute, so it
//! starts in the daemon), not the logging, not the forwarding.

use clap::Parser;
use log::{info, warn};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};

#[derive(Parser)]
#[command(about = "Forwards TCP connections to a server")]
struct Cli {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: String,
    /// The server to forward to.
    #[arg(long, default_value = "127.0.0.1:8080")]
    server: String,
    #[arg(long)]
    pidfile: Option<std::path::PathBuf>,
    #[arg(long)]
    log: Option<std::path::PathBuf>,
    #[arg(long)]
    foreground: bool,
}

#[daemon_rt::daemon(args = Cli::parse(), pidfile = cli.pidfile, stderr = cli.log, foreground = cli.foreground, ready = "manual")]
#[tokio::main]
async fn main(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let listener = TcpListener::bind(&cli.listen).await?;
    info!(
        "listening on {}, forwarding to {}",
        listener.local_addr()?,
        cli.server
    );
    daemon_rt::ready();
    loop {
        let (mut inbound, peer) = listener.accept().await?;
        let server = cli.server.clone();
        tokio::spawn(async move {
            let mut outbound = match TcpStream::connect(&server).await {
                Ok(outbound) => outbound,
                Err(e) => return warn!("{peer}: cannot connect to {server}: {e}"),
            };
            match copy_bidirectional(&mut inbound, &mut outbound).await {
                Ok((up, down)) => info!("{peer}: closed, {up} bytes up, {down} bytes down"),
                Err(e) => warn!("{peer}: {e}"),
            }
        });
    }
}
