// Contango's device kernels, compiled at run time by NVRTC (without fused
// multiply-add, so the scans compute bit for bit what the CPU references
// compute). Every aggregation kernel gives each warp a tile of 32·RUN
// consecutive rows, each lane every 32nd row of it (so each load of a warp
// reads 32 adjacent rows): rows of one group are usually adjacent (ticks
// arrive in time order), so a thread accumulates locally and flushes to the
// group's accumulator with one atomic per group change.

typedef unsigned long long u64;
typedef long long i64;
typedef unsigned int u32;
typedef unsigned char u8;

#define RUN 16
#define I64_MIN (-9223372036854775807LL - 1)

__device__ __forceinline__ u64 f2o(double x) {
    u64 b = (u64)__double_as_longlong(x);
    return (b >> 63) ? ~b : (b | 0x8000000000000000ULL);
}
__device__ __forceinline__ u64 i2o(i64 x) { return ((u64)x) ^ 0x8000000000000000ULL; }

__device__ __forceinline__ void nadd(double &s, double &c, double x) {
    double t = s + x;
    if (fabs(s) >= fabs(x)) c += (s - t) + x; else c += (x - t) + s;
    s = t;
}

// A thread's rows: begin, begin + STRIDE, ... below end (its lane's rows of
// its warp's tile). Threads past the end keep running with no rows (so whole
// warps reach the warp-wide flush below).
#define STRIDE 32
__device__ __forceinline__ void run_bounds(u64 n, u64 &begin, u64 &end) {
    u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    u64 tile = (t / 32) * (32 * RUN);
    begin = tile + (t % 32);
    end = tile + 32 * RUN;
    if (end > n) end = n;
    if (begin > end) begin = end;
}

#define FULL 0xffffffffu
#define NONE 0xffffffffu

// Whether every lane with rows to flush (c > 0) flushes the same group as
// lane 0; then the warp reduces and lane 0 does one atomic per accumulator
// instead of 32 (same-address atomics serialize: this is what bounds grouped
// aggregation over few groups, e.g. daily stats per commodity).
__device__ __forceinline__ bool warp_uniform(u32 cur, u64 c, u32 &g0) {
    g0 = __shfl_sync(FULL, cur, 0);
    return __all_sync(FULL, c == 0 || cur == g0) && g0 != NONE;
}
__device__ __forceinline__ double wsum(double x) {
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(FULL, x, o);
    return x;
}
__device__ __forceinline__ u64 wsumu(u64 x) {
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(FULL, x, o);
    return x;
}
__device__ __forceinline__ u64 wmin(u64 x) {
    for (int o = 16; o > 0; o >>= 1) { u64 y = __shfl_xor_sync(FULL, x, o); x = y < x ? y : x; }
    return x;
}
__device__ __forceinline__ u64 wmax(u64 x) {
    for (int o = 16; o > 0; o >>= 1) { u64 y = __shfl_xor_sync(FULL, x, o); x = y > x ? y : x; }
    return x;
}
#define LANE0 ((threadIdx.x & 31) == 0)

// Busy-waits about `cycles` clock cycles. Tests launch it on one thread to
// keep the stream busy, so the copies queued behind it run well after the
// host has moved on.
extern "C" __global__ void hold(u64 cycles) {
    long long start = clock64();
    while ((u64)(clock64() - start) < cycles) {}
}

extern "C" __global__ void fill_u64(u64 *p, u64 n, u64 value) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) p[i] = value;
}

extern "C" __global__ void agg_count(u64 n, const u32 *g, const u8 *v, u64 *cnt) {
    u64 b, e; run_bounds(n, b, e);
    u32 cur = b < e ? g[b] : NONE; u64 c = 0;
    for (u64 i = b; i < e; i += STRIDE) {
        u32 gi = g[i];
        if (gi != cur) { if (c) atomicAdd(&cnt[cur], c); cur = gi; c = 0; }
        c += v[i];
    }
    u32 g0;
    if (warp_uniform(cur, c, g0)) {
        u64 t = wsumu(c);
        if (LANE0 && t) atomicAdd(&cnt[g0], t);
    } else if (c) atomicAdd(&cnt[cur], c);
}

