//! Loopback ports for child processes that must be told their address before they
//! start, and keep it across a restart.
//!
//! A port found by binding port 0 and closing it again is free only for a moment: any
//! socket on the machine may be handed it before the child binds it, or while a killed
//! child is being restarted. A [`ReservedPort`] avoids both ways of losing it. It is
//! drawn from below the kernel's ephemeral range, which the kernel never hands out on
//! its own, and it is locked through a file for as long as it is held, so that no other
//! test process on the machine draws the same one.

use std::{
    fs::File,
    hash::{BuildHasher, RandomState},
    net::TcpListener,
    ops::Range,
    path::PathBuf,
};

/// How many ports below the ephemeral range are drawn from.
const SPAN: u16 = 12_000;

/// A loopback port held for this process until dropped.
#[derive(Debug)]
pub struct ReservedPort {
    number: u16,
    // Held for its lock: another process's `try_lock` on the same file fails until
    // this handle is closed, on drop or when this process dies.
    _lock: File,
}

impl ReservedPort {
    /// Reserves a port that nothing listens on now.
    pub fn new() -> Self {
        let range = drawn_from();
        let width = u64::from(range.end - range.start);
        let start = RandomState::new().hash_one(std::process::id()) % width;
        (0..width)
            .map(|step| range.start + ((start + step) % width) as u16)
            .find_map(Self::try_take)
            .unwrap_or_else(|| panic!("every port in {range:?} is taken"))
    }

    fn try_take(number: u16) -> Option<Self> {
        let folder = lock_folder();
        let lock = File::create(folder.join(number.to_string())).ok()?;
        lock.try_lock().ok()?;
        // A server outside the tests (or a test that did not reserve) may listen here.
        TcpListener::bind(("127.0.0.1", number)).ok()?;
        Some(Self {
            number,
            _lock: lock,
        })
    }

    /// The port's number.
    pub fn number(&self) -> u16 {
        self.number
    }
}

impl Default for ReservedPort {
    fn default() -> Self {
        Self::new()
    }
}

/// The ports just below the kernel's ephemeral range.
fn drawn_from() -> Range<u16> {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let end = ephemeral_start.max(1_024 + SPAN);
    end - SPAN..end
}

fn lock_folder() -> PathBuf {
    let folder = std::env::temp_dir().join("bookshelf-test-ports");
    std::fs::create_dir_all(&folder).expect("a folder for port locks");
    folder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserved_port_is_not_drawn_again_while_held_and_is_once_released() {
        let held: Vec<ReservedPort> = (0..64).map(|_| ReservedPort::new()).collect();
        let mut numbers: Vec<u16> = held.iter().map(ReservedPort::number).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), held.len(), "a port was handed out twice");
        assert!(numbers.iter().all(|number| drawn_from().contains(number)));

        let first = held[0].number();
        assert!(ReservedPort::try_take(first).is_none());
        drop(held);
        assert!(ReservedPort::try_take(first).is_some());
    }

    #[test]
    fn a_port_something_listens_on_is_never_reserved() {
        let reserved = ReservedPort::new();
        let listener = TcpListener::bind(("127.0.0.1", reserved.number())).expect("the port");
        let number = listener.local_addr().expect("an address").port();
        drop(reserved);
        assert!(ReservedPort::try_take(number).is_none());
    }
}
