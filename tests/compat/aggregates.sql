-- Aggregate and window functions over small inline tables, hand-computed.

-- name: count_if_fn
-- source: hand-computed: one negative price of four
-- columns: n bigint
SELECT count_if(p < 0) AS n FROM (VALUES (CAST(70.0 AS DOUBLE)), (-36.98), (20.5), (NULL)) t(p)
-- rows:
-- 1

-- name: min_by_max_by
-- source: trino docs aggregate.html min_by/max_by (value of x at the extreme y)
-- columns: lo varchar,, hi varchar
SELECT min_by(c, p) AS lo, max_by(c, p) AS hi FROM (VALUES (CAST('WTI' AS VARCHAR), CAST(-36.98 AS DOUBLE)), ('BRENT', 19.33), ('TTF', 25.0)) t(c, p)
-- rows:
-- WTI | TTF

-- name: max_by_ignores_null_y
-- source: trino docs aggregate.html max_by (rows with NULL y are ignored)
-- columns: hi varchar
SELECT max_by(c, p) AS hi FROM (VALUES (CAST('A' AS VARCHAR), CAST(NULL AS DOUBLE)), ('B', 1.0)) t(c, p)
-- rows:
-- B

-- name: arbitrary_single_value
-- source: trino docs aggregate.html arbitrary (any value of the group)
-- columns: c varchar
SELECT arbitrary(c) AS c FROM (VALUES (CAST('WTI' AS VARCHAR)), ('WTI')) t(c)
-- rows:
-- WTI

-- name: bool_and_or
-- source: trino docs aggregate.html bool_and/bool_or
-- columns: a boolean,, o boolean
SELECT bool_and(p > 0) AS a, bool_or(p < 0) AS o FROM (VALUES (CAST(1.0 AS DOUBLE)), (-36.98)) t(p)
-- rows:
-- false | true

-- name: approx_distinct_small
-- source: hand-computed: exact on a small set (3 distinct)
-- columns: n bigint
SELECT approx_distinct(c) AS n FROM (VALUES (CAST('a' AS VARCHAR)), ('b'), ('a'), ('c')) t(c)
-- rows:
-- 3

-- name: approx_percentile_median
-- source: hand-computed: median of 1..9 is 5
-- columns: m bigint
SELECT approx_percentile(x, 0.5) AS m FROM (SELECT CAST(x AS BIGINT) AS x FROM (VALUES (1),(2),(3),(4),(5),(6),(7),(8),(9)) t(x))
-- rows:
-- 5

-- name: approx_percentile_array
-- source: hand-computed: 10th/90th percentile of 1..10 (nearest rank: 1, 9)
-- columns: a array(double)
SELECT approx_percentile(x, ARRAY[0.1, 0.9]) AS a FROM (VALUES (CAST(1 AS DOUBLE)),(2),(3),(4),(5),(6),(7),(8),(9),(10)) t(x)
-- rows:
-- [1.0, 9.0]

-- name: count_sum_avg
-- source: hand-computed
-- columns: n bigint,, s double,, a double
SELECT count(*) AS n, sum(p) AS s, avg(p) AS a FROM (VALUES (CAST(1.5 AS DOUBLE)), (2.5), (-1.0)) t(p)
-- rows:
-- 3 | 3.0 | 1.0

-- name: stddev_variance
-- source: hand-computed: sample variance of 1,2,3,4 is 5/3
-- columns: v double,, s double
SELECT variance(x) AS v, stddev(x) AS s FROM (VALUES (CAST(1 AS DOUBLE)),(2),(3),(4)) t(x)
-- rows:
-- 1.6666666666666667 | 1.2909944487358056

-- name: var_pop_stddev_pop
-- source: hand-computed: population variance of 1,2,3,4 is 1.25
-- columns: v double,, s double
SELECT var_pop(x) AS v, stddev_pop(x) AS s FROM (VALUES (CAST(1 AS DOUBLE)),(2),(3),(4)) t(x)
-- rows:
-- 1.25 | 1.118033988749895

-- name: corr_perfect
-- source: hand-computed: y = 2x is perfectly correlated
-- columns: c double
SELECT corr(x, y) AS c FROM (VALUES (CAST(1 AS DOUBLE), CAST(2 AS DOUBLE)), (2, 4), (3, 6)) t(x, y)
-- rows:
-- 1.0

-- name: regr_slope_fn
-- source: hand-computed: y = 2x + 1 has slope 2
-- columns: s double
SELECT regr_slope(y, x) AS s FROM (VALUES (CAST(1 AS DOUBLE), CAST(3 AS DOUBLE)), (2, 5), (3, 7)) t(x, y)
-- rows:
-- 2.0

-- name: group_by_having
-- source: hand-computed
-- columns: c varchar,, n bigint
SELECT c, count(*) AS n FROM (VALUES (CAST('a' AS VARCHAR)), ('b'), ('a')) t(c) GROUP BY c HAVING count(*) > 1
-- rows:
-- a | 2

-- name: row_number_rank_bigint
-- source: trino docs window.html (ranking functions return bigint)
-- ordered
-- columns: x bigint,, rn bigint,, r bigint,, dr bigint
SELECT x, row_number() OVER (ORDER BY x) AS rn, rank() OVER (ORDER BY x) AS r, dense_rank() OVER (ORDER BY x) AS dr FROM (VALUES (CAST(1 AS BIGINT)), (2), (2), (3)) t(x) ORDER BY x, rn
-- rows:
-- 1 | 1 | 1 | 1
-- 2 | 2 | 2 | 2
-- 2 | 3 | 2 | 2
-- 3 | 4 | 4 | 3

-- name: lag_lead
-- source: trino docs window.html lag/lead
-- ordered
-- columns: x bigint,, prev bigint,, next bigint
SELECT x, lag(x) OVER (ORDER BY x) AS prev, lead(x, 1, 0) OVER (ORDER BY x) AS next FROM (VALUES (CAST(1 AS BIGINT)), (2), (3)) t(x) ORDER BY x
-- rows:
-- 1 | NULL | 2
-- 2 | 1 | 3
-- 3 | 2 | 0

-- name: running_sum_frame
-- source: hand-computed: cumulative sum
-- ordered
-- columns: x bigint,, s bigint
SELECT x, sum(x) OVER (ORDER BY x ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS s FROM (VALUES (CAST(1 AS BIGINT)), (2), (3)) t(x) ORDER BY x
-- rows:
-- 1 | 1
-- 2 | 3
-- 3 | 6

-- name: moving_average_frame
-- source: hand-computed: 2-row moving average
-- ordered
-- columns: x double,, m double
SELECT x, avg(x) OVER (ORDER BY x ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS m FROM (VALUES (CAST(1 AS DOUBLE)), (3), (5)) t(x) ORDER BY x
-- rows:
-- 1.0 | 1.0
-- 3.0 | 2.0
-- 5.0 | 4.0

-- name: ntile_bigint
-- source: trino docs window.html ntile (bigint)
-- ordered
-- columns: x bigint,, b bigint
SELECT x, ntile(2) OVER (ORDER BY x) AS b FROM (VALUES (CAST(1 AS BIGINT)), (2), (3)) t(x) ORDER BY x
-- rows:
-- 1 | 1
-- 2 | 1
-- 3 | 2
