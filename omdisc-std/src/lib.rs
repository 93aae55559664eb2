//! Linux frontend of omdisc: the `omdiscd` daemon and the `showmap` tool (work in progress).
