//! The physical optimizer rule that puts eligible aggregations on the GPU.
//!
//! Eligible: a grouped (or global) aggregation without grouping sets,
//! DISTINCT or a row limit, whose aggregates are all `count`,
//! `sum`/`avg`/`min`/`max` of DOUBLE, `vwap`, `open_price`/`close_price` and
//! `first_value`/`last_value` of DOUBLE ordered by one timestamp or integer,
//! or `stddev`/`variance` (sample and population) of DOUBLE, with any FILTER.
//! Anything else keeps DataFusion's operators. The rule replaces the
//! Final (+ Partial) pair with one `GpuAggregateExec` reading every input
//! partition; a hash-partitioned result is repartitioned as before.
//!
//! Under `auto` only the series scans (window functions here, `anomalies`
//! in its table function) go to the GPU: measured end to end from host
//! memory on 16 cores (benches/RESULTS.md), the host-side preparation of a
//! GPU aggregation (interning keys, evaluating arguments) costs about what
//! DataFusion's whole aggregation does, so aggregations run on the GPU only
//! with `gpu = on`.

use std::sync::Arc;

use contango_gpu_kernels::{AggOp, Gpu};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result as DFResult;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::repartition::RepartitionExec;

use super::aggregate::{GpuAgg, GpuAggSpec, GpuAggregateExec, Placement};
use super::options::{GpuMode, GpuOptions};

/// Puts eligible aggregations on the GPU (see the module docs).
#[derive(Debug, Default)]
pub struct GpuPlacementRule;

/// The placement for a session's options, or `None` when nothing goes to
/// the GPU operators (`off`, or `auto` without a device).
pub fn placement(config: &ConfigOptions) -> Option<Placement> {
    let opts = config.extensions.get::<GpuOptions>()?;
    let mode = opts.mode();
    if mode == GpuMode::Off {
        return None;
    }
    let gpu = Gpu::shared();
    if mode == GpuMode::Auto && gpu.is_none() {
        return None;
    }
    Some(Placement {
        mode,
        min_rows: opts.gpu_min_rows,
        chunk_rows: chunk_rows(opts),
        gpu,
        memory_limit: opts.gpu_memory_limit,
    })
}

/// The placement of operators that always run (`anomalies`' scan): the
/// session's GPU placement, or the CPU references with `gpu = off` (or
/// `auto` without a device).
pub fn placement_or_cpu(config: &ConfigOptions) -> Placement {
    placement(config).unwrap_or_else(|| Placement {
        mode: GpuMode::Off,
        min_rows: u64::MAX,
        chunk_rows: chunk_rows(
            config
                .extensions
                .get::<GpuOptions>()
                .unwrap_or(&GpuOptions::default()),
        ),
        gpu: None,
        memory_limit: 0,
    })
}

/// Rows per chunk sent to a device (at least 1024).
fn chunk_rows(opts: &GpuOptions) -> usize {
    opts.gpu_chunk_rows.max(1024) as usize
}

