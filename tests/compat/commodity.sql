-- Commodity analytics over the demo ticks; expected rows computed by DuckDB
-- (the `-- duckdb:` query) over pyiceberg's reading of the same table.

-- name: daily_ohlc_vwap
-- source: duckdb
-- columns: commodity varchar,, day timestamp(6) with time zone,, high double,, low double,, volume bigint,, vwap double
SELECT commodity, date_trunc('day', ts) AS day, max(price) AS high, min(price) AS low, sum(volume) AS volume, sum(price * volume) / sum(volume) AS vwap FROM ticks WHERE price IS NOT NULL AND volume > 0 GROUP BY 1, 2
-- duckdb: SELECT commodity, date_trunc('day', ts), max(price), min(price), sum(volume), sum(price * volume) / sum(volume) FROM ticks WHERE price IS NOT NULL AND volume > 0 GROUP BY 1, 2
-- tolerance: 1e-9

-- name: hourly_bars
-- source: duckdb
SELECT commodity, date_trunc('hour', ts) AS h, count(*) AS n, avg(price) AS avg_price FROM ticks WHERE price IS NOT NULL GROUP BY 1, 2
-- duckdb: SELECT commodity, date_trunc('hour', ts), count(*), avg(price) FROM ticks WHERE price IS NOT NULL GROUP BY 1, 2

-- name: tick_counts_per_commodity
-- source: duckdb
-- columns: commodity varchar,, n bigint
SELECT commodity, count(*) AS n FROM ticks GROUP BY commodity
-- duckdb: SELECT commodity, count(*) FROM ticks GROUP BY commodity

-- name: negative_price_count
-- source: duckdb
-- columns: commodity varchar,, n bigint
SELECT commodity, count_if(price < 0) AS n FROM ticks GROUP BY commodity
-- duckdb: SELECT commodity, count(*) FILTER (WHERE price < 0) FROM ticks GROUP BY commodity

-- name: latest_tick_time
-- source: duckdb
-- columns: commodity varchar,, last_ts timestamp(6) with time zone
SELECT commodity, max(ts) AS last_ts FROM ticks GROUP BY commodity
-- duckdb: SELECT commodity, max(ts) FROM ticks GROUP BY commodity

-- name: price_range_per_source
-- source: duckdb
SELECT source, min(price) AS lo, max(price) AS hi FROM ticks WHERE price IS NOT NULL GROUP BY source
-- duckdb: SELECT source, min(price), max(price) FROM ticks WHERE price IS NOT NULL GROUP BY source

-- name: volume_by_week_superset
-- source: duckdb
SELECT date_trunc('week', CAST(ts AS TIMESTAMP)) AS wk, sum(volume) AS v FROM ticks GROUP BY 1
-- duckdb: SELECT date_trunc('week', CAST(ts AS TIMESTAMP))::TIMESTAMP, sum(volume) FROM ticks GROUP BY 1

-- name: week_starting_sunday_superset
-- source: duckdb
SELECT date_trunc('week', CAST(ts AS TIMESTAMP) + interval '1' day) - interval '1' day AS wk, count(*) AS n FROM ticks GROUP BY 1
-- duckdb: SELECT (date_trunc('week', CAST(ts AS TIMESTAMP) + interval '1' day) - interval '1' day)::TIMESTAMP, count(*) FROM ticks GROUP BY 1

-- name: grafana_time_group_5m
-- source: duckdb
SELECT FROM_UNIXTIME(FLOOR(TO_UNIXTIME(ts)/300)*300) AS t, count(*) AS n FROM ticks WHERE commodity = 'WTI' GROUP BY 1
-- duckdb: SELECT to_timestamp(FLOOR(epoch(ts)/300)*300), count(*) FROM ticks WHERE commodity = 'WTI' GROUP BY 1

-- name: daily_returns_lag
-- source: duckdb
SELECT commodity, d, c / lag(c) OVER (PARTITION BY commodity ORDER BY d) - 1 AS ret FROM (SELECT commodity, CAST(ts AS DATE) AS d, avg(price) AS c FROM ticks WHERE price > 0 GROUP BY 1, 2) x
-- duckdb: SELECT commodity, d, c / lag(c) OVER (PARTITION BY commodity ORDER BY d) - 1 FROM (SELECT commodity, CAST(ts AS DATE) AS d, avg(price) AS c FROM ticks WHERE price > 0 GROUP BY 1, 2) x
-- tolerance: 1e-9

