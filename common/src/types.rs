//! The ONE Arrow ↔ Trino type map.
//!
//! Every place that shows a type to a Trino-speaking client (the `/v1/statement`
//! `columns` and their `typeSignature` in the server's Trino wire format,
//! `information_schema.columns`, `DESCRIBE`, `system.jdbc.columns`, `typeof`)
//! derives it from [`TrinoType`], so names and signatures never disagree.

use datafusion::arrow::datatypes::{DataType, IntervalUnit, TimeUnit};

/// Length Trino reports for unbounded `varchar`.
pub const UNBOUNDED_VARCHAR: i64 = 2_147_483_647;

/// A Trino type, as derived from an Arrow type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrinoType {
    /// `boolean`
    Boolean,
    /// `tinyint`
    TinyInt,
    /// `smallint`
    SmallInt,
    /// `integer`
    Integer,
    /// `bigint`
    BigInt,
    /// `real`
    Real,
    /// `double`
    Double,
    /// `decimal(precision, scale)`
    Decimal(u8, i8),
    /// `varchar` (unbounded)
    Varchar,
    /// `varbinary`
    Varbinary,
    /// `date`
    Date,
    /// `time(p)`
    Time(u8),
    /// `timestamp(p)`
    Timestamp(u8),
    /// `timestamp(p) with time zone`
    TimestampTz(u8),
    /// `interval year to month`
    IntervalYearMonth,
    /// `interval day to second`
    IntervalDaySecond,
    /// `array(T)`
    Array(Box<TrinoType>),
    /// `map(K, V)`
    Map(Box<TrinoType>, Box<TrinoType>),
    /// `row(name T, ...)`
    Row(Vec<(String, TrinoType)>),
    /// `unknown` (the type of NULL)
    Unknown,
}

/// Digits of fraction a time unit carries.
pub fn precision(unit: &TimeUnit) -> u8 {
    match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    }
}

impl TrinoType {
    /// The Trino type of an Arrow type.
    pub fn from_arrow(t: &DataType) -> Self {
        use DataType as D;
        match t {
            D::Null => Self::Unknown,
            D::Boolean => Self::Boolean,
            D::Int8 => Self::TinyInt,
            D::Int16 | D::UInt8 => Self::SmallInt,
            D::Int32 | D::UInt16 => Self::Integer,
            D::Int64 | D::UInt32 => Self::BigInt,
            D::UInt64 => Self::Decimal(20, 0),
            D::Float16 | D::Float32 => Self::Real,
            D::Float64 => Self::Double,
            D::Decimal32(p, s) | D::Decimal64(p, s) | D::Decimal128(p, s) => {
                Self::Decimal((*p).min(38), *s)
            }
            D::Decimal256(p, s) => Self::Decimal((*p).min(38), *s),
            D::Utf8 | D::LargeUtf8 | D::Utf8View => Self::Varchar,
            D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => Self::Varbinary,
            D::Date32 | D::Date64 => Self::Date,
            D::Time32(u) | D::Time64(u) => Self::Time(precision(u)),
            D::Timestamp(u, None) => Self::Timestamp(precision(u)),
            D::Timestamp(u, Some(_)) => Self::TimestampTz(precision(u)),
            D::Interval(IntervalUnit::YearMonth) => Self::IntervalYearMonth,
            D::Interval(_) | D::Duration(_) => Self::IntervalDaySecond,
            D::List(f)
            | D::LargeList(f)
            | D::ListView(f)
            | D::LargeListView(f)
            | D::FixedSizeList(f, _) => Self::Array(Box::new(Self::from_arrow(f.data_type()))),
            D::Map(entries, _) => match entries.data_type() {
                D::Struct(kv) if kv.len() == 2 => Self::Map(
                    Box::new(Self::from_arrow(kv[0].data_type())),
                    Box::new(Self::from_arrow(kv[1].data_type())),
                ),
                _ => Self::Unknown,
            },
            D::Struct(fields) => Self::Row(
                fields
                    .iter()
                    .map(|f| (f.name().clone(), Self::from_arrow(f.data_type())))
                    .collect(),
            ),
            D::Dictionary(_, v) => Self::from_arrow(v),
            D::RunEndEncoded(_, v) => Self::from_arrow(v.data_type()),
            D::Union(_, _) => Self::Unknown,
        }
    }

