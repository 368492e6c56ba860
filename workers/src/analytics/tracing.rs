//! Request tracing: `Server-Timing` on every response and latency percentiles per route.
//!
//! Latencies are kept in memory per isolate (a Worker instance): the last
//! [`SAMPLES_PER_ROUTE`] requests of each route within [`WINDOW_MS`]. Each isolate answers for
//! the traffic it served; that is the honest scope of `GET /v1/ops/latency`, and it costs no
//! storage write on the request path. (Inside workerd the clock advances across I/O only, so a
//! duration is the time spent waiting on D1, Durable Objects, R2 and queues plus the response.)

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

use schemars::JsonSchema;
use serde::Serialize;
use worker::{Request, Response};

use crate::http::{self, AppResult, Ctx};

/// Samples kept per route.
pub const SAMPLES_PER_ROUTE: usize = 2_000;
/// Window of the percentiles.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;

thread_local! {
    static SAMPLES: RefCell<BTreeMap<String, VecDeque<(i64, f64)>>> = const { RefCell::new(BTreeMap::new()) };
}

/// Records one request's duration under its route template (or `"unmatched"`).
pub fn record(route: &str, at_ms: i64, duration_ms: f64) {
    SAMPLES.with(|samples| {
        let mut samples = samples.borrow_mut();
        let queue = samples.entry(route.to_string()).or_default();
        queue.push_back((at_ms, duration_ms));
        while queue.len() > SAMPLES_PER_ROUTE {
            queue.pop_front();
        }
    });
}

/// The `p`-th percentile (0 to 100) of sorted values, by nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Latency of one route over the window.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RouteLatency {
    /// Route template, e.g. `GET /v1/projects/{project_id}`.
    pub route: String,
    /// Requests in the window.
    pub count: usize,
    /// Median, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
}

/// Latency percentiles per route, busiest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LatencyReport {
    /// Window the figures cover, seconds.
    pub window_seconds: i64,
    /// What the figures cover: `isolate` (this Worker instance's traffic).
    pub scope: &'static str,
    /// One entry per route.
    pub routes: Vec<RouteLatency>,
}

/// The report for requests since `now_ms - WINDOW_MS`.
pub fn report(now_ms: i64) -> LatencyReport {
    let since = now_ms - WINDOW_MS;
    let mut routes: Vec<RouteLatency> = SAMPLES.with(|samples| {
        samples
            .borrow()
            .iter()
            .filter_map(|(route, queue)| {
                let mut values: Vec<f64> = queue
                    .iter()
                    .filter(|(at, _)| *at >= since)
                    .map(|(_, d)| *d)
                    .collect();
                if values.is_empty() {
                    return None;
                }
                values.sort_by(|a, b| a.total_cmp(b));
                Some(RouteLatency {
                    route: route.clone(),
                    count: values.len(),
                    p50_ms: percentile(&values, 50.0),
                    p95_ms: percentile(&values, 95.0),
                    p99_ms: percentile(&values, 99.0),
                    max_ms: *values.last().unwrap_or(&0.0),
                })
            })
            .collect()
    });
    routes.sort_by(|a, b| b.count.cmp(&a.count).then(a.route.cmp(&b.route)));
    LatencyReport {
        window_seconds: WINDOW_MS / 1000,
        scope: "isolate",
        routes,
    }
}

/// The `Server-Timing` value (RFC: W3C Server Timing): the request's total time at the edge.
pub fn server_timing(total_ms: i64) -> String {
    format!("total;dur={total_ms};desc=\"edge\"")
}

/// `GET /v1/ops/latency` (platform admins)
pub async fn latency(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    super::require_platform_admin(ctx).await?;
    http::json(200, &report(crate::util::now_ms()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 95.0), 95.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn the_report_keeps_the_window_and_the_cap() {
        for i in 0..(SAMPLES_PER_ROUTE + 10) {
            record("GET /a", 1_000_000, i as f64);
        }
        record("GET /old", 0, 5.0);
        let report = report(1_000_000);
        assert_eq!(report.routes.len(), 1);
        assert_eq!(report.routes[0].count, SAMPLES_PER_ROUTE);
        assert_eq!(report.routes[0].max_ms, (SAMPLES_PER_ROUTE + 9) as f64);
    }
}
