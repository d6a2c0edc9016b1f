-- Casts to Trino types and their wire encodings (Trino docs
-- language/types.html and conversion.html, hand-computed values).

-- name: cast_tinyint
-- source: trino docs language/types.html tinyint
-- columns: v tinyint
SELECT CAST(7 AS TINYINT) AS v
-- rows:
-- 7

-- name: cast_smallint
-- source: trino docs language/types.html smallint
-- columns: v smallint
SELECT CAST(300 AS SMALLINT) AS v
-- rows:
-- 300

-- name: cast_integer
-- source: trino docs language/types.html integer
-- columns: v integer
SELECT CAST('42' AS INTEGER) AS v
-- rows:
-- 42

-- name: cast_bigint
-- source: trino docs language/types.html bigint
-- columns: v bigint
SELECT CAST('9007199254740993' AS BIGINT) AS v
-- rows:
-- 9007199254740993

-- name: cast_real
-- source: trino docs language/types.html real
-- columns: v real
SELECT CAST(1.5 AS REAL) AS v
-- rows:
-- 1.5

-- name: cast_double_from_varchar
-- source: trino docs conversion.html cast varchar to double
-- columns: v double
SELECT CAST('-36.98' AS DOUBLE) AS v
-- rows:
-- -36.98

-- name: cast_decimal
-- source: trino docs language/types.html decimal(p,s) (sent as a string)
-- columns: v decimal(10,2)
SELECT CAST('123.45' AS DECIMAL(10,2)) AS v
-- rows:
-- 123.45

-- name: cast_decimal_negative
-- source: hand-computed: WTI 2020-04-20 settlement
-- columns: v decimal(6,2)
SELECT CAST('-36.98' AS DECIMAL(6,2)) AS v
-- rows:
-- -36.98

-- name: cast_boolean
-- source: trino docs conversion.html cast varchar to boolean
-- columns: t boolean,, f boolean
SELECT CAST('true' AS BOOLEAN) AS t, CAST('false' AS BOOLEAN) AS f
-- rows:
-- true | false

-- name: cast_varchar_from_double
-- source: hand-computed
-- columns: s varchar
SELECT CAST(CAST(42 AS BIGINT) AS VARCHAR) AS s
-- rows:
-- 42

-- name: cast_date
-- source: trino docs language/types.html date
-- columns: d date
SELECT CAST('2020-04-20' AS DATE) AS d
-- rows:
-- 2020-04-20

-- name: cast_timestamp_precision
-- source: trino docs language/types.html timestamp(p)
-- columns: t timestamp(3)
SELECT CAST('2020-04-20 14:30:00.123' AS TIMESTAMP(3)) AS t
-- rows:
-- 2020-04-20 14:30:00.123

-- name: cast_timestamp_tz
-- source: trino docs language/types.html timestamp(p) with time zone
-- columns: t timestamp(3) with time zone
SELECT CAST('2020-04-20 14:30:00' AS TIMESTAMP(3) WITH TIME ZONE) AS t
-- rows:
-- 2020-04-20 14:30:00 UTC

-- name: cast_varbinary
-- source: trino docs language/types.html varbinary (Base64 on the wire)
-- columns: b varbinary
SELECT CAST('abc' AS VARBINARY) AS b
-- rows:
-- 616263

-- name: cast_double_to_bigint_rounds
-- source: trino docs conversion.html (casting double to bigint rounds half away from zero)
-- columns: a bigint,, b bigint
SELECT CAST(CAST(1.5 AS DOUBLE) AS BIGINT) AS a, CAST(CAST(-1.5 AS DOUBLE) AS BIGINT) AS b
-- rows:
-- 2 | -2

-- name: timestamp_literal_precision
-- source: trino docs language/types.html (literal precision from its fraction digits)
-- columns: a timestamp(0),, b timestamp(3)
SELECT TIMESTAMP '2020-01-01 00:00:00' AS a, TIMESTAMP '2020-01-01 00:00:00.123' AS b
-- rows:
-- 2020-01-01 00:00:00 | 2020-01-01 00:00:00.123

-- name: date_literal
-- source: trino docs language/types.html DATE literal
-- columns: d date
SELECT DATE '2001-08-22' AS d
-- rows:
-- 2001-08-22

-- name: null_typed
-- source: hand-computed
-- columns: v bigint
SELECT CAST(NULL AS BIGINT) AS v
-- rows:
-- NULL
