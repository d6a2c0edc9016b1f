//! GPU vs CPU on the commodity suite: 1-minute OHLCV+VWAP per commodity,
//! daily stats per commodity, a rolling z-score scan and the latest price per
//! commodity, over synthetic tick tables held in memory.
//!
//! For every size it times
//! - the CPU path: Contango's SQL with `gpu = off` (DataFusion operators, all cores);
//! - the GPU path end to end: the same SQL with `gpu = on` (`GpuAggregateExec`,
//!   `GpuAnomalyScanExec`: host-side group interning, chunked transfers);
//!   `--analyze` prints EXPLAIN ANALYZE of both paths (stderr);
//! - the kernels on device-resident columns (what the GPU itself sustains),
//!   with the effective memory bandwidth (each input column read once) as a
//!   fraction of the measured device-to-device copy bandwidth;
//! - the CPU reference kernels on the same columns (aggregation on one thread,
//!   scans on all cores);
//!
//! and checks that the GPU and CPU paths return the same rows. Up to 10M rows
//! it also times the MAD scan over 200-row windows (the sliding kernel, and
//! the one that selects medians bit by bit) against the CPU references and
//! checks every score's bits. DuckDB timings
//! come from `benches/gpu_duckdb.py` over identical data (`--duckdb FILE`).
//!
//! `cargo run --release -p contango-bench --bin gpu_bench -- --rows 10000000 --out gpu.md`
//! (`--queries zscore_scan,latest_price` runs only those).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use contango_gpu_kernels::cpu::{CpuAggregator, CpuScanner, bucket_ids};
use contango_gpu_kernels::device::{DeviceInput, DeviceSeries, ScanKind};
use contango_gpu_kernels::{
    AggChunk, AggInput, AggOp, Aggregator, CudaSlice, Gpu, ScanColumn, Scanner, Series,
};
use contango_timeseries::gpu::{GpuMode, GpuOptions, GpuPlacementRule};
use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::MemTable;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

const COMMODITIES: usize = 16;
const START_US: i64 = 1_735_689_600_000_000; // 2025-01-01T00:00:00Z
const SPAN_US: i64 = 30 * 86_400_000_000;
const MINUTE: i64 = 60_000_000;
const DAY: i64 = 86_400_000_000;

/// The synthetic ticks (the same formulas as benches/gpu_duckdb.py).
struct Ticks {
    series: Vec<u32>,
    ts: Vec<i64>,
    price: Vec<f64>,
    volume: Vec<f64>,
}

fn generate(n: usize) -> Ticks {
    let per = n / COMMODITIES;
    let step = SPAN_US / per as i64;
    let n = per * COMMODITIES;
    let mut t = Ticks {
        series: vec![0; n],
        ts: vec![0; n],
        price: vec![0.0; n],
        volume: vec![0.0; n],
    };
    let threads = std::thread::available_parallelism().map_or(2, |p| p.get());
    let rows_per = n.div_ceil(threads);
    std::thread::scope(|s| {
        for (k, (((se, ts), pr), vo)) in t
            .series
            .chunks_mut(rows_per)
            .zip(t.ts.chunks_mut(rows_per))
            .zip(t.price.chunks_mut(rows_per))
            .zip(t.volume.chunks_mut(rows_per))
            .enumerate()
        {
            s.spawn(move || {
                for r in 0..se.len() {
                    let i = k * rows_per + r;
                    let (c, j) = (i / per, (i % per) as i64);
                    let cf = c as f64;
                    let jf = j as f64;
                    let mut p = 50.0
                        + 5.0 * cf
                        + 10.0 * (jf * 1e-4 + cf).sin()
                        + 0.3 * (jf * 0.7919 + cf * 1.3).sin();
                    if j % 10007 == 0 {
                        p *= 3.0;
                    }
                    se[r] = c as u32;
                    ts[r] = START_US + j * step;
                    pr[r] = p;
                    vo[r] = (1 + (j * 7919 + c as i64 * 104_729) % 500) as f64;
                }
            });
        }
    });
    t
}