// Sum (and count) of valid values.
extern "C" __global__ void agg_sum(u64 n, const u32 *g, const double *x, const u8 *v, u64 *cnt, double *sum) {
    u64 b, e; run_bounds(n, b, e);
    u32 cur = b < e ? g[b] : NONE; u64 c = 0; double s = 0.0, comp = 0.0;
    for (u64 i = b; i < e; i += STRIDE) {
        u32 gi = g[i];
        if (gi != cur) {
            if (c) { atomicAdd(&cnt[cur], c); atomicAdd(&sum[cur], s + comp); }
            cur = gi; c = 0; s = 0.0; comp = 0.0;
        }
        if (v[i]) { c++; nadd(s, comp, x[i]); }
    }
    u32 g0;
    if (warp_uniform(cur, c, g0)) {
        u64 tc = wsumu(c); double ts = wsum(c ? s + comp : 0.0);
        if (LANE0 && tc) { atomicAdd(&cnt[g0], tc); atomicAdd(&sum[g0], ts); }
    } else if (c) { atomicAdd(&cnt[cur], c); atomicAdd(&sum[cur], s + comp); }
}

// Min or max of valid values, as order-preserving integers.
extern "C" __global__ void agg_minmax(u64 n, const u32 *g, const double *x, const u8 *v, u64 *cnt, u64 *ext, int is_max) {
    u64 b, e; run_bounds(n, b, e);
    u32 cur = b < e ? g[b] : NONE; u64 c = 0; u64 m = is_max ? 0ULL : ~0ULL;
    for (u64 i = b; i < e; i += STRIDE) {
        u32 gi = g[i];
        if (gi != cur) {
            if (c) { atomicAdd(&cnt[cur], c); if (is_max) atomicMax(&ext[cur], m); else atomicMin(&ext[cur], m); }
            cur = gi; c = 0; m = is_max ? 0ULL : ~0ULL;
        }
        if (v[i]) {
            c++;
            u64 o = f2o(x[i]);
            m = is_max ? (o > m ? o : m) : (o < m ? o : m);
        }
    }
    u32 g0;
    if (warp_uniform(cur, c, g0)) {
        u64 tc = wsumu(c); u64 tm = is_max ? wmax(m) : wmin(m);
        if (LANE0 && tc) { atomicAdd(&cnt[g0], tc); if (is_max) atomicMax(&ext[g0], tm); else atomicMin(&ext[g0], tm); }
    } else if (c) { atomicAdd(&cnt[cur], c); if (is_max) atomicMax(&ext[cur], m); else atomicMin(&ext[cur], m); }
}

// VWAP: Σ price·volume and Σ volume over valid rows with a finite price.
extern "C" __global__ void agg_vwap(u64 n, const u32 *g, const double *x, const double *w, const u8 *v,
                                    u64 *cnt, double *pv, double *vol) {
    u64 b, e; run_bounds(n, b, e);
    u32 cur = b < e ? g[b] : NONE; u64 c = 0; double a = 0.0, ac = 0.0, s = 0.0, sc = 0.0;
    for (u64 i = b; i < e; i += STRIDE) {
        u32 gi = g[i];
        if (gi != cur) {
            if (c) { atomicAdd(&cnt[cur], c); atomicAdd(&pv[cur], a + ac); atomicAdd(&vol[cur], s + sc); }
            cur = gi; c = 0; a = ac = s = sc = 0.0;
        }
        if (v[i] && isfinite(x[i])) { c++; nadd(a, ac, x[i] * w[i]); nadd(s, sc, w[i]); }
    }
    u32 g0;
    if (warp_uniform(cur, c, g0)) {
        u64 tc = wsumu(c); double ta = wsum(c ? a + ac : 0.0), tv = wsum(c ? s + sc : 0.0);
        if (LANE0 && tc) { atomicAdd(&cnt[g0], tc); atomicAdd(&pv[g0], ta); atomicAdd(&vol[g0], tv); }
    } else if (c) { atomicAdd(&cnt[cur], c); atomicAdd(&pv[cur], a + ac); atomicAdd(&vol[cur], s + sc); }
}

