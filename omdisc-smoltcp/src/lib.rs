//! omdisc over smoltcp (work in progress).
#![no_std]