fn table(t: &Ticks, partitions: usize) -> MemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("commodity", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("price", DataType::Float64, false),
        Field::new("volume", DataType::Float64, false),
    ]));
    let names: Vec<String> = (0..COMMODITIES).map(|c| format!("C{c:02}")).collect();
    let n = t.ts.len();
    // Batches of up to 1M rows, at least four per partition, so that every
    // partition has rows (as a scan splits Iceberg files across partitions).
    let batch = n.div_ceil(partitions * 4).clamp(1, 1 << 20);
    let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); partitions];
    for (k, start) in (0..n).step_by(batch).enumerate() {
        let end = (start + batch).min(n);
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    t.series[start..end].iter().map(|c| &names[*c as usize]),
                )),
                Arc::new(
                    TimestampMicrosecondArray::from(t.ts[start..end].to_vec()).with_timezone("UTC"),
                ),
                Arc::new(Float64Array::from(t.price[start..end].to_vec())),
                Arc::new(Float64Array::from(t.volume[start..end].to_vec())),
            ],
        )
        .expect("batch");
        parts[k % partitions].push(b);
    }
    MemTable::try_new(schema, parts).expect("table")
}

fn context(mode: GpuMode, t: &Arc<MemTable>) -> SessionContext {
    let config = SessionConfig::new().with_option_extension(GpuOptions::new(mode, 0, 1 << 24));
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(GpuPlacementRule))
        .build();
    let ctx = SessionContext::new_with_state(state);
    contango_functions::register(&ctx, "UTC");
    contango_timeseries::register(&ctx);
    ctx.register_table("ticks", t.clone()).expect("register");
    ctx
}

const QUERIES: [(&str, &str); 4] = [
    (
        "ohlcv_1m",
        "SELECT commodity, time_bucket(INTERVAL '1' MINUTE, ts) AS b, open_price(price, ts) AS o, \
         max(price) AS h, min(price) AS l, close_price(price, ts) AS c, sum(volume) AS v, \
         vwap(price, volume) AS vwap FROM ticks GROUP BY 1, 2",
    ),
    (
        "daily_stats",
        "SELECT commodity, date_trunc('day', ts) AS d, count(*) AS n, avg(price) AS mean, \
         stddev(price) AS sd, min(price) AS lo, max(price) AS hi FROM ticks GROUP BY 1, 2",
    ),
    (
        "zscore_scan",
        "SELECT commodity, ts, price, score FROM anomalies('ticks', 'zscore', 20, 4)",
    ),
    (
        "latest_price",
        "SELECT commodity, max(ts) AS ts, close_price(price, ts) AS price FROM ticks GROUP BY 1",
    ),
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Result rows as sorted text with floats rounded to 9 significant digits.
fn canonical(batches: &[RecordBatch]) -> Vec<String> {
    let opts = FormatOptions::default();
    let mut rows = Vec::new();
    for b in batches {
        let fmts: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).expect("format"))
            .collect();
        for r in 0..b.num_rows() {
            let cells: Vec<String> = fmts
                .iter()
                .map(|f| {
                    let s = f.value(r).to_string();
                    match s.parse::<f64>() {
                        Ok(x) if s.contains('.') => format!("{x:.8e}"),
                        _ => s,
                    }
                })
                .collect();
            rows.push(cells.join("|"));
        }
    }
    rows.sort();
    rows
}

async fn time_sql(ctx: &SessionContext, sql: &str, reps: usize) -> (f64, Vec<RecordBatch>, String) {
    let plan = ctx
        .sql(&format!("EXPLAIN {sql}"))
        .await
        .expect("explain")
        .collect()
        .await
        .expect("explain");
    let plan_text = canonical(&plan).join("\n");
    let mut times = Vec::new();
    let mut out = Vec::new();
    for _ in 0..reps {
        let t0 = Instant::now();
        out = ctx
            .sql(sql)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        times.push(t0.elapsed().as_secs_f64());
    }
    (median(times), out, plan_text)
}

