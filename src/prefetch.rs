//! A hint to the processor to start loading memory the program will read soon.
//!
//! Used where a million-row pass reads memory it cannot make sequential — the duplicate table's
//! slots — so the loads of several rows overlap instead of following one another. A hint only:
//! it reads nothing into the program, cannot fault, and compiles to nothing on processors without
//! a stable prefetch instruction.

/// Starts loading the cache line that holds `address`.
#[inline(always)]
pub fn line<T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch does not dereference its address for the program; any address is
    // allowed, and none faults.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}
