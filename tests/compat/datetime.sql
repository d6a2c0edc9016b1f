-- Date and time functions. Sources: Trino docs, functions/datetime.html
-- (examples), or hand-computed on the calendar.

-- name: date_add_second
-- source: trino docs datetime.html date_add example
-- columns: t timestamp(0)
SELECT date_add('second', 86, TIMESTAMP '2020-03-01 00:00:00') AS t
-- rows:
-- 2020-03-01 00:01:26

-- name: date_add_hour
-- source: trino docs datetime.html date_add example
-- columns: t timestamp(0)
SELECT date_add('hour', 9, TIMESTAMP '2020-03-01 00:00:00') AS t
-- rows:
-- 2020-03-01 09:00:00

-- name: date_add_day_negative_tz
-- source: trino docs datetime.html date_add example
-- columns: t timestamp(0) with time zone
SELECT date_add('day', -1, TIMESTAMP '2020-03-01 00:00:00 UTC') AS t
-- rows:
-- 2020-02-29 00:00:00 UTC

-- name: date_add_month_end_clamps
-- source: hand-computed: Jan 31 + 1 month clamps to Feb 29 (leap year)
-- columns: d date
SELECT date_add('month', 1, DATE '2020-01-31') AS d
-- rows:
-- 2020-02-29

-- name: date_add_year_leap_day
-- source: hand-computed: 2020-02-29 - 1 year = 2019-02-28
-- columns: d date
SELECT date_add('year', -1, DATE '2020-02-29') AS d
-- rows:
-- 2019-02-28

-- name: date_add_quarter
-- source: hand-computed: 2020-11-30 + 1 quarter = 2021-02-28
-- columns: d date
SELECT date_add('quarter', 1, DATE '2020-11-30') AS d
-- rows:
-- 2021-02-28

-- name: date_add_week
-- source: hand-computed: 7 days
-- columns: d date
SELECT date_add('week', 2, DATE '2020-12-25') AS d
-- rows:
-- 2021-01-08

-- name: date_diff_day
-- source: trino docs datetime.html date_diff example (2020-03-01 to 2020-03-02 = 1)
-- columns: n bigint
SELECT date_diff('day', DATE '2020-03-01', DATE '2020-03-02') AS n
-- rows:
-- 1

-- name: date_diff_second
-- source: trino docs datetime.html date_diff example
-- columns: n bigint
SELECT date_diff('second', TIMESTAMP '2020-03-01 00:00:00', TIMESTAMP '2020-03-02 00:00:00') AS n
-- rows:
-- 86400

-- name: date_diff_hour_tz
-- source: trino docs datetime.html date_diff example
-- columns: n bigint
SELECT date_diff('hour', TIMESTAMP '2020-03-01 00:00:00 UTC', TIMESTAMP '2020-03-02 00:00:00 UTC') AS n
-- rows:
-- 24

-- name: date_diff_month_partial
-- source: hand-computed: Jan 15 to Mar 14 is 1 whole month
-- columns: n bigint
SELECT date_diff('month', DATE '2020-01-15', DATE '2020-03-14') AS n
-- rows:
-- 1

-- name: date_diff_year_negative
-- source: hand-computed: 2021-03-01 back to 2020-01-01 is -1 whole year
-- columns: n bigint
SELECT date_diff('year', DATE '2021-03-01', DATE '2020-01-01') AS n
-- rows:
-- -1

-- name: date_diff_week
-- source: hand-computed: 20 days = 2 whole weeks
-- columns: n bigint
SELECT date_diff('week', DATE '2020-01-01', DATE '2020-01-21') AS n
-- rows:
-- 2

-- name: date_trunc_month_date
-- source: trino docs datetime.html date_trunc (returns the same type: date)
-- columns: d date
SELECT date_trunc('month', DATE '2020-02-15') AS d
-- rows:
-- 2020-02-01

-- name: date_trunc_week_is_monday
-- source: trino docs datetime.html date_trunc week example (2001-08-22 → 2001-08-20)
-- columns: d date
SELECT date_trunc('week', DATE '2001-08-22') AS d
-- rows:
-- 2001-08-20

-- name: date_trunc_quarter
-- source: trino docs datetime.html date_trunc quarter example
-- columns: d date
SELECT date_trunc('quarter', DATE '2001-08-22') AS d
-- rows:
-- 2001-07-01

-- name: date_trunc_year
-- source: trino docs datetime.html date_trunc year example
-- columns: d date
SELECT date_trunc('year', DATE '2001-08-22') AS d
-- rows:
-- 2001-01-01

-- name: date_trunc_hour_timestamp
-- source: trino docs datetime.html date_trunc hour example (timestamp(3))
-- columns: t timestamp(3)
SELECT date_trunc('hour', TIMESTAMP '2001-08-22 03:04:05.321') AS t
-- rows:
-- 2001-08-22 03:00:00

