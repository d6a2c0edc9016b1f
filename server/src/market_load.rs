//! Writes the synthetic market into Iceberg: `<ns>.ticks` partitioned by
//! day(ts) and commodity, and `<ns>.defects` with the injected defect labels.

use std::time::Instant;

use contango_catalog::writer::{TableAppender, ensure_table};
use contango_common::error::{ContangoError, Result};
use contango_market::{MarketGenerator, MarketSpec, defects_schema, ticks_schema};
use iceberg::spec::Transform;
use iceberg::{Catalog, NamespaceIdent, TableIdent};

/// What a load wrote.
#[derive(Debug, Clone, Copy)]
pub struct LoadReport {
    /// Tick rows written.
    pub ticks: u64,
    /// Defect labels written.
    pub defects: u64,
    /// Wall time.
    pub seconds: f64,
}

/// Generates `spec` and appends it to `<namespace>.ticks` / `<namespace>.defects`
/// (one snapshot each). Generation runs on its own thread, overlapped with writing.
pub async fn load_market(
    catalog: &dyn Catalog,
    namespace: &str,
    spec: MarketSpec,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<LoadReport> {
    let started = Instant::now();
    let ns = NamespaceIdent::new(namespace.to_string());
    let ticks_id = TableIdent::new(ns.clone(), "ticks".into());
    let defects_id = TableIdent::new(ns, "defects".into());
    let ticks = ensure_table(
        catalog,
        &ticks_id,
        &ticks_schema(),
        &[("ts", Transform::Day), ("commodity", Transform::Identity)],
    )
    .await?;
    let defects = ensure_table(catalog, &defects_id, &defects_schema(), &[]).await?;
    let mut ticks_out = TableAppender::new(ticks)?;
    let mut defects_out = TableAppender::new(defects)?;

    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let seed = spec.seed;
    let generator = std::thread::spawn(move || {
        for chunk in MarketGenerator::new(spec) {
            if tx.blocking_send(chunk).is_err() {
                break;
            }
        }
    });
    while let Some(chunk) = rx.recv().await {
        ticks_out.write(&chunk.ticks).await?;
        defects_out.write(&chunk.defects).await?;
        progress(ticks_out.rows());
    }
    generator
        .join()
        .map_err(|_| ContangoError::internal("market generator panicked"))?;
    let (ticks, defects) = (ticks_out.rows(), defects_out.rows());
    let summary =
        std::collections::HashMap::from([("contango.market.seed".to_string(), seed.to_string())]);
    ticks_out.commit(catalog, summary.clone()).await?;
    defects_out.commit(catalog, summary).await?;
    Ok(LoadReport {
        ticks,
        defects,
        seconds: started.elapsed().as_secs_f64(),
    })
}