/// The tick columns on the device.
struct DeviceCols {
    series: CudaSlice<u32>,
    ts: CudaSlice<i64>,
    price: CudaSlice<f64>,
    volume: CudaSlice<f64>,
    valid: CudaSlice<u8>,
    scan: DeviceSeries,
}

fn ops_of(query: &str) -> (Vec<AggOp>, i64) {
    match query {
        "ohlcv_1m" => (
            vec![
                AggOp::First,
                AggOp::Max,
                AggOp::Min,
                AggOp::Last,
                AggOp::Sum,
                AggOp::Vwap,
            ],
            MINUTE,
        ),
        "daily_stats" => (
            vec![
                AggOp::Count,
                AggOp::Avg,
                AggOp::StddevSamp,
                AggOp::Min,
                AggOp::Max,
            ],
            DAY,
        ),
        _ => (vec![AggOp::MaxKey, AggOp::Last], 0),
    }
}

/// Minimum bytes a query must read (each input column once) per row.
fn bytes_per_row(query: &str) -> f64 {
    match query {
        "ohlcv_1m" => 4.0 + 8.0 + 8.0 + 8.0,
        "zscore_scan" => 8.0 + 1.0 + 4.0 + 9.0,
        _ => 4.0 + 8.0 + 8.0,
    }
}

/// (kernels, kernels + results copied to the host and finalized), seconds.
fn device_query(gpu: &Arc<Gpu>, d: &DeviceCols, t: &Ticks, query: &str, reps: usize) -> (f64, f64) {
    let n = t.ts.len();
    let mut times = Vec::new();
    let mut totals = Vec::new();
    for _ in 0..reps + 1 {
        gpu.synchronize().expect("sync");
        let t0 = Instant::now();
        if query == "zscore_scan" {
            let r = gpu.scan(ScanKind::ZScore, &d.scan, 20).expect("scan");
            gpu.synchronize().expect("sync");
            times.push(t0.elapsed().as_secs_f64());
            let v = gpu.download(&r.valid).expect("download");
            std::hint::black_box(v);
            totals.push(t0.elapsed().as_secs_f64());
            continue;
        }
        let (ops, width) = ops_of(query);
        let mut groups = gpu.zeros::<u32>(n).expect("alloc");
        let ng = if width == 0 {
            gpu.copy(&d.series, &mut groups).expect("copy");
            COMMODITIES
        } else {
            let first = START_US.div_euclid(width);
            let nb = ((START_US + SPAN_US).div_euclid(width) - first + 1) as u64;
            gpu.bucket_ids(&d.series, &d.ts, width, 0, first, nb, &mut groups)
                .expect("buckets");
            COMMODITIES * nb as usize
        };
        let mut agg = gpu.aggregator(&ops);
        let inputs: Vec<DeviceInput<'_>> = ops
            .iter()
            .map(|op| DeviceInput {
                values: if *op == AggOp::Sum {
                    &d.volume
                } else {
                    &d.price
                },
                valid: &d.valid,
                weight: Some(&d.volume),
                key: Some(&d.ts),
                key_valid: Some(&d.valid),
            })
            .collect();
        agg.push_device(&groups, n, ng, &inputs).expect("aggregate");
        gpu.synchronize().expect("sync");
        times.push(t0.elapsed().as_secs_f64());
        let out = agg.results(ng).expect("results");
        std::hint::black_box(out);
        totals.push(t0.elapsed().as_secs_f64());
    }
    times.remove(0); // warm-up
    totals.remove(0);
    (median(times), median(totals))
}

/// The MAD window of the large-window check (over the per-thread sort's 128).
const MAD_WINDOW: usize = 200;
/// Rows up to which the large-window MAD is checked (the CPU references sort
/// every window).
const MAD_CHECK_MAX: usize = 10_000_000;