-- name: date_trunc_minute_timestamp
-- source: trino docs datetime.html date_trunc minute example
-- columns: t timestamp(3)
SELECT date_trunc('minute', TIMESTAMP '2001-08-22 03:04:05.321') AS t
-- rows:
-- 2001-08-22 03:04:00

-- name: date_trunc_second_timestamp
-- source: trino docs datetime.html date_trunc second example
-- columns: t timestamp(3)
SELECT date_trunc('second', TIMESTAMP '2001-08-22 03:04:05.321') AS t
-- rows:
-- 2001-08-22 03:04:05

-- name: date_trunc_day_timestamp
-- source: trino docs datetime.html date_trunc day example
-- columns: t timestamp(3)
SELECT date_trunc('day', TIMESTAMP '2001-08-22 03:04:05.321') AS t
-- rows:
-- 2001-08-22 00:00:00

-- name: from_unixtime_epoch
-- source: hand-computed: epoch 0 is 1970-01-01 00:00:00 UTC
-- columns: t timestamp(3) with time zone
SELECT from_unixtime(0) AS t
-- rows:
-- 1970-01-01 00:00:00 UTC

-- name: from_unixtime_fraction
-- source: hand-computed: 1.5 seconds after the epoch
-- columns: t timestamp(3) with time zone
SELECT from_unixtime(1.5) AS t
-- rows:
-- 1970-01-01 00:00:01.500 UTC

-- name: from_unixtime_zone
-- source: hand-computed: epoch 0 in New York is 1969-12-31 19:00 EST
-- columns: t timestamp(3) with time zone
SELECT from_unixtime(0, 'America/New_York') AS t
-- rows:
-- 1969-12-31 19:00:00 America/New_York

-- name: to_unixtime_value
-- source: hand-computed: 2020-01-01T00:00:00Z = 1577836800
-- columns: s double
SELECT to_unixtime(TIMESTAMP '2020-01-01 00:00:00 UTC') AS s
-- rows:
-- 1577836800.0

-- name: to_unixtime_round_trip
-- source: hand-computed identity
-- columns: s double
SELECT to_unixtime(from_unixtime(1234567890.25)) AS s
-- rows:
-- 1234567890.25

-- name: date_format_mysql
-- source: trino docs datetime.html date_format example
-- columns: s varchar
SELECT date_format(TIMESTAMP '2022-10-20 05:10:00', '%m-%d-%Y %H') AS s
-- rows:
-- 10-20-2022 05

-- name: date_format_minutes_seconds
-- source: trino docs datetime.html MySQL specifiers (%i minutes, %s seconds)
-- columns: s varchar
SELECT date_format(TIMESTAMP '2020-01-02 03:04:05', '%Y-%m-%d %H:%i:%s') AS s
-- rows:
-- 2020-01-02 03:04:05

-- name: date_format_names
-- source: trino docs datetime.html MySQL specifiers (%W weekday name, %M month name)
-- columns: s varchar
SELECT date_format(TIMESTAMP '2020-01-02 00:00:00', '%W %M %e') AS s
-- rows:
-- Thursday January 2

-- name: date_parse_mysql
-- source: trino docs datetime.html date_parse example
-- columns: t timestamp(3)
SELECT date_parse('2022/10/20/05', '%Y/%m/%d/%H') AS t
-- rows:
-- 2022-10-20 05:00:00

-- name: format_datetime_joda
-- source: trino docs datetime.html Java date functions (Joda pattern)
-- columns: s varchar
SELECT format_datetime(TIMESTAMP '2020-01-02 03:04:05', 'yyyy-MM-dd HH:mm:ss') AS s
-- rows:
-- 2020-01-02 03:04:05

-- name: format_datetime_day_name
-- source: hand-computed: 2020-01-02 is a Thursday
-- columns: s varchar
SELECT format_datetime(TIMESTAMP '2020-01-02 03:04:05', 'EEE, MMM d') AS s
-- rows:
-- Thu, Jan 2

-- name: parse_datetime_joda
-- source: trino docs datetime.html parse_datetime (timestamp(3) with time zone)
-- columns: t timestamp(3) with time zone
SELECT parse_datetime('2020-01-02 03:04', 'yyyy-MM-dd HH:mm') AS t
-- rows:
-- 2020-01-02 03:04:00 UTC

-- name: from_iso8601_timestamp_offset
-- source: trino docs datetime.html from_iso8601_timestamp example (instant equality)
-- columns: t timestamp(3) with time zone
SELECT from_iso8601_timestamp('2020-05-11T11:15:05.000+02:00') AS t
-- rows:
-- 2020-05-11 09:15:05 UTC

-- name: from_iso8601_date_value
-- source: trino docs datetime.html from_iso8601_date example
-- columns: d date
SELECT from_iso8601_date('2020-05-11') AS d
-- rows:
-- 2020-05-11

