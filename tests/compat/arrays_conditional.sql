-- Arrays, maps, conditional expressions and set operations; Trino docs
-- array.html, map.html, conditional.html examples, or hand-computed.

-- name: element_at_negative
-- source: trino docs array.html element_at (negative index from the end)
-- columns: v bigint
SELECT element_at(ARRAY[CAST(1 AS BIGINT), 2, 3], -1) AS v
-- rows:
-- 3

-- name: element_at_out_of_range
-- source: trino docs array.html element_at (NULL past the end)
-- columns: v bigint
SELECT element_at(ARRAY[CAST(1 AS BIGINT), 2, 3], 5) AS v
-- rows:
-- NULL

-- name: element_at_map
-- source: trino docs map.html element_at(map, key)
-- columns: v bigint
SELECT element_at(MAP(ARRAY['a'], ARRAY[CAST(1 AS BIGINT)]), 'a') AS v
-- rows:
-- 1

-- name: cardinality_bigint
-- source: trino docs array.html cardinality (bigint)
-- columns: n bigint
SELECT cardinality(ARRAY[CAST(1 AS BIGINT), 2, 3]) AS n
-- rows:
-- 3

-- name: array_subscript
-- source: trino docs array.html subscript operator (1-based)
-- columns: v bigint
SELECT ARRAY[CAST(10 AS BIGINT), 20, 30][2] AS v
-- rows:
-- 20

-- name: contains_fn
-- source: trino docs array.html contains
-- columns: b boolean
SELECT contains(ARRAY[CAST(1 AS BIGINT), 2], 2) AS b
-- rows:
-- true

-- name: array_join_fn
-- source: trino docs array.html array_join
-- columns: s varchar
SELECT array_join(ARRAY[CAST('a' AS VARCHAR), 'b', 'c'], ',') AS s
-- rows:
-- a,b,c

-- name: array_max_min
-- source: trino docs array.html array_max/array_min
-- columns: mx bigint,, mn bigint
SELECT array_max(ARRAY[CAST(1 AS BIGINT), 3, 2]) AS mx, array_min(ARRAY[CAST(1 AS BIGINT), 3, 2]) AS mn
-- rows:
-- 3 | 1

-- name: array_sort_distinct
-- source: trino docs array.html array_sort/array_distinct
-- columns: s array(bigint),, d array(bigint)
SELECT array_sort(ARRAY[CAST(3 AS BIGINT), 1, 2]) AS s, array_distinct(ARRAY[CAST(1 AS BIGINT), 1, 2]) AS d
-- rows:
-- [1, 2, 3] | [1, 2]

-- name: sequence_fn
-- source: trino docs array.html sequence(start, stop)
-- columns: s array(bigint)
SELECT sequence(CAST(1 AS BIGINT), 5) AS s
-- rows:
-- [1, 2, 3, 4, 5]

-- name: sequence_step
-- source: trino docs array.html sequence(start, stop, step)
-- columns: s array(bigint)
SELECT sequence(CAST(1 AS BIGINT), 10, 3) AS s
-- rows:
-- [1, 4, 7, 10]

-- name: map_keys_values
-- source: trino docs map.html map_keys/map_values
-- columns: k array(varchar),, v array(bigint)
SELECT map_keys(MAP(ARRAY[CAST('a' AS VARCHAR)], ARRAY[CAST(1 AS BIGINT)])) AS k, map_values(MAP(ARRAY[CAST('a' AS VARCHAR)], ARRAY[CAST(1 AS BIGINT)])) AS v
-- rows:
-- ["a"] | [1]

-- name: map_value
-- source: trino docs map.html map(keys, values)
-- columns: m map(varchar, bigint)
SELECT MAP(ARRAY[CAST('a' AS VARCHAR), 'b'], ARRAY[CAST(1 AS BIGINT), 2]) AS m
-- rows:
-- {"a": 1, "b": 2}

-- name: if_three_args
-- source: trino docs conditional.html if(condition, true_value, false_value)
-- columns: s varchar
SELECT if(CAST(-36.98 AS DOUBLE) < 0, CAST('negative' AS VARCHAR), 'ok') AS s
-- rows:
-- negative

