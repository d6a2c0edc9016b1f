//! `quality.metrics_history`: every check's value appended to an Iceberg
//! table on a schedule (mode `full`, from the `checks` view) and after each
//! stream commit (mode `incremental`: counts of the committed rows added to
//! running totals, from the new data files' statistics where they decide
//! the checks, else from a scan of only the committed offset ranges).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use contango_catalog::writer::{TableAppender, ensure_table};
use contango_common::stream::{Committed, Offsets, TopicPartition};
use contango_common::{ContangoError, Result, Session};
use contango_sql::QueryEngine;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit,
};
use futures::TryStreamExt;
use iceberg::spec::{ManifestStatus, PrimitiveLiteral, PrimitiveType};
use iceberg::table::Table;
use iceberg::{Catalog, NamespaceIdent, TableIdent};
use parking_lot::Mutex;

use crate::monitor::{Monitored, QUALITY_SCHEMA, RuleType};
use crate::sql;
use crate::views::QualityShared;

/// Name of the history table in the `quality` namespace.
pub const HISTORY_TABLE: &str = "metrics_history";

/// Columns of `quality.metrics_history`.
pub fn history_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("table_name", DataType::Utf8, false),
        Field::new("check_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, true),
        Field::new("metric", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
        Field::new("passed", DataType::Boolean, true),
        Field::new(
            "computed_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("snapshot_id", DataType::Int64, true),
        Field::new("mode", DataType::Utf8, false),
    ]))
}

/// One check's value.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckValue {
    /// `schema.table`.
    pub table: String,
    /// Check name.
    pub check: String,
    /// Column, when the check has one.
    pub column: Option<String>,
    /// Deequ/Soda metric name.
    pub metric: String,
    /// Value.
    pub value: Option<f64>,
    /// Passed (None: not scored).
    pub passed: Option<bool>,
}

/// The newest values per table, for Prometheus.
#[derive(Debug, Default, Clone)]
pub struct LastRun {
    /// When the newest run finished (seconds since the epoch).
    pub at: Option<f64>,
    /// Newest values per table.
    pub tables: BTreeMap<String, Vec<CheckValue>>,
}

impl LastRun {
    /// 100 · passed / scored checks of `table`.
    pub fn score(values: &[CheckValue]) -> Option<f64> {
        let scored: Vec<bool> = values.iter().filter_map(|v| v.passed).collect();
        (!scored.is_empty())
            .then(|| 100.0 * scored.iter().filter(|p| **p).count() as f64 / scored.len() as f64)
    }
}

/// Running counts of a streamed table, advanced by each commit.
#[derive(Debug, Clone, Default)]
struct Totals {
    rows: u64,
    /// Newest event time (µs), when known.
    newest_event_us: Option<i64>,
    /// Non-null values per column.
    non_null: HashMap<String, u64>,
    /// (checked, violations) per check name.
    checks: HashMap<String, (u64, u64)>,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        self.rows += other.rows;
        self.newest_event_us = self.newest_event_us.max(other.newest_event_us);
        for (c, n) in &other.non_null {
            *self.non_null.entry(c.clone()).or_default() += n;
        }
        for (c, (k, v)) in &other.checks {
            let e = self.checks.entry(c.clone()).or_default();
            e.0 += k;
            e.1 += v;
        }
    }

    /// Size, Completeness per column and Compliance per check.
    fn values(&self, m: &Monitored) -> Vec<CheckValue> {
        let table = m.name();
        let mut out = vec![CheckValue {
            table: table.clone(),
            check: "row count".into(),
            column: None,
            metric: "Size".into(),
            value: Some(self.rows as f64),
            passed: None,
        }];
        for (c, _, min) in &m.columns {
            let non_null = self.non_null.get(c).copied().unwrap_or(0);
            let value = (self.rows > 0).then(|| non_null as f64 / self.rows as f64);
            out.push(CheckValue {
                table: table.clone(),
                check: format!("completeness of {c}"),
                column: Some(c.clone()),
                metric: "Completeness".into(),
                value,
                passed: value.map(|v| v >= *min),
            });
        }
        if let Some(newest) = self.newest_event_us {
            let lag = now_secs() - newest as f64 / 1e6;
            out.push(CheckValue {
                table: table.clone(),
                check: "freshness".into(),
                column: None,
                metric: "Freshness".into(),
                value: Some(lag),
                passed: m.max_staleness_secs.map(|limit| lag <= limit),
            });
        }
        for c in &m.checks {
            let (k, v) = self.checks.get(&c.name).copied().unwrap_or((0, 0));
            out.push(CheckValue {
                table: table.clone(),
                check: c.name.clone(),
                column: Some(c.column.clone()),
                metric: "Compliance".into(),
                value: (k > 0).then(|| 1.0 - v as f64 / k as f64),
                passed: Some(v == 0),
            });
        }
        out
    }
}

