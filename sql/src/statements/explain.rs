//! Trino's `EXPLAIN` forms: `EXPLAIN [ANALYZE [VERBOSE]] [(TYPE t, FORMAT f)]`,
//! answered with one `Query Plan` varchar (or `Valid` boolean for
//! `TYPE VALIDATE`), and `TYPE IO, FORMAT JSON` shaped as Trino's IoPlan, which
//! Superset reads for its query cost estimate.

use std::sync::Arc;

use datafusion::arrow::array::{BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::utils::split_conjunction_owned;
use datafusion::logical_expr::{BinaryExpr, Expr, LogicalPlan, Operator};
use datafusion::physical_plan::{ExecutionPlan, displayable};
use serde_json::{Value, json};

use crate::lexer::Cursor;
use contango_common::error::{ContangoError, Result};
use contango_common::session::Session;
use contango_common::types::TrinoType;

/// Which plan `EXPLAIN` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplainType {
    /// The optimized logical plan.
    Logical,
    /// The plan as executed (Trino's default).
    Distributed,
    /// Only check that the statement plans.
    Validate,
    /// Tables and columns read, with constraints and estimates.
    Io,
}

/// How `EXPLAIN` renders the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplainFormat {
    /// Indented text.
    Text,
    /// JSON.
    Json,
    /// Graphviz dot.
    Graphviz,
}

/// `[ANALYZE [VERBOSE]] [( option [, ...] )]` after `EXPLAIN`.
pub fn options(c: &mut Cursor<'_>) -> Result<(bool, ExplainType, ExplainFormat)> {
    let analyze = c.keyword("ANALYZE");
    if analyze {
        c.keyword("VERBOSE");
    }
    let mut kind = ExplainType::Distributed;
    let mut format = ExplainFormat::Text;
    // `(` starts options only when followed by TYPE or FORMAT: `EXPLAIN (SELECT 1)` is a query.
    if matches!(
        c.peek(),
        Some(datafusion::sql::sqlparser::tokenizer::Token::LParen)
    ) && (c.is_keyword_at(1, "TYPE") || c.is_keyword_at(1, "FORMAT"))
    {
        c.pos += 1;
        loop {
            if c.keyword("TYPE") {
                kind = if c.keyword("LOGICAL") {
                    ExplainType::Logical
                } else if c.keyword("DISTRIBUTED") {
                    ExplainType::Distributed
                } else if c.keyword("VALIDATE") {
                    ExplainType::Validate
                } else if c.keyword("IO") {
                    ExplainType::Io
                } else {
                    return Err(c.unexpected("LOGICAL, DISTRIBUTED, VALIDATE or IO"));
                };
            } else if c.keyword("FORMAT") {
                format = if c.keyword("TEXT") {
                    ExplainFormat::Text
                } else if c.keyword("JSON") {
                    ExplainFormat::Json
                } else if c.keyword("GRAPHVIZ") {
                    ExplainFormat::Graphviz
                } else {
                    return Err(c.unexpected("TEXT, JSON or GRAPHVIZ"));
                };
            } else {
                return Err(c.unexpected("TYPE or FORMAT"));
            }
            use datafusion::sql::sqlparser::tokenizer::Token;
            if c.token(&Token::RParen) {
                break;
            }
            if !c.token(&Token::Comma) {
                return Err(c.unexpected("',' or ')'"));
            }
        }
    }
    if analyze && kind != ExplainType::Distributed {
        return Err(ContangoError::not_supported(
            "EXPLAIN ANALYZE only supports TYPE DISTRIBUTED",
        ));
    }
    Ok((analyze, kind, format))
}

