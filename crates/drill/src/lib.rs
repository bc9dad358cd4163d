//! `ossguard drill`, the main job as a library: the same open-loop workload through seeded
//! fault scenarios (DESIGN §5), once per client configuration ("arm"), side by side; figures,
//! thresholds (DESIGN §4), a terminal table, a versioned JSON document and an HTML report.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ossguard_drill::DrillError> {
//! let cfg = ossguard_drill::DrillConfig::quick(42);
//! let report = ossguard_drill::run(&cfg, |_partial| {}).await?;
//! println!("{}", ossguard_drill::table(&report));
//! # Ok(()) }
//! ```

pub mod arms;
pub mod charts;
pub mod content;
pub mod figures;
pub mod html;
pub mod output;
pub mod run;
pub mod scenario;
pub mod thresholds;
pub mod workload;

pub use arms::Arm;
pub use output::{table, to_json, write_report};
pub use run::{run, DrillConfig, DrillError, DrillReport};
