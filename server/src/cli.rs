//! The `contango` command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand};
use contango_catalog::import::{FileFormat, import_files};
use contango_common::error::{ContangoError, Result};
use contango_connector::StreamConfig;
use contango_connector::producer::ProduceSpec;
use contango_market::MarketSpec;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;

use crate::app::{App, Bound, serve};
use crate::config::Config;

/// Contango: a Trino-compatible query accelerator for commodity market data.
///
/// Serves Apache Iceberg tables over Arrow Flight SQL from one binary. Every
/// configuration key can also be set with a CONTANGO_* environment variable
/// (e.g. CONTANGO_CATALOG_URI, CONTANGO_AUTH_USERS="alice=secret").
#[derive(Debug, Parser)]
#[command(name = "contango", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log filter (tracing syntax), e.g. `info` or `contango=debug`. RUST_LOG wins when set.
    #[arg(long, global = true, default_value = "info")]
    log: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the configured catalog over Flight SQL and HTTP.
    Serve(ServeArgs),
    /// Create (or reuse) an embedded warehouse with a synthetic market and serve it, auth off.
    Demo(DemoArgs),
    /// Load CSV / Parquet / NDJSON files (local or s3://) into an Iceberg table.
    Import(ImportArgs),
    /// Run one SQL statement through Flight SQL and print the result.
    Sql(SqlArgs),
    /// Replay the synthetic market into a Kafka topic as JSON price messages.
    Produce(ProduceArgs),
}

#[derive(Debug, Args)]
struct ServerArgs {
    /// Configuration file (TOML). See docs/configuration.md for every key.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Data directory for the embedded catalog and warehouse.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Arrow Flight SQL listen address.
    #[arg(long)]
    flight_addr: Option<String>,
    /// HTTP listen address (/healthz).
    #[arg(long)]
    http_addr: Option<String>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// A Kafka → Iceberg stream, repeatable:
    /// `name=prices,brokers=127.0.0.1:9092,topic=commodity-prices,group=contango,table=iceberg.market.live_ticks`
    /// (any `[[streams]]` key; lists with `;`, nested keys with dots, e.g. `fields.price=px`).
    #[arg(long = "stream", value_name = "SPEC")]
    streams: Vec<String>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Ticks to generate when the warehouse is new.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Seed of the synthetic market.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Generate the market and exit without serving.
    #[arg(long)]
    no_serve: bool,
    /// Also replay the market live into a Kafka topic (`commodity-prices` on
    /// `--brokers`) and stream it into `iceberg.market.live_ticks` (+ 1-minute bars).
    #[arg(long)]
    stream: bool,
    /// Kafka brokers for `--stream`.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Messages per second the demo producer sends.
    #[arg(long, default_value_t = 2000.0)]
    stream_rate: f64,
}

#[derive(Debug, Args)]
struct ProduceArgs {
    /// Kafka brokers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Topic (created when absent).
    #[arg(long, default_value = "commodity-prices")]
    topic: String,
    /// Partitions of a created topic.
    #[arg(long, default_value_t = 3)]
    partitions: i32,
    /// Messages to send (default: until Ctrl-C).
    #[arg(long)]
    messages: Option<u64>,
    /// Messages per second (default: as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
    /// Market seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Stamp messages with the current time instead of market time.
    #[arg(long)]
    live_time: bool,
}

#[derive(Debug, Args)]
struct ImportArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Target table: iceberg.<namespace>.<table> (created when absent).
    #[arg(long)]
    table: String,
    /// Input format; guessed from the file extension when omitted.
    #[arg(long, value_parser = ["csv", "parquet", "ndjson"])]
    format: Option<String>,
    /// Local paths or s3://bucket/key URLs.
    #[arg(required = true)]
    files: Vec<String>,
}

#[derive(Debug, Args)]
struct SqlArgs {
    /// Flight SQL server address.
    #[arg(long, default_value = "127.0.0.1:50051")]
    flight_addr: String,
    /// User name (enables Basic authentication).
    #[arg(long, short)]
    user: Option<String>,
    /// Password.
    #[arg(long, env = "CONTANGO_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// The statement.
    sql: String,
}