// Variance: sums of deviations from a shift K (a value of the group, set by
// whichever thread sees the group first), and of their squares.
#define NO_SHIFT 0xFFFFFFFFFFFFFFFFULL
__device__ __forceinline__ double shift_of(u64 *shift, u32 g, double x) {
    // Read first: once set, the shift never changes, and a plain read of a
    // cached value avoids a same-address atomic per thread.
    u64 seen = ((volatile u64 *)shift)[g];
    if (seen != NO_SHIFT) return __longlong_as_double((i64)seen);
    u64 old = atomicCAS(&shift[g], NO_SHIFT, (u64)__double_as_longlong(x));
    return old == NO_SHIFT ? x : __longlong_as_double((i64)old);
}
extern "C" __global__ void agg_var(u64 n, const u32 *g, const double *x, const u8 *v, u64 *cnt, u64 *shift,
                                   double *s1, double *s2) {
    u64 b, e; run_bounds(n, b, e);
    u32 cur = b < e ? g[b] : NONE; u64 c = 0; double a = 0.0, ac = 0.0, q = 0.0, qc = 0.0, k = 0.0; bool have_k = false;
    for (u64 i = b; i < e; i += STRIDE) {
        u32 gi = g[i];
        if (gi != cur) {
            if (c) { atomicAdd(&cnt[cur], c); atomicAdd(&s1[cur], a + ac); atomicAdd(&s2[cur], q + qc); }
            cur = gi; c = 0; a = ac = q = qc = 0.0; have_k = false;
        }
        if (v[i]) {
            if (!have_k) { k = shift_of(shift, cur, x[i]); have_k = true; }
            c++;
            double d = x[i] - k;
            nadd(a, ac, d); nadd(q, qc, d * d);
        }
    }
    u32 g0;
    if (warp_uniform(cur, c, g0)) {
        u64 tc = wsumu(c); double ta = wsum(c ? a + ac : 0.0), tq = wsum(c ? q + qc : 0.0);
        if (LANE0 && tc) { atomicAdd(&cnt[g0], tc); atomicAdd(&s1[g0], ta); atomicAdd(&s2[g0], tq); }
    } else if (c) { atomicAdd(&cnt[cur], c); atomicAdd(&s1[cur], a + ac); atomicAdd(&s2[cur], q + qc); }
}

// First/last by key, step 1: the least (first) or greatest (last) key.
extern "C" __global__ void agg_best_key(u64 n, const u32 *g, const i64 *key, const u8 *kv, u64 *cnt, u64 *best, int last) {
    u64 b, e; run_bounds(n, b, e);
    u32 cur = b < e ? g[b] : NONE; u64 c = 0; u64 m = last ? 0ULL : ~0ULL;
    for (u64 i = b; i < e; i += STRIDE) {
        u32 gi = g[i];
        if (gi != cur) {
            if (c) { atomicAdd(&cnt[cur], c); if (last) atomicMax(&best[cur], m); else atomicMin(&best[cur], m); }
            cur = gi; c = 0; m = last ? 0ULL : ~0ULL;
        }
        if (kv[i]) {
            c++;
            u64 o = i2o(key[i]);
            m = last ? (o > m ? o : m) : (o < m ? o : m);
        }
    }
    u32 g0;
    if (warp_uniform(cur, c, g0)) {
        u64 tc = wsumu(c); u64 tm = last ? wmax(m) : wmin(m);
        if (LANE0 && tc) { atomicAdd(&cnt[g0], tc); if (last) atomicMax(&best[g0], tm); else atomicMin(&best[g0], tm); }
    } else if (c) { atomicAdd(&cnt[cur], c); if (last) atomicMax(&best[cur], m); else atomicMin(&best[cur], m); }
}