    /// The type's name as Trino prints it (`varchar`, `decimal(10,2)`, `timestamp(3) with time zone`).
    pub fn name(&self) -> String {
        match self {
            Self::Boolean => "boolean".into(),
            Self::TinyInt => "tinyint".into(),
            Self::SmallInt => "smallint".into(),
            Self::Integer => "integer".into(),
            Self::BigInt => "bigint".into(),
            Self::Real => "real".into(),
            Self::Double => "double".into(),
            Self::Decimal(p, s) => format!("decimal({p},{s})"),
            Self::Varchar => "varchar".into(),
            Self::Varbinary => "varbinary".into(),
            Self::Date => "date".into(),
            Self::Time(p) => format!("time({p})"),
            Self::Timestamp(p) => format!("timestamp({p})"),
            Self::TimestampTz(p) => format!("timestamp({p}) with time zone"),
            Self::IntervalYearMonth => "interval year to month".into(),
            Self::IntervalDaySecond => "interval day to second".into(),
            Self::Array(t) => format!("array({})", t.name()),
            Self::Map(k, v) => format!("map({}, {})", k.name(), v.name()),
            Self::Row(fields) => format!(
                "row({})",
                fields
                    .iter()
                    .map(|(n, t)| format!("{} {}", quote_field(n), t.name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::Unknown => "unknown".into(),
        }
    }

    /// The base name without arguments (`typeSignature.rawType`).
    pub fn raw_name(&self) -> &'static str {
        match self {
            Self::Boolean => "boolean",
            Self::TinyInt => "tinyint",
            Self::SmallInt => "smallint",
            Self::Integer => "integer",
            Self::BigInt => "bigint",
            Self::Real => "real",
            Self::Double => "double",
            Self::Decimal(..) => "decimal",
            Self::Varchar => "varchar",
            Self::Varbinary => "varbinary",
            Self::Date => "date",
            Self::Time(_) => "time",
            Self::Timestamp(_) => "timestamp",
            Self::TimestampTz(_) => "timestamp with time zone",
            Self::IntervalYearMonth => "interval year to month",
            Self::IntervalDaySecond => "interval day to second",
            Self::Array(_) => "array",
            Self::Map(..) => "map",
            Self::Row(_) => "row",
            Self::Unknown => "unknown",
        }
    }

    /// JDBC `java.sql.Types` code, as `system.jdbc.columns.data_type` reports it.
    pub fn jdbc_type(&self) -> i32 {
        match self {
            Self::Boolean => 16,
            Self::TinyInt => -6,
            Self::SmallInt => 5,
            Self::Integer => 4,
            Self::BigInt => -5,
            Self::Real => 7,
            Self::Double => 8,
            Self::Decimal(..) => 3,
            Self::Varchar => 12,
            Self::Varbinary => -3,
            Self::Date => 91,
            Self::Time(_) => 92,
            Self::Timestamp(_) => 93,
            Self::TimestampTz(_) => 2014,
            Self::Array(_) => 2003,
            Self::Unknown => 0,
            Self::IntervalYearMonth | Self::IntervalDaySecond | Self::Map(..) | Self::Row(_) => {
                2000
            }
        }
    }
}

/// Names are printed bare when they are simple identifiers, quoted otherwise
/// (row fields, columns in SHOW CREATE TABLE).
pub fn quote_field(name: &str) -> String {
    let simple = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if simple {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{Field, Fields};

    use super::*;

    fn name(t: DataType) -> String {
        TrinoType::from_arrow(&t).name()
    }

    #[test]
    fn scalar_names() {
        assert_eq!(name(DataType::Int64), "bigint");
        assert_eq!(name(DataType::Int32), "integer");
        assert_eq!(name(DataType::Float32), "real");
        assert_eq!(name(DataType::Float64), "double");
        assert_eq!(name(DataType::Utf8View), "varchar");
        assert_eq!(name(DataType::Decimal128(10, 2)), "decimal(10,2)");
        assert_eq!(name(DataType::UInt64), "decimal(20,0)");
        assert_eq!(name(DataType::Date32), "date");
        assert_eq!(
            name(DataType::Timestamp(TimeUnit::Millisecond, None)),
            "timestamp(3)"
        );
        assert_eq!(
            name(DataType::Timestamp(
                TimeUnit::Microsecond,
                Some("UTC".into())
            )),
            "timestamp(6) with time zone"
        );
        assert_eq!(name(DataType::Time64(TimeUnit::Nanosecond)), "time(9)");
        assert_eq!(name(DataType::Null), "unknown");
        assert_eq!(
            name(DataType::Dictionary(
                Box::new(DataType::Int32),
                Box::new(DataType::Utf8)
            )),
            "varchar"
        );
    }

    #[test]
    fn nested_names() {
        let list = DataType::List(Arc::new(Field::new("item", DataType::Int64, true)));
        assert_eq!(name(list), "array(bigint)");
        let entries = Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", DataType::Float64, true),
            ])),
            false,
        );
        assert_eq!(
            name(DataType::Map(Arc::new(entries), false)),
            "map(varchar, double)"
        );
        let row = DataType::Struct(Fields::from(vec![
            Field::new("x", DataType::Int32, true),
            Field::new("Open Price", DataType::Float64, true),
        ]));
        assert_eq!(name(row), "row(x integer, \"Open Price\" double)");
    }

    #[test]
    fn jdbc_codes() {
        assert_eq!(TrinoType::Varchar.jdbc_type(), 12);
        assert_eq!(TrinoType::TimestampTz(3).jdbc_type(), 2014);
    }
}
