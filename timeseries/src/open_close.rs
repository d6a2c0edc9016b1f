//! `open_price(price, ts)` / `close_price(price, ts)`: the price at the
//! least / greatest `ts` of the group (rows with a NULL `ts` never count; the
//! price itself may be NULL). Ties: `open_price` keeps the row seen first,
//! `close_price` the row seen last (as the GPU kernels do).
//!
//! DOUBLE prices aggregate through a vectorized `GroupsAccumulator` (one pass
//! over each batch, flat per-group state); other price types through a row
//! accumulator over `ScalarValue`s.

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, TypeSignature, Volatility,
};

/// The UDAF (see the module docs).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct OpenClose {
    last: bool,
    signature: Signature,
}

impl OpenClose {
    /// `open_price` (`last = false`) or `close_price`.
    pub fn new(last: bool) -> Self {
        Self {
            last,
            signature: Signature::new(TypeSignature::Any(2), Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for OpenClose {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        if self.last {
            "close_price"
        } else {
            "open_price"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DFResult<DataType> {
        Ok(arg_types[0].clone())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DFResult<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[ts]", args.name),
                DataType::Int64,
                true,
            )),
            Arc::new(Field::new(
                format!("{}[price]", args.name),
                args.return_field.data_type().clone(),
                true,
            )),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DFResult<Box<dyn Accumulator>> {
        Ok(Box::new(RowAcc {
            last: self.last,
            ts: None,
            value: ScalarValue::try_from(args.return_field.data_type())?,
        }))
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        args.return_field.data_type() == &DataType::Float64
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> DFResult<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Groups {
            last: self.last,
            ts: Vec::new(),
            value: Vec::new(),
            valid: Vec::new(),
            has: Vec::new(),
        }))
    }
}

/// Per-group state of DOUBLE prices.
#[derive(Debug)]
struct Groups {
    last: bool,
    ts: Vec<i64>,
    value: Vec<f64>,
    valid: Vec<bool>,
    has: Vec<bool>,
}

impl Groups {
    /// Offers (ts, value) rows to their groups.
    fn offer(
        &mut self,
        price: &ArrayRef,
        ts: &ArrayRef,
        groups: &[usize],
        filter: Option<&BooleanArray>,
        total: usize,
    ) -> DFResult<()> {
        self.ts.resize(total, 0);
        self.value.resize(total, 0.0);
        self.valid.resize(total, false);
        self.has.resize(total, false);
        let p = cast(price, &DataType::Float64)?;
        let p = p.as_primitive::<Float64Type>();
        let t = contango_common::columns::time_micros(ts)?;
        let t = t.as_primitive::<Int64Type>();
        let values = p.values();
        let tv = t.values();
        for (i, &g) in groups.iter().enumerate() {
            if t.is_null(i) || filter.is_some_and(|f| !f.is_valid(i) || !f.value(i)) {
                continue;
            }
            let better = !self.has[g]
                || if self.last {
                    tv[i] >= self.ts[g]
                } else {
                    tv[i] < self.ts[g]
                };
            if better {
                self.has[g] = true;
                self.ts[g] = tv[i];
                self.value[g] = values[i];
                self.valid[g] = p.is_valid(i);
            }
        }
        Ok(())
    }

    fn take(&mut self, emit_to: EmitTo) -> (Vec<i64>, Vec<f64>, Vec<bool>, Vec<bool>) {
        (
            emit_to.take_needed(&mut self.ts),
            emit_to.take_needed(&mut self.value),
            emit_to.take_needed(&mut self.valid),
            emit_to.take_needed(&mut self.has),
        )
    }
}

impl GroupsAccumulator for Groups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DFResult<()> {
        self.offer(
            &values[0],
            &values[1],
            group_indices,
            opt_filter,
            total_num_groups,
        )
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DFResult<()> {
        // State columns: ts (NULL: no row), price.
        self.offer(
            &values[1],
            &values[0],
            group_indices,
            opt_filter,
            total_num_groups,
        )
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DFResult<ArrayRef> {
        let (_, value, valid, has) = self.take(emit_to);
        Ok(Arc::new(Float64Array::from_iter(
            value
                .into_iter()
                .zip(valid.iter().zip(&has))
                .map(|(v, (ok, has))| (*ok && *has).then_some(v)),
        )))
    }

    fn state(&mut self, emit_to: EmitTo) -> DFResult<Vec<ArrayRef>> {
        let (ts, value, valid, has) = self.take(emit_to);
        let ts = Int64Array::from_iter(ts.into_iter().zip(&has).map(|(t, h)| h.then_some(t)));
        let value = Float64Array::from_iter(
            value
                .into_iter()
                .zip(valid.iter().zip(&has))
                .map(|(v, (ok, has))| (*ok && *has).then_some(v)),
        );
        Ok(vec![Arc::new(ts), Arc::new(value)])
    }

    fn size(&self) -> usize {
        self.ts.capacity() * 8
            + self.value.capacity() * 8
            + self.valid.capacity()
            + self.has.capacity()
    }
}

/// Row accumulator for any price type.
#[derive(Debug)]
struct RowAcc {
    last: bool,
    ts: Option<i64>,
    value: ScalarValue,
}

impl RowAcc {
    fn offer(&mut self, price: &ArrayRef, ts: &ArrayRef) -> DFResult<()> {
        let t = contango_common::columns::time_micros(ts)?;
        let t = t.as_primitive::<Int64Type>();
        for i in 0..t.len() {
            if t.is_null(i) {
                continue;
            }
            let v = t.value(i);
            let better = match self.ts {
                None => true,
                Some(cur) if self.last => v >= cur,
                Some(cur) => v < cur,
            };
            if better {
                self.ts = Some(v);
                self.value = ScalarValue::try_from_array(price, i)?;
            }
        }
        Ok(())
    }
}

impl Accumulator for RowAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DFResult<()> {
        self.offer(&values[0], &values[1])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DFResult<()> {
        self.offer(&states[1], &states[0])
    }

    fn state(&mut self) -> DFResult<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(self.ts), self.value.clone()])
    }

    fn evaluate(&mut self) -> DFResult<ScalarValue> {
        Ok(self.value.clone())
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.value.size()
    }
}