/// The large-window MAD scan on device-resident series against the CPU
/// references: times and whether every score has the same bits.
fn mad_check(gpu: &Arc<Gpu>, d: &DeviceCols, t: &Ticks) -> String {
    let n = t.ts.len();
    // The median of 3 runs of a kernel, and its scores on the host.
    let timed = |run: &dyn Fn() -> contango_gpu_kernels::device::DeviceScan| {
        let mut times = Vec::new();
        let mut result = None;
        for _ in 0..3 {
            gpu.synchronize().expect("sync");
            let t0 = Instant::now();
            let r = run();
            gpu.synchronize().expect("sync");
            times.push(t0.elapsed().as_secs_f64());
            result = Some(r);
        }
        times.sort_by(f64::total_cmp);
        let scores = gpu.download_scan(result.expect("ran")).expect("download");
        (times[1], scores)
    };
    let (slide_s, slide) = timed(&|| gpu.scan(ScanKind::Mad, &d.scan, MAD_WINDOW).expect("scan"));
    let (select_s, select) = timed(&|| gpu.mad_select(&d.scan, MAD_WINDOW).expect("scan"));
    let (ids, starts) = series_of(t);
    let ones = vec![1u8; n];
    let t1 = Instant::now();
    let c = CpuScanner
        .mad_zscore(
            &t.price,
            &ones,
            Series {
                ids: &ids,
                starts: &starts,
            },
            MAD_WINDOW,
        )
        .expect("cpu");
    let cpu_s = t1.elapsed().as_secs_f64();
    let same = |g: &ScanColumn| {
        c.valid == g.valid
            && (0..n).all(|i| c.valid[i] == 0 || c.values[i].to_bits() == g.values[i].to_bits())
    };
    let same = same(&slide) && same(&select);
    let line = format!(
        "| {n} | {} | {} | {} | {} |\n",
        fmt_s(Some(slide_s)),
        fmt_s(Some(select_s)),
        fmt_s(Some(cpu_s)),
        if same { "yes" } else { "NO" }
    );
    eprint!("MAD {line}");
    line
}

fn series_of(t: &Ticks) -> (Vec<u32>, Vec<u64>) {
    let heads: Vec<bool> = (0..t.ts.len())
        .map(|i| i == 0 || t.series[i] != t.series[i - 1])
        .collect();
    Series::from_heads(&heads)
}

fn cpu_query(t: &Ticks, query: &str) -> f64 {
    let n = t.ts.len();
    let ones = vec![1u8; n];
    let t0 = Instant::now();
    if query == "zscore_scan" {
        let (ids, starts) = series_of(t);
        let t1 = Instant::now();
        let z = CpuScanner
            .zscore(
                &t.price,
                &ones,
                Series {
                    ids: &ids,
                    starts: &starts,
                },
                20,
            )
            .expect("cpu");
        std::hint::black_box(z);
        return t1.elapsed().as_secs_f64();
    }
    let (ops, width) = ops_of(query);
    let (groups, ng) = if width == 0 {
        (t.series.clone(), COMMODITIES)
    } else {
        let first = START_US.div_euclid(width);
        let nb = ((START_US + SPAN_US).div_euclid(width) - first + 1) as u64;
        (
            bucket_ids(&t.series, &t.ts, width, 0, first, nb),
            COMMODITIES * nb as usize,
        )
    };
    let mut agg: Box<dyn Aggregator> = Box::new(CpuAggregator::new(&ops));
    let inputs = ops
        .iter()
        .map(|op| AggInput {
            values: if *op == AggOp::Sum {
                &t.volume
            } else {
                &t.price
            },
            valid: &ones,
            weight: &t.volume,
            key: &t.ts,
            key_valid: &ones,
        })
        .collect();
    agg.push(&AggChunk {
        groups: &groups,
        num_groups: ng,
        inputs,
    })
    .expect("cpu");
    std::hint::black_box(agg.finish(ng).expect("cpu"));
    t0.elapsed().as_secs_f64()
}

/// Device-to-device copy bandwidth (bytes read + written per second).
fn copy_bandwidth(gpu: &Arc<Gpu>) -> f64 {
    let n = 1usize << 28; // 2 GiB of f64
    let a = gpu.zeros::<f64>(n).expect("alloc");
    let mut b = gpu.zeros::<f64>(n).expect("alloc");
    let mut times = Vec::new();
    for _ in 0..6 {
        gpu.synchronize().expect("sync");
        let t0 = Instant::now();
        gpu.copy(&a, &mut b).expect("copy");
        gpu.synchronize().expect("sync");
        times.push(t0.elapsed().as_secs_f64());
    }
    times.remove(0);
    2.0 * 8.0 * n as f64 / median(times)
}

