//! The rows of every series in time order, gathered from all input
//! partitions at once: the input of the `anomalies(...)` scan.
//!
//! Each input partition, on its own task, interns its series keys to local
//! ids (DataFusion's `GroupValues`) and sorts its rows of each series by time.
//! The local keys are then interned into global series, and each series'
//! runs are concatenated in partition order and merged (a stable sort of
//! sorted runs), series spread over threads. No single-threaded global sort
//! or merge, and no hash partitioning by series (16 series hash unevenly onto
//! 16 partitions).
//!
//! Order: series by key (ascending, NULLs last); rows by time, rows without a
//! time last (as `ORDER BY ts` puts NULLs); rows with equal times keep their
//! input order (partition, batch, row), so the result is deterministic.
//!
//! Input layout: columns 0 and 1 are the series key (commodity, source),
//! column 2 the time, column 3 the value.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::{SortOptions, cast, interleave};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, Schema, SchemaRef};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::runtime::SpawnedTask;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::EmitTo;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;
use datafusion::physical_plan::metrics::Time;
use futures::StreamExt;

/// Rows of a batch are addressed with 30 bits; the top two mark NULLs.
const TIME_NULL: u32 = 1 << 31;
const VALUE_NULL: u32 = 1 << 30;
const ROW_BITS: u32 = VALUE_NULL - 1;

/// One row while gathering: its time and value, and where it came from.
#[derive(Debug, Clone, Copy)]
struct Tick {
    /// Microseconds since the epoch (0 when NULL).
    ts: i64,
    /// The value (unspecified when NULL).
    value: f64,
    batch: u32,
    row: u32,
}

impl Tick {
    fn has_time(&self) -> bool {
        self.row & TIME_NULL == 0
    }

    fn has_value(&self) -> bool {
        self.row & VALUE_NULL == 0
    }

    fn source(&self) -> Source {
        (self.batch, self.row & ROW_BITS)
    }

    /// Sort key: rows with a time first, by time.
    fn order(&self) -> (bool, i64) {
        (!self.has_time(), self.ts)
    }
}

/// Where a gathered row came from: (batch, row) in [`Gathered::batches`].
pub type Source = (u32, u32);

/// Every series' rows, in order.
pub struct Gathered {
    /// The input batches (`sources` index them).
    pub batches: Vec<RecordBatch>,
    /// The rows of series `s` are rows `starts[s]..starts[s + 1]`.
    pub starts: Vec<usize>,
    /// Where each row came from, series after series.
    pub sources: Vec<Source>,
    /// The rows' values, times and validity as columns (the scans' input).
    pub columns: Columns,
}

/// Row-aligned columns of the gathered rows.
#[derive(Default)]
pub struct Columns {
    /// Values.
    pub x: Vec<f64>,
    /// 1 where the value is valid.
    pub valid: Vec<u8>,
    /// Times (microseconds).
    pub ts: Vec<i64>,
    /// 1 where the time is valid.
    pub ts_valid: Vec<u8>,
}

impl Gathered {
    /// Number of series.
    pub fn series(&self) -> usize {
        self.starts.len() - 1
    }

    /// Column `c` of the rows at `sources` (any order), from the input batches.
    pub fn column(&self, c: usize, sources: &[Source]) -> DFResult<ArrayRef> {
        if self.batches.is_empty() {
            return Err(DataFusionError::Internal("no input batches".into()));
        }
        let arrays: Vec<&dyn Array> = self.batches.iter().map(|b| b.column(c).as_ref()).collect();
        let idx: Vec<(usize, usize)> = sources
            .iter()
            .map(|(b, r)| (*b as usize, *r as usize))
            .collect();
        Ok(interleave(&arrays, &idx)?)
    }
}

/// One input partition's rows: its batches and, per local series, its rows
/// in time order (batch numbers local to the partition).
struct Part {
    batches: Vec<RecordBatch>,
    keys: Vec<ArrayRef>,
    runs: Vec<Vec<Tick>>,
}

fn key_schema(input: &SchemaRef) -> SchemaRef {
    Arc::new(Schema::new(input.fields()[..2].to_vec()))
}

