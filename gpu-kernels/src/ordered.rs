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
}
