//! Client-side authentication the harness speaks to targets (NTLM and Negotiate).
//! Depends on nothing else in the crate.

pub mod windows;