-- name: if_two_args
-- source: trino docs conditional.html if(condition, true_value) → NULL when false
-- columns: v bigint
SELECT if(false, CAST(1 AS BIGINT)) AS v
-- rows:
-- NULL

-- name: coalesce_fn
-- source: trino docs conditional.html coalesce
-- columns: v bigint
SELECT coalesce(CAST(NULL AS BIGINT), 2, 3) AS v
-- rows:
-- 2

-- name: nullif_fn
-- source: trino docs conditional.html nullif
-- columns: v bigint
SELECT nullif(CAST(1 AS BIGINT), 1) AS v
-- rows:
-- NULL

-- name: case_searched
-- source: trino docs conditional.html CASE
-- columns: s varchar
SELECT CASE WHEN CAST(5 AS BIGINT) > 3 THEN CAST('big' AS VARCHAR) ELSE 'small' END AS s
-- rows:
-- big

-- name: case_simple
-- source: trino docs conditional.html simple CASE
-- columns: s varchar
SELECT CASE CAST(2 AS BIGINT) WHEN 1 THEN CAST('one' AS VARCHAR) WHEN 2 THEN 'two' END AS s
-- rows:
-- two

-- name: is_distinct_from
-- source: trino docs comparison.html IS DISTINCT FROM (NULL-safe)
-- columns: a boolean,, b boolean
SELECT CAST(NULL AS BIGINT) IS DISTINCT FROM 1 AS a, CAST(NULL AS BIGINT) IS NOT DISTINCT FROM NULL AS b
-- rows:
-- true | true

-- name: in_list
-- source: trino docs comparison.html IN
-- columns: b boolean
SELECT CAST('WTI' AS VARCHAR) IN ('WTI', 'BRENT') AS b
-- rows:
-- true

-- name: between_fn
-- source: trino docs comparison.html BETWEEN
-- columns: b boolean
SELECT CAST(5 AS BIGINT) BETWEEN 1 AND 10 AS b
-- rows:
-- true

-- name: union_all
-- source: hand-computed
-- ordered
-- columns: x bigint
SELECT CAST(1 AS BIGINT) AS x UNION ALL SELECT 1 UNION ALL SELECT 2 ORDER BY x
-- rows:
-- 1
-- 1
-- 2

-- name: union_distinct
-- source: hand-computed
-- ordered
-- columns: x bigint
SELECT CAST(1 AS BIGINT) AS x UNION SELECT 1 UNION SELECT 2 ORDER BY x
-- rows:
-- 1
-- 2

-- name: intersect_except
-- source: hand-computed
-- ordered
-- columns: x bigint
(SELECT x FROM (VALUES (CAST(1 AS BIGINT)), (2), (3)) t(x) INTERSECT SELECT x FROM (VALUES (CAST(2 AS BIGINT)), (3), (4)) u(x)) EXCEPT SELECT CAST(3 AS BIGINT) ORDER BY x
-- rows:
-- 2

-- name: cte_with
-- source: hand-computed
-- columns: n bigint
WITH t AS (SELECT CAST(x AS BIGINT) AS x FROM (VALUES (1), (2), (3)) v(x)) SELECT sum(x) AS n FROM t WHERE x > 1
-- rows:
-- 5

-- name: offset_before_limit
-- source: trino docs sql/select.html (OFFSET before LIMIT)
-- ordered
-- columns: x bigint
SELECT x FROM (VALUES (CAST(1 AS BIGINT)), (2), (3), (4)) t(x) ORDER BY x OFFSET 1 LIMIT 2
-- rows:
-- 2
-- 3

-- name: fetch_first
-- source: trino docs sql/select.html FETCH FIRST n ROWS ONLY
-- ordered
-- columns: x bigint
SELECT x FROM (VALUES (CAST(3 AS BIGINT)), (1), (2)) t(x) ORDER BY x FETCH FIRST 2 ROWS ONLY
-- rows:
-- 1
-- 2

-- name: typeof_names
-- source: trino docs conversion.html typeof (Trino type names)
-- columns: a varchar,, b varchar,, c varchar,, d varchar
SELECT typeof(CAST(1 AS DOUBLE)) AS a, typeof(CAST(1 AS BIGINT)) AS b, typeof(CAST('x' AS VARCHAR)) AS c, typeof(DATE '2020-01-01') AS d
-- rows:
-- double | bigint | varchar | date
