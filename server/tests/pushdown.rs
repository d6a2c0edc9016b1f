//! Iceberg scans are DataFusion Parquet scans spread over the cores, and
//! filters in SQL reach Iceberg scan planning: partition and
//! column-statistics pruning leave fewer data files to read.

mod common;

use std::sync::Arc;

use common::TestServer;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::placeholder_row::PlaceholderRowExec;

/// The Parquet scans of a plan: (file groups, files) of each.
fn scans(plan: &Arc<dyn ExecutionPlan>) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    collect_scans(plan, &mut found);
    found
}

fn collect_scans(plan: &Arc<dyn ExecutionPlan>, out: &mut Vec<(usize, usize)>) {
    if let Some(exec) = plan.as_any().downcast_ref::<DataSourceExec>()
        && let Some(config) = exec.data_source().as_any().downcast_ref::<FileScanConfig>()
    {
        let files = config.file_groups.iter().map(|g| g.len()).sum();
        out.push((config.file_groups.len(), files));
    }
    for child in plan.children() {
        collect_scans(child, out);
    }
}

fn contains<T: 'static>(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.as_any().is::<T>() || plan.children().into_iter().any(contains::<T>)
}

async fn plan(server: &TestServer, sql: &str) -> Arc<dyn ExecutionPlan> {
    let session = server.app.new_session("test");
    let planned = server.app.engine.plan(&session, sql).await.unwrap();
    planned.physical_plan().await.unwrap()
}

/// Files the query's scan reads (0 when pruning left nothing to scan).
async fn files_for(server: &TestServer, sql: &str) -> usize {
    let plan = plan(server, sql).await;
    match scans(&plan).as_slice() {
        [(_, files)] => *files,
        [] if contains::<EmptyExec>(&plan) => 0,
        other => panic!("one Parquet scan expected in {plan:?}, found {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selective_filters_read_fewer_files() {
    let server = TestServer::start(false).await;
    let all = files_for(&server, "SELECT avg(price) FROM iceberg.market.ticks").await;
    // Partition pruning on the identity(commodity) partition.
    let selected = files_for(
        &server,
        "SELECT avg(price) FROM iceberg.market.ticks WHERE commodity = 'WTI'",
    )
    .await;
    assert!(all >= 24, "one file per commodity at least, got {all}");
    assert!(
        selected >= 1 && selected * 10 <= all,
        "{selected} of {all} files"
    );

    // Partition pruning on day(ts): only far-future rows live past 2100.
    let future = files_for(
        &server,
        "SELECT max(price) FROM ticks WHERE ts > TIMESTAMP '2100-01-01 00:00:00'",
    )
    .await;
    assert!(future < all, "{future} of {all} files");

    // Column statistics: no file holds a price above a billion.
    assert_eq!(
        files_for(&server, "SELECT * FROM ticks WHERE price > 1e9").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_are_spread_over_the_cores() {
    let server = TestServer::start(false).await;
    let averaged = plan(&server, "SELECT avg(price) FROM iceberg.market.ticks").await;
    let found = scans(&averaged);
    let [(groups, files)] = found.as_slice() else {
        panic!("one Parquet scan expected, found {found:?}");
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(
        *groups,
        cores.min(*files),
        "{files} files in {groups} groups"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_star_is_answered_from_the_manifests() {
    let server = TestServer::start(false).await;
    // No filter: the manifests' row counts answer it; no file is opened.
    let counted = plan(&server, "SELECT count(*) FROM iceberg.market.ticks").await;
    assert!(scans(&counted).is_empty(), "{counted:?}");
    assert!(contains::<PlaceholderRowExec>(&counted), "{counted:?}");
    // The same count as reading every row.
    let from_manifests = scalar(&server, "SELECT count(*) FROM iceberg.market.ticks").await;
    let from_rows = scalar(
        &server,
        "SELECT sum(CASE WHEN price IS NULL THEN 1 ELSE 1 END) FROM iceberg.market.ticks",
    )
    .await;
    assert_eq!(from_manifests, from_rows);
    assert!(from_rows > 0);
    // A filter reads the files.
    let filtered = plan(
        &server,
        "SELECT count(*) FROM iceberg.market.ticks WHERE price > 0",
    )
    .await;
    assert_eq!(scans(&filtered).len(), 1, "{filtered:?}");
}

/// The one value `sql` returns, as i64.
async fn scalar(server: &TestServer, sql: &str) -> i64 {
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::DataType;
    use futures::TryStreamExt;

    let session = server.app.new_session("test");
    let planned = server.app.engine.plan(&session, sql).await.unwrap();
    let batches: Vec<_> = planned
        .execute()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let value = datafusion::arrow::compute::cast(batches[0].column(0), &DataType::Int64).unwrap();
    value
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0)
}