// Step 2: groups whose best key moved in this chunk forget their best row.
extern "C" __global__ void agg_reset_rows(u64 ng, const u64 *best, u64 *seen, u64 *row, u64 sentinel) {
    u64 k = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (k < ng && best[k] != seen[k]) { seen[k] = best[k]; row[k] = sentinel; }
}

// Step 3: the earliest (first) or latest (last) row holding the best key.
extern "C" __global__ void agg_best_row(u64 n, const u32 *g, const i64 *key, const u8 *kv, const u64 *best,
                                        u64 *row, u64 offset, int last) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n || !kv[i]) return;
    u32 gi = g[i];
    if (i2o(key[i]) != best[gi]) return;
    if (last) atomicMax(&row[gi], offset + i); else atomicMin(&row[gi], offset + i);
}

// Step 4: the value at the best row, when that row is in this chunk.
extern "C" __global__ void agg_pick(u64 n, const u32 *g, const double *x, const u8 *v, const u64 *row, u64 offset,
                                    double *picked, u8 *picked_valid) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    u32 gi = g[i];
    if (row[gi] == offset + i) { picked[gi] = x[i]; picked_valid[gi] = v[i]; }
}

// Dense group ids series · nbuckets + (bucket − first_bucket).
extern "C" __global__ void bucket_ids(u64 n, const u32 *series, const i64 *ts, i64 width, i64 origin,
                                      i64 first_bucket, u64 nbuckets, u32 *out) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    i64 d = ts[i] - origin;
    i64 q = d / width;
    if (d % width != 0 && d < 0) q -= 1;
    out[i] = (u32)((u64)series[i] * nbuckets + (u64)(q - first_bucket));
}

// Rows with lo <= x <= hi keep their validity; others become invalid.
extern "C" __global__ void mask_range(u64 n, const double *x, double lo, double hi, const u8 *v, u8 *out) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = v[i] && x[i] >= lo && x[i] <= hi;
}

extern "C" __global__ void scan_log_return(u64 n, const double *x, const u8 *v, const u32 *sid, const u64 *starts,
                                           double *out, u8 *ov) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    u64 start = starts[sid[i]];
    bool ok = i > start && v[i] && v[i - 1] && x[i] > 0.0 && x[i - 1] > 0.0;
    out[i] = ok ? log(x[i] / x[i - 1]) : 0.0;
    ov[i] = ok;
}

// Row i of a row-window scan: clears its output, and says whether the row
// has a value and `window` earlier rows in its series to score it against.
__device__ __forceinline__ bool window_row(u64 n, const u8 *v, const u32 *sid, const u64 *starts, u64 window,
                                           double *out, u8 *ov, u64 &i) {
    i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return false;
    out[i] = 0.0; ov[i] = 0;
    return i - starts[sid[i]] >= window && v[i];
}

extern "C" __global__ void scan_zscore(u64 n, const double *x, const u8 *v, const u32 *sid, const u64 *starts,
                                       u64 window, double *out, u8 *ov) {
    u64 i;
    if (!window_row(n, v, sid, starts, window, out, ov, i)) return;
    double s = 0.0, c = 0.0; u64 k = 0;
    for (u64 j = i - window; j < i; j++)
        if (v[j] && isfinite(x[j])) { nadd(s, c, x[j]); k++; }
    if (k < 2) return;
    double mean = (s + c) / (double)k;
    double q = 0.0, qc = 0.0;
    for (u64 j = i - window; j < i; j++)
        if (v[j] && isfinite(x[j])) { double d = x[j] - mean; nadd(q, qc, d * d); }
    double sd = sqrt((q + qc) / (double)(k - 1));
    if (sd > 0.0) { out[i] = (x[i] - mean) / sd; ov[i] = 1; }
}

