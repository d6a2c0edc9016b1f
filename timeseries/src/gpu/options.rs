//! GPU settings: `gpu = 'auto' | 'on' | 'off'` and the size threshold, in
//! the server config (`[gpu]`) and per session (`SET SESSION gpu = 'off'`),
//! carried to the planner as a DataFusion config extension (`contango.*`).

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;

extensions_options! {
    /// GPU placement options of one session.
    pub struct GpuOptions {
        /// `auto`: aggregations and anomaly scans of at least `gpu_min_rows`
        /// rows run on the GPU when one is present; `on`: every eligible
        /// operator uses the GPU operators (their CPU reference kernels where
        /// there is no GPU); `off`: DataFusion's operators only.
        pub gpu: String, default = "auto".to_string()
        /// Input rows below which `auto` stays on the CPU.
        pub gpu_min_rows: u64, default = 1_000_000
        /// Rows per chunk sent to the device (bounds device memory).
        pub gpu_chunk_rows: u64, default = 4_194_304
        /// Most bytes of device memory one aggregation's accumulators may
        /// take (0: whatever the device has free); beyond it the operator
        /// finishes on the CPU.
        pub gpu_memory_limit: u64, default = 0
    }
}

impl ConfigExtension for GpuOptions {
    const PREFIX: &'static str = "contango";
}

/// The parsed `gpu` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuMode {
    /// GPU when present and the input is large enough.
    Auto,
    /// GPU operators always (CPU reference kernels without a GPU).
    On,
    /// Never.
    Off,
}

impl GpuMode {
    /// Parses `auto`, `on`, `off` (any case; `true`/`false` too).
    pub fn parse(s: &str) -> Option<GpuMode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(GpuMode::Auto),
            "on" | "true" => Some(GpuMode::On),
            "off" | "false" => Some(GpuMode::Off),
            _ => None,
        }
    }

    /// The name as configured.
    pub fn name(self) -> &'static str {
        match self {
            GpuMode::Auto => "auto",
            GpuMode::On => "on",
            GpuMode::Off => "off",
        }
    }
}

impl GpuOptions {
    /// Options with the given values.
    pub fn new(mode: GpuMode, min_rows: u64, chunk_rows: u64) -> Self {
        GpuOptions {
            gpu: mode.name().to_string(),
            gpu_min_rows: min_rows,
            gpu_chunk_rows: chunk_rows.max(1024),
            gpu_memory_limit: 0,
        }
    }

    /// The mode (`auto` when unparseable, which `SET SESSION` prevents).
    pub fn mode(&self) -> GpuMode {
        GpuMode::parse(&self.gpu).unwrap_or(GpuMode::Auto)
    }
}