/// The one-row result of an `EXPLAIN` of `frame`.
pub async fn render(
    session: &Session,
    frame: DataFrame,
    analyze: bool,
    kind: ExplainType,
    format: ExplainFormat,
) -> Result<RecordBatch> {
    if kind == ExplainType::Validate {
        frame.create_physical_plan().await?;
        return Ok(RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "Valid",
                DataType::Boolean,
                false,
            )])),
            vec![Arc::new(BooleanArray::from(vec![true]))],
        )?);
    }
    let text = if analyze {
        analyzed(frame).await?
    } else {
        match (kind, format) {
            (ExplainType::Io, _) => io_plan(session, frame.logical_plan()).to_string(),
            (_, ExplainFormat::Graphviz) => frame.logical_plan().display_graphviz().to_string(),
            (ExplainType::Logical, ExplainFormat::Text) => {
                frame.logical_plan().display_indent_schema().to_string()
            }
            (ExplainType::Logical, ExplainFormat::Json) => {
                frame.logical_plan().display_pg_json().to_string()
            }
            (_, ExplainFormat::Text) => {
                let plan = frame.create_physical_plan().await?;
                displayable(plan.as_ref()).indent(true).to_string()
            }
            (_, ExplainFormat::Json) => {
                let plan = frame.create_physical_plan().await?;
                serde_json::to_string_pretty(&plan_json(&plan, &mut 0))
                    .map_err(|e| ContangoError::internal(e.to_string()))?
            }
        }
    };
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "Query Plan",
            DataType::Utf8,
            false,
        )])),
        vec![Arc::new(StringArray::from(vec![text]))],
    )?)
}

/// Runs the statement and returns the executed plan with its metrics.
async fn analyzed(frame: DataFrame) -> Result<String> {
    let batches = frame.explain(false, true)?.collect().await?;
    let mut out = String::new();
    for batch in &batches {
        let plans = batch
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| ContangoError::internal("EXPLAIN ANALYZE plan column is not text"))?;
        for plan in plans.iter().flatten() {
            out.push_str(plan);
        }
    }
    Ok(out)
}

/// A physical plan as a JSON tree (Trino's JSON plan fields: id, name,
/// descriptor, children).
fn plan_json(plan: &Arc<dyn ExecutionPlan>, next_id: &mut usize) -> Value {
    let id = *next_id;
    *next_id += 1;
    let line = displayable(plan.as_ref()).one_line().to_string();
    let descriptor = line
        .trim()
        .split_once(": ")
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();
    let outputs: Vec<Value> = plan
        .schema()
        .fields()
        .iter()
        .map(|f| json!({"symbol": f.name(), "type": TrinoType::from_arrow(f.data_type()).name()}))
        .collect();
    json!({
        "id": id.to_string(),
        "name": plan.name(),
        "descriptor": {"details": descriptor},
        "outputs": outputs,
        "children": plan.children().into_iter().map(|c| plan_json(c, next_id)).collect::<Vec<_>>(),
    })
}

/// Trino's IoPlan: every table read, with the columns constrained by pushed
/// filters and the estimates the table's statistics give.
fn io_plan(session: &Session, plan: &LogicalPlan) -> Value {
    let mut tables = Vec::new();
    let (mut rows, mut bytes) = (0f64, 0f64);
    // Filters DataFusion keeps above a scan constrain it as much as pushed ones.
    let mut above: Vec<(String, Expr)> = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Filter(filter) = node
            && let LogicalPlan::TableScan(scan) = filter.input.as_ref()
        {
            for conjunct in split_conjunction_owned(filter.predicate.clone()) {
                above.push((scan.table_name.to_string(), conjunct));
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let (catalog, schema, table) = match &scan.table_name {
                datafusion::sql::TableReference::Full {
                    catalog,
                    schema,
                    table,
                } => (catalog.to_string(), schema.to_string(), table.to_string()),
                datafusion::sql::TableReference::Partial { schema, table } => (
                    session.catalog.clone(),
                    schema.to_string(),
                    table.to_string(),
                ),
                datafusion::sql::TableReference::Bare { table } => (
                    session.catalog.clone(),
                    session.schema.clone(),
                    table.to_string(),
                ),
            };
            let stats = source_as_provider(&scan.source)
                .ok()
                .and_then(|p| p.statistics());
            let value = |p: Option<&Precision<usize>>| {
                p.and_then(|p| p.get_value().copied()).map(|v| v as f64)
            };
            let table_rows = value(stats.as_ref().map(|s| &s.num_rows));
            let table_bytes = value(stats.as_ref().map(|s| &s.total_byte_size));
            rows += table_rows.unwrap_or(0.0);
            bytes += table_bytes.unwrap_or(0.0);
            let name = scan.table_name.to_string();
            let mut constraints: Vec<Value> = scan
                .filters
                .iter()
                .flat_map(|f| split_conjunction_owned(f.clone()))
                .chain(
                    above
                        .iter()
                        .filter(|(t, _)| *t == name)
                        .map(|(_, e)| e.clone()),
                )
                .filter_map(|f| column_constraint(&f, scan.source.schema().as_ref()))
                .collect();
            constraints.dedup();
            tables.push(json!({
                "table": {"catalog": catalog, "schemaTable": {"schema": schema, "table": table}},
                "columnConstraints": constraints,
                "estimate": estimate(table_rows, table_bytes),
            }));
        }
        Ok(TreeNodeRecursion::Continue)
    });
    json!({
        "inputTableColumnInfos": tables,
        "estimate": estimate(Some(rows), Some(bytes)),
    })
}