/// Computes and records the metric history; keeps the newest values.
#[derive(Debug)]
pub struct QualityRunner {
    shared: Arc<QualityShared>,
    engine: QueryEngine,
    catalog: Arc<dyn Catalog>,
    last: Mutex<LastRun>,
    totals: tokio::sync::Mutex<HashMap<String, Totals>>,
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn df(e: datafusion::error::DataFusionError) -> ContangoError {
    ContangoError::from(e)
}

impl QualityRunner {
    /// A runner writing into `catalog` and querying through `engine`.
    pub fn new(
        shared: Arc<QualityShared>,
        engine: QueryEngine,
        catalog: Arc<dyn Catalog>,
    ) -> Arc<Self> {
        Arc::new(Self {
            shared,
            engine,
            catalog,
            last: Mutex::new(LastRun::default()),
            totals: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The newest values (for `/metrics`).
    pub fn last(&self) -> LastRun {
        self.last.lock().clone()
    }

    fn session(&self) -> Session {
        Session::new(
            "contango-quality",
            self.shared.catalog_name(),
            QUALITY_SCHEMA,
        )
    }

    async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let stream = self.engine.query(&self.session(), sql, vec![]).await?;
        stream.try_collect().await.map_err(df)
    }

    fn ident(table: &str) -> TableIdent {
        let (s, t) = table.split_once('.').unwrap_or(("", table));
        TableIdent::new(NamespaceIdent::new(s.to_string()), t.to_string())
    }

    /// Every check of every monitored table, appended as one `full` run.
    pub async fn run_full(&self) -> Result<usize> {
        self.engine.refresh().await?;
        // Streamed tables get their history from their commits, never from a
        // rescan (their branches of the views are planned away).
        let streamed: Vec<String> = self
            .shared
            .monitored()
            .await
            .map_err(df)?
            .iter()
            .filter(|m| m.streamed)
            .map(|m| sql::text(&m.name()))
            .collect();
        let skip = if streamed.is_empty() {
            String::new()
        } else {
            format!(" WHERE table_name NOT IN ({})", streamed.join(", "))
        };
        let sql = format!(
            "SELECT table_name, check_name, column_name, metric, value, passed FROM {}{skip}",
            sql::table_ref(self.shared.catalog_name(), QUALITY_SCHEMA, "checks")
        );
        let mut values = Vec::new();
        for b in self.query(&sql).await? {
            let s =
                |i: usize| cast(b.column(i), &DataType::Utf8).map(|a| a.as_string::<i32>().clone());
            let (t, c, col, m) = (s(0)?, s(1)?, s(2)?, s(3)?);
            let v = cast(b.column(4), &DataType::Float64)?;
            let v = v.as_primitive::<Float64Type>();
            let p = b.column(5).as_boolean();
            for i in 0..b.num_rows() {
                values.push(CheckValue {
                    table: t.value(i).to_string(),
                    check: c.value(i).to_string(),
                    column: col.is_valid(i).then(|| col.value(i).to_string()),
                    metric: m.value(i).to_string(),
                    value: v.is_valid(i).then(|| v.value(i)),
                    passed: p.is_valid(i).then(|| p.value(i)),
                });
            }
        }
        let mut snapshots = HashMap::new();
        for v in &values {
            if !snapshots.contains_key(&v.table) {
                let id = match self.catalog.load_table(&Self::ident(&v.table)).await {
                    Ok(t) => t.metadata().current_snapshot().map(|s| s.snapshot_id()),
                    Err(_) => None,
                };
                snapshots.insert(v.table.clone(), id);
            }
        }
        let n = values.len();
        self.append(&values, |t| snapshots.get(t).copied().flatten(), "full")
            .await?;
        let mut last = self.last.lock();
        last.at = Some(now_secs());
        let mut by_table: BTreeMap<String, Vec<CheckValue>> = BTreeMap::new();
        for v in values {
            by_table.entry(v.table.clone()).or_default().push(v);
        }
        last.tables = by_table;
        Ok(n)
    }

    /// Metrics of a stream commit: running totals plus the committed rows.
    pub async fn on_commit(&self, c: &Committed) -> Result<usize> {
        let name = format!(
            "{}.{}",
            c.table.namespace().as_ref().join("."),
            c.table.name()
        );
        let monitored = self.shared.monitored().await.map_err(df)?;
        let Some(m) = monitored.into_iter().find(|m| m.name() == name) else {
            return Ok(0);
        };
        let mut totals = self.totals.lock().await;
        let mut total = match totals.get(&name) {
            Some(t) => t.clone(),
            // Once per table and server start: the rows committed before.
            None => match lineage_filter(&m, &c.before, None) {
                Some(filter) => self.counts(&m, &filter).await?,
                None => Totals::default(),
            },
        };
        let table = self.catalog.load_table(&c.table).await?;
        let delta = match stats_delta(&table, c.snapshot_id, &m).await? {
            Some(d) => d,
            None => {
                let filter = lineage_filter(&m, &Offsets::new(), Some(&c.ranges))
                    .unwrap_or_else(|| "FALSE".into());
                self.counts(&m, &filter).await?
            }
        };
        total.add(&delta);
        let values = total.values(&m);
        totals.insert(name.clone(), total);
        drop(totals);
        let n = values.len();
        self.append(&values, |_| Some(c.snapshot_id), "incremental")
            .await?;
        let mut last = self.last.lock();
        last.at = Some(now_secs());
        let entry = last.tables.entry(name).or_default();
        for v in values {
            match entry
                .iter_mut()
                .find(|e| e.check == v.check && e.metric == v.metric)
            {
                Some(e) => *e = v,
                None => entry.push(v),
            }
        }
        Ok(n)
    }

    /// Row, non-null and violation counts of the rows matching `filter`.
    async fn counts(&self, m: &Monitored, filter: &str) -> Result<Totals> {
        let catalog = self.shared.catalog_name();
        let mut t = Totals::default();
        for b in self
            .query(&sql::completeness(catalog, m, Some(filter)))
            .await?
        {
            let col = cast(b.column(1), &DataType::Utf8)?;
            let col = col.as_string::<i32>();
            let rows = cast(b.column(2), &DataType::Int64)?;
            let nulls = cast(b.column(3), &DataType::Int64)?;
            let (rows, nulls) = (
                rows.as_primitive::<Int64Type>(),
                nulls.as_primitive::<Int64Type>(),
            );
            for i in 0..b.num_rows() {
                t.rows = rows.value(i) as u64;
                t.non_null.insert(
                    col.value(i).to_string(),
                    (rows.value(i) - nulls.value(i)) as u64,
                );
            }
        }
        if let Some(tc) = &m.time_column {
            let q = format!(
                "SELECT CAST(max(CAST({} AS TIMESTAMP(6))) AS BIGINT) FROM {} WHERE {filter}",
                sql::ident(tc),
                sql::table_ref(catalog, &m.schema, &m.table)
            );
            for b in self.query(&q).await? {
                let v = cast(b.column(0), &DataType::Int64)?;
                let v = v.as_primitive::<Int64Type>();
                if b.num_rows() > 0 && v.is_valid(0) {
                    t.newest_event_us = Some(v.value(0));
                }
            }
        }
        if let Some(q) = sql::validity(catalog, m, Some(filter)) {
            for b in self.query(&q).await? {
                let name = cast(b.column(2), &DataType::Utf8)?;
                let name = name.as_string::<i32>();
                let k = cast(b.column(4), &DataType::Int64)?;
                let v = cast(b.column(5), &DataType::Int64)?;
                let (k, v) = (k.as_primitive::<Int64Type>(), v.as_primitive::<Int64Type>());
                for i in 0..b.num_rows() {
                    t.checks.insert(
                        name.value(i).to_string(),
                        (k.value(i) as u64, v.value(i) as u64),
                    );
                }
            }
        }
        Ok(t)
    }

    async fn append(
        &self,
        values: &[CheckValue],
        snapshot: impl Fn(&str) -> Option<i64>,
        mode: &str,
    ) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let at = (now_secs() * 1e6) as i64;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                values.iter().map(|v| v.table.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                values.iter().map(|v| v.check.as_str()),
            )),
            Arc::new(StringArray::from_iter(
                values.iter().map(|v| v.column.as_deref()),
            )),
            Arc::new(StringArray::from_iter_values(
                values.iter().map(|v| v.metric.as_str()),
            )),
            Arc::new(Float64Array::from_iter(values.iter().map(|v| v.value))),
            Arc::new(BooleanArray::from_iter(values.iter().map(|v| v.passed))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(values.iter().map(|_| at))
                    .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from_iter(
                values.iter().map(|v| snapshot(&v.table)),
            )),
            Arc::new(StringArray::from_iter_values(values.iter().map(|_| mode))),
        ];
        let batch = RecordBatch::try_new(history_schema(), columns)?;
        let ident = TableIdent::new(
            NamespaceIdent::new(QUALITY_SCHEMA.into()),
            HISTORY_TABLE.into(),
        );
        let mut last_error = None;
        for _ in 0..5 {
            let table = ensure_table(self.catalog.as_ref(), &ident, &history_schema(), &[]).await?;
            let mut out = TableAppender::new(table)?;
            out.write(&batch).await?;
            match out.commit(self.catalog.as_ref(), HashMap::new()).await {
                Ok(_) => return Ok(()),
                // Another writer committed first: write again on the new snapshot.
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error
            .unwrap_or_else(|| ContangoError::unavailable("metrics_history commit failed")))
    }

