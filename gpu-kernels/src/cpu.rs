//! CPU references of every kernel: the path taken where there is no GPU, the
//! oracle the GPU is checked against, and the implementation of the SQL
//! window functions `zscore`, `mad_zscore` and `log_return`.

use crate::ordered::{f2o, i2o, o2f, o2i};
use crate::{
    AggChunk, AggColumn, AggOp, Aggregator, GpuError, Runs, ScanColumn, Scanner, Series, Times,
};

/// A compensated (Neumaier) running sum.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Neumaier {
    /// The running sum.
    pub sum: f64,
    /// The lost low-order part.
    pub compensation: f64,
}

impl Neumaier {
    /// Adds `x`.
    #[inline]
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    /// The compensated total.
    #[inline]
    pub fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// Accumulators of one aggregate, per group.
#[derive(Debug)]
struct Acc {
    op: AggOp,
    count: Vec<u64>,
    s1: Vec<Neumaier>,
    s2: Vec<Neumaier>,
    /// Min/max (ordered float), best key (ordered int) or the variance shift.
    ext: Vec<u64>,
    row: Vec<u64>,
    picked: Vec<Option<f64>>,
}

impl Acc {
    fn new(op: AggOp) -> Self {
        Self {
            op,
            count: Vec::new(),
            s1: Vec::new(),
            s2: Vec::new(),
            ext: Vec::new(),
            row: Vec::new(),
            picked: Vec::new(),
        }
    }

    fn ext_init(&self) -> u64 {
        match self.op {
            AggOp::Min | AggOp::First | AggOp::MinKey => u64::MAX,
            _ => 0,
        }
    }

    fn grow(&mut self, n: usize) {
        if self.count.len() >= n {
            return;
        }
        let init = self.ext_init();
        self.count.resize(n, 0);
        self.s1.resize(n, Neumaier::default());
        self.s2.resize(n, Neumaier::default());
        self.ext.resize(n, init);
        self.row.resize(n, 0);
        self.picked.resize(n, None);
    }
}

/// The CPU reference of grouped aggregation.
#[derive(Debug)]
pub struct CpuAggregator {
    accs: Vec<Acc>,
    rows: u64,
}

impl CpuAggregator {
    /// Accumulates `ops`.
    pub fn new(ops: &[AggOp]) -> Self {
        Self {
            accs: ops.iter().map(|op| Acc::new(*op)).collect(),
            rows: 0,
        }
    }
}

impl Aggregator for CpuAggregator {
    fn push(&mut self, chunk: &AggChunk<'_>) -> Result<(), GpuError> {
        chunk.check(self.accs.iter().map(|a| a.op))?;
        let g = chunk.groups;
        for (acc, input) in self.accs.iter_mut().zip(&chunk.inputs) {
            acc.grow(chunk.num_groups);
            let (x, v) = (input.values, input.valid);
            match acc.op {
                AggOp::Count => {
                    for i in 0..g.len() {
                        acc.count[g[i] as usize] += v[i] as u64;
                    }
                }
                AggOp::Sum | AggOp::Avg => {
                    for i in 0..g.len() {
                        if v[i] != 0 {
                            let k = g[i] as usize;
                            acc.count[k] += 1;
                            acc.s1[k].add(x[i]);
                        }
                    }
                }
                AggOp::Min | AggOp::Max => {
                    let max = acc.op == AggOp::Max;
                    for i in 0..g.len() {
                        if v[i] != 0 {
                            let k = g[i] as usize;
                            acc.count[k] += 1;
                            let e = f2o(x[i]);
                            acc.ext[k] = if max {
                                acc.ext[k].max(e)
                            } else {
                                acc.ext[k].min(e)
                            };
                        }
                    }
                }
                AggOp::Vwap => {
                    let w = input.weight;
                    for i in 0..g.len() {
                        if v[i] != 0 && x[i].is_finite() {
                            let k = g[i] as usize;
                            acc.count[k] += 1;
                            acc.s1[k].add(x[i] * w[i]);
                            acc.s2[k].add(w[i]);
                        }
                    }
                }
                AggOp::VarSamp | AggOp::VarPop | AggOp::StddevSamp | AggOp::StddevPop => {
                    for i in 0..g.len() {
                        if v[i] != 0 {
                            let k = g[i] as usize;
                            if acc.count[k] == 0 {
                                acc.ext[k] = x[i].to_bits();
                            }
                            acc.count[k] += 1;
                            let d = x[i] - f64::from_bits(acc.ext[k]);
                            acc.s1[k].add(d);
                            acc.s2[k].add(d * d);
                        }
                    }
                }
                AggOp::MinKey | AggOp::MaxKey => {
                    let max = acc.op == AggOp::MaxKey;
                    let (key, kv) = (input.key, input.key_valid);
                    for i in 0..g.len() {
                        if kv[i] != 0 {
                            let k = g[i] as usize;
                            acc.count[k] += 1;
                            let e = i2o(key[i]);
                            acc.ext[k] = if max {
                                acc.ext[k].max(e)
                            } else {
                                acc.ext[k].min(e)
                            };
                        }
                    }
                }
                AggOp::First | AggOp::Last => {
                    let last = acc.op == AggOp::Last;
                    let (key, kv) = (input.key, input.key_valid);
                    for i in 0..g.len() {
                        if kv[i] == 0 {
                            continue;
                        }
                        let k = g[i] as usize;
                        let e = i2o(key[i]);
                        let better = acc.count[k] == 0
                            || if last {
                                e >= acc.ext[k]
                            } else {
                                e < acc.ext[k]
                            };
                        acc.count[k] += 1;
                        if better {
                            acc.ext[k] = e;
                            acc.row[k] = self.rows + i as u64;
                            acc.picked[k] = (v[i] != 0).then(|| x[i]);
                        }
                    }
                }
            }
        }
        self.rows += g.len() as u64;
        Ok(())
    }

