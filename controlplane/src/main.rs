//! DWCP control plane.
//!
//! Skeleton: the control plane process (tokio, openraft, shared-memory tables
//! that program the data plane) is built in issue 4. Until then the data plane
//! is driven directly by its own CLI (`dwcp-dataplane migrate|receive`).

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("dwcp-controlplane: not built yet (issue 4); drive migrations with `dwcp-dataplane`");
    ExitCode::from(2)
}