/// Reads partition `partition` of `input` (see the module docs).
async fn gather_partition(
    input: Arc<dyn ExecutionPlan>,
    partition: usize,
    context: Arc<TaskContext>,
    timers: (Time, Time),
) -> DFResult<Part> {
    let schema = input.schema();
    let mut stream = input.execute(partition, context)?;
    let mut groups = new_group_values(key_schema(&schema), &GroupOrdering::None)?;
    let mut ids: Vec<usize> = Vec::new();
    let mut runs: Vec<Vec<Tick>> = Vec::new();
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let n = batch.num_rows();
        if n == 0 {
            continue;
        }
        let _timers = (timers.0.timer(), timers.1.timer());
        if n > ROW_BITS as usize || batches.len() >= u32::MAX as usize {
            return Err(DataFusionError::ResourcesExhausted(
                "anomalies: input batch too large".into(),
            ));
        }
        // Clustered ticks are interned by the first row of each run.
        let keys = &batch.columns()[..2];
        let interned = super::intern::intern(groups.as_mut(), keys, n, &mut ids)?;
        if groups.len() > runs.len() {
            runs.resize_with(groups.len(), Vec::new);
        }
        let ts = contango_common::columns::time_micros(batch.column(2))?;
        let ts = ts.as_primitive::<Int64Type>();
        let value = cast(batch.column(3), &DataType::Float64)?;
        let value = value.as_primitive::<Float64Type>();
        let (tv, vv) = (ts.logical_nulls(), value.logical_nulls());
        let (tsv, xv) = (ts.values(), value.values());
        let b = batches.len() as u32;
        for (range, id) in interned.runs() {
            runs[id].extend(range.map(|r| {
                let mut row = r as u32;
                let mut t = tsv[r];
                if tv.as_ref().is_some_and(|m| m.is_null(r)) {
                    row |= TIME_NULL;
                    t = 0;
                }
                if vv.as_ref().is_some_and(|m| m.is_null(r)) {
                    row |= VALUE_NULL;
                }
                Tick {
                    ts: t,
                    value: xv[r],
                    batch: b,
                    row,
                }
            }));
        }
        batches.push(batch);
    }
    let _timers = (timers.0.timer(), timers.1.timer());
    let keys = if groups.is_empty() {
        Vec::new()
    } else {
        groups.emit(EmitTo::All)?
    };
    for run in &mut runs {
        run.sort_by_key(Tick::order);
    }
    Ok(Part {
        batches,
        keys,
        runs,
    })
}

