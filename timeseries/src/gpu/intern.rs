//! Interning a batch's group or series keys to dense ids, run by run where the
//! input is clustered: ticks arrive in files per commodity and day, so rows
//! of one key (one commodity, one minute bucket) are usually adjacent, and
//! hashing only the first row of each run of equal keys costs a fraction of
//! hashing every row.

use std::ops::Range;

use datafusion::arrow::array::{ArrayRef, UInt32Array};
use datafusion::arrow::compute::{partition, take};
use datafusion::error::Result as DFResult;
use datafusion::physical_plan::aggregates::group_values::GroupValues;

/// Runs of at least this many rows on average are interned by their heads;
/// shorter ones row by row (finding runs costs about a comparison per row).
const MIN_MEAN_RUN: usize = 4;

/// A batch's rows with their ids: runs of equal keys, or single rows.
pub struct Interned<'a> {
    /// Row ranges (empty: one id per row, see `ids`).
    runs: Vec<Range<usize>>,
    /// The id of each run, or of each row.
    ids: &'a [usize],
}

impl Interned<'_> {
    /// `(rows, id)` for every run of rows sharing an id, in row order (single
    /// rows where the batch was interned row by row).
    pub fn runs(&self) -> impl Iterator<Item = (Range<usize>, usize)> + '_ {
        let rows = self.runs.is_empty();
        (0..self.ids.len()).map(move |k| {
            let range = if rows { k..k + 1 } else { self.runs[k].clone() };
            (range, self.ids[k])
        })
    }

    /// The id of every row, appended to `out` (every id must fit `T`).
    pub fn extend_row_ids<T: TryFrom<usize> + Copy>(&self, out: &mut Vec<T>)
    where
        T::Error: std::fmt::Debug,
    {
        let id = |i: usize| T::try_from(i).expect("id fits");
        if self.runs.is_empty() {
            out.extend(self.ids.iter().map(|i| id(*i)));
        } else {
            for (range, i) in self.runs.iter().zip(self.ids) {
                out.extend(std::iter::repeat_n(id(*i), range.len()));
            }
        }
    }

    /// The first row of each id at or above `first_new` (ids handed out by
    /// this batch, in order), for taking the new groups' keys.
    pub fn first_rows(&self, first_new: usize, count: usize) -> Vec<u32> {
        let mut first = vec![u32::MAX; count];
        for (range, id) in self.runs() {
            if id >= first_new && first[id - first_new] == u32::MAX {
                first[id - first_new] = range.start as u32;
            }
        }
        first
    }
}

/// Interns the `n` rows of `keys` into `groups`; `ids` is the scratch space
/// the result borrows.
pub fn intern<'a>(
    groups: &mut dyn GroupValues,
    keys: &[ArrayRef],
    n: usize,
    ids: &'a mut Vec<usize>,
) -> DFResult<Interned<'a>> {
    let runs = if n >= 2 * MIN_MEAN_RUN {
        partition(keys)?.ranges()
    } else {
        Vec::new()
    };
    if !runs.is_empty() && runs.len() * MIN_MEAN_RUN <= n {
        let heads = UInt32Array::from_iter_values(runs.iter().map(|r| r.start as u32));
        let head_keys = keys
            .iter()
            .map(|k| Ok(take(k, &heads, None)?))
            .collect::<DFResult<Vec<ArrayRef>>>()?;
        groups.intern(&head_keys, ids)?;
        Ok(Interned { runs, ids })
    } else {
        groups.intern(keys, ids)?;
        Ok(Interned {
            runs: Vec::new(),
            ids,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::aggregates::group_values::new_group_values;
    use datafusion::physical_plan::aggregates::order::GroupOrdering;

    use super::*;

    fn groups() -> Box<dyn GroupValues> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("c", DataType::Utf8, true),
            Field::new("b", DataType::Int64, true),
        ]));
        new_group_values(schema, &GroupOrdering::None).unwrap()
    }

    fn keys(c: &[Option<&str>], b: &[Option<i64>]) -> Vec<ArrayRef> {
        vec![
            Arc::new(StringArray::from(c.to_vec())),
            Arc::new(Int64Array::from(b.to_vec())),
        ]
    }

    /// Row ids by runs equal ids interned row by row, on clustered input
    /// (with NULL keys, which form runs too) and on scattered input.
    #[test]
    fn runs_and_rows_give_the_same_ids() {
        let mut c = Vec::new();
        let mut b = Vec::new();
        for (k, len) in [5usize, 9, 1, 12, 7, 30].iter().enumerate() {
            for _ in 0..*len {
                c.push(if k == 2 {
                    None
                } else {
                    Some(["WTI", "BRENT"][k % 2])
                });
                b.push(if k == 4 { None } else { Some((k / 2) as i64) });
            }
        }
        let clustered = keys(&c, &b);
        let n = c.len();
        let (mut by_runs, mut by_rows) = (groups(), groups());
        let mut scratch = Vec::new();
        let interned = intern(by_runs.as_mut(), &clustered, n, &mut scratch).unwrap();
        assert_eq!(interned.runs().count(), 6, "clustered: one entry per run");
        let mut run_ids: Vec<u32> = Vec::new();
        interned.extend_row_ids(&mut run_ids);
        assert_eq!(interned.first_rows(0, 6), vec![0, 5, 14, 15, 27, 34]);
        let mut row_ids = Vec::new();
        by_rows.intern(&clustered, &mut row_ids).unwrap();
        let row_ids: Vec<u32> = row_ids.iter().map(|i| *i as u32).collect();
        assert_eq!(run_ids, row_ids);
        assert_eq!(by_runs.len(), by_rows.len());

        // Alternating keys: no runs, interned row by row; ids continue from
        // the groups already known.
        let c2: Vec<Option<&str>> = (0..20).map(|i| Some(["WTI", "HH"][i % 2])).collect();
        let b2: Vec<Option<i64>> = (0..20).map(|_| Some(0)).collect();
        let scattered = keys(&c2, &b2);
        let before = by_runs.len();
        let interned = intern(by_runs.as_mut(), &scattered, 20, &mut scratch).unwrap();
        assert_eq!(interned.runs().count(), 20, "scattered: row by row");
        let mut ids: Vec<u32> = Vec::new();
        interned.extend_row_ids(&mut ids);
        // WTI/0 was known (run 0); HH/0 is new.
        assert_eq!(ids[0], 0);
        assert_eq!(ids[1] as usize, before);
        assert_eq!(interned.first_rows(before, 1), vec![1]);
    }
}
