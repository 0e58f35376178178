//! The worker table: one record per data-plane thread that does work.
//!
//! # Design
//! Slot 0 is the serve loop itself; then, in job-slot order, each running
//! job's two busy threads (engine or decoder, then transport), once their
//! clocks started. A job's workers leave the table when the job ends (its
//! figures are in its summary). With [`WORKERS_MAX`] slots, 7 running jobs
//! fit; the workers of later jobs are left out of the table (logged once),
//! never written over another's. [`worker_records`] is pure; the serve
//! loop writes what it returns every `STATUS_INTERVAL`, and empties the
//! slots it no longer uses.

use dwcp_dataplane_core::worker_meter::{WorkerSnapshot, WorkerState};
use dwcp_shared::tables::{JobRole, WorkerCounters, WorkerRole, WORKERS_MAX};

/// One running job's workers, as the serve loop reads them.
#[derive(Debug, Clone, Copy)]
pub struct JobWorkers {
    /// The job.
    pub job_id: u64,
    /// Send (engine) or receive (decoder).
    pub role: JobRole,
    /// Engine or decoder.
    pub compute: WorkerSnapshot,
    /// Transport.
    pub transport: WorkerSnapshot,
}

fn record(role: WorkerRole, job_id: u64, snapshot: &WorkerSnapshot) -> WorkerCounters {
    WorkerCounters {
        role,
        core: snapshot.core,
        job_id,
        busy_ns: snapshot.busy_ns,
        idle_ns: snapshot.idle_ns,
        frames: snapshot.frames,
        bytes: snapshot.bytes,
    }
}

/// The worker table's records, slot by slot (at most [`WORKERS_MAX`]), and
/// how many workers did not fit.
pub fn worker_records(serve: &WorkerSnapshot, jobs: &[JobWorkers]) -> (Vec<WorkerCounters>, usize) {
    let mut records = vec![record(WorkerRole::Serve, 0, serve)];
    let mut left_out = 0;
    for job in jobs {
        let compute_role = match job.role {
            JobRole::Send => WorkerRole::Engine,
            JobRole::Receive => WorkerRole::Decoder,
        };
        for (role, snapshot) in [
            (compute_role, &job.compute),
            (WorkerRole::Transport, &job.transport),
        ] {
            if snapshot.state == WorkerState::NotStarted {
                continue;
            }
            if records.len() == WORKERS_MAX {
                left_out += 1;
                continue;
            }
            records.push(record(role, job.job_id, snapshot));
        }
    }
    (records, left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(busy_ns: u64, state: WorkerState) -> WorkerSnapshot {
        WorkerSnapshot {
            busy_ns,
            idle_ns: 7,
            frames: 3,
            bytes: 9,
            core: Some(1),
            state,
        }
    }

    fn job(job_id: u64, role: JobRole) -> JobWorkers {
        JobWorkers {
            job_id,
            role,
            compute: snap(job_id * 10, WorkerState::Running),
            transport: snap(job_id * 10 + 1, WorkerState::Ended),
        }
    }

    #[test]
    fn serve_first_then_each_jobs_compute_and_transport() {
        let mut receiving = job(2, JobRole::Receive);
        receiving.transport.state = WorkerState::NotStarted;
        let (records, left_out) = worker_records(
            &snap(5, WorkerState::Running),
            &[job(1, JobRole::Send), receiving],
        );
        let roles: Vec<(WorkerRole, u64, u64)> = records
            .iter()
            .map(|r| (r.role, r.job_id, r.busy_ns))
            .collect();
        assert_eq!(
            roles,
            vec![
                (WorkerRole::Serve, 0, 5),
                (WorkerRole::Engine, 1, 10),
                (WorkerRole::Transport, 1, 11),
                (WorkerRole::Decoder, 2, 20),
            ]
        );
        assert_eq!(left_out, 0);
        assert_eq!(
            (records[1].frames, records[1].bytes, records[1].core),
            (3, 9, Some(1))
        );
    }

    #[test]
    fn workers_beyond_the_table_are_counted_not_written() {
        let jobs: Vec<JobWorkers> = (1..=9).map(|id| job(id, JobRole::Send)).collect();
        let (records, left_out) = worker_records(&snap(0, WorkerState::Running), &jobs);
        assert_eq!(records.len(), WORKERS_MAX);
        assert_eq!(left_out, 1 + 9 * 2 - WORKERS_MAX);
        assert_eq!(records.last().map(|r| r.job_id), Some(8));
    }
}