-- name: to_iso8601_date
-- source: trino docs datetime.html to_iso8601
-- columns: s varchar
SELECT to_iso8601(DATE '2020-05-11') AS s
-- rows:
-- 2020-05-11

-- name: to_iso8601_timestamp_utc
-- source: trino docs datetime.html to_iso8601 (Z for UTC, milliseconds)
-- columns: s varchar
SELECT to_iso8601(from_unixtime(0)) AS s
-- rows:
-- 1970-01-01T00:00:00.000Z

-- name: at_timezone_same_instant
-- source: trino docs datetime.html at_timezone example (instant preserved)
-- columns: t timestamp(3) with time zone
SELECT at_timezone(from_unixtime(0), 'Asia/Tokyo') AS t
-- rows:
-- 1970-01-01 09:00:00 Asia/Tokyo

-- name: with_timezone_local
-- source: trino docs datetime.html with_timezone example
-- columns: t timestamp(0) with time zone
SELECT with_timezone(TIMESTAMP '2020-01-01 12:00:00', 'America/New_York') AS t
-- rows:
-- 2020-01-01 12:00:00 America/New_York

-- name: zoned_literal_is_timestamp_with_time_zone
-- source: trino docs language/types.html (TIMESTAMP WITH TIME ZONE literal)
-- columns: t timestamp(0) with time zone
SELECT TIMESTAMP '2001-08-22 03:04:05 UTC' AS t
-- rows:
-- 2001-08-22 03:04:05 UTC

-- name: extract_fields
-- source: hand-computed on the calendar (2020-05-01 is a Friday, day 122)
-- columns: y bigint,, q bigint,, m bigint,, d bigint,, dow bigint,, doy bigint
SELECT year(DATE '2020-05-01') AS y, quarter(DATE '2020-05-01') AS q, month(DATE '2020-05-01') AS m, day(DATE '2020-05-01') AS d, day_of_week(DATE '2020-05-01') AS dow, day_of_year(DATE '2020-05-01') AS doy
-- rows:
-- 2020 | 2 | 5 | 1 | 5 | 122

-- name: extract_time_fields
-- source: hand-computed
-- columns: h bigint,, mi bigint,, s bigint
SELECT hour(TIMESTAMP '2020-01-02 03:04:05') AS h, minute(TIMESTAMP '2020-01-02 03:04:05') AS mi, second(TIMESTAMP '2020-01-02 03:04:05') AS s
-- rows:
-- 3 | 4 | 5

-- name: iso_week_year_boundary
-- source: hand-computed: 2021-01-01 is in ISO week 53 of 2020
-- columns: w bigint,, yow bigint
SELECT week(DATE '2021-01-01') AS w, year_of_week(DATE '2021-01-01') AS yow
-- rows:
-- 53 | 2020

-- name: date_plus_interval_day
-- source: trino docs datetime.html operators example (date '2012-08-08' + interval '2' day)
-- columns: d date
SELECT DATE '2012-08-08' + INTERVAL '2' DAY AS d
-- rows:
-- 2012-08-10

-- name: timestamp_plus_interval_hour
-- source: trino docs datetime.html operators example
-- columns: t timestamp(0)
SELECT TIMESTAMP '2012-08-08 01:00:00' + INTERVAL '29' HOUR AS t
-- rows:
-- 2012-08-09 06:00:00

-- name: date_minus_interval_month
-- source: trino docs datetime.html operators example (date '2012-08-08' - interval '2' month? hand: 2012-06-08)
-- columns: d date
SELECT DATE '2012-08-08' - INTERVAL '2' MONTH AS d
-- rows:
-- 2012-06-08

-- name: interval_string_form
-- source: hand-computed: interval '60 second' is one minute
-- columns: t timestamp(0)
SELECT TIMESTAMP '2020-01-01 00:00:00' + interval '60 second' AS t
-- rows:
-- 2020-01-01 00:01:00

-- name: interval_times_number
-- source: hand-computed (Superset's sub-unit grain arithmetic)
-- columns: t timestamp(0)
SELECT TIMESTAMP '2020-01-01 00:17:00' - interval '1' minute * (minute(TIMESTAMP '2020-01-01 00:17:00') % 5) AS t
-- rows:
-- 2020-01-01 00:15:00

-- name: date_between
-- source: hand-computed
-- columns: b boolean
SELECT DATE '2020-04-20' BETWEEN date '2020-04-01' AND date '2020-04-30' AS b
-- rows:
-- true

-- name: current_date_is_date
-- source: trino docs datetime.html current_date (type date; equals CAST(current_timestamp AS DATE) in UTC session)
-- columns: same boolean
SELECT current_date = CAST(current_timestamp AS DATE) AS same
-- rows:
-- true
