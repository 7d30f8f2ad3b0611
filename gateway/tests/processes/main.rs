//! End to end with the three real binaries as child processes: only for what needs a
//! process of its own, a part killed, paused or restarted under load, the logs a
//! process writes and the metrics it serves.

mod durability;
mod faults;
mod observability;
mod operations;
mod silent_backends;
mod traces;