    /// Runs the schedule (every `interval_secs`) and the commit feed until
    /// `shutdown` flips. Failures are logged; the next run tries again.
    pub async fn run(
        self: Arc<Self>,
        mut commits: tokio::sync::mpsc::UnboundedReceiver<Committed>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let every = self.shared.config.interval_secs;
        let mut tick = tokio::time::interval(Duration::from_secs(every.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate: skip it
        loop {
            tokio::select! {
                _ = tick.tick(), if every > 0 => {
                    match self.run_full().await {
                        Ok(n) => tracing::info!(checks = n, "quality metrics recorded"),
                        Err(e) => tracing::warn!(error = %e.message(), "quality metrics run failed; will retry"),
                    }
                }
                Some(c) = commits.recv() => {
                    if let Err(e) = self.on_commit(&c).await {
                        tracing::warn!(table = %c.table, error = %e.message(), "incremental quality metrics failed");
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
    }
}

/// `(_kafka_partition = p AND _kafka_offset < next)` over `before`, or the
/// `ranges` of one commit; `None` when there are no rows to select.
fn lineage_filter(
    m: &Monitored,
    before: &Offsets,
    ranges: Option<&BTreeMap<TopicPartition, (i64, i64)>>,
) -> Option<String> {
    let topic = |t: &str| {
        if m.multi_topic {
            format!(" AND _kafka_topic = {}", sql::text(t))
        } else {
            String::new()
        }
    };
    let parts: Vec<String> = match ranges {
        Some(r) => r
            .iter()
            .map(|((t, p), (a, b))| {
                format!(
                    "(_kafka_partition = {p} AND _kafka_offset BETWEEN {a} AND {b}{})",
                    topic(t)
                )
            })
            .collect(),
        None => before
            .iter()
            .map(|((t, p), next)| {
                format!(
                    "(_kafka_partition = {p} AND _kafka_offset < {next}{})",
                    topic(t)
                )
            })
            .collect(),
    };
    (!parts.is_empty()).then(|| parts.join(" OR "))
}

fn as_f64(l: &PrimitiveLiteral) -> Option<f64> {
    match l {
        PrimitiveLiteral::Int(i) => Some(*i as f64),
        PrimitiveLiteral::Long(i) => Some(*i as f64),
        PrimitiveLiteral::Float(f) => Some(f.0 as f64),
        PrimitiveLiteral::Double(d) => Some(d.0),
        _ => None,
    }
}

/// Counts of the rows snapshot `snapshot_id` added, from its data files'
/// statistics: exact row and null counts; every check decided by the
/// bounds (`None` when some statistic is missing or a check could fail).
async fn stats_delta(table: &Table, snapshot_id: i64, m: &Monitored) -> Result<Option<Totals>> {
    let Some(snapshot) = table.metadata().snapshot_by_id(snapshot_id) else {
        return Ok(None);
    };
    let schema = table.metadata().current_schema().clone();
    let list = table.manifest_list_reader(snapshot).load().await?;
    let mut files = Vec::new();
    for manifest_file in list.entries() {
        if manifest_file.added_snapshot_id != snapshot_id {
            continue;
        }
        let manifest = manifest_file.load_manifest(table.file_io()).await?;
        for entry in manifest.entries() {
            if entry.status() == ManifestStatus::Added {
                files.push(entry.data_file().clone());
            }
        }
    }
    let mut t = Totals {
        rows: files.iter().map(|f| f.record_count()).sum(),
        ..Default::default()
    };
    let id = |c: &str| schema.field_by_name(c).map(|f| f.id);
    for (c, _, _) in &m.columns {
        let Some(fid) = id(c) else { return Ok(None) };
        let mut nulls = 0;
        for f in &files {
            match f.null_value_counts().get(&fid) {
                Some(n) => nulls += n,
                None => return Ok(None),
            }
        }
        t.non_null.insert(c.clone(), t.rows - nulls);
    }
    if let Some(fid) = m.time_column.as_deref().and_then(id) {
        for f in &files {
            match f.upper_bounds().get(&fid) {
                Some(hi)
                    if matches!(
                        hi.data_type(),
                        PrimitiveType::Timestamp | PrimitiveType::Timestamptz
                    ) =>
                {
                    if let PrimitiveLiteral::Long(h) = hi.literal() {
                        t.newest_event_us = t.newest_event_us.max(Some(*h));
                    }
                }
                // Without the bound the commit's freshness is not known exactly.
                _ => return Ok(None),
            }
        }
    }
    let now_us =
        (now_secs() * 1e6) as i64 + crate::monitor::FUTURE_TOLERANCE_SECS as i64 * 1_000_000;
    for c in &m.checks {
        let Some(fid) = id(&c.column) else {
            return Ok(None);
        };
        let checked = t.non_null.get(&c.column).copied().unwrap_or(0);
        for f in &files {
            let non_null = f.record_count() - f.null_value_counts().get(&fid).copied().unwrap_or(0);
            if non_null == 0 {
                continue;
            }
            let (Some(lo), Some(hi)) = (f.lower_bounds().get(&fid), f.upper_bounds().get(&fid))
            else {
                return Ok(None);
            };
            let decided = match c.rule {
                RuleType::Finite => {
                    f.nan_value_counts().get(&fid) == Some(&0)
                        && as_f64(lo.literal()).is_some_and(f64::is_finite)
                        && as_f64(hi.literal()).is_some_and(f64::is_finite)
                }
                RuleType::Range => {
                    let r = c.range.clone().unwrap_or_default();
                    match (as_f64(lo.literal()), as_f64(hi.literal())) {
                        (Some(lo), Some(hi)) => {
                            r.greater_than.is_none_or(|g| lo > g)
                                && r.at_least.is_none_or(|a| lo >= a)
                                && r.less_than.is_none_or(|l| hi < l)
                                && r.at_most.is_none_or(|a| hi <= a)
                        }
                        _ => false,
                    }
                }
                RuleType::Future => {
                    matches!(
                        hi.data_type(),
                        PrimitiveType::Timestamp | PrimitiveType::Timestamptz
                    ) && matches!(hi.literal(), PrimitiveLiteral::Long(h) if *h <= now_us)
                }
                RuleType::Allowed | RuleType::Pattern => false,
            };
            if !decided {
                return Ok(None);
            }
        }
        t.checks.insert(c.name.clone(), (checked, 0));
    }
    Ok(Some(t))
}
