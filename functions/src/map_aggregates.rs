//! Trino's aggregates that build maps: `map_agg(key, value)` (a map of the
//! pairs; of a key's several values the first one seen is kept) and
//! `histogram(x)` (each distinct value and how often it occurs, as bigint).
//! Rows whose key is NULL are skipped: a map key cannot be NULL.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, MapArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, TypeSignature, Volatility,
};

/// `map_agg` and `histogram`.
pub fn functions() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(MapAggregate::new(Kind::Pairs)),
        AggregateUDF::from(MapAggregate::new(Kind::Counts)),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `map_agg(key, value)`.
    Pairs,
    /// `histogram(x)`.
    Counts,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MapAggregate {
    kind: Kind,
    signature: Signature,
}

impl MapAggregate {
    fn new(kind: Kind) -> Self {
        let arity = match kind {
            Kind::Pairs => 2,
            Kind::Counts => 1,
        };
        Self {
            kind,
            signature: Signature::new(TypeSignature::Any(arity), Volatility::Immutable),
        }
    }

    fn value_type(&self, args: &[DataType]) -> DataType {
        match self.kind {
            Kind::Pairs => args[1].clone(),
            Kind::Counts => DataType::Int64,
        }
    }
}

/// The map type of `key` to `value` entries (keys not nullable).
fn map_type(key: &DataType, value: &DataType) -> DataType {
    DataType::Map(Arc::new(entries_field(key, value)), false)
}

fn entries_field(key: &DataType, value: &DataType) -> Field {
    Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![
            Field::new("key", key.clone(), false),
            Field::new("value", value.clone(), true),
        ])),
        false,
    )
}

fn list_type(item: &DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item.clone(), true)))
}

