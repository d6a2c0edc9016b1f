-- String, regular-expression and JSON functions. Sources: Trino docs
-- functions/string.html, regexp.html, json.html examples, or hand-computed.

-- name: upper_lower
-- source: trino docs string.html upper/lower
-- columns: u varchar,, l varchar
SELECT upper(CAST('Brent' AS VARCHAR)) AS u, lower(CAST('Brent' AS VARCHAR)) AS l
-- rows:
-- BRENT | brent

-- name: concat_strings
-- source: trino docs string.html concat
-- columns: s varchar
SELECT concat(CAST('WTI' AS VARCHAR), '-', 'CL') AS s
-- rows:
-- WTI-CL

-- name: concat_operator
-- source: trino docs string.html || operator
-- columns: s varchar
SELECT CAST('Henry' AS VARCHAR) || ' ' || 'Hub' AS s
-- rows:
-- Henry Hub

-- name: length_bigint
-- source: trino docs string.html length (bigint)
-- columns: n bigint
SELECT length(CAST('commodity' AS VARCHAR)) AS n
-- rows:
-- 9

-- name: length_unicode_chars
-- source: hand-computed: 'Zürich' has 6 characters
-- columns: n bigint
SELECT length(CAST('Zürich' AS VARCHAR)) AS n
-- rows:
-- 6

-- name: substr_from
-- source: trino docs string.html substr (1-based)
-- columns: s varchar
SELECT substr(CAST('commodity' AS VARCHAR), 5) AS s
-- rows:
-- odity

-- name: substr_from_len
-- source: trino docs string.html substr(string, start, length)
-- columns: s varchar
SELECT substr(CAST('commodity' AS VARCHAR), 1, 3) AS s
-- rows:
-- com

-- name: replace_all
-- source: trino docs string.html replace
-- columns: s varchar
SELECT replace(CAST('a-b-c' AS VARCHAR), '-', '+') AS s
-- rows:
-- a+b+c

-- name: reverse_string
-- source: trino docs string.html reverse
-- columns: s varchar
SELECT reverse(CAST('abc' AS VARCHAR)) AS s
-- rows:
-- cba

-- name: lpad_rpad
-- source: trino docs string.html lpad/rpad
-- columns: l varchar,, r varchar
SELECT lpad(CAST('7' AS VARCHAR), 3, '0') AS l, rpad(CAST('7' AS VARCHAR), 3, '*') AS r
-- rows:
-- 007 | 7**

-- name: trim_functions
-- source: trino docs string.html trim/ltrim/rtrim
-- columns: t varchar,, l varchar,, r varchar
SELECT trim(CAST('  x  ' AS VARCHAR)) AS t, ltrim(CAST('  x' AS VARCHAR)) AS l, rtrim(CAST('x  ' AS VARCHAR)) AS r
-- rows:
-- x | x | x

-- name: strpos_basic
-- source: trino docs string.html strpos (1-based, 0 when absent)
-- columns: a bigint,, b bigint
SELECT strpos(CAST('high' AS VARCHAR), 'ig') AS a, strpos(CAST('high' AS VARCHAR), 'x') AS b
-- rows:
-- 2 | 0

-- name: strpos_instance
-- source: trino docs string.html strpos(string, substring, instance)
-- columns: a bigint,, b bigint
SELECT strpos(CAST('hahaha' AS VARCHAR), 'ha', 2) AS a, strpos(CAST('hahaha' AS VARCHAR), 'ha', -1) AS b
-- rows:
-- 3 | 5

-- name: starts_with_fn
-- source: trino docs string.html starts_with
-- columns: b boolean
SELECT starts_with(CAST('HENRY_HUB' AS VARCHAR), 'HENRY') AS b
-- rows:
-- true

-- name: split_array
-- source: trino docs string.html split
-- columns: a array(varchar)
SELECT split(CAST('a.b.c' AS VARCHAR), '.') AS a
-- rows:
-- ["a", "b", "c"]

