//! `asof_join(left, right, on, ts, join)`: every row of `left` (trades) with
//! the row of `right` (quotes) of the same `on` keys whose `ts` is the latest
//! at or before the left row's `ts` — what `ASOF JOIN ... MATCH_CONDITION
//! (l.ts >= r.ts)` does in DuckDB and Snowflake (DataFusion's parser has no
//! ASOF join, hence a table function).
//!
//! - `on`: comma-separated key columns present in both tables (may be empty);
//! - `ts`: the time column of both tables (`'ts'`), or `'left_ts,right_ts'`;
//! - `join`: `'inner'` (default: left rows without a match are dropped) or
//!   `'left'` (kept, with NULL right columns).
//!
//! Output: the left columns, then the right columns except the keys; a right
//! column whose name the left side already has is prefixed `right_`.
//!
//! The right side is the build side (held in memory, sorted by time per key);
//! the left side streams through and each row is matched by binary search.
//!
//! Filters on the result that name only left columns filter the left input
//! (each left row's result depends on that row alone). Those on the keys
//! filter the right input too; an upper bound on the left time bounds the
//! right time; a lower bound on it limits the right input to the latest row
//! before it per key and what follows ([`super::history`]). So the right side
//! held in memory is what the filtered left rows can match.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{concat_batches, filter_record_batch, take};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::catalog::{Session, TableFunctionImpl};
use datafusion::common::ScalarValue;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::{Distribution, EquivalenceProperties, Partitioning};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};

use crate::history;

/// Argument order of `asof_join(...)` (for named arguments).
pub const ARGUMENTS: &[&str] = &["left", "right", "on", "ts", "join"];

/// The `asof_join` table function. A table function is called without a
/// session, but its schema depends on the tables: [`prepare`] resolves the
/// calls of a statement first and registers an instance that knows them.
#[derive(Debug, Default)]
pub struct AsofJoin {
    /// Output schema and left column count of each resolved call.
    resolved: HashMap<String, (SchemaRef, usize)>,
}

fn bad(message: impl Into<String>) -> DataFusionError {
    DataFusionError::Plan(message.into())
}

fn text(args: &[Expr], i: usize) -> DFResult<Option<String>> {
    match args.get(i) {
        None => Ok(None),
        Some(Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _)) => {
            Ok(Some(s.clone()))
        }
        Some(Expr::Literal(v, _)) if v.is_null() => Ok(None),
        Some(_) => Err(bad(format!(
            "asof_join: argument '{}' must be a string",
            ARGUMENTS[i]
        ))),
    }
}

fn table_name(name: &str) -> DFResult<String> {
    let safe = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '$' | '"'));
    if safe {
        Ok(name.to_string())
    } else {
        Err(bad(format!("asof_join: invalid table name '{name}'")))
    }
}

