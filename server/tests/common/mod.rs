//! In-process server harness for integration tests.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use arrow_flight::sql::client::FlightSqlServiceClient;
use contango::app::{App, Bound, serve};
use contango::config::Config;
use contango_market::{MarketGenerator, MarketSpec};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use tempfile::TempDir;
use tokio::sync::{oneshot, watch};
use tonic::transport::{Channel, Endpoint};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "pa:ss word";

/// A running server over a small synthetic market.
pub struct TestServer {
    pub bound: Bound,
    pub app: App,
    pub spec: MarketSpec,
    _dir: TempDir,
    shutdown: watch::Sender<bool>,
}

impl TestServer {
    pub async fn start(auth: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let users = if auth {
            BTreeMap::from([(USER.to_string(), PASSWORD.to_string())])
        } else {
            BTreeMap::new()
        };
        let config = Config::ephemeral(dir.path(), users);
        let app = App::open(config).await.unwrap();
        let spec = MarketSpec {
            rows: 20_000,
            defect_rate: 0.01,
            ..MarketSpec::default()
        };
        contango::market_load::load_market(
            app.catalog.catalog().as_ref(),
            "market",
            spec.clone(),
            &|_| {},
        )
        .await
        .unwrap();
        let (tx, rx) = watch::channel(false);
        let (btx, brx) = oneshot::channel();
        let serving = app.clone();
        tokio::spawn(async move {
            serve(serving, rx, move |b| {
                let _ = btx.send(b);
            })
            .await
            .unwrap();
        });
        let bound = brx.await.unwrap();
        Self {
            bound,
            app,
            spec,
            _dir: dir,
            shutdown: tx,
        }
    }

    pub async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.bound.flight))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// A client that has completed the Basic handshake.
    pub async fn client(&self) -> FlightSqlServiceClient<Channel> {
        let mut c = FlightSqlServiceClient::new(self.channel().await);
        c.handshake(USER, PASSWORD).await.unwrap();
        c
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Oracle computed from the generator itself: rows per commodity, and the
/// number of rows per commodity with a non-null price above `threshold`.
pub fn oracle(spec: &MarketSpec, threshold: f64) -> (HashMap<String, i64>, HashMap<String, i64>) {
    let mut rows = HashMap::new();
    let mut above = HashMap::new();
    for chunk in MarketGenerator::new(spec.clone()) {
        let c = chunk.ticks.column(0).as_string::<i32>();
        let p = chunk.ticks.column(2).as_primitive::<Float64Type>();
        for i in 0..chunk.ticks.num_rows() {
            *rows.entry(c.value(i).to_string()).or_insert(0) += 1;
            if p.is_valid(i) && p.value(i) > threshold {
                *above.entry(c.value(i).to_string()).or_insert(0) += 1;
            }
        }
    }
    (rows, above)
}
