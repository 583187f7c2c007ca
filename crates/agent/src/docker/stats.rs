//! A running container's usage, from the Engine's stats (`/monitor/statistics`).

use super::{container_name, Engine};
use crate::containerizer::Usage;
use bollard::query_parameters as qp;
use futures_util::StreamExt;
use std::time::Duration;

impl Engine {
    /// None when the container does not run or the Engine does not say within 3 s.
    pub(super) async fn usage(&self, cid: &str) -> Option<Usage> {
        if !self.is_running(cid) {
            return None;
        }
        let docker = self.client().await.ok()?;
        let opts = qp::StatsOptions {
            stream: false,
            one_shot: true,
        };
        let stats = {
            let mut s = docker.stats(&container_name(cid), Some(opts));
            tokio::time::timeout(Duration::from_secs(3), s.next())
                .await
                .ok()
                .flatten()?
                .ok()?
        };
        let cpu = stats.cpu_stats.unwrap_or_default();
        let usage = cpu.cpu_usage.unwrap_or_default();
        let throttling = cpu.throttling_data.unwrap_or_default();
        let mem = stats.memory_stats.unwrap_or_default();
        let ms = mem.stats.unwrap_or_default();
        let rss = ms
            .get("rss")
            .or_else(|| ms.get("anon"))
            .copied()
            .unwrap_or(0);
        let cache = ms
            .get("cache")
            .or_else(|| ms.get("file"))
            .copied()
            .unwrap_or(0);
        Some(Usage {
            cpus_user_time_secs: usage.usage_in_usermode.unwrap_or(0) as f64 / 1e9,
            cpus_system_time_secs: usage.usage_in_kernelmode.unwrap_or(0) as f64 / 1e9,
            cpus_nr_periods: Some(throttling.periods.unwrap_or(0)),
            cpus_nr_throttled: Some(throttling.throttled_periods.unwrap_or(0)),
            cpus_throttled_time_secs: Some(throttling.throttled_time.unwrap_or(0) as f64 / 1e9),
            mem_limit_bytes: mem.limit,
            mem_total_bytes: Some(mem.usage.unwrap_or(0)),
            mem_rss_bytes: rss,
            mem_cache_bytes: Some(cache),
            // Docker's statistics carry no run-queue delay: the QoS guard does not see these.
            cpus_run_delay_secs: None,
        })
    }
}
