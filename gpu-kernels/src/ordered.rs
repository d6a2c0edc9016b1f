//! Order-preserving encodings of floats and signed integers as `u64`, so the
//! device can take minima and maxima with integer atomics. The CUDA source
//! has the same functions (`f2o`, `o2f`, `i2o`).

/// `a < b` (in `f64::total_cmp` order) iff `f2o(a) < f2o(b)`.
pub fn f2o(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | (1 << 63) }
}

/// Inverse of [`f2o`].
pub fn o2f(e: u64) -> f64 {
    let b = if e >> 63 == 1 { e & !(1 << 63) } else { !e };
    f64::from_bits(b)
}

/// `a < b` iff `i2o(a) < i2o(b)`.
pub fn i2o(x: i64) -> u64 {
    (x as u64) ^ (1 << 63)
}

/// Inverse of [`i2o`].
pub fn o2i(e: u64) -> i64 {
    (e ^ (1 << 63)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_keep_order() {
        let xs = [
            f64::NEG_INFINITY,
            -36.98,
            -0.0,
            0.0,
            1e-300,
            71.5,
            f64::INFINITY,
            f64::NAN,
        ];
        for w in xs.windows(2) {
            assert!(f2o(w[0]) < f2o(w[1]), "{} {}", w[0], w[1]);
            assert_eq!(o2f(f2o(w[0])).to_bits(), w[0].to_bits());
        }
        let is = [i64::MIN, -5, 0, 7, i64::MAX];
        for w in is.windows(2) {
            assert!(i2o(w[0]) < i2o(w[1]));
        }
    }

    /// `select_kth` of kernels.cu, written again: the k-th smallest key by
    /// deciding one bit per pass, most significant first.
    fn select_kth(keys: &[u64], mut k: usize) -> u64 {
        let mut prefix = 0u64;
        for bit in (0..64).rev() {
            let high = if bit == 63 { 0 } else { !0u64 << (bit + 1) };
            let zeros = keys
                .iter()
                .filter(|o| (*o & high) == prefix && (*o >> bit) & 1 == 0)
                .count();
            if k >= zeros {
                k -= zeros;
                prefix |= 1 << bit;
            }
        }
        prefix
    }

    /// `select_median` of kernels.cu, written again.
    fn select_median(values: &[f64]) -> f64 {
        let keys: Vec<u64> = values.iter().map(|x| f2o(*x)).collect();
        let c = keys.len();
        let lo = select_kth(&keys, (c - 1) / 2);
        if c % 2 == 1 {
            return o2f(lo);
        }
        let at_most = keys.iter().filter(|o| **o <= lo).count();
        let above = keys.iter().copied().filter(|o| *o > lo).min().unwrap_or(!0);
        let hi = if at_most > c / 2 { lo } else { above };
        (o2f(lo) + o2f(hi)) / 2.0
    }

    /// The median by a full sort: the oracle.
    fn sorted_median(values: &[f64]) -> f64 {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }

    /// The GPU's MAD can select medians bit by bit (`scan_mad_select`); the CPU
    /// reference selects with `select_nth_unstable`. Both equal a full sort's
    /// median bit for bit on windows with ties, negative prices and both
    /// zeros, and so does the CPU's MAD score (windows of one value: none).
    #[test]
    fn bitwise_medians_equal_sorted_medians() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(11);
        for case in 0..2000 {
            let len = rng.random_range(1..300);
            let values: Vec<f64> = (0..len)
                .map(|_| match rng.random_range(0..6) {
                    0 => -36.98,
                    1 => [0.0, -0.0][rng.random_range(0..2)],
                    2 => 71.5,
                    3 => rng.random_range(-1e6..1e6),
                    _ => (rng.random_range(0..40) as f64) * 0.25,
                })
                .collect();
            let m = sorted_median(&values);
            assert_eq!(select_median(&values).to_bits(), m.to_bits(), "case {case}");
            let selected = crate::cpu::median(&mut values.clone());
            assert_eq!(selected.to_bits(), m.to_bits(), "case {case}: CPU");
            let dev: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
            let mad = sorted_median(&dev);
            assert_eq!(select_median(&dev).to_bits(), mad.to_bits(), "case {case}");
            let expected = (mad > 0.0).then(|| 0.6745 * (values[0] - m) / mad);
            let cpu = crate::cpu::mad_score(values[0], &values);
            assert_eq!(
                cpu.map(f64::to_bits),
                expected.map(f64::to_bits),
                "case {case}"
            );
        }
    }
}
