//! `contango-bench ROWS`: measures, in one process on loopback,
//! 1. market generation + Iceberg write rate (rows/s),
//! 2. `contango import` rate of a Parquet file (rows/s),
//! 3. Flight SQL result throughput of `SELECT * FROM ticks` (rows/s, MB/s on the wire),
//! 4. point-query latency p50/p99 over Flight SQL.
//!
//! Prints a Markdown table for `benches/RESULTS.md`. Build with `--release`.

use std::time::{Duration, Instant};

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::client::FlightSqlServiceClient;
use contango::app::{App, serve};
use contango::config::Config;
use contango_market::{MarketGenerator, MarketSpec};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::{oneshot, watch};
use tonic::transport::Endpoint;

#[tokio::main]
async fn main() {
    let rows: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("ROWS must be a number"))
        .unwrap_or(10_000_000);
    let dir = tempfile::tempdir().unwrap();
    let config = Config::ephemeral(dir.path(), Default::default());
    let app = App::open(config).await.unwrap();
    let catalog = app.catalog.catalog().clone();
    let spec = MarketSpec {
        rows,
        ..MarketSpec::default()
    };

    // 1. Generation + partitioned Iceberg write.
    let report =
        contango::market_load::load_market(catalog.as_ref(), "market", spec.clone(), &|_| {})
            .await
            .unwrap();
    let gen_rate = report.ticks as f64 / report.seconds;

    // 2. Import of a Parquet file holding the same ticks.
    let parquet_path = dir.path().join("ticks.parquet");
    write_parquet(&parquet_path, &spec, rows.min(5_000_000));
    let imported_rows;
    let t = Instant::now();
    {
        let r = contango_catalog::import::import_files(
            catalog.as_ref(),
            "iceberg",
            "iceberg.bench.imported",
            None,
            &[parquet_path.display().to_string()],
            &Default::default(),
            &|_| {},
        )
        .await
        .unwrap();
        imported_rows = r.rows;
    }
    let import_rate = imported_rows as f64 / t.elapsed().as_secs_f64();

    // Serve.
    let (_stop, rx) = watch::channel(false);
    let (btx, brx) = oneshot::channel();
    tokio::spawn(serve(app, rx, move |b| {
        let _ = btx.send(b);
    }));
    let bound = brx.await.unwrap();
    let channel = Endpoint::from_shared(format!("http://{}", bound.flight))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut sql = FlightSqlServiceClient::new(channel.clone());
    let mut raw = FlightServiceClient::new(channel).max_decoding_message_size(usize::MAX);

    // 3. Full scan throughput: bytes counted on the wire.
    let mut best = (0.0f64, 0.0f64, 0u64);
    for _ in 0..3 {
        let t = Instant::now();
        let info = sql
            .execute("SELECT * FROM ticks".into(), None)
            .await
            .unwrap();
        let ticket = info.endpoint[0].ticket.clone().unwrap();
        let mut stream = raw.do_get(ticket).await.unwrap().into_inner();
        let mut bytes = 0u64;
        let mut messages = Vec::new();
        while let Some(m) = stream.next().await {
            let m = m.unwrap();
            bytes += (m.data_header.len() + m.data_body.len()) as u64;
            messages.push(m);
        }
        let secs = t.elapsed().as_secs_f64();
        let decoded: Vec<_> = arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(
            futures::stream::iter(messages.into_iter().map(Ok)),
        )
        .try_collect()
        .await
        .unwrap();
        let n: u64 = decoded.iter().map(|b| b.num_rows() as u64).sum();
        if n as f64 / secs > best.0 {
            best = (n as f64 / secs, bytes as f64 / secs / 1e6, n);
        }
    }

    // 4. Point queries, and the fixed cost of a trivial query.
    let lat = latencies(
        &mut sql,
        (0..200).map(|i| {
            format!(
                "SELECT price FROM ticks WHERE commodity = 'WTI' \
                 AND ts BETWEEN TIMESTAMP '2025-01-06 08:{m:02}:00' AND TIMESTAMP '2025-01-06 09:{m:02}:00' \
                 ORDER BY ts DESC LIMIT 1",
                m = i % 60
            )
        }),
    )
    .await;
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    let trivial = latencies(&mut sql, (0..100).map(|_| "SELECT 1".to_string())).await;

    println!("| measure | value |\n|---|---|");
    println!(
        "| ticks generated + written to Iceberg (partitioned day × commodity) | {} rows in {:.1} s = {:.0} rows/s |",
        report.ticks, report.seconds, gen_rate
    );
    println!("| `import` of a Parquet file | {imported_rows} rows at {import_rate:.0} rows/s |");
    println!(
        "| Flight SQL `SELECT * FROM ticks` (best of 3) | {} rows, {:.0} rows/s, {:.0} MB/s on the wire |",
        best.2, best.0, best.1
    );
    println!(
        "| `SELECT 1` round trip, GetFlightInfo + DoGet (100 queries) | p50 {} ms |",
        ms(trivial[50])
    );
    println!(
        "| point query latency (latest WTI price in a 1-hour window, 200 queries) | p50 {} ms, p99 {} ms |",
        ms(p(0.5)),
        ms(p(0.99))
    );
}

/// Sorted round-trip times (GetFlightInfo + DoGet of the whole result) of `queries`.
async fn latencies(
    sql: &mut FlightSqlServiceClient<tonic::transport::Channel>,
    queries: impl Iterator<Item = String>,
) -> Vec<Duration> {
    let mut out = Vec::new();
    for q in queries {
        let t = Instant::now();
        let info = sql.execute(q, None).await.unwrap();
        let ticket = info.endpoint[0].ticket.clone().unwrap();
        let _: Vec<_> = sql
            .do_get(ticket)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        out.push(t.elapsed());
    }
    out.sort();
    out
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn write_parquet(path: &std::path::Path, spec: &MarketSpec, max_rows: u64) {
    let file = std::fs::File::create(path).unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(file, contango_market::ticks_schema(), None).unwrap();
    let mut written = 0u64;
    for chunk in MarketGenerator::new(MarketSpec {
        rows: max_rows,
        ..spec.clone()
    }) {
        w.write(&chunk.ticks).unwrap();
        written += chunk.ticks.num_rows() as u64;
    }
    w.close().unwrap();
    assert!(written > 0);
}