fn columns(list: &str) -> Vec<String> {
    list.split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

impl Spec {
    /// From the five arguments (NULL: the default).
    fn parse(args: &[Option<String>]) -> DFResult<Spec> {
        let arg = |i: usize| args.get(i).cloned().flatten();
        let left = arg(0).ok_or_else(|| bad("asof_join: the left table is required"))?;
        let right = arg(1).ok_or_else(|| bad("asof_join: the right table is required"))?;
        let on = columns(&arg(2).unwrap_or_default());
        let ts = columns(&arg(3).unwrap_or_else(|| "ts".into()));
        let (left_ts, right_ts) = match ts.as_slice() {
            [t] => (t.clone(), t.clone()),
            [l, r] => (l.clone(), r.clone()),
            _ => return Err(bad("asof_join: ts must be 'col' or 'left_col,right_col'")),
        };
        let join = arg(4)
            .unwrap_or_else(|| "inner".into())
            .to_ascii_lowercase();
        if join != "inner" && join != "left" {
            return Err(bad(format!(
                "asof_join: join must be 'inner' or 'left', not '{join}'"
            )));
        }
        Ok(Spec {
            left: table_name(&left)?,
            right: table_name(&right)?,
            on,
            left_ts,
            right_ts,
            outer: join == "left",
        })
    }

    fn key(&self) -> String {
        format!("{self:?}")
    }
}

impl TableFunctionImpl for AsofJoin {
    fn call(&self, args: &[Expr]) -> DFResult<Arc<dyn TableProvider>> {
        let strings = (0..args.len().min(ARGUMENTS.len()))
            .map(|i| text(args, i))
            .collect::<DFResult<Vec<_>>>()?;
        if args.len() > ARGUMENTS.len() {
            return Err(bad("asof_join takes at most 5 arguments"));
        }
        let spec = Spec::parse(&strings)?;
        let (schema, left_columns) = self
            .resolved
            .get(&spec.key())
            .cloned()
            .ok_or_else(|| bad("asof_join: the arguments must be string literals"))?;
        Ok(Arc::new(AsofTable {
            spec,
            schema,
            left_columns,
        }))
    }
}

/// Resolves every `asof_join(...)` call of a statement, given as its
/// `tokens` (positional string arguments), against `ctx`'s tables and
/// registers an `asof_join` that knows their schemas. Missing tables and
/// columns are reported here.
pub async fn prepare(
    ctx: &SessionContext,
    tokens: &[datafusion::sql::sqlparser::tokenizer::Token],
) -> contango_common::Result<()> {
    use datafusion::sql::sqlparser::tokenizer::Token;
    let mut resolved = HashMap::new();
    for i in 0..tokens.len() {
        let is_call = matches!(&tokens[i], Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("asof_join"))
            && tokens.get(i + 1) == Some(&Token::LParen);
        if !is_call {
            continue;
        }
        let mut args = Vec::new();
        let mut literal = true;
        for t in &tokens[i + 2..] {
            match t {
                Token::RParen => break,
                Token::Comma => {}
                Token::SingleQuotedString(s) => args.push(Some(s.clone())),
                Token::Word(w) if w.value.eq_ignore_ascii_case("null") => args.push(None),
                _ => literal = false,
            }
        }
        if !literal {
            continue; // call() reports it
        }
        let spec = Spec::parse(&args)?;
        let left = ctx.table_provider(spec.left.as_str()).await?;
        let right = ctx.table_provider(spec.right.as_str()).await?;
        let layout = layout(&spec, &left.schema(), &right.schema(), spec.outer)?;
        resolved.insert(spec.key(), (layout.schema, left.schema().fields().len()));
    }
    ctx.register_udtf("asof_join", Arc::new(AsofJoin { resolved }));
    Ok(())
}

#[derive(Debug, Clone)]
struct Spec {
    left: String,
    right: String,
    on: Vec<String>,
    left_ts: String,
    right_ts: String,
    outer: bool,
}

#[derive(Debug)]
struct AsofTable {
    spec: Spec,
    schema: SchemaRef,
    /// The first `left_columns` output columns are the left table's.
    left_columns: usize,
}

/// Where a filter on the result goes (see the module docs).
struct Pushed {
    left: Expr,
    right: Option<Expr>,
}

/// Column positions and the output schema.
#[derive(Debug, Clone)]
struct Layout {
    left_keys: Vec<usize>,
    left_ts: usize,
    right_keys: Vec<usize>,
    right_ts: usize,
    /// Right columns in the output (all but the keys).
    right_out: Vec<usize>,
    schema: SchemaRef,
}

fn layout(spec: &Spec, l: &Schema, r: &Schema, outer: bool) -> DFResult<Layout> {
    let find = |s: &Schema, side: &str, table: &str, c: &str| {
        s.index_of(c).map_err(|_| {
            bad(format!(
                "asof_join: {side} table {table} has no column '{c}'"
            ))
        })
    };
    let left_keys = spec
        .on
        .iter()
        .map(|c| find(l, "left", &spec.left, c))
        .collect::<DFResult<Vec<_>>>()?;
    let right_keys = spec
        .on
        .iter()
        .map(|c| find(r, "right", &spec.right, c))
        .collect::<DFResult<Vec<_>>>()?;
    let left_ts = find(l, "left", &spec.left, &spec.left_ts)?;
    let right_ts = find(r, "right", &spec.right, &spec.right_ts)?;
    for (i, ts) in [(left_ts, l), (right_ts, r)] {
        let t = ts.field(i).data_type();
        if !matches!(
            t,
            DataType::Timestamp(_, _) | DataType::Date32 | DataType::Int64 | DataType::Int32
        ) {
            return Err(bad(format!(
                "asof_join: the time column '{}' must be a timestamp, date or integer, not {t}",
                ts.field(i).name()
            )));
        }
    }
    let right_out: Vec<usize> = (0..r.fields().len())
        .filter(|i| !right_keys.contains(i))
        .collect();
    let mut fields: Vec<Field> = l.fields().iter().map(|f| f.as_ref().clone()).collect();
    for &i in &right_out {
        let f = r.field(i);
        let name = if l.field_with_name(f.name()).is_ok() {
            format!("right_{}", f.name())
        } else {
            f.name().clone()
        };
        fields.push(Field::new(
            name,
            f.data_type().clone(),
            f.is_nullable() || outer,
        ));
    }
    Ok(Layout {
        left_keys,
        left_ts,
        right_keys,
        right_ts,
        right_out,
        schema: Arc::new(Schema::new(fields)),
    })
}

impl AsofTable {
    /// Where `filter` (a conjunct of a filter on the result) may also filter
    /// the inputs without changing a row that passes it, if anywhere.
    fn pushdown(&self, filter: &Expr) -> Option<Pushed> {
        if !history::movable(filter) {
            return None;
        }
        let names = filter.column_refs();
        let left_names: Vec<&str> = self.schema.fields()[..self.left_columns]
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        if !names.iter().all(|c| left_names.contains(&c.name.as_str())) {
            return None;
        }
        let right = if names.iter().all(|c| self.spec.on.contains(&c.name)) {
            Some(history::unqualified(filter.clone()))
        } else {
            history::upper_bound(filter, &self.spec.left_ts)
                .map(|(_, bound)| history::column(&self.spec.right_ts).lt_eq(bound))
        };
        Some(Pushed {
            left: history::unqualified(filter.clone()),
            right,
        })
    }

    async fn inputs(
        &self,
        state: &dyn Session,
        filters: &[Expr],
    ) -> DFResult<(Arc<dyn ExecutionPlan>, Arc<dyn ExecutionPlan>, Layout)> {
        let ctx = contango_common::columns::context_of(state, "asof_join")?;
        let mut left = ctx
            .sql(&format!("SELECT * FROM {}", self.spec.left))
            .await?;
        let mut right = ctx
            .sql(&format!("SELECT * FROM {}", self.spec.right))
            .await?;
        let mut lower: Option<i64> = None;
        for f in filters {
            let Some(pushed) = self.pushdown(f) else {
                continue;
            };
            left = left.filter(pushed.left)?;
            if let Some(r) = pushed.right {
                right = right.filter(r)?;
            }
            lower = lower.max(history::lower_bound(f, &self.spec.left_ts));
        }
        // Left rows at or after the bound match the latest right row before it
        // (per key) or later ones.
        if let Some(bound) = lower {
            let keys: Vec<&str> = self.spec.on.iter().map(String::as_str).collect();
            let series = history::Series {
                keys: &keys,
                ts: &self.spec.right_ts,
            };
            let need = history::Need {
                cut: bound,
                rows: 1,
                first_span: history::HOUR,
            };
            if let Some(start) = history::start(&right, left.clone(), series, need).await?
                && let Some(from) = history::ts_literal(&right, &self.spec.right_ts, start)
            {
                right = right.filter(history::column(&self.spec.right_ts).gt_eq(from))?;
            }
        }
        let left = left.create_physical_plan().await?;
        let right = right.create_physical_plan().await?;
        let layout = layout(&self.spec, &left.schema(), &right.schema(), self.spec.outer)?;
        Ok((left, right, layout))
    }
}

#[async_trait]
impl TableProvider for AsofTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        Ok(history::inexact_where(filters, |f| {
            self.pushdown(f).is_some()
        }))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let (left, right, layout) = self.inputs(state, filters).await?;
        let exec: Arc<dyn ExecutionPlan> =
            Arc::new(AsofJoinExec::new(left, right, layout, self.spec.clone()));
        contango_common::columns::project(exec, projection)
    }
}

