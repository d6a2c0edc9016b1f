//! Filters in SQL reach Iceberg scan planning: partition and column-statistics
//! pruning leave fewer data files to read.

mod common;

use std::sync::Arc;

use common::TestServer;
use datafusion::physical_plan::ExecutionPlan;
use futures::TryStreamExt;
use iceberg::expr::Predicate;
use iceberg::table::Table;
use iceberg_datafusion::physical_plan::IcebergTableScan;

fn find_scan(plan: &Arc<dyn ExecutionPlan>) -> Option<&IcebergTableScan> {
    if let Some(scan) = plan.as_any().downcast_ref::<IcebergTableScan>() {
        return Some(scan);
    }
    plan.children().into_iter().find_map(find_scan)
}

async fn planned_files(table: &Table, predicate: Option<&Predicate>) -> usize {
    let mut scan = table.scan();
    if let Some(p) = predicate {
        scan = scan.with_filter(p.clone());
    }
    let tasks: Vec<_> = scan
        .build()
        .unwrap()
        .plan_files()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    tasks.len()
}

async fn files_for(server: &TestServer, sql: &str) -> (usize, usize) {
    let session = server.app.new_session("test");
    let planned = server.app.engine.plan(&session, sql).await.unwrap();
    let plan = planned.physical_plan().await.unwrap();
    let scan = find_scan(&plan).expect("an Iceberg scan in the plan");
    let predicate = scan
        .predicates()
        .expect("the filter was pushed into the scan");
    let all = planned_files(scan.table(), None).await;
    let selected = planned_files(scan.table(), Some(predicate)).await;
    (selected, all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selective_filters_read_fewer_files() {
    let server = TestServer::start(false).await;
    // Partition pruning on the identity(commodity) partition.
    let (selected, all) = files_for(
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
    let (future, all) = files_for(
        &server,
        "SELECT count(*) FROM ticks WHERE ts > TIMESTAMP '2100-01-01 00:00:00'",
    )
    .await;
    assert!(future < all, "{future} of {all} files");

    // Column statistics: no file holds a price above a billion.
    let (none, _) = files_for(&server, "SELECT * FROM ticks WHERE price > 1e9").await;
    assert_eq!(none, 0);
}