/// Stack of each runtime worker. Planning and evaluating a client's
/// statement recurse over its expression tree; DataFusion's planner grows
/// its stack on the heap, but expression evaluation does not, and a deep
/// tree (`1+1+...` with thousands of terms) overflowed Tokio's 2 MiB default,
/// which aborts the process. The memory is reserved, not committed.
const WORKER_STACK_BYTES: usize = 64 << 20;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK_BYTES)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.message());
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Serve(a) => {
            let mut config = load_config(&a.server, false)?;
            for spec in &a.streams {
                config.streams.push(StreamConfig::parse_cli(spec)?);
            }
            let app = App::open(config).await?;
            serve_until_ctrl_c(app, |b| {
                eprintln!(
                    "contango serving Flight SQL on {} and HTTP on {}",
                    b.flight, b.http
                )
            })
            .await
        }
        Command::Demo(a) => demo(a).await,
        Command::Produce(a) => produce(a).await,
        Command::Import(a) => import(a).await,
        Command::Sql(a) => {
            let batches = crate::sql_client::run_query(
                &a.flight_addr,
                a.user.as_deref(),
                a.password.as_deref(),
                &a.sql,
            )
            .await
            .map_err(ContangoError::invalid)?;
            let table = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                .map_err(|e| ContangoError::internal(e.to_string()))?;
            // `contango sql ... | head`: a reader that stops early is not an error.
            let mut out = std::io::stdout().lock();
            match writeln!(out, "{table}").and_then(|()| out.flush()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                Err(e) => {
                    return Err(ContangoError::internal(format!(
                        "cannot write the result: {e}"
                    )));
                }
            }
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            eprintln!("({rows} row{})", if rows == 1 { "" } else { "s" });
            Ok(())
        }
    }
}

/// Config file + environment, then command-line flags on top.
fn load_config(a: &ServerArgs, demo: bool) -> Result<Config> {
    let mut config = Config::load(a.config.as_deref(), std::env::vars())?;
    if demo && a.config.is_none() && std::env::var("CONTANGO_AUTH_ENABLED").is_err() {
        config.auth.enabled = false;
    }
    if let Some(d) = &a.data_dir {
        config.data_dir = d.clone();
    }
    if let Some(f) = &a.flight_addr {
        config.server.flight_addr = f.clone();
    }
    if let Some(h) = &a.http_addr {
        config.server.http_addr = h.clone();
    }
    Ok(config)
}

async fn serve_until_ctrl_c(app: App, on_bound: impl FnOnce(Bound)) -> Result<()> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = tx.send(true);
    });
    serve(app, rx, on_bound).await
}

fn progress_bar(what: &'static str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .expect("valid progress template"),
    );
    bar.set_message(what);
    bar
}