/// Every series of `input`'s rows in time order (see the module docs);
/// each of `timers` collects the CPU time spent.
pub async fn gather(
    input: Arc<dyn ExecutionPlan>,
    context: Arc<TaskContext>,
    timers: (Time, Time),
) -> DFResult<Gathered> {
    let schema = input.schema();
    let partitions = input.properties().partitioning.partition_count();
    let tasks: Vec<SpawnedTask<DFResult<Part>>> = (0..partitions)
        .map(|p| {
            SpawnedTask::spawn(gather_partition(
                input.clone(),
                p,
                context.clone(),
                timers.clone(),
            ))
        })
        .collect();
    let mut parts = Vec::with_capacity(partitions);
    for t in tasks {
        parts.push(
            t.join()
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))??,
        );
    }
    let _timers = (timers.0.timer(), timers.1.timer());

    // Local series → global series.
    let mut global: Box<dyn GroupValues> =
        new_group_values(key_schema(&schema), &GroupOrdering::None)?;
    let mut ids = Vec::new();
    let mut maps: Vec<Vec<usize>> = Vec::with_capacity(parts.len());
    for part in &parts {
        if part.keys.is_empty() {
            maps.push(Vec::new());
            continue;
        }
        global.intern(&part.keys, &mut ids)?;
        maps.push(ids.clone());
    }
    let count = global.len();
    // Series numbered in key order.
    let rank = if count == 0 {
        Vec::new()
    } else {
        key_ranks(&global.emit(EmitTo::All)?)?
    };
    let mut sizes = vec![0usize; count];
    for (part, map) in parts.iter().zip(&maps) {
        for (local, run) in part.runs.iter().enumerate() {
            sizes[rank[map[local]]] += run.len();
        }
    }
    let mut starts = Vec::with_capacity(count + 1);
    starts.push(0);
    for s in &sizes {
        starts.push(starts.last().unwrap() + s);
    }
    // The runs of every series, with batch numbers made global.
    let mut base = Vec::with_capacity(parts.len());
    let mut batches = Vec::new();
    for part in &mut parts {
        base.push(batches.len() as u32);
        batches.append(&mut part.batches);
    }
    let mut series_runs: Vec<Vec<(u32, &[Tick])>> = vec![Vec::new(); count];
    for ((part, map), b) in parts.iter().zip(&maps).zip(&base) {
        for (local, run) in part.runs.iter().enumerate() {
            if !run.is_empty() {
                series_runs[rank[map[local]]].push((*b, run));
            }
        }
    }
    let total = *starts.last().unwrap();
    let mut sources: Vec<Source> = vec![(0, 0); total];
    let mut columns = Columns {
        x: vec![0.0; total],
        valid: vec![0; total],
        ts: vec![0; total],
        ts_valid: vec![0; total],
    };
    // Series spread over threads, largest first onto the least loaded;
    // each merges its runs and writes its rows' sources and columns.
    struct Work<'a> {
        series: usize,
        sources: &'a mut [Source],
        x: &'a mut [f64],
        valid: &'a mut [u8],
        ts: &'a mut [i64],
        ts_valid: &'a mut [u8],
    }
    let threads = std::thread::available_parallelism().map_or(1, |p| p.get());
    let mut work: Vec<Work<'_>> = Vec::with_capacity(count);
    {
        let mut rest = (
            &mut sources[..],
            &mut columns.x[..],
            &mut columns.valid[..],
            &mut columns.ts[..],
            &mut columns.ts_valid[..],
        );
        for (series, size) in sizes.iter().enumerate() {
            let (t, t2) = std::mem::take(&mut rest.0).split_at_mut(*size);
            let (x, x2) = std::mem::take(&mut rest.1).split_at_mut(*size);
            let (v, v2) = std::mem::take(&mut rest.2).split_at_mut(*size);
            let (ts, ts2) = std::mem::take(&mut rest.3).split_at_mut(*size);
            let (tv, tv2) = std::mem::take(&mut rest.4).split_at_mut(*size);
            work.push(Work {
                series,
                sources: t,
                x,
                valid: v,
                ts,
                ts_valid: tv,
            });
            rest = (t2, x2, v2, ts2, tv2);
        }
    }
    impl Work<'_> {
        /// Writes `ticks` as rows `at..` of the series.
        fn write(&mut self, at: usize, ticks: impl Iterator<Item = Tick>) {
            for (i, t) in ticks.enumerate() {
                let i = at + i;
                self.sources[i] = t.source();
                self.x[i] = t.value;
                self.valid[i] = u8::from(t.has_value());
                self.ts[i] = t.ts;
                self.ts_valid[i] = u8::from(t.has_time());
            }
        }
    }
    work.sort_by_key(|w| std::cmp::Reverse(w.sources.len()));
    let mut lanes: Vec<(usize, Vec<Work<'_>>)> = (0..threads.min(count).max(1))
        .map(|_| (0, Vec::new()))
        .collect();
    for w in work {
        let lane = lanes.iter_mut().min_by_key(|(load, _)| *load).unwrap();
        lane.0 += w.sources.len();
        lane.1.push(w);
    }
    let series_runs = &series_runs;
    std::thread::scope(|scope| {
        for (_, lane) in lanes {
            scope.spawn(move || {
                let mut merged: Vec<Tick> = Vec::new();
                for mut w in lane {
                    let runs = &series_runs[w.series];
                    if let Some(order) = disjoint_order(runs) {
                        // Runs that follow one another in time (files of
                        // consecutive days): written in turn, no merge.
                        let mut at = 0;
                        for k in order {
                            let (b, run) = runs[k];
                            w.write(
                                at,
                                run.iter().map(|t| Tick {
                                    batch: t.batch + b,
                                    ..*t
                                }),
                            );
                            at += run.len();
                        }
                        continue;
                    }
                    merged.clear();
                    for (b, run) in runs {
                        merged.extend(run.iter().map(|t| Tick {
                            batch: t.batch + b,
                            ..*t
                        }));
                    }
                    // Sorted runs in input order: a stable merge.
                    merged.sort_by_key(Tick::order);
                    w.write(0, merged.iter().copied());
                }
            });
        }
    });
    Ok(Gathered {
        batches,
        starts,
        sources,
        columns,
    })
}

