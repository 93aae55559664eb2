//! omdisc-core (in progress)
#![no_std]
