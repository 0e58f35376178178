//! Bodies of the small frames (the plaintext before sealing).
//!
//! One type per file under `control/`:
//!
//! | frame kind     | type           | plaintext length               |
//! |----------------|----------------|--------------------------------|
//! | `Ack`          | `Ack`          | `ACK_LEN` = 8                  |
//! | `RoundEnd`     | `RoundEnd`     | `ROUND_END_LEN` = 24           |
//! | `Final`        | `Final`        | `FINAL_HEADER_LEN` + 8 × streams |
//! | `VerifyResult` | `VerifyResult` | `VERIFY_RESULT_LEN` = 32       |
//! | `Commit`       | `Commit`       | `COMMIT_LEN` = 16              |
//! | `Goodbye`      | `Goodbye`      | `GOODBYE_LEN` = 0              |
//! | `Abort`        | `Abort`        | `ABORT_HEADER_LEN` + reason    |
//!
//! Every type has `encode(&self, out) -> Result<usize, WireError>` (writes
//! into `out`, returns the length written) and `decode(body)`, which
//! requires the exact length: trailing bytes are an error.

mod abort;
mod ack;
mod commit;
mod final_frame;
mod goodbye;
mod round_end;
mod verify_result;

pub use abort::{Abort, AbortCode, ABORT_HEADER_LEN, ABORT_LEN_MAX};
pub use ack::{Ack, ACK_LEN};
pub use commit::{Commit, COMMIT_LEN};
pub use final_frame::{Final, FINAL_HEADER_LEN, FINAL_LEN_MAX};
pub use goodbye::{Goodbye, GOODBYE_LEN};
pub use round_end::{RoundEnd, ROUND_END_LEN};
pub use verify_result::{VerifyResult, VERIFY_RESULT_LEN};

#[cfg(test)]
#[path = "control_test.rs"]
mod tests;
