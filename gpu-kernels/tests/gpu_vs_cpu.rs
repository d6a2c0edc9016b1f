//! The same cases on the GPU and on the CPU references, compared. Where no
//! GPU is found each test says so on stderr and checks nothing else (the CPU
//! references have their own tests, and the SQL tests run them everywhere).

use std::sync::Arc;

use contango_gpu_kernels::cpu::{CpuAggregator, CpuScanner, bucket_ids};
use contango_gpu_kernels::{
    AggChunk, AggColumn, AggInput, AggOp, Aggregator, Gpu, GpuError, LOG_TOLERANCE, SUM_TOLERANCE,
    ScanColumn, Scanner, Series, Times, Window, close,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn gpu(test: &str) -> Option<Arc<Gpu>> {
    match Gpu::open(0) {
        Ok(g) => {
            eprintln!("{test}: running on {}", g.name());
            Some(g)
        }
        Err(e) => {
            eprintln!("{test}: SKIPPED on this machine: {e}");
            None
        }
    }
}

/// Ticks sorted by series then time: random walks with spikes, a negative
/// settlement, stale runs and nulls.
struct Ticks {
    series: Vec<u32>,
    ts: Vec<i64>,
    price: Vec<f64>,
    volume: Vec<f64>,
    valid: Vec<u8>,
    heads: Vec<bool>,
}

fn ticks(rng: &mut StdRng, nseries: u32, per_series: usize) -> Ticks {
    let mut t = Ticks {
        series: vec![],
        ts: vec![],
        price: vec![],
        volume: vec![],
        valid: vec![],
        heads: vec![],
    };
    for s in 0..nseries {
        let mut p = 20.0 + 80.0 * rng.random::<f64>();
        let mut ts = 1_700_000_000_000_000i64 + rng.random_range(0..60_000_000);
        for i in 0..per_series {
            ts += rng.random_range(1..5_000_000);
            if rng.random::<f64>() < 0.05 {
                // a stale run: keep the price
            } else {
                p *= 1.0 + 0.001 * (rng.random::<f64>() - 0.5);
            }
            let mut x = p;
            if rng.random::<f64>() < 0.002 {
                x = p * 3.0;
            }
            if rng.random::<f64>() < 0.0005 {
                x = -36.98;
            }
            t.series.push(s);
            t.ts.push(ts);
            t.price.push(x);
            t.volume.push(rng.random_range(1..500) as f64);
            t.valid.push((rng.random::<f64>() > 0.01) as u8);
            t.heads.push(i == 0);
        }
    }
    t
}

const OPS: [AggOp; 14] = [
    AggOp::MinKey,
    AggOp::MaxKey,
    AggOp::Count,
    AggOp::Sum,
    AggOp::Avg,
    AggOp::Min,
    AggOp::Max,
    AggOp::First,
    AggOp::Last,
    AggOp::Vwap,
    AggOp::VarSamp,
    AggOp::VarPop,
    AggOp::StddevSamp,
    AggOp::StddevPop,
];

fn run(agg: &mut dyn Aggregator, t: &Ticks, groups: &[u32], chunk: usize) {
    let ones = vec![1u8; t.ts.len()];
    let mut seen = 0usize;
    for start in (0..groups.len()).step_by(chunk) {
        let end = (start + chunk).min(groups.len());
        seen = seen.max(
            groups[start..end]
                .iter()
                .map(|g| *g as usize + 1)
                .max()
                .unwrap_or(0),
        );
        // Each op gets only what it reads, as the SQL operator gives it.
        let inputs = OPS
            .iter()
            .map(|op| AggInput {
                values: if op.reads_values() {
                    &t.price[start..end]
                } else {
                    &[]
                },
                valid: &t.valid[start..end],
                weight: if op.weighted() {
                    &t.volume[start..end]
                } else {
                    &[]
                },
                key: if op.keyed() { &t.ts[start..end] } else { &[] },
                key_valid: if op.keyed() { &ones[start..end] } else { &[] },
            })
            .collect();
        agg.push(&AggChunk {
            groups: &groups[start..end],
            num_groups: seen,
            inputs,
        })
        .unwrap();
    }
}

fn compare(op: AggOp, gpu: &AggColumn, cpu: &AggColumn) {
    match (gpu, cpu) {
        (AggColumn::Count(a), AggColumn::Count(b)) => assert_eq!(a, b, "{op:?}"),
        (AggColumn::Int(a), AggColumn::Int(b)) => assert_eq!(a, b, "{op:?}"),
        (AggColumn::Float(a), AggColumn::Float(b)) => {
            assert_eq!(a.len(), b.len());
            let exact = matches!(op, AggOp::Min | AggOp::Max | AggOp::First | AggOp::Last);
            for (k, (x, y)) in a.iter().zip(b).enumerate() {
                match (x, y) {
                    (None, None) => {}
                    (Some(x), Some(y)) if exact => {
                        assert_eq!(x.to_bits(), y.to_bits(), "{op:?} group {k}: {x} vs {y}")
                    }
                    // Variance of nearly constant groups: compare absolutely
                    // against the spread of the prices.
                    (Some(x), Some(y)) => assert!(
                        close(*x, *y, SUM_TOLERANCE) || (x - y).abs() < 1e-9,
                        "{op:?} group {k}: {x} vs {y}"
                    ),
                    _ => panic!("{op:?} group {k}: {x:?} vs {y:?}"),
                }
            }
        }
        _ => panic!("{op:?}: different kinds"),
    }
}

#[test]
fn grouped_aggregation_matches_the_cpu() {
    let Some(gpu) = gpu("grouped_aggregation_matches_the_cpu") else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(7);
    let t = ticks(&mut rng, 40, 25_000);
    // 1-minute buckets per series (clustered ids, ~1M rows) and random ids
    // (no locality at all), in chunks that cross group boundaries.
    let first = t.ts.iter().min().unwrap().div_euclid(60_000_000);
    let last = t.ts.iter().max().unwrap().div_euclid(60_000_000);
    let nb = (last - first + 1) as u64;
    let clustered = bucket_ids(&t.series, &t.ts, 60_000_000, 0, first, nb);
    let scattered: Vec<u32> = (0..t.ts.len()).map(|_| rng.random_range(0..5000)).collect();
    for (name, groups, chunk) in [
        ("clustered", &clustered, 300_007usize),
        ("scattered", &scattered, 1 << 20),
        ("clustered-one-chunk", &clustered, usize::MAX / 2),
    ] {
        let ng = groups.iter().max().map(|g| *g as usize + 1).unwrap();
        let mut c = CpuAggregator::new(&OPS);
        run(&mut c, &t, groups, chunk);
        let mut g = gpu.aggregator(&OPS);
        run(&mut g, &t, groups, chunk);
        let (c, g) = (
            Box::new(c).finish(ng).unwrap(),
            Box::new(g).finish(ng).unwrap(),
        );
        for (i, op) in OPS.iter().enumerate() {
            compare(*op, &g[i], &c[i]);
        }
        eprintln!("{name}: {ng} groups agree");
    }
}

#[test]
fn device_bucket_ids_and_masks_match_the_cpu() {
    let Some(gpu) = gpu("device_bucket_ids_and_masks_match_the_cpu") else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(11);
    let t = ticks(&mut rng, 8, 10_000);
    let width = 300_000_000;
    let origin = -7_000_000; // before and after the origin both floor
    let first =
        t.ts.iter()
            .map(|x| (x - origin).div_euclid(width))
            .min()
            .unwrap();
    let nb = 200_000;
    let expected = bucket_ids(&t.series, &t.ts, width, origin, first, nb);
    let (s, ts) = (gpu.upload(&t.series).unwrap(), gpu.upload(&t.ts).unwrap());
    let mut out = gpu.upload(&vec![u32::MAX; t.ts.len()]).unwrap();
    gpu.bucket_ids(&s, &ts, width, origin, first, nb, &mut out)
        .unwrap();
    assert_eq!(gpu.download(&out).unwrap(), expected);
    let (x, v) = (gpu.upload(&t.price).unwrap(), gpu.upload(&t.valid).unwrap());
    let mut m = gpu.upload(&vec![7u8; t.ts.len()]).unwrap();
    gpu.mask_range(&x, 0.0, 60.0, &v, &mut m).unwrap();
    let want: Vec<u8> = t
        .price
        .iter()
        .zip(&t.valid)
        .map(|(p, v)| (*v != 0 && *p >= 0.0 && *p <= 60.0) as u8)
        .collect();
    assert_eq!(gpu.download(&m).unwrap(), want);
}

#[test]
fn scans_match_the_cpu() {
    let Some(gpu) = gpu("scans_match_the_cpu") else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(3);
    let t = ticks(&mut rng, 30, 20_000);
    let (ids, starts) = Series::from_heads(&t.heads);
    let s = Series {
        ids: &ids,
        starts: &starts,
    };
    // 129 and 500: MAD windows beyond the per-thread sort (sliding sorted
    // windows; the bitwise selection below).
    for window in [2usize, 20, 100, 129, 500] {
        same_bits(
            &format!("zscore({window})"),
            &CpuScanner.zscore(&t.price, &t.valid, s, window).unwrap(),
            &gpu.zscore(&t.price, &t.valid, s, window).unwrap(),
        );
        same_bits(
            &format!("mad({window})"),
            &CpuScanner
                .mad_zscore(&t.price, &t.valid, s, window)
                .unwrap(),
            &gpu.mad_zscore(&t.price, &t.valid, s, window).unwrap(),
        );
    }
    let d = gpu.upload_series(&t.price, &t.valid, s).unwrap();
    for window in [129usize, 500] {
        let r = gpu.mad_select(&d, window).unwrap();
        same_bits(
            &format!("mad_select({window})"),
            &CpuScanner
                .mad_zscore(&t.price, &t.valid, s, window)
                .unwrap(),
            &gpu.download_scan(r).unwrap(),
        );
    }
    let (c, g) = (
        CpuScanner.log_return(&t.price, &t.valid, s).unwrap(),
        gpu.log_return(&t.price, &t.valid, s).unwrap(),
    );
    assert_eq!(c.valid, g.valid);
    for i in 0..c.values.len() {
        if c.valid[i] != 0 {
            assert!(
                close(c.values[i], g.values[i], LOG_TOLERANCE)
                    || (c.values[i] - g.values[i]).abs() < 1e-15
            );
        }
    }
    assert_eq!(
        CpuScanner.stale_runs(&t.price, &t.valid, s).unwrap(),
        gpu.stale_runs(&t.price, &t.valid, s).unwrap()
    );
    // Time windows of 10 s, 1 min and 10 min, some rows without a time.
    let ts_valid: Vec<u8> = (0..t.ts.len()).map(|i| u8::from(i % 211 != 5)).collect();
    let times = Times {
        ts: &t.ts,
        valid: &ts_valid,
    };
    for width in [10_000_000i64, 60_000_000, 600_000_000] {
        let (c, g) = (
            CpuScanner
                .zscore_time(&t.price, &t.valid, times, s, width)
                .unwrap(),
            gpu.zscore_time(&t.price, &t.valid, times, s, width)
                .unwrap(),
        );
        assert!(c.valid.iter().any(|v| *v != 0), "width {width}: no scores");
        same_bits(&format!("zscore_time({width})"), &c, &g);
    }
    // Jump scores with the returns kept on the device: equal to the CPU's
    // jump scores within the log tolerance (the returns differ in the last
    // bits between the device's log and the host's).
    for window in [Window::Rows(20), Window::Micros(600_000_000)] {
        let (c, g) = (
            CpuScanner
                .jump_zscore(&t.price, &t.valid, times, s, window)
                .unwrap(),
            gpu.jump_zscore(&t.price, &t.valid, times, s, window)
                .unwrap(),
        );
        assert!(c.valid.iter().any(|v| *v != 0), "jump {window}: no scores");
        assert_eq!(c.valid, g.valid, "jump({window}) validity");
        for i in 0..c.values.len() {
            if c.valid[i] != 0 {
                assert!(
                    close(c.values[i], g.values[i], 1e-6),
                    "jump({window}) row {i}: {} vs {}",
                    c.values[i],
                    g.values[i]
                );
            }
        }
    }
}

/// The same validity and, where valid, the same bits.
fn same_bits(what: &str, cpu: &ScanColumn, gpu: &ScanColumn) {
    assert_eq!(cpu.valid, gpu.valid, "{what} validity");
    for i in 0..cpu.values.len() {
        if cpu.valid[i] != 0 {
            assert_eq!(
                cpu.values[i].to_bits(),
                gpu.values[i].to_bits(),
                "{what} row {i}"
            );
        }
    }
}

/// Chunks staged through pinned host memory while the stream is busy: each
/// chunk's copy runs long after `push` returned and the host wrote the next
/// chunks, so a staging buffer reused before its copy ran would make every
/// group sum some later chunk's rows (what once made a SQL test's daily
/// averages wrong under concurrency).
#[test]
fn staged_chunks_survive_a_busy_stream() {
    let Some(gpu) = gpu("staged_chunks_survive_a_busy_stream") else {
        return;
    };
    const N: usize = 4096;
    const CHUNKS: usize = 8;
    let valid = vec![1u8; N];
    let mut agg = gpu.aggregator(&[AggOp::Count, AggOp::Sum]);
    let push = |agg: &mut dyn Aggregator, k: usize| {
        let groups = vec![k as u32; N];
        let values: Vec<f64> = (0..N).map(|i| (k * N + i) as f64).collect();
        let input = || AggInput {
            values: &values,
            valid: &valid,
            weight: &values,
            key: &[],
            key_valid: &[],
        };
        agg.push(&AggChunk {
            groups: &groups,
            num_groups: CHUNKS,
            inputs: vec![input(), input()],
        })
        .unwrap();
    };
    // The first chunk allocates every buffer (allocation may synchronize);
    // the rest reuse them behind a stream held for about a second.
    push(&mut agg, 0);
    gpu.hold(1_500_000_000).unwrap();
    for k in 1..CHUNKS {
        push(&mut agg, k);
    }
    let out = agg.results(CHUNKS).unwrap();
    let expected: Vec<Option<f64>> = (0..CHUNKS)
        .map(|k| Some((0..N).map(|i| (k * N + i) as f64).sum()))
        .collect();
    assert_eq!(out[0], AggColumn::Count(vec![N as u64; CHUNKS]));
    assert_eq!(out[1], AggColumn::Float(expected));
}

#[test]
fn exhausted_device_memory_is_an_error() {
    let Some(gpu) = gpu("exhausted_device_memory_is_an_error") else {
        return;
    };
    let mut g = gpu.aggregator(&OPS);
    let groups = [0u32];
    let x = [1.0];
    let v = [1u8];
    let k = [1i64];
    let inputs = OPS
        .iter()
        .map(|_| AggInput {
            values: &x,
            valid: &v,
            weight: &x,
            key: &k,
            key_valid: &v,
        })
        .collect();
    // More groups than the card could ever hold accumulators for.
    let r = g.push(&AggChunk {
        groups: &groups,
        num_groups: 4_000_000_000,
        inputs,
    });
    assert!(matches!(r, Err(GpuError::OutOfMemory(_))), "{r:?}");
}

#[test]
fn kernels_compile_with_nvrtc() {
    // Runs wherever libnvrtc is found (scripts/test.sh installs NVIDIA's
    // NVRTC wheel, so CI compiles the CUDA source without a GPU).
    for arch in ["compute_80", "compute_90"] {
        match contango_gpu_kernels::device::compile(arch) {
            Ok(ptx) => {
                let text = ptx.to_src();
                for kernel in contango_gpu_kernels::device::KERNELS {
                    assert!(
                        text.contains(kernel),
                        "{arch}: {kernel} missing from the PTX"
                    );
                }
                eprintln!("kernels compile for {arch}: {} bytes of PTX", text.len());
            }
            Err(GpuError::NoDevice(e)) => {
                eprintln!("kernels_compile_with_nvrtc: SKIPPED on this machine: {e}");
                return;
            }
            Err(e) => panic!("{arch}: {e}"),
        }
    }
}

#[test]
fn no_gpu_is_reported_not_fatal() {
    // Wherever this runs, asking for a device that does not exist is an
    // error value, never a panic.
    let r = Gpu::open(1_000);
    assert!(matches!(r, Err(GpuError::NoDevice(_))), "{r:?}");
}