    fn finish(mut self: Box<Self>, num_groups: usize) -> Result<Vec<AggColumn>, GpuError> {
        let accs = std::mem::take(&mut self.accs);
        Ok(accs
            .into_iter()
            .map(|mut acc| {
                acc.grow(num_groups);
                finalize(
                    acc.op,
                    &acc.count[..num_groups],
                    |k| acc.s1[k].value(),
                    |k| acc.s2[k].value(),
                    |k| acc.ext[k],
                    |k| acc.picked[k],
                )
            })
            .collect())
    }

    fn device_name(&self) -> String {
        "cpu".into()
    }
}

/// Final values from accumulators (shared by the CPU and device paths).
pub(crate) fn finalize(
    op: AggOp,
    count: &[u64],
    s1: impl Fn(usize) -> f64,
    s2: impl Fn(usize) -> f64,
    ext: impl Fn(usize) -> u64,
    picked: impl Fn(usize) -> Option<f64>,
) -> AggColumn {
    let n = count.len();
    let floats = |f: &dyn Fn(usize) -> Option<f64>| AggColumn::Float((0..n).map(f).collect());
    match op {
        AggOp::Count => AggColumn::Count(count.to_vec()),
        AggOp::Sum => floats(&|k| (count[k] > 0).then(|| s1(k))),
        AggOp::Avg => floats(&|k| (count[k] > 0).then(|| s1(k) / count[k] as f64)),
        AggOp::Min | AggOp::Max => floats(&|k| (count[k] > 0).then(|| o2f(ext(k)))),
        AggOp::MinKey | AggOp::MaxKey => AggColumn::Int(
            (0..n)
                .map(|k| (count[k] > 0).then(|| o2i(ext(k))))
                .collect(),
        ),
        AggOp::Vwap => floats(&|k| {
            let v = s2(k);
            (count[k] > 0 && v != 0.0).then(|| s1(k) / v)
        }),
        AggOp::First | AggOp::Last => floats(&|k| if count[k] > 0 { picked(k) } else { None }),
        AggOp::VarSamp | AggOp::VarPop | AggOp::StddevSamp | AggOp::StddevPop => floats(&|k| {
            let c = count[k] as f64;
            let sample = matches!(op, AggOp::VarSamp | AggOp::StddevSamp);
            if count[k] == 0 || (sample && count[k] < 2) {
                return None;
            }
            let (a, b) = (s1(k), s2(k));
            let m2 = (b - a * a / c).max(0.0);
            let var = m2 / if sample { c - 1.0 } else { c };
            Some(if matches!(op, AggOp::StddevSamp | AggOp::StddevPop) {
                var.sqrt()
            } else {
                var
            })
        }),
    }
}

/// Group ids `series · nbuckets + (bucket − first_bucket)` of rows, bucketing
/// `ts` by `width` from `origin` (the CPU reference of the `bucket_ids` kernel).
pub fn bucket_ids(
    series: &[u32],
    ts: &[i64],
    width: i64,
    origin: i64,
    first_bucket: i64,
    nbuckets: u64,
) -> Vec<u32> {
    series
        .iter()
        .zip(ts)
        .map(|(s, t)| {
            let b = (t - origin).div_euclid(width) - first_bucket;
            (*s as u64 * nbuckets + b as u64) as u32
        })
        .collect()
}

/// The CPU reference of the per-series scans.
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuScanner;

/// Whether row `j`'s value takes part in the windows that follow it: valid
/// and finite.
fn usable(x: &[f64], valid: &[u8], j: usize) -> bool {
    valid[j] != 0 && x[j].is_finite()
}

/// Valid, finite values of rows `from..to`.
#[cfg(test)]
fn prior(x: &[f64], valid: &[u8], from: usize, to: usize, out: &mut Vec<f64>) {
    out.clear();
    out.extend((from..to).filter(|&j| usable(x, valid, j)).map(|j| x[j]));
}

/// (x − mean) / sample sd of `prior` (two compensated passes), or `None`.
pub fn zscore_of(x: f64, prior: &[f64]) -> Option<f64> {
    zscore_over(x, prior.iter().copied())
}

/// [`zscore_of`] over the values an iterator yields (twice), in the order the
/// GPU kernel adds them, so both give the same bits.
fn zscore_over<I: Iterator<Item = f64> + Clone>(x: f64, prior: I) -> Option<f64> {
    let mut s = Neumaier::default();
    let mut k = 0usize;
    prior.clone().for_each(|v| {
        s.add(v);
        k += 1;
    });
    if k < 2 {
        return None;
    }
    let mean = s.value() / k as f64;
    let mut q = Neumaier::default();
    prior.for_each(|v| q.add((v - mean) * (v - mean)));
    let sd = (q.value() / (k - 1) as f64).sqrt();
    (sd > 0.0).then(|| (x - mean) / sd)
}

/// Median of a non-empty slice (reordered in place): the middle value in
/// `f64::total_cmp` order, or the mean of the two middle ones. Found by
/// selection, not a sort (linear time); the values are those a sort would
/// put in the middle, so the result is the same bit for bit.
pub fn median(values: &mut [f64]) -> f64 {
    let n = values.len();
    let (below, mid, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    let mid = *mid;
    if n % 2 == 1 {
        return mid;
    }
    let lower = below
        .iter()
        .copied()
        .max_by(f64::total_cmp)
        .expect("an even count of at least two");
    (lower + mid) / 2.0
}

/// 0.6745 · (x − median) / MAD of `prior` (at least two values), or `None`
/// when the MAD is 0.
pub fn mad_score(x: f64, prior: &[f64]) -> Option<f64> {
    if prior.len() < 2 {
        return None;
    }
    let mut window = prior.to_vec();
    let m = median(&mut window);
    // The deviations' median does not depend on their order.
    for v in window.iter_mut() {
        *v = (*v - m).abs();
    }
    let mad = median(&mut window);
    (mad > 0.0).then(|| 0.6745 * (x - m) / mad)
}

/// Rows per thread below which a scan stays on the calling thread.
const PARALLEL_ROWS: usize = 1 << 16;

/// Scores every row with `score` (`None`: no score), on several threads when
/// there are many rows: rows are independent, so the result is the same.
fn per_row(n: usize, score: impl Fn(usize) -> Option<f64> + Sync) -> ScanColumn {
    per_range(n, |from, values, valid| {
        for (k, (v, ok)) in values.iter_mut().zip(valid.iter_mut()).enumerate() {
            if let Some(z) = score(from + k) {
                *v = z;
                *ok = 1;
            }
        }
    })
}

/// Fills the scores of every row, a range of rows at a time (`fill(from,
/// values, valid)` writes rows `from..from + values.len()`), on several
/// threads when there are many rows.
fn per_range(n: usize, fill: impl Fn(usize, &mut [f64], &mut [u8]) + Sync) -> ScanColumn {
    let mut out = ScanColumn {
        values: vec![0.0; n],
        valid: vec![0; n],
    };
    let threads = threads_for(n);
    let bounds: Vec<usize> = (0..=threads).map(|k| k * n / threads).collect();
    fill_ranges(&bounds, &mut out.values, &mut out.valid, fill);
    out
}

/// Threads for a scan of `n` rows (1 below [`PARALLEL_ROWS`] rows each).
fn threads_for(n: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(n / PARALLEL_ROWS)
        .max(1)
}

/// `fill(from, a, b)` for each range `bounds[k]..bounds[k + 1]` of rows (`a`
/// and `b` the ranges' parts of two row-aligned outputs), one thread each
/// when there are several.
fn fill_ranges<A: Send, B: Send>(
    bounds: &[usize],
    mut a: &mut [A],
    mut b: &mut [B],
    fill: impl Fn(usize, &mut [A], &mut [B]) + Sync,
) {
    if bounds.len() <= 2 {
        fill(0, a, b);
        return;
    }
    std::thread::scope(|scope| {
        for w in bounds.windows(2) {
            let (a1, a2) = std::mem::take(&mut a).split_at_mut(w[1] - w[0]);
            let (b1, b2) = std::mem::take(&mut b).split_at_mut(w[1] - w[0]);
            (a, b) = (a2, b2);
            let (fill, from) = (&fill, w[0]);
            if !a1.is_empty() {
                scope.spawn(move || fill(from, a1, b1));
            }
        }
    });
}

/// Rows scored together by the row-window z-score: independent chains of
/// additions the CPU overlaps.
const LANES: usize = 4;

/// The row-window z-scores of rows `i0..i0 + LANES`, one series whose rows
/// all have `window` earlier rows: for each row exactly the operations of
/// [`zscore_over`], in the same order, interleaved across the rows. `CLEAN`:
/// every value the windows read is valid and finite (no test per value).
fn zscore_lanes<const CLEAN: bool>(
    x: &[f64],
    valid: &[u8],
    i0: usize,
    window: usize,
) -> [Option<f64>; LANES] {
    let ok = |j: usize| CLEAN || usable(x, valid, j);
    let from = i0 - window;
    let mut s = [Neumaier::default(); LANES];
    let mut k = [0usize; LANES];
    for j in from..i0 {
        for l in 0..LANES {
            if ok(j + l) {
                s[l].add(x[j + l]);
                k[l] += 1;
            }
        }
    }
    let mean: [f64; LANES] = std::array::from_fn(|l| s[l].value() / k[l] as f64);
    let mut q = [Neumaier::default(); LANES];
    for j in from..i0 {
        for l in 0..LANES {
            if ok(j + l) {
                let d = x[j + l] - mean[l];
                q[l].add(d * d);
            }
        }
    }
    std::array::from_fn(|l| {
        let i = i0 + l;
        if k[l] < 2 || valid[i] == 0 {
            return None;
        }
        let sd = (q[l].value() / (k[l] - 1) as f64).sqrt();
        (sd > 0.0).then(|| (x[i] - mean[l]) / sd)
    })
}

/// Start row of row `i`'s series.
fn series_start(s: Series<'_>, i: usize) -> usize {
    s.starts[s.ids[i] as usize] as usize
}

/// The rows `from..to` holding row `i`'s time window [tsᵢ − width, tsᵢ)
/// (rows without a time inside it are skipped by the caller), or `None` when
/// row i has no time or its series does not reach back to tsᵢ − width.
fn time_window(t: Times<'_>, start: usize, i: usize, width: i64) -> Option<(usize, usize)> {
    let (ts, tv) = (t.ts, t.valid);
    if tv[i] == 0 {
        return None;
    }
    let lo = ts[i].saturating_sub(width);
    let first = (start..i).find(|&j| tv[j] != 0)?;
    if ts[first] > lo {
        return None;
    }
    let mut to = i;
    while to > start && !(tv[to - 1] != 0 && ts[to - 1] < ts[i]) {
        to -= 1;
    }
    let mut from = to;
    while from > start && !(tv[from - 1] != 0 && ts[from - 1] < lo) {
        from -= 1;
    }
    Some((from, to))
}

/// The usable values of a sliding row window, kept sorted (`f64::total_cmp`).
#[derive(Default)]
struct SortedWindow {
    values: Vec<f64>,
}

impl SortedWindow {
    fn insert(&mut self, v: f64) {
        let at = self.values.partition_point(|a| a.total_cmp(&v).is_lt());
        self.values.insert(at, v);
    }

    /// Removes one value with `v`'s bits (total order equality is bit equality).
    fn remove(&mut self, v: f64) {
        let at = self.values.partition_point(|a| a.total_cmp(&v).is_lt());
        debug_assert!(
            self.values
                .get(at)
                .is_some_and(|a| a.to_bits() == v.to_bits())
        );
        self.values.remove(at);
    }

    /// [`mad_score`] of `x` over the window, from the sorted values:
    /// the median by index, the deviations' median by merging the deviations
    /// below and above it, which are each ordered (IEEE subtraction is
    /// monotonic). The same values are picked as by selection, so the score
    /// has the same bits.
    fn mad_score(&self, x: f64) -> Option<f64> {
        let a = &self.values;
        let c = a.len();
        if c < 2 {
            return None;
        }
        let m = if c % 2 == 1 {
            a[c / 2]
        } else {
            (a[c / 2 - 1] + a[c / 2]) / 2.0
        };
        // Deviations of a[..p] grow leftwards, those of a[p..] rightwards.
        let p = a.partition_point(|v| *v < m);
        let (mut l, mut r) = (p, p);
        let mut next = || {
            let left = (l > 0).then(|| (a[l - 1] - m).abs());
            let right = (r < c).then(|| (a[r] - m).abs());
            match (left, right) {
                (Some(d), Some(e)) if d <= e => {
                    l -= 1;
                    d
                }
                (_, Some(e)) => {
                    r += 1;
                    e
                }
                (Some(d), None) => {
                    l -= 1;
                    d
                }
                (None, None) => unreachable!("c deviations"),
            }
        };
        let lower = (c - 1) / 2;
        for _ in 0..lower {
            next();
        }
        let lo = next();
        let mad = if c % 2 == 1 { lo } else { (lo + next()) / 2.0 };
        (mad > 0.0).then(|| 0.6745 * (x - m) / mad)
    }
}

/// MAD z-scores over row windows: each thread slides a sorted window along
/// its rows (one insertion and one removal per row) instead of selecting
/// from a copy of every window.
fn mad_sliding(x: &[f64], valid: &[u8], s: Series<'_>, window: usize) -> ScanColumn {
    let usable = |j: usize| usable(x, valid, j);
    per_range(x.len(), |from, values, valid_out| {
        let mut w = SortedWindow::default();
        // The window held: rows lo..hi (empty at first).
        let (mut lo, mut hi) = (0usize, 0usize);
        for (k, (out, ok)) in values.iter_mut().zip(valid_out.iter_mut()).enumerate() {
            let i = from + k;
            if i - series_start(s, i) < window {
                continue;
            }
            let start = i - window;
            if start >= hi || lo > start {
                // A new series or the first row: fill the window afresh.
                w.values.clear();
                w.values
                    .extend((start..i).filter(|&j| usable(j)).map(|j| x[j]));
                w.values.sort_by(f64::total_cmp);
            } else {
                for j in (lo..start).filter(|&j| usable(j)) {
                    w.remove(x[j]);
                }
                for j in (hi..i).filter(|&j| usable(j)) {
                    w.insert(x[j]);
                }
            }
            (lo, hi) = (start, i);
            if valid[i] != 0
                && let Some(z) = w.mad_score(x[i])
            {
                *out = z;
                *ok = 1;
            }
        }
    })
}

impl Scanner for CpuScanner {
    fn log_return(&self, x: &[f64], valid: &[u8], s: Series<'_>) -> Result<ScanColumn, GpuError> {
        Ok(per_row(x.len(), |i| {
            let start = series_start(s, i);
            (i > start && valid[i] != 0 && valid[i - 1] != 0 && x[i] > 0.0 && x[i - 1] > 0.0)
                .then(|| (x[i] / x[i - 1]).ln())
        }))
    }

    fn zscore(
        &self,
        x: &[f64],
        valid: &[u8],
        s: Series<'_>,
        window: usize,
    ) -> Result<ScanColumn, GpuError> {
        let one = |i: usize| {
            if i - series_start(s, i) < window || valid[i] == 0 {
                return None;
            }
            let prior = (i - window..i)
                .filter(|&j| usable(x, valid, j))
                .map(|j| x[j]);
            zscore_over(x[i], prior)
        };
        Ok(per_range(x.len(), |from, values, valid_out| {
            let n = values.len();
            // Rows below `checked` were tested; `last_bad` is the last unusable one.
            let mut checked = from.saturating_sub(window);
            let mut last_bad: Option<usize> = None;
            let mut k = 0;
            while k < n {
                let i = from + k;
                let start = series_start(s, i);
                // LANES rows of one series, all with a full window.
                if k + LANES <= n && i - start >= window && series_start(s, i + LANES - 1) == start
                {
                    // The windows read rows i - window .. i + LANES - 1.
                    while checked < i + LANES - 1 {
                        if !usable(x, valid, checked) {
                            last_bad = Some(checked);
                        }
                        checked += 1;
                    }
                    let scores = if last_bad.is_none_or(|b| b < i - window) {
                        zscore_lanes::<true>(x, valid, i, window)
                    } else {
                        zscore_lanes::<false>(x, valid, i, window)
                    };
                    for (l, z) in scores.into_iter().enumerate() {
                        if let Some(z) = z {
                            values[k + l] = z;
                            valid_out[k + l] = 1;
                        }
                    }
                    k += LANES;
                } else {
                    if let Some(z) = one(i) {
                        values[k] = z;
                        valid_out[k] = 1;
                    }
                    k += 1;
                }
            }
        }))
    }

    fn zscore_time(
        &self,
        x: &[f64],
        valid: &[u8],
        t: Times<'_>,
        s: Series<'_>,
        width: i64,
    ) -> Result<ScanColumn, GpuError> {
        Ok(per_row(x.len(), |i| {
            if valid[i] == 0 {
                return None;
            }
            let (from, to) = time_window(t, series_start(s, i), i, width)?;
            let prior = (from..to)
                .filter(|&j| t.valid[j] != 0 && usable(x, valid, j))
                .map(|j| x[j]);
            zscore_over(x[i], prior)
        }))
    }

    fn mad_zscore(
        &self,
        x: &[f64],
        valid: &[u8],
        s: Series<'_>,
        window: usize,
    ) -> Result<ScanColumn, GpuError> {
        Ok(mad_sliding(x, valid, s, window))
    }

    fn stale_runs(&self, x: &[f64], valid: &[u8], s: Series<'_>) -> Result<Runs, GpuError> {
        let n = x.len();
        let mut runs = Runs {
            len: vec![0; n],
            pos: vec![0; n],
        };
        let same = |i: usize| {
            let start = series_start(s, i);
            i > start && valid[i] != 0 && valid[i - 1] != 0 && x[i] == x[i - 1]
        };
        // Rows `from..from + len.len()`, which start a run and end one.
        let fill = |from: usize, len: &mut [u32], pos: &mut [u32]| {
            let to = from + len.len();
            let mut head = from;
            for i in from + 1..=to {
                if i == to || !same(i) {
                    let l = (i - head) as u32;
                    for (p, j) in (head..i).enumerate() {
                        len[j - from] = l;
                        pos[j - from] = p as u32 + 1;
                    }
                    head = i;
                }
            }
        };
        // Ranges of whole runs: each boundary moved forward to a run's head.
        let threads = threads_for(n);
        let mut bounds = vec![0];
        for k in 1..threads {
            let mut b = (k * n / threads).max(*bounds.last().expect("0"));
            while b < n && same(b) {
                b += 1;
            }
            bounds.push(b);
        }
        bounds.push(n);
        fill_ranges(&bounds, &mut runs.len, &mut runs.pos, fill);
        Ok(runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AggInput;

    fn input<'a>(
        x: &'a [f64],
        v: &'a [u8],
        w: &'a [f64],
        k: &'a [i64],
        kv: &'a [u8],
    ) -> AggInput<'a> {
        AggInput {
            values: x,
            valid: v,
            weight: w,
            key: k,
            key_valid: kv,
        }
    }

    #[test]
    fn chunks_without_what_an_op_reads_are_refused() {
        let g = [0u32, 0, 1];
        let (x, v, k) = ([1.0, 2.0, 3.0], [1u8; 3], [30i64, 10, 20]);
        let push = |op: AggOp, input: AggInput<'_>| {
            CpuAggregator::new(&[op]).push(&AggChunk {
                groups: &g,
                num_groups: 2,
                inputs: vec![input],
            })
        };
        // Counts and min/max of keys read no values (what the SQL operator
        // gives them); the device uploads values for the other ops only.
        for op in [AggOp::Count, AggOp::MinKey, AggOp::MaxKey] {
            push(op, input(&[], &v, &[], &k, &v)).unwrap();
        }
        let refused = [
            (AggOp::Sum, input(&[], &v, &[], &[], &[])),
            (AggOp::Max, input(&x[..2], &v, &[], &[], &[])),
            (AggOp::Count, input(&[], &v[..2], &[], &[], &[])),
            (AggOp::Vwap, input(&x, &v, &[], &[], &[])),
            (AggOp::MinKey, input(&[], &v, &[], &[], &[])),
            (AggOp::Last, input(&x, &v, &[], &k, &v[..1])),
        ];
        for (op, i) in refused {
            let e = push(op, i).unwrap_err();
            assert!(
                matches!(&e, GpuError::Unsupported(m) if m.contains("chunk of 3 rows")),
                "{op:?}: {e}"
            );
        }
        let mut two = CpuAggregator::new(&[AggOp::Count, AggOp::Sum]);
        let e = two.push(&AggChunk {
            groups: &g,
            num_groups: 2,
            inputs: vec![input(&x, &v, &[], &[], &[])],
        });
        assert!(e.is_err());
    }

    #[test]
    fn grouped_aggregates_by_hand() {
        // Two groups; group 1 gets a null and WTI's negative settlement.
        let g = [0u32, 1, 0, 1, 1, 0];
        let x = [10.0, 20.0, 12.0, -36.98, 99.0, 11.0];
        let v = [1u8, 1, 1, 1, 0, 1];
        let w = [1.0, 2.0, 3.0, 1.0, 5.0, 1.0];
        let k = [5i64, 3, 1, 9, 0, 7];
        let kv = [1u8; 6];
        let ops = [
            AggOp::Count,
            AggOp::Sum,
            AggOp::Min,
            AggOp::Max,
            AggOp::First,
            AggOp::Last,
            AggOp::Vwap,
            AggOp::VarSamp,
            AggOp::StddevPop,
            AggOp::Avg,
        ];
        // Two chunks: the first/last of group 0 moves between them.
        let mut agg: Box<dyn Aggregator> = Box::new(CpuAggregator::new(&ops));
        for (a, b) in [(0, 3), (3, 6)] {
            let inputs = ops
                .iter()
                .map(|_| input(&x[a..b], &v[a..b], &w[a..b], &k[a..b], &kv[a..b]))
                .collect();
            agg.push(&AggChunk {
                groups: &g[a..b],
                num_groups: 2,
                inputs,
            })
            .unwrap();
        }
        let out = agg.finish(2).unwrap();
        assert_eq!(out[0], AggColumn::Count(vec![3, 2]));
        let f = |c: &AggColumn| match c {
            AggColumn::Float(v) => v.clone(),
            _ => panic!(),
        };
        assert_eq!(f(&out[1]), vec![Some(33.0), Some(20.0 - 36.98)]);
        assert_eq!(f(&out[2]), vec![Some(10.0), Some(-36.98)]);
        assert_eq!(f(&out[3]), vec![Some(12.0), Some(20.0)]);
        // Group 0 keys: 5 (10.0), 1 (12.0), 7 (11.0); group 1: 3 (20), 9 (−36.98), 0 (null value).
        assert_eq!(f(&out[4]), vec![Some(12.0), None]);
        assert_eq!(f(&out[5]), vec![Some(11.0), Some(-36.98)]);
        let vwap0 = (10.0 + 36.0 + 11.0) / 5.0;
        assert!(crate::close(f(&out[6])[0].unwrap(), vwap0, 1e-15));
        // var_samp of 10, 12, 11 = 1; stddev_pop of 20, −36.98.
        assert!(crate::close(f(&out[7])[0].unwrap(), 1.0, 1e-15));
        assert!(crate::close(f(&out[8])[1].unwrap(), 56.98 / 2.0, 1e-12));
        assert!(crate::close(f(&out[9])[0].unwrap(), 11.0, 1e-15));
    }

    #[test]
    fn scans_by_hand() {
        let x = [1.0, 2.0, 3.0, 100.0, 5.0, 5.0, 5.0, 7.0, 7.0];
        let v = [1u8; 9];
        let heads = [true, false, false, false, false, true, false, false, false];
        let (ids, starts) = Series::from_heads(&heads);
        assert_eq!(starts, vec![0, 5, 9]);
        let s = Series {
            ids: &ids,
            starts: &starts,
        };
        let z = CpuScanner.zscore(&x, &v, s, 3).unwrap();
        // Row 3: prior 1, 2, 3 → mean 2, sd 1 → z = 98.
        assert_eq!(z.get(3), Some(98.0));
        assert_eq!(z.get(2), None);
        // Row 8 (series 2, position 3): prior 5, 5, 7.
        let expected = zscore_of(7.0, &[5.0, 5.0, 7.0]);
        assert_eq!(z.get(8), expected);
        let r = CpuScanner.log_return(&x, &v, s).unwrap();
        assert_eq!(r.get(5), None, "no return across series");
        assert_eq!(r.get(1), Some(2f64.ln()));
        let runs = CpuScanner.stale_runs(&x, &v, s).unwrap();
        assert_eq!(runs.len, vec![1, 1, 1, 1, 1, 2, 2, 2, 2]);
        assert_eq!(runs.pos, vec![1, 1, 1, 1, 1, 1, 2, 1, 2]);
        // Series 1 starts at row 5: 5.0 of row 4 is another series.
        let m = CpuScanner.mad_zscore(&x, &v, s, 3).unwrap();
        assert_eq!(m.get(3), Some(0.6745 * 98.0));
    }

    #[test]
    fn time_window_zscore_by_hand() {
        // One series, times in seconds (as µs); a null time, a tie and a gap.
        let sec = 1_000_000i64;
        let ts = [0, 10, 20, 30, 30, 35, 0, 40, 100];
        let tv = [1u8, 1, 1, 1, 1, 1, 0, 1, 1];
        let x = [1.0, 2.0, 3.0, 100.0, 7.0, 4.0, 9.0, 6.0, 5.0];
        let v = [1u8; 9];
        let ts: Vec<i64> = ts.iter().map(|t| t * sec).collect();
        let heads = [true, false, false, false, false, false, false, false, false];
        let (ids, starts) = Series::from_heads(&heads);
        let s = Series {
            ids: &ids,
            starts: &starts,
        };
        let t = Times {
            ts: &ts,
            valid: &tv,
        };
        let z = CpuScanner.zscore_time(&x, &v, t, s, 20 * sec).unwrap();
        // Rows before t = 20 s do not have a full 20 s of history.
        assert_eq!((z.get(0), z.get(1)), (None, None));
        // t = 20: [0, 20) → 1, 2.
        assert_eq!(z.get(2), zscore_of(3.0, &[1.0, 2.0]));
        // t = 30 (both rows): [10, 30) → 2, 3; the tie is not in the window.
        assert_eq!(z.get(3), zscore_of(100.0, &[2.0, 3.0]));
        assert_eq!(z.get(4), zscore_of(7.0, &[2.0, 3.0]));
        // t = 35: [15, 35) → 3, 100, 7.
        assert_eq!(z.get(5), zscore_of(4.0, &[3.0, 100.0, 7.0]));
        // No time: no score, and in no window.
        assert_eq!(z.get(6), None);
        // t = 40: [20, 40) → 3, 100, 7, 4.
        assert_eq!(z.get(7), zscore_of(6.0, &[3.0, 100.0, 7.0, 4.0]));
        // t = 100: [80, 100) is empty.
        assert_eq!(z.get(8), None);
    }

    #[test]
    fn parallel_scans_match_one_thread() {
        // Enough rows to split across threads; the same bits as row by row.
        let n = 3 * PARALLEL_ROWS + 17;
        let x: Vec<f64> = (0..n)
            .map(|i| (i as f64 * 0.37).sin() * 10.0 + 50.0)
            .collect();
        let v: Vec<u8> = (0..n).map(|i| u8::from(i % 97 != 0)).collect();
        let heads: Vec<bool> = (0..n).map(|i| i % 50_000 == 0).collect();
        let (ids, starts) = Series::from_heads(&heads);
        let s = Series {
            ids: &ids,
            starts: &starts,
        };
        let z = CpuScanner.zscore(&x, &v, s, 20).unwrap();
        let mut buf = Vec::new();
        for i in (0..n).step_by(101) {
            let start = starts[ids[i] as usize] as usize;
            let expected = if i - start < 20 || v[i] == 0 {
                None
            } else {
                prior(&x, &v, i - 20, i, &mut buf);
                zscore_of(x[i], &buf)
            };
            assert_eq!(z.get(i), expected, "row {i}");
        }
    }

    /// Series of 1 to 59 rows with ties, invalid rows, NaN, infinities and
    /// both zeros; enough rows for threads to start their ranges inside
    /// series. Returns (values, validity, series heads).
    fn awkward_series(seed: u64) -> (Vec<f64>, Vec<u8>, Vec<bool>) {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(seed);
        let (mut x, mut v, mut heads) = (Vec::new(), Vec::new(), Vec::new());
        while x.len() < 2 * PARALLEL_ROWS + 17 {
            let len = rng.random_range(1..60);
            for k in 0..len {
                heads.push(k == 0);
                x.push(match rng.random_range(0..40) {
                    0 => f64::NAN,
                    1 => f64::NEG_INFINITY,
                    2 => f64::INFINITY,
                    3 => -0.0,
                    4 => 0.0,
                    5 => -36.98,
                    6..=15 => 50.0 + rng.random_range(0..8) as f64 * 0.5,
                    _ => 50.0 + rng.random_range(-5.0..5.0),
                });
                v.push(u8::from(rng.random_range(0..20) != 0));
            }
        }
        (x, v, heads)
    }

    /// `scan` at each window scores every row with the same bits as `score`
    /// over the row's window of usable values.
    fn every_row_as(
        seed: u64,
        windows: &[usize],
        scan: impl Fn(&[f64], &[u8], Series<'_>, usize) -> ScanColumn,
        score: impl Fn(f64, &[f64]) -> Option<f64>,
    ) {
        let (x, v, heads) = awkward_series(seed);
        let (ids, starts) = Series::from_heads(&heads);
        let s = Series {
            ids: &ids,
            starts: &starts,
        };
        let mut buf = Vec::new();
        for &window in windows {
            let z = scan(&x, &v, s, window);
            let mut scored = 0;
            for i in 0..x.len() {
                let start = starts[ids[i] as usize] as usize;
                let expected = if i - start < window || v[i] == 0 {
                    None
                } else {
                    prior(&x, &v, i - window, i, &mut buf);
                    score(x[i], &buf)
                };
                scored += usize::from(expected.is_some());
                assert_eq!(
                    z.get(i).map(f64::to_bits),
                    expected.map(f64::to_bits),
                    "window {window}, row {i}"
                );
            }
            assert!(scored > 1000, "window {window}: {scored} scores");
        }
    }

    /// Row-window z-scores computed LANES rows at a time (and without the
    /// per-value test where windows are all usable) equal row by row.
    #[test]
    fn interleaved_zscores_equal_row_by_row() {
        every_row_as(
            5,
            &[2, 3, 5, 20],
            |x, v, s, w| CpuScanner.zscore(x, v, s, w).unwrap(),
            zscore_of,
        );
    }

    /// MAD z-scores from the sliding sorted window equal the selection over
    /// a copy of every window.
    #[test]
    fn sliding_mad_equals_selection() {
        every_row_as(
            9,
            &[2, 3, 4, 7, 20, 45],
            |x, v, s, w| CpuScanner.mad_zscore(x, v, s, w).unwrap(),
            mad_score,
        );
    }

    /// Stale runs found on several threads (ranges moved to run heads) equal
    /// one pass over all rows, with runs longer than a thread's range.
    #[test]
    fn parallel_stale_runs_match_one_pass() {
        let n = 3 * PARALLEL_ROWS + 5;
        // Runs of 1 to 150,000 rows; every 7th row invalid in one stretch.
        let x: Vec<f64> = (0..n)
            .map(|i| match i {
                0..1000 => (i / 3) as f64,
                1000..151_000 => 7.0,
                _ => ((i * 7919) % 13) as f64,
            })
            .collect();
        let v: Vec<u8> = (0..n)
            .map(|i| u8::from(!(160_000..170_000).contains(&i) || i % 7 != 0))
            .collect();
        let heads: Vec<bool> = (0..n)
            .map(|i| i == 0 || i == 100_000 || i == 180_000)
            .collect();
        let (ids, starts) = Series::from_heads(&heads);
        let s = Series {
            ids: &ids,
            starts: &starts,
        };
        let runs = CpuScanner.stale_runs(&x, &v, s).unwrap();
        let (mut len, mut pos) = (vec![0u32; n], vec![0u32; n]);
        let mut head = 0;
        for i in 1..=n {
            let same = i < n
                && i != 100_000
                && i != 180_000
                && v[i] != 0
                && v[i - 1] != 0
                && x[i] == x[i - 1];
            if !same {
                for j in head..i {
                    len[j] = (i - head) as u32;
                    pos[j] = (j - head) as u32 + 1;
                }
                head = i;
            }
        }
        assert_eq!(runs.len, len);
        assert_eq!(runs.pos, pos);
        assert_eq!(runs.len[50_000], 99_000, "a run across thread ranges");
    }

    #[test]
    fn buckets_floor_before_the_origin() {
        assert_eq!(crate::bucket_start(-1, 60, 0), -60);
        assert_eq!(crate::bucket_start(119, 60, 0), 60);
        assert_eq!(
            bucket_ids(&[0, 1, 1], &[0, 59, 61], 60, 0, 0, 2),
            vec![0, 2, 3]
        );
    }
}