/// The ASOF join operator (see the module docs).
#[derive(Debug)]
pub struct AsofJoinExec {
    left: Arc<dyn ExecutionPlan>,
    right: Arc<dyn ExecutionPlan>,
    layout: Layout,
    spec: Spec,
    props: Arc<PlanProperties>,
}

impl AsofJoinExec {
    fn new(
        left: Arc<dyn ExecutionPlan>,
        right: Arc<dyn ExecutionPlan>,
        layout: Layout,
        spec: Spec,
    ) -> Self {
        let props = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(layout.schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            left,
            right,
            layout,
            spec,
            props,
        }
    }
}

impl DisplayAs for AsofJoinExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AsofJoinExec: join={}, on=[{}], match={} >= {}",
            if self.spec.outer { "left" } else { "inner" },
            self.spec.on.join(", "),
            self.spec.left_ts,
            self.spec.right_ts
        )
    }
}

impl ExecutionPlan for AsofJoinExec {
    fn name(&self) -> &str {
        "AsofJoinExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.left, &self.right]
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition, Distribution::SinglePartition]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let right = children.remove(1);
        let left = children.remove(0);
        Ok(Arc::new(AsofJoinExec::new(
            left,
            right,
            self.layout.clone(),
            self.spec.clone(),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DFResult<SendableRecordBatchStream> {
        let right = self.right.execute(partition, context.clone())?;
        let mut left = Some(self.left.execute(partition, context)?);
        let (layout, build_layout) = (self.layout.clone(), self.layout.clone());
        let outer = self.spec.outer;
        let right_schema = self.right.schema();
        let stream = futures::stream::once(async move {
            let batches: Vec<RecordBatch> = right.try_collect().await?;
            Build::new(&right_schema, &batches, &build_layout)
        })
        .flat_map(move |build| {
            let left = left.take().expect("one build");
            let layout = layout.clone();
            match build {
                Ok(build) => left
                    .map(move |b| b.and_then(|b| build.probe(&b, &layout, outer)))
                    .boxed(),
                Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.layout.schema.clone(),
            stream,
        )))
    }
}

/// Right rows of one key: their times (sorted) and row indexes.
type Group = (Vec<i64>, Vec<u32>);

/// Row `i`'s key bytes; without key columns (`keys == 0`) every row has the
/// empty key, so all rows form one group (a converter of no columns holds no
/// rows to index).
fn key_bytes(rows: &datafusion::arrow::row::Rows, keys: usize, i: usize) -> &[u8] {
    match keys {
        0 => &[],
        _ => rows.row(i).data(),
    }
}

/// The right side: rows grouped by key, each group sorted by time.
struct Build {
    rows: RecordBatch,
    converter: RowConverter,
    /// key → (times, row indexes), sorted by time.
    groups: HashMap<Box<[u8]>, Group>,
}

impl Build {
    fn new(schema: &SchemaRef, batches: &[RecordBatch], layout: &Layout) -> DFResult<Build> {
        let rows = concat_batches(schema, batches)?;
        if rows.num_rows() > u32::MAX as usize {
            return Err(DataFusionError::ResourcesExhausted(
                "asof_join: the right table has more than 2^32 rows".into(),
            ));
        }
        let key_fields: Vec<SortField> = layout
            .right_keys
            .iter()
            .map(|i| SortField::new(schema.field(*i).data_type().clone()))
            .collect();
        let converter = RowConverter::new(key_fields)?;
        let keys: Vec<ArrayRef> = layout
            .right_keys
            .iter()
            .map(|i| rows.column(*i).clone())
            .collect();
        let converted = converter.convert_columns(&keys)?;
        let t = contango_common::columns::time_micros(rows.column(layout.right_ts))?;
        let t = t.as_primitive::<Int64Type>();
        let mut groups: HashMap<Box<[u8]>, Group> = HashMap::new();
        for i in 0..rows.num_rows() {
            if t.is_null(i) {
                continue;
            }
            let k = key_bytes(&converted, keys.len(), i);
            let entry = match groups.get_mut(k) {
                Some(e) => e,
                None => groups.entry(k.into()).or_default(),
            };
            entry.0.push(t.value(i));
            entry.1.push(i as u32);
        }
        for (ts, idx) in groups.values_mut() {
            let mut order: Vec<usize> = (0..ts.len()).collect();
            // Stable: among equal times the later row wins.
            order.sort_by_key(|&j| ts[j]);
            *ts = order.iter().map(|&j| ts[j]).collect();
            *idx = order.iter().map(|&j| idx[j]).collect();
        }
        Ok(Build {
            rows,
            converter,
            groups,
        })
    }

    fn probe(&self, batch: &RecordBatch, layout: &Layout, outer: bool) -> DFResult<RecordBatch> {
        let n = batch.num_rows();
        let keys: Vec<ArrayRef> = layout
            .left_keys
            .iter()
            .map(|i| batch.column(*i).clone())
            .collect();
        let converted = self.converter.convert_columns(&keys)?;
        let t = contango_common::columns::time_micros(batch.column(layout.left_ts))?;
        let t = t.as_primitive::<Int64Type>();
        let key_nulls: Vec<Option<datafusion::arrow::buffer::NullBuffer>> =
            keys.iter().map(|k| k.logical_nulls()).collect();
        let matched: UInt32Array = (0..n)
            .map(|i| {
                // SQL equality: a NULL key or time matches nothing.
                if t.is_null(i) || key_nulls.iter().flatten().any(|nb| nb.is_null(i)) {
                    return None;
                }
                let (ts, idx) = self.groups.get(key_bytes(&converted, keys.len(), i))?;
                let p = ts.partition_point(|x| *x <= t.value(i));
                (p > 0).then(|| idx[p - 1])
            })
            .collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for &c in &layout.right_out {
            columns.push(take(self.rows.column(c), &matched, None)?);
        }
        let out = contango_common::columns::batch_of(&layout.schema, columns)?;
        if outer {
            return Ok(out);
        }
        let keep = datafusion::arrow::array::BooleanArray::from(
            (0..n).map(|i| matched.is_valid(i)).collect::<Vec<_>>(),
        );
        Ok(filter_record_batch(&out, &keep)?)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;

    use super::*;

    fn table(cols: Vec<(&str, ArrayRef)>) -> Arc<MemTable> {
        let schema = Arc::new(Schema::new(
            cols.iter()
                .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let batch =
            RecordBatch::try_new(schema.clone(), cols.into_iter().map(|(_, a)| a).collect())
                .unwrap();
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())
    }

    async fn run(ctx: &SessionContext, sql: &str) -> DFResult<String> {
        use datafusion::sql::sqlparser::dialect::GenericDialect;
        use datafusion::sql::sqlparser::tokenizer::Token;
        use datafusion::sql::sqlparser::tokenizer::Tokenizer;
        let tokens: Vec<Token> = Tokenizer::new(&GenericDialect {}, sql)
            .tokenize()
            .unwrap()
            .into_iter()
            .filter(|t| !matches!(t, Token::Whitespace(_)))
            .collect();
        prepare(ctx, &tokens)
            .await
            .map_err(|e| DataFusionError::Plan(e.message().to_string()))?;
        let batches = ctx.sql(sql).await?.collect().await?;
        Ok(pretty_format_batches(&batches)?.to_string())
    }

    #[tokio::test]
    async fn trades_get_the_latest_quote_at_or_before() {
        let ctx = SessionContext::new();
        crate::register_all(&ctx, "UTC");
        ctx.register_table(
            "trades",
            table(vec![
                (
                    "commodity",
                    Arc::new(StringArray::from(vec![
                        "WTI", "WTI", "WTI", "HH", "HH", "BRENT",
                    ])),
                ),
                (
                    "ts",
                    Arc::new(Int64Array::from(vec![10, 20, 5, 15, 30, 40])),
                ),
                (
                    "price",
                    Arc::new(Float64Array::from(vec![70.0, 71.0, 69.0, 3.1, 3.3, 80.0])),
                ),
            ]),
        )
        .unwrap();
        ctx.register_table(
            "quotes",
            table(vec![
                (
                    "commodity",
                    Arc::new(StringArray::from(vec!["WTI", "WTI", "WTI", "HH", "HH"])),
                ),
                ("ts", Arc::new(Int64Array::from(vec![8, 20, 25, 15, 1]))),
                (
                    "bid",
                    Arc::new(Float64Array::from(vec![69.9, 70.9, 71.5, 3.0, 2.5])),
                ),
            ]),
        )
        .unwrap();
        // WTI@10 → quote@8; WTI@20 → quote@20 (equal times match); WTI@5 → none;
        // HH@15 → quote@15; HH@30 → quote@15; BRENT has no quotes.
        let inner = run(
            &ctx,
            "SELECT commodity, ts, price, right_ts, bid FROM asof_join('trades', 'quotes', 'commodity', 'ts') ORDER BY commodity, ts",
        )
        .await
        .unwrap();
        let expected = "\
+-----------+----+-------+----------+------+
| commodity | ts | price | right_ts | bid  |
+-----------+----+-------+----------+------+
| HH        | 15 | 3.1   | 15       | 3.0  |
| HH        | 30 | 3.3   | 15       | 3.0  |
| WTI       | 10 | 70.0  | 8        | 69.9 |
| WTI       | 20 | 71.0  | 20       | 70.9 |
+-----------+----+-------+----------+------+";
        assert_eq!(inner, expected);
        let left = run(
            &ctx,
            "SELECT count(*), count(bid) FROM asof_join('trades', 'quotes', 'commodity', 'ts', 'left')",
        )
        .await
        .unwrap();
        assert!(left.replace(" ", "").contains("|6|4|"), "{left}");
        for (sql, message) in [
            (
                "SELECT * FROM asof_join('trades', 'nope', 'commodity')",
                "nope",
            ),
            (
                "SELECT * FROM asof_join('trades', 'quotes', 'venue')",
                "has no column 'venue'",
            ),
            (
                "SELECT * FROM asof_join('trades', 'quotes', 'commodity', 'ts', 'outer')",
                "'inner' or 'left'",
            ),
            (
                "SELECT * FROM asof_join('trades', 'quotes', 'commodity', 'price')",
                "has no column 'price'",
            ),
        ] {
            let e = run(&ctx, sql).await.unwrap_err().to_string();
            assert!(e.contains(message), "{sql}: {e}");
        }
    }
}
