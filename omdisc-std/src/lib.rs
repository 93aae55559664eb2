//! Linux frontend of omdisc: the `omdiscd` daemon and the `showmap` tool; with feature
//! `smoltcp`, also `omdisc-tap`, the `omdisc-smoltcp` node on a Linux TAP device.
//!
//! The protocol lives in `omdisc-core`; this crate owns what is specific to a Linux host,
//! one module per concern (`omdisc-tap` uses the same modules where it does the same thing):
//!
//! | module | owns |
//! |---|---|
//! | [`cli`], [`values`], [`output_values`], [`config`] | the command lines, their typed values and defaults, one-line usage errors |
//! | [`interfaces`] | listing interfaces, resolving `-i`, the default interface |
//! | [`netlink`], [`rtnetlink_codec`], [`network_view`] | watching the kernel's interfaces, addresses and routes (rtnetlink, the few messages decoded by hand); the host's interfaces by index |
//! | [`legs`] | which interface serves each `-i` name (or the route to the group, or to the seeds) now, and what changed |
//! | [`socket`] | one multicast socket per interface, `recvmmsg` batches |
//! | [`key_file`] | the cluster key file |
//! | [`peers_file`], [`seeds`] | `--peers-file` and `--peer`: the seeds a node contacts by unicast |
//! | [`map_sink`], [`map_writer`] | writing the map atomically (alpha files) or to `/proc/hpc/admin`; rewriting it when membership changed, retrying after a failure |
//! | [`conflicts`] | node-id conflicts in a file beside the map, for `showmap` |
//! | [`pid_file`], [`daemonize`], [`logging`], [`signals`], [`clock`] | being a daemon |
//! | [`sd_notify`], [`journal`] | being a systemd service: readiness, status, watchdog; journal priorities |
//! | [`version`] | the `--version` line |
//! | [`failure_log`] | warning once about a failure that repeats |
//! | [`startup`] | checking and opening everything before detaching |
//! | [`daemon`] | the main loop that drives the engine |
//! | [`wait_set`] | the main loop's wait: an epoll set of the long-lived fds, `poll` for the hook's and the metrics clients' |
//! | [`wake_pacer`] | at most one wake per millisecond under a stream of datagrams |
//! | [`engine_slot`] | the engine, made when the first leg serves, told the legs' addresses and links as they change |
//! | [`growing_table`] | the node table's memory, grown as nodes come up to `--max-nodes` |
//! | [`leg_log`] | rate-limited log lines about the legs (waiting, joined, down, gone) |
//! | [`event_log`] | one log line per membership event |
//! | [`hooks`] | `--hook`: one hook process per membership event, in order, never waited for |
//! | [`metrics`], [`http_metrics`] | Prometheus metrics: `--metrics-file`, and `GET /metrics` on `--metrics-listen` |
//! | [`integrations`] | what the main loop hands to other programs (hooks, metrics): their fds, timers and events |
//! | [`refusal_log`], [`counter_report`] | rate-limited logging of refused datagrams; the counters line and `--counters-file` |
//! | [`showmap`], [`showmap_formats`], [`map_watch`] | reading the map back and printing it as setpe text, JSON, hosts lines, an MPI hostfile or Prometheus targets; printing it again on every change (inotify) |

#![deny(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod conflicts;
pub mod counter_report;
pub mod daemon;
pub mod daemonize;
pub mod engine_slot;
pub mod event_log;
pub mod failure_log;
pub mod growing_table;
pub mod hooks;
pub mod http_metrics;
pub mod integrations;
pub mod interfaces;
pub mod journal;
pub mod key_file;
pub mod leg_log;
pub mod legs;
pub mod logging;
pub mod map_sink;
pub mod map_watch;
pub mod map_writer;
pub mod metrics;
pub mod netlink;
pub mod network_view;
pub mod output_values;
pub mod peers_file;
pub mod pid_file;
pub mod refusal_log;
pub mod rtnetlink_codec;
pub mod sd_notify;
pub mod seeds;
pub mod showmap;
pub mod showmap_formats;
pub mod signals;
pub mod socket;
pub mod startup;
pub mod values;
pub mod version;
pub mod wait_set;
pub mod wake_pacer;

#[cfg(test)]
mod test_dir;
