//! The stream pipeline without a broker: JSON messages → `ChunkBuilder`
//! (parse + validate + Arrow) → Iceberg appends of `batch_rows` with the
//! offsets in the snapshot summary, as the committer does. Shows what the
//! connector itself sustains on this machine, independent of the broker.
//!
//! `cargo run --release -p contango-bench --bin stream_pipeline -- 2000000`

use std::collections::HashMap;
use std::time::Instant;

use contango_catalog::guarded_commit::append_on;
use contango_catalog::writer::{TableAppender, ensure_table};
use contango_connector::StreamConfig;
use contango_connector::chunk::{ChunkBuilder, ticks_schema};
use contango_connector::record::Validator;
use contango_market::{MarketGenerator, MarketSpec};
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use iceberg::spec::Transform;
use iceberg::{NamespaceIdent, TableIdent};

#[tokio::main]
async fn main() {
    let rows: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("ROWS must be a number"))
        .unwrap_or(2_000_000);
    let batch_rows = 100_000;

    // Messages in the reference JSON format (not timed).
    let mut messages: Vec<String> = Vec::with_capacity(rows as usize);
    for chunk in MarketGenerator::new(MarketSpec {
        rows,
        defect_rate: 0.0,
        ..MarketSpec::default()
    }) {
        let t = &chunk.ticks;
        let (c, ts, p, v, s) = (
            t.column(0).as_string::<i32>(),
            t.column(1).as_primitive::<TimestampMicrosecondType>(),
            t.column(2).as_primitive::<Float64Type>(),
            t.column(3).as_primitive::<Int64Type>(),
            t.column(4).as_string::<i32>(),
        );
        for i in 0..t.num_rows() {
            let stamp = chrono::DateTime::from_timestamp_micros(ts.value(i))
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            messages.push(format!(
                r#"{{"commodity":"{}","price":{},"volume":{},"timestamp":"{stamp}","source":"{}"}}"#,
                c.value(i),
                p.value(i),
                v.value(i),
                s.value(i)
            ));
        }
    }
    let n = messages.len();

    // 1. Parse + validate + build Arrow chunks (the consumer thread's work).
    let config = StreamConfig::default();
    let mut builder = ChunkBuilder::new(Validator::new(&config), false);
    let now = chrono::Utc::now().timestamp_micros();
    let t = Instant::now();
    let mut chunks: Vec<RecordBatch> = Vec::new();
    for (offset, m) in messages.iter().enumerate() {
        builder.add("t", 0, offset as i64, None, Some(m.as_bytes()), None, now);
        if builder.messages() == 65_536 {
            chunks.push(builder.finish().ticks);
        }
    }
    chunks.push(builder.finish().ticks);
    let parse_s = t.elapsed().as_secs_f64();
    let accepted: usize = chunks.iter().map(|c| c.num_rows()).sum();
    assert_eq!(accepted, n, "every message is valid");

    // 2. Write + commit in micro-batches (the committer's work).
    let dir = tempfile::tempdir().unwrap();
    let config = contango::config::Config::ephemeral(dir.path(), Default::default());
    let app = contango::app::App::open(config).await.unwrap();
    let catalog = app.catalog.catalog().clone();
    let ident = TableIdent::new(NamespaceIdent::new("bench".into()), "stream".into());
    ensure_table(
        catalog.as_ref(),
        &ident,
        &ticks_schema(false),
        &[("ts", Transform::Day), ("commodity", Transform::Identity)],
    )
    .await
    .unwrap();
    let all = concat_batches(&ticks_schema(false), &chunks).unwrap();
    let t = Instant::now();
    let mut commits = 0;
    let mut start = 0;
    while start < all.num_rows() {
        let len = batch_rows.min(all.num_rows() - start);
        let batch = all.slice(start, len);
        let table = catalog.load_table(&ident).await.unwrap();
        let mut out = TableAppender::new(table.clone()).unwrap();
        out.write(&batch).await.unwrap();
        let files = out.finish().await.unwrap();
        let props = HashMap::from([(
            "contango.kafka.offsets".to_string(),
            format!("{{\"t:0\":{}}}", start + len),
        )]);
        append_on(catalog.clone(), &table, files, props)
            .await
            .unwrap();
        commits += 1;
        start += len;
    }
    let write_s = t.elapsed().as_secs_f64();
    let parse_rate = n as f64 / parse_s;
    let write_rate = n as f64 / write_s;
    println!("messages: {n}");
    println!("parse+validate+arrow: {parse_rate:.0} msg/s (one core)");
    println!(
        "write+commit: {write_rate:.0} rows/s ({commits} commits of {batch_rows} rows, {:.0} ms each)",
        1000.0 * write_s / commits as f64
    );
    println!(
        "pipelined (consumer thread and committer on separate cores): ~{:.0} msg/s",
        parse_rate.min(write_rate)
    );
}