fn fmt_s(x: Option<f64>) -> String {
    match x {
        Some(s) if s < 0.01 => format!("{:.2} ms", s * 1e3),
        Some(s) => format!("{s:.3} s"),
        None => "—".into(),
    }
}

fn rate(n: usize, s: Option<f64>) -> String {
    match s {
        Some(s) => format!("{:.1}", n as f64 / s / 1e6),
        None => "—".into(),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let sizes: Vec<usize> = arg("--rows")
        .unwrap_or_else(|| "10000000".into())
        .split(',')
        .map(|s| s.parse().expect("--rows N[,N]"))
        .collect();
    let reps: usize = arg("--reps").map_or(3, |s| s.parse().expect("--reps"));
    let kernels_only = args.iter().any(|a| a == "--kernels-only");
    let e2e_scan_max: usize = arg("--e2e-scan-max").map_or(usize::MAX, |s| s.parse().expect("n"));
    // EXPLAIN ANALYZE of every end-to-end query, on stderr (where the time goes).
    let analyze = args.iter().any(|a| a == "--analyze");
    // Only these queries (comma-separated names; default: all four).
    let only: Option<Vec<String>> =
        arg("--queries").map(|q| q.split(',').map(str::to_string).collect());
    let duckdb: HashMap<String, f64> = arg("--duckdb")
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|text| {
            text.lines()
                .filter_map(|l| {
                    let mut it = l.split_whitespace();
                    Some((
                        format!("{}:{}", it.next()?, it.next()?),
                        it.next()?.parse().ok()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let gpu = match Gpu::open(0) {
        Ok(g) => Some(g),
        Err(e) => {
            eprintln!("no GPU ({e}): CPU columns only");
            None
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |p| p.get());
    let mut md = String::new();
    let device = gpu
        .as_ref()
        .map_or("none".to_string(), |g| g.name().to_string());
    let bw = gpu.as_ref().map(copy_bandwidth);
    md.push_str(&format!(
        "GPU: {device}; device-to-device copy {}; CPU: {cores} cores; {reps} runs each (median)\n\n",
        bw.map_or("—".into(), |b| format!("{:.2} TB/s", b / 1e12))
    ));
    md.push_str("| rows | query | DuckDB | CPU path (gpu=off) | GPU path (gpu=on) | GPU kernels, resident | + results to host | CPU reference kernels (aggregation 1 thread, scans all cores) | CPU/DuckDB | CPU path / GPU kernels | kernels' effective bandwidth |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
    let mut mad_lines: Vec<String> = Vec::new();
    for &n in &sizes {
        let t0 = Instant::now();
        let t = generate(n);
        let n = t.ts.len();
        let mem = Arc::new(table(&t, cores));
        eprintln!("{n} rows generated in {:.1} s", t0.elapsed().as_secs_f64());
        let off = context(GpuMode::Off, &mem);
        // Without a GPU, gpu = on runs the GPU operators on the CPU reference kernels.
        let on = Some(context(GpuMode::On, &mem));
        let dev = gpu.as_ref().map(|g| {
            let ones = vec![1u8; n];
            let (ids, starts) = series_of(&t);
            DeviceCols {
                series: g.upload(&t.series).expect("upload"),
                ts: g.upload(&t.ts).expect("upload"),
                price: g.upload(&t.price).expect("upload"),
                volume: g.upload(&t.volume).expect("upload"),
                valid: g.upload(&ones).expect("upload"),
                scan: g
                    .upload_series(
                        &t.price,
                        &ones,
                        Series {
                            ids: &ids,
                            starts: &starts,
                        },
                    )
                    .expect("upload"),
            }
        });
        // Medians of `reps` end-to-end runs at every size, as DuckDB's.
        let e2e_reps = reps;
        for (name, sql) in QUERIES {
            if only.as_ref().is_some_and(|q| !q.iter().any(|x| x == name)) {
                continue;
            }
            let e2e = !kernels_only && (name != "zscore_scan" || n <= e2e_scan_max);
            let (cpu_s, cpu_out, _) = if e2e {
                let (s, o, p) = time_sql(&off, sql, e2e_reps).await;
                (Some(s), o, p)
            } else {
                (None, vec![], String::new())
            };
            let mut gpu_s = None;
            if let (Some(on), true) = (&on, e2e) {
                let (s, out, plan) = time_sql(on, sql, e2e_reps).await;
                assert!(plan.contains("GpuA"), "{name}: not on the GPU:\n{plan}");
                let (a, b) = (canonical(&out), canonical(&cpu_out));
                if a != b {
                    let diff = a.iter().zip(&b).find(|(x, y)| x != y);
                    eprintln!(
                        "MISMATCH {name} at {n} rows: {} vs {} rows; first diff {diff:?}",
                        a.len(),
                        b.len()
                    );
                } else {
                    eprintln!("{name} {n}: GPU and CPU paths agree on {} rows", a.len());
                }
                gpu_s = Some(s);
            }
            if analyze && e2e {
                for (mode, ctx) in [("off", &off), ("on", on.as_ref().expect("on"))] {
                    let plan = ctx
                        .sql(&format!("EXPLAIN ANALYZE {sql}"))
                        .await
                        .expect("explain analyze")
                        .collect()
                        .await
                        .expect("explain analyze");
                    let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)
                        .expect("format");
                    eprintln!("EXPLAIN ANALYZE {name} {n} gpu={mode}\n{text}");
                }
            }
            let (kern, kern_total) = match (&gpu, &dev) {
                (Some(g), Some(d)) => {
                    let (k, total) = device_query(g, d, &t, name, reps.max(5));
                    (Some(k), Some(total))
                }
                _ => (None, None),
            };
            let cpu_k = cpu_query(&t, name);
            let duck = duckdb.get(&format!("{n}:{name}")).copied();
            let ratio = match (cpu_s, duck) {
                (Some(c), Some(d)) => format!("{:.2}", c / d),
                _ => "—".into(),
            };
            let kratio = match (kern, cpu_s) {
                (Some(k), Some(c)) => format!("{:.0}×", c / k),
                _ => "—".into(),
            };
            let eff = match (kern, bw) {
                (Some(k), Some(b)) => {
                    let bytes = bytes_per_row(name) * n as f64;
                    format!(
                        "{:.0} GB/s ({:.0}% of copy)",
                        bytes / k / 1e9,
                        100.0 * bytes / k / b
                    )
                }
                _ => "—".into(),
            };
            let line = format!(
                "| {n} | {name} | {} | {} ({} M rows/s) | {} ({} M rows/s) | {} ({} M rows/s) | {} | {} | {ratio} | {kratio} | {eff} |\n",
                fmt_s(duck),
                fmt_s(cpu_s),
                rate(n, cpu_s),
                fmt_s(gpu_s),
                rate(n, gpu_s),
                fmt_s(kern),
                rate(n, kern),
                fmt_s(kern_total),
                fmt_s(Some(cpu_k)),
            );
            eprint!("{line}");
            md.push_str(&line);
        }
        if let (Some(g), Some(d)) = (&gpu, &dev)
            && n <= MAD_CHECK_MAX
        {
            mad_lines.push(mad_check(g, d, &t));
        }
    }
    if !mad_lines.is_empty() {
        md.push_str(&format!(
            "\nMAD scan over {MAD_WINDOW}-row windows, device-resident: sliding sorted windows \
             (`scan_mad_slide`) and the bitwise selection of medians (`scan_mad_select`) on the \
             GPU, against the CPU references on all cores:\n\n\
             | rows | GPU, sliding | GPU, selection | CPU references | identical |\n\
             |---|---|---|---|---|\n{}",
            mad_lines.concat()
        ));
    }
    println!("{md}");
    if let Some(p) = arg("--out") {
        std::fs::write(p, &md).expect("write --out");
    }
}