// Time window [ts_i - width, ts_i) of row i's series (the CPU reference's
// time_window): rows from..to, skipping rows without a time; the series must
// reach back to ts_i - width. Same operations, same order as the CPU.
extern "C" __global__ void scan_zscore_time(u64 n, const double *x, const u8 *v, const i64 *ts, const u8 *tv,
                                            const u32 *sid, const u64 *starts, i64 width, double *out, u8 *ov) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    out[i] = 0.0; ov[i] = 0;
    if (!v[i] || !tv[i]) return;
    u64 start = starts[sid[i]];
    i64 t = ts[i];
    i64 lo = (t < I64_MIN + width) ? I64_MIN : t - width;  // width > 0
    u64 first = start;
    while (first < i && !tv[first]) first++;
    if (first >= i || ts[first] > lo) return;
    u64 to = i;
    while (to > start && !(tv[to - 1] && ts[to - 1] < t)) to--;
    u64 from = to;
    while (from > start && !(tv[from - 1] && ts[from - 1] < lo)) from--;
    double s = 0.0, c = 0.0; u64 k = 0;
    for (u64 j = from; j < to; j++)
        if (v[j] && tv[j] && isfinite(x[j])) { nadd(s, c, x[j]); k++; }
    if (k < 2) return;
    double mean = (s + c) / (double)k;
    double q = 0.0, qc = 0.0;
    for (u64 j = from; j < to; j++)
        if (v[j] && tv[j] && isfinite(x[j])) { double d = x[j] - mean; nadd(q, qc, d * d); }
    double sd = sqrt((q + qc) / (double)(k - 1));
    if (sd > 0.0) { out[i] = (x[i] - mean) / sd; ov[i] = 1; }
}

// MAD over windows up to MAX_MAD rows: each thread sorts its window.
#define MAX_MAD 128
__device__ void isort(double *a, int n) {
    for (int i = 1; i < n; i++) {
        double t = a[i]; int j = i - 1;
        while (j >= 0 && a[j] > t) { a[j + 1] = a[j]; j--; }
        a[j + 1] = t;
    }
}
__device__ double med(double *a, int n) {
    isort(a, n);
    return (n % 2 == 1) ? a[n / 2] : (a[n / 2 - 1] + a[n / 2]) / 2.0;
}
extern "C" __global__ void scan_mad(u64 n, const double *x, const u8 *v, const u32 *sid, const u64 *starts,
                                    u64 window, double *out, u8 *ov) {
    u64 i;
    if (!window_row(n, v, sid, starts, window, out, ov, i)) return;
    double a[MAX_MAD], d[MAX_MAD]; int k = 0;
    for (u64 j = i - window; j < i; j++)
        if (v[j] && isfinite(x[j])) a[k++] = x[j];
    if (k < 2) return;
    for (int j = 0; j < k; j++) d[j] = a[j];
    double m = med(a, k);
    for (int j = 0; j < k; j++) d[j] = fabs(d[j] - m);
    double mad = med(d, k);
    if (mad > 0.0) { out[i] = 0.6745 * (x[i] - m) / mad; ov[i] = 1; }
}

