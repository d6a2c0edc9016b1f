//! The Iceberg metadata tables Trino's Iceberg connector exposes as
//! `"<table>$<kind>"`: `$snapshots`, `$history`, `$files`, `$partitions`,
//! and `$properties`, read from the table's metadata and manifests
//! when a query names them. They are not listed as tables.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Int32Array, Int32Builder, Int64Array, Int64Builder, ListBuilder,
    MapBuilder, RecordBatch, StringArray, StringBuilder, StructArray, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::error::{DataFusionError, Result as DFResult};
use iceberg::spec::{DataContentType, PrimitiveLiteral, PrimitiveType, Type};
use iceberg::table::Table;

/// The metadata table kinds, by the suffix after `$`.
pub const KINDS: &[&str] = &["snapshots", "history", "files", "partitions", "properties"];

fn external(e: iceberg::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

fn ts_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        true,
    )
}

fn batch_table(fields: Vec<Field>, columns: Vec<ArrayRef>) -> DFResult<Arc<dyn TableProvider>> {
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// The provider of `table$kind`; `None` for an unknown kind.
pub async fn provider(table: &Table, kind: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
    Ok(Some(match kind {
        "snapshots" => snapshots(table)?,
        "history" => history(table)?,
        "files" => files(table).await?,
        "partitions" => partitions(table).await?,
        "properties" => properties(table)?,
        _ => return Ok(None),
    }))
}

fn string_map() -> MapBuilder<StringBuilder, StringBuilder> {
    MapBuilder::new(None, StringBuilder::new(), StringBuilder::new())
}

fn snapshots(table: &Table) -> DFResult<Arc<dyn TableProvider>> {
    let mut snaps: Vec<_> = table.metadata().snapshots().collect();
    snaps.sort_by_key(|s| (s.timestamp_ms(), s.sequence_number()));
    let mut summary = string_map();
    for s in &snaps {
        let props: BTreeMap<_, _> = s.summary().additional_properties.iter().collect();
        for (k, v) in props {
            summary.keys().append_value(k);
            summary.values().append_value(v);
        }
        summary.append(true)?;
    }
    let summary = summary.finish();
    let summary_type = summary.data_type().clone();
    batch_table(
        vec![
            ts_field("committed_at"),
            Field::new("snapshot_id", DataType::Int64, false),
            Field::new("parent_id", DataType::Int64, true),
            Field::new("operation", DataType::Utf8, true),
            Field::new("manifest_list", DataType::Utf8, true),
            Field::new("summary", summary_type, true),
        ],
        vec![
            Arc::new(
                TimestampMillisecondArray::from(
                    snaps.iter().map(|s| s.timestamp_ms()).collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from(
                snaps.iter().map(|s| s.snapshot_id()).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                snaps
                    .iter()
                    .map(|s| s.parent_snapshot_id())
                    .collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                snaps
                    .iter()
                    .map(|s| s.summary().operation.as_str().to_string())
                    .collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                snaps
                    .iter()
                    .map(|s| s.manifest_list().to_string())
                    .collect::<Vec<_>>(),
            )),
            Arc::new(summary),
        ],
    )
}

fn history(table: &Table) -> DFResult<Arc<dyn TableProvider>> {
    let metadata = table.metadata();
    // Ancestors of the current snapshot.
    let mut ancestors = std::collections::HashSet::new();
    let mut cursor = metadata.current_snapshot().map(|s| s.snapshot_id());
    while let Some(id) = cursor {
        ancestors.insert(id);
        cursor = metadata
            .snapshot_by_id(id)
            .and_then(|s| s.parent_snapshot_id());
    }
    let log = metadata.history();
    let parent = |id: i64| {
        metadata
            .snapshot_by_id(id)
            .and_then(|s| s.parent_snapshot_id())
    };
    batch_table(
        vec![
            ts_field("made_current_at"),
            Field::new("snapshot_id", DataType::Int64, false),
            Field::new("parent_id", DataType::Int64, true),
            Field::new("is_current_ancestor", DataType::Boolean, false),
        ],
        vec![
            Arc::new(
                TimestampMillisecondArray::from(
                    log.iter().map(|l| l.timestamp_ms).collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from(
                log.iter().map(|l| l.snapshot_id).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                log.iter()
                    .map(|l| parent(l.snapshot_id))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(BooleanArray::from(
                log.iter()
                    .map(|l| ancestors.contains(&l.snapshot_id))
                    .collect::<Vec<_>>(),
            )),
        ],
    )
}

fn properties(table: &Table) -> DFResult<Arc<dyn TableProvider>> {
    let props: BTreeMap<_, _> = table.metadata().properties().iter().collect();
    batch_table(
        vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
        ],
        vec![
            Arc::new(StringArray::from(
                props.keys().map(|k| k.to_string()).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                props.values().map(|v| v.to_string()).collect::<Vec<_>>(),
            )),
        ],
    )
}

/// Live data and delete files of the current snapshot, with their spec ids.
async fn live_files(table: &Table) -> DFResult<Vec<(i32, iceberg::spec::DataFile)>> {
    let Some(snapshot) = table.metadata().current_snapshot() else {
        return Ok(Vec::new());
    };
    let list = table
        .manifest_list_reader(snapshot)
        .load()
        .await
        .map_err(external)?;
    let mut out = Vec::new();
    for manifest_file in list.entries() {
        let manifest = manifest_file
            .load_manifest(table.file_io())
            .await
            .map_err(external)?;
        for entry in manifest.entries() {
            if entry.is_alive() {
                out.push((manifest_file.partition_spec_id, entry.data_file().clone()));
            }
        }
    }
    Ok(out)
}

fn int_long_map(
    values: &HashMap<i32, u64>,
    b: &mut MapBuilder<Int32Builder, Int64Builder>,
) -> DFResult<()> {
    let sorted: BTreeMap<_, _> = values.iter().collect();
    for (k, v) in sorted {
        b.keys().append_value(*k);
        b.values().append_value(*v as i64);
    }
    Ok(b.append(true)?)
}

async fn files(table: &Table) -> DFResult<Arc<dyn TableProvider>> {
    let files = live_files(table).await?;
    let mut content = Vec::new();
    let mut path = Vec::new();
    let mut format = Vec::new();
    let mut spec = Vec::new();
    let mut records = Vec::new();
    let mut size = Vec::new();
    let new_map = || MapBuilder::new(None, Int32Builder::new(), Int64Builder::new());
    let (mut sizes, mut values, mut nulls, mut nans) = (new_map(), new_map(), new_map(), new_map());
    let mut lower = MapBuilder::new(None, Int32Builder::new(), StringBuilder::new());
    let mut upper = MapBuilder::new(None, Int32Builder::new(), StringBuilder::new());
    let mut splits = ListBuilder::new(Int64Builder::new());
    let mut equality = ListBuilder::new(Int32Builder::new());
    let mut sort_order = Vec::new();
    for (spec_id, f) in &files {
        content.push(match f.content_type() {
            DataContentType::Data => 0,
            DataContentType::PositionDeletes => 1,
            DataContentType::EqualityDeletes => 2,
        });
        path.push(f.file_path().to_string());
        format.push(f.file_format().to_string().to_ascii_uppercase());
        spec.push(*spec_id);
        records.push(f.record_count() as i64);
        size.push(f.file_size_in_bytes() as i64);
        int_long_map(f.column_sizes(), &mut sizes)?;
        int_long_map(f.value_counts(), &mut values)?;
        int_long_map(f.null_value_counts(), &mut nulls)?;
        int_long_map(f.nan_value_counts(), &mut nans)?;
        for (bounds, builder) in [
            (f.lower_bounds(), &mut lower),
            (f.upper_bounds(), &mut upper),
        ] {
            let sorted: BTreeMap<_, _> = bounds.iter().collect();
            for (k, v) in sorted {
                builder.keys().append_value(*k);
                builder.values().append_value(v.to_string());
            }
            builder.append(true)?;
        }
        match f.split_offsets() {
            Some(o) => {
                splits.values().append_slice(o);
                splits.append(true);
            }
            None => splits.append(false),
        }
        match f.equality_ids() {
            Some(ids) => {
                equality.values().append_slice(&ids);
                equality.append(true);
            }
            None => equality.append(false),
        }
        sort_order.push(f.sort_order_id());
    }
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from(content)),
        Arc::new(StringArray::from(path)),
        Arc::new(StringArray::from(format)),
        Arc::new(Int32Array::from(spec)),
        Arc::new(Int64Array::from(records)),
        Arc::new(Int64Array::from(size)),
        Arc::new(sizes.finish()),
        Arc::new(values.finish()),
        Arc::new(nulls.finish()),
        Arc::new(nans.finish()),
        Arc::new(lower.finish()),
        Arc::new(upper.finish()),
        Arc::new(splits.finish()),
        Arc::new(equality.finish()),
        Arc::new(Int32Array::from(sort_order)),
    ];
    let names = [
        "content",
        "file_path",
        "file_format",
        "spec_id",
        "record_count",
        "file_size_in_bytes",
        "column_sizes",
        "value_counts",
        "null_value_counts",
        "nan_value_counts",
        "lower_bounds",
        "upper_bounds",
        "split_offsets",
        "equality_ids",
        "sort_order_id",
    ];
    let fields = names
        .iter()
        .zip(&arrays)
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    batch_table(fields, arrays)
}

/// A partition value as the Arrow scalar of its Iceberg type.
fn scalar(t: &Type, v: Option<&iceberg::spec::Literal>) -> DFResult<ScalarValue> {
    let Type::Primitive(p) = t else {
        return Err(DataFusionError::NotImplemented(
            "nested partition values".into(),
        ));
    };
    let lit = v.and_then(|l| l.as_primitive_literal());
    Ok(match (p, lit) {
        (PrimitiveType::Boolean, Some(PrimitiveLiteral::Boolean(b))) => {
            ScalarValue::Boolean(Some(b))
        }
        (PrimitiveType::Boolean, None) => ScalarValue::Boolean(None),
        (PrimitiveType::Int, Some(PrimitiveLiteral::Int(i))) => ScalarValue::Int32(Some(i)),
        (PrimitiveType::Int, None) => ScalarValue::Int32(None),
        (PrimitiveType::Long, Some(PrimitiveLiteral::Long(i))) => ScalarValue::Int64(Some(i)),
        (PrimitiveType::Long, None) => ScalarValue::Int64(None),
        (PrimitiveType::Float, Some(PrimitiveLiteral::Float(f))) => ScalarValue::Float32(Some(f.0)),
        (PrimitiveType::Double, Some(PrimitiveLiteral::Double(f))) => {
            ScalarValue::Float64(Some(f.0))
        }
        (PrimitiveType::Date, Some(PrimitiveLiteral::Int(d))) => ScalarValue::Date32(Some(d)),
        (PrimitiveType::Date, None) => ScalarValue::Date32(None),
        (PrimitiveType::String, Some(PrimitiveLiteral::String(s))) => ScalarValue::Utf8(Some(s)),
        (PrimitiveType::String, None) => ScalarValue::Utf8(None),
        (PrimitiveType::Timestamp, Some(PrimitiveLiteral::Long(t))) => {
            ScalarValue::TimestampMicrosecond(Some(t), None)
        }
        (PrimitiveType::Timestamptz, Some(PrimitiveLiteral::Long(t))) => {
            ScalarValue::TimestampMicrosecond(Some(t), Some("UTC".into()))
        }
        (other, v) => ScalarValue::Utf8(
            v.map(|v| format!("{v:?}"))
                .or_else(|| Some(format!("{other}"))),
        ),
    })
}

async fn partitions(table: &Table) -> DFResult<Arc<dyn TableProvider>> {
    let metadata = table.metadata();
    let spec = metadata.default_partition_spec();
    let partition_type = spec
        .partition_type(metadata.current_schema())
        .map_err(external)?;
    let files = live_files(table).await?;
    // Per partition: records, files, bytes (data files of the current spec).
    let mut groups: BTreeMap<String, (Vec<ScalarValue>, i64, i64, i64)> = BTreeMap::new();
    for (spec_id, f) in &files {
        if *spec_id != spec.spec_id() || f.content_type() != DataContentType::Data {
            continue;
        }
        let values: Vec<ScalarValue> = partition_type
            .fields()
            .iter()
            .zip(f.partition().iter())
            .map(|(field, v)| scalar(&field.field_type, v))
            .collect::<DFResult<_>>()?;
        let key = format!("{values:?}");
        let g = groups.entry(key).or_insert((values, 0, 0, 0));
        g.1 += f.record_count() as i64;
        g.2 += 1;
        g.3 += f.file_size_in_bytes() as i64;
    }
    let groups: Vec<_> = groups.into_values().collect();
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    if !partition_type.fields().is_empty() {
        let mut child_fields = Vec::new();
        let mut child_arrays = Vec::new();
        for (i, field) in partition_type.fields().iter().enumerate() {
            let values: Vec<ScalarValue> = groups.iter().map(|g| g.0[i].clone()).collect();
            let array = if values.is_empty() {
                datafusion::arrow::array::new_empty_array(
                    &iceberg::arrow::type_to_arrow_type(&field.field_type).map_err(external)?,
                )
            } else {
                ScalarValue::iter_to_array(values)?
            };
            child_fields.push(Field::new(&field.name, array.data_type().clone(), true));
            child_arrays.push(array);
        }
        let structs = StructArray::try_new(Fields::from(child_fields), child_arrays, None)?;
        fields.push(Field::new("partition", structs.data_type().clone(), true));
        arrays.push(Arc::new(structs));
    }
    fields.push(Field::new("record_count", DataType::Int64, false));
    fields.push(Field::new("file_count", DataType::Int64, false));
    fields.push(Field::new("total_size", DataType::Int64, false));
    arrays.push(Arc::new(Int64Array::from(
        groups.iter().map(|g| g.1).collect::<Vec<_>>(),
    )));
    arrays.push(Arc::new(Int64Array::from(
        groups.iter().map(|g| g.2).collect::<Vec<_>>(),
    )));
    arrays.push(Arc::new(Int64Array::from(
        groups.iter().map(|g| g.3).collect::<Vec<_>>(),
    )));
    batch_table(fields, arrays)
}