-- name: split_limit
-- source: trino docs string.html split(string, delimiter, limit)
-- columns: a array(varchar)
SELECT split(CAST('a.b.c' AS VARCHAR), '.', 2) AS a
-- rows:
-- ["a", "b.c"]

-- name: split_part_fn
-- source: trino docs string.html split_part
-- columns: s varchar
SELECT split_part(CAST('a,b,c' AS VARCHAR), ',', 2) AS s
-- rows:
-- b

-- name: regexp_like_true
-- source: trino docs regexp.html regexp_like example
-- columns: b boolean
SELECT regexp_like(CAST('1a 2b 14m' AS VARCHAR), '\d+b') AS b
-- rows:
-- true

-- name: regexp_extract_first
-- source: trino docs regexp.html regexp_extract example
-- columns: s varchar
SELECT regexp_extract(CAST('1a 2b 14m' AS VARCHAR), '\d+') AS s
-- rows:
-- 1

-- name: regexp_extract_group
-- source: trino docs regexp.html regexp_extract(string, pattern, group) example
-- columns: s varchar
SELECT regexp_extract(CAST('1a 2b 14m' AS VARCHAR), '(\d+)([a-z]+)', 2) AS s
-- rows:
-- a

-- name: regexp_extract_no_match
-- source: trino docs regexp.html (NULL when no match)
-- columns: s varchar
SELECT regexp_extract(CAST('abc' AS VARCHAR), '\d') AS s
-- rows:
-- NULL

-- name: regexp_replace_remove
-- source: trino docs regexp.html regexp_replace(string, pattern) example
-- columns: s varchar
SELECT regexp_replace(CAST('1a 2b 14m' AS VARCHAR), '\d+[ab] ') AS s
-- rows:
-- 14m

-- name: regexp_replace_groups
-- source: trino docs regexp.html regexp_replace(string, pattern, replacement) example
-- columns: s varchar
SELECT regexp_replace(CAST('1a 2b 14m' AS VARCHAR), '(\d+)([ab]) ', '3c$2 ') AS s
-- rows:
-- 3ca 3cb 14m

-- name: like_pattern
-- source: trino docs language: LIKE with % and _
-- columns: a boolean,, b boolean
SELECT CAST('WTI_2020' AS VARCHAR) LIKE 'WTI%' AS a, CAST('WTI' AS VARCHAR) LIKE 'W_' AS b
-- rows:
-- true | false

-- name: json_extract_scalar_nested
-- source: trino docs json.html json_extract_scalar example ($.store.book[0].author shape)
-- columns: s varchar
SELECT json_extract_scalar('{"store": {"book": [{"author": "Nigel Rees"}]}}', '$.store.book[0].author') AS s
-- rows:
-- Nigel Rees

-- name: json_extract_scalar_number
-- source: hand-computed: a JSON number as its text
-- columns: s varchar
SELECT json_extract_scalar('{"price": -36.98}', '$.price') AS s
-- rows:
-- -36.98

-- name: json_extract_scalar_not_scalar
-- source: trino docs json.html (NULL for a non-scalar value)
-- columns: s varchar
SELECT json_extract_scalar('{"a": {"b": 1}}', '$.a') AS s
-- rows:
-- NULL

-- name: levenshtein
-- source: hand-computed: kitten → sitting is 3 edits
-- columns: n bigint
SELECT levenshtein_distance(CAST('kitten' AS VARCHAR), 'sitting') AS n
-- rows:
-- 3

-- name: codepoint_fn
-- source: trino docs string.html codepoint (integer)
-- columns: n integer
SELECT codepoint(CAST('A' AS VARCHAR)) AS n
-- rows:
-- 65

-- name: chr_fn
-- source: trino docs string.html chr
-- columns: s varchar
SELECT chr(65) AS s
-- rows:
-- A
