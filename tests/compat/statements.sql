-- Trino statements and metadata over the demo catalog; expected rows follow
-- from the statement's definition in the Trino docs (sql/show-*.html,
-- connector/system.html) and the demo tables' fixed schema.

-- name: show_catalogs
-- source: trino docs sql/show-catalogs.html (every catalog, system included)
-- ordered
-- columns: Catalog varchar
SHOW CATALOGS
-- rows:
-- iceberg
-- system

-- name: show_catalogs_like
-- source: trino docs sql/show-catalogs.html LIKE
-- columns: Catalog varchar
SHOW CATALOGS LIKE 'ice%'
-- rows:
-- iceberg

-- name: show_schemas_like
-- source: trino docs sql/show-schemas.html
-- columns: Schema varchar
SHOW SCHEMAS FROM iceberg LIKE 'mark%'
-- rows:
-- market

-- name: show_tables_like
-- source: trino docs sql/show-tables.html
-- columns: Table varchar
SHOW TABLES FROM iceberg.market LIKE 'tick%'
-- rows:
-- ticks

-- name: show_columns_ticks
-- source: trino docs sql/show-columns.html (Column, Type, Extra, Comment); demo ticks schema
-- ordered
-- columns: Column varchar,, Type varchar,, Extra varchar,, Comment varchar
SHOW COLUMNS FROM iceberg.market.ticks
-- rows:
-- commodity | varchar |  | 
-- ts | timestamp(6) with time zone |  | 
-- price | double |  | 
-- volume | bigint |  | 
-- source | varchar |  | 

-- name: describe_defects
-- source: trino docs sql/describe.html (same as SHOW COLUMNS); demo defects schema
-- ordered
-- columns: Column varchar,, Type varchar,, Extra varchar,, Comment varchar
DESCRIBE iceberg.market.defects
-- rows:
-- commodity | varchar |  | 
-- ts | timestamp(6) with time zone |  | 
-- source | varchar |  | 
-- defect | varchar |  | 
-- detail | varchar |  | 

-- name: information_schema_columns
-- source: trino docs connector/system.html information_schema.columns (Trino type names)
-- ordered
-- columns: column_name varchar,, data_type varchar,, is_nullable varchar
SELECT column_name, data_type, is_nullable FROM iceberg.information_schema.columns WHERE table_schema = 'market' AND table_name = 'ticks' ORDER BY ordinal_position
-- rows:
-- commodity | varchar | NO
-- ts | timestamp(6) with time zone | NO
-- price | double | YES
-- volume | bigint | YES
-- source | varchar | NO

-- name: information_schema_tables
-- source: trino docs information_schema.tables (table_type BASE TABLE)
-- columns: table_catalog varchar,, table_schema varchar,, table_name varchar,, table_type varchar
SELECT table_catalog, table_schema, table_name, table_type FROM information_schema.tables WHERE table_schema = 'market' AND table_name = 'ticks'
-- rows:
-- iceberg | market | ticks | BASE TABLE

-- name: information_schema_lists_itself
-- source: trino docs information_schema.schemata (information_schema is a schema)
-- columns: schema_name varchar
SELECT schema_name FROM information_schema.schemata WHERE schema_name = 'information_schema'
-- rows:
-- information_schema

-- name: jdbc_types_codes
-- source: java.sql.Types (BIGINT -5, VARCHAR 12, DOUBLE 8)
-- ordered
-- columns: type_name varchar,, data_type bigint
SELECT type_name, data_type FROM system.jdbc.types WHERE type_name IN ('bigint', 'varchar', 'double') ORDER BY type_name
-- rows:
-- bigint | -5
-- double | 8
-- varchar | 12

-- name: jdbc_columns_ticks
-- source: java.sql.Types codes for the ticks columns (TIMESTAMP_WITH_TIMEZONE 2014)
-- ordered
-- columns: column_name varchar,, data_type bigint,, type_name varchar
SELECT column_name, data_type, type_name FROM system.jdbc.columns WHERE table_cat = 'iceberg' AND table_schem = 'market' AND table_name = 'ticks' ORDER BY ordinal_position
-- rows:
-- commodity | 12 | varchar
-- ts | 2014 | timestamp(6) with time zone
-- price | 8 | double
-- volume | -5 | bigint
-- source | 12 | varchar

-- name: explain_validate
-- source: trino docs sql/explain.html TYPE VALIDATE (one boolean column Valid)
-- columns: Valid boolean
EXPLAIN (TYPE VALIDATE) SELECT count(*) FROM ticks
-- rows:
-- true

-- name: execute_immediate
-- source: trino docs sql/execute-immediate.html
-- columns: v bigint
EXECUTE IMMEDIATE 'SELECT CAST(? AS BIGINT) + 1 AS v' USING 41
-- rows:
-- 42

-- name: show_session_default
-- source: trino docs sql/show-session.html (Name, Value, Default, Type, Description)
-- columns: Name varchar,, Value varchar,, Default varchar,, Type varchar,, Description varchar
SHOW SESSION LIKE 'batch_size'
-- rows:
-- batch_size | 8192 | 8192 | bigint | Rows per batch inside the engine

-- name: metadata_catalogs
-- source: trino docs connector/system.html system.metadata.catalogs
-- ordered
-- columns: catalog_name varchar,, connector_name varchar
SELECT catalog_name, connector_name FROM system.metadata.catalogs ORDER BY 1
-- rows:
-- iceberg | iceberg
-- system | system