fn estimate(rows: Option<f64>, bytes: Option<f64>) -> Value {
    json!({
        "outputRowCount": rows.unwrap_or(0.0),
        "outputSizeInBytes": bytes.unwrap_or(0.0),
        "cpuCost": bytes.unwrap_or(0.0),
        "maxMemory": 0.0,
        "networkCost": 0.0,
    })
}

/// `column <op> literal` as a Trino column constraint with one range.
fn column_constraint(filter: &Expr, schema: &Schema) -> Option<Value> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = filter else {
        return None;
    };
    let (column, literal, op) = match (left.as_ref(), right.as_ref()) {
        (Expr::Column(c), Expr::Literal(v, _)) => (c, v, *op),
        (Expr::Literal(v, _), Expr::Column(c)) => (c, v, op.swap()?),
        _ => return None,
    };
    let field = schema.field_with_name(&column.name).ok()?;
    let value = json!(literal.to_string());
    let exactly = |v: &Value| json!({"value": v, "bound": "EXACTLY"});
    let above = |v: &Value| json!({"value": v, "bound": "ABOVE"});
    let below = |v: &Value| json!({"value": v, "bound": "BELOW"});
    let unbounded_low = json!({"bound": "ABOVE"});
    let unbounded_high = json!({"bound": "BELOW"});
    let range = match op {
        Operator::Eq => json!({"low": exactly(&value), "high": exactly(&value)}),
        Operator::Gt => json!({"low": above(&value), "high": unbounded_high}),
        Operator::GtEq => json!({"low": exactly(&value), "high": unbounded_high}),
        Operator::Lt => json!({"low": unbounded_low, "high": below(&value)}),
        Operator::LtEq => json!({"low": unbounded_low, "high": exactly(&value)}),
        _ => return None,
    };
    Some(json!({
        "columnName": column.name,
        "type": TrinoType::from_arrow(field.data_type()).name(),
        "domain": {"nullsAllowed": false, "ranges": [range]},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::tokenizer::Token;

    fn opts(sql: &str) -> Result<(bool, ExplainType, ExplainFormat)> {
        let mut c = Cursor::new(sql)?;
        c.keyword("EXPLAIN");
        options(&mut c)
    }

    #[test]
    fn option_forms() {
        assert_eq!(
            opts("EXPLAIN (TYPE IO, FORMAT JSON) SELECT 1").unwrap(),
            (false, ExplainType::Io, ExplainFormat::Json)
        );
        assert_eq!(
            opts("EXPLAIN ANALYZE VERBOSE SELECT 1").unwrap(),
            (true, ExplainType::Distributed, ExplainFormat::Text)
        );
        let mut c = Cursor::new("EXPLAIN (SELECT 1)").unwrap();
        c.keyword("EXPLAIN");
        assert_eq!(
            options(&mut c).unwrap(),
            (false, ExplainType::Distributed, ExplainFormat::Text)
        );
        assert_eq!(c.peek(), Some(&Token::LParen));
        assert!(opts("EXPLAIN (TYPE FAST) SELECT 1").is_err());
        assert!(opts("EXPLAIN ANALYZE (TYPE IO) SELECT 1").is_err());
    }
}