// MAD over windows too large for the per-thread sort above: medians by a
// bitwise search for the k-th smallest value (64 passes over the window, no
// scratch memory). Values are compared as order-preserving integers, which
// order finite doubles as the CPU reference's sort (f64::total_cmp) does, so
// both pick the same elements and compute the same score bit for bit.
__device__ __forceinline__ double o2f(u64 o) {
    return __longlong_as_double((i64)((o >> 63) ? (o & 0x7FFFFFFFFFFFFFFFULL) : ~o));
}
// The window's value j: x[j], or its deviation |x[j] - m| when `dev`.
__device__ __forceinline__ u64 mad_key(const double *x, u64 j, bool dev, double m) {
    return f2o(dev ? fabs(x[j] - m) : x[j]);
}
// The k-th smallest (0-based) key among rows from..to that are valid and finite.
__device__ u64 select_kth(const double *x, const u8 *v, u64 from, u64 to, bool dev, double m, u64 k) {
    u64 prefix = 0;
    for (int bit = 63; bit >= 0; bit--) {
        u64 high = bit == 63 ? 0ULL : (~0ULL << (bit + 1));
        u64 zeros = 0;
        for (u64 j = from; j < to; j++) {
            if (!v[j] || !isfinite(x[j])) continue;
            u64 o = mad_key(x, j, dev, m);
            zeros += ((o & high) == prefix) && !((o >> bit) & 1ULL);
        }
        if (k >= zeros) { k -= zeros; prefix |= 1ULL << bit; }
    }
    return prefix;
}
// Median of the c window keys: the middle one, or the mean of the middle two
// (the upper one is the lower one again, or the least key above it).
__device__ double select_median(const double *x, const u8 *v, u64 from, u64 to, bool dev, double m, u64 c) {
    u64 lo = select_kth(x, v, from, to, dev, m, (c - 1) / 2);
    if (c % 2 == 1) return o2f(lo);
    u64 at_most = 0, above = ~0ULL;
    for (u64 j = from; j < to; j++) {
        if (!v[j] || !isfinite(x[j])) continue;
        u64 o = mad_key(x, j, dev, m);
        if (o <= lo) at_most++; else if (o < above) above = o;
    }
    u64 hi = at_most > c / 2 ? lo : above;
    return (o2f(lo) + o2f(hi)) / 2.0;
}
extern "C" __global__ void scan_mad_select(u64 n, const double *x, const u8 *v, const u32 *sid, const u64 *starts,
                                           u64 window, double *out, u8 *ov) {
    u64 i;
    if (!window_row(n, v, sid, starts, window, out, ov, i)) return;
    u64 from = i - window, c = 0;
    for (u64 j = from; j < i; j++) c += v[j] && isfinite(x[j]);
    if (c < 2) return;
    double m = select_median(x, v, from, i, false, 0.0, c);
    double mad = select_median(x, v, from, i, true, m, c);
    if (mad > 0.0) { out[i] = 0.6745 * (x[i] - m) / mad; ov[i] = 1; }
}