-- name: rolling_average_3
-- source: duckdb
SELECT commodity, d, avg(c) OVER (PARTITION BY commodity ORDER BY d ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS ma FROM (SELECT commodity, CAST(ts AS DATE) AS d, max(price) AS c FROM ticks GROUP BY 1, 2) x
-- duckdb: SELECT commodity, d, avg(c) OVER (PARTITION BY commodity ORDER BY d ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM (SELECT commodity, CAST(ts AS DATE) AS d, max(price) AS c FROM ticks GROUP BY 1, 2) x
-- tolerance: 1e-9

-- name: rank_commodities_by_volume
-- source: duckdb
-- columns: commodity varchar,, v bigint,, r bigint
SELECT commodity, sum(volume) AS v, rank() OVER (ORDER BY sum(volume) DESC) AS r FROM ticks GROUP BY commodity
-- duckdb: SELECT commodity, sum(volume), rank() OVER (ORDER BY sum(volume) DESC) FROM ticks GROUP BY commodity

-- name: stddev_per_commodity
-- source: duckdb
SELECT commodity, stddev(price) AS s FROM ticks WHERE price IS NOT NULL GROUP BY commodity
-- duckdb: SELECT commodity, stddev_samp(price) FROM ticks WHERE price IS NOT NULL GROUP BY commodity
-- tolerance: 1e-9

-- name: spread_between_sources
-- source: duckdb
SELECT commodity, max(price) - min(price) AS spread FROM ticks WHERE price IS NOT NULL GROUP BY commodity
-- duckdb: SELECT commodity, max(price) - min(price) FROM ticks WHERE price IS NOT NULL GROUP BY commodity

-- name: time_filter_between
-- source: duckdb
SELECT count(*) AS n FROM ticks WHERE ts BETWEEN TIMESTAMP '2025-01-02 00:00:00' AND TIMESTAMP '2025-01-03 00:00:00'
-- duckdb: SELECT count(*) FROM ticks WHERE ts BETWEEN TIMESTAMPTZ '2025-01-02 00:00:00+00' AND TIMESTAMPTZ '2025-01-03 00:00:00+00'

-- name: date_filter_between
-- source: duckdb
SELECT CAST(ts AS DATE) AS d, count(*) AS n FROM ticks WHERE CAST(ts AS DATE) BETWEEN date '2025-01-01' AND date '2025-01-03' GROUP BY 1
-- duckdb: SELECT CAST(ts AS DATE), count(*) FROM ticks WHERE CAST(ts AS DATE) BETWEEN DATE '2025-01-01' AND DATE '2025-01-03' GROUP BY 1

-- name: duplicates_by_key
-- source: duckdb
SELECT commodity, ts, source, count(*) AS n FROM ticks GROUP BY 1, 2, 3 HAVING count(*) > 1
-- duckdb: SELECT commodity, ts, source, count(*) FROM ticks GROUP BY 1, 2, 3 HAVING count(*) > 1

-- name: defects_by_kind
-- source: duckdb
-- columns: defect varchar,, n bigint
SELECT defect, count(*) AS n FROM defects GROUP BY defect
-- duckdb: SELECT defect, count(*) FROM defects GROUP BY defect

-- name: defect_ticks_join
-- source: duckdb
SELECT d.defect, count(*) AS n FROM defects d JOIN ticks t ON t.commodity = d.commodity AND t.ts = d.ts AND t.source = d.source GROUP BY d.defect
-- duckdb: SELECT d.defect, count(*) FROM defects d JOIN ticks t ON t.commodity = d.commodity AND t.ts = d.ts AND t.source = d.source GROUP BY d.defect

-- name: null_prices_per_commodity
-- source: duckdb
SELECT commodity, count(*) - count(price) AS missing FROM ticks GROUP BY commodity
-- duckdb: SELECT commodity, count(*) - count(price) FROM ticks GROUP BY commodity

-- name: top_volume_ticks
-- source: duckdb
-- ordered
SELECT commodity, volume FROM ticks WHERE volume IS NOT NULL ORDER BY volume DESC, commodity LIMIT 5
-- duckdb: SELECT commodity, volume FROM ticks WHERE volume IS NOT NULL ORDER BY volume DESC, commodity LIMIT 5

-- name: approx_distinct_sources
-- source: duckdb
-- columns: commodity varchar,, n bigint
SELECT commodity, approx_distinct(source) AS n FROM ticks GROUP BY commodity
-- duckdb: SELECT commodity, count(DISTINCT source) FROM ticks GROUP BY commodity
