-- Mathematical functions and operators. Sources: Trino docs
-- functions/math.html examples, or hand-computed.

-- name: abs_double
-- source: trino docs math.html abs
-- columns: v double
SELECT abs(CAST(-36.98 AS DOUBLE)) AS v
-- rows:
-- 36.98

-- name: ceil_floor
-- source: trino docs math.html ceil/floor
-- columns: c double,, f double
SELECT ceil(CAST(1.2 AS DOUBLE)) AS c, floor(CAST(-1.2 AS DOUBLE)) AS f
-- rows:
-- 2.0 | -2.0

-- name: round_digits
-- source: trino docs math.html round(x, d)
-- columns: v double
SELECT round(CAST(2.567 AS DOUBLE), 2) AS v
-- rows:
-- 2.57

-- name: round_half_away
-- source: trino docs math.html round (half away from zero)
-- columns: a double,, b double
SELECT round(CAST(2.5 AS DOUBLE)) AS a, round(CAST(-2.5 AS DOUBLE)) AS b
-- rows:
-- 3.0 | -3.0

-- name: truncate_double
-- source: trino docs math.html truncate
-- columns: v double
SELECT truncate(CAST(-1.9 AS DOUBLE)) AS v
-- rows:
-- -1.0

-- name: power_sqrt
-- source: trino docs math.html power/sqrt
-- columns: p double,, s double
SELECT power(CAST(2 AS DOUBLE), 10) AS p, sqrt(CAST(16 AS DOUBLE)) AS s
-- rows:
-- 1024.0 | 4.0

-- name: ln_exp
-- source: trino docs math.html ln/exp (ln(e()) = 1)
-- columns: a double,, b double
SELECT ln(e()) AS a, exp(CAST(0 AS DOUBLE)) AS b
-- rows:
-- 1.0 | 1.0

-- name: log10_log2
-- source: trino docs math.html log10/log2
-- columns: a double,, b double
SELECT log10(CAST(1000 AS DOUBLE)) AS a, log2(CAST(8 AS DOUBLE)) AS b
-- rows:
-- 3.0 | 3.0

-- name: mod_bigint
-- source: trino docs math.html mod
-- columns: m bigint
SELECT mod(CAST(7 AS BIGINT), CAST(3 AS BIGINT)) AS m
-- rows:
-- 1

-- name: mod_negative
-- source: trino docs math.html mod (sign of the dividend)
-- columns: m bigint
SELECT mod(CAST(-7 AS BIGINT), CAST(3 AS BIGINT)) AS m
-- rows:
-- -1

-- name: greatest_least
-- source: trino docs comparison.html greatest/least
-- columns: g double,, l double
SELECT greatest(CAST(1 AS DOUBLE), 5.5, 3) AS g, least(CAST(1 AS DOUBLE), -36.98, 3) AS l
-- rows:
-- 5.5 | -36.98

-- name: sign_fn
-- source: trino docs math.html sign
-- columns: s double
SELECT sign(CAST(-36.98 AS DOUBLE)) AS s
-- rows:
-- -1.0

-- name: pi_fn
-- source: trino docs math.html pi
-- columns: p double
SELECT pi() AS p
-- rows:
-- 3.141592653589793

-- name: nan_infinity
-- source: trino docs math.html nan/infinity/is_nan/is_infinite/is_finite
-- columns: a boolean,, b boolean,, c boolean
SELECT is_nan(nan()) AS a, is_infinite(infinity()) AS b, is_finite(CAST(-36.98 AS DOUBLE)) AS c
-- rows:
-- true | true | true

-- name: nan_value
-- source: trino docs math.html nan (encoded as the string NaN on the wire)
-- columns: v double
SELECT nan() AS v
-- rows:
-- NaN

-- name: infinity_value
-- source: trino docs math.html infinity
-- columns: v double
SELECT infinity() AS v
-- rows:
-- Infinity

-- name: width_bucket_doc
-- source: hand-computed: (5.3 - 0.2) / (10.6 - 0.2) * 5 = 2.45 → bucket 3
-- columns: b bigint
SELECT width_bucket(CAST(5.3 AS DOUBLE), 0.2, 10.6, 5) AS b
-- rows:
-- 3

-- name: width_bucket_edges
-- source: trino docs math.html width_bucket (0 below, n+1 at or above bound2)
-- columns: lo bigint,, hi bigint
SELECT width_bucket(CAST(-1 AS DOUBLE), 0, 10, 5) AS lo, width_bucket(CAST(10 AS DOUBLE), 0, 10, 5) AS hi
-- rows:
-- 0 | 6

-- name: bitwise
-- source: trino docs bitwise.html (12 & 10 = 8, 12 | 10 = 14, 12 ^ 10 = 6)
-- columns: a bigint,, o bigint,, x bigint
SELECT bitwise_and(CAST(12 AS BIGINT), CAST(10 AS BIGINT)) AS a, bitwise_or(CAST(12 AS BIGINT), CAST(10 AS BIGINT)) AS o, bitwise_xor(CAST(12 AS BIGINT), CAST(10 AS BIGINT)) AS x
-- rows:
-- 8 | 14 | 6

-- name: integer_division
-- source: trino docs math.html (integer division truncates)
-- columns: q bigint
SELECT CAST(7 AS BIGINT) / CAST(2 AS BIGINT) AS q
-- rows:
-- 3

-- name: double_division
-- source: hand-computed
-- columns: q double
SELECT CAST(7 AS DOUBLE) / 2 AS q
-- rows:
-- 3.5

-- name: try_division_by_zero
-- source: trino docs conditional.html try example (division by zero → NULL)
-- columns: v bigint
SELECT try(CAST(10 AS BIGINT) / CAST(0 AS BIGINT)) AS v
-- rows:
-- NULL

-- name: try_cast_invalid
-- source: trino docs conversion.html try_cast
-- columns: v integer
SELECT try_cast('x' AS INTEGER) AS v
-- rows:
-- NULL

-- name: try_invalid_cast
-- source: trino docs conditional.html try (cast failure → NULL)
-- columns: v integer
SELECT try(CAST('12a' AS INTEGER)) AS v
-- rows:
-- NULL