// MAD over large windows by sliding, as the CPU reference does: each thread
// takes `per_thread` consecutive rows and keeps their window sorted in its own
// scratch (`window` order-preserving keys), with one removal and one insertion
// per row; a window is filled afresh (heap sort) at a thread's first row and
// at each new series. The median is picked by index and the deviations' median
// by merging the deviations below and above it (each ordered: IEEE subtraction
// is monotonic), so the same values are picked and the score has the same bits.
__device__ __forceinline__ u64 lower_key(const u64 *a, u64 c, u64 key) {
    u64 lo = 0, hi = c;
    while (lo < hi) { u64 mid = lo + (hi - lo) / 2; if (a[mid] < key) lo = mid + 1; else hi = mid; }
    return lo;
}
__device__ void sift_down(u64 *a, u64 root, u64 end) {
    for (;;) {
        u64 child = 2 * root + 1;
        if (child >= end) return;
        if (child + 1 < end && a[child + 1] > a[child]) child++;
        if (a[root] >= a[child]) return;
        u64 t = a[root]; a[root] = a[child]; a[child] = t;
        root = child;
    }
}
__device__ void heap_sort(u64 *a, u64 c) {
    for (u64 s = c / 2; s-- > 0;) sift_down(a, s, c);
    for (u64 e = c; e-- > 1;) { u64 t = a[0]; a[0] = a[e]; a[e] = t; sift_down(a, 0, e); }
}
// The next smallest deviation from m, from the ordered runs left of l and from r on.
__device__ __forceinline__ double next_deviation(const u64 *a, u64 c, double m, u64 &l, u64 &r) {
    bool has_l = l > 0, has_r = r < c;
    double d = has_l ? fabs(o2f(a[l - 1]) - m) : 0.0;
    double e = has_r ? fabs(o2f(a[r]) - m) : 0.0;
    if (has_l && has_r) { if (d <= e) { l--; return d; } r++; return e; }
    if (has_r) { r++; return e; }
    l--; return d;
}
__device__ void mad_slide_rows(u64 from, u64 to, const double *x, const u8 *v, const u32 *sid, const u64 *starts,
                               u64 window, u64 *a, double *out, u8 *ov) {
    u64 c = 0, lo = 0, hi = 0;
    for (u64 i = from; i < to; i++) {
        out[i] = 0.0; ov[i] = 0;
        if (i - starts[sid[i]] < window) continue;
        u64 start = i - window;
        if (start >= hi || lo > start) {
            c = 0;
            for (u64 j = start; j < i; j++)
                if (v[j] && isfinite(x[j])) a[c++] = f2o(x[j]);
            heap_sort(a, c);
        } else {
            for (u64 j = lo; j < start; j++) {
                if (!v[j] || !isfinite(x[j])) continue;
                u64 k = lower_key(a, c, f2o(x[j]));
                for (u64 q = k; q + 1 < c; q++) a[q] = a[q + 1];
                c--;
            }
            for (u64 j = hi; j < i; j++) {
                if (!v[j] || !isfinite(x[j])) continue;
                u64 key = f2o(x[j]);
                u64 k = lower_key(a, c, key);
                for (u64 q = c; q > k; q--) a[q] = a[q - 1];
                a[k] = key; c++;
            }
        }
        lo = start; hi = i;
        if (!v[i] || c < 2) continue;
        double m = (c % 2 == 1) ? o2f(a[c / 2]) : (o2f(a[c / 2 - 1]) + o2f(a[c / 2])) / 2.0;
        // First index whose value is not below m (IEEE <, as the reference).
        u64 p0 = 0, p1 = c;
        while (p0 < p1) { u64 mid = p0 + (p1 - p0) / 2; if (o2f(a[mid]) < m) p0 = mid + 1; else p1 = mid; }
        u64 l = p0, r = p0;
        for (u64 s = 0; s < (c - 1) / 2; s++) next_deviation(a, c, m, l, r);
        double low = next_deviation(a, c, m, l, r);
        double mad = (c % 2 == 1) ? low : (low + next_deviation(a, c, m, l, r)) / 2.0;
        if (mad > 0.0) { out[i] = 0.6745 * (x[i] - m) / mad; ov[i] = 1; }
    }
}
extern "C" __global__ void scan_mad_slide(u64 n, const double *x, const u8 *v, const u32 *sid, const u64 *starts,
                                          u64 window, u64 per_thread, u64 *scratch, double *out, u8 *ov) {
    u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    u64 from = t * per_thread;
    if (from >= n) return;
    u64 to = from + per_thread < n ? from + per_thread : n;
    mad_slide_rows(from, to, x, v, sid, starts, window, scratch + t * window, out, ov);
}

// Stale runs: each run's head walks the run once, writing every row's run
// length and 1-based position (O(n) work in all).
__device__ __forceinline__ bool same_as_prev(u64 i, const double *x, const u8 *v, const u32 *sid, const u64 *starts) {
    return i > starts[sid[i]] && v[i] && v[i - 1] && x[i] == x[i - 1];
}
extern "C" __global__ void scan_stale(u64 n, const double *x, const u8 *v, const u32 *sid, const u64 *starts,
                                      u32 *len, u32 *pos) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n || same_as_prev(i, x, v, sid, starts)) return;
    u64 j = i + 1;
    while (j < n && same_as_prev(j, x, v, sid, starts)) j++;
    u32 l = (u32)(j - i);
    for (u64 r = i; r < j; r++) { len[r] = l; pos[r] = (u32)(r - i + 1); }
}