impl AggregateUDFImpl for MapAggregate {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        match self.kind {
            Kind::Pairs => "map_agg",
            Kind::Counts => "histogram",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> DFResult<DataType> {
        Ok(map_type(&args[0], &self.value_type(args)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DFResult<Vec<FieldRef>> {
        let types: Vec<DataType> = args
            .input_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[keys]", args.name),
                list_type(&types[0]),
                true,
            )),
            Arc::new(Field::new(
                format!("{}[values]", args.name),
                list_type(&self.value_type(&types)),
                true,
            )),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DFResult<Box<dyn Accumulator>> {
        let types: Vec<DataType> = args
            .exprs
            .iter()
            .map(|e| e.data_type(args.schema))
            .collect::<DFResult<_>>()?;
        Ok(Box::new(MapAccumulator {
            kind: self.kind,
            key_type: types[0].clone(),
            value_type: self.value_type(&types),
            index: HashMap::new(),
            keys: Vec::new(),
            values: Vec::new(),
        }))
    }
}

#[derive(Debug)]
struct MapAccumulator {
    kind: Kind,
    key_type: DataType,
    value_type: DataType,
    /// Position of each key in `keys`/`values`, in first-seen order.
    index: HashMap<ScalarValue, usize>,
    keys: Vec<ScalarValue>,
    values: Vec<ScalarValue>,
}

impl MapAccumulator {
    /// Adds a pair; `count` is how often the key occurred (histograms) and is
    /// ignored for `map_agg`, whose first value of a key stays.
    fn add(
        &mut self,
        key: ScalarValue,
        value: impl FnOnce() -> DFResult<ScalarValue>,
        count: i64,
    ) -> DFResult<()> {
        match self.index.get(&key) {
            Some(&i) => {
                if self.kind == Kind::Counts
                    && let ScalarValue::Int64(Some(n)) = &mut self.values[i]
                {
                    *n += count;
                }
            }
            None => {
                self.index.insert(key.clone(), self.keys.len());
                self.keys.push(key);
                self.values.push(value()?);
            }
        }
        Ok(())
    }

    fn list(&self, items: &[ScalarValue], item_type: &DataType) -> DFResult<ScalarValue> {
        let values = array_of(items, item_type)?;
        Ok(ScalarValue::List(Arc::new(
            datafusion::arrow::array::ListArray::new(
                Arc::new(Field::new_list_field(item_type.clone(), true)),
                OffsetBuffer::from_lengths([values.len()]),
                values,
                None,
            ),
        )))
    }
}

/// `items` as an array of `item_type` (also when there are none).
fn array_of(items: &[ScalarValue], item_type: &DataType) -> DFResult<ArrayRef> {
    if items.is_empty() {
        Ok(datafusion::arrow::array::new_empty_array(item_type))
    } else {
        ScalarValue::iter_to_array(items.iter().cloned())
    }
}

impl Accumulator for MapAccumulator {
    fn update_batch(&mut self, columns: &[ArrayRef]) -> DFResult<()> {
        let keys = &columns[0];
        for row in 0..keys.len() {
            if keys.is_null(row) {
                continue;
            }
            let key = ScalarValue::try_from_array(keys, row)?;
            match self.kind {
                Kind::Pairs => {
                    let values = &columns[1];
                    self.add(key, || ScalarValue::try_from_array(values, row), 0)?
                }
                Kind::Counts => self.add(key, || Ok(ScalarValue::Int64(Some(1))), 1)?,
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DFResult<()> {
        let (keys, values) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for i in 0..keys.len() {
            if keys.is_null(i) {
                continue;
            }
            let (k, v) = (keys.value(i), values.value(i));
            for row in 0..k.len() {
                let key = ScalarValue::try_from_array(&k, row)?;
                let count = match self.kind {
                    Kind::Counts => v
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .map_or(0, |c| c.value(row)),
                    Kind::Pairs => 0,
                };
                self.add(key, || ScalarValue::try_from_array(&v, row), count)?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> DFResult<Vec<ScalarValue>> {
        Ok(vec![
            self.list(&self.keys, &self.key_type)?,
            self.list(&self.values, &self.value_type)?,
        ])
    }

    fn evaluate(&mut self) -> DFResult<ScalarValue> {
        let keys = array_of(&self.keys, &self.key_type)?;
        let values = array_of(&self.values, &self.value_type)?;
        let DataType::Struct(fields) = entries_field(&self.key_type, &self.value_type)
            .data_type()
            .clone()
        else {
            unreachable!("entries are a struct");
        };
        let entries = StructArray::try_new(fields, vec![keys, values], None)?;
        let map = MapArray::try_new(
            Arc::new(entries_field(&self.key_type, &self.value_type)),
            OffsetBuffer::from_lengths([entries.len()]),
            entries,
            None,
            false,
        )?;
        Ok(ScalarValue::Map(Arc::new(map)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.keys.iter().map(ScalarValue::size).sum::<usize>()
            + self.values.iter().map(ScalarValue::size).sum::<usize>()
            + self.index.capacity() * std::mem::size_of::<(ScalarValue, usize)>()
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::one_row;

    #[tokio::test]
    async fn maps_of_pairs_and_counts_by_hand() {
        // Several partitions (a UNION) so partial states merge; NULL keys skipped;
        // a key's first value stays.
        let (values, types) = one_row(
            "SELECT map_agg(k, v), histogram(k), histogram(v), map_agg(k, v) FILTER (WHERE false) \
             FROM (SELECT * FROM (VALUES ('a', 1.5), ('b', NULL), (NULL, 9.0)) t(k, v) \
                   UNION ALL SELECT * FROM (VALUES ('b', 2.0), ('a', 7.0)) u(k, v))",
            "UTC",
        )
        .await;
        let sorted = |s: &str| {
            let mut parts: Vec<String> = s
                .trim_matches(|c| c == '{' || c == '}')
                .split(", ")
                .map(str::to_string)
                .collect();
            parts.sort();
            parts.join(", ")
        };
        assert_eq!(
            types,
            [
                "map(varchar, double)",
                "map(varchar, bigint)",
                "map(double, bigint)",
                "map(varchar, double)"
            ]
        );
        assert_eq!(sorted(&values[1]), "a: 2, b: 2");
        assert_eq!(sorted(&values[2]), "1.5: 1, 2.0: 1, 7.0: 1, 9.0: 1");
        assert_eq!(values[3], "{}");
        // Of 'a''s values 1.5 and 7.0 one stays (which one depends on the
        // order partitions arrive in); 'b' keeps whichever it saw first.
        let pairs = sorted(&values[0]);
        assert!(
            pairs.starts_with("a: 1.5, b: ") || pairs.starts_with("a: 7.0, b: "),
            "{pairs}"
        );
    }
}