async fn produce(a: ProduceArgs) -> Result<()> {
    let spec = ProduceSpec {
        brokers: a.brokers,
        topic: a.topic,
        partitions: a.partitions,
        messages: a.messages,
        rate: a.rate,
        seed: a.seed,
        live_time: a.live_time,
        kafka: Default::default(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        flag.store(true, Ordering::SeqCst);
    });
    let started = std::time::Instant::now();
    let sent = tokio::task::spawn_blocking(move || {
        contango_connector::producer::produce(&spec, &stop, &|n| eprintln!("{n} messages sent"))
    })
    .await
    .map_err(|e| ContangoError::internal(e.to_string()))??;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "sent {sent} messages in {secs:.1} s ({:.0}/s)",
        sent as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// The stream `contango demo --stream` runs.
fn demo_stream(brokers: &str) -> StreamConfig {
    StreamConfig {
        name: "live".into(),
        brokers: brokers.into(),
        topic: "commodity-prices".into(),
        table: "iceberg.market.live_ticks".into(),
        lateness_secs: 5,
        ..StreamConfig::default()
    }
}

async fn demo(a: DemoArgs) -> Result<()> {
    let mut config = load_config(&a.server, true)?;
    if a.stream {
        config.streams.push(demo_stream(&a.brokers));
    }
    let app = App::open(config).await?;
    let catalog = app.catalog.catalog().clone();
    let ticks = iceberg::TableIdent::new(
        iceberg::NamespaceIdent::new("market".into()),
        "ticks".into(),
    );
    if catalog.table_exists(&ticks).await? {
        eprintln!("reusing the market in {}", app.catalog_settings.warehouse);
    } else {
        let bar = progress_bar("generating market");
        let spec = MarketSpec {
            seed: a.seed,
            rows: a.rows,
            ..MarketSpec::default()
        };
        let report = crate::market_load::load_market(catalog.as_ref(), "market", spec, &|n| {
            bar.set_message(format!("{n} ticks written"))
        })
        .await?;
        bar.finish_and_clear();
        eprintln!(
            "wrote {} ticks and {} defect labels in {:.1} s ({:.0} rows/s)",
            report.ticks,
            report.defects,
            report.seconds,
            report.ticks as f64 / report.seconds.max(1e-9)
        );
    }
    if a.no_serve {
        return Ok(());
    }
    if a.stream {
        let spec = ProduceSpec {
            brokers: a.brokers.clone(),
            topic: "commodity-prices".into(),
            partitions: 3,
            messages: None,
            rate: Some(a.stream_rate),
            seed: a.seed,
            live_time: true,
            kafka: Default::default(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        std::thread::spawn(move || {
            if let Err(e) = contango_connector::producer::produce(&spec, &stop, &|_| {}) {
                eprintln!("demo producer stopped: {}", e.message());
            }
        });
        eprintln!(
            "streaming {} msg/s into topic commodity-prices on {} → iceberg.market.live_ticks (+ live_ticks_bars_1m)",
            a.stream_rate, a.brokers
        );
    }
    let auth = app.config.auth.enabled;
    serve_until_ctrl_c(app, move |b| print_connect_help(b, auth)).await
}

fn print_connect_help(b: Bound, auth: bool) {
    let creds = if auth {
        ", username=..., password=..."
    } else {
        ""
    };
    eprintln!(
        "\nContango demo is up. Tables: iceberg.market.ticks, iceberg.market.defects\n\n\
         ADBC (Python):   import adbc_driver_flightsql.dbapi as f\n\
         \x20                conn = f.connect(\"grpc://{f}\"{creds})\n\
         pyarrow.flight:  pyarrow.flight.connect(\"grpc://{f}\")\n\
         JDBC:            jdbc:arrow-flight-sql://{f}/?useEncryption=false\n\
         Grafana:         Flight SQL datasource, host {f}, TLS off\n\
         CLI:             contango sql --flight-addr {f} \"SELECT commodity, count(*) FROM iceberg.market.ticks GROUP BY 1\"\n\
         Data quality:    contango sql --flight-addr {f} \"SELECT table_name, score, failing FROM iceberg.quality.summary\"\n\
         Dashboards:      deploy/grafana/contango.json, deploy/superset/contango_dashboard/\n\
         Health:          http://{h}/healthz   Metrics: http://{h}/metrics\n\nCtrl-C stops the server.",
        f = b.flight,
        h = b.http,
    );
}

async fn import(a: ImportArgs) -> Result<()> {
    let config = load_config(&a.server, false)?;
    let settings = config.catalog_settings();
    let catalog = contango_catalog::connect(&settings).await?;
    let format = a
        .format
        .as_deref()
        .map(str::parse::<FileFormat>)
        .transpose()?;
    let bar = progress_bar("importing");
    let report = import_files(
        catalog.as_ref(),
        &settings.name,
        &a.table,
        format,
        &a.files,
        &settings.s3,
        &|n| bar.set_message(format!("{n} rows")),
    )
    .await?;
    bar.finish_and_clear();
    eprintln!(
        "{} {} rows into {} (snapshot {})",
        if report.created {
            "created table and imported"
        } else {
            "appended"
        },
        report.rows,
        a.table,
        report
            .snapshot_id
            .map(|s| s.to_string())
            .unwrap_or_else(|| "none".into())
    );
    Ok(())
}