/// The order in which a series' sorted runs (in input order) can simply be
/// concatenated to give their stable merge, when there is one: ordered by
/// first row, each run must end before the next begins (or at the same key,
/// coming first in input order).
fn disjoint_order(runs: &[(u32, &[Tick])]) -> Option<Vec<usize>> {
    let first = |k: usize| runs[k].1.first().map(Tick::order);
    let last = |k: usize| runs[k].1.last().map(Tick::order);
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by_key(|&k| (first(k), k));
    order
        .windows(2)
        .all(|p| {
            let (a, b) = (last(p[0]), first(p[1]));
            a < b || (a == b && p[0] < p[1])
        })
        .then_some(order)
}

/// The rank of every row of `keys` in ascending order, NULLs last.
fn key_ranks(keys: &[ArrayRef]) -> DFResult<Vec<usize>> {
    let converter = RowConverter::new(
        keys.iter()
            .map(|k| {
                SortField::new_with_options(
                    k.data_type().clone(),
                    SortOptions {
                        descending: false,
                        nulls_first: false,
                    },
                )
            })
            .collect(),
    )?;
    let rows = converter.convert_columns(keys)?;
    let mut order: Vec<usize> = (0..rows.num_rows()).collect();
    order.sort_by(|a, b| rows.row(*a).cmp(&rows.row(*b)));
    let mut rank = vec![0; order.len()];
    for (r, s) in order.into_iter().enumerate() {
        rank[s] = r;
    }
    Ok(rank)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, StringArray, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{Field, TimeUnit};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    fn batch(rows: &[(Option<&str>, Option<i64>, Option<f64>)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("commodity", DataType::Utf8, true),
            Field::new("source", DataType::Utf8, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("price", DataType::Float64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(vec![Some("S"); rows.len()])),
                Arc::new(TimestampMicrosecondArray::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    }

    /// `parts` (one vector of batches per partition) gathered.
    async fn gathered(parts: Vec<Vec<RecordBatch>>) -> Gathered {
        let schema = parts[0][0].schema();
        let config = SessionConfig::new().with_target_partitions(parts.len());
        let ctx = SessionContext::new_with_config(config);
        ctx.register_table("t", Arc::new(MemTable::try_new(schema, parts).unwrap()))
            .unwrap();
        let plan = ctx
            .sql("SELECT * FROM t")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        gather(plan, ctx.task_ctx(), (Time::new(), Time::new()))
            .await
            .unwrap()
    }

    /// Clustered input (runs of one series, the fast path that interns run
    /// heads) and scattered input give the order of a plain stable sort.
    #[tokio::test]
    async fn clustered_and_scattered_input_match_a_plain_sort() {
        let names = ["CL", "BZ", "NG", "HO"];
        let mut rows = Vec::new();
        for i in 0..4000i64 {
            // Runs of 50 rows of one commodity, then 1000 scattered rows.
            let c = if i < 3000 { (i / 50) % 4 } else { (i * 7) % 4 };
            let ts = (i * 7919) % 613; // ties and disorder
            let ts = (i % 97 != 3).then_some(ts);
            let name = (i % 501 != 7).then_some(names[c as usize]);
            rows.push((name, ts, Some(i as f64)));
        }
        let parts: Vec<Vec<RecordBatch>> = rows
            .chunks(1000)
            .map(|chunk| chunk.chunks(500).map(|b| batch(b)).collect())
            .collect();
        let g = gathered(parts).await;
        // The value is the input position: sort positions by (key, NULLs
        // last; time, NULLs last) stably.
        let mut expected: Vec<usize> = (0..rows.len()).collect();
        expected.sort_by_key(|i| {
            let (c, t, _) = rows[*i];
            (c.is_none(), c, t.is_none(), t)
        });
        let c = &g.columns;
        let got: Vec<usize> = c.x.iter().map(|x| *x as usize).collect();
        assert_eq!(got, expected);
        // Sources point at the rows (batches of 500, in partition order), and
        // the time columns follow them.
        for (i, (b, r)) in g.sources.iter().enumerate() {
            let position = *b as usize * 500 + *r as usize;
            assert_eq!(position, got[i]);
            let t = rows[position].1;
            assert_eq!(c.ts_valid[i], u8::from(t.is_some()));
            assert_eq!(c.ts[i], t.unwrap_or(0));
            assert_eq!(c.valid[i], 1);
        }
        assert_eq!(c.ts_valid.iter().filter(|v| **v == 0).count(), 42);
        assert_eq!(g.series(), 5);
    }

    /// Partitions holding consecutive time blocks of every series, in the
    /// reverse of time order (as scans hand out files): runs that follow one
    /// another are written in turn; blocks that share a time at their edge
    /// keep input order at the tie (then the runs are merged).
    #[tokio::test]
    async fn time_blocks_across_partitions_match_a_plain_sort() {
        let names = ["CL", "BZ", "NG"];
        let mut rows = Vec::new();
        for p in 0..4i64 {
            let block = 3 - p;
            for (c, name) in names.iter().enumerate() {
                for j in 0..100i64 {
                    // CL's blocks share their edge times; the others' do not.
                    let ts = if c == 0 {
                        block * 99 + j
                    } else {
                        block * 100 + j
                    };
                    rows.push((Some(*name), Some(ts), Some(rows.len() as f64)));
                }
            }
        }
        let parts: Vec<Vec<RecordBatch>> = rows
            .chunks(300)
            .map(|chunk| chunk.chunks(150).map(|b| batch(b)).collect())
            .collect();
        let g = gathered(parts).await;
        let mut expected: Vec<usize> = (0..rows.len()).collect();
        expected.sort_by_key(|i| {
            let (c, t, _) = rows[*i];
            (c, t)
        });
        let got: Vec<usize> = g.columns.x.iter().map(|x| *x as usize).collect();
        assert_eq!(got, expected);
        for (i, (b, r)) in g.sources.iter().enumerate() {
            assert_eq!(*b as usize * 150 + *r as usize, got[i]);
        }
        assert_eq!(g.series(), 3);
    }

    /// Series by key with NULL keys last; rows by time with NULL times last;
    /// equal times in input order (partition, batch, row); NULL prices kept.
    #[tokio::test]
    async fn series_come_out_in_key_then_time_order() {
        let parts = vec![
            vec![
                batch(&[
                    (Some("WTI"), Some(30), Some(3.0)),
                    (None, Some(5), Some(9.0)),
                ]),
                batch(&[
                    (Some("BRENT"), Some(20), None),
                    (Some("WTI"), Some(10), Some(1.0)),
                ]),
            ],
            vec![batch(&[
                (Some("WTI"), None, Some(7.0)),
                (Some("WTI"), Some(10), Some(2.0)),
                (Some("BRENT"), Some(10), Some(4.0)),
            ])],
            vec![],
        ];
        let g = gathered(parts).await;
        assert_eq!(g.series(), 3);
        assert_eq!(g.starts, vec![0, 2, 6, 7]);
        let c = &g.columns;
        let shown: Vec<(Option<i64>, Option<f64>)> = (0..g.sources.len())
            .map(|i| {
                (
                    (c.ts_valid[i] != 0).then_some(c.ts[i]),
                    (c.valid[i] != 0).then_some(c.x[i]),
                )
            })
            .collect();
        assert_eq!(
            shown,
            vec![
                // BRENT
                (Some(10), Some(4.0)),
                (Some(20), None),
                // WTI: the two rows at 10 in input order, the row without a time last
                (Some(10), Some(1.0)),
                (Some(10), Some(2.0)),
                (Some(30), Some(3.0)),
                (None, Some(7.0)),
                // NULL commodity
                (Some(5), Some(9.0)),
            ]
        );
        // Columns come back from the input batches.
        let c = g.column(0, &g.sources).unwrap();
        let c = c.as_string::<i32>();
        let names: Vec<Option<&str>> = c.iter().collect();
        assert_eq!(
            names,
            vec![
                Some("BRENT"),
                Some("BRENT"),
                Some("WTI"),
                Some("WTI"),
                Some("WTI"),
                Some("WTI"),
                None
            ]
        );
    }
}