impl PhysicalOptimizerRule for GpuPlacementRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let Some(placement) = placement(config) else {
            return Ok(plan);
        };
        plan.transform_up(|node| {
            let new = if let Some(agg) = node.as_any().downcast_ref::<AggregateExec>() {
                if placement.mode == GpuMode::Auto {
                    None
                } else {
                    replace(agg, &placement)?
                }
            } else {
                replace_window(&node, &placement)?
            };
            match new {
                Some(new) => Ok(Transformed::yes(new)),
                None => Ok(Transformed::no(node)),
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "gpu_placement"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The Partial aggregate under a Final one (through repartitioning).
fn partial_below(plan: &Arc<dyn ExecutionPlan>) -> Option<&AggregateExec> {
    let mut node = plan;
    loop {
        if let Some(a) = node.as_any().downcast_ref::<AggregateExec>() {
            return (*a.mode() == AggregateMode::Partial).then_some(a);
        }
        let passthrough = node.as_any().is::<RepartitionExec>()
            || node.as_any().is::<CoalescePartitionsExec>()
            || node.name() == "CoalesceBatchesExec";
        if !passthrough || node.children().len() != 1 {
            return None;
        }
        node = node.children()[0];
    }
}

fn index_of(list: &mut Vec<Arc<dyn PhysicalExpr>>, e: &Arc<dyn PhysicalExpr>) -> usize {
    let key = e.to_string();
    match list.iter().position(|x| x.to_string() == key) {
        Some(i) => i,
        None => {
            list.push(e.clone());
            list.len() - 1
        }
    }
}

fn replace(top: &AggregateExec, placement: &Placement) -> DFResult<Option<Arc<dyn ExecutionPlan>>> {
    let source = match top.mode() {
        AggregateMode::Final | AggregateMode::FinalPartitioned => {
            match partial_below(top.input()) {
                Some(p) => p,
                None => return Ok(None),
            }
        }
        AggregateMode::Single | AggregateMode::SinglePartitioned => top,
        _ => return Ok(None),
    };
    if top.limit_options().is_some() || !source.group_expr().is_single() {
        return Ok(None);
    }
    let input = source.input().clone();
    let schema = input.schema();
    let mut spec = GpuAggSpec {
        group_by: source.group_expr().expr().to_vec(),
        values: vec![],
        keys: vec![],
        filters: vec![],
        aggs: vec![],
    };
    for (a, filter) in source.aggr_expr().iter().zip(source.filter_expr()) {
        if a.is_distinct() {
            return Ok(None);
        }
        let name = a.fun().name().to_ascii_lowercase();
        let args = a.expressions();
        let out = a.field().data_type().clone();
        let arg_type = |i: usize| -> DFResult<Option<DataType>> {
            args.get(i).map(|e| e.data_type(&schema)).transpose()
        };
        let float = |i: usize| -> DFResult<bool> { Ok(arg_type(i)? == Some(DataType::Float64)) };
        let numeric =
            |i: usize| -> DFResult<bool> { Ok(arg_type(i)?.is_some_and(|t| t.is_numeric())) };
        let mut value = args.first().cloned();
        let mut weight = None;
        let mut key = None;
        let op = match name.as_str() {
            "count" if args.len() == 1 && out == DataType::Int64 => {
                if args[0].as_any().downcast_ref::<Literal>().is_some() {
                    value = None;
                }
                AggOp::Count
            }
            "sum" | "avg" | "min" | "max" | "stddev" | "stddev_samp" | "stddev_pop" | "var"
            | "var_samp" | "var_pop" | "variance"
                if args.len() == 1 && float(0)? && out == DataType::Float64 =>
            {
                match name.as_str() {
                    "sum" => AggOp::Sum,
                    "avg" => AggOp::Avg,
                    "min" => AggOp::Min,
                    "max" => AggOp::Max,
                    "stddev" | "stddev_samp" => AggOp::StddevSamp,
                    "stddev_pop" => AggOp::StddevPop,
                    "var_pop" => AggOp::VarPop,
                    _ => AggOp::VarSamp,
                }
            }
            "min" | "max"
                if args.len() == 1
                    && matches!(
                        arg_type(0)?,
                        Some(DataType::Timestamp(_, _) | DataType::Int64)
                    )
                    && Some(&out) == arg_type(0)?.as_ref() =>
            {
                key = value.take();
                if name == "min" {
                    AggOp::MinKey
                } else {
                    AggOp::MaxKey
                }
            }
            "vwap" if args.len() == 2 && numeric(0)? && numeric(1)? => {
                weight = Some(args[1].clone());
                AggOp::Vwap
            }
            "open_price" | "close_price"
                if args.len() == 2
                    && float(0)?
                    && matches!(
                        arg_type(1)?,
                        Some(DataType::Timestamp(_, _) | DataType::Int64 | DataType::Int32)
                    ) =>
            {
                // Rows with a NULL time never count, as in the kernels.
                key = Some(args[1].clone());
                if name == "open_price" {
                    AggOp::First
                } else {
                    AggOp::Last
                }
            }
            "first_value" | "last_value"
                if args.len() == 1 && float(0)? && a.order_bys().len() == 1 =>
            {
                let order = &a.order_bys()[0];
                let kt = order.expr.data_type(&schema)?;
                if !matches!(
                    kt,
                    DataType::Timestamp(_, _) | DataType::Int64 | DataType::Int32
                ) {
                    return Ok(None);
                }
                let first = name == "first_value";
                // Null keys must never be the chosen row.
                let nullable = order.expr.nullable(&schema)?;
                let nulls_first = order.options.nulls_first;
                if nullable && (first == nulls_first) {
                    return Ok(None);
                }
                key = Some(order.expr.clone());
                if first != order.options.descending {
                    AggOp::First
                } else {
                    AggOp::Last
                }
            }
            _ => return Ok(None),
        };
        spec.aggs.push(GpuAgg {
            op,
            name: a.name().to_string(),
            value: value.map(|v| index_of(&mut spec.values, &v)),
            weight: weight.map(|w| index_of(&mut spec.values, &w)),
            key: key.map(|k| index_of(&mut spec.keys, &k)),
            filter: filter.as_ref().map(|f| index_of(&mut spec.filters, f)),
            ignore_nulls: a.ignore_nulls(),
        });
    }
    // Every input partition is interned on its own task (see aggregate.rs).
    let input = input.clone();
    let node: Arc<dyn ExecutionPlan> = Arc::new(GpuAggregateExec::new(
        input,
        spec,
        placement.clone(),
        top.schema(),
    ));
    let partitioning = top.properties().output_partitioning().clone();
    if partitioning.partition_count() > 1 {
        return Ok(Some(Arc::new(RepartitionExec::try_new(
            node,
            partitioning,
        )?)));
    }
    Ok(Some(node))
}

/// A window operator whose functions are all series functions with one
/// PARTITION BY → `GpuWindowExec`.
fn replace_window(
    node: &Arc<dyn ExecutionPlan>,
    placement: &Placement,
) -> DFResult<Option<Arc<dyn ExecutionPlan>>> {
    use datafusion::physical_expr::window::{StandardWindowExpr, WindowExpr};
    use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowAggExec, WindowUDFExpr};

    use super::window::{GpuWindowExec, GpuWindowFn, SeriesFn};

    let (input, exprs): (&Arc<dyn ExecutionPlan>, &[Arc<dyn WindowExpr>]) =
        if let Some(w) = node.as_any().downcast_ref::<BoundedWindowAggExec>() {
            (w.input(), w.window_expr())
        } else if let Some(w) = node.as_any().downcast_ref::<WindowAggExec>() {
            (w.input(), w.window_expr())
        } else {
            return Ok(None);
        };
    let Some(first) = exprs.first() else {
        return Ok(None);
    };
    let partition_by = first.partition_by().to_vec();
    let key = |e: &[Arc<dyn PhysicalExpr>]| e.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut functions = Vec::new();
    for e in exprs {
        if key(e.partition_by()) != key(&partition_by) {
            return Ok(None);
        }
        let Some(udf) = e
            .as_any()
            .downcast_ref::<StandardWindowExpr>()
            .and_then(|s| {
                s.get_standard_func_expr()
                    .as_any()
                    .downcast_ref::<WindowUDFExpr>()
            })
        else {
            return Ok(None);
        };
        let args = e.expressions();
        use crate::commodity::{RollingWindow, rolling_window};
        let window = rolling_window(args.get(1));
        let kind = match (udf.fun().name(), window) {
            ("log_return", _) => SeriesFn::LogReturn,
            ("zscore", Some(RollingWindow::Rows(n))) => SeriesFn::ZScore(n),
            ("zscore", Some(RollingWindow::Micros(us))) if args.len() == 3 => {
                SeriesFn::ZScoreTime(us)
            }
            ("mad_zscore", Some(RollingWindow::Rows(n))) => SeriesFn::Mad(n),
            _ => return Ok(None),
        };
        let Some(arg) = args.first() else {
            return Ok(None);
        };
        functions.push(GpuWindowFn {
            kind,
            arg: arg.clone(),
            ts: args.get(2).cloned(),
            name: e.name().to_string(),
        });
    }
    Ok(Some(Arc::new(GpuWindowExec::new(
        input.clone(),
        partition_by,
        functions,
        placement.clone(),
        node.schema(),
        node.required_input_ordering(),
        node.required_input_distribution(),
    ))))
}
